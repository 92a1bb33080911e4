// SQLiteAdapter: Quire's embedded default (P-1). better-sqlite3 in WAL mode
// with synchronous=FULL (every commit fsyncs the WAL; NORMAL for stores
// with durability 'process'); one SQLite transaction per flush across every
// bucket; per-record upserts and deletes; tables created and upgraded on
// open (`schema_version` in quire_meta); automatic WAL checkpoints plus
// `checkpoint()` on demand. Restores stream rows in insertion order with
// `.iterate()`.
//
// The WAL stays bounded under any write load: past `autoCheckpointPages` a
// worker thread checkpoints it (PASSIVE, on its own connection, so the
// copying and fsyncs do not stall commits); when it is done, the writer
// copies the few frames committed meanwhile, so the checkpoint is complete
// and the next commit starts the WAL over (`journal_size_limit` trims the
// file). Should the WAL still pass four times that size (readers holding old
// snapshots, a slow disk), the writer runs a TRUNCATE checkpoint itself.
// close() waits for a running worker checkpoint and closes the last
// connection, which checkpoints and removes the -wal and -shm files.
//
// Commits: sqlite-writer.ts applies a unit; large units (and every unit while
// one is in flight) are committed by a writer thread on a second connection,
// so the main thread goes on staging writes meanwhile.
//
// Layout (schema version 1):
//   quire_meta(key, value)                      schema_version, created_by
//   quire_stores(name, last_seq)                the per-store change sequence
//   quire_buckets(id, store, name, definition, counter)   counter = autoincrement
//   quire_records(bucket_id, ord, key, seq, version, data)   WITHOUT ROWID,
//       primary key (bucket_id, ord): a restore is one sequential range scan;
//       unique (bucket_id, key) for upserts. `ord` is the seq of the insert,
//       so insertion order survives restarts; `seq` is the last change.
//   quire_kv(key, value)                        noex-style snapshot keys (backups)
// Schema version 2 adds version history and the change feed (P-6):
//   quire_history(id, bucket_id, key, seq, version, op, at, actor, data)
//       one row per change of a bucket with `history`; indexes
//       (bucket_id, key, seq) for history(key), (bucket_id, at) for maxAge.
//   quire_feed(store, seq, bucket, key, op, version, at, actor)   WITHOUT ROWID,
//       the change feed: every persistent change, the last N by seq kept.
// Schema version 3 adds `crc` to quire_records: CRC-32 of the row's data,
// checked on every load (SQLite itself has no checksums), so changed
// bytes are refused instead of loaded. A load also compares the rows read
// with the key index's count, so rows a damaged page hides are noticed.
// Schema version 4 lets one quire_history row hold several versions of a
// record (`packed`, `first_at`, `versions`): a flush that changed a record
// N times writes one row for it, not N (rows without `packed` hold one
// version, as before). Likewise a quire_feed row may hold the feed entries
// of a whole commit (`packed`; seq and the other columns are its newest
// entry's): one row per commit instead of one per change. log-rows.ts
// builds and reads these rows.
// Schema version 5 writes packed feed rows in a compact layout (about a
// fifth of the bytes), cut short of SQLite's overflow size (log-rows.ts;
// version 4 rows are still read), and makes quire_feed a rowid table:
//   quire_feed(id, store, seq, bucket, key, op, version, at, actor, packed)
//       id = the store's `feed_slot` (a new column of quire_stores, given
//       out on its first feed row) · 2^47 + seq, so one store's rows are one
//       id range in seq order. A commit appends its row at the end of a
//       table B-tree, which dirties fewer pages than the WITHOUT ROWID index
//       B-tree did (measured with 32 updates a commit: ~1.5 pages, not ~2.3,
//       where a feed-off commit writes its quire_stores page).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import type { HistoryFilter, StoreRecord } from '../engine/index.js';
import { InvalidArgumentError } from '../engine/index.js';
import { bucketKey, parseBucketKey, snapshotView } from './codec.js';
import {
  ReadOnlyStorageError,
  StorageCorruptError,
  StorageError,
  StorageUnavailableError,
  toStorageError,
} from './errors.js';
import { WriterLock } from './lock.js';
import { historyRows, readFeedRows, type StoredHistoryRow, unpackHistory } from './log-rows.js';
import { ensureDir, type OwnFiles } from './own-files.js';
import { queuedHistoryOf } from './queued-history.js';
import {
  checkJoinedRows,
  JOINED_PIECE_BYTES,
  JOINED_ROWS_SQL,
  joinedTexts,
  type RowChunk,
  RowReaderThread,
} from './sqlite-reader.js';
import {
  packRecords,
  packUnit,
  type ThreadOutcome,
  type UnitOutcome,
  UnitWriter,
  WriterThread,
  WriterThreadDiedError,
} from './sqlite-writer.js';
import type {
  AdapterContext,
  BucketWrite,
  CommitUnit,
  Durability,
  FeedWrite,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  StoredBucket,
  StoredDefinition,
  UnitStream,
} from './types.js';

/** Current on-disk schema version. Bump and add a step to MIGRATIONS for every format change. */
export const SQLITE_SCHEMA_VERSION = 5;

const crc32: (data: string | Uint8Array, value?: number) => number = (
  zlib as unknown as { crc32: (d: string | Uint8Array, v?: number) => number }
).crc32;

/**
 * Checksum of a stored record row: CRC-32 of its data (the record JSON, which holds the key fields
 * too; one native call per row keeps restarts fast).
 */
export function rowChecksum(data: string): number {
  return crc32(data);
}

/** Feed row ids per store slot (2^47): a store's rows are ids slot · FEED_SLOT_SIZE + seq. */
const FEED_SLOT_SIZE = 2n ** 47n;

const FEED_TABLE = `CREATE TABLE quire_feed (
  id INTEGER PRIMARY KEY,
  store TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  op TEXT NOT NULL,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT,
  packed TEXT
);`;

