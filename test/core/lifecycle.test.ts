// C-1 store lifecycle and C-2 bucket management.
import { describe, expect, it } from 'vitest';
import {
  BucketAlreadyExistsError,
  BucketNotDefinedError,
  DefinitionError,
  InvalidArgumentError,
  QuireError,
  Store,
  StoreStoppedError,
  UniqueConstraintError,
} from '../../src/index.js';
import { rejects } from './helpers.js';

const userDef = {
  key: 'id',
  schema: {
    id: { type: 'string', generated: 'uuid' },
    name: { type: 'string', required: true },
    email: { type: 'string', unique: true },
    role: { type: 'string' },
  },
  indexes: ['role'],
} as const;

describe('C-1 store lifecycle', () => {
  it('uses the given name', async () => {
    const store = await Store.start({ name: 'my-app' });
    expect(store.name).toBe('my-app');
    await store.stop();
  });

  it('defaults the name to store-N with increasing N', async () => {
    const a = await Store.start();
    const b = await Store.start({});
    expect(a.name).toMatch(/^store-\d+$/);
    expect(b.name).toMatch(/^store-\d+$/);
    const na = Number(a.name.slice(6));
    const nb = Number(b.name.slice(6));
    expect(nb).toBe(na + 1);
    await a.stop();
    await b.stop();
  });

  it('getStats returns the exact noex shape', async () => {
    const store = await Store.start({ name: 'stats' });
    const users = await store.defineBucket('users', userDef);
    await store.defineBucket('tags', { key: 'name', schema: { name: { type: 'string' } } });
    await users.insert({ name: 'A', email: 'a@x.io', role: 'admin' });
    await users.insert({ name: 'B', email: 'b@x.io' });
    store.defineQuery('q', async (ctx) => ctx.bucket('users').count());
    const unsub = await store.subscribe('q', () => {});
    expect(await store.getStats()).toEqual({
      name: 'stats',
      buckets: { count: 2, names: ['users', 'tags'] },
      records: { total: 2, perBucket: { users: 2, tags: 0 } },
      // users: the `role` index and the unique `email` index
      indexes: { total: 2, perBucket: { users: 2, tags: 0 } },
      queries: { defined: 1, activeSubscriptions: 1 },
      persistence: { enabled: false },
      ttl: { enabled: true, checkIntervalMs: 1000 },
    });
    await unsub();
    expect((await store.getStats()).queries).toEqual({ defined: 1, activeSubscriptions: 0 });
    await store.stop();
  });

  it('ttlCheckIntervalMs: 0 disables the TTL timer; a custom value is reported', async () => {
    const off = await Store.start({ ttlCheckIntervalMs: 0 });
    expect((await off.getStats()).ttl).toEqual({ enabled: false, checkIntervalMs: 0 });
    await off.stop();
    const custom = await Store.start({ ttlCheckIntervalMs: 250 });
    expect((await custom.getStats()).ttl).toEqual({ enabled: true, checkIntervalMs: 250 });
    await custom.stop();
  });

  it('stop() is idempotent and can be called concurrently', async () => {
    const store = await Store.start();
    await store.defineBucket('users', userDef);
    await Promise.all([store.stop(), store.stop()]);
    await expect(store.stop()).resolves.toBeUndefined();
  });

  it('settle() resolves on an idle store', async () => {
    const store = await Store.start();
    await expect(store.settle()).resolves.toBeUndefined();
    await store.stop();
  });

  it('rejects bad start options with InvalidArgumentError', async () => {
    await rejects(() => Store.start({ name: '' }), InvalidArgumentError);
    await rejects(() => Store.start({ name: 42 as any }), InvalidArgumentError);
    await rejects(() => Store.start({ ttlCheckIntervalMs: -1 }), InvalidArgumentError);
    await rejects(() => Store.start({ ttlCheckIntervalMs: 'x' as any }), InvalidArgumentError);
    await rejects(() => Store.start('x' as any), InvalidArgumentError);
    await rejects(() => Store.start({ persistence: {} as any }), InvalidArgumentError);
  });

  it('operations after stop() fail with a typed error', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);
    await store.stop();
    await rejects(() => users.insert({ name: 'late' }), StoreStoppedError);
    await rejects(() => users.all(), StoreStoppedError);
    await rejects(() => store.defineBucket('again', userDef), QuireError);
  });
});

