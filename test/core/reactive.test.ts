import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueryContext } from '../../src/index.js';
import {
  BucketNotDefinedError,
  QueryAlreadyDefinedError,
  QueryNotDefinedError,
  Store,
} from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('users', {
    key: 'id',
    schema: {
      id: { type: 'string', required: true },
      name: { type: 'string', required: true },
      role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
      age: { type: 'number' },
      tenant: { type: 'string' },
    },
  });
  await store.defineBucket('orders', {
    key: 'id',
    schema: {
      id: { type: 'number', generated: 'autoincrement' },
      userId: { type: 'string' },
      amount: { type: 'number' },
      tenant: { type: 'string' },
    },
  });
});

afterEach(async () => {
  await store.stop();
});

async function seedUsers() {
  await store.bucket('users').insertMany([
    { id: 'a', name: 'Ann', role: 'admin', age: 30, tenant: 't1' },
    { id: 'b', name: 'Bob', age: 25, tenant: 't1' },
    { id: 'c', name: 'Cid', age: 40, tenant: 't2' },
    { id: 'd', name: 'Dee', tenant: 't2' },
  ]);
}

describe('programmatic queries (C-10)', () => {
  it('runQuery runs with and without params', async () => {
    await seedUsers();
    store.defineQuery('count', async (ctx) => ctx.bucket('users').count());
    store.defineQuery('byRole', async (ctx, p: { role: string }) =>
      ctx.bucket('users').count({ role: p.role }),
    );
    expect(await store.runQuery('count')).toBe(4);
    expect(await store.runQuery('byRole', { role: 'user' })).toBe(3);
  });

  it('a query without params is called with one argument', async () => {
    const arities: number[] = [];
    store.defineQuery('q', async (...args: unknown[]) => {
      arities.push(args.length);
      return 1;
    });
    await store.runQuery('q');
    await store.runQuery('q', { x: 1 });
    expect(arities).toEqual([1, 2]);
  });

  it('QueryAlreadyDefinedError and QueryNotDefinedError with noex messages', async () => {
    store.defineQuery('q', async () => 1);
    let err: unknown;
    try {
      store.defineQuery('q', async () => 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QueryAlreadyDefinedError);
    expect((err as Error).message).toBe('Query "q" is already defined');
    expect((err as QueryAlreadyDefinedError).query).toBe('q');
    expect((err as Error).name).toBe('QueryAlreadyDefinedError');

    await expect(store.runQuery('nope')).rejects.toBeInstanceOf(QueryNotDefinedError);
    await expect(store.runQuery('nope')).rejects.toThrow('Query "nope" is not defined');
    await expect(store.subscribe('nope', () => {})).rejects.toBeInstanceOf(QueryNotDefinedError);
    await expect(store.subscribe('nope', {}, () => {})).rejects.toMatchObject({
      name: 'QueryNotDefinedError',
      query: 'nope',
    });
    // declarative query with a duplicate name
    expect(() => store.defineDeclarativeQuery('q', { bucket: 'users' })).toThrow(QueryAlreadyDefinedError);
  });

  it('getQueries / getQueryInfo / undefineQuery', async () => {
    store.defineQuery('p', async (ctx) => ctx.bucket('users').count());
    const cfg = { bucket: 'users', filter: { role: 'admin' } };
    store.defineDeclarativeQuery('d', cfg);
    expect(store.getQueryInfo('p')).toEqual({ name: 'p', type: 'programmatic', activeSubscriptions: 0 });
    expect(store.getQueryInfo('d')).toEqual({
      name: 'd',
      type: 'declarative',
      config: cfg,
      activeSubscriptions: 0,
    });
    expect(store.getQueryInfo('missing')).toBeUndefined();
    const unsub1 = await store.subscribe('p', () => {});
    await store.subscribe('p', () => {});
    expect(store.getQueryInfo('p')!.activeSubscriptions).toBe(2);
    expect(store.getQueries().map((q) => q.name)).toEqual(['p', 'd']);
    expect((await store.getStats()).queries).toEqual({ defined: 2, activeSubscriptions: 2 });
    unsub1();
    unsub1(); // idempotent
    expect(store.getQueryInfo('p')!.activeSubscriptions).toBe(1);
    expect(store.undefineQuery('p')).toBe(true);
    expect(store.undefineQuery('p')).toBe(false);
    expect(store.getQueries().map((q) => q.name)).toEqual(['d']);
    expect((await store.getStats()).queries).toEqual({ defined: 1, activeSubscriptions: 0 });
    await expect(store.runQuery('p')).rejects.toBeInstanceOf(QueryNotDefinedError);
    // the name can be reused
    store.defineQuery('p', async () => 'again');
    expect(await store.runQuery('p')).toBe('again');
  });

  it('subscribe never calls back for the initial value; calls back when the result changes', async () => {
    await seedUsers();
    store.defineQuery('admins', async (ctx) =>
      (await ctx.bucket('users').where({ role: 'admin' })).map((u) => u.id),
    );
    const results: unknown[] = [];
    await store.subscribe('admins', (r) => results.push(r));
    await store.settle();
    expect(results).toEqual([]);
    await store.bucket('users').update('b', { role: 'admin' });
    await store.settle();
    expect(results).toEqual([['a', 'b']]);
  });

  it('callback only on deep-inequality change', async () => {
    await seedUsers();
    let runs = 0;
    store.defineQuery('adminNames', async (ctx) => {
      runs++;
      return (await ctx.bucket('users').where({ role: 'admin' })).map((u) => ({ name: u.name }));
    });
    const results: unknown[] = [];
    await store.subscribe('adminNames', (r) => results.push(r));
    const runsAfterSubscribe = runs;
    // change to a non-admin: query re-runs (bucket-level dep) but the result is deep-equal
    await store.bucket('users').update('c', { age: 41 });
    await store.settle();
    expect(runs).toBeGreaterThan(runsAfterSubscribe);
    expect(results).toEqual([]);
    await store.bucket('users').update('a', { name: 'Anne' });
    await store.settle();
    expect(results).toEqual([[{ name: 'Anne' }]]);
  });

  it('subscribe with params', async () => {
    await seedUsers();
    store.defineQuery('byTenant', async (ctx, p: { t: string }) =>
      (await ctx.bucket('users').where({ tenant: p.t })).map((u) => u.id).sort(),
    );
    const t1: unknown[] = [];
    const t2: unknown[] = [];
    await store.subscribe('byTenant', { t: 't1' }, (r) => t1.push(r));
    await store.subscribe('byTenant', { t: 't2' }, (r) => t2.push(r));
    await store.bucket('users').insert({ id: 'e', name: 'Eve', tenant: 't2' });
    await store.settle();
    expect(t1).toEqual([]);
    expect(t2).toEqual([['c', 'd', 'e']]);
  });

  it('get() is a record-level dependency: other keys do not re-run the query', async () => {
    await seedUsers();
    let runs = 0;
    store.defineQuery('one', async (ctx, p: { id: string }) => {
      runs++;
      return (await ctx.bucket('users').get(p.id))?.name ?? null;
    });
    const results: unknown[] = [];
    await store.subscribe('one', { id: 'a' }, (r) => results.push(r));
    expect(runs).toBe(1);
    const users = store.bucket('users');
    await users.update('b', { name: 'Bobby' });
    await users.insert({ id: 'z', name: 'Zed' });
    await users.delete('c');
    await store.bucket('orders').insert({ userId: 'a', amount: 1 });
    await store.settle();
    expect(runs).toBe(1);
    expect(results).toEqual([]);
    await users.update('a', { name: 'Annie' });
    await store.settle();
    expect(runs).toBe(2);
    expect(results).toEqual(['Annie']);
    await users.delete('a');
    await store.settle();
    expect(results).toEqual(['Annie', null]);
  });

  it('get() on a missing key re-runs when that key is inserted', async () => {
    store.defineQuery('one', async (ctx) => (await ctx.bucket('users').get('x')) ?? null);
    const results: unknown[] = [];
    await store.subscribe('one', (r) => results.push(r));
    await store.bucket('users').insert({ id: 'x', name: 'X' });
    await store.settle();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ id: 'x', name: 'X' });
  });

  it('record-level dependencies work with composite keys', async () => {
    await store.defineBucket('cells', {
      key: ['row', 'col'],
      schema: { row: { type: 'number' }, col: { type: 'number' }, v: { type: 'string' } },
    });
    const cells = store.bucket('cells');
    await cells.insertMany([
      { row: 1, col: 1, v: 'a' },
      { row: 1, col: 2, v: 'b' },
    ]);
    let runs = 0;
    store.defineQuery('cell', async (ctx, p: { r: number; c: number }) => {
      runs++;
      return (await ctx.bucket('cells').get([p.r, p.c]))?.v ?? null;
    });
    const results: unknown[] = [];
    await store.subscribe('cell', { r: 1, c: 1 }, (r) => results.push(r));
    await cells.update([1, 2], { v: 'B' });
    await store.settle();
    expect(runs).toBe(1);
    await cells.update([1, 1], { v: 'A' });
    await store.settle();
    expect(runs).toBe(2);
    expect(results).toEqual(['A']);
  });

  it('every read other than get() is bucket-level', async () => {
    await seedUsers();
    const reads: Array<[string, (ctx: QueryContext) => Promise<unknown>]> = [
      ['all', (ctx) => ctx.bucket('users').all()],
      ['where', (ctx) => ctx.bucket('users').where({ id: 'a' })],
      ['findOne', (ctx) => ctx.bucket('users').findOne({ id: 'a' })],
      ['count', (ctx) => ctx.bucket('users').count({ id: 'a' })],
      ['first', (ctx) => ctx.bucket('users').first(1)],
      ['last', (ctx) => ctx.bucket('users').last(1)],
      ['paginate', (ctx) => ctx.bucket('users').paginate({ limit: 1 })],
      ['sum', (ctx) => ctx.bucket('users').sum('age', { id: 'a' })],
      ['avg', (ctx) => ctx.bucket('users').avg('age', { id: 'a' })],
      ['min', (ctx) => ctx.bucket('users').min('age', { id: 'a' })],
      ['max', (ctx) => ctx.bucket('users').max('age', { id: 'a' })],
      ['groupBy', (ctx) => ctx.bucket('users').groupBy('role', { function: 'count' }, { id: 'a' })],
    ];
    const runs = new Map<string, number>();
    for (const [name, read] of reads) {
      runs.set(name, 0);
      store.defineQuery(name, async (ctx) => {
        runs.set(name, runs.get(name)! + 1);
        return read(ctx);
      });
      await store.subscribe(name, () => {});
    }
    // touches a record none of the queries' results depend on
    await store.bucket('users').update('d', { age: 99 });
    await store.settle();
    for (const [name] of reads) expect({ name, runs: runs.get(name) }).toEqual({ name, runs: 2 });
  });

  it('one commit touching many records re-runs a query once', async () => {
    await seedUsers();
    let runs = 0;
    store.defineQuery('all', async (ctx) => {
      runs++;
      return ctx.bucket('users').count();
    });
    const results: unknown[] = [];
    await store.subscribe('all', (r) => results.push(r));
    await store.bucket('users').deleteMany({ tenant: 't1' });
    await store.settle();
    expect(runs).toBe(2);
    expect(results).toEqual([2]);
  });

  it('dependencies are re-tracked on every run', async () => {
    await seedUsers();
    // reads users.get(a); if a is admin also reads the orders bucket
    store.defineQuery('dyn', async (ctx) => {
      const u = await ctx.bucket('users').get('a');
      if (u?.role !== 'admin') return -1;
      return ctx.bucket('orders').count();
    });
    const results: unknown[] = [];
    await store.subscribe('dyn', (r) => results.push(r));
    await store.bucket('orders').insert({ userId: 'a', amount: 5 });
    await store.settle();
    expect(results).toEqual([1]);
    await store.bucket('users').update('a', { role: 'user' });
    await store.settle();
    expect(results).toEqual([1, -1]);
    await store.bucket('orders').insert({ userId: 'a', amount: 6 });
    await store.settle();
    expect(results).toEqual([1, -1]);
  });

  it('a change committed while the initial run is reading is not missed', async () => {
    let slow = true;
    store.defineQuery('count', async (ctx) => {
      const n = await ctx.bucket('users').count();
      if (slow) {
        slow = false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return n;
    });
    const results: unknown[] = [];
    const subscribed = store.subscribe('count', (r) => results.push(r));
    await new Promise((r) => setTimeout(r, 5));
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await subscribed;
    await store.settle();
    expect(results).toEqual([1]);
  });

  it('a change to a newly read bucket during a re-run is not missed', async () => {
    let phase = 0;
    store.defineQuery('q', async (ctx) => {
      const users = await ctx.bucket('users').count();
      if (users === 0) return 'none';
      const orders = await ctx.bucket('orders').count();
      if (phase === 1) {
        phase = 2;
        await new Promise((r) => setTimeout(r, 20));
      }
      return `${users}/${orders}`;
    });
    const results: unknown[] = [];
    await store.subscribe('q', (r) => results.push(r));
    phase = 1;
    await store.bucket('users').insert({ id: 'a', name: 'A' }); // re-run starts reading orders
    await new Promise((r) => setTimeout(r, 5));
    await store.bucket('orders').insert({ amount: 1 }); // lands while the re-run sleeps
    await store.settle();
    expect(results.at(-1)).toBe('1/1');
  });

  it('unsubscribe stops callbacks', async () => {
    store.defineQuery('count', async (ctx) => ctx.bucket('users').count());
    const results: unknown[] = [];
    const unsub = await store.subscribe('count', (r) => results.push(r));
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    unsub();
    await store.bucket('users').insert({ id: 'b', name: 'B' });
    await store.settle();
    expect(results).toEqual([1]);
  });

  it('undefineQuery ends its subscriptions', async () => {
    store.defineQuery('count', async (ctx) => ctx.bucket('users').count());
    const results: unknown[] = [];
    await store.subscribe('count', (r) => results.push(r));
    store.undefineQuery('count');
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    expect(results).toEqual([]);
    expect((await store.getStats()).queries.activeSubscriptions).toBe(0);
  });

  it('dropBucket ends subscriptions that read the bucket', async () => {
    store.defineQuery('count', async (ctx) => ctx.bucket('users').count());
    store.defineQuery('one', async (ctx) => ctx.bucket('users').get('a'));
    store.defineQuery('orders', async (ctx) => ctx.bucket('orders').count());
    await store.subscribe('count', () => {});
    await store.subscribe('one', () => {});
    const orderResults: unknown[] = [];
    await store.subscribe('orders', (r) => orderResults.push(r));
    expect((await store.getStats()).queries.activeSubscriptions).toBe(3);
    expect(await store.dropBucket('users')).toBe(true);
    expect((await store.getStats()).queries.activeSubscriptions).toBe(1);
    expect(store.getQueryInfo('count')!.activeSubscriptions).toBe(0);
    await store.bucket('orders').insert({ amount: 1 });
    await store.settle();
    expect(orderResults).toEqual([1]);
  });

  it('a query that throws on re-run keeps the subscription and skips the callback', async () => {
    let fail = false;
    store.defineQuery('q', async (ctx) => {
      const n = await ctx.bucket('users').count();
      if (fail) throw new Error('boom');
      return n;
    });
    const results: unknown[] = [];
    await store.subscribe('q', (r) => results.push(r));
    fail = true;
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    expect(results).toEqual([]);
    fail = false;
    await store.bucket('users').insert({ id: 'b', name: 'B' });
    await store.settle();
    expect(results).toEqual([2]);
  });

  it('a throwing callback does not break writes or other subscriptions', async () => {
    store.defineQuery('count', async (ctx) => ctx.bucket('users').count());
    await store.subscribe('count', () => {
      throw new Error('callback boom');
    });
    const results: unknown[] = [];
    await store.subscribe('count', (r) => results.push(r));
    await expect(store.bucket('users').insert({ id: 'a', name: 'A' })).resolves.toBeDefined();
    await store.settle();
    expect(results).toEqual([1]);
  });

  it('an initial run that throws rejects subscribe', async () => {
    store.defineQuery('bad', async () => {
      throw new Error('nope');
    });
    await expect(store.subscribe('bad', () => {})).rejects.toThrow('nope');
    await expect(store.runQuery('bad')).rejects.toThrow('nope');
    expect((await store.getStats()).queries.activeSubscriptions).toBe(0);
  });

  it('settle waits for re-evaluation of slow queries', async () => {
    store.defineQuery('slow', async (ctx) => {
      const n = await ctx.bucket('users').count();
      await new Promise((r) => setTimeout(r, 20));
      return n;
    });
    const results: unknown[] = [];
    await store.subscribe('slow', (r) => results.push(r));
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    expect(results).toEqual([1]);
  });

  it('rejects a subscribe without a callback', async () => {
    store.defineQuery('q', async () => 1);
    await expect(store.subscribe('q', { x: 1 } as never)).rejects.toThrow();
  });
});

