// How SQLiteAdapter writes a CommitUnit, and the thread that does it off the
// main thread.
//
// better-sqlite3 is synchronous: a commit's statements and its fsync block
// the thread that runs them. `UnitWriter` applies one unit in one immediate
// transaction on the connection it is given. The adapter runs one on its own
// connection (small units when nothing is in flight: no thread hop) and one
// in a worker thread on a second connection (`WriterThread`), so that large
// units and the fsyncs of busy stores run while the main thread goes on
// staging writes (the commit queue folds them into the next unit).
//
// The worker is started from source text (`eval`): UnitWriter and
// MultiRowInsert are self-contained classes (they use nothing of this module
// but each other and log-rows.ts's historyRows, itself self-contained), so
// their own source runs in the worker, with no build step and no loader. The
// commit queue keeps at most one unit in flight, and the adapter sends a unit
// to the thread whenever one is there already, so units commit in order
// whichever connection runs them.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { feedRows, HISTORY_VERSIONS_PER_ROW, historyRows } from './log-rows.js';
import { type HistoryColumns, QueuedHistory, queuedHistoryOf } from './queued-history.js';
import { firstAbove } from './retention.js';
import type { CommitUnit } from './types.js';

/**
 * An INSERT of many rows per statement: rows are collected and run
 * `rows` at a time (the rest in power-of-two runs), which saves a
 * statement run per row. The statements are prepared on first use.
 */
export class MultiRowInsert {
  /** Rows per full statement. (No static members here or in UnitWriter: see workerSource.) */
  readonly rows = 64;
  readonly #db: Database.Database;
  readonly #sql: (rows: number) => string;
  readonly #width: number;
  #many: Database.Statement | undefined;
  /** Statements for fewer rows than ROWS, by row count (powers of two). */
  readonly #fewer = new Map<number, Database.Statement>();
  #params: unknown[] = [];

  constructor(db: Database.Database, head: string, width: number, tail = '') {
    this.#db = db;
    this.#width = width;
    const tuple = `(${Array.from({ length: width }, () => '?').join(', ')})`;
    this.#sql = (rows) => `${head} ${Array.from({ length: rows }, () => tuple).join(', ')} ${tail}`;
  }

  start(): this {
    this.#params.length = 0;
    return this;
  }

  add(...values: unknown[]): void {
    const p = this.#params;
    for (let i = 0; i < values.length; i++) p.push(values[i]);
    this.#runFull();
  }

  /** A row of `first`, `second`, then `count` values of `values` from `at`. */
  addAfter(first: unknown, second: unknown, values: readonly unknown[], at: number, count: number): void {
    const p = this.#params;
    p.push(first, second);
    for (let i = at; i < at + count; i++) p.push(values[i]);
    this.#runFull();
  }

  #runFull(): void {
    const p = this.#params;
    if (p.length === this.rows * this.#width) {
      this.#many ??= this.#db.prepare(this.#sql(this.rows));
      this.#many.run(p);
      p.length = 0;
    }
  }

  end(): void {
    const p = this.#params;
    if (p.length === 0) return;
    // The rest in runs of 32, 16, …, 1 rows: at most six statements (a strict commit of 32 changes is one).
    const w = this.#width;
    let at = 0;
    for (let rows = this.rows >> 1; rows >= 1; rows >>= 1) {
      if ((p.length - at) / w < rows) continue;
      let st = this.#fewer.get(rows);
      if (st === undefined) this.#fewer.set(rows, (st = this.#db.prepare(this.#sql(rows))));
      st.run(at === 0 && p.length === rows * w ? p : p.slice(at, at + rows * w));
      at += rows * w;
    }
    p.length = 0;
  }
}

/** What a commit tells the adapter. */
export interface UnitOutcome {
  /** The unit's last seq is recorded by its last feed row only (the store row is written at close). */
  readonly seqInFeed: boolean;
}

/**
 * Applies CommitUnits on one connection, each in one immediate transaction.
 * Self-contained (see above): it refers to nothing of this module but
 * MultiRowInsert, and gets the checksum function and log-rows.ts's
 * historyRows handed in.
 */
