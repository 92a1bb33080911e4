// PostgreSQL scale-out, on a throwaway cluster started for the run: strict
// inserts and updates with 1, 2 and 3 instances on one database (64 writes
// in flight per instance) beside raw `pg` inserting the same rows in batched
// transactions; propagation latency of a write from one instance to
// another's bucket events; restart of 100k and 1M records beside raw `pg`
// SELECT + JSON.parse of the same rows (QUIRE_BENCH_PG_RESTART=100000 or any
// comma-separated sizes for a shorter run).
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Store } from '../src/index.js';
import { PostgresAdapter } from '../src/postgres/index.js';
import { startCluster } from '../test/postgres/cluster.js';
import { type BenchSection, formatNumber, table } from './harness.js';

const def = {
  key: 'id',
  schema: { id: { type: 'number' }, name: { type: 'string' }, n: { type: 'number' } },
} as const;

export async function run(): Promise<BenchSection> {
  const cluster = await startCluster();
  const url = cluster.url;
  let schemas = 0;
  const open = (schema: string) =>
    Store.start({
      name: 'bench',
      ttlCheckIntervalMs: 0,
      persistence: {
        adapter: new PostgresAdapter({ connectionString: url }, { schema }),
        durability: 'strict',
      },
    });
  const rows: Array<Array<string | number>> = [];
  try {
    // Raw pg: the same rows, 64 per transaction (what group commit gives Quire at 64 in flight).
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    await raw.query('CREATE TABLE raw_rows (key text PRIMARY KEY, version bigint, data text)');
    const N = 6400;
    let t0 = performance.now();
    for (let i = 0; i < N; i += 64) {
      const keys: string[] = [];
      const data: string[] = [];
      for (let j = i; j < i + 64; j++) {
        keys.push(String(j));
        data.push(JSON.stringify({ id: j, name: `n${j}`, n: 0 }));
      }
      await raw.query('BEGIN');
      await raw.query('INSERT INTO raw_rows SELECT k, 1, d FROM unnest($1::text[], $2::text[]) AS w(k, d)', [
        keys,
        data,
      ]);
      await raw.query('COMMIT');
    }
    const rawRate = (N / (performance.now() - t0)) * 1000;
    rows.push(['raw pg: inserts, 64 per transaction', rawRate, '1.00']);

    for (const instances of [1, 2, 3]) {
      const schema = `bench_${++schemas}`;
      const stores = [];
      for (let i = 0; i < instances; i++) stores.push(await open(schema));
      const buckets = [];
      for (const s of stores) buckets.push(await s.defineBucket('rows', def));
      const per = Math.floor(N / instances);
      t0 = performance.now();
      await Promise.all(
        buckets.map(async (b, bi) => {
          let next = bi * per;
          const end = next + per;
          await Promise.all(
            Array.from({ length: 64 }, async () => {
              while (next < end) {
                const id = next++;
                await b.insert({ id, name: `n${id}`, n: 0 });
              }
            }),
          );
        }),
      );
      const ins = ((per * instances) / (performance.now() - t0)) * 1000;
      rows.push([`Quire strict inserts, ${instances} instance(s)`, ins, (ins / rawRate).toFixed(2)]);
      // Updates of disjoint records (each instance its own range).
      t0 = performance.now();
      await Promise.all(
        buckets.map(async (b, bi) => {
          let next = bi * per;
          const end = next + per;
          await Promise.all(
            Array.from({ length: 64 }, async () => {
              while (next < end) await b.update(next++, { n: 1 });
            }),
          );
        }),
      );
      const upd = ((per * instances) / (performance.now() - t0)) * 1000;
      rows.push([`Quire strict updates, ${instances} instance(s)`, upd, (upd / rawRate).toFixed(2)]);
      for (const s of stores) await s.stop();
    }

    // Propagation: a strict insert on A until B's bucket event, one at a time.
    const schema = `bench_${++schemas}`;
    const a = await open(schema);
    const b = await open(schema);
    const ba = await a.defineBucket('rows', def);
    await b.defineBucket('rows', def);
    const arrived = new Map<number, number>();
    let waiting: { id: number; resolve: () => void } | undefined;
    await b.on<{ key: unknown }>('bucket.rows.inserted', (e) => {
      arrived.set(e.key as number, performance.now());
      if (waiting !== undefined && waiting.id === e.key) waiting.resolve();
    });
    const samples: number[] = [];
    for (let i = 0; i < 300; i++) {
      const seen = new Promise<void>((resolve) => {
        waiting = { id: i, resolve };
      });
      const start = performance.now();
      await ba.insert({ id: i, name: 'x', n: 0 });
      await seen;
      samples.push(arrived.get(i)! - start);
    }
    samples.sort((x, y) => x - y);
    const p50 = samples[Math.floor(samples.length * 0.5)]!;
    const p99 = samples[Math.floor(samples.length * 0.99)]!;
    await a.stop();
    await b.stop();

    // Restart: load N records from PostgreSQL into a new instance.
    const restart: Array<Array<string | number>> = [];
    const sizes = (process.env.QUIRE_BENCH_PG_RESTART ?? '100000,1000000').split(',').map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 10_000 || n % 10_000 !== 0))
      throw new Error('QUIRE_BENCH_PG_RESTART: comma-separated record counts, multiples of 10000');
    for (const count of sizes) {
      const rs = `bench_${++schemas}`;
      const s = await open(rs);
      const bucket = await s.defineBucket('rows', def);
      for (let i = 0; i < count; i += 10_000)
        await bucket.insertMany(
          Array.from({ length: 10_000 }, (_, j) => ({ id: i + j, name: `n${i + j}`, n: 0 })),
        );
      await s.stop();
      t0 = performance.now();
      const r = await raw.query({
        text: `SELECT data FROM "${rs}".quire_records WHERE bucket_id = (SELECT id FROM "${rs}".quire_buckets WHERE name = 'rows') ORDER BY ord`,
        rowMode: 'array',
      });
      let parsed = 0;
      for (const row of r.rows) if (JSON.parse(row[0] as string) !== null) parsed++;
      const rawMs = performance.now() - t0;
      t0 = performance.now();
      const again = await open(rs);
      const loaded = await again.defineBucket('rows', def);
      const quireMs = performance.now() - t0;
      if ((await loaded.count()) !== count || parsed !== count) throw new Error('restart lost records');
      await again.stop();
      restart.push([`restart ${formatNumber(count)} records`, quireMs, rawMs, (quireMs / rawMs).toFixed(2)]);
    }
    await raw.end();
    return {
      title: 'PostgreSQL scale-out (loopback, fsync on)',
      markdown: [
        table(['workload', 'ops/s', 'ratio to raw pg'], rows),
        '',
        table(
          ['propagation A → B (strict insert to B event)', 'p50 ms', 'p99 ms'],
          [['300 inserts, one at a time', p50, p99]],
        ),
        '',
        table(['restart', 'Quire ms', 'raw pg SELECT + parse ms', 'ratio'], restart),
      ].join('\n'),
    };
  } finally {
    cluster.stop();
  }
}
