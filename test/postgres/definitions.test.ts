// Bucket definitions on one PostgreSQL database shared by several
// instances: a bucket defined, changed or dropped on instance A reaches
// instance B (its memory, reactive queries and bucket events), and B's own
// code defining the same bucket afterwards is no error.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type BucketEvent, Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, waitFor } from '../persistence/helpers.js';

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => {});
});

async function instance(schema: string, errors: Error[]) {
  const store = await Store.start({
    name: 'app',
    persistence: {
      adapter: new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema, pollMs: 100 }),
      durability: 'strict',
      onError: (e) => errors.push(e),
    },
  });
  open.push(store);
  return store;
}

const orders = {
  key: 'id',
  schema: { id: { type: 'string' }, total: { type: 'number', default: 0 } },
  indexes: ['total'],
} as const;

describe('definitions across instances', () => {
  it('a bucket defined, changed and dropped on A reaches B', async () => {
    const schema = pgSchema();
    const errors: Error[] = [];
    const a = await instance(schema, errors);
    const b = await instance(schema, errors);
    // Both know the store's buckets before A defines a new one.
    await a.defineBucket('users', { key: 'id', schema: { id: { type: 'string' } } });
    await b.defineBucket('users', { key: 'id', schema: { id: { type: 'string' } } });
    const events: BucketEvent[] = [];
    await b.on('bucket.orders.*', (e) => {
      events.push(e);
    });
    b.defineQuery('big', async (ctx) => (await ctx.bucket('orders').where({ total: { $gte: 100 } })).length);

    const ordersA = await a.defineBucket('orders', orders);
    await ordersA.insert({ id: 'o1', total: 50 });
    await ordersA.insert({ id: 'o2', total: 150 });
    await waitFor(() => b.hasBucket('orders'), 'B has the bucket A defined');
    await waitFor(async () => (await b.bucket('orders').count()) === 2, "B holds A's records");
    expect(b.getBucketSchema('orders')).toMatchObject({ key: 'id', indexes: ['total'] });
    // From now on B follows the bucket like any other: records, queries, events.
    const big: number[] = [];
    await b.subscribe<number>('big', (n) => big.push(n));
    await ordersA.insert({ id: 'o3', total: 500 });
    await waitFor(() => events.some((e) => e.type === 'inserted' && e.key === 'o3'), "B's event for o3");
    await waitFor(() => big.at(-1) === 2, "B's reactive query sees o3");
    // B's code defining the same bucket (as every instance's startup does) is no error.
    const ordersB = await b.defineBucket('orders', orders);
    expect(await ordersB.count()).toBe(3);
    await ordersB.insert({ id: 'o4', total: 1 });
    await waitFor(async () => (await ordersA.get('o4')) !== undefined, 'A sees the write of B');

    // A adds a field: B's definition follows, records kept.
    await a.updateBucket('orders', { addFields: { note: { type: 'string' } } });
    await a.bucket('orders').insert({ id: 'o5', total: 2, note: 'hi' });
    await waitFor(
      () => ((b.getBucketSchema('orders')?.schema ?? {}) as Record<string, unknown>).note !== undefined,
      'B has the changed definition',
    );
    await waitFor(
      async () => (await b.bucket('orders').get('o5'))?.note === 'hi',
      "B holds the new field's value",
    );
    expect(await b.bucket('orders').count()).toBe(5);

    // A drops the bucket: it is gone on B too; B's other buckets stay.
    await a.dropBucket('orders');
    await waitFor(() => !b.hasBucket('orders'), 'the bucket is dropped on B');
    expect(b.hasBucket('users')).toBe(true);
    expect(errors).toEqual([]);
  });
});
