// Coherent instances on one PostgreSQL database (in one process here; the
// multi-process tests are in processes.test.ts): every change one instance
// commits reaches the others' memory, indexes, reactive queries and bucket
// events exactly once, in commit order — also after a lost notification or
// a dropped connection.
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type BucketEvent, Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, waitFor } from '../persistence/helpers.js';

const def = {
  key: 'id',
  schema: {
    id: { type: 'number' },
    email: { type: 'string', unique: true },
    role: { type: 'string', default: 'user' },
    n: { type: 'number', default: 0 },
  },
  indexes: ['role'],
} as const;

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => {});
});

async function instance(
  schema: string,
  options: { pollMs?: number; strict?: boolean; errors?: Error[]; ttlCheckIntervalMs?: number } = {},
) {
  const adapter = new PostgresAdapter(
    { connectionString: inject('pgUrl') },
    { schema, pollMs: options.pollMs ?? 1000 },
  );
  const store = await Store.start({
    name: 'app',
    ttlCheckIntervalMs: options.ttlCheckIntervalMs ?? 1000,
    persistence: {
      adapter,
      durability: options.strict === false ? 'debounced' : 'strict',
      onError: (e) => options.errors?.push(e),
    },
  });
  open.push(store);
  const users = await store.defineBucket('users', def);
  return { store, users, adapter };
}

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

