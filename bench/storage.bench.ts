// Durable storage on SQLite, side by side in one run (SPEC §5), with the
// workload of the speed issue: 100,000 records {id: uuid, name, email,
// role, age, tags}, email unique, an index on role.
// - sustained single updates, debounced persistence, vs the same loop on a
//   store without persistence (target ≥ 60%), and the same loop on a
//   hand-written floor (sustainedPipeline: Map, JSON, SQLite writer thread);
// - first debounced flush of 100,000 fresh records vs raw better-sqlite3
//   inserting the same JSON rows in one transaction (target ≤ 2×);
// - strict inserts with 64 writers in flight (group commit) vs raw
//   better-sqlite3 batched inserts at the same `synchronous` level (FULL):
//   all rows in one transaction (the target's baseline, ≥ 0.5×) and 64 rows
//   per transaction (one fsync per 64, what 64 writers allow at best);
// - one strict update in a 100,000-record bucket: latency and bytes written
//   (WAL growth after a checkpoint), targets ≤ 0.5 ms and ≤ 12 KiB;
// - restart (load + indexes) of 100,000 and QUIRE_BENCH_RESTART (default
//   1,000,000) records vs raw SELECT + JSON.parse of the same rows;
// - p50/p99 of an indexed point read and of a strict commit.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { type PersistedState, SQLiteAdapter, type StorageAdapter, Store } from '../src/index.js';
import { type FloorWriter, startFloor } from './floor-writer.js';
import {
  type BenchSection,
  formatNumber,
  type Latencies,
  latencies,
  summarize,
  table,
  timeEach,
} from './harness.js';

export const WORKLOAD = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    name: { type: 'string', required: true },
    email: { type: 'string', required: true, format: 'email', unique: true },
    role: { type: 'string', required: true, enum: ['admin', 'editor', 'viewer', 'guest', 'owner'] },
    age: { type: 'number', min: 0, max: 150 },
    tags: { type: 'array' },
  },
  indexes: ['role'],
} as const;

const ROLES = WORKLOAD.schema.role.enum;

export function workloadRecord(i: number, id: string = randomUUID()) {
  return {
    id,
    name: `User number ${i}`,
    email: `user${i}@example.com`,
    role: ROLES[i % 5]!,
    age: i % 100,
    tags: ['alpha', `t${i % 17}`, 'omega'],
  };
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'quire-bench-'));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

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

/** A raw better-sqlite3 table with one JSON row per record, WAL, the given synchronous level. */
function rawTable(file: string, synchronous: 'FULL' | 'NORMAL') {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, key TEXT UNIQUE, data TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (key, data) VALUES (?, ?)');
  // What a store writes: the record with its metadata. Object.assign, not a spread with extra
  // properties: V8 makes that ~4 µs per row, which would slow the baseline down and flatter the ratio.
  const batch = db.transaction((rows: ReadonlyArray<{ id: string }>) => {
    for (const r of rows)
      ins.run(r.id, JSON.stringify(Object.assign({}, r, { _version: 1, _createdAt: 1, _updatedAt: 1 })));
  });
  return { db, batch };
}

/**
 * Time `ops` awaited single updates over a bucket of `n` records, yielding to the event loop every
 * 1,000: the rate, and the longest stretch between two yields (what a flush holds the loop for).
 */
export async function sustainedUpdates(
  n: number,
  ops: number,
  persistence: 'none' | 'debounced',
): Promise<{ rate: number; longestMs: number }> {
  const dir = tmp();
  const s = await Store.start({
    name: 'u',
    ttlCheckIntervalMs: 0,
    ...(persistence === 'debounced'
      ? { persistence: { adapter: new SQLiteAdapter(path.join(dir, 'u.db')) } }
      : {}),
  });
  const b = await s.defineBucket('users', WORKLOAD);
  const ids: string[] = [];
  const chunk = 10_000;
  for (let i = 0; i < n; i += chunk) {
    const rows = Array.from({ length: Math.min(chunk, n - i) }, (_, j) => workloadRecord(i + j));
    for (const r of rows) ids.push(r.id);
    await b.insertMany(rows);
  }
  await s.flush();
  gc();
  // Warm-up, then the timed run (its final flush included: every update is on disk at the end).
  for (let i = 0; i < 20_000; i++) await b.update(ids[(i * 7919) % n]!, { age: i % 150 });
  await s.flush();
  const t0 = performance.now();
  let last = t0;
  let longestMs = 0;
  for (let i = 0; i < ops; i++) {
    await b.update(ids[(i * 7919) % n]!, { age: i % 150 });
    if (i % 1000 === 999) {
      await yieldToLoop();
      const now = performance.now();
      longestMs = Math.max(longestMs, now - last);
      last = now;
    }
  }
  await s.flush();
  const rate = (ops / (performance.now() - t0)) * 1000;
  await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { rate, longestMs };
}