export class UnitWriter {
  readonly db: Database.Database;
  readonly #crc: (data: string) => number;
  readonly #historyRows: typeof historyRows;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  #ids = new Map<string, number>();
  /**
   * Where each record's row is (its ord), by bucket id then key, learnt from the rows this
   * connection wrote: an update then finds its row by primary key instead of through the key
   * index (half the B-tree work). Only a hint: the update also matches the key, and a row that is
   * not where the hint says is looked up by key. At most limits.ordHints entries (about 90 B each).
   */
  #ords = new Map<number, Map<string, number>>();
  #ordCount = 0;
  /** Buckets whose every row's ord was read in one scan (a unit with many unknown rows does it). */
  #scanned = new Set<number>();
  /**
   * Positions of inserted rows not yet in #ords, by bucket id: [key, ord, key, ord, …]. They go
   * into the map when a later unit updates or deletes in that bucket, so a bulk load pays two
   * array slots a row, and a store that is only loaded never builds the map.
   */
  #inserted = new Map<number, unknown[]>();
  #insertedCount = 0;
  /**
   * ordHints: row positions kept at most; learnFrom: records in a unit from which the positions of
   * its inserts are kept; scanAfter: updates through the key index in one unit after which the
   * bucket's positions are read in one scan; batchRows: known updates per statement.
   */
  readonly limits = { ordHints: 262_144, learnFrom: 256, scanAfter: 1_024, batchRows: 64 } as const;
  /** Unit updates whose ord is known: [ord, index into the unit's records, bucket id], sorted before they run. */
  #known: number[] = [];
  /** Parameters of one statement of known updates. */
  #batch: unknown[] = [];
  #updateAtMany: Database.Statement | undefined;
  /** Each store's first feed row id (its slot past the seq bits: sqlite-adapter.ts). */
  #feedBase = new Map<string, bigint>();
  #synchronous = '';
  readonly #st: {
    setStore: Database.Statement;
    bucketId: Database.Statement;
    insertBucket: Database.Statement;
    setDefinition: Database.Statement;
    setCounter: Database.Statement;
    deleteBucket: Database.Statement;
    clearRecords: Database.Statement;
    deleteRecord: Database.Statement;
    updateRecord: Database.Statement;
    updateAt: Database.Statement;
    keysAndOrds: Database.Statement;
    keepVersions: Database.Statement;
    keepKeyAge: Database.Statement;
    keepAge: Database.Statement;
    dropHistory: Database.Statement;
    pruneFeed: Database.Statement;
    feedSlot: Database.Statement;
    newFeedSlot: Database.Statement;
    insertRows: MultiRowInsert;
    upsertRows: MultiRowInsert;
    historyRows: MultiRowInsert;
    packedHistoryRows: MultiRowInsert;
    feedRows: MultiRowInsert;
    packedFeedRows: MultiRowInsert;
  };

  constructor(db: Database.Database, crc: (data: string) => number, rows: typeof historyRows) {
    this.db = db;
    this.#crc = crc;
    this.#historyRows = rows;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#st = {
      setStore: db.prepare(
        'INSERT INTO quire_stores (name, last_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq',
      ),
      bucketId: db.prepare('SELECT id FROM quire_buckets WHERE store = ? AND name = ?').pluck(),
      insertBucket: db.prepare('INSERT INTO quire_buckets (store, name) VALUES (?, ?)'),
      setDefinition: db.prepare('UPDATE quire_buckets SET definition = ? WHERE id = ?'),
      setCounter: db.prepare('UPDATE quire_buckets SET counter = ? WHERE id = ?'),
      deleteBucket: db.prepare('DELETE FROM quire_buckets WHERE id = ?'),
      clearRecords: db.prepare('DELETE FROM quire_records WHERE bucket_id = ?'),
      deleteRecord: db.prepare('DELETE FROM quire_records WHERE bucket_id = ? AND key = ?'),
      // One row per run, but cheaper than a multi-row upsert (no insert attempt and conflict per row).
      updateRecord: db
        .prepare(
          'UPDATE quire_records SET seq = ?, version = ?, data = ?, crc = ? WHERE bucket_id = ? AND key = ? RETURNING ord',
        )
        .pluck(),
      keysAndOrds: db
        .prepare('SELECT key, ord FROM quire_records INDEXED BY quire_records_key WHERE bucket_id = ?')
        .raw(),
      updateAt: db.prepare(
        'UPDATE quire_records SET seq = ?, version = ?, data = ?, crc = ? WHERE bucket_id = ? AND ord = ? AND key = ?',
      ),
      // Rows older than the newest row that completes `keep` versions (a packed row counts its versions).
      keepVersions: db.prepare(
        `DELETE FROM quire_history WHERE bucket_id = @id AND key = @key AND seq < (
           SELECT seq FROM (
             SELECT seq, sum(coalesce(versions, 1)) OVER (ORDER BY seq DESC) AS n
             FROM quire_history INDEXED BY quire_history_key WHERE bucket_id = @id AND key = @key)
           WHERE n >= @keep ORDER BY seq DESC LIMIT 1)`,
      ),
      keepKeyAge: db.prepare('DELETE FROM quire_history WHERE bucket_id = ? AND key = ? AND at < ?'),
      keepAge: db.prepare('DELETE FROM quire_history WHERE bucket_id = ? AND at < ?'),
      dropHistory: db.prepare('DELETE FROM quire_history WHERE bucket_id = ?'),
      pruneFeed: db.prepare('DELETE FROM quire_feed WHERE id > ? AND id <= ?'),
      feedSlot: db.prepare('SELECT feed_slot FROM quire_stores WHERE name = ?').pluck(),
      // The next free slot; a store without a row gets one (last_seq 0: its seq is in its feed rows).
      newFeedSlot: db.prepare(
        `INSERT INTO quire_stores (name, last_seq, feed_slot)
         VALUES (?, 0, (SELECT coalesce(max(feed_slot), 0) + 1 FROM quire_stores))
         ON CONFLICT (name) DO UPDATE SET feed_slot = excluded.feed_slot`,
      ),
      insertRows: new MultiRowInsert(
        db,
        'INSERT OR REPLACE INTO quire_records (bucket_id, ord, key, seq, version, data, crc) VALUES',
        7,
      ),
      // Updates keep the row's place (ord); a record missing from storage is inserted at `ord`
      // (the update statement found no row).
      upsertRows: new MultiRowInsert(
        db,
        'INSERT INTO quire_records (bucket_id, ord, key, seq, version, data, crc) VALUES',
        7,
        'ON CONFLICT (bucket_id, key) DO UPDATE SET seq = excluded.seq, version = excluded.version, data = excluded.data, crc = excluded.crc',
      ),
      historyRows: new MultiRowInsert(
        db,
        'INSERT INTO quire_history (bucket_id, key, seq, version, op, at, actor, data) VALUES',
        8,
      ),
      packedHistoryRows: new MultiRowInsert(
        db,
        'INSERT INTO quire_history (bucket_id, key, seq, version, op, at, actor, data, packed, first_at, versions) VALUES',
        11,
      ),
      feedRows: new MultiRowInsert(
        db,
        'INSERT OR REPLACE INTO quire_feed (id, store, seq, bucket, key, op, version, at, actor) VALUES',
        9,
      ),
      packedFeedRows: new MultiRowInsert(
        db,
        'INSERT OR REPLACE INTO quire_feed (id, store, seq, bucket, key, op, version, at, actor, packed) VALUES',
        10,
      ),
    };
  }

  /** Row positions in the map, and those of inserted rows kept for it (for tests and diagnostics). */
  get positions(): { known: number; kept: number } {
    return { known: this.#ordCount, kept: this.#insertedCount };
  }

  /** Forget cached bucket ids (another connection dropped a bucket: its name may get a new id). */
  forgetIds(): void {
    this.#ids = new Map();
    this.#forgetOrds();
  }

  #forgetOrds(): void {
    this.#ords = new Map();
    this.#ordCount = 0;
    this.#scanned = new Set();
    this.#inserted = new Map();
    this.#insertedCount = 0;
  }

  /** The positions of a bucket's inserted rows kept for later (at most limits.ordHints in all). */
  #insertedOf(id: number): unknown[] | undefined {
    if (this.#ordCount + this.#insertedCount >= this.limits.ordHints) return undefined;
    let list = this.#inserted.get(id);
    if (list === undefined) this.#inserted.set(id, (list = []));
    return list;
  }

  /** Put the positions of the bucket's inserted rows into its map (before an update or delete uses it). */
  #learnInserted(id: number, ords: Map<string, number>): void {
    const list = this.#inserted.get(id);
    if (list === undefined) return;
    this.#inserted.delete(id);
    this.#insertedCount -= list.length / 2;
    for (let i = 0; i < list.length; i += 2) this.#learnOrd(ords, list[i] as string, list[i + 1] as number);
  }

  /** Learn where every row of a bucket is, in one pass over its key index (it holds the ord). */
  #scanOrds(id: number, ords: Map<string, number>): void {
    this.#scanned.add(id);
    for (const row of this.#st.keysAndOrds.iterate(id) as Iterable<[string, number]>) {
      if (this.#ordCount >= this.limits.ordHints) break;
      this.#learnOrd(ords, row[0], row[1]);
    }
  }

  #ordsOf(id: number): Map<string, number> {
    let m = this.#ords.get(id);
    if (m === undefined) this.#ords.set(id, (m = new Map()));
    return m;
  }

  #learnOrd(ords: Map<string, number>, key: string, ord: number): void {
    if (this.#ordCount >= this.limits.ordHints) return;
    const size = ords.size;
    ords.set(key, ord);
    this.#ordCount += ords.size - size;
  }

  #id(store: string, bucket: string, create: boolean): number | undefined {
    const k = `${store}\0${bucket}`;
    let id = this.#ids.get(k);
    if (id !== undefined) return id;
    id = this.#st.bucketId.get(store, bucket) as number | undefined;
    if (id === undefined && create) id = Number(this.#st.insertBucket.run(store, bucket).lastInsertRowid);
    if (id !== undefined) this.#ids.set(k, id);
    return id;
  }

  /** Apply a unit in one immediate transaction, at `synchronous` FULL (fsync) or NORMAL. Throws, changing nothing. */
  commit(store: string, unit: PackedUnit, sync: 'FULL' | 'NORMAL'): UnitOutcome {
    this.begin(sync);
    this.applyPart(store, unit.buckets, unit.records);
    return this.finish(store, unit);
  }

  /**
   * Open a unit's transaction (BEGIN IMMEDIATE) at `synchronous` FULL or NORMAL; its writes follow
   * in applyPart() calls and finish() commits it. Throws, changing nothing.
   */
  begin(sync: 'FULL' | 'NORMAL'): void {
    if (sync !== this.#synchronous) {
      this.db.pragma(`synchronous = ${sync}`);
      this.#synchronous = sync;
    }
    try {
      this.#begin.run();
    } catch (e) {
      this.#forgetCaches();
      throw e;
    }
  }

  /** Bucket operations (before any record of the unit) and records (7 values each) of the open unit. Throws after rolling it back. */
  applyPart(store: string, buckets: PackedUnit['buckets'], records: unknown[]): void {
    try {
      if (buckets.length > 0) this.#applyBuckets(store, buckets);
      if (records.length > 0) this.#applyRecords(store, records);
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** The unit's history and feed rows and stored seq, then COMMIT (its records went in applyPart). Throws after rolling back. */
  finish(store: string, unit: PackedUnit): UnitOutcome {
    let seqInFeed: boolean;
    try {
      seqInFeed = this.#applyLog(store, unit);
      this.#commit.run();
    } catch (e) {
      this.abort();
      throw e;
    }
    return { seqInFeed };
  }

  /** Roll the open unit back, if one is open. */
  abort(): void {
    try {
      if (this.db.inTransaction) this.#rollback.run();
    } finally {
      // Cached ids, feed slots and ords may name rows the rollback removed.
      this.#forgetCaches();
    }
  }

  #forgetCaches(): void {
    this.#ids = new Map();
    this.#feedBase = new Map();
    this.#forgetOrds();
  }

  #applyBuckets(store: string, buckets: PackedUnit['buckets']): void {
    const st = this.#st;
    for (const b of buckets) {
      if (b.drop === true || b.clear === true) {
        const id = this.#id(store, b.bucket, false);
        if (id !== undefined) {
          st.clearRecords.run(id);
          this.#ordCount -= this.#ords.get(id)?.size ?? 0;
          this.#ords.delete(id);
          this.#scanned.delete(id);
          this.#insertedCount -= (this.#inserted.get(id)?.length ?? 0) / 2;
          this.#inserted.delete(id);
          if (b.drop === true) {
            st.dropHistory.run(id);
            st.deleteBucket.run(id);
            this.#ids.delete(`${store}\0${b.bucket}`);
          }
        }
      }
      if (b.definition !== undefined || b.autoincrement !== undefined) {
        const id = this.#id(store, b.bucket, true)!;
        if (b.definition !== undefined) st.setDefinition.run(JSON.stringify(b.definition), id);
        if (b.autoincrement !== undefined) st.setCounter.run(b.autoincrement, id);
      }
    }
  }

  /** Records, 7 values each (PackedUnit.records). */
  #applyRecords(store: string, r: unknown[]): void {
    const st = this.#st;
    let lastBucket = '';
    let id = 0;
    let ords = new Map<string, number>();
    let byKey = 0;
    // Positions of inserted rows are kept from large units only: small ones (strict writers) would
    // pay a map entry per insert for updates that rarely come in units where it matters.
    const learn = r.length >= 7 * this.limits.learnFrom;
    const known = this.#known;
    known.length = 0;
    // A unit holds one write per record, so inserts go in multi-row statements.
    const inserts = st.insertRows.start();
    const updates = st.upsertRows.start();
    const crc = this.#crc;
    const maxHints = this.limits.ordHints;
    // Where this unit's inserts in the current bucket note their positions (undefined: not kept).
    let inserted: unknown[] | undefined;
    let insertedFor = -1;
    for (let i = 0; i < r.length; i += 7) {
      // bucket, key, op, seq, ord, version, data
      const bucket = r[i] as string;
      if (bucket !== lastBucket) {
        id = this.#id(store, bucket, true)!;
        ords = this.#ordsOf(id);
        lastBucket = bucket;
        byKey = 0;
      }
      const op = r[i + 2];
      const key = r[i + 1] as string;
      if (op === 'insert') {
        const data = r[i + 6] as string;
        inserts.add(id, r[i + 4], key, r[i + 3], r[i + 5], data, crc(data));
        if (!learn) continue;
        if (insertedFor !== id) {
          inserted = this.#insertedOf(id);
          insertedFor = id;
        }
        if (inserted !== undefined && this.#ordCount + this.#insertedCount < maxHints) {
          inserted.push(key, r[i + 4]);
          this.#insertedCount++;
        }
        continue;
      }
      if (this.#insertedCount > 0 && this.#inserted.has(id)) {
        this.#learnInserted(id, ords);
        insertedFor = -1;
      }
      if (op === 'delete') {
        st.deleteRecord.run(id, key);
        if (ords.delete(key)) this.#ordCount--;
        continue;
      }
      let at = ords.get(key);
      if (at === undefined && ++byKey === this.limits.scanAfter && !this.#scanned.has(id)) {
        this.#scanOrds(id, ords);
        at = ords.get(key);
      }
      if (at !== undefined) known.push(at, i, id);
      else this.#updateByKey(r, i, id, ords, updates);
    }
    // Rows whose place is known are updated in the table's order: neighbouring rows share pages.
    if (known.length > 0) this.#updateKnown(r, updates);
    inserts.end();
    updates.end();
  }

  /** History and feed rows, feed pruning and the stored seq; true when a feed row records the seq. */
  #applyLog(store: string, unit: PackedUnit): boolean {
    const st = this.#st;
    if (unit.history !== undefined && unit.history.length > 0) this.#writeHistory(store, unit, unit.history);
    const f = unit.feed.plain;
    const fp = unit.feed.packed;
    if (f.length > 0 || fp.length > 0) {
      // A row's id is its store's slot, then its seq in the low 47 bits (sqlite-adapter.ts).
      if (unit.feedLastSeq >= 2 ** 47) throw new Error(`change feed seq ${unit.feedLastSeq} is past 2^47`);
      const base = this.#feedBaseOf(store);
      // plain rows: seq, bucket, key, op, version, at, actor; packed rows: the same, then packed
      for (const [rows, values, width] of [
        [st.feedRows, f, 7],
        [st.packedFeedRows, fp, 8],
      ] as const) {
        if (values.length === 0) continue;
        rows.start();
        for (let i = 0; i < values.length; i += width)
          rows.addAfter(base + BigInt(values[i] as number), store, values, i, width);
        rows.end();
      }
    }
    if (unit.feedPruneTo !== undefined && unit.feedPruneTo >= 1) {
      const base = this.#feedBaseOf(store);
      st.pruneFeed.run(base, base + BigInt(Math.min(Math.floor(unit.feedPruneTo), 2 ** 47 - 1)));
    }
    // A feed row with the unit's last seq records it already (the feed is pruned from the oldest
    // end only, and open() reads the larger of the two): one page less per commit.
    if (unit.feedLastSeq !== unit.lastSeq) {
      st.setStore.run(store, unit.lastSeq);
      return false;
    }
    return true;
  }

  /** An update through the key index; a record missing from storage is inserted at its `ord`. */
  #updateByKey(
    r: unknown[],
    i: number,
    id: number,
    ords: Map<string, number>,
    upserts: MultiRowInsert,
  ): void {
    const data = r[i + 6] as string;
    const sum = this.#crc(data);
    const at = this.#st.updateRecord.get(r[i + 3], r[i + 5], data, sum, id, r[i + 1]) as number | undefined;
    if (at === undefined) upserts.add(id, r[i + 4], r[i + 1], r[i + 3], r[i + 5], data, sum);
    else this.#learnOrd(ords, r[i + 1] as string, at);
  }

  /**
   * Updates by primary key, in ord order (triples in #known: ord, index in r, bucket id), ROWS
   * rows per statement: an upsert on the primary key that changes a row only if it holds the
   * same key. A statement that changed fewer rows (a hint was wrong) or hit the key index's
   * uniqueness (the record is stored at another ord) is followed by its rows one by one:
   * rewriting a row with the same values is harmless.
   */
  #updateKnown(r: unknown[], upserts: MultiRowInsert): void {
    const known = this.#known;
    const n = known.length / 3;
    const order = new Array<number>(n);
    for (let j = 0; j < n; j++) order[j] = j * 3;
    // By bucket, then ord (a unit rarely spans buckets; ords are unique per store).
    if (n > 1) order.sort((a, b) => known[a + 2]! - known[b + 2]! || known[a]! - known[b]!);
    const crc = this.#crc;
    const p = this.#batch;
    const full = this.limits.batchRows * 7;
    p.length = 0;
    let first = 0;
    for (let j = 0; j < n; j++) {
      const k = order[j]!;
      const i = known[k + 1]!;
      const data = r[i + 6] as string;
      p.push(known[k + 2], known[k], r[i + 1], r[i + 3], r[i + 5], data, crc(data));
      if (p.length === full) {
        if (!this.#updateBatch(p)) this.#updateOneByOne(r, order, first, j + 1, upserts);
        p.length = 0;
        first = j + 1;
      }
    }
    p.length = 0;
    if (first < n) this.#updateOneByOne(r, order, first, n, upserts);
    known.length = 0;
  }

  /** One full batch of known updates; false when not every row was where its hint said. */
  #updateBatch(p: unknown[]): boolean {
    this.#updateAtMany ??= this.db.prepare(
      `INSERT INTO quire_records (bucket_id, ord, key, seq, version, data, crc) VALUES ${Array.from(
        { length: this.limits.batchRows },
        () => '(?, ?, ?, ?, ?, ?, ?)',
      ).join(', ')}
       ON CONFLICT (bucket_id, ord) DO UPDATE SET seq = excluded.seq, version = excluded.version,
         data = excluded.data, crc = excluded.crc WHERE key = excluded.key`,
    );
    try {
      return this.#updateAtMany.run(p).changes === this.limits.batchRows;
    } catch (e) {
      // The statement is undone alone (the transaction goes on).
      if (String((e as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT')) return false;
      throw e;
    }
  }

  /** Known updates order[from..to) one statement each, through the key index where a hint was wrong. */
  #updateOneByOne(r: unknown[], order: number[], from: number, to: number, upserts: MultiRowInsert): void {
    const known = this.#known;
    const updateAt = this.#st.updateAt;
    const crc = this.#crc;
    let ords = new Map<string, number>();
    let lastId = -1;
    for (let j = from; j < to; j++) {
      const k = order[j]!;
      const i = known[k + 1]!;
      const id = known[k + 2]!;
      if (id !== lastId) {
        ords = this.#ordsOf(id);
        lastId = id;
      }
      const data = r[i + 6] as string;
      if (updateAt.run(r[i + 3], r[i + 5], data, crc(data), id, known[k], r[i + 1]).changes === 0) {
        // Not where the hint said (another connection moved or removed it): by key.
        if (ords.delete(r[i + 1] as string)) this.#ordCount--;
        this.#updateByKey(r, i, id, ords, upserts);
      }
    }
  }

  /** The store's first feed row id, its slot given out on its first feed row. */
  #feedBaseOf(store: string): bigint {
    let base = this.#feedBase.get(store);
    if (base !== undefined) return base;
    let slot = this.#st.feedSlot.get(store) as number | null | undefined;
    if (slot === undefined || slot === null) {
      this.#st.newFeedSlot.run(store);
      slot = this.#st.feedSlot.get(store) as number;
    }
    base = BigInt(slot) << 47n;
    this.#feedBase.set(store, base);
    return base;
  }

  #writeHistory(store: string, unit: PackedUnit, queued: HistoryColumns): void {
    const st = this.#st;
    const plain = st.historyRows.start();
    const packed = st.packedHistoryRows.start();
    let bucket: string | undefined;
    let id = 0;
    // Grouped and packed here (on the writer thread for a large unit), written as they come.
    const written = this.#historyRows(
      queued,
      unit.retention,
      (b, key, seq, version, op, at, actor, data, list, firstAt, versions) => {
        if (b !== bucket) {
          bucket = b;
          id = this.#id(store, b, true)!;
        }
        if (list === undefined) plain.add(id, key, seq, version, op, at, actor, data);
        else packed.add(id, key, seq, version, op, at, actor, data, list, firstAt, versions);
      },
    );
    plain.end();
    packed.end();
    for (const rule of unit.retention ?? []) {
      const keys = written.find((b) => b.bucket === rule.bucket)?.keys;
      if (keys === undefined) continue;
      const bid = this.#id(store, rule.bucket, true)!;
      for (const key of keys) {
        if (rule.maxVersions !== undefined) st.keepVersions.run({ id: bid, key, keep: rule.maxVersions });
        if (rule.before !== undefined && rule.sweep !== true) st.keepKeyAge.run(bid, key, rule.before);
      }
      if (rule.before !== undefined && rule.sweep === true) st.keepAge.run(bid, rule.before);
    }
  }
}

