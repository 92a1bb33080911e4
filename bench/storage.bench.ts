// Durable storage, side by side in one run (SPEC §5):
// - strict-mode inserts with concurrent writers (group commit) vs raw
//   better-sqlite3 inserts batched in one transaction;
// - bytes written for one single-record update in a 100,000-record bucket:
//   Quire's incremental SQLite vs a whole-bucket snapshot adapter (noex style);
// - restart (load + index rebuild) vs raw better-sqlite3 SELECT + JSON.parse
//   of the same rows; size from QUIRE_BENCH_RESTART (default 1,000,000);
// - p50/p99 of an indexed point read and of a strict commit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { type PersistedState, SQLiteAdapter, type StorageAdapter, Store } from '../src/index.js';
import { type BenchSection, formatNumber, latencies, table } from './harness.js';

const def = {
  key: 'id',
  schema: {
    id: { type: 'number' },
    email: { type: 'string' },
    name: { type: 'string' },
    city: { type: 'string' },
    score: { type: 'number' },
  },
  indexes: ['email', 'city'],
} as const;

const row = (i: number) => ({
  id: i,
  email: `user${i}@example.com`,
  name: `User number ${i}`,
  city: ['Prague', 'Brno', 'Ostrava', 'Plzen'][i % 4]!,
  score: (i * 7919) % 10_000,
});

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'quire-bench-'));
}