/** A record of the floors below: the workload record with a store's metadata. */
type FloorRecord = ReturnType<typeof workloadRecord> & {
  _version: number;
  _createdAt: number;
  _updatedAt: number;
};

/**
 * The loop of sustainedUpdates on a hand-written floor instead of a store: a Map of the records,
 * an update copies the record with a new version and time. With `persist`, the keys updated since
 * the last flush are kept in a Set, and a flush 100 ms after the first of them (Quire's debounce)
 * encodes those records as JSON, 4,096 at a time with the event loop running in between, and
 * hands them to a FloorWriter (floor-writer.ts), which rewrites their rows in one transaction
 * (FULL) on its own thread. No schema, indexes, events, change feed, checksums or recovery.
 */
export async function sustainedPipeline(n: number, ops: number, persist: boolean): Promise<number> {
  const map = new Map<string, FloorRecord>();
  const ids: string[] = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const r = Object.assign(workloadRecord(i), { _version: 1, _createdAt: now, _updatedAt: now });
    ids.push(r.id);
    map.set(r.id, r);
  }
  const dir = tmp();
  let writer: FloorWriter | undefined;
  if (persist) writer = startFloor(path.join(dir, 'floor.db'), map);
  let dirty = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushing = Promise.resolve();
  const flushNow = async () => {
    const keys = [...dirty];
    dirty = new Set();
    if (keys.length === 0) return;
    writer!.begin();
    for (let i = 0; i < keys.length; i += 4096) {
      const part = keys.slice(i, i + 4096);
      const data = new Array<string>(part.length);
      for (let j = 0; j < part.length; j++) data[j] = JSON.stringify(map.get(part[j]!));
      writer!.records(part, data);
      if (i + 4096 < keys.length) await yieldToLoop();
    }
    await writer!.end();
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    flushing = flushing.then(flushNow);
    return flushing;
  };
  const update = async (id: string, patch: { age: number }): Promise<FloorRecord> => {
    const old = map.get(id)!;
    const r = Object.assign({}, old, patch);
    r._version = old._version + 1;
    r._updatedAt = Date.now();
    map.set(id, r);
    if (persist) {
      dirty.add(id);
      timer ??= setTimeout(flush, 100);
    }
    return r;
  };
  for (let i = 0; i < 20_000; i++) await update(ids[(i * 7919) % n]!, { age: i % 150 });
  if (persist) await flush();
  gc();
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    await update(ids[(i * 7919) % n]!, { age: i % 150 });
    if (i % 1000 === 999) await yieldToLoop();
  }
  if (persist) await flush();
  const rate = (ops / (performance.now() - t0)) * 1000;
  await writer?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return rate;
}

/**
 * What a sustained debounced update must cost at least, in µs per update when every update hits a
 * record not written since the last flush (as in sustainedUpdates): the record encoded as JSON on
 * the thread that holds it (`encode`), and its row rewritten in SQLite (`write`: raw better-sqlite3
 * updates by primary key, in key order, one transaction, WAL + FULL, in a table of `n` such rows).
 */
export async function sustainedFloor(n: number): Promise<{ encode: number; write: number }> {
  const s = await Store.start({ name: 'e', ttlCheckIntervalMs: 0 });
  const b = await s.defineBucket('users', WORKLOAD);
  const ids: string[] = [];
  for (let i = 0; i < n; i += 10_000) {
    const rows = Array.from({ length: Math.min(10_000, n - i) }, (_, j) => workloadRecord(i + j));
    for (const r of rows) ids.push(r.id);
    await b.insertMany(rows);
  }
  const records = ids.map((id) => b.peek(id)!);
  let encode = Number.POSITIVE_INFINITY;
  let chars = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) chars += JSON.stringify(records[(i * 7919) % n]).length;
    encode = Math.min(encode, ((performance.now() - t0) * 1000) / n);
  }
  await s.stop();
  const dir = tmp();
  const raw = rawTable(path.join(dir, 'floor.db'), 'FULL');
  raw.batch(records as unknown as Array<{ id: string }>);
  raw.db.pragma('cache_size = -65536'); // Quire's page cache, so neither spills pages mid-transaction
  const update = raw.db.prepare('UPDATE t SET data = ? WHERE id = ?');
  const half = Math.floor(n / 2);
  let write = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const data = Array.from({ length: half }, (_, j) => JSON.stringify(records[2 * j + (round % 2)]));
    const t0 = performance.now();
    raw.db.transaction(() => {
      for (let j = 0; j < half; j++) update.run(data[j], 2 * j + (round % 2) + 1);
    })();
    write = Math.min(write, ((performance.now() - t0) * 1000) / half);
  }
  raw.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (chars === 0) throw new Error('nothing encoded');
  return { encode, write };
}