describe('declarative queries (C-10, Appendix A)', () => {
  it('requires an existing bucket', () => {
    expect(() => store.defineDeclarativeQuery('x', { bucket: 'nope' })).toThrow(BucketNotDefinedError);
  });

  it('filter with {{ params.x }} interpolation (spaces optional)', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('byRole', { bucket: 'users', filter: { role: '{{ params.role }}' } });
    store.defineDeclarativeQuery('byRoleTight', { bucket: 'users', filter: { role: '{{params.role}}' } });
    store.defineDeclarativeQuery('older', {
      bucket: 'users',
      filter: { age: { $gt: '{{ params.min }}' } },
    });
    store.defineDeclarativeQuery('either', {
      bucket: 'users',
      filter: { $or: [{ id: '{{ params.a }}' }, { id: '{{ params.b }}' }] },
    });
    store.defineDeclarativeQuery('literal', { bucket: 'users', filter: { name: 'x {{ params.role }}' } });
    const ids = (rs: unknown) => (rs as Array<{ id: string }>).map((r) => r.id).sort();
    expect(ids(await store.runQuery('byRole', { role: 'admin' }))).toEqual(['a']);
    expect(ids(await store.runQuery('byRoleTight', { role: 'user' }))).toEqual(['b', 'c', 'd']);
    expect(ids(await store.runQuery('older', { min: 28 }))).toEqual(['a', 'c']);
    expect(ids(await store.runQuery('either', { a: 'b', b: 'd' }))).toEqual(['b', 'd']);
    expect(ids(await store.runQuery('literal', { role: 'admin' }))).toEqual([]);
  });

  it('subscription to a parameterised declarative query', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('byTenant', {
      bucket: 'users',
      filter: { tenant: '{{ params.t }}' },
      fields: ['id'],
      sort: { id: 'asc' },
    });
    const results: unknown[] = [];
    await store.subscribe('byTenant', { t: 't1' }, (r) => results.push(r));
    await store.bucket('users').insert({ id: 'e', name: 'E', tenant: 't2' });
    await store.settle();
    expect(results).toEqual([]);
    await store.bucket('users').insert({ id: 'f', name: 'F', tenant: 't1' });
    await store.settle();
    expect(results).toEqual([[{ id: 'a' }, { id: 'b' }, { id: 'f' }]]);
  });

  it('sort puts null/undefined last in both directions; multi-field sort', async () => {
    await seedUsers();
    await store.bucket('users').insert({ id: 'e', name: 'Eve', age: 30 });
    store.defineDeclarativeQuery('asc', { bucket: 'users', sort: { age: 'asc' }, fields: ['id'] });
    store.defineDeclarativeQuery('desc', { bucket: 'users', sort: { age: 'desc' }, fields: ['id'] });
    store.defineDeclarativeQuery('two', {
      bucket: 'users',
      sort: { age: 'desc', name: 'desc' },
      fields: ['id'],
    });
    const ids = (rs: unknown) => (rs as Array<{ id: string }>).map((r) => r.id);
    expect(ids(await store.runQuery('asc'))).toEqual(['b', 'a', 'e', 'c', 'd']);
    expect(ids(await store.runQuery('desc'))).toEqual(['c', 'a', 'e', 'b', 'd']);
    expect(ids(await store.runQuery('two'))).toEqual(['c', 'e', 'a', 'b', 'd']);
  });

  it('offset and limit apply after sorting; fields projects', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('page', {
      bucket: 'users',
      sort: { name: 'asc' },
      offset: 1,
      limit: 2,
      fields: ['name', 'missingField'],
    });
    expect(await store.runQuery('page')).toEqual([{ name: 'Bob' }, { name: 'Cid' }]);
  });

  it('aggregate without groupBy', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('n', { bucket: 'users', aggregate: { function: 'count' } });
    store.defineDeclarativeQuery('s', {
      bucket: 'users',
      filter: { tenant: 't1' },
      aggregate: { function: 'sum', field: 'age' },
    });
    store.defineDeclarativeQuery('a', { bucket: 'users', aggregate: { function: 'avg', field: 'age' } });
    store.defineDeclarativeQuery('mn', { bucket: 'users', aggregate: { function: 'min', field: 'age' } });
    store.defineDeclarativeQuery('mx', { bucket: 'users', aggregate: { function: 'max', field: 'age' } });
    expect(await store.runQuery('n')).toBe(4);
    expect(await store.runQuery('s')).toBe(55);
    expect(await store.runQuery('a')).toBeCloseTo(95 / 3);
    expect(await store.runQuery('mn')).toBe(25);
    expect(await store.runQuery('mx')).toBe(40);
  });

  it('aggregate with groupBy returns {key, value}[]', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('byTenant', {
      bucket: 'users',
      aggregate: { function: 'sum', field: 'age', groupBy: 'tenant' },
    });
    store.defineDeclarativeQuery('byTwo', {
      bucket: 'users',
      aggregate: { function: 'count', groupBy: ['tenant', 'role'] },
    });
    store.defineDeclarativeQuery('minEmpty', {
      bucket: 'users',
      filter: { tenant: 't2', age: { $exists: false } },
      aggregate: { function: 'min', field: 'age', groupBy: 'tenant' },
    });
    expect(await store.runQuery('byTenant')).toEqual([
      { key: { tenant: 't1' }, value: 55 },
      { key: { tenant: 't2' }, value: 40 },
    ]);
    expect(await store.runQuery('byTwo')).toEqual([
      { key: { tenant: 't1', role: 'admin' }, value: 1 },
      { key: { tenant: 't1', role: 'user' }, value: 1 },
      { key: { tenant: 't2', role: 'user' }, value: 2 },
    ]);
    // noex: a group's missing min/max is reported as 0
    expect(await store.runQuery('minEmpty')).toEqual([{ key: { tenant: 't2' }, value: 0 }]);
  });

  it('declarative subscriptions re-run on bucket changes and report only differences', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('count', { bucket: 'users', aggregate: { function: 'count' } });
    const results: unknown[] = [];
    await store.subscribe('count', (r) => results.push(r));
    await store.bucket('users').update('a', { name: 'A2' });
    await store.bucket('users').insert({ id: 'x', name: 'X' });
    await store.settle();
    expect(results).toEqual([5]);
  });
});

