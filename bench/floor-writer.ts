// The storage half of the hand-written floors of storage.bench.ts and
// history.bench.ts: the least a debounced store on SQLite must do off the
// main thread. A worker thread with its own better-sqlite3 connection (WAL,
// synchronous=FULL, Quire's page cache) applies each flush as one
// transaction, in parts as the main thread sends them: rewrites of record
// rows by key, and history rows, one per version, in a table indexed as
// quire_history is. No checksums, no ordering, no recovery: what is left
// is encoding, handing over and SQLite's own work.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.lib);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('cache_size = -65536');
const update = db.prepare('UPDATE t SET data = ? WHERE key = ?');
const version = db.prepare('INSERT INTO h (bucket_id, key, seq, version, op, at, actor, data) VALUES (1, ?, ?, ?, ?, ?, ?, ?)');
parentPort.on('message', (m) => {
  if (m.begin) db.exec('BEGIN IMMEDIATE');
  if (m.keys) for (let i = 0; i < m.keys.length; i++) update.run(m.data[i], m.keys[i]);
  if (m.versions) {
    const v = m.versions;
    for (let i = 0; i < v.key.length; i++) version.run(v.key[i], v.seq[i], v.version[i], 'update', v.at[i], v.actor[i], v.data[i]);
  }
  if (m.end) {
    db.exec('COMMIT');
    parentPort.postMessage(m.end);
  }
});`;

/** Versions of records queued for a flush, column by column. */
export interface FloorVersions {
  key: string[];
  seq: number[];
  version: number[];
  at: number[];
  actor: string[];
  data: string[];
}

/**
 * A floor's file with its records stored (keys as text), and its writer thread. Tables: `t` as
 * storage.bench.ts's raw baselines have it, `h` indexed as quire_history is.
 */
export function startFloor(file: string, records: Iterable<[unknown, object]>): FloorWriter {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, key TEXT UNIQUE, data TEXT NOT NULL)');
  db.exec(
    'CREATE TABLE h (id INTEGER PRIMARY KEY, bucket_id INTEGER, key TEXT, seq INTEGER, version INTEGER, op TEXT, at INTEGER, actor TEXT, data TEXT)',
  );
  db.exec('CREATE INDEX h_key ON h (bucket_id, key, seq)');
  db.exec('CREATE INDEX h_at ON h (bucket_id, at)');
  const insert = db.prepare('INSERT INTO t (key, data) VALUES (?, ?)');
  db.transaction(() => {
    for (const [k, r] of records) insert.run(String(k), JSON.stringify(r));
  })();
  db.close();
  return new FloorWriter(file);
}

/** The writer thread of a floor (startFloor). */
export class FloorWriter {
  readonly #worker: Worker;
  readonly #done = new Map<number, () => void>();
  #next = 1;

  constructor(file: string) {
    const lib = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER, { eval: true, workerData: { file, lib } });
    this.#worker.on('message', (id: number) => {
      this.#done.get(id)?.();
      this.#done.delete(id);
    });
  }

  begin(): void {
    this.#worker.postMessage({ begin: true });
  }

  records(keys: string[], data: string[]): void {
    this.#worker.postMessage({ keys, data });
  }

  versions(versions: FloorVersions): void {
    this.#worker.postMessage({ versions });
  }

  /** Commit the flush; resolves once it is committed and fsynced. */
  end(): Promise<void> {
    const id = this.#next++;
    const done = new Promise<void>((resolve) => this.#done.set(id, resolve));
    this.#worker.postMessage({ end: id });
    return done;
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