/** The first debounced flush of `n` freshly inserted records vs raw inserts of the same rows. */
export async function firstFlush(n: number): Promise<{ quire: number; raw: number }> {
  const rows = Array.from({ length: n }, (_, i) => workloadRecord(i));
  const best = { quire: Number.POSITIVE_INFINITY, raw: Number.POSITIVE_INFINITY };
  // Best of three rounds, the two interleaved.
  for (let round = 0; round < 3; round++) {
    const dir = tmp();
    const s = await Store.start({
      name: 'f',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(path.join(dir, 'f.db')), debounceMs: 600_000 },
    });
    const b = await s.defineBucket('users', WORKLOAD);
    await s.flush();
    await b.insertMany(rows);
    gc();
    const t0 = performance.now();
    await s.flush();
    best.quire = Math.min(best.quire, performance.now() - t0);
    await s.stop();

    const raw = rawTable(path.join(dir, 'raw.db'), 'FULL');
    gc();
    const t1 = performance.now();
    raw.batch(rows);
    best.raw = Math.min(best.raw, performance.now() - t1);
    raw.db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return best;
}

export async function strictInserts(
  n: number,
  writers: number,
): Promise<{ quire: number; raw: number; raw64: number }> {
  const dir = tmp();
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(path.join(dir, 'q.db')), durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', WORKLOAD);
  const rows = Array.from({ length: n }, (_, i) => workloadRecord(i));
  for (let i = 0; i < 2000; i++) await b.insert(workloadRecord(n + i));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < n) await b.insert(rows[next++]!);
    }),
  );
  const quire = (n / (performance.now() - t0)) * 1000;
  await s.stop();

  // Same synchronous level as strict (FULL: the WAL is fsynced at every commit).
  const one = rawTable(path.join(dir, 'raw1.db'), 'FULL');
  const fresh = Array.from({ length: n }, (_, i) => workloadRecord(i + n));
  const t1 = performance.now();
  one.batch(fresh);
  const raw = (n / (performance.now() - t1)) * 1000;
  one.db.close();
  const per64 = rawTable(path.join(dir, 'raw64.db'), 'FULL');
  const t2 = performance.now();
  for (let i = 0; i < n; i += writers) per64.batch(rows.slice(i, i + writers));
  const raw64 = (n / (performance.now() - t2)) * 1000;
  per64.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { quire, raw, raw64 };
}

async function populate(file: string, n: number): Promise<void> {
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(file), debounceMs: 60_000 },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', WORKLOAD);
  const chunk = 20_000;
  for (let i = 0; i < n; i += chunk) {
    await b.insertMany(Array.from({ length: Math.min(chunk, n - i) }, (_, j) => workloadRecord(i + j)));
    await s.flush();
  }
  await s.stop();
}

const ms3 = (l: Latencies) => `${l.mean.toFixed(3)} / ${l.p50.toFixed(3)} / ${l.p99.toFixed(3)}`;

/** A file of its own with these records as (key, JSON) rows, for raw single-row durable updates. */
function rawRowsFile(file: string, records: Array<Record<string, unknown>>) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE rows (key TEXT PRIMARY KEY, data TEXT NOT NULL)');
  const put = db.prepare('INSERT INTO rows (key, data) VALUES (?, ?)');
  db.transaction(() => {
    for (const r of records) put.run(r.id, JSON.stringify(r));
  })();
  const set = db.prepare('UPDATE rows SET data = ? WHERE key = ?');
  return {
    update(i: number, age: number): void {
      const r = records[i]!;
      r.age = age;
      if (set.run(JSON.stringify(r), r.id).changes !== 1) throw new Error('raw update missed its row');
    },
    close: () => db.close(),
  };
}