/** A noex-style snapshot adapter writing one JSON file per key (whole bucket per save). */
class JsonFileSnapshotAdapter implements StorageAdapter {
  bytesWritten = 0;
  constructor(readonly dir: string) {}
  #file(key: string) {
    return path.join(this.dir, `${encodeURIComponent(key)}.json`);
  }
  async save(key: string, data: PersistedState) {
    const text = JSON.stringify(data);
    const fd = fs.openSync(`${this.#file(key)}.tmp`, 'w');
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(`${this.#file(key)}.tmp`, this.#file(key));
    this.bytesWritten += Buffer.byteLength(text);
  }
  async load<T>(key: string) {
    try {
      return JSON.parse(fs.readFileSync(this.#file(key), 'utf8')) as PersistedState<T>;
    } catch {
      return undefined;
    }
  }
  async delete(key: string) {
    try {
      fs.unlinkSync(this.#file(key));
      return true;
    } catch {
      return false;
    }
  }
  async exists(key: string) {
    return fs.existsSync(this.#file(key));
  }
  async listKeys() {
    return [];
  }
}

async function strictInserts(n: number, writers: number): Promise<{ quire: number; raw: number }> {
  const dir = tmp();
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(path.join(dir, 'q.db')), durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', def);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < n) await b.insert(row(next++));
    }),
  );
  const quire = (n / (performance.now() - t0)) * 1000;
  await s.stop();

  const db = new Database(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, key TEXT UNIQUE, data TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (key, data) VALUES (?, ?)');
  const rows = Array.from({ length: n }, (_, i) => row(i + n));
  const t1 = performance.now();
  db.transaction(() => {
    // Object.assign, not a spread with extra properties: V8 makes that ~4 µs per row,
    // which would slow the baseline down and flatter the ratio.
    for (const r of rows)
      ins.run(
        String(r.id),
        JSON.stringify(Object.assign({}, r, { _version: 1, _createdAt: 1, _updatedAt: 1 })),
      );
  })();
  const raw = (n / (performance.now() - t1)) * 1000;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { quire, raw };
}

async function populate(file: string, n: number): Promise<void> {
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(file), debounceMs: 60_000 },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', def);
  const chunk = 10_000;
  for (let i = 0; i < n; i += chunk) {
    await b.insertMany(Array.from({ length: Math.min(chunk, n - i) }, (_, j) => row(i + j)));
    await s.flush();
  }
  await s.stop();
}

async function bytesForOneUpdate(n: number): Promise<{ quire: number; snapshot: number }> {
  const dir = tmp();
  const file = path.join(dir, 'q.db');
  await populate(file, n);
  const adapter = new SQLiteAdapter(file);
  const s = await Store.start({
    name: 'b',
    persistence: { adapter, durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', def);
  await s.checkpoint();
  const before = fs.statSync(file).size + fs.statSync(`${file}-wal`).size;
  await b.update(n >> 1, { score: 1 });
  const quire = fs.statSync(file).size + fs.statSync(`${file}-wal`).size - before;
  await s.stop();

  const snap = new JsonFileSnapshotAdapter(dir);
  const s2 = await Store.start({
    name: 'b',
    persistence: { adapter: snap, durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b2 = await s2.defineBucket('users', def);
  await b2.insertMany(Array.from({ length: n }, (_, i) => row(i)));
  snap.bytesWritten = 0;
  await b2.update(n >> 1, { score: 1 });
  const snapshot = snap.bytesWritten;
  await s2.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { quire, snapshot };
}

async function restart(n: number): Promise<{ quire: number; raw: number }> {
  const dir = tmp();
  const file = path.join(dir, 'q.db');
  await populate(file, n);
  const best = async (fn: () => Promise<void> | void) => {
    let t = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      const t0 = performance.now();
      await fn();
      t = Math.min(t, performance.now() - t0);
    }
    return t;
  };
  const raw = await best(() => {
    const db = new Database(file, { readonly: true });
    const out: unknown[] = [];
    for (const data of db.prepare('SELECT data FROM quire_records ORDER BY bucket_id, ord').pluck().iterate())
      out.push(JSON.parse(data as string));
    db.close();
    if (out.length !== n) throw new Error('raw count');
  });
  const quire = await best(async () => {
    const s = await Store.start({
      name: 'b',
      persistence: { adapter: new SQLiteAdapter(file) },
      ttlCheckIntervalMs: 0,
    });
    const b = await s.defineBucket('users', def);
    if ((await b.count()) !== n) throw new Error('quire count');
    await s.stop();
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return { quire, raw };
}

async function latency(): Promise<{
  read: { p50: number; p99: number };
  commit: { p50: number; p99: number };
}> {
  const dir = tmp();
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(path.join(dir, 'q.db')), durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', def);
  await b.insertMany(Array.from({ length: 100_000 }, (_, i) => row(i)));
  await s.flush();
  for (let i = 0; i < 2000; i++) await b.where({ email: `user${i}@example.com` });
  const read = await latencies(20_000, (i) => b.where({ email: `user${(i * 7) % 100_000}@example.com` }));
  for (let i = 0; i < 200; i++) await b.update(i, { score: i });
  const commit = await latencies(3_000, (i) => b.update(i % 100_000, { score: i }));
  await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { read, commit };
}

export async function run(): Promise<BenchSection> {
  const restartN = Number(process.env.QUIRE_BENCH_RESTART ?? 1_000_000);
  const ins = await strictInserts(20_000, 64);
  const bytes = await bytesForOneUpdate(100_000);
  const rs = await restart(restartN);
  const lat = await latency();
  const ms = (x: number) => `${formatNumber(x)} ms`;
  const rows: Array<Array<string | number>> = [
    [
      'strict inserts, 64 concurrent writers (group commit)',
      `${formatNumber(ins.quire)} /s`,
      `${formatNumber(ins.raw)} /s raw batched txn`,
      `${(ins.quire / ins.raw).toFixed(2)}× (target ≥ 0.5×)`,
    ],
    [
      'bytes written: 1 update in a 100,000-record bucket',
      `${formatNumber(bytes.quire)} B (SQLite WAL)`,
      `${formatNumber(bytes.snapshot)} B (whole-bucket snapshot)`,
      `${(bytes.snapshot / Math.max(1, bytes.quire)).toFixed(0)}× fewer`,
    ],
    [
      `restart ${formatNumber(restartN)} records (load + 2 indexes)`,
      ms(rs.quire),
      `${ms(rs.raw)} raw SELECT + JSON.parse`,
      `${(rs.quire / rs.raw).toFixed(2)}× (target ≤ 1.5×)`,
    ],
    [
      'indexed point read p50 / p99',
      `${lat.read.p50.toFixed(4)} / ${lat.read.p99.toFixed(4)} ms`,
      '',
      'target p99 < 0.1 ms',
    ],
    [
      'strict commit (1 update) p50 / p99',
      `${lat.commit.p50.toFixed(3)} / ${lat.commit.p99.toFixed(3)} ms`,
      '',
      'target p99 < 1 ms',
    ],
  ];
  return {
    title: 'Durable storage (SQLite, WAL, synchronous=NORMAL)',
    markdown: table(['case', 'Quire', 'baseline', 'ratio'], rows),
  };
}
