// Validation decides most records with fieldPasses (engine/schema.ts): a
// yes/no per field that collects nothing; only a record it rejects is
// checked again by checkValue, which collects the issues users see. The
// two must agree: fieldPasses says yes exactly when checkValue finds no
// issue, for every kind of rule and value (fields with custom validators,
// nested properties or item rules are always left to checkValue).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRules, fieldIssues, fieldPasses } from '../../src/engine/schema.js';
import type { FieldDefinition } from '../../src/engine/types.js';

const typeArb = fc.constantFrom('string', 'number', 'boolean', 'object', 'array', 'date') as fc.Arbitrary<
  FieldDefinition['type']
>;

const ruleArb: fc.Arbitrary<FieldDefinition> = fc
  .record(
    {
      type: typeArb,
      enum: fc.array(fc.oneof(fc.constantFrom('a', 'bb', 'admin', ''), fc.integer({ min: -3, max: 3 })), {
        maxLength: 4,
      }),
      minLength: fc.nat(6),
      maxLength: fc.nat(8),
      pattern: fc.constantFrom('^a', 'b$', '\\d'),
      format: fc.constantFrom('email', 'url', 'iso-date'),
      min: fc.integer({ min: -5, max: 5 }),
      max: fc.integer({ min: -5, max: 10 }),
      validate: fc.constant((v: unknown) => (v === 'bad' ? 'custom says no' : undefined)),
      properties: fc.constant({ x: { type: 'number', required: true } } as Record<string, FieldDefinition>),
      items: fc.constant({ type: 'string' } as FieldDefinition),
    },
    { requiredKeys: ['type'] },
  )
  .map((d) => d as FieldDefinition);

const valueArb = fc.oneof(
  fc.constantFrom('a', 'bb', 'admin', '', 'bad', 'a1', 'ab', 'x@y.z', 'user@example.com', 'no@dot', ' a@b.c'),
  fc.constantFrom('https://example.com', 'not a url', '2024-01-31', '2024-13-01T00:00:00Z'),
  fc.string({ maxLength: 10 }),
  fc.integer({ min: -8, max: 12 }),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0),
  fc.boolean(),
  fc.constantFrom(new Date(0), new Date(Number.NaN)),
  fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer()), { maxLength: 3 }),
  fc.record({ x: fc.oneof(fc.integer(), fc.string({ maxLength: 2 })) }),
  fc.constant({}),
);

describe('fieldPasses', () => {
  it('says yes exactly when checkValue finds no issue', () => {
    fc.assert(
      fc.property(ruleArb, valueArb, (def, value) => {
        const rules = compileRules(def);
        const issues = fieldIssues(rules, value, { field: value });
        const passes = fieldPasses(rules, value);
        if (passes) expect(issues).toEqual([]);
        else if (issues.length === 0) {
          // A no without issues only where checkValue must look itself.
          expect(def.validate !== undefined || def.properties !== undefined || def.items !== undefined).toBe(
            true,
          );
        }
      }),
      { numRuns: 5000 },
    );
  });
});