/**
 * A CommitUnit as flat arrays of values (what the writer applies): cheaper to hand to the
 * thread than an object per row, and built once for either connection.
 */
export interface PackedUnit {
  readonly buckets: CommitUnit['buckets'];
  readonly lastSeq: number;
  /** 7 values per record: bucket, key, op, seq, ord, version, data. */
  readonly records: unknown[];
  /** The history versions to write, as columns (grouped into rows by the writer: log-rows.ts). */
  readonly history: HistoryColumns | undefined;
  readonly retention: CommitUnit['retention'];
  /** Feed rows to write (log-rows.ts): 7 values per plain row (seq, bucket, key, op, version, at, actor), 8 per packed row (the same, then packed). */
  readonly feed: { plain: unknown[]; packed: unknown[] };
  readonly feedPruneTo: number | undefined;
  /** Seq of the unit's last feed row (-1 without one). */
  readonly feedLastSeq: number;
}

export function packUnit(unit: CommitUnit, withRecords = true): PackedUnit {
  const records = withRecords ? packRecords(unit.records) : [];
  const queued = queuedHistoryOf(unit) ?? (unit.history?.length ? QueuedHistory.of(unit.history) : undefined);
  const history = queued !== undefined && queued.length > 0 ? queued.columns() : undefined;
  const rows = unit.feed ?? [];
  // Rows the same unit prunes again are not written (a first flush of many records).
  const feed = feedRows(rows, unit.feedPruneTo === undefined ? 0 : firstAbove(rows, unit.feedPruneTo));
  return {
    buckets: unit.buckets,
    lastSeq: unit.lastSeq,
    records,
    history,
    retention: unit.retention,
    feed,
    feedPruneTo: unit.feedPruneTo,
    feedLastSeq: rows.length > 0 ? rows[rows.length - 1]!.seq : -1,
  };
}