describe('coherent instances', () => {
  it("B's memory, indexes, reactive query and events follow A's inserts, updates and deletes", async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    const b = await instance(schema);
    const events: string[] = [];
    await b.store.on<BucketEvent>('bucket.users.*', (e) => {
      events.push(`${e.type}:${String(e.key)}`);
    });
    b.store.defineQuery('admins', async (ctx) =>
      (await ctx.bucket('users').where({ role: 'admin' })).map((r) => r.id),
    );
    const seen: number[][] = [];
    await b.store.subscribe<number[]>('admins', (ids) => {
      seen.push(ids);
    });

    await a.users.insert({ id: 1, email: 'a@x.io' });
    await a.users.insert({ id: 2, email: 'b@x.io', role: 'admin' });
    await waitFor(async () => (await b.users.count()) === 2, 'B sees the inserts');
    await a.users.update(1, { role: 'admin', n: 5 });
    await waitFor(() => seen.at(-1)?.length === 2, 'the reactive query on B re-runs');
    expect(seen.at(-1)).toEqual([1, 2]);
    expect(await b.users.get(1)).toEqual(await a.users.get(1));
    // B's index serves the remote value
    expect((await b.users.where({ role: 'admin' })).map((r) => r.id)).toEqual([1, 2]);
    await a.users.delete(2);
    await waitFor(async () => (await b.users.get(2)) === undefined, 'B sees the delete');
    await waitFor(() => events.length === 4, 'four events on B');
    expect(events).toEqual(['inserted:1', 'inserted:2', 'updated:1', 'deleted:2']);
    // B's unique index knows A's values: B refuses a duplicate locally
    await expect(b.users.insert({ id: 3, email: 'a@x.io' })).rejects.toThrow(/unique/i);
    // and B's own writes reach A
    await b.users.update(1, { n: 6 });
    await waitFor(async () => (await a.users.get(1))?.n === 6, 'A sees B');
    expect((await a.users.get(1))?._version).toBe(3);
  });

  it('a remote transaction arrives as one batch; nothing is applied twice or missed under concurrent writers', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    const c = await instance(schema, { strict: false });
    const b = await instance(schema);
    let runs = 0;
    b.store.defineQuery('total', async (ctx) => (await ctx.bucket('users').all()).length);
    const totals: number[] = [];
    await b.store.subscribe<number>('total', (n) => {
      runs++;
      totals.push(n);
    });
    const perKey = new Map<string, number>();
    await b.store.on<BucketEvent>('bucket.users.*', (e) => {
      const k = `${e.type}:${String(e.key)}`;
      perKey.set(k, (perKey.get(k) ?? 0) + 1);
    });
    await a.store.transaction(async (tx) => {
      const u = await tx.bucket('users');
      for (let i = 0; i < 10; i++) await u.insert({ id: 100 + i, email: `t${i}@x.io` });
    });
    await waitFor(() => totals.at(-1) === 10, 'B sees the transaction');
    // One re-run for the whole transaction: B never saw part of it.
    expect(totals).toEqual([10]);
    expect(runs).toBe(1);
    // Two writers at once, strict and debounced, interleaving commits.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      writes.push(a.users.insert({ id: i, email: `a${i}@x.io` }));
      writes.push(c.users.insert({ id: 1000 + i, email: `c${i}@x.io` }));
    }
    await Promise.all(writes);
    await c.store.flush();
    await waitFor(async () => (await b.users.count()) === 130, 'B has all 130');
    for (const [k, n] of perKey) expect(n, k).toBe(1);
    expect(perKey.size).toBe(130);
    const stored = await sql(`SELECT count(*)::int AS n FROM "${schema}".quire_records`);
    expect(stored.rows[0].n).toBe(130);
    expect(await a.users.count()).toBe(130);
    expect(await c.users.count()).toBe(130);
  });

  it('catches up after its LISTEN connection is killed, and without notifications (poll)', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    const b = await instance(schema, { pollMs: 200 });
    await a.users.insert({ id: 1, email: 'x@x.io' });
    await waitFor(async () => (await b.users.count()) === 1, 'B sees the first insert');
    // Kill B's listening connection; A keeps writing meanwhile.
    const killed = await sql(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
      [`quire-listen-${b.adapter.instanceId.slice(0, 8)}`],
    );
    expect(killed.rows).toEqual([{ ok: true }]);
    for (let i = 2; i <= 20; i++) await a.users.insert({ id: i, email: `${i}@x.io` });
    await waitFor(async () => (await b.users.count()) === 20, 'B catches up after reconnecting');
    // A commit whose notification never comes (written here without NOTIFY): the poll finds it.
    await sql(
      `WITH s AS (UPDATE "${schema}".quire_stores SET last_seq = last_seq + 1 WHERE name = 'app' RETURNING last_seq),
            r AS (UPDATE "${schema}".quire_records SET data = $1, version = 2 WHERE key = '1')
       INSERT INTO "${schema}".quire_log (store, seq, bucket, key, op, version, data, origin, at, txn)
       SELECT 'app', last_seq, 'users', '1', 'update', 2, $1, 'elsewhere', 0, last_seq FROM s`,
      [
        JSON.stringify({
          ...(await a.users.get(1)),
          n: 42,
          _version: 2,
        }),
      ],
    );
    await waitFor(async () => (await b.users.get(1))?.n === 42, 'B finds the silent commit by polling');
    // The LISTEN connection is back.
    const listening = await sql(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [`quire-listen-${b.adapter.instanceId.slice(0, 8)}`],
    );
    expect(listening.rows[0].n).toBe(1);
  });

  it('an instance that starts while another writes begins from a consistent snapshot plus the log tail', async () => {
    const schema = pgSchema();
    const a = await instance(schema);
    let stop = false;
    let written = 0;
    const writer = (async () => {
      while (!stop) {
        await a.users.insert({ id: written, email: `w${written}@x.io` });
        written++;
      }
    })();
    await waitFor(() => written > 20, 'some writes');
    const b = await instance(schema);
    await waitFor(() => written > 60, 'more writes');
    stop = true;
    await writer;
    await waitFor(async () => (await b.users.count()) === written, 'B has every record');
    expect((await b.users.all()).map((r) => r.id).sort((x, y) => x - y)).toEqual(
      Array.from({ length: written }, (_, i) => i),
    );
  });

  it('one instance at a time purges expired records (leader lock); another takes over when it stops', async () => {
    const schema = pgSchema();
    const errors: Error[] = [];
    const opts = { pollMs: 100, ttlCheckIntervalMs: 50, errors };
    const a = await instance(schema, opts);
    const b = await instance(schema, opts);
    const sessions = [a, b].map((x) => x.store);
    const ttlDef = { key: 'id', schema: { id: { type: 'number' } }, ttl: '500ms' } as const;
    const ta = await a.store.defineBucket('sessions', ttlDef);
    const tb = await b.store.defineBucket('sessions', ttlDef);
    await waitFor(() => a.adapter.isLeader('app') !== b.adapter.isLeader('app'), 'exactly one leader');
    const leader = a.adapter.isLeader('app') ? a : b;
    const other = leader === a ? b : a;
    const deletedOn = new Map<Store, number>();
    for (const s of sessions)
      await s.on('bucket.sessions.deleted', () => {
        deletedOn.set(s, (deletedOn.get(s) ?? 0) + 1);
      });
    let insertedOnB = 0;
    await b.store.on('bucket.sessions.inserted', () => {
      insertedOnB++;
    });
    for (let i = 0; i < 10; i++) await ta.insert({ id: i });
    await waitFor(() => insertedOnB === 10, 'B hears of all inserts');
    await waitFor(async () => (await ta.count()) === 0 && (await tb.count()) === 0, 'purged everywhere');
    expect(deletedOn.get(a.store)).toBe(10);
    expect(deletedOn.get(b.store)).toBe(10);
    // Only the leader wrote the deletes: no conflicting double purge was ever refused.
    expect(errors).toEqual([]);
    const log = await sql(`SELECT DISTINCT origin FROM "${schema}".quire_log WHERE op = 'delete'`);
    expect(log.rows).toEqual([{ origin: leader.adapter.instanceId }]);
    await leader.store.stop();
    await waitFor(() => other.adapter.isLeader('app'), 'the other instance takes over');
  });
});
