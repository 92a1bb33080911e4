// C-5 CRUD and bulk operations; failing bulk operations change nothing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DuplicateKeyError,
  RecordNotFoundError,
  Store,
  UniqueConstraintError,
  ValidationError,
} from '../../src/index.js';
import { expectIndexesMatchData, rejects, snapshot } from './helpers.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start();
});
afterEach(async () => {
  await store.stop();
});

const def = {
  key: 'id',
  schema: {
    id: { type: 'string' },
    name: { type: 'string', required: true },
    email: { type: 'string', unique: true },
    role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
    age: { type: 'number', min: 0 },
  },
  indexes: ['role', { fields: 'age', sorted: true }, ['role', 'age']],
} as const;

const FIELDS = ['role', 'age', 'email', 'name'];

async function seeded() {
  const b = await store.defineBucket('users', def);
  await b.insertMany([
    { id: 'a', name: 'Ann', email: 'a@x.io', role: 'admin', age: 30 },
    { id: 'b', name: 'Bob', email: 'b@x.io', age: 20 },
    { id: 'c', name: 'Cid', email: 'c@x.io', age: 40 },
    { id: 'd', name: 'Dan', role: 'admin', age: 50 },
  ]);
  return b;
}

async function withEvents() {
  const events: string[] = [];
  await store.on('bucket.*.*', (_e: unknown, topic: string) => {
    events.push(topic);
  });
  return events;
}