/** Records as PackedUnit.records: 7 values each (bucket, key, op, seq, ord, version, data). */
export function packRecords(writes: CommitUnit['records']): unknown[] {
  const records: unknown[] = [];
  for (const w of writes) records.push(w.bucket, w.key, w.op, w.seq, w.ord, w.version, w.data);
  return records;
}

/** What the writer thread is told. */
interface WriterThreadOptions {
  readonly file: string;
  readonly busyTimeoutMs: number;
  /** Pages of SQLite's cache (negative: KiB), as the main connection. */
  readonly cacheSize: number;
  /** wal_autocheckpoint for this connection (0 when the checkpointer thread does it). */
  readonly autoCheckpoint: number;
  readonly journalSizeLimit: number;
  /** WAL bytes past which the writer runs a TRUNCATE checkpoint itself (0: never). */
  readonly walHardLimit: number;
  /** The checkpointer's state (1 while it checkpoints): a TRUNCATE checkpoint waits for it. */
  readonly checkpointState: Int32Array;
}

/** Watching the thread: `onStall` is told when a commit has waited `stallMs` for its answer (once per commit). */
export interface WriterThreadWatch {
  readonly stallMs: number;
  readonly onStall: (waitedMs: number) => void;
}

/** A commit's result from the thread: the WAL size after it, and the checkpoint error if one failed. */
export interface ThreadOutcome extends UnitOutcome {
  readonly walBytes: number;
  readonly checkpointError?: Error;
}

