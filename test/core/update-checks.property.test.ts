// An update of a record that passed the bucket's validator checks only the
// fields it changes (SchemaValidator.prepareUpdate with existingValid), and
// only while every record of the bucket was written through that validator
// (BucketState.recordsValid). Property: for valid records and any changes,
// checking only the changes gives the same verdict as checking the whole
// merged record: the same record, or a ValidationError with the same issues.
// Store level: records loaded without the validator (stored, another
// instance) are checked whole again on update.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/engine/errors.js';
import { applyRemote, BucketState, compileDefinition, StoreCore } from '../../src/engine/index.js';
import { SchemaValidator } from '../../src/engine/schema.js';
import type { FieldDefinition } from '../../src/engine/types.js';
import { EventBus } from '../../src/events/index.js';
import { validationOutcome } from './helpers.js';

const schema: Record<string, FieldDefinition> = {
  id: { type: 'string', required: true },
  email: { type: 'string', required: true, format: 'email' },
  role: { type: 'string', required: true, enum: ['admin', 'editor', 'viewer'] },
  age: { type: 'number', min: 0, max: 150 },
  name: { type: 'string', minLength: 1, maxLength: 6, pattern: '^[a-z]' },
  tags: { type: 'array', items: { type: 'string' } },
  // Handed the whole record: checked on every update, changed or not.
  nick: {
    type: 'string',
    validate: (_v, r) => (typeof r.age === 'number' && r.age > 100 ? 'no nicks above 100' : undefined),
  },
  address: { type: 'object', properties: { city: { type: 'string', required: true } } },
};

const validRecord = fc.record(
  {
    id: fc.constantFrom('a', 'b'),
    email: fc.constantFrom('x@y.z', 'user@example.com'),
    role: fc.constantFrom('admin', 'editor', 'viewer'),
    age: fc.integer({ min: 0, max: 150 }),
    name: fc.constantFrom('ann', 'bob', 'c'),
    tags: fc.array(fc.constantFrom('t1', 't2'), { maxLength: 2 }),
    nick: fc.constantFrom('zed', 'yo'),
    address: fc.record({ city: fc.constantFrom('Oslo', 'Brno') }),
  },
  { requiredKeys: ['id', 'email', 'role'] },
);

const anyValue = fc.oneof(
  fc.constantFrom('admin', 'root', 'x@y.z', 'bad-mail', '', 'ann', 'Ann', 'toolongname', 'bob', 'zed'),
  fc.integer({ min: -5, max: 200 }),
  fc.integer({ min: -5, max: 200 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, null, undefined),
  fc.array(fc.oneof(fc.constantFrom('t1'), fc.integer()), { maxLength: 2 }),
  fc.constant({ city: 'Oslo' }),
  fc.constant({}),
  fc.constant(() => 1),
);
const changesArb = fc.dictionary(
  fc.constantFrom('email', 'role', 'age', 'name', 'tags', 'nick', 'address', 'extra', 'id', '_version'),
  anyValue,
  { maxKeys: 3 },
);

describe('update checks of a valid record', () => {
  it('checking the changes gives the verdict of checking the whole record', () => {
    for (const recordValidate of [
      undefined,
      (r: Record<string, unknown>) => (r.age === 99 ? ['no 99'] : undefined),
    ]) {
      const v = new SchemaValidator('users', schema, ['id'], recordValidate);
      fc.assert(
        fc.property(validRecord, changesArb, (data, changes) => {
          let existing: Record<string, unknown>;
          try {
            existing = v.prepareInsert(data, () => 0, 1000);
          } catch {
            return; // not a valid record (the record validator said no): nothing to update
          }
          const whole = validationOutcome(() => v.prepareUpdate(existing, changes, 2000, 32, false));
          const changed = validationOutcome(() => v.prepareUpdate(existing, changes, 2000, 32, true));
          expect(changed).toEqual(whole);
        }),
        { numRuns: 3000 },
      );
    }
  });
});

describe('a bucket holding records its validator did not write', () => {
  it('checks every field of an update again, alone or in a write set', () => {
    const core = new StoreCore('checks', new EventBus());
    const b = new BucketState(compileDefinition('users', { key: 'id', schema } as never));
    core.buckets.set('users', b);
    core.insertLone(b, { id: 'a', email: 'x@y.z', role: 'admin' });
    expect(b.recordsValid).toBe(true);
    // Loaded as stored records are, without the validator: its role is one the schema rejects.
    b.load([{ id: 'b', email: 'x@y.z', role: 'root', _version: 1, _createdAt: 1, _updatedAt: 1 }]);
    expect(b.recordsValid).toBe(false);
    const rejected = (write: () => unknown) => {
      try {
        write();
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as ValidationError).issues.map((i) => i.field);
      }
      return expect.unreachable('the update of the stored record passed');
    };
    expect(rejected(() => core.updateLone(b, 'b', { age: 3 }, 'b'))).toEqual(['role']);
    expect(rejected(() => core.writeSet().update(b, 'b', { age: 3 }, 'b'))).toEqual(['role']);
    expect(core.updateLone(b, 'a', { age: 3 }, 'a').age).toBe(3);
  });

  it('a record another instance wrote (applyRemote) is checked whole on its next update', () => {
    const core = new StoreCore('checks', new EventBus());
    const b = new BucketState(compileDefinition('users', { key: 'id', schema } as never));
    core.buckets.set('users', b);
    core.insertLone(b, { id: 'a', email: 'x@y.z', role: 'admin' });
    // An unchanged copy of a record changes nothing, the flag included.
    const a = b.records.get('a')!;
    applyRemote(core, [{ bucket: 'users', keyId: 'a', record: a, data: JSON.stringify(a), seq: 10 }], 1);
    expect(b.recordsValid).toBe(true);
    // Another instance (another schema version, say) stored a role this schema rejects.
    const remote = { id: 'r', email: 'x@y.z', role: 'root', _version: 1, _createdAt: 1, _updatedAt: 1 };
    applyRemote(
      core,
      [{ bucket: 'users', keyId: 'r', record: remote, data: JSON.stringify(remote), seq: 11 }],
      1,
    );
    expect(b.records.get('r')).toBe(remote);
    expect(b.recordsValid).toBe(false);
    try {
      core.updateLone(b, 'r', { age: 3 }, 'r');
      expect.unreachable('the update of the remote record passed');
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).issues.map((i) => i.field)).toEqual(['role']);
    }
  });

  it('an empty bucket, or nothing loaded, holds no unchecked records', () => {
    const b = new BucketState(compileDefinition('users', { key: 'id', schema } as never));
    b.load([]);
    b.loadBulk([[], []]);
    expect(b.recordsValid).toBe(true);
    // Into an empty bucket (the restore path, loadBulk).
    b.load([{ id: 'b', email: 'x@y.z', role: 'root', _version: 1, _createdAt: 1, _updatedAt: 1 }]);
    expect(b.recordsValid).toBe(false);
    b.clear();
    expect(b.recordsValid).toBe(true);
  });
});