describe('C-5 single-record CRUD', () => {
  it('insert / get / update / delete', async () => {
    const b = await store.defineBucket('users', def);
    const r = await b.insert({ id: 'a', name: 'Ann' });
    expect(r).toMatchObject({ id: 'a', name: 'Ann', role: 'user', _version: 1 });
    expect(await b.get('a')).toEqual(r);
    expect(await b.get('zz')).toBeUndefined();
    const u = await b.update('a', { age: 3 });
    expect(u).toMatchObject({ id: 'a', name: 'Ann', age: 3, _version: 2 });
    await b.delete('a');
    expect(await b.get('a')).toBeUndefined();
    // deleting a missing key is a no-op
    await expect(b.delete('a')).resolves.toBeUndefined();
    expect(await b.count()).toBe(0);
  });

  it('inserting an existing key fails with "Duplicate key" and changes nothing', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const e = await rejects(() => b.insert({ id: 'a', name: 'Other' }), DuplicateKeyError);
    expect(e.message).toContain('Duplicate key');
    expect(e.key).toBe('a');
    expect(await snapshot(b)).toEqual(before);
  });

  it('update of a missing key rejects with the noex message', async () => {
    const b = await seeded();
    const e = await rejects(() => b.update('zz', { age: 1 }), RecordNotFoundError);
    expect(e.message).toBe('Record with key "zz" not found in bucket "users"');
  });

  it('a failed update changes nothing', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    await rejects(() => b.update('a', { age: -1 }), ValidationError);
    await rejects(() => b.update('a', { email: 'b@x.io' }), UniqueConstraintError);
    await rejects(() => b.update('a', { role: 'root' } as any), ValidationError);
    expect(await snapshot(b)).toEqual(before);
    await expectIndexesMatchData(b, FIELDS);
  });

  it('all() returns records in insertion order', async () => {
    const b = await seeded();
    expect((await b.all()).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    await b.update('a', { age: 31 });
    expect((await b.all()).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('C-5 upsert and clear', () => {
  it('upsert inserts when absent, merges when present', async () => {
    const b = await seeded();
    const ins = await b.upsert({ id: 'e', name: 'Eve', age: 1 });
    expect(ins).toMatchObject({ id: 'e', _version: 1, role: 'user' });
    const up = await b.upsert({ id: 'a', name: 'Ann2' });
    expect(up).toMatchObject({ id: 'a', name: 'Ann2', age: 30, role: 'admin', _version: 2 });
    expect(await b.count()).toBe(5);
    await rejects(() => b.upsert({ id: 'a', name: 'x', email: 'b@x.io' }), UniqueConstraintError);
    expect((await b.get('a'))!.email).toBe('a@x.io');
  });

  it('upsert without a key inserts (generated key)', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number', generated: 'autoincrement' }, v: { type: 'string' } },
    });
    const r = await b.upsert({ v: 'x' });
    expect(r.id).toBe(1);
  });

  it('clear removes every record and index entry, emitting deleted events', async () => {
    const b = await seeded();
    const events = await withEvents();
    await b.clear();
    expect(await b.count()).toBe(0);
    expect(await b.all()).toEqual([]);
    expect(events.filter((t) => t === 'bucket.users.deleted')).toHaveLength(4);
    await expectIndexesMatchData(b, FIELDS);
    // unique values are free again
    await b.insert({ id: 'z', name: 'Z', email: 'a@x.io' });
    expect(await b.where({ role: 'admin' })).toEqual([]);
    await expect(b.clear()).resolves.toBeUndefined();
  });
});

describe('C-5 bulk operations', () => {
  it('insertMany returns the inserted records', async () => {
    const b = await store.defineBucket('users', def);
    const rs = await b.insertMany([
      { id: 'a', name: 'A' },
      { id: 'b', name: 'B' },
    ]);
    expect(rs.map((r) => [r.id, r._version, r.role])).toEqual([
      ['a', 1, 'user'],
      ['b', 1, 'user'],
    ]);
    expect(await b.insertMany([])).toEqual([]);
  });

  it('updateMany returns the count and applies changes to matches only', async () => {
    const b = await seeded();
    expect(await b.updateMany({ role: 'admin' }, { age: 99 })).toBe(2);
    expect((await b.where({ age: 99 })).map((r) => r.id).sort()).toEqual(['a', 'd']);
    expect((await b.get('a'))!._version).toBe(2);
    expect((await b.get('b'))!._version).toBe(1);
    // @ts-expect-error a role outside the enum does not type-check (and matches nothing)
    expect(await b.updateMany({ role: 'nobody' }, { age: 1 })).toBe(0);
    // the key is ignored in changes
    expect(await b.updateMany({ id: 'b' }, { id: 'q', name: 'Bobby' } as any)).toBe(1);
    expect((await b.get('b'))!.name).toBe('Bobby');
    await expectIndexesMatchData(b, FIELDS);
  });

  it('updateMany that changes the indexed filter field keeps indexes right', async () => {
    const b = await seeded();
    expect(await b.updateMany({ age: { $gte: 30 } }, { age: 5 })).toBe(3);
    expect(await b.count({ age: 5 })).toBe(3);
    await expectIndexesMatchData(b, FIELDS);
  });

  it('deleteMany returns the count', async () => {
    const b = await seeded();
    expect(await b.deleteMany({ age: { $lt: 35 } })).toBe(2);
    expect((await b.all()).map((r) => r.id)).toEqual(['c', 'd']);
    expect(await b.deleteMany({ age: { $lt: 0 } })).toBe(0);
    await expectIndexesMatchData(b, FIELDS);
  });
});

describe('C-5 failing bulk operations change nothing', () => {
  async function expectUnchanged(b: Awaited<ReturnType<typeof seeded>>, before: unknown, events: string[]) {
    expect(await snapshot(b)).toEqual(before);
    expect(events).toEqual([]);
    await expectIndexesMatchData(b, FIELDS);
  }

  it('insertMany with an existing key in the middle', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const events = await withEvents();
    await rejects(
      () =>
        b.insertMany([
          { id: 'e', name: 'E', email: 'e@x.io', age: 1 },
          { id: 'a', name: 'dup' },
          { id: 'f', name: 'F', age: 2 },
        ]),
      DuplicateKeyError,
    );
    await expectUnchanged(b, before, events);
  });

  it('insertMany with a key repeated inside the batch', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const events = await withEvents();
    const e = await rejects(
      () =>
        b.insertMany([
          { id: 'e', name: 'E', age: 1 },
          { id: 'e', name: 'E2', age: 2 },
        ]),
      DuplicateKeyError,
    );
    expect(e.message).toContain('Duplicate key');
    await expectUnchanged(b, before, events);
  });

  it('insertMany with a unique conflict against the store and within the batch', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const events = await withEvents();
    const e = await rejects(
      () =>
        b.insertMany([
          { id: 'e', name: 'E', email: 'new@x.io' },
          { id: 'f', name: 'F', email: 'c@x.io' },
        ]),
      UniqueConstraintError,
    );
    expect([e.bucket, e.field, e.value]).toEqual(['users', 'email', 'c@x.io']);
    await rejects(
      () =>
        b.insertMany([
          { id: 'e', name: 'E', email: 'same@x.io' },
          { id: 'f', name: 'F', email: 'same@x.io' },
        ]),
      UniqueConstraintError,
    );
    await expectUnchanged(b, before, events);
  });

  it('insertMany with a validation failure in the last record', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const events = await withEvents();
    await rejects(
      () => b.insertMany([{ id: 'e', name: 'E', role: 'admin', age: 7 }, { id: 'f', age: -3 } as any]),
      ValidationError,
    );
    await expectUnchanged(b, before, events);
  });

  it('updateMany that breaks a unique constraint halfway', async () => {
    const b = await seeded();
    const before = await snapshot(b);
    const events = await withEvents();
    // every user gets the same email: the second one conflicts
    await rejects(() => b.updateMany({ age: { $gte: 0 } }, { email: 'same@x.io' }), UniqueConstraintError);
    // one user gets another's email
    await rejects(() => b.updateMany({ id: 'd' }, { email: 'a@x.io' }), UniqueConstraintError);
    await expectUnchanged(b, before, events);
  });

  it('updateMany that fails validation for some records only', async () => {
    const b = await store.defineBucket('users', {
      ...def,
      schema: { ...def.schema, age: { type: 'number', max: 45 } },
    });
    await b.insertMany([
      { id: 'a', name: 'A', role: 'admin', age: 10 },
      { id: 'b', name: 'B', age: 20 },
      { id: 'c', name: 'C', age: 30 },
    ]);
    const before = await snapshot(b);
    const events = await withEvents();
    // a validator that rejects only one of the records
    await rejects(() => b.updateMany({}, { age: 46 }), ValidationError);
    await rejects(() => b.updateMany({ age: { $gte: 10 } }, { name: null } as any), ValidationError);
    expect(await snapshot(b)).toEqual(before);
    expect(events).toEqual([]);
    await expectIndexesMatchData(b, FIELDS);
  });

  it('updateMany where a record-level validator rejects a record in the middle', async () => {
    const b = await store.defineBucket('users', {
      ...def,
      validate: (r) => ((r.age as number) > 100 && r.id === 'b' ? ['b too old'] : undefined),
    });
    await b.insertMany([
      { id: 'a', name: 'A', age: 10 },
      { id: 'b', name: 'B', age: 20 },
      { id: 'c', name: 'C', age: 30 },
    ]);
    const before = await snapshot(b);
    const events = await withEvents();
    await rejects(() => b.updateMany({}, { age: 101 }), ValidationError);
    expect(await snapshot(b)).toEqual(before);
    expect(events).toEqual([]);
    await expectIndexesMatchData(b, FIELDS);
  });

  it('deleteMany blocked by a restrict reference deletes nothing', async () => {
    const b = await seeded();
    const posts = await store.defineBucket('posts', {
      key: 'id',
      schema: { id: { type: 'number' }, author: { type: 'string', ref: 'users' } },
    });
    await posts.insert({ id: 1, author: 'c' });
    const before = await snapshot(b);
    const events = await withEvents();
    await rejects(() => b.deleteMany({ age: { $gte: 0 } }), Error);
    await rejects(() => b.clear(), Error);
    await expectUnchanged(b, before, events);
    expect(await posts.count()).toBe(1);
  });
});