const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 0 → 1
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS quire_stores (name TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS quire_buckets (
        id INTEGER PRIMARY KEY,
        store TEXT NOT NULL,
        name TEXT NOT NULL,
        definition TEXT,
        counter INTEGER NOT NULL DEFAULT 0,
        UNIQUE (store, name)
      );
      CREATE TABLE IF NOT EXISTS quire_records (
        bucket_id INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (bucket_id, ord)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX IF NOT EXISTS quire_records_key ON quire_records (bucket_id, key);
      CREATE TABLE IF NOT EXISTS quire_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
  },
  // 1 → 2: version history and change feed
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS quire_history (
        id INTEGER PRIMARY KEY,
        bucket_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER NOT NULL,
        op TEXT NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT,
        data TEXT
      );
      CREATE INDEX IF NOT EXISTS quire_history_key ON quire_history (bucket_id, key, seq);
      CREATE INDEX IF NOT EXISTS quire_history_at ON quire_history (bucket_id, at);
      CREATE TABLE IF NOT EXISTS quire_feed (
        store TEXT NOT NULL,
        seq INTEGER NOT NULL,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        op TEXT NOT NULL,
        version INTEGER NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT,
        PRIMARY KEY (store, seq)
      ) WITHOUT ROWID;
    `);
  },
  // 2 → 3: a checksum per record row, computed for the rows already stored
  (db) => {
    const columns = db.prepare('PRAGMA table_info(quire_records)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'crc')) db.exec('ALTER TABLE quire_records ADD COLUMN crc INTEGER');
    db.function('quire_row_crc', { deterministic: true }, (data) => rowChecksum(String(data)));
    db.exec('UPDATE quire_records SET crc = quire_row_crc(data)');
  },
  // 3 → 4: history rows that hold several versions of a record (the rows stored so far hold one each)
  (db) => {
    const columns = db.prepare('PRAGMA table_info(quire_history)').all() as Array<{ name: string }>;
    for (const [name, type] of [
      ['packed', 'TEXT'],
      ['first_at', 'INTEGER'],
      ['versions', 'INTEGER'],
    ])
      if (!columns.some((c) => c.name === name))
        db.exec(`ALTER TABLE quire_history ADD COLUMN ${name} ${type}`);
    const feed = db.prepare('PRAGMA table_info(quire_feed)').all() as Array<{ name: string }>;
    if (!feed.some((c) => c.name === 'packed')) db.exec('ALTER TABLE quire_feed ADD COLUMN packed TEXT');
  },
  // 4 → 5: quire_feed as a rowid table keyed by store slot and seq; packed rows written from now on
  // have the compact layout, the rows stored so far keep theirs (both are read)
  (db) => {
    const stores = db.prepare('PRAGMA table_info(quire_stores)').all() as Array<{ name: string }>;
    if (!stores.some((c) => c.name === 'feed_slot'))
      db.exec('ALTER TABLE quire_stores ADD COLUMN feed_slot INTEGER');
    const feed = db.prepare('PRAGMA table_info(quire_feed)').all() as Array<{ name: string }>;
    if (feed.some((c) => c.name === 'id')) return;
    db.exec(`
      INSERT OR IGNORE INTO quire_stores (name, last_seq) SELECT DISTINCT store, 0 FROM quire_feed;
      UPDATE quire_stores SET feed_slot = (SELECT count(*) FROM quire_stores o WHERE o.name <= quire_stores.name);
      ALTER TABLE quire_feed RENAME TO quire_feed_v4;
      ${FEED_TABLE}
      INSERT INTO quire_feed (id, store, seq, bucket, key, op, version, at, actor, packed)
        SELECT s.feed_slot * ${FEED_SLOT_SIZE} + f.seq, f.store, f.seq, f.bucket, f.key, f.op, f.version, f.at, f.actor, f.packed
        FROM quire_feed_v4 f JOIN quire_stores s ON s.name = f.store;
      DROP TABLE quire_feed_v4;
    `);
  },
];

export interface SQLiteAdapterOptions {
  /** Open read-only: no lock is taken, writes fail with ReadOnlyStorageError. Works while a writer holds the file. */
  readonly readOnly?: boolean;
  /** WAL pages after which SQLite checkpoints automatically. Default 1000 (SQLite's default); 0 disables. */
  readonly autoCheckpointPages?: number;
  /** How long to wait for a lock held by another connection (ms). Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Commit large units (and every unit while one is in flight) on a worker thread with a
   * connection of its own, so the main thread goes on serving and staging writes meanwhile.
   * Default: for debounced and process stores only. A strict store's writers wait for the fsync
   * anyway, so there is nothing to overlap and the hop only adds latency (measured: 64 strict
   * writers commit ~25% fewer rows/s through the thread). true: strict stores too; false: never.
   */
  readonly writerThread?: boolean;
  /**
   * Restores of buckets larger than one chunk (4,096 rows) read and checksum their rows on a
   * worker thread, started when a file of 1 MiB or more opens, while the main thread parses and
   * indexes. Default true; false reads on the main thread only.
   */
  readonly readerThread?: boolean;
}

/** The statements reads use (commits have theirs in UnitWriter). */
interface Statements {
  getStore: Database.Statement;
  setStore: Database.Statement;
  bucketId: Database.Statement;
  bucketRow: Database.Statement;
  scan: Database.Statement;
  joinedScan: Database.Statement;
  keyAt: Database.Statement;
  countRows: Database.Statement;
  listBuckets: Database.Statement;
  readHistory: Database.Statement;
  readFeed: Database.Statement;
  feedSlot: Database.Statement;
}

export class SQLiteAdapter implements IncrementalAdapter {
  readonly path: string;
  readonly readOnly: boolean;
  readonly #autoCheckpoint: number;
  readonly #busyTimeout: number;
  #db: Database.Database | undefined;
  #st: Statements | undefined;
  #lock: WriterLock | undefined;
  readonly #stores = new Set<string>();
  #ids = new Map<string, number>();
  /** Durability of each open store: the `synchronous` level its commits run at. */
  readonly #durability = new Map<string, Durability>();
  readonly #contexts = new Map<string, AdapterContext>();
  /** Commits on the main connection. */
  #writer: UnitWriter | undefined;
  /** Commits on a worker thread's connection (started on first use). */
  #thread: WriterThread | undefined;
  /** No writer thread: switched off by the options, or it could not start or stopped. */
  #threadOff: boolean;
  /** Restores may read on a worker thread (readerThread). */
  #readerThread: boolean;
  /** Opened without shared memory (exclusive locking mode): see #openWithoutSharedMemory. */
  #exclusive = false;
  #readerChunks = 0;
  #readersStarted = 0;
  /** The reader thread, kept between restores until idle (sqlite-reader.ts). */
  #reader: RowReaderThread | undefined;
  #readerIdle: ReturnType<typeof setTimeout> | undefined;
  /** Strict stores' units go to the thread too (writerThread: true). */
  readonly #threadForStrict: boolean;
  #threadCommits = 0;
  #streamedUnits = 0;
  /** Units sent in parts whose last part is not sent yet (they hold the write lock meanwhile). */
  #openStreams = 0;
  /** Small units committed here since the WAL's size was last looked at. */
  #smallCommits = 0;
  /** The writer thread's death was reported to onError (with the unit it died with). */
  #threadDeathReported = false;
  #checkpointer: Checkpointer | undefined;
  /** WAL size (bytes) past which the worker checkpoints, and past which the writer itself does. */
  #walLimit = 0;
  #walHardLimit = 0;
  #checkpointBusy = false;
  /** Shared with the worker: 1 while it checkpoints (close() waits on it), 0 when idle. */
  #checkpointState = new Int32Array(new SharedArrayBuffer(4));
  /** Stores whose last seq only the change feed records: close() writes it to their quire_stores row. */
  readonly #seqInFeed = new Map<string, number>();
  /** Online backups running (automatic checkpoints wait for them). */
  #backups = 0;

  constructor(file: string, options: SQLiteAdapterOptions = {}) {
    if (typeof file !== 'string' || file === '')
      throw new InvalidArgumentError('SQLiteAdapter', 'path', 'expected a non-empty file path');
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError(
        'SQLiteAdapter',
        'options',
        'expected {readOnly?, autoCheckpointPages?}',
      );
    const pages = options.autoCheckpointPages ?? 1000;
    if (!Number.isInteger(pages) || pages < 0)
      throw new InvalidArgumentError(
        'SQLiteAdapter',
        'autoCheckpointPages',
        `expected an integer >= 0, got ${String(pages)}`,
      );
    const busy = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busy) || busy < 0)
      throw new InvalidArgumentError(
        'SQLiteAdapter',
        'busyTimeoutMs',
        `expected an integer >= 0, got ${String(busy)}`,
      );
    this.path = file;
    this.readOnly = options.readOnly === true;
    this.#autoCheckpoint = pages;
    this.#busyTimeout = busy;
    // An in-memory database is one connection's own: it cannot have a second one.
    this.#threadOff = options.writerThread === false || file === ':memory:';
    this.#threadForStrict = options.writerThread === true;
    this.#readerThread = options.readerThread !== false && file !== ':memory:';
  }

  /** Chunks of rows restores took from the reader thread (the others were read on the main thread). */
  get readerThreadChunks(): number {
    return this.#readerChunks;
  }

  /** Reader threads started (one serves every restore until it is idle; opening a large file starts it). */
  get readerThreadsStarted(): number {
    return this.#readersStarted;
  }

  /** True while a reader thread has its connection open and waits for a restore (restores hand it their rows). */
  get readerThreadReady(): boolean {
    return this.#reader?.ready === true;
  }

  /** The reader thread restores use, started (when it can be) if there is none. */
  #takeReader(): RowReaderThread | undefined {
    if (this.#reader?.failed) this.#dropReader();
    if (this.#reader === undefined) {
      try {
        this.#reader = new RowReaderThread(
          { file: this.path, lib: betterSqlitePath, addon: betterSqliteAddon, chunkRows: LOAD_CHUNK_ROWS },
          () => this.#readerChunks++,
        );
        this.#readersStarted++;
      } catch {
        return undefined;
      }
    }
    clearTimeout(this.#readerIdle);
    return this.#reader;
  }

  /**
   * Start the reader thread ahead of the restores when the file may hold a
   * bucket larger than one chunk, so that it has booted by the time a
   * restore needs it.
   */
  #startReaderEarly(): void {
    if (!this.#readerThread || this.#reader !== undefined) return;
    let bytes = 0;
    try {
      bytes = fs.statSync(this.path).size + this.walBytes();
    } catch {
      return;
    }
    if (bytes < READER_EARLY_BYTES) return;
    this.#takeReader();
    this.#readerIdleLater();
  }

  /** End the reader thread once no restore has used it for a while. */
  #readerIdleLater(): void {
    clearTimeout(this.#readerIdle);
    if (this.#reader === undefined) return;
    this.#readerIdle = setTimeout(() => this.#dropReader(), READER_IDLE_MS);
    this.#readerIdle.unref();
  }

  #dropReader(): void {
    clearTimeout(this.#readerIdle);
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.close();
  }

  /** Commits the writer thread has run (the others ran on the main thread). */
  get writerThreadCommits(): number {
    return this.#threadCommits;
  }

  /** Units the writer thread was sent in parts (openUnit), for tests and diagnostics. */
  get streamedUnits(): number {
    return this.#streamedUnits;
  }

  poll(): void {
    this.#thread?.poll();
  }

  /** The open database (opening it if needed). Exposed for inspection tools; do not write to it. */
  get database(): Database.Database {
    return this.#ensure();
  }

  #ensure(): Database.Database {
    if (this.#db !== undefined) return this.#db;
    const memory = this.path === ':memory:';
    // Whether anything is stored yet: failing to open nothing is retried later, failing to open data is fatal.
    const absent = !memory && storedNothing(this.path);
    let lock: WriterLock | undefined;
    let db: Database.Database | undefined;
    try {
      if (!this.readOnly && !memory) {
        ensureDir(path.dirname(this.path));
        lock = new WriterLock(this.path);
        lock.acquire();
      }
      db = new Database(this.path, { readonly: this.readOnly, fileMustExist: this.readOnly });
      db.pragma(`busy_timeout = ${this.#busyTimeout}`);
      if (!this.readOnly) {
        try {
          db.pragma('journal_mode = WAL');
        } catch (e) {
          if (memory || !SHM_FAILURES.has(String((e as { code?: unknown }).code))) throw e;
          db.close();
          db = this.#openWithoutSharedMemory();
        }
        db.pragma('synchronous = FULL');
        // Room for the pages a large flush dirties (random updates touch a page each): with SQLite's
        // default 2 MiB, a flush spills pages to the WAL mid-transaction and reads them back.
        // Allocated as pages are used, so small stores stay small.
        db.pragma(`cache_size = ${CACHE_SIZE}`);
        // A multi-row INSERT inside a transaction keeps a statement journal (to undo the statement
        // alone); on disk that is a new temporary file, written and deleted per commit.
        db.pragma('temp_store = MEMORY');
        // Automatic checkpoints run on a second connection in a worker thread, so their
        // writes and fsyncs never stall a commit; SQLite's inline auto-checkpoint is the fallback.
        const state = new Int32Array(new SharedArrayBuffer(4));
        const worker =
          memory || this.#autoCheckpoint === 0 || this.#exclusive
            ? undefined
            : startCheckpointer(this.path, state);
        db.pragma(`wal_autocheckpoint = ${worker === undefined ? this.#autoCheckpoint : 0}`);
        this.#upgrade(db);
        if (worker !== undefined) {
          this.#checkpointer = worker;
          this.#checkpointState = state;
          this.#walLimit = this.#autoCheckpoint * (db.pragma('page_size', { simple: true }) as number);
          this.#walHardLimit = 4 * this.#walLimit;
          // A WAL that starts over is cut back to this size (SQLite keeps it at its largest otherwise).
          db.pragma(`journal_size_limit = ${this.#walLimit}`);
          worker.on('message', () => {
            this.#checkpointBusy = false;
            this.#catchUp();
          });
          worker.on('error', () => {
            // Fall back to inline automatic checkpoints.
            this.#checkpointer = undefined;
            this.#db?.pragma(`wal_autocheckpoint = ${this.#autoCheckpoint}`);
          });
          // Listening re-refs the worker's port: unref after, so it never keeps a process alive.
          worker.unref();
        }
      } else {
        this.#checkVersion(db);
      }
      this.#st = this.#prepare(db);
      if (!this.readOnly) this.#writer = new UnitWriter(db, rowChecksum, historyRows);
    } catch (e) {
      try {
        db?.close();
      } catch {
        /* ignore */
      }
      lock?.release();
      const err = toStorageError('open', e, this.path);
      if (absent && !(err instanceof StorageUnavailableError) && err.code === 'STORAGE_ERROR')
        throw new StorageUnavailableError('open', `${err.message} (nothing is stored there yet)`, {
          path: this.path,
          cause: e,
        });
      throw err;
    }
    this.#db = db;
    this.#lock = lock;
    this.#ids = new Map();
    return db;
  }

  /**
   * SQLite could not create the WAL's shared-memory (-shm) file: a full disk. In exclusive locking
   * mode SQLite keeps the WAL index in this process's memory instead, so the store can still be
   * read (and written once there is room). No other connection can use the file meanwhile: the
   * writer, reader and checkpointer threads stay off, and other processes cannot read it until the
   * store is reopened.
   */
  #openWithoutSharedMemory(): Database.Database {
    const db = new Database(this.path);
    try {
      db.pragma(`busy_timeout = ${this.#busyTimeout}`);
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
    } catch (e) {
      db.close();
      throw e;
    }
    this.#exclusive = true;
    this.#threadOff = true;
    this.#readerThread = false;
    return db;
  }

  /** Opened in exclusive locking mode (no -shm file could be created): see #openWithoutSharedMemory. */
  get exclusive(): boolean {
    return this.#exclusive;
  }

  #version(db: Database.Database): number {
    const hasMeta = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quire_meta'")
      .pluck()
      .get();
    if (hasMeta === undefined) return 0;
    const v = db.prepare("SELECT value FROM quire_meta WHERE key = 'schema_version'").pluck().get();
    return v === undefined ? 0 : Number(v);
  }

  #checkVersion(db: Database.Database, upgrading = false): void {
    const v = this.#version(db);
    if (v > SQLITE_SCHEMA_VERSION) {
      throw new StorageError(
        'open',
        `Database "${this.path}" has schema version ${v}, newer than this Quire supports (${SQLITE_SCHEMA_VERSION}); upgrade Quire`,
        { path: this.path },
      );
    }
    if (v < SQLITE_SCHEMA_VERSION && v !== 0 && !upgrading) {
      throw new StorageError(
        'open',
        `Database "${this.path}" has schema version ${v}; open it once for writing to upgrade it to ${SQLITE_SCHEMA_VERSION}`,
        { path: this.path },
      );
    }
  }

  /** Create or upgrade the tables, in one transaction. */
  #upgrade(db: Database.Database): void {
    this.#checkVersion(db, true); // throws for newer versions
    db.transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS quire_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      const from = this.#version(db);
      for (let v = from; v < SQLITE_SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
      if (from !== SQLITE_SCHEMA_VERSION) {
        db.prepare("INSERT OR REPLACE INTO quire_meta (key, value) VALUES ('schema_version', ?)").run(
          String(SQLITE_SCHEMA_VERSION),
        );
        if (from === 0)
          db.prepare("INSERT OR IGNORE INTO quire_meta (key, value) VALUES ('created_at', ?)").run(
            new Date().toISOString(),
          );
      }
    }).immediate();
  }

  #prepare(db: Database.Database): Statements | undefined {
    if (this.#version(db) === 0) return undefined; // read-only on an empty file: nothing stored
    return {
      // The last seq is the store row's, or the feed's newest row when a commit's feed row carried it.
      getStore: db
        .prepare(
          `SELECT max(s.last_seq, coalesce((SELECT f.seq FROM quire_feed f
             WHERE f.id > s.feed_slot * ${FEED_SLOT_SIZE} AND f.id < (s.feed_slot + 1) * ${FEED_SLOT_SIZE}
             ORDER BY f.id DESC LIMIT 1), 0))
           FROM quire_stores s WHERE s.name = @store`,
        )
        .pluck(),
      setStore: db.prepare(
        'INSERT INTO quire_stores (name, last_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq',
      ),
      bucketId: db.prepare('SELECT id FROM quire_buckets WHERE store = ? AND name = ?').pluck(),
      bucketRow: db.prepare('SELECT id, definition, counter FROM quire_buckets WHERE store = ? AND name = ?'),
      // Restores read rows a chunk at a time (`all` costs less per row than `iterate`).
      scan: db
        .prepare(
          'SELECT ord, data, crc FROM quire_records WHERE bucket_id = ? AND ord > ? ORDER BY ord LIMIT ?',
        )
        .raw(),
      // A chunk's rows joined by SQLite (sqlite-reader.ts): no string per row.
      joinedScan: db.prepare(JOINED_ROWS_SQL).raw(),
      keyAt: db.prepare('SELECT key FROM quire_records WHERE bucket_id = ? AND ord = ?').pluck(),
      countRows: db
        .prepare('SELECT count(*) FROM quire_records INDEXED BY quire_records_key WHERE bucket_id = ?')
        .pluck(),
      listBuckets: db.prepare('SELECT name FROM quire_buckets WHERE store = ? ORDER BY id').pluck(),
      // A packed row's seq and at are its newest version's, first_at its oldest's; its versions are filtered after.
      readHistory: db.prepare(
        `SELECT key, seq, version, op, at, actor, data, packed FROM quire_history INDEXED BY quire_history_key
         WHERE bucket_id = @id AND key = @key AND at >= @since AND coalesce(first_at, at) <= @until
           AND (@version IS NULL OR version = @version OR packed IS NOT NULL)
         ORDER BY seq DESC`,
      ),
      // A packed row is read whole: its older entries may be at or below `since` (filtered after).
      readFeed: db.prepare(
        'SELECT seq, bucket, key, op, version, at, actor, packed FROM quire_feed WHERE id > ? AND id <= ? ORDER BY id',
      ),
      feedSlot: db.prepare('SELECT feed_slot FROM quire_stores WHERE name = ?').pluck(),
    };
  }

  open(store: string, context: AdapterContext): { lastSeq: number } {
    this.#ensure();
    this.#startReaderEarly();
    this.#stores.add(store);
    this.#durability.set(store, context.durability ?? 'strict');
    this.#contexts.set(store, context);
    if (this.#exclusive)
      context.onError(
        new StorageError(
          'open',
          `"${this.path}" was opened in exclusive mode: there is no room for its shared-memory (-shm) file (is the disk full?). The store reads and writes as usual (writes fail until there is room); other processes cannot read the file until the store is reopened`,
          { path: this.path },
        ),
      );
    const last = this.#st?.getStore.get({ store }) as number | undefined;
    return { lastSeq: last ?? 0 };
  }

  loadBucket(store: string, bucket: string): StoredBucket | undefined {
    this.#ensure();
    const st = this.#st;
    if (st === undefined) return undefined;
    const row = st.bucketRow.get(store, bucket) as
      | { id: number; definition: string | null; counter: number }
      | undefined;
    if (row === undefined) return undefined;
    const { scan, joinedScan, countRows, keyAt } = st;
    const keyOf = (ord: number): string => {
      try {
        return String(keyAt.get(row.id, ord) ?? `at position ${ord}`);
      } catch {
        return `at position ${ord}`;
      }
    };
    const file = this.path;
    let definition: StoredDefinition | undefined;
    try {
      definition = row.definition !== null ? (JSON.parse(row.definition) as StoredDefinition) : undefined;
    } catch (e) {
      throw new StorageCorruptError(
        file,
        `Stored definition of bucket "${bucket}" in "${file}" is damaged (${(e as Error).message})`,
        undefined,
        e,
        { bucket, lost: 'the bucket definition' },
      );
    }
    const damaged = (message: string, lost: string, cause?: unknown) =>
      new StorageCorruptError(
        file,
        `Bucket "${bucket}" in "${file}": ${message}. Restore a backup (quire restore) or repair the file; \`quire check\` lists the damage`,
        undefined,
        cause,
        { bucket, lost },
      );
    const useReader = this.#readerThread;
    const takeReader = () => this.#takeReader();
    const readerDone = (reader: RowReaderThread, midBucket: boolean) => {
      // A bucket left half read (an error, an abandoned iteration) ends the thread; otherwise it serves the next one.
      if (midBucket) {
        if (this.#reader === reader) this.#dropReader();
        else reader.close();
      } else this.#readerIdleLater();
    };
    const readRows = (read: number, after: number, limit: number): Array<[number, string, number | null]> => {
      try {
        return scan.all(row.id, after, limit) as Array<[number, string, number | null]>;
      } catch (e) {
        throw damaged(
          `reading stored rows failed after ${read} rows (${(e as Error).message})`,
          'the rows after the damage',
          e,
        );
      }
    };
    // The rows after `after` as checked JSON array texts, or undefined: read them row by row (readRows).
    const joinedRows = (after: number): RowChunk | undefined => {
      let joined: ReturnType<typeof checkJoinedRows>;
      try {
        const r = joinedScan.get(row.id, after, LOAD_CHUNK_ROWS) as unknown[];
        joined = checkJoinedRows(r, after, crc32, JOINED_PIECE_BYTES);
      } catch {
        return undefined; // readRows reads the same rows and reports what fails
      }
      if (joined === undefined) return undefined;
      return { ords: joined.ords, texts: joinedTexts(joined.bytes, joined.ends), counts: joined.counts };
    };
    const chunks = {
      *[Symbol.iterator](): Generator<StoreRecord[]> {
        let read = 0;
        let bad: string[] | undefined;
        let badCount = 0;
        let after = Number.MIN_SAFE_INTEGER;
        // Past the first chunk, a worker reads and checks the rest while this thread parses (sqlite-reader.ts).
        let reader: RowReaderThread | undefined;
        let readerTried = !useReader;
        let handedOver = false;
        // The chunk read right before handing over, parsed next (see below).
        let ahead: RowChunk | undefined;
        let finished = false;
        let indexed: number | undefined;
        try {
          for (;;) {
            let chunk: RowChunk | undefined = ahead;
            ahead = undefined;
            if (chunk === undefined && handedOver) {
              try {
                chunk = reader!.next();
              } catch (e) {
                throw damaged(
                  `reading stored rows failed after ${read} rows (${(e as Error).message})`,
                  'the rows after the damage',
                  e,
                );
              }
              // The worker failed or stalled: read on here.
              if (chunk === undefined) handedOver = false;
            }
            if (chunk === undefined) {
              chunk = joinedRows(after) ?? checkedChunk(readRows(read, after, LOAD_CHUNK_ROWS), true);
              const { ords } = chunk;
              if (ords.length === LOAD_CHUNK_ROWS && !handedOver) {
                if (!readerTried) {
                  readerTried = true;
                  reader = takeReader();
                }
                if (reader?.ready) {
                  // Read one chunk more before handing over: this thread then parses two chunks while
                  // the worker reads its first, instead of waiting for it.
                  const last = ords[ords.length - 1]!;
                  ahead =
                    joinedRows(last) ??
                    checkedChunk(readRows(read + ords.length, last, LOAD_CHUNK_ROWS), true);
                  const next = ahead.ords;
                  if (next.length === LOAD_CHUNK_ROWS) {
                    reader.go(row.id, next[next.length - 1]!);
                    handedOver = true;
                  }
                }
              }
            }
            const n = chunk.ords.length;
            if (n === 0) {
              indexed = chunk.indexed;
              break;
            }
            let records: StoreRecord[] | undefined;
            if (chunk.texts !== undefined) {
              // Every row passed its checksum: one parse per piece, unless a row is not JSON of one record.
              records = parsePieces(chunk.texts, chunk.counts!, n);
              if (records === undefined) chunk = checkedChunk(readRows(read, after, n), false);
            }
            const { ords } = chunk;
            read += n;
            after = ords[n - 1]!;
            if (records === undefined) {
              const data = chunk.data!;
              let failed: number[] | undefined = chunk.bad === undefined ? undefined : [...chunk.bad];
              const skip = chunk.bad === undefined ? undefined : new Set(chunk.bad);
              records = new Array(n);
              for (let i = 0; i < n; i++) {
                if (skip?.has(i)) continue;
                try {
                  records[i] = JSON.parse(data[i]!);
                } catch {
                  (failed ??= []).push(i);
                }
              }
              if (failed !== undefined && failed.length > 0) {
                // Read on to say exactly what is damaged; nothing more is handed out.
                badCount += failed.length;
                bad ??= [];
                for (const i of failed) {
                  if (bad.length >= 10) break;
                  bad.push(keyOf(ords[i]!));
                }
                continue;
              }
            }
            if (bad === undefined) yield records;
          }
          finished = true;
        } finally {
          if (reader !== undefined) readerDone(reader, handedOver && !finished);
        }
        if (bad !== undefined)
          throw damaged(
            `${badCount} of ${read} stored records fail their checksum (keys ${bad.join(', ')}${badCount > bad.length ? ', …' : ''})`,
            `${badCount} of ${read} records`,
          );
        if (indexed === undefined) {
          try {
            indexed = countRows.get(row.id) as number;
          } catch (e) {
            throw damaged(`counting stored rows failed (${(e as Error).message})`, 'unknown', e);
          }
        }
        if (indexed !== read)
          throw damaged(
            `${read} rows could be read but the key index lists ${indexed}: a damaged page hides rows`,
            `${Math.abs(indexed - read)} of ${Math.max(indexed, read)} records`,
          );
      },
    };
    return {
      definition,
      autoincrement: row.counter,
      chunks,
      records: {
        *[Symbol.iterator]() {
          for (const c of chunks) yield* c;
        },
      },
    };
  }

  /** How many records a stored bucket holds (0 for an unknown bucket), without loading them. */
  recordCount(store: string, bucket: string): number {
    this.#ensure();
    const st = this.#st;
    if (st === undefined) return 0;
    const row = st.bucketRow.get(store, bucket) as { id: number } | undefined;
    if (row === undefined) return 0;
    return this.database
      .prepare('SELECT count(*) FROM quire_records WHERE bucket_id = ?')
      .pluck()
      .get(row.id) as number;
  }

  listBuckets(store: string): string[] {
    this.#ensure();
    return (this.#st?.listBuckets.all(store) as string[] | undefined) ?? [];
  }

  /** A bucket's id for reads (undefined when it is not stored). */
  #id(st: Statements, store: string, bucket: string): number | undefined {
    const k = `${store}\0${bucket}`;
    let id = this.#ids.get(k);
    if (id !== undefined) return id;
    id = st.bucketId.get(store, bucket) as number | undefined;
    if (id !== undefined) this.#ids.set(k, id);
    return id;
  }

  /**
   * Commit a unit. Small units, when nothing is in flight, run here (a thread hop would cost more
   * than it saves); larger ones, and every unit while one is in flight (so order is kept), go to
   * the writer thread and the returned promise settles when it has committed them.
   */
  commit(store: string, unit: CommitUnit): void | Promise<void> {
    if (this.readOnly) throw new ReadOnlyStorageError(this.path);
    this.#ensure();
    const sync = this.#syncOf(store);
    const thread = this.#threadFor(store, unitRows(unit));
    if (thread !== undefined) return this.#commitOnThread(thread, store, unit, sync);
    let outcome: UnitOutcome;
    // A large unit may pass the WAL's hard bound alone: the checkpointer restarts the WAL after it,
    // as it does after the writer thread's units. Only a WAL past the bound already is checkpointed here.
    const large = unitRows(unit) > DIRECT_MAX_ROWS;
    const walBefore = large && this.#checkpointer !== undefined ? this.walBytes() : 0;
    try {
      outcome = this.#writer!.commit(store, packUnit(unit), sync);
    } catch (e) {
      // Cached ids may name rows the rollback removed.
      this.#ids = new Map();
      throw toStorageError('commit', e, this.path);
    }
    this.#committed(store, unit, outcome, false);
    this.#threadForgetsIds(unit);
    // The WAL's size after every large unit, and after every WAL_STAT_EVERY small ones: a small
    // commit adds a few pages, and a stat per commit is a few percent of a strict update.
    if (this.#checkpointer === undefined || this.#backups > 0) return;
    if (!large && ++this.#smallCommits < WAL_STAT_EVERY) return;
    this.#smallCommits = 0;
    this.#afterCommit(this.walBytes(), !large || walBefore > this.#walHardLimit);
  }

  /** Strict and debounced commits fsync the WAL (FULL); 'process' hands them to the OS only. */
  #syncOf(store: string): 'FULL' | 'NORMAL' {
    return this.#durability.get(store) === 'process' ? 'NORMAL' : 'FULL';
  }

  /** The writer thread for a unit of `rows` rows (started on first use), or undefined to commit here. */
  #threadFor(store: string, rows: number): WriterThread | undefined {
    let thread = this.#thread;
    if (thread !== undefined && thread.failure !== undefined) {
      // It stopped (it was told what was in flight): commit here from now on.
      const failure = thread.failure;
      this.#thread = thread = undefined;
      this.#threadOff = true;
      // Died between commits (a death with a unit in flight was reported with that unit).
      if (!this.#threadDeathReported)
        this.#contexts
          .get(store)
          ?.onError(
            new StorageError(
              'commit',
              `SQLite writer thread for "${this.path}" stopped (${failure.message}); commits run on the main thread`,
              { path: this.path, cause: failure },
            ),
          );
    }
    if (thread?.busy === true) return thread;
    if (this.#backups > 0 || this.#threadOff || rows <= DIRECT_MAX_ROWS) return undefined;
    if (!this.#threadForStrict && this.#durability.get(store) === 'strict') return undefined;
    if (thread === undefined) {
      // Started by the first large unit, which commits here meanwhile: a store that only ever
      // writes small units never pays for a thread (starting one costs ~60 ms of CPU).
      this.#startThread();
      return undefined;
    }
    return thread;
  }

  /** The writer thread, started if it is not yet (undefined when it cannot start). */
  #startThread(): WriterThread | undefined {
    let thread = this.#thread;
    if (thread === undefined && !this.#threadOff && !this.readOnly && this.#db !== undefined) {
      const db = this.#db!;
      try {
        this.#thread = thread = new WriterThread(
          {
            file: this.path,
            busyTimeoutMs: this.#busyTimeout,
            cacheSize: CACHE_SIZE,
            autoCheckpoint:
              this.#checkpointer === undefined
                ? (db.pragma('wal_autocheckpoint', { simple: true }) as number)
                : 0,
            journalSizeLimit: this.#checkpointer === undefined ? 0 : this.#walLimit,
            walHardLimit: this.#checkpointer === undefined ? 0 : this.#walHardLimit,
            checkpointState: this.#checkpointState,
          },
          { stallMs: writerStallMs(), onStall: (ms) => this.#threadStalled(ms) },
        );
      } catch {
        this.#threadOff = true;
        return undefined;
      }
    }
    return thread;
  }

  #commitOnThread(thread: WriterThread, store: string, unit: CommitUnit, sync: 'FULL' | 'NORMAL') {
    // The store's stored seq before this unit: tells whether it landed should the thread die with it.
    const before = this.#storedSeq(store);
    return this.#threadCommitted(thread.commit(store, packUnit(unit), sync), store, unit, sync, before);
  }

  /**
   * A large unit in parts, on the writer thread (IncrementalAdapter.openUnit): only once the
   * thread runs and this unit would go to it; undefined otherwise (commit() it whole).
   */
  openUnit(store: string, buckets: readonly BucketWrite[], records: number): UnitStream | undefined {
    if (this.readOnly || this.#thread === undefined) return undefined;
    this.#ensure();
    const thread = this.#threadFor(store, records + buckets.length);
    if (thread === undefined) return undefined;
    const sync = this.#syncOf(store);
    const before = this.#storedSeq(store);
    const { id, done } = thread.begin(store, buckets, sync);
    let ended = false;
    this.#openStreams++;
    const close = () => {
      if (!ended) this.#openStreams--;
      ended = true;
    };
    return {
      add: (writes) => {
        if (!ended) thread.part(id, packRecords(writes));
      },
      end: (unit) => {
        const rest = packUnit(unit, false);
        close();
        thread.end(id, rest);
        this.#streamedUnits++;
        return this.#threadCommitted(done, store, unit, sync, before);
      },
      abort: () => {
        if (!ended) thread.abort(id);
        close();
      },
    };
  }

  /** Book-keeping once the thread answered a unit; a thread that died with it is handled here. */
  async #threadCommitted(
    answer: Promise<ThreadOutcome>,
    store: string,
    unit: CommitUnit,
    sync: 'FULL' | 'NORMAL',
    before: number,
  ): Promise<void> {
    let outcome: ThreadOutcome;
    try {
      outcome = await answer;
    } catch (e) {
      this.#ids = new Map();
      if (e instanceof WriterThreadDiedError && this.#db !== undefined)
        return this.#afterThreadDied(e, store, unit, sync, before);
      throw toStorageError('commit', e, this.path);
    }
    this.#threadCommits++;
    // The adapter may have been closed meanwhile (the commit landed before the thread closed).
    if (this.#db === undefined) return;
    this.#committed(store, unit, outcome, true);
    if (outcome.checkpointError !== undefined) this.#checkpointFailed(outcome.checkpointError);
    this.#afterCommit(outcome.walBytes, false);
  }

  /** The seq storage records for a store (its row, or its newest feed row). */
  #storedSeq(store: string): number {
    return (this.#st?.getStore.get({ store }) as number | undefined) ?? 0;
  }

  /**
   * The writer thread died with this unit posted. Its connection is closed (WriterThread waits for
   * that), so the unit is either committed whole or rolled back: the stored seq tells which. A
   * unit that landed is not applied again (its history rows would be doubled); one that did not is
   * applied here. Either way the death is reported, and later commits run on this thread. Should
   * this commit fail, it goes the way of any failed commit (onError, retried).
   */
  #afterThreadDied(
    died: WriterThreadDiedError,
    store: string,
    unit: CommitUnit,
    sync: 'FULL' | 'NORMAL',
    before: number,
  ): void {
    const packed = packUnit(unit);
    let landed: boolean;
    try {
      const stored = this.#storedSeq(store);
      landed = unit.lastSeq > before && stored >= unit.lastSeq;
    } catch (e) {
      throw toStorageError('commit', e, this.path);
    }
    let outcome: UnitOutcome;
    if (landed) outcome = { seqInFeed: packed.feedLastSeq === unit.lastSeq };
    else {
      try {
        outcome = this.#writer!.commit(store, packed, sync);
      } catch (e) {
        this.#ids = new Map();
        throw toStorageError('commit', e, this.path);
      }
    }
    this.#committed(store, unit, outcome, landed);
    this.#threadDeathReported = true;
    this.#contexts
      .get(store)
      ?.onError(
        new StorageError(
          'commit',
          `SQLite writer thread for "${this.path}" stopped (${(died.cause as Error).message}); its last unit ${landed ? 'was committed before it stopped' : 'was rolled back and has been committed on the main thread'}; later commits run on the main thread`,
          { path: this.path, cause: died },
        ),
      );
    this.#afterCommit(this.walBytes(), true);
  }

  /** Book-keeping after a commit on either connection. */
  #committed(store: string, unit: CommitUnit, outcome: UnitOutcome, onThread: boolean): void {
    if (outcome.seqInFeed) this.#seqInFeed.set(store, unit.lastSeq);
    else this.#seqInFeed.delete(store);
    // A dropped bucket's name may get a new id: cached ids of the other connection are stale.
    if (onThread && unit.buckets.some((b) => b.drop === true)) {
      this.#ids = new Map();
      this.#writer?.forgetIds();
    }
  }

  /** A unit committed here dropped a bucket: the thread forgets its cached ids before its next commit. */
  #threadForgetsIds(unit: CommitUnit): void {
    if (unit.buckets.some((b) => b.drop === true)) {
      this.#ids = new Map();
      this.#thread?.forgetIds();
    }
  }

  /** A commit has waited long for the writer thread: said once per commit; it still waits. */
  #threadStalled(waitedMs: number): void {
    this.#reportForFile(
      new StorageError(
        'commit',
        `SQLite writer thread for "${this.path}" has not finished a commit in ${(waitedMs / 1000).toFixed(1)} s; commits wait for it (a disk or file system that stopped answering?)`,
        { path: this.path },
      ),
    );
  }

  #checkpointFailed(e: unknown): void {
    // The commit itself succeeded; the next one tries again.
    this.#reportForFile(toStorageError('checkpoint', e, this.path));
  }

  /** Something about the file, not one store's commit: told to the first store using it. */
  #reportForFile(e: StorageError): void {
    this.#contexts.values().next().value?.onError(e);
  }

  /**
   * Keep the WAL bounded: ask the checkpointer past the limit; past four times that, checkpoint
   * here when `here` (this thread committed, and the WAL was past that before a large unit).
   */
  #afterCommit(wal: number, here: boolean): void {
    const worker = this.#checkpointer;
    if (worker === undefined || this.#backups > 0) return;
    if (here && wal > this.#walHardLimit) {
      // The worker's checkpoints do not keep up: checkpoint here, blocking this writer until done.
      // A checkpoint the worker is running holds SQLite's checkpoint lock: wait for it first.
      try {
        if (this.#checkpointBusy) Atomics.wait(this.#checkpointState, 0, 1, CLOSE_WAIT_MS);
        this.#db!.pragma('wal_checkpoint(TRUNCATE)');
      } catch (e) {
        this.#checkpointFailed(e);
      }
    } else if (wal > this.#walLimit && !this.#checkpointBusy) {
      this.#checkpointBusy = true;
      Atomics.store(this.#checkpointState, 0, 1);
      worker.postMessage('checkpoint');
    }
  }

  /** At close: the seqs only feed rows recorded go to the stores' rows (the feed alone would do; this is tidier). */
  #storeSeqs(store: string | undefined): void {
    const st = this.#st;
    if (st === undefined || this.#seqInFeed.size === 0) return;
    for (const [name, seq] of this.#seqInFeed) {
      if (store !== undefined && name !== store) continue;
      this.#seqInFeed.delete(name);
      try {
        st.setStore.run(name, seq);
      } catch {
        /* the feed row still records it */
      }
    }
  }

  /**
   * After the worker's checkpoint: copy the frames committed while it ran, so the checkpoint is
   * complete and the next commit starts the WAL over instead of appending to it forever.
   */
  #catchUp(): void {
    const db = this.#db;
    if (db === undefined || this.#backups > 0) return;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      /* busy (a reader or another checkpoint): the size limits still apply */
    }
  }

  readHistory(store: string, bucket: string, key: string, f: HistoryFilter): HistoryWrite[] {
    this.#ensure();
    const st = this.#st;
    if (st === undefined) return [];
    const id = this.#id(st, store, bucket);
    if (id === undefined) return [];
    const rows = st.readHistory.iterate({
      id,
      key,
      since: Number.isFinite(f.since) ? f.since : Number.MIN_SAFE_INTEGER,
      until: Number.isFinite(f.until) ? f.until : Number.MAX_SAFE_INTEGER,
      version: f.version ?? null,
    }) as IterableIterator<StoredHistoryRow>;
    const out: HistoryWrite[] = [];
    for (const r of rows) {
      if (r.packed === null) {
        out.push({
          bucket,
          key: r.key,
          seq: r.seq,
          version: r.version,
          op: r.op,
          at: r.at,
          actor: r.actor,
          data: r.data,
        });
      } else {
        const versions = unpackHistory(this.path, bucket, r);
        for (let i = versions.length - 1; i >= 0 && out.length < f.limit; i--) {
          const v = versions[i]!;
          if (v.at >= f.since && v.at <= f.until && (f.version === undefined || v.version === f.version))
            out.push(v);
        }
      }
      if (out.length >= f.limit) break;
    }
    return out;
  }

  /** Every stored history and feed row of a store (copying a store to another database). */
  dumpLog(store: string): { history: HistoryWrite[]; feed: FeedWrite[] } {
    const db = this.#ensure();
    if (this.#st === undefined) return { history: [], feed: [] };
    const rows = db
      .prepare(
        `SELECT b.name AS bucket, h.key, h.seq, h.version, h.op, h.at, h.actor, h.data, h.packed
         FROM quire_history h JOIN quire_buckets b ON b.id = h.bucket_id WHERE b.store = ? ORDER BY h.seq`,
      )
      .all(store) as Array<StoredHistoryRow & { bucket: string }>;
    let history: HistoryWrite[] = [];
    let unpacked = false;
    for (const r of rows) {
      if (r.packed === null) {
        const { packed: _, ...row } = r;
        history.push(row);
      } else {
        unpacked = true;
        for (const v of unpackHistory(this.path, r.bucket, r)) history.push(v);
      }
    }
    // A packed row sits at its newest version's seq: put its older versions back in order.
    if (unpacked) history = history.sort((x, y) => x.seq - y.seq);
    const feed = this.#feedRows(this.#st, store, 0, Number.POSITIVE_INFINITY);
    return { history, feed };
  }

  readChanges(store: string, since: number, limit: number): FeedWrite[] {
    this.#ensure();
    const st = this.#st;
    if (st === undefined) return [];
    return this.#feedRows(st, store, since, limit);
  }

  /** A store's stored feed entries with `seq > since`, oldest first, at most `limit`. */
  #feedRows(st: Statements, store: string, since: number, limit: number): FeedWrite[] {
    const slot = st.feedSlot.get(store) as number | null | undefined;
    if (slot === undefined || slot === null || !(limit > 0)) return [];
    const base = BigInt(slot) * FEED_SLOT_SIZE;
    // Packed rows are read whole from the first whose (newest) seq is past `since`.
    const from = Number.isFinite(since)
      ? Math.min(Math.max(Math.floor(since), 0), 2 ** 47 - 1)
      : since > 0
        ? 2 ** 47 - 1
        : 0;
    const rows = st.readFeed.iterate(base + BigInt(from), base + FEED_SLOT_SIZE - 1n);
    return readFeedRows(
      this.path,
      rows as IterableIterator<FeedWrite & { packed: string | null }>,
      since,
      limit,
    );
  }

  /**
   * Online backup (P-9): copy the database to `target` with SQLite's backup
   * API, `pagesPerStep` pages at a time, yielding to the event loop between
   * steps so commits go on meanwhile (they are included: the copy is
   * consistent as of its end). Written to a temporary file, then renamed.
   */
  async backupTo(
    target: string,
    options: {
      pagesPerStep?: number;
      onProgress?: (p: { totalPages: number; remainingPages: number }) => void;
    } = {},
  ): Promise<{ path: string; totalPages: number; bytes: number }> {
    const db = this.#ensure();
    const step = options.pagesPerStep ?? 1000;
    const tmp = `${target}.tmp-${process.pid}`;
    // Not path.resolve: it folds `..` as text, wrong after a symlink such as /proc/self/cwd.
    ensureDir(path.dirname(target));
    fs.rmSync(tmp, { force: true });
    // Checkpoints by the worker's connection would make SQLite restart the copy.
    this.#backups++;
    let total = 0;
    try {
      const r = await db.backup(tmp, {
        progress: (p) => {
          options.onProgress?.(p);
          return step;
        },
      });
      total = r.totalPages;
      // The copy keeps the source's WAL mode in its header; make it a single self-contained file.
      const copy = new Database(tmp);
      try {
        copy.pragma('journal_mode = DELETE');
      } finally {
        copy.close();
      }
      fs.renameSync(tmp, target);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw toStorageError('backup', e, target);
    } finally {
      this.#backups--;
    }
    return { path: target, totalPages: total, bytes: fs.statSync(target).size };
  }

  /** Checkpoint the WAL into the database file (TRUNCATE: the WAL file is emptied). */
  checkpoint(mode: 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE' = 'TRUNCATE'): void {
    if (this.readOnly) return;
    const db = this.#ensure();
    try {
      // A unit sent in parts holds the write lock until this thread sends its last part: a blocking
      // checkpoint here would wait for it in vain (busy timeout). Copy what is committed instead.
      db.pragma(`wal_checkpoint(${this.#openStreams > 0 ? 'PASSIVE' : mode})`);
    } catch (e) {
      throw toStorageError('checkpoint', e, this.path);
    }
  }

  /** `PRAGMA integrity_check`: 'ok' or the problems found. */
  integrityCheck(): string {
    const rows = this.#ensure().pragma('integrity_check', { simple: false }) as Array<{
      integrity_check: string;
    }>;
    return rows.map((r) => r.integrity_check).join('\n');
  }

  /** Bytes in the -wal file (0 when there is none: in memory, or checkpointed and removed). */
  walBytes(): number {
    if (this.path === ':memory:') return 0;
    try {
      return fs.statSync(`${this.path}-wal`).size;
    } catch {
      return 0;
    }
  }

  ownFiles(): OwnFiles {
    const p = this.path;
    return { files: [p, `${p}-wal`, `${p}-shm`, `${p}-journal`, `${p}.lock`, `${p}.lock.os`], dirs: [] };
  }

  close(store?: string): void {
    if (store !== undefined) {
      this.#stores.delete(store);
      this.#durability.delete(store);
      this.#contexts.delete(store);
      if (this.#stores.size > 0) {
        this.#storeSeqs(store);
        return;
      }
    }
    // The reader thread's connection closes before this one, which is then the last.
    this.#dropReader();
    // The thread finishes what it was sent and closes its connection before this one closes.
    const thread = this.#thread;
    this.#thread = undefined;
    thread?.close();
    this.#storeSeqs(store);
    const db = this.#db;
    this.#db = undefined;
    this.#st = undefined;
    this.#writer = undefined;
    this.#ids = new Map();
    const worker = this.#checkpointer;
    if (worker !== undefined) {
      // Let a running checkpoint finish (its connection closes when it is done): the close below is
      // then the last connection, which checkpoints and removes the -wal and -shm files.
      Atomics.wait(this.#checkpointState, 0, 1, CLOSE_WAIT_MS);
      void worker.terminate();
    }
    this.#checkpointer = undefined;
    this.#checkpointBusy = false;
    try {
      db?.close();
    } finally {
      this.#lock?.release();
      this.#lock = undefined;
    }
  }

  // ── noex snapshot shape (key/value area; bucket keys show the incremental data) ──

  async save(key: string, data: PersistedState): Promise<void> {
    if (this.readOnly) throw new ReadOnlyStorageError(this.path);
    const db = this.#ensure();
    db.prepare('INSERT OR REPLACE INTO quire_kv (key, value) VALUES (?, ?)').run(key, JSON.stringify(data));
  }

  async load<T = unknown>(key: string): Promise<PersistedState<T> | undefined> {
    const db = this.#ensure();
    if (this.#st === undefined) return undefined;
    const v = db.prepare('SELECT value FROM quire_kv WHERE key = ?').pluck().get(key) as string | undefined;
    if (v !== undefined) return JSON.parse(v) as PersistedState<T>;
    const bk = parseBucketKey(key);
    if (bk === undefined) return undefined;
    return snapshotView(bk.store, this.loadBucket(bk.store, bk.bucket)) as PersistedState<T> | undefined;
  }

  async delete(key: string): Promise<boolean> {
    if (this.readOnly) throw new ReadOnlyStorageError(this.path);
    const db = this.#ensure();
    return db.prepare('DELETE FROM quire_kv WHERE key = ?').run(key).changes > 0;
  }

  async exists(key: string): Promise<boolean> {
    return (await this.load(key)) !== undefined;
  }

  async listKeys(prefix = ''): Promise<string[]> {
    const db = this.#ensure();
    if (this.#st === undefined) return [];
    const kv = db.prepare('SELECT key FROM quire_kv').pluck().all() as string[];
    const buckets = db.prepare('SELECT store, name FROM quire_buckets').all() as Array<{
      store: string;
      name: string;
    }>;
    const keys = new Set([...kv, ...buckets.map((b) => bucketKey(b.store, b.name))]);
    return [...keys].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** SQLite's page cache per connection (KiB when negative): room for the pages a large flush dirties. */
const CACHE_SIZE = -65536;

/** What SQLite reports when it cannot create or size the -shm file. */
const SHM_FAILURES = new Set(['SQLITE_IOERR_SHMSIZE', 'SQLITE_IOERR_SHMOPEN', 'SQLITE_IOERR_SHMMAP']);

/** Units of at most this many rows commit on the main thread when nothing is in flight. */
const DIRECT_MAX_ROWS = 8;

/** Small units committed on the main thread between two looks at the WAL's size. */
const WAL_STAT_EVERY = 16;

/** Rows a unit writes (records, history and feed rows). */
function unitRows(unit: CommitUnit): number {
  const history = queuedHistoryOf(unit)?.length ?? unit.history?.length ?? 0;
  return unit.records.length + history + (unit.feed?.length ?? 0) + unit.buckets.length;
}

/** How long a commit may wait for the writer thread before that is reported (tests shorten it). */
function writerStallMs(): number {
  const ms = Number(process.env.QUIRE_TEST_WRITER_STALL_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 30_000;
}

/** Rows a restore reads, checks and parses at a time. */
const LOAD_CHUNK_ROWS = 4096;

/** A file at least this large (with its WAL) may hold a bucket of more than one chunk: opening it starts the reader thread. */
const READER_EARLY_BYTES = 1 << 20;

/** The reader thread ends when no restore has used it for this long (ms). */
const READER_IDLE_MS = 2_000;

/** Rows read on this thread, as a RowChunk with their checksums checked (`join`: as one JSON array text when all pass). */
function checkedChunk(rows: ReadonlyArray<[number, string, number | null]>, join: boolean): RowChunk {
  const n = rows.length;
  const ords = new Array<number>(n);
  const data = new Array<string>(n);
  let bad: number[] | undefined;
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    ords[i] = r[0];
    data[i] = r[1];
    if (r[2] !== crc32(r[1])) (bad ??= []).push(i);
  }
  // As the reader thread sends them: one parse of a JSON array is cheaper than one per row.
  if (join && bad === undefined && n > 0) return { ords, texts: [`[${data.join(',')}]`], counts: [n] };
  return { ords, data, bad };
}

/**
 * The records of a chunk's JSON array texts (holding `counts` rows each, `n`
 * in all), or undefined when one does not parse or holds another count.
 */
function parsePieces(
  texts: readonly string[],
  counts: readonly number[],
  n: number,
): StoreRecord[] | undefined {
  try {
    if (texts.length === 1) {
      const all: unknown = JSON.parse(texts[0]!);
      return Array.isArray(all) && all.length === n && counts[0] === n ? (all as StoreRecord[]) : undefined;
    }
    const records = new Array<StoreRecord>(n);
    let at = 0;
    for (let i = 0; i < texts.length; i++) {
      const piece: unknown = JSON.parse(texts[i]!);
      if (!Array.isArray(piece) || piece.length !== counts[i] || at + piece.length > n) return undefined;
      for (let j = 0; j < piece.length; j++) records[at++] = piece[j] as StoreRecord;
    }
    return at === n ? records : undefined;
  } catch {
    return undefined; // read the same rows one by one, to say which is damaged
  }
}

/** True when `file` holds no data: it does not exist (or a parent is not a directory), or is empty. */
function storedNothing(file: string): boolean {
  try {
    return fs.statSync(file).size === 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}

const betterSqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');

/** better-sqlite3's compiled addon where its build puts it, if it is there (the reader thread loads it by path). */
const betterSqliteAddon = ((): string | undefined => {
  const addon = path.join(path.dirname(betterSqlitePath), '..', 'build', 'Release', 'better_sqlite3.node');
  return fs.existsSync(addon) ? addon : undefined;
})();

/** Passes the checkpointer runs at most per request; it stops after one that copied at most CATCH_UP_FRAMES. */
const CHECKPOINT_PASSES = 3;
const CATCH_UP_FRAMES = 32;

/** How long close() waits for a running worker checkpoint (ms). */
const CLOSE_WAIT_MS = 10_000;

/**
 * A worker thread that runs a PASSIVE checkpoint on request, on a connection of its own that is
 * open only while it runs. `state[0]` is set to 1 by the requester and back to 0 (with a notify)
 * once the checkpoint is over and its connection closed.
 */
function startCheckpointer(file: string, state: Int32Array): Checkpointer | undefined {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const Database = require(workerData.lib);
    const state = workerData.state;
    parentPort.on('message', () => {
      let db;
      try {
        db = new Database(workerData.file, { fileMustExist: true });
        db.pragma('busy_timeout = 1000');
        // Passes again while many frames were committed during the last one (each pass is shorter):
        // the writer's catch-up after this then copies and syncs a few frames, not hundreds.
        let copied = 0;
        for (let pass = 0; pass < ${CHECKPOINT_PASSES}; pass++) {
          const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
          // r.log: the frames in the WAL as this pass began; those past \`copied\` came during the last pass.
          const arrived = r.log - copied;
          copied = r.log;
          if (r.busy !== 0 || r.checkpointed < r.log || (pass > 0 && arrived <= ${CATCH_UP_FRAMES})) break;
        }
      } catch {}
      try { db?.close(); } catch {}
      Atomics.store(state, 0, 0);
      Atomics.notify(state, 0);
      parentPort.postMessage('done');
    });
  `;
  return new Checkpointer(
    () =>
      new Worker(code, {
        eval: true,
        workerData: { file: path.resolve(file), lib: betterSqlitePath, state },
        // Plain CommonJS: no loaders of the main thread (they would only slow its start).
        execArgv: [],
      }),
    state,
  );
}

/**
 * The checkpointer's worker, started at the first checkpoint asked of it:
 * opening a store (and restoring its buckets, which writes nothing) does not
 * share the CPU with its start. A worker that cannot start is reported as
 * the worker's 'error'.
 */
class Checkpointer {
  #worker: Worker | undefined;
  #ended = false;
  readonly #listeners: Array<['message' | 'error', (value: unknown) => void]> = [];

  constructor(
    readonly start: () => Worker,
    readonly state: Int32Array,
  ) {}

  on(event: 'message' | 'error', listener: (value: unknown) => void): void {
    this.#listeners.push([event, listener]);
    this.#worker?.on(event, listener);
  }

  unref(): void {
    this.#worker?.unref();
  }

  postMessage(message: string): void {
    if (this.#ended) return;
    if (this.#worker === undefined) {
      try {
        this.#worker = this.start();
      } catch (e) {
        this.#ended = true;
        Atomics.store(this.state, 0, 0);
        Atomics.notify(this.state, 0);
        for (const [event, listener] of this.#listeners) if (event === 'error') listener(e);
        return;
      }
      for (const [event, listener] of this.#listeners) this.#worker.on(event, listener);
      // Listening re-refs the worker's port: unref after, so it never keeps a process alive.
      this.#worker.unref();
    }
    this.#worker.postMessage(message);
  }

  terminate(): void {
    this.#ended = true;
    void this.#worker?.terminate();
  }
}