describe('C-2 buckets', () => {
  it('defineBucket / hasBucket / bucket / getBucketSchema', async () => {
    const store = await Store.start();
    expect(store.hasBucket('users')).toBe(false);
    const handle = await store.defineBucket('users', userDef);
    expect(handle.name).toBe('users');
    expect(store.hasBucket('users')).toBe(true);
    expect(store.getBucketSchema('users')).toEqual(userDef);
    expect(store.getBucketSchema('nope')).toBeUndefined();
    const h2 = store.bucket('users');
    const r = await handle.insert({ name: 'A' });
    expect(await h2.get(r.id)).toEqual(r);
    await store.stop();
  });

  it('rejects a duplicate bucket name with the noex message', async () => {
    const store = await Store.start();
    await store.defineBucket('users', userDef);
    const e = await rejects(() => store.defineBucket('users', userDef), BucketAlreadyExistsError);
    expect(e.message).toBe('Bucket "users" already exists');
    expect(e.name).toBe('BucketAlreadyExistsError');
    expect(e.bucket).toBe('users');
    expect(e).toBeInstanceOf(Error);
    await store.stop();
  });

  it('bucket(unknown) throws BucketNotDefinedError synchronously', async () => {
    const store = await Store.start();
    let caught: unknown;
    try {
      store.bucket('ghost');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(BucketNotDefinedError);
    expect((caught as Error).message).toBe('Bucket "ghost" is not defined');
    expect((caught as Error).name).toBe('BucketNotDefinedError');
    expect((caught as BucketNotDefinedError).bucket).toBe('ghost');
    await store.stop();
  });

  it('dropBucket removes bucket and data; unknown resolves false', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);
    await users.insert({ name: 'A', email: 'a@x.io' });
    expect(await store.dropBucket('ghost')).toBe(false);
    expect(await store.dropBucket('users')).toBe(true);
    expect(store.hasBucket('users')).toBe(false);
    expect(() => store.bucket('users')).toThrow(BucketNotDefinedError);
    await rejects(() => users.all(), BucketNotDefinedError);
    expect(await store.dropBucket('users')).toBe(false);
    // Redefined: empty, and the unique value is free again.
    const again = await store.defineBucket('users', userDef);
    expect(await again.count()).toBe(0);
    await again.insert({ name: 'A', email: 'a@x.io' });
    expect((await store.getStats()).buckets.names).toEqual(['users']);
    await store.stop();
  });

  it('updateBucket adds fields (with defaults applied to new inserts), indexes and ttl', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);
    const a = await users.insert({ name: 'A', email: 'a@x.io', role: 'x' });
    await store.updateBucket('users', {
      addFields: { score: { type: 'number', default: 7 } },
      addIndexes: ['name'],
    });
    const schema = store.getBucketSchema('users')!;
    expect(schema.schema.score).toEqual({ type: 'number', default: 7 });
    expect(schema.indexes).toEqual(['role', 'name']);
    // Existing records are kept untouched.
    expect(await users.get(a.id)).toEqual(a);
    const b = await users.insert({ name: 'B' });
    expect((b as any).score).toBe(7);
    expect((await users.where({ name: 'A' })).map((r) => r.id)).toEqual([a.id]);
    expect((await store.getStats()).indexes.perBucket.users).toBe(3);
    // The unique index survived the rebuild.
    await rejects(() => users.insert({ name: 'C', email: 'a@x.io' }), Error);

    await store.updateBucket('users', { ttl: '1h' });
    expect(store.getBucketSchema('users')!.ttl).toBe('1h');
    const c = await users.insert({ name: 'C' });
    expect(c._expiresAt).toBe(c._createdAt + 3_600_000);
    await store.updateBucket('users', { ttl: null });
    expect(store.getBucketSchema('users')!.ttl).toBeUndefined();
    const d = await users.insert({ name: 'D' });
    expect(d._expiresAt).toBeUndefined();
    await store.stop();
  });

  it('updateBucket rejects an existing field with the noex message and changes nothing', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);
    await users.insert({ name: 'A' });
    const e = await rejects(
      () => store.updateBucket('users', { addFields: { name: { type: 'string' } } }),
      Error,
    );
    expect(e.message).toContain('Field "name" already exists');
    expect(store.getBucketSchema('users')).toEqual(userDef);
    await rejects(() => store.updateBucket('ghost', { addIndexes: ['x'] }), BucketNotDefinedError);
    const e2 = await rejects(() => store.updateBucket('users', { addIndexes: ['missing'] }), DefinitionError);
    expect(e2.message).toContain('Index field "missing" does not exist');
    expect(store.getBucketSchema('users')).toEqual(userDef);
    await rejects(() => store.updateBucket('users', { ttl: -5 }), DefinitionError);
    expect(store.getBucketSchema('users')).toEqual(userDef);
    await rejects(() => store.updateBucket('users', 'x' as any), InvalidArgumentError);
    expect(await users.count()).toBe(1);
    await store.stop();
  });

  it('updateBucket adding a unique or sorted index over existing data', async () => {
    const store = await Store.start();
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, code: { type: 'string' }, n: { type: 'number' } },
    });
    await b.insertMany([
      { id: 1, code: 'a', n: 3 },
      { id: 2, code: 'a', n: 1 },
      { id: 3, code: 'b', n: 2 },
    ]);
    const before = await b.all();
    // existing duplicates: the unique index cannot be built; nothing changes
    await rejects(
      () => store.updateBucket('t', { addIndexes: [{ fields: 'code', unique: true }] }),
      UniqueConstraintError,
    );
    expect(store.getBucketSchema('t')!.indexes).toBeUndefined();
    expect(await b.all()).toEqual(before);
    await b.insert({ id: 4, code: 'a' });
    await b.delete(4);
    // a sorted index serves sorting right away
    await store.updateBucket('t', { addIndexes: [{ fields: 'n', sorted: true }] });
    expect((await b.where({}, { sort: { n: 'asc' } })).map((r) => r.id)).toEqual([2, 3, 1]);
    expect((await b.where({ n: { $gte: 2 } })).map((r) => r.id)).toEqual([1, 3]);
    // adding the same index twice keeps one
    await store.updateBucket('t', { addIndexes: [{ fields: 'n', sorted: true }] });
    expect((await store.getStats()).indexes.perBucket.t).toBe(1);
    await store.stop();
  });
});
