// An inserted record is checked by a predicate compiled once per definition
// (SchemaValidator's whole check, engine/schema.ts compileWholeCheck); only
// a record it does not pass is looked at by the full check, which says what
// is wrong. Property: on random valid and invalid records, inserting gives
// what the full check alone gives: the same record, or a ValidationError
// with the same issues. The reference is the same schema with a record
// validator that finds nothing (such validators get no compiled check).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SchemaValidator } from '../../src/engine/schema.js';
import type { FieldDefinition } from '../../src/engine/types.js';
import { validationOutcome } from './helpers.js';

const schema: Record<string, FieldDefinition> = {
  id: { type: 'string', required: true },
  email: { type: 'string', required: true, format: 'email' },
  role: { type: 'string', required: true, enum: ['admin', 'editor', 'viewer'] },
  age: { type: 'number', min: 0, max: 150 },
  level: { type: 'number', enum: [1, 2, 3] },
  name: { type: 'string', minLength: 1, maxLength: 6, pattern: '^[a-z]' },
  site: { type: 'string', format: 'url' },
  born: { type: 'date' },
  day: { type: 'string', format: 'iso-date' },
  active: { type: 'boolean' },
  tags: { type: 'array' },
  meta: { type: 'object' },
  when: { type: 'date', min: 0, minLength: 4 },
};

class Point {
  x = 1;
}
const sparse: unknown[] = [];
sparse[1] = 'x';
let deep: unknown = 'leaf';
for (let i = 0; i < 6; i++) deep = [deep];

