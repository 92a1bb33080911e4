// Autoincrement keys on one PostgreSQL database shared by several instances:
// every instance takes its values from blocks reserved in the database, so
// two instances inserting at the same moment never hand out the same key.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema } from '../persistence/helpers.js';

const def = {
  key: 'id',
  schema: { id: { type: 'number', generated: 'autoincrement' }, from: { type: 'string' } },
} as const;

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => {});
});

async function instance(schema: string, errors: Error[]) {
  const store = await Store.start({
    name: 'app',
    persistence: {
      adapter: new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema }),
      durability: 'strict',
      onError: (e) => errors.push(e),
    },
  });
  open.push(store);
  return { store, orders: await store.defineBucket('orders', def) };
}

describe('autoincrement across instances', () => {
  it('three instances inserting at once never hand out the same key; a restarted instance continues above them', async () => {
    const schema = pgSchema();
    const errors: Error[] = [];
    const nodes = await Promise.all(['a', 'b', 'c'].map(() => instance(schema, errors)));
    const ids: number[] = [];
    await Promise.all(
      nodes.map(async (n, i) => {
        for (let round = 0; round < 20; round++) {
          // Single inserts, bulk inserts and inserts in transactions, interleaved with the others.
          ids.push(((await n.orders.insert({ from: `n${i}` })) as { id: number }).id);
          const many = await n.orders.insertMany([{ from: `n${i}` }, { from: `n${i}` }, { from: `n${i}` }]);
          for (const r of many) ids.push(r.id as number);
          const inTx = await n.store.transaction(async (tx) => {
            const o = await tx.bucket('orders');
            return [await o.insert({ from: `n${i}` }), await o.insert({ from: `n${i}` })];
          });
          for (const r of inTx) ids.push(r.id as number);
        }
      }),
    );
    expect(errors).toEqual([]);
    expect(ids).toHaveLength(3 * 20 * 6);
    expect(new Set(ids).size).toBe(ids.length);
    for (const n of nodes) await n.store.settle();
    // Stored: every insert, none refused as a duplicate.
    const later = await instance(schema, errors);
    expect(await later.orders.count()).toBe(ids.length);
    const next = (await later.orders.insert({ from: 'later' })) as { id: number };
    expect(next.id).toBeGreaterThan(Math.max(...ids));
    expect(errors).toEqual([]);
  });

  it('an explicit key moves the counter past it; reserved values below it are not handed out', async () => {
    const schema = pgSchema();
    const errors: Error[] = [];
    const a = await instance(schema, errors);
    const first = (await a.orders.insert({ from: 'a' })) as { id: number };
    await a.orders.insert({ id: first.id + 5, from: 'explicit' });
    const after = (await a.orders.insert({ from: 'a' })) as { id: number };
    expect(after.id).toBeGreaterThan(first.id + 5);
    expect(errors).toEqual([]);
  });
});