describe('read filters (C-16)', () => {
  const tenantFilter = (tenant: string) => (bucket: string) =>
    bucket === 'users' || bucket === 'orders' ? { tenant } : null;

  it('apply to every read kind in runQuery', async () => {
    await seedUsers();
    await store.bucket('orders').insertMany([
      { userId: 'a', amount: 10, tenant: 't1' },
      { userId: 'c', amount: 20, tenant: 't2' },
    ]);
    store.defineQuery('everything', async (ctx) => {
      const u = ctx.bucket('users');
      return {
        getA: (await u.get('a'))?.id ?? null,
        getC: (await u.get('c'))?.id ?? null,
        all: (await u.all()).map((r) => r.id),
        where: (await u.where({ age: { $gte: 0 } })).map((r) => r.id),
        findOne: (await u.findOne({ id: 'c' }))?.id ?? null,
        count: await u.count(),
        countF: await u.count({ role: 'user' }),
        first: (await u.first(10)).map((r) => r.id),
        last: (await u.last(1)).map((r) => r.id),
        page: (await u.paginate({ limit: 10 })).records.map((r) => r.id),
        sum: await u.sum('age'),
        avg: await u.avg('age'),
        min: await u.min('age'),
        max: await u.max('age'),
        groups: await u.groupBy('tenant', { function: 'count' }),
        orders: await ctx.bucket('orders').sum('amount'),
      };
    });
    expect(await store.runQuery('everything', undefined, tenantFilter('t1'))).toEqual({
      getA: 'a',
      getC: null,
      all: ['a', 'b'],
      where: ['a', 'b'],
      findOne: null,
      count: 2,
      countF: 1,
      first: ['a', 'b'],
      last: ['b'],
      page: ['a', 'b'],
      sum: 55,
      avg: 27.5,
      min: 25,
      max: 30,
      groups: [{ key: { tenant: 't1' }, value: 2 }],
      orders: 10,
    });
    // without a read filter everything is visible
    const unfiltered = (await store.runQuery('everything')) as { count: number; orders: number };
    expect(unfiltered.count).toBe(4);
    expect(unfiltered.orders).toBe(30);
  });

  it('applies to subscriptions (including declarative ones)', async () => {
    await seedUsers();
    store.defineDeclarativeQuery('names', { bucket: 'users', fields: ['id'], sort: { id: 'asc' } });
    const t2: unknown[] = [];
    await store.subscribe('names', undefined, (r) => t2.push(r), tenantFilter('t2'));
    await store.bucket('users').insert({ id: 'e', name: 'E', tenant: 't1' });
    await store.settle();
    // the result seen through the filter did not change
    expect(t2).toEqual([]);
    await store.bucket('users').insert({ id: 'f', name: 'F', tenant: 't2' });
    await store.settle();
    expect(t2).toEqual([[{ id: 'c' }, { id: 'd' }, { id: 'f' }]]);
  });

  it('a read filter returning null leaves a bucket unfiltered', async () => {
    await seedUsers();
    store.defineQuery('n', async (ctx) => ctx.bucket('users').count());
    expect(await store.runQuery('n', undefined, () => null)).toBe(4);
  });
});