interface Reply {
  readonly id: number;
  /** The thread cannot commit at all (its connection did not open). */
  readonly fatal?: { message: string; code?: string };
  readonly ok?: {
    seqInFeed: boolean;
    walBytes: number;
    checkpointError?: { message: string; code?: string };
  };
  readonly error?: { message: string; code?: string };
}

const betterSqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');

/** How long close() waits for the thread to finish its commit and close its connection (ms). */
const CLOSE_WAIT_MS = 30_000;

/**
 * The worker that commits units on a connection of its own. Commits are
 * answered in the order they were posted. `state[0]` becomes 1 once the
 * thread's connection is closed (close() waits on it).
 */
export class WriterThread {
  readonly #worker: Worker;
  /** Answers come on a port of their own, so that poll() can take them without the event loop. */
  readonly #answers: MessagePort;
  #fail: ((e: Error) => void) | undefined;
  readonly #state = new Int32Array(new SharedArrayBuffer(4));
  readonly #waiting = new Map<
    number,
    { resolve(o: ThreadOutcome): void; reject(e: Error): void; readonly posted: number }
  >();
  #next = 0;
  readonly #watch: WriterThreadWatch | undefined;
  #watchTimer: ReturnType<typeof setTimeout> | undefined;
  /** The commit a stall was reported for (each is reported once). */
  #stalled = 0;
  #failure: Error | undefined;
  #forgetIds = false;