/** One strict update in an `n`-record bucket: WAL bytes it adds and latency, vs a whole-bucket snapshot. */
export async function oneStrictUpdate(n: number): Promise<{
  bytes: number;
  snapshot: number;
  quire: Latencies;
  raw: Latencies;
}> {
  const dir = tmp();
  const file = path.join(dir, 'q.db');
  await populate(file, n);
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', WORKLOAD);
  const ids = (await b.all()).map((r) => r.id as string);
  for (let i = 0; i < 500; i++) await b.update(ids[(i * 31) % n]!, { age: i % 150 });
  // Bytes: the WAL's growth for one update, from an empty WAL (as the file grows on disk).
  const sizes: number[] = [];
  for (let i = 0; i < 20; i++) {
    await s.checkpoint();
    const before = fs.statSync(file).size + fs.statSync(`${file}-wal`).size;
    await b.update(ids[(i * 7919) % n]!, { age: (i + 1) % 150 });
    sizes.push(fs.statSync(file).size + fs.statSync(`${file}-wal`).size - before);
  }
  sizes.sort((x, y) => x - y);
  const bytes = sizes[sizes.length >> 1]!;
  // Latency beside raw better-sqlite3 (the same rows in a file of their own, WAL, synchronous=FULL,
  // one UPDATE per transaction): the fsync of every commit is most of both, and this disk's fsync
  // time has a long tail. Blocks of 500 alternate between the two so that both see the same moments.
  const raw = rawRowsFile(
    path.join(dir, 'raw.db'),
    Array.from({ length: n }, (_, i) => workloadRecord(i)),
  );
  const quireMs: number[] = [];
  const rawMs: number[] = [];
  for (let from = 0; from < 3000; from += 500) {
    await timeEach(quireMs, from, 500, (i) => b.update(ids[(i * 7919) % n]!, { age: i % 150 }));
    await timeEach(rawMs, from, 500, (i) => raw.update((i * 7919) % n, i % 150));
  }
  raw.close();
  await s.stop();

  const snap = new JsonFileSnapshotAdapter(dir);
  const s2 = await Store.start({
    name: 'b',
    persistence: { adapter: snap, durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b2 = await s2.defineBucket('users', WORKLOAD);
  const recs = Array.from({ length: n }, (_, i) => workloadRecord(i));
  await b2.insertMany(recs);
  snap.bytesWritten = 0;
  await b2.update(recs[n >> 1]!.id, { age: 1 });
  const snapshot = snap.bytesWritten;
  await s2.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { bytes, snapshot, quire: summarize(quireMs), raw: summarize(rawMs) };
}

export async function restart(n: number): Promise<{ quire: number; raw: number; rawIndexed: number }> {
  const dir = tmp();
  const file = path.join(dir, 'q.db');
  await populate(file, n);
  const time = async (fn: () => Promise<void> | void) => {
    gc();
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const raw = (indexed: boolean) => () => {
    const db = new Database(file, { readonly: true });
    const out: unknown[] = [];
    // The same key map and indexes the bucket keeps, built by hand: what loading costs at least.
    const byKey = new Map<string, unknown>();
    const byEmail = new Map<string, string>();
    const byRole = new Map<string, Set<string>>();
    for (const data of db
      .prepare('SELECT data FROM quire_records ORDER BY bucket_id, ord')
      .pluck()
      .iterate()) {
      const r = JSON.parse(data as string) as { id: string; email: string; role: string };
      out.push(r);
      if (!indexed) continue;
      byKey.set(r.id, r);
      byEmail.set(r.email, r.id);
      let ids = byRole.get(r.role);
      if (ids === undefined) byRole.set(r.role, (ids = new Set()));
      ids.add(r.id);
    }
    db.close();
    if (out.length !== n || (indexed && byKey.size + byEmail.size !== 2 * n)) throw new Error('raw count');
  };
  const quire = async () => {
    const s = await Store.start({
      name: 'b',
      persistence: { adapter: new SQLiteAdapter(file) },
      ttlCheckIntervalMs: 0,
    });
    const b = await s.defineBucket('users', WORKLOAD);
    if ((await b.count()) !== n) throw new Error('quire count');
    await s.stop();
  };
  // Best of three rounds, the three interleaved, so a busy moment does not land on one of them.
  const best = {
    quire: Number.POSITIVE_INFINITY,
    raw: Number.POSITIVE_INFINITY,
    rawIndexed: Number.POSITIVE_INFINITY,
  };
  for (let round = 0; round < 3; round++) {
    best.raw = Math.min(best.raw, await time(raw(false)));
    best.quire = Math.min(best.quire, await time(quire));
    best.rawIndexed = Math.min(best.rawIndexed, await time(raw(true)));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return best;
}

async function readLatency(): Promise<{ p50: number; p99: number }> {
  const dir = tmp();
  const s = await Store.start({
    name: 'b',
    persistence: { adapter: new SQLiteAdapter(path.join(dir, 'q.db')), durability: 'strict' },
    ttlCheckIntervalMs: 0,
  });
  const b = await s.defineBucket('users', WORKLOAD);
  await b.insertMany(Array.from({ length: 100_000 }, (_, i) => workloadRecord(i)));
  await s.flush();
  for (let i = 0; i < 2000; i++) await b.where({ email: `user${i}@example.com` });
  const read = await latencies(20_000, (i) => b.where({ email: `user${(i * 7) % 100_000}@example.com` }));
  await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return read;
}

/** The restart rows: against raw SELECT + JSON.parse (the target), and against raw with the same key map and indexes. */
function restartRows(
  n: number,
  r: { quire: number; raw: number; rawIndexed: number },
  target: number,
): Array<Array<string | number>> {
  const row = (base: number, what: string, goal: string) => [
    `restart ${formatNumber(n)} records (load + 2 indexes)`,
    `${formatNumber(r.quire)} ms`,
    `${formatNumber(base)} ms raw SELECT + JSON.parse${what}`,
    `${(r.quire / base).toFixed(2)}×`,
    goal,
  ];
  return [
    row(r.raw, '', `≤ ${target}× (${r.quire / r.raw <= target ? 'met' : 'NOT met'})`),
    row(r.rawIndexed, ' + key map and 2 indexes by hand', '(the same work)'),
  ];
}

/** The most sustained debounced updates can reach, from the in-memory rate and the floor's costs. */
function sustainedNote(mem: number, floor: { encode: number; write: number }, n: number): string {
  const update = 1e6 / mem;
  const bound = update / Math.max(update + floor.encode, floor.write);
  return `Sustained debounced updates: in this run an in-memory update took ${update.toFixed(2)} µs, encoding one of these records as JSON ${floor.encode.toFixed(2)} µs (on the thread that holds the records: every update of this loop hits a record not written since the last flush), and raw better-sqlite3 rewrote one row in ${floor.write.toFixed(2)} µs (updates by primary key, in key order, one transaction, in a table of the same ${formatNumber(n)} rows). With the encoding on the main thread and the writes on the writer thread running side by side, the share of the in-memory rate cannot pass ${(bound * 100).toFixed(0)}% here, even if queuing, handing over, checksums and indexes cost nothing. They do cost, and on this machine's two cores every thread's work (the garbage collector's too) shares the CPU with the loop: the hand-written floor in the table (\`sustainedPipeline\`: a Map, a Set of the keys updated since the last flush, the same 100 ms debounce and parts of 4,096 records, one UPDATE by key per record on a writer thread, no schema, indexes, events, change feed or checksums) is what this design reaches here.`;
}

export async function run(): Promise<BenchSection> {
  const restartN = Number(process.env.QUIRE_BENCH_RESTART ?? 1_000_000);
  const N = 100_000;
  const UPDATES = 200_000;
  // Best of two rounds, the two interleaved.
  let mem = 0;
  let deb = 0;
  // The longest 1,000 updates (with their yield) of each kind, over both rounds.
  let memLongest = 0;
  let debLongest = 0;
  // The hand-written floor of the same loop, in the same rounds.
  let pipe = 0;
  let pipeMem = 0;
  for (let round = 0; round < 2; round++) {
    const m = await sustainedUpdates(N, UPDATES, 'none');
    const d = await sustainedUpdates(N, UPDATES, 'debounced');
    mem = Math.max(mem, m.rate);
    deb = Math.max(deb, d.rate);
    memLongest = Math.max(memLongest, m.longestMs);
    debLongest = Math.max(debLongest, d.longestMs);
    pipeMem = Math.max(pipeMem, await sustainedPipeline(N, UPDATES, false));
    pipe = Math.max(pipe, await sustainedPipeline(N, UPDATES, true));
  }
  const floor = await sustainedFloor(N);
  const ff = await firstFlush(N);
  const ins = await strictInserts(20_000, 64);
  const one = await oneStrictUpdate(N);
  const rs100 = await restart(N);
  const rsBig = restartN === N ? rs100 : await restart(restartN);
  const read = await readLatency();
  const ms = (x: number) => `${formatNumber(x)} ms`;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const rows: Array<Array<string | number>> = [
    [
      `sustained single updates, debounced (${formatNumber(N)} records)`,
      `${formatNumber(deb)} /s`,
      `${formatNumber(mem)} /s same loop, no persistence`,
      `${((deb / mem) * 100).toFixed(0)}%`,
      `≥ 60% (${met(deb / mem >= 0.6)})`,
    ],
    [
      'the same loop on a hand-written floor (Map, JSON, SQLite writer thread)',
      `${formatNumber(pipe)} /s`,
      `${formatNumber(pipeMem)} /s same floor, no persistence`,
      `${((pipe / pipeMem) * 100).toFixed(0)}%`,
      `Quire ${((deb / pipe) * 100).toFixed(0)}% of it`,
    ],
    [
      'longest 1,000 of those updates (event loop held by flushes)',
      ms(debLongest),
      `${ms(memLongest)} same loop, no persistence`,
      `${(debLongest / memLongest).toFixed(1)}×`,
      '',
    ],
    [
      `first debounced flush of ${formatNumber(N)} fresh records`,
      ms(ff.quire),
      `${ms(ff.raw)} raw inserts, one txn`,
      `${(ff.quire / ff.raw).toFixed(2)}×`,
      `≤ 2× (${met(ff.quire / ff.raw <= 2)})`,
    ],
    [
      'strict inserts, 64 writers (group commit, fsync)',
      `${formatNumber(ins.quire)} /s`,
      `${formatNumber(ins.raw)} /s raw, one txn (FULL)`,
      `${(ins.quire / ins.raw).toFixed(2)}×`,
      `≥ 0.5× (${met(ins.quire / ins.raw >= 0.5)})`,
    ],
    [
      'strict inserts, 64 writers (group commit, fsync)',
      `${formatNumber(ins.quire)} /s`,
      `${formatNumber(ins.raw64)} /s raw, 64 per txn (FULL)`,
      `${(ins.quire / ins.raw64).toFixed(2)}×`,
      '(same fsyncs per row)',
    ],
    [
      `one strict update in ${formatNumber(N)}: mean / p50 / p99`,
      `${ms3(one.quire)} ms`,
      `${ms3(one.raw)} ms raw, one UPDATE per txn (FULL)`,
      `${(one.quire.mean / one.raw.mean).toFixed(2)}× (mean)`,
      `≤ 0.5 ms (${met(one.quire.mean <= 0.5)})`,
    ],
    [
      `one strict update in ${formatNumber(N)}: bytes written`,
      `${formatNumber(one.bytes)} B (SQLite WAL)`,
      `${formatNumber(one.snapshot)} B whole-bucket snapshot`,
      `${(one.snapshot / Math.max(1, one.bytes)).toFixed(0)}× fewer`,
      `≤ 12,288 B (${met(one.bytes <= 12_288)})`,
    ],
    ...restartRows(N, rs100, 1.2),
    ...restartRows(restartN, rsBig, 1.5),
    [
      'indexed point read (unique email) p50 / p99',
      `${read.p50.toFixed(4)} / ${read.p99.toFixed(4)} ms`,
      '',
      '',
      `p99 < 0.1 ms (${met(read.p99 < 0.1)})`,
    ],
    [
      'strict commit (1 update) p50 / p99',
      `${one.quire.p50.toFixed(3)} / ${one.quire.p99.toFixed(3)} ms`,
      `${one.raw.p50.toFixed(3)} / ${one.raw.p99.toFixed(3)} ms raw, one UPDATE per txn (FULL)`,
      `${(one.quire.p99 / one.raw.p99).toFixed(2)}× (p99)`,
      `p99 < 1 ms (${met(one.quire.p99 < 1)})`,
    ],
  ];
  return {
    title: 'Durable storage (SQLite, WAL; strict and debounced commits fsync: synchronous=FULL)',
    markdown: [
      'Workload of the speed issue: records {id: uuid, name, email (unique, format email), role (enum, indexed), age, tags}. Baselines run in the same process, right after the Quire case.',
      '',
      table(['case', 'Quire', 'baseline', 'ratio', 'target'], rows),
      '',
      sustainedNote(mem, floor, N),
    ].join('\n'),
  };
}