const anyValue = fc.oneof(
  fc.constantFrom(
    'admin',
    'root',
    'x@y.z',
    'bad-mail',
    '',
    'ann',
    'Ann',
    'toolongname',
    'https://a.cz',
    '2024-02-30',
  ),
  fc.constantFrom('2024-01-31', '2024-01-31T10:00:00Z', 'abcd'),
  fc.integer({ min: -5, max: 200 }),
  fc.constantFrom(1, 2, 3, 1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.constantFrom(true, false, null, undefined),
  fc.constantFrom(Number.POSITIVE_INFINITY, Number.NaN),
  fc.constantFrom(new Date(0), new Date(Number.NaN), new Map(), new Point(), () => 1, Symbol('s'), 10n),
  fc.constantFrom(sparse, [1, undefined], [Number.NaN], deep, [new Date(0)], [() => 1]),
  fc.array(fc.oneof(fc.constantFrom('t1', 'admin'), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.constantFrom({}, { a: 1 }, { a: { b: [1, 'x'] } }, { a: Number.NaN }, { toJSON: () => 1 }),
);

const validRecord = fc.record(
  {
    id: fc.constantFrom('a', 'b'),
    email: fc.constantFrom('x@y.z', 'user@example.com'),
    role: fc.constantFrom('admin', 'editor', 'viewer'),
    age: fc.integer({ min: 0, max: 150 }),
    level: fc.constantFrom(1, 2, 3),
    name: fc.constantFrom('ann', 'bob', 'c'),
    site: fc.constant('https://a.cz/x'),
    born: fc.constantFrom(new Date(0), 5, '2024-01-01'),
    day: fc.constant('2024-01-31'),
    active: fc.boolean(),
    tags: fc.array(fc.constantFrom('t1', 't2'), { maxLength: 3 }),
    meta: fc.constantFrom({}, { a: [1, { b: 'c' }] }),
    when: fc.constantFrom(new Date(5), 7, 'abcdef'),
  },
  { requiredKeys: ['id', 'email', 'role'] },
);

/** A valid record with some fields changed, dropped or added, keys in any order. */
const anyRecord = fc
  .tuple(
    validRecord,
    fc.dictionary(
      fc.constantFrom(...Object.keys(schema), 'extra', 'other', '_expiresAt', '_version'),
      anyValue,
      { maxKeys: 3 },
    ),
    fc.array(fc.constantFrom(...Object.keys(schema)), { maxLength: 2 }),
    fc.boolean(),
  )
  .map(([base, changes, dropped, shuffle]) => {
    const merged: Record<string, unknown> = { ...base, ...changes };
    for (const k of dropped) delete merged[k];
    if (!shuffle) return merged;
    const keys = Object.keys(merged).reverse();
    return Object.fromEntries(keys.map((k) => [k, merged[k]]));
  });

/** Records of the schema with odd field names: valid ones with some fields changed to any value. */
function oddRecord(odd: Record<string, FieldDefinition>) {
  const valid = fc.record(
    {
      'a"b': fc.constantFrom('k1', 'k2'),
      'x\ny': fc.integer({ min: 1, max: 5 }),
      '</script>\u2028': fc.boolean(),
      '0': fc.constantFrom('p', 'q'),
      '10': fc.array(fc.constantFrom('t1', 't2'), { maxLength: 2 }),
      '': fc.integer(),
    },
    { requiredKeys: ['a"b'] },
  );
  const changes = fc.dictionary(fc.constantFrom(...Object.keys(odd), 'extra'), anyValue, { maxKeys: 2 });
  return fc.tuple(valid, changes).map(([base, change]) => ({ ...base, ...change }));
}

describe('the compiled check of inserted records', () => {
  it('gives the verdict of the full check on random valid and invalid records', () => {
    for (const keyFields of [['id'], ['id', 'age'], ['level']]) {
      const compiled = new SchemaValidator('users', schema, keyFields);
      const reference = new SchemaValidator('users', schema, keyFields, () => undefined);
      expect(compiled.wholeCheck).toBeTypeOf('function');
      expect(reference.wholeCheck).toBeUndefined();
      let passed = 0;
      let failed = 0;
      fc.assert(
        fc.property(anyRecord, fc.constantFrom(64, 3, 1), (data, maxDepth) => {
          const expected = validationOutcome(() => reference.prepareInsert(data, () => 0, 1000, maxDepth));
          expect(validationOutcome(() => compiled.prepareInsert(data, () => 0, 1000, maxDepth))).toEqual(
            expected,
          );
          if ('record' in (expected as object)) passed++;
          else failed++;
        }),
        { numRuns: 4000 },
      );
      // Both verdicts were seen (the property said something).
      expect(passed).toBeGreaterThan(100);
      expect(failed).toBeGreaterThan(100);
    }
  });

  it('passes exactly the records the full check passes, keys in schema order or not', () => {
    const compiled = new SchemaValidator('users', schema, ['id']);
    const check = compiled.wholeCheck!;
    const reference = new SchemaValidator('users', schema, ['id'], () => undefined);
    fc.assert(
      fc.property(anyRecord, (data) => {
        const record = { ...data, _version: 1, _createdAt: 5, _updatedAt: 5 };
        let full = true;
        try {
          reference.validate(record);
        } catch {
          full = false;
        }
        expect(check(record, 64)).toBe(full);
      }),
      { numRuns: 4000 },
    );
  });

  it('reads fields whose names need quoting or are array indexes', () => {
    const odd: Record<string, FieldDefinition> = {
      'a"b': { type: 'string', required: true },
      'x\ny': { type: 'number', min: 1 },
      '</script>\u2028': { type: 'boolean' },
      '0': { type: 'string', enum: ['p', 'q'] },
      '10': { type: 'array' },
      '': { type: 'number' },
    };
    const compiled = new SchemaValidator('odd', odd, ['a"b']);
    const reference = new SchemaValidator('odd', odd, ['a"b'], () => undefined);
    expect(compiled.wholeCheck).toBeTypeOf('function');
    let passed = 0;
    fc.assert(
      fc.property(oddRecord(odd), (data) => {
        const expected = validationOutcome(() => reference.prepareInsert(data, () => 0, 1000));
        expect(validationOutcome(() => compiled.prepareInsert(data, () => 0, 1000))).toEqual(expected);
        if ('record' in (expected as object)) passed++;
      }),
      { numRuns: 3000 },
    );
    expect(passed).toBeGreaterThan(100);
  });

  it('is not made where the full check must run: custom validators, nested rules, odd field names', () => {
    const base: Record<string, FieldDefinition> = { id: { type: 'string', required: true } };
    const kinds: Record<string, FieldDefinition>[] = [
      { n: { type: 'string', validate: () => undefined } },
      { a: { type: 'object', properties: { b: { type: 'string' } } } },
      { t: { type: 'array', items: { type: 'string' } } },
      { constructor: { type: 'string' as const } },
      { _version: { type: 'number' } },
    ];
    for (const extra of kinds)
      expect(new SchemaValidator('b', { ...base, ...extra }, ['id']).wholeCheck).toBeUndefined();
    expect(
      new SchemaValidator('b', base, ['id'], (r) => (r.id === 'x' ? ['no'] : undefined)).wholeCheck,
    ).toBeUndefined();
  });

  it('inserts pass or fail as before where code cannot be generated from strings', () => {
    const child = path.resolve(import.meta.dirname, '../fixtures/insert-without-codegen.ts');
    const out = execFileSync(
      process.execPath,
      ['--disallow-code-generation-from-strings', '--import', 'tsx', child],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ age: 3, issues: ['format', 'min'] });
  });
});