  constructor(options: WriterThreadOptions, watch?: WriterThreadWatch) {
    this.#watch = watch;
    const { port1, port2 } = new MessageChannel();
    this.#answers = port1;
    this.#worker = new Worker(workerSource(), {
      eval: true,
      workerData: {
        ...options,
        file: path.resolve(options.file),
        lib: betterSqlitePath,
        state: this.#state,
        answers: port2,
      },
      transferList: [port2],
      // Plain CommonJS: no loaders of the main thread (they would only slow its start).
      execArgv: [],
    });
    this.#fail = (e) => fail(e);
    port1.on('message', (r: Reply) => this.#receive(r));
    // The worker is ref'd while a commit is out; its answer port never keeps the process alive alone.
    port1.unref();
    let draining = false;
    const fail = (e: Error) => {
      // Answers the thread posted before it ended settle their commits first.
      if (!draining) {
        draining = true;
        this.poll();
        draining = false;
      }
      this.#failure ??= e;
      Atomics.store(this.#state, 0, 1);
      const err = new WriterThreadDiedError(this.#failure);
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
      this.#unwatch();
    };
    // An uncaught error is followed by 'exit'. Waiting commits are rejected only at 'exit': by then
    // every answer the thread posted was delivered (Node drains the port first), and the thread's
    // environment is torn down, which closes its connection (better-sqlite3's cleanup hook), so a
    // transaction it had open is rolled back and the write lock is free.
    this.#worker.on('error', (e) => {
      this.#failure ??= e;
    });
    this.#worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.#worker.unref();
  }

  #receive(r: Reply): void {
    if (r.fatal !== undefined) this.#fail?.(sqliteError(r.fatal));
    else this.#answer(r);
  }

  /**
   * Settle the commits the thread has answered, now (a loop of writes that never yields to the
   * event loop would otherwise see them only when it ends).
   */
  poll(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.#answers);
      if (m === undefined) return;
      this.#receive(m.message as Reply);
    }
  }

  /** True while commits are posted and not yet answered. */
  get busy(): boolean {
    return this.#waiting.size > 0;
  }

  /** Set when the thread died (an error or an exit): the adapter commits on its own connection then. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The next commit first forgets cached bucket ids (the main connection dropped a bucket). */
  forgetIds(): void {
    this.#forgetIds = true;
  }

  commit(store: string, unit: PackedUnit, sync: 'FULL' | 'NORMAL'): Promise<ThreadOutcome> {
    return this.#post({ store, unit, sync }).done;
  }

  /**
   * Open a unit whose records follow in part() calls, committed by end() or rolled back by
   * abort(); `done` settles as commit()'s promise does. Units posted meanwhile wait in the thread
   * until it ends. `done` is already handled (a failure rejects it only when awaited).
   */
  begin(
    store: string,
    buckets: PackedUnit['buckets'],
    sync: 'FULL' | 'NORMAL',
  ): { id: number; done: Promise<ThreadOutcome> } {
    const sent = this.#post({ store, buckets, sync, begin: true });
    sent.done.catch(() => {});
    return sent;
  }

  /** Records (PackedUnit.records) of the unit begin() opened. */
  part(id: number, records: unknown[]): void {
    this.#toOpen(id, { id, part: records });
  }

  /** The rest of the unit begin() opened (its records are ignored): the thread commits it. */
  end(id: number, unit: PackedUnit): void {
    this.#toOpen(id, { id, end: true, unit });
  }

  /** Roll back the unit begin() opened; its `done` rejects. */
  abort(id: number): void {
    this.#toOpen(id, { id, abort: true });
  }

  /** A message about unit `id`, while the thread is alive and has not answered it. */
  #toOpen(id: number, message: Record<string, unknown>): void {
    if (this.#failure === undefined && this.#waiting.has(id)) this.#worker.postMessage(message);
  }

  #post(message: Record<string, unknown>): { id: number; done: Promise<ThreadOutcome> } {
    if (this.#failure !== undefined) return { id: 0, done: Promise.reject(this.#failure) };
    const id = ++this.#next;
    const forget = this.#forgetIds;
    this.#forgetIds = false;
    const done = new Promise<ThreadOutcome>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, posted: performance.now() });
      // While a commit is out, the thread's port keeps the process alive (the commit must land).
      if (this.#waiting.size === 1) this.#worker.ref();
      this.#worker.postMessage({ ...message, id, forget });
      this.#watchStall();
    });
    return { id, done };
  }

  /**
   * While commits are out, look every half stall time at the oldest: one the thread has not
   * answered for the stall time (a disk or file system that stopped answering, a thread that
   * hangs) is reported once. Commits wait on; the thread is not stopped (it may be inside fsync).
   */
  #watchStall(): void {
    const watch = this.#watch;
    if (watch === undefined || this.#watchTimer !== undefined) return;
    this.#watchTimer = setTimeout(() => {
      this.#watchTimer = undefined;
      const oldest = this.#waiting.entries().next().value;
      if (oldest === undefined) return;
      const waited = performance.now() - oldest[1].posted;
      if (waited >= watch.stallMs && this.#stalled !== oldest[0]) {
        this.#stalled = oldest[0];
        watch.onStall(waited);
      }
      this.#watchStall();
    }, watch.stallMs / 2);
    this.#watchTimer.unref();
  }

  #unwatch(): void {
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
  }

  #answer(r: Reply): void {
    const w = this.#waiting.get(r.id);
    if (w === undefined) return;
    this.#waiting.delete(r.id);
    if (this.#waiting.size === 0) {
      this.#worker.unref();
      this.#unwatch();
    }
    if (r.ok !== undefined) {
      const ce = r.ok.checkpointError;
      w.resolve({
        seqInFeed: r.ok.seqInFeed,
        walBytes: r.ok.walBytes,
        checkpointError: ce === undefined ? undefined : sqliteError(ce),
      });
    } else w.reject(sqliteError(r.error ?? { message: 'unknown failure' }));
  }

  /**
   * Wait (blocking) until the thread has finished what was posted and closed its connection, then
   * end it. A commit still unanswered is committed then; its promise is settled by the message
   * already on its way, or rejected if the thread's answer is lost with it.
   */
  close(): void {
    if (this.#failure === undefined) {
      this.#worker.postMessage({ close: true });
      const deadline = Date.now() + CLOSE_WAIT_MS;
      while (Atomics.load(this.#state, 0) === 0 && Date.now() < deadline)
        Atomics.wait(this.#state, 0, 0, Math.max(1, deadline - Date.now()));
      this.poll();
    }
    this.#failure ??= new Error('closed');
    this.#unwatch();
    void this.#worker.terminate();
  }
}

/**
 * The writer thread ended (crashed, was terminated, ran out of memory) while a commit was posted
 * to it. Its connection is closed: the unit is either fully committed or not at all.
 */
export class WriterThreadDiedError extends Error {
  constructor(cause: Error) {
    super(`SQLite writer thread stopped: ${cause.message}`, { cause });
  }
}

/** An error as better-sqlite3 throws it (SqliteError with its code), from what the thread sent. */
function sqliteError(e: { message: string; code?: string }): Error {
  return e.code !== undefined ? new Database.SqliteError(e.message, e.code) : new Error(e.message);
}

/**
 * The worker's program: UnitWriter and MultiRowInsert from their own source, and a message loop.
 * Neither class may have static members: a compiler may then rewrite the class's references to
 * itself through a variable declared outside the class body (tsc emits `_a = MultiRowInsert`),
 * which the worker's copy would not have (test/package/built-threads.test.ts).
 */
function workerSource(): string {
  return `
    'use strict';
    // Transpilers that keep function names call __name(); it only sets a name.
    var __name = (target, value) => Object.defineProperty(target, 'name', { value, configurable: true });
    const { parentPort, workerData: o } = require('node:worker_threads');
    const fs = require('node:fs');
    const zlib = require('node:zlib');
    const Database = require(o.lib);
    ${MultiRowInsert.toString()}
    ${UnitWriter.toString()}
    const HISTORY_VERSIONS_PER_ROW = ${HISTORY_VERSIONS_PER_ROW};
    ${historyRows.toString()}
    const state = o.state;
    const errorOf = (e) => ({ message: String(e && e.message || e), code: typeof (e && e.code) === 'string' ? e.code : undefined });
    let writer;
    let openError;
    try {
      const db = new Database(o.file, { fileMustExist: true });
      db.pragma('busy_timeout = ' + o.busyTimeoutMs);
      db.pragma('cache_size = ' + o.cacheSize);
      db.pragma('temp_store = MEMORY');
      db.pragma('wal_autocheckpoint = ' + o.autoCheckpoint);
      if (o.journalSizeLimit > 0) db.pragma('journal_size_limit = ' + o.journalSizeLimit);
      if (process.env.QUIRE_TEST_WRITER_THREAD_EXIT) testExitHook(db, process.env.QUIRE_TEST_WRITER_THREAD_EXIT);
      writer = new UnitWriter(db, (s) => zlib.crc32(s), historyRows);
      // Ending by process.exit() or an uncaught error: close the connection first (a transaction
      // left open is rolled back), so close() on the main thread does not wait for an answer.
      process.on('exit', () => {
        try { writer && writer.db.close(); } catch {}
        Atomics.store(state, 0, 1);
        Atomics.notify(state, 0);
      });
    } catch (e) {
      openError = errorOf(e);
      o.answers.postMessage({ id: 0, fatal: openError });
    }
    // TEST ONLY (test/persistence/writer-thread.test.ts): QUIRE_TEST_WRITER_THREAD_EXIT makes the
    // thread die at its first commit, the way a crash would: 'in-transaction' (process.exit with
    // every statement of the unit run, before COMMIT), 'after-commit' (process.exit after COMMIT,
    // before the answer is posted), 'throw-after-commit' (an uncaught error as soon as the message
    // handler that posted the answer returns, before any later unit is read: 'error', then 'exit');
    // or 'stall:<ms>' makes each COMMIT wait that long first (a disk that stops answering for a while).
    function testExitHook(db, mode) {
      const prepare = db.prepare.bind(db);
      db.prepare = (sql) => {
        const st = prepare(sql);
        if (sql !== 'COMMIT') return st;
        const run = st.run.bind(st);
        st.run = (...args) => {
          // 'stall:<ms>': the commit takes that long more (a slow disk), then goes on.
          if (mode.startsWith('stall:')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(mode.slice(6)));
          if (mode === 'in-transaction') process.exit(70);
          if (mode === 'throw-after-commit') process.nextTick(() => { throw new Error('test: writer thread crashed'); });
          const out = run(...args);
          if (mode === 'after-commit') process.exit(70);
          return out;
        };
        return st;
      };
    }
    const walBytes = () => { try { return fs.statSync(o.file + '-wal').size; } catch { return 0; } };
    // A unit sent in parts (begin, part…, end or abort) holds its transaction open between
    // messages: other units posted meanwhile wait here until it ends. Every unit is answered once.
    let open;
    const held = [];
    const post = (reply) => o.answers.postMessage(reply);
    // Commit with run(), then look at the WAL: a large unit alone may pass the bound (the
    // checkpointer restarts the WAL after it); a WAL past it already before the unit (walBefore)
    // means the checkpointer does not keep up: checkpoint here (this thread only), after a
    // checkpoint the checkpointer runs.
    const settle = (id, walBefore, run) => {
      try {
        const out = run();
        let wal = walBytes();
        let checkpointError;
        if (o.walHardLimit > 0 && walBefore > o.walHardLimit && wal > o.walHardLimit) {
          try {
            Atomics.wait(o.checkpointState, 0, 1, 10000);
            writer.db.pragma('wal_checkpoint(TRUNCATE)');
            wal = walBytes();
          } catch (e) {
            checkpointError = errorOf(e);
          }
        }
        return { id, ok: { seqInFeed: out.seqInFeed, walBytes: wal, checkpointError } };
      } catch (e) {
        return { id, error: errorOf(e) };
      }
    };
    const closed = () => openError || { message: 'the writer connection is closed' };
    const handle = (m) => {
      if (m.close) {
        try { writer && writer.db.close(); } catch {}
        writer = undefined;
        open = undefined;
        Atomics.store(state, 0, 1);
        Atomics.notify(state, 0);
        return;
      }
      if (m.begin) {
        open = { id: m.id, store: m.store, walBefore: 0, error: undefined };
        if (writer === undefined) open.error = closed();
        else {
          try {
            if (m.forget) writer.forgetIds();
            open.walBefore = o.walHardLimit > 0 ? walBytes() : 0;
            writer.begin(m.sync);
            writer.applyPart(m.store, m.buckets, []);
          } catch (e) {
            open.error = errorOf(e);
          }
        }
        return;
      }
      if (m.part) {
        if (open !== undefined && open.error === undefined) {
          try {
            writer.applyPart(open.store, [], m.part);
          } catch (e) {
            open.error = errorOf(e);
          }
        }
        return;
      }
      if (m.end || m.abort) {
        const unit = open;
        open = undefined;
        if (unit === undefined) {
          post({ id: m.id, error: { message: 'no unit is open' } });
          return;
        }
        if (m.abort) {
          if (unit.error === undefined) try { writer.abort(); } catch {}
          post({ id: m.id, error: { message: 'the unit was abandoned' } });
        } else if (unit.error !== undefined) post({ id: m.id, error: unit.error });
        else post(settle(m.id, unit.walBefore, () => writer.finish(unit.store, m.unit)));
        return;
      }
      if (writer === undefined) {
        post({ id: m.id, error: closed() });
        return;
      }
      if (m.forget) writer.forgetIds();
      const before = o.walHardLimit > 0 ? walBytes() : 0;
      post(settle(m.id, before, () => writer.commit(m.store, m.unit, m.sync)));
    };
    parentPort.on('message', (m) => {
      if (open !== undefined && m.id !== open.id && !m.close) {
        held.push(m);
        return;
      }
      handle(m);
      while (open === undefined && held.length > 0) handle(held.shift());
    });
  `;
}
