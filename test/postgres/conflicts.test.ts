// No lost update and global constraints between instances sharing one
// PostgreSQL database (in one process; processes.test.ts does it with
// real child processes): a write based on a stale copy fails with
// TransactionConflictError and refreshes the copy; a unique value two
// instances race for goes to exactly one; a transaction is all or nothing.
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Store, TransactionConflictError, UniqueConstraintError } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, waitFor } from '../persistence/helpers.js';

const counterDef = {
  key: 'id',
  schema: { id: { type: 'string' }, n: { type: 'number', default: 0 } },
} as const;
const userDef = {
  key: 'id',
  schema: { id: { type: 'number' }, email: { type: 'string', unique: true } },
} as const;

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => {});
});

/** Another writer's commit that notifies nobody: only a commit attempt or the poll can find it. */
async function silentUpdate(schema: string, key: string, record: Record<string, unknown>): Promise<void> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    const data = JSON.stringify(record);
    await c.query(
      `WITH s AS (UPDATE "${schema}".quire_stores SET last_seq = last_seq + 1 WHERE name = 'app' RETURNING last_seq),
            r AS (UPDATE "${schema}".quire_records SET data = $1, version = $2 WHERE key = $3)
       INSERT INTO "${schema}".quire_log (store, seq, bucket, key, op, version, data, origin, at, txn)
       SELECT 'app', last_seq, 'counters', $3, 'update', $2, $1, 'elsewhere', 0, last_seq FROM s`,
      [data, record._version, JSON.stringify(key)],
    );
  } finally {
    await c.end();
  }
}

async function instance(schema: string, durability: 'strict' | 'debounced' = 'strict', errors: Error[] = []) {
  const store = await Store.start({
    name: 'app',
    persistence: {
      adapter: new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema }),
      durability,
      debounceMs: 20,
      onError: (e) => errors.push(e),
    },
  });
  open.push(store);
  return {
    store,
    counters: await store.defineBucket('counters', counterDef),
    users: await store.defineBucket('users', userDef),
  };
}

describe('conflicts between instances', () => {
  it('a stale update fails with TransactionConflictError, writes nothing and refreshes the copy', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    const b = await instance(schema);
    await a.counters.insert({ id: 'c', n: 1 });
    await waitFor(async () => (await b.counters.get('c')) !== undefined, 'B has the record');
    // Both change version 1 at once: the database takes one.
    const results = await Promise.allSettled([
      a.counters.update('c', { n: 10 }),
      b.counters.update('c', { n: 20 }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(TransactionConflictError);
    expect(failed[0]!.reason.message).toMatch(/another instance changed/);
    const winner = (ok[0] as PromiseFulfilledResult<{ n: number }>).value.n;
    // The loser's copy is the winner's, at once; both agree.
    for (const s of [a, b]) expect((await s.counters.get('c'))?.n).toBe(winner);
    expect((await a.counters.get('c'))?._version).toBe(2);
  });

  it('3 instances incrementing one counter in transactions with retry: no increment is lost', async () => {
    const schema = pgSchema();
    const nodes = [await instance(schema), await instance(schema), await instance(schema)];
    await nodes[0]!.counters.insert({ id: 'hits', n: 0 });
    await waitFor(
      async () => (await Promise.all(nodes.map((x) => x.counters.get('hits')))).every((r) => r !== undefined),
      'all have it',
    );
    let conflicts = 0;
    const increment = async (node: (typeof nodes)[number]) => {
      for (;;) {
        try {
          await node.store.transaction(async (tx) => {
            const c = await tx.bucket('counters');
            const cur = (await c.get('hits')) as unknown as { n: number };
            await c.update('hits', { n: cur.n + 1 });
          });
          return;
        } catch (e) {
          if (!(e instanceof TransactionConflictError)) throw e;
          conflicts++;
        }
      }
    };
    const per = 15;
    await Promise.all(
      nodes.map(async (node) => {
        for (let i = 0; i < per; i++) await increment(node);
      }),
    );
    for (const node of nodes)
      await waitFor(async () => (await node.counters.get('hits'))?.n === per * 3, 'every instance sees 45');
    expect(conflicts).toBeGreaterThan(0);
  });

  it('two instances racing for one unique email: exactly one wins, the other gets UniqueConstraintError', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    const b = await instance(schema);
    const results = await Promise.allSettled([
      a.users.insert({ id: 1, email: 'same@x.io' }),
      b.users.insert({ id: 2, email: 'same@x.io' }),
    ]);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(UniqueConstraintError);
    const winnerId = results[0]!.status === 'fulfilled' ? 1 : 2;
    for (const s of [a, b])
      await waitFor(
        async () => (await s.users.all()).map((r) => r.id).join() === String(winnerId),
        'one user',
      );
  });

  it('a transaction with one stale record is rolled back whole; other writes of the same flush commit', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    await a.counters.insertMany([
      { id: 'x', n: 0 },
      { id: 'y', n: 0 },
    ]);
    const x = (await a.counters.get('x'))!;
    await silentUpdate(schema, 'x', { ...x, n: 5, _version: 2 }); // A's copy of x is stale now
    const tx = a.store.transaction(async (t) => {
      const c = await t.bucket('counters');
      await c.update('y', { n: 1 });
      await c.update('x', { n: 1 });
    });
    const independent = a.counters.insert({ id: 'z', n: 9 });
    const [txResult, zResult] = await Promise.allSettled([tx, independent]);
    expect(txResult!.status).toBe('rejected');
    expect((txResult as PromiseRejectedResult).reason).toBeInstanceOf(TransactionConflictError);
    expect(zResult!.status).toBe('fulfilled');
    // A's copies are the stored ones: x refreshed, y rolled back, z kept.
    expect((await a.counters.all()).map((r) => `${r.id}:${r.n}:${r._version}`)).toEqual([
      'x:5:2',
      'y:0:1',
      'z:9:1',
    ]);
    // A fresh instance reads the same from the database.
    const b = await instance(schema);
    expect((await b.counters.all()).map((r) => `${r.id}:${r.n}:${r._version}`)).toEqual([
      'x:5:2',
      'y:0:1',
      'z:9:1',
    ]);
  });

  it('debounced: a conflicting write is reported through onError and rolled back locally', async () => {
    const schema = pgSchema();
    const errors: Error[] = [];
    const a = await instance(schema, 'debounced', errors);
    await a.counters.insert({ id: 'k', n: 0 });
    await a.store.flush();
    const k = (await a.counters.get('k'))!;
    await silentUpdate(schema, 'k', { ...k, n: 2, _version: 2 });
    const updated = await a.counters.update('k', { n: 1 }); // resolves at once (debounced)
    expect(updated.n).toBe(1);
    await a.store.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/Transaction conflict in bucket "counters" for key "k"/);
    expect((await a.counters.get('k'))?.n).toBe(2);
  });
});
