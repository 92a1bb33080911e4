// The SQLite WAL under back-to-back durable commits (default settings):
// the largest -wal file seen during N sequential inserts (N from
// QUIRE_BENCH_WAL_INSERTS, default 100,000) and during S seconds of
// sustained updates on 2,000 records (S from QUIRE_BENCH_WAL_SECONDS,
// default 10), sampled after every acknowledged write; what stop() leaves.
// Both for `strict` (fsync per commit) and `process` (no fsync).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SQLiteAdapter, Store } from '../src/index.js';
import { type BenchSection, formatNumber, table } from './harness.js';

const def = {
  key: 'id',
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    v: { type: 'string' },
    n: { type: 'number' },
  },
} as const;

const MiB = 1024 * 1024;

function walSize(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

interface Row {
  workload: string;
  durability: string;
  writes: number;
  ms: number;
  maxWal: number;
  left: string;
}

async function inserts(durability: 'strict' | 'process', n: number): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-bench-wal-'));
  const file = path.join(dir, 'w.db');
  const s = await Store.start({ name: 'w', persistence: { adapter: new SQLiteAdapter(file), durability } });
  const b = await s.defineBucket('b', def);
  let max = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await b.insert({ v: 'x'.repeat(100), n: i });
    max = Math.max(max, walSize(file));
  }
  const ms = performance.now() - t0;
  await s.stop();
  const left = leftAfterStop(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    workload: `${formatNumber(n)} sequential inserts`,
    durability,
    writes: n,
    ms,
    maxWal: max,
    left: left.join(', ') || 'none',
  };
}

/**
 * Files next to the store after stop(), other than the store and its lock file: `w.db.lock.os` stays
 * by design (an empty file the writer holds its OS lock on, like LevelDB's LOCK; deleting it would
 * let two processes lock two different files).
 */
function leftAfterStop(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f !== 'w.db' && f !== 'w.db.lock.os');
}

async function updates(durability: 'strict' | 'process', seconds: number, writers: number): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-bench-wal-'));
  const file = path.join(dir, 'w.db');
  const s = await Store.start({ name: 'w', persistence: { adapter: new SQLiteAdapter(file), durability } });
  const b = await s.defineBucket('b', def);
  await b.insertMany(Array.from({ length: 2000 }, (_, i) => ({ v: 'x'.repeat(200), n: i })));
  let max = 0;
  let writes = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = w; performance.now() < until; i += writers) {
        await b.update((i % 2000) + 1, { n: i });
        writes++;
        max = Math.max(max, walSize(file));
      }
    }),
  );
  const ms = performance.now() - t0;
  await s.stop();
  const left = leftAfterStop(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    workload: `${seconds} s of updates on 2,000 records, ${writers} writer${writers > 1 ? 's' : ''}`,
    durability,
    writes,
    ms,
    maxWal: max,
    left: left.join(', ') || 'none',
  };
}

export async function run(): Promise<BenchSection> {
  const n = Number(process.env.QUIRE_BENCH_WAL_INSERTS ?? 100_000);
  const seconds = Number(process.env.QUIRE_BENCH_WAL_SECONDS ?? 10);
  const rows: Row[] = [];
  for (const d of ['strict', 'process'] as const) {
    rows.push(await inserts(d, n));
    rows.push(await updates(d, seconds, 1));
    rows.push(await updates(d, seconds, 64));
  }
  const markdown = table(
    ['workload', 'durability', 'writes', 'writes/s', 'largest WAL', 'files left after stop()'],
    rows.map((r) => [
      r.workload,
      r.durability,
      r.writes.toLocaleString('en-US'),
      formatNumber(Math.round((r.writes / r.ms) * 1000)),
      `${(r.maxWal / MiB).toFixed(1)} MiB`,
      r.left,
    ]),
  );
  return {
    title:
      'Bounded WAL under back-to-back durable commits (target: never above 64 MiB; no -wal/-shm left after stop)',
    markdown: `${markdown}\n\n"Files left after stop()" lists what stays next to the store besides the store itself and its lock file \`w.db.lock.os\` (an empty file the writer holds its OS-level lock on; it stays by design, as LevelDB's LOCK file does): no \`-wal\`, \`-shm\` or \`.lock\` file may remain.`,
  };
}
