import { describe, expectTypeOf, it } from 'vitest';
import type { AnyStore, BucketHandle, InferInsert, InferRecord, StoreRecord } from '../../src/index.js';
import { defineSchema, runMigrations, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';

const schema = defineSchema({
  users: {
    key: 'id',
    schema: {
      id: { type: 'string', generated: 'uuid' },
      name: { type: 'string', required: true },
      age: { type: 'number' },
      role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
      tags: { type: 'array', items: { type: 'string' } },
      born: { type: 'date' },
    },
  },
  orders: {
    key: 'id',
    schema: {
      id: { type: 'number', generated: 'autoincrement' },
      userId: { type: 'string', required: true, ref: 'users' },
      total: { type: 'number', required: true },
      paid: { type: 'boolean', default: false },
    },
  },
});

type User = InferRecord<typeof schema.users>;
type UserInsert = InferInsert<typeof schema.users>;
type Order = InferRecord<typeof schema.orders>;

describe('typed stores: Store.start({buckets})', () => {
  it('store.bucket(name) is typed from the definition', async () => {
    const store = await Store.start({ buckets: schema });
    const users = store.bucket('users');
    expectTypeOf(users).toEqualTypeOf<BucketHandle<User, UserInsert>>();
    const u = await users.insert({ name: 'Ann', age: 30 });
    expectTypeOf(u).toEqualTypeOf<StoreRecord<User>>();
    expectTypeOf(u.role).toEqualTypeOf<'admin' | 'user'>();
    expectTypeOf(await store.bucket('orders').get(1)).toEqualTypeOf<StoreRecord<Order> | undefined>();
  });

  it('unknown bucket names fail to compile', async () => {
    const store = await Store.start({ buckets: schema });
    // @ts-expect-error not a bucket of this store
    store.bucket('userz');
    // @ts-expect-error a typed store takes no record type argument instead of a name
    store.bucket<{ a: string }>('users');
  });

  it('filters: field names and operator values are checked', async () => {
    const store = await Store.start({ buckets: schema });
    const users = store.bucket('users');
    await users.where({ age: { $gt: 18 }, role: 'admin' });
    await users.where({ name: { $startsWith: 'A' }, tags: { $contains: 'x' } });
    await users.where({ $or: [{ age: { $between: [1, 9] } }, { role: { $in: ['user'] } }] });
    await users.where({ _version: { $gte: 2 } });
    await users.where({ born: { $lt: Date.now() } });
    // @ts-expect-error misspelled field
    await users.where({ agee: 1 });
    // @ts-expect-error $gt on a number field takes a number
    await users.where({ age: { $gt: 'x' } });
    // @ts-expect-error value outside the enum
    await users.where({ role: 'owner' });
    // @ts-expect-error $startsWith is for strings
    await users.where({ age: { $startsWith: '1' } });
    // @ts-expect-error misspelled field inside $or
    await users.where({ $or: [{ nmae: 'x' }] });
    // @ts-expect-error misspelled field in findOne
    await users.findOne({ agee: 1 });
    // @ts-expect-error misspelled field in count
    await users.count({ agee: 1 });
    // @ts-expect-error misspelled field in updateMany
    await users.updateMany({ agee: 1 }, { age: 2 });
    // @ts-expect-error misspelled field in deleteMany
    await users.deleteMany({ agee: 1 });
  });

  it('synchronous reads (peek…) are typed like their async forms', async () => {
    const store = await Store.start({ buckets: schema });
    const users = store.bucket('users');
    expectTypeOf(users.peek('k')).toEqualTypeOf<StoreRecord<User> | undefined>();
    expectTypeOf(users.peekWhere({ age: { $gt: 1 } }, { sort: { age: 'asc' }, limit: 3 })).toEqualTypeOf<
      StoreRecord<User>[]
    >();
    expectTypeOf(users.peekOne({ role: 'admin' })).toEqualTypeOf<StoreRecord<User> | undefined>();
    expectTypeOf(users.peekCount()).toEqualTypeOf<number>();
    expectTypeOf(store.bucket('orders').peek(1)?.total).toEqualTypeOf<number | undefined>();
    // @ts-expect-error misspelled field in peekWhere
    users.peekWhere({ agee: 1 });
    // @ts-expect-error value outside the enum
    users.peekOne({ role: 'owner' });
    // @ts-expect-error unknown sort field
    users.peekWhere({}, { sort: { agee: 'asc' } });
    // @ts-expect-error misspelled field in peekCount
    users.peekCount({ agee: 1 });
  });

  it('sort fields and aggregate fields are checked', async () => {
    const store = await Store.start({ buckets: schema });
    const users = store.bucket('users');
    await users.where({}, { sort: { age: 'desc', name: 'asc' }, limit: 3 });
    await users.sum('age');
    // @ts-expect-error unknown sort field
    await users.where({}, { sort: { agee: 'asc' } });
    // @ts-expect-error bad direction
    await users.where({}, { sort: { age: 'down' } });
    // @ts-expect-error unknown aggregate field
    await users.sum('agee');
  });

  it('inserts and updates are checked', async () => {
    const store = await Store.start({ buckets: schema });
    // @ts-expect-error misspelled field in an insert
    await store.bucket('users').insert({ name: 'Ann', agee: 3 });
    // @ts-expect-error missing required field
    await store.bucket('orders').insert({ total: 3 });
    // @ts-expect-error wrong field type in an update
    await store.bucket('users').update('k', { age: 'old' });
  });

  it('tx.bucket(name) is typed; unknown names fail', async () => {
    const store = await Store.start({ buckets: schema });
    await store.transaction(async (tx) => {
      const users = await tx.bucket('users');
      const u = await users.insert({ name: 'Bo' });
      expectTypeOf(u.name).toEqualTypeOf<string>();
      expectTypeOf(await users.where({ age: { $lt: 3 } })).toEqualTypeOf<StoreRecord<User>[]>();
      // @ts-expect-error misspelled filter field in a transaction
      await users.where({ agee: 1 });
      // @ts-expect-error not a bucket of this store
      await tx.bucket('userz');
    });
  });

  it('reactive query contexts are typed', async () => {
    const store = await Store.start({ buckets: schema });
    store.defineQuery('adults', async (ctx, params: { min: number }) => {
      const rows = await ctx.bucket('users').where({ age: { $gte: params.min } });
      expectTypeOf(rows).toEqualTypeOf<StoreRecord<User>[]>();
      // @ts-expect-error misspelled field in a query
      await ctx.bucket('users').where({ agee: 1 });
      // @ts-expect-error not a bucket of this store
      ctx.bucket('userz');
      return rows.length;
    });
  });

  it('events are typed by their pattern', async () => {
    const store = await Store.start({ buckets: schema });
    await store.on('bucket.users.inserted', (event) => {
      expectTypeOf(event.type).toEqualTypeOf<'inserted'>();
      expectTypeOf(event.record.name).toEqualTypeOf<string>();
    });
    await store.on('bucket.orders.*', (event) => {
      if (event.type === 'updated') expectTypeOf(event.newRecord.total).toEqualTypeOf<number>();
    });
    await store.on('bucket.*.deleted', (event) => {
      expectTypeOf(event.bucket).toEqualTypeOf<'users' | 'orders'>();
    });
    // @ts-expect-error not a bucket of this store
    await store.on('bucket.userz.inserted', () => {});
    // @ts-expect-error not an event kind
    await store.on('bucket.users.created', () => {});
  });

  it('a typed store is still a Store for servers and migrations', async () => {
    const store = await Store.start({ buckets: schema });
    // a plain `Store` parameter means an untyped store; `AnyStore` takes both
    const acceptAny = (_s: AnyStore) => {};
    acceptAny(store);
    new QuireServer({ store });
    void runMigrations;
  });
});

describe('untyped stores stay as in noex-store', () => {
  it('any bucket name, any filter field, record type argument', async () => {
    const store = await Store.start();
    const b = store.bucket('anything');
    expectTypeOf(b).toEqualTypeOf<BucketHandle<Record<string, unknown>, Record<string, unknown>>>();
    await b.where({ whatever: { $gt: 'x' } }, { sort: { any: 'asc' } });
    const typed = store.bucket<{ n: number }>('nums');
    expectTypeOf(typed).toEqualTypeOf<BucketHandle<{ n: number }, { n: number }>>();
    await store.transaction(async (tx) => {
      await (await tx.bucket('x')).where({ y: 1 });
    });
    store.defineQuery('q', async (ctx) => ctx.bucket('z').count({ w: 1 }));
    await store.on<{ custom: true }>('bucket.x.inserted', (e) => {
      expectTypeOf(e.custom).toEqualTypeOf<true>();
    });
  });
});
