// The store's side of persistence: turns committed ChangeBatches into
// adapter commits, restores buckets, checks stored definitions (P-5), and
// implements the durability modes (P-2) and failure handling (C-13).
//
// Every persistent change gets the next sequence number of the store
// (`seq`, monotonic, persisted by the adapter, never reused). Changes wait
// in a queue where later changes of the same record fold into earlier ones;
// a flush hands the whole queue to the adapter as one CommitUnit, i.e. one
// atomic storage transaction. A store transaction is one ChangeBatch, so it
// always lands in a single unit: on disk it is all or nothing.
//
// - debounced (default): a flush runs `debounceMs` after the first queued
//   change; a crash loses at most that window.
// - strict: a write's promise resolves only once its unit is committed.
//   Writes queue and the flush runs on setImmediate, so concurrent writers
//   share one commit (group commit).
//
// Failures never reach the writer: they go to `onError` as StorageError,
// the queue is kept (nothing is dropped), and the flush is retried with
// exponential backoff (50 ms … 5 s) until storage comes back; meanwhile the
// store keeps serving from memory. In strict mode the write's promise stays
// pending until its unit is committed — it settles only when storage works
// again, or rejects when the store is stopped before that.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  BackupFileInfo,
  BackupInfo,
  BackupToOptions,
  BucketState,
  Change,
  ChangeBatch,
  HistoryFilter,
  KeyId,
  RemoteChange,
  StorageHost,
  StorePersistenceConfig,
  StoreRecord,
  StoreStorage,
} from '../store/index.js';
import {
  DuplicateKeyError,
  InvalidArgumentError,
  UniqueConstraintError,
  ValidationError,
} from '../store/index.js';
import {
  bucketKey,
  decodeKey,
  diffDefinitions,
  encodeKey,
  sameDefinition,
  serializeDefinition,
} from './codec.js';
import {
  ReadOnlyStorageError,
  SchemaMismatchError,
  StorageError,
  StorageLockedError,
  StorageUnavailableError,
  toStorageError,
} from './errors.js';
import { SQLiteAdapter } from './sqlite-adapter.js';
import {
  type BucketWrite,
  type CommitUnit,
  type FeedWrite,
  type HistoryWrite,
  type IncrementalAdapter,
  isIncrementalAdapter,
  isSnapshotAdapter,
  type PersistedState,
  type RecordWrite,
  type StorageAdapter,
  type StoredBucket,
  type StoredDefinition,
} from './types.js';

interface PendingRecord {
  op: 'insert' | 'update' | 'delete';
  seq: number;
  /** Insertion position (seq of the insert), for inserts. */
  ord: number;
  version: number;
  record: StoreRecord | undefined;
  /** `_version` of the record before the first change folded in here (0: it did not exist). */
  base: number;
}

interface PendingBucket {
  bucket: string;
  drop?: boolean;
  clear?: boolean;
  definition?: StoredDefinition;
  autoincrement?: number;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

const MAX_BACKOFF_MS = 5_000;
/** How often (ms) a bucket's whole history is swept for entries past `maxAge`. */
const AGE_SWEEP_MS = 60_000;
const MIGRATION_HINT =
  'Nothing was changed. To migrate, define the bucket with its stored definition (error.storedDefinition) and change it with runMigrations (addField, removeField, renameField, changeFieldType, transformAll), or fix the stored records first.';

export class PersistenceManager implements StoreStorage {
  readonly #store: string;
  readonly #incremental: IncrementalAdapter | undefined;
  readonly #snapshot: StorageAdapter | undefined;
  /** The adapter's noex-style key/value side, used for backups. */
  readonly #kv: StorageAdapter | undefined;
  readonly #debounceMs: number;
  readonly #strict: boolean;
  readonly #onError: ((e: Error) => void) | undefined;
  #host: StorageHost | undefined;
  #opened = false;
  /** The highest sequence number queued or stored (seqs come from the store: host.nextSeq, Change.seq). */
  #seq = 0;
  /** Where the stored change feed was last pruned to (see #withLog). */
  #feedPrunedTo = 0;
  #records = new Map<string, Map<string, PendingRecord>>();
  /** History rows and feed rows waiting for the next flush (never folded), and those of the flush under way. */
  #history: HistoryWrite[] = [];
  #feed: FeedWrite[] = [];
  #inflight: { history: HistoryWrite[]; feed: FeedWrite[] } | undefined;
  #lastSweep = new Map<string, number>();
  #buckets = new Map<string, PendingBucket>();
  #dirty = new Set<string>();
  #dropped = new Set<string>();
  #waiters: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #following = false;
  #readOnlyReported = false;

  private constructor(store: string, config: StorePersistenceConfig) {
    const adapter = config.adapter;
    this.#store = store;
    if (isIncrementalAdapter(adapter)) {
      this.#incremental = adapter;
      if (isSnapshotAdapter(adapter)) this.#kv = adapter;
    } else if (isSnapshotAdapter(adapter)) {
      this.#snapshot = adapter;
      this.#kv = adapter;
    } else {
      throw new InvalidArgumentError(
        'Store.start',
        'persistence.adapter',
        'expected SQLiteAdapter, FileAdapter, MemoryAdapter, or an object with save/load/delete/exists/listKeys',
      );
    }
    const debounce = config.debounceMs ?? 100;
    if (typeof debounce !== 'number' || !Number.isFinite(debounce) || debounce < 0)
      throw new InvalidArgumentError(
        'Store.start',
        'persistence.debounceMs',
        `expected a number >= 0, got ${String(debounce)}`,
      );
    const durability = config.durability ?? 'debounced';
    if (durability !== 'debounced' && durability !== 'strict')
      throw new InvalidArgumentError(
        'Store.start',
        'persistence.durability',
        `expected "debounced" or "strict", got ${JSON.stringify(durability)}`,
      );
    if (config.onError !== undefined && typeof config.onError !== 'function')
      throw new InvalidArgumentError('Store.start', 'persistence.onError', 'expected a function');
    this.#debounceMs = debounce;
    this.#strict = durability === 'strict';
    this.#onError = config.onError;
  }

  /** Builds the storage of a store (the factory registered with the Store). */
  static async create(store: string, config: StorePersistenceConfig): Promise<PersistenceManager> {
    const m = new PersistenceManager(store, config);
    try {
      await m.#open();
    } catch (e) {
      // Another live writer holds the store: fatal. Anything else (unwritable directory, damaged
      // file …) is reported; the store serves from memory and storage is retried on every flush.
      if (e instanceof StorageLockedError || e instanceof StorageUnavailableError) throw e;
      m.#report(e, 'open');
    }
    return m;
  }

  #report(e: unknown, operation = 'commit'): void {
    const err = toStorageError(operation, e);
    try {
      this.#onError?.(err);
    } catch {
      /* a failing onError must not break the store */
    }
  }

  /** Open an incremental adapter (once); throws the adapter's error. */
  async #open(): Promise<void> {
    const a = this.#incremental;
    if (a === undefined || this.#opened) return;
    const { lastSeq } = await a.open(this.#store, { onError: (e) => this.#report(e, 'load') });
    this.#opened = true;
    if (lastSeq > 0) this.#renumber(lastSeq);
    this.#follow();
  }

  /** Shift sequence numbers handed out before storage could be opened above the stored ones. */
  #renumber(offset: number): void {
    this.#seq += offset;
    this.#host?.shiftSeq(offset);
    for (const m of this.#records.values())
      for (const r of m.values()) {
        r.seq += offset;
        r.ord += offset;
      }
    this.#history = this.#history.map((h) => ({ ...h, seq: h.seq + offset }));
    this.#feed = this.#feed.map((f) => ({ ...f, seq: f.seq + offset }));
  }

  /** The last sequence number in storage (known once storage is open): the store continues from it. */
  get lastSeq(): number {
    return this.#seq;
  }

  /** A sequence number for a write that is not a store change (definition fill, rewrite). */
  #nextSeq(): number {
    const seq = this.#host !== undefined ? this.#host.nextSeq() : this.#seq + 1;
    if (seq > this.#seq) this.#seq = seq;
    return seq;
  }

  // ── Restore ─────────────────────────────────────────────────────

  async #loadStored(name: string): Promise<StoredBucket | undefined> {
    if (this.#snapshot !== undefined) {
      const p = (await this.#snapshot.load(bucketKey(this.#store, name))) as
        | PersistedState<{ records?: unknown; autoincrementCounter?: number; definition?: StoredDefinition }>
        | undefined;
      if (p === undefined || p === null) return undefined;
      const st = p.state;
      if (st === null || typeof st !== 'object' || !Array.isArray(st.records))
        throw new StorageError('load', `Snapshot of bucket "${name}" has no records array`);
      const pairs = st.records as unknown[];
      return {
        definition: st.definition,
        autoincrement: typeof st.autoincrementCounter === 'number' ? st.autoincrementCounter : 0,
        records: pairs.map((x) => (Array.isArray(x) ? x[1] : x) as StoreRecord),
      };
    }
    await this.#open();
    return this.#incremental!.loadBucket(this.#store, name);
  }

  async restoreBucket(state: BucketState): Promise<void> {
    const name = state.name;
    const current = serializeDefinition(state.def.definition);
    let stored: StoredBucket | undefined;
    try {
      stored = await this.#loadStored(name);
    } catch (e) {
      this.#report(
        new StorageError(
          'load',
          `Loading bucket "${name}" failed, so it starts empty: ${(e as Error).message}`,
          { cause: e },
        ),
        'load',
      );
      return;
    }
    if (stored === undefined) {
      this.#storeDefinition(name, current);
      return;
    }
    const storedDef = stored.definition;
    if (storedDef === undefined || sameDefinition(storedDef, current)) {
      try {
        state.load(stored.records);
      } catch (e) {
        if (e instanceof StorageError) {
          state.clear();
          this.#report(
            new StorageError('load', `Loading bucket "${name}" failed, so it starts empty: ${e.message}`, {
              cause: e,
            }),
            'load',
          );
          return;
        }
        throw e;
      }
      state.autoincrement = Math.max(state.autoincrement, stored.autoincrement);
      if (storedDef === undefined) this.#storeDefinition(name, current);
      return;
    }
    // The definition changed: the stored data must satisfy the new one.
    const diff = diffDefinitions(storedDef, current);
    const records = [...stored.records];
    if (diff.keyChanged !== undefined && records.length > 0)
      throw new SchemaMismatchError(name, diff.differences, storedDef.definition, MIGRATION_HINT);
    const problems: string[] = [];
    let failing = 0;
    const filled: StoreRecord[] = [];
    const schema = state.def.definition.schema;
    for (const r of records) {
      let changed = false;
      for (const f of diff.fill) {
        if (r[f] !== undefined) continue;
        const d = schema[f]!.default;
        (r as Record<string, unknown>)[f] = typeof d === 'function' ? (d as () => unknown)() : d;
        changed = true;
      }
      if (changed) filled.push(r);
      try {
        state.def.validator.validate(r);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        failing++;
        if (problems.length < 5)
          problems.push(
            `stored record "${String(state.publicKeyOf(r))}" fails: ${e.issues.map((i) => `${i.field}: ${i.message}`).join(', ')}`,
          );
      }
    }
    if (failing > 0) {
      if (failing > problems.length) problems.push(`${failing - problems.length} more records fail`);
      throw new SchemaMismatchError(
        name,
        [...diff.differences, ...problems],
        storedDef.definition,
        MIGRATION_HINT,
      );
    }
    try {
      state.load(records);
    } catch (e) {
      if (e instanceof UniqueConstraintError || e instanceof DuplicateKeyError)
        throw new SchemaMismatchError(
          name,
          [...diff.differences, `stored records conflict: ${e.message}`],
          storedDef.definition,
          MIGRATION_HINT,
        );
      throw e;
    }
    state.autoincrement = Math.max(state.autoincrement, stored.autoincrement);
    this.#storeDefinition(name, current);
    for (const r of filled) {
      const keyId = state.keyIdOf(r);
      const seq = this.#nextSeq();
      this.#addRecord(name, encodeKey(keyId), 'update', seq, r._version, r, seq, r._version);
    }
  }

  #storeDefinition(name: string, def: StoredDefinition): void {
    if (this.#isReadOnly()) return;
    if (this.#snapshot !== undefined) this.#dirty.add(name);
    else this.#bucketOp(name).definition = def;
    this.#schedule();
  }

  // ── Queue ───────────────────────────────────────────────────────

  #bucketOp(name: string): PendingBucket {
    let op = this.#buckets.get(name);
    if (op === undefined) this.#buckets.set(name, (op = { bucket: name }));
    return op;
  }

  /** Drop (remove everything) or clear (remove records) a bucket, in queue order. */
  #resetOp(name: string, kind: 'drop' | 'clear'): PendingBucket {
    const prev = this.#buckets.get(name);
    const op: PendingBucket =
      kind === 'drop'
        ? { bucket: name, drop: true, clear: true }
        : {
            bucket: name,
            drop: prev?.drop,
            clear: true,
            definition: prev?.definition,
            autoincrement: prev?.autoincrement,
          };
    this.#buckets.set(name, op);
    this.#records.delete(name);
    if (kind === 'drop') this.#history = this.#history.filter((h) => h.bucket !== name);
    return op;
  }

  #addRecord(
    bucket: string,
    key: string,
    op: PendingRecord['op'],
    seq: number,
    version: number,
    record: StoreRecord | undefined,
    ord = seq,
    base = 0,
  ): void {
    let m = this.#records.get(bucket);
    if (m === undefined) this.#records.set(bucket, (m = new Map()));
    const prev = m.get(key);
    if (prev !== undefined && op === 'update' && prev.op === 'insert') {
      prev.seq = seq;
      prev.version = version;
      prev.record = record;
      return;
    }
    // An insert moves to the end of the insertion order.
    if (op === 'insert') m.delete(key);
    m.set(key, {
      op,
      seq,
      ord: op === 'insert' ? ord : (prev?.ord ?? ord),
      version,
      record,
      base: prev?.base ?? base,
    });
  }

  #isReadOnly(): boolean {
    if (this.#incremental?.readOnly !== true) return false;
    if (!this.#readOnlyReported) {
      this.#readOnlyReported = true;
      this.#report(
        new ReadOnlyStorageError(String((this.#incremental as { path?: string }).path ?? 'storage')),
      );
    }
    return true;
  }

  listener(host: StorageHost): (batch: ChangeBatch) => Promise<void> | undefined {
    this.#host = host;
    this.#follow();
    return (batch) => this.#onBatch(batch);
  }

  /** Shared databases: other instances' commits reach this store's memory (once storage is open). */
  #follow(): void {
    const a = this.#incremental;
    const host = this.#host;
    if (a?.follow === undefined || host === undefined || !this.#opened || this.#following) return;
    this.#following = true;
    a.follow(this.#store, (writes) => {
      if (this.#closed || writes.length === 0) return;
      const changes: RemoteChange[] = [];
      for (const w of writes)
        changes.push({
          bucket: w.bucket,
          keyId: decodeKey(w.key),
          record: w.data === null ? undefined : (JSON.parse(w.data) as StoreRecord),
          data: w.data ?? undefined,
          seq: w.seq,
        });
      if (writes[writes.length - 1]!.seq > this.#seq) this.#seq = writes[writes.length - 1]!.seq;
      host.applyRemote(changes, writes[writes.length - 1]!.at);
    });
  }

  #onBatch(batch: ChangeBatch): Promise<void> | undefined {
    if (this.#closed || batch.remote === true) return undefined;
    const host = this.#host!;
    let any = false;
    const changes: readonly Change[] = batch.changes;
    const feed = host.feedLimit > 0 && this.#incremental !== undefined;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const state = host.bucketState(c.bucket);
      if (state === undefined || !state.def.persistent) continue;
      any = true;
      const seq = c.seq;
      if (seq > this.#seq) this.#seq = seq;
      if (this.#snapshot !== undefined) {
        this.#dirty.add(c.bucket);
        continue;
      }
      const key = encodeKey(c.keyId);
      this.#addRecord(c.bucket, key, c.op, seq, c.version, c.newRecord, seq, c.oldRecord?._version ?? 0);
      const actor = batch.actor ?? null;
      if (state.def.history !== undefined && !unchanged(c)) {
        this.#history.push({
          bucket: c.bucket,
          key,
          seq,
          version: c.version,
          op: c.op,
          at: batch.at,
          actor,
          data: c.newRecord === undefined ? null : JSON.stringify(c.newRecord),
        });
      }
      if (feed)
        this.#feed.push({
          seq,
          bucket: c.bucket,
          key: JSON.stringify(c.key),
          op: c.op,
          version: c.version,
          at: batch.at,
          actor,
        });
    }
    for (const [b, v] of batch.counters) {
      if (!host.isPersistent(b)) continue;
      any = true;
      if (this.#snapshot !== undefined) this.#dirty.add(b);
      else this.#bucketOp(b).autoincrement = v;
    }
    if (!any || this.#isReadOnly()) {
      if (any) this.#clearQueue();
      return undefined;
    }
    this.#schedule();
    if (!this.#strict) return undefined;
    return new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #clearQueue(): void {
    this.#history = [];
    this.#feed = [];
    this.#records = new Map();
    this.#buckets = new Map();
    this.#dirty = new Set();
    this.#dropped = new Set();
  }

  #hasPending(): boolean {
    return (
      this.#history.length > 0 ||
      this.#feed.length > 0 ||
      this.#records.size > 0 ||
      this.#buckets.size > 0 ||
      this.#dirty.size > 0 ||
      this.#dropped.size > 0 ||
      this.#waiters.length > 0
    );
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#retry !== undefined) return; // storage is failing: the retry timer flushes
    if (this.#strict) {
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined;
        void this.#flushQuietly();
      });
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.#flushQuietly();
      }, this.#debounceMs);
    }
  }

  async #flushQuietly(): Promise<void> {
    try {
      await this.flush();
    } catch {
      /* reported through onError, retried */
    }
  }

  // ── Flush ───────────────────────────────────────────────────────

  /** Commit everything queued now, as one storage transaction. Rejects with StorageError when that fails. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#flushing !== undefined) await this.#flushing.catch(() => {});
    if (!this.#hasPending()) return;
    const run = this.#snapshot !== undefined ? this.#flushSnapshot() : this.#flushIncremental();
    this.#flushing = run;
    try {
      await run;
    } finally {
      this.#flushing = undefined;
    }
  }

  #failed(e: unknown): StorageError {
    const err = toStorageError('commit', e);
    this.#failures++;
    this.#report(err);
    if (!this.#closed && this.#retry === undefined) {
      const delay = Math.min(MAX_BACKOFF_MS, 50 * 2 ** (this.#failures - 1));
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        void this.#flushQuietly();
      }, delay);
    }
    return err;
  }

  #succeeded(waiters: Waiter[]): void {
    this.#failures = 0;
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    for (const w of waiters) w.resolve();
    // Changes queued while this flush ran get their own.
    if (this.#hasPending()) this.#schedule();
  }

  async #flushIncremental(): Promise<void> {
    const records = this.#records;
    const buckets = this.#buckets;
    const waiters = this.#waiters;
    const log = { history: this.#history, feed: this.#feed };
    this.#records = new Map();
    this.#buckets = new Map();
    this.#waiters = [];
    this.#history = [];
    this.#feed = [];
    this.#inflight = log;
    try {
      await this.#open();
      // lastSeq: the store's counter, so seqs of in-memory changes are not handed out again after a restart.
      const lastSeq = Math.max(this.#seq, this.#host?.currentSeq() ?? 0);
      const unit = this.#withLog(buildUnit(records, buckets, lastSeq), log.history, log.feed);
      await this.#incremental!.commit(this.#store, unit);
    } catch (e) {
      this.#inflight = undefined;
      this.#history = [...log.history, ...this.#history];
      this.#feed = [...log.feed, ...this.#feed];
      // Put the taken changes back in front of anything queued meanwhile.
      const newer = { records: this.#records, buckets: this.#buckets };
      this.#records = records;
      this.#buckets = buckets;
      for (const op of newer.buckets.values()) {
        const merged =
          op.drop === true || op.clear === true
            ? this.#resetOp(op.bucket, op.drop ? 'drop' : 'clear')
            : this.#bucketOp(op.bucket);
        if (op.definition !== undefined) merged.definition = op.definition;
        if (op.autoincrement !== undefined) merged.autoincrement = op.autoincrement;
      }
      for (const [b, m] of newer.records)
        for (const [k, r] of m) this.#addRecord(b, k, r.op, r.seq, r.version, r.record, r.ord, r.base);
      this.#waiters = [...waiters, ...this.#waiters];
      throw this.#failed(e);
    }
    this.#inflight = undefined;
    this.#succeeded(waiters);
  }

  /** Add history rows (with the retention of their buckets) and feed rows (with the feed's pruning) to a unit. */
  #withLog(unit: CommitUnit, history: HistoryWrite[], feed: FeedWrite[]): CommitUnit {
    if (history.length === 0 && feed.length === 0) return unit;
    let retention: CommitUnit['retention'];
    if (history.length > 0) {
      const now = Date.now();
      const rules = [];
      const seen = new Set<string>();
      for (const h of history) {
        if (seen.has(h.bucket)) continue;
        seen.add(h.bucket);
        const cfg = this.#host?.bucketState(h.bucket)?.def.history;
        if (cfg === undefined || (cfg.maxVersions === undefined && cfg.maxAgeMs === undefined)) continue;
        let sweep = false;
        if (cfg.maxAgeMs !== undefined && now - (this.#lastSweep.get(h.bucket) ?? 0) >= AGE_SWEEP_MS) {
          sweep = true;
          this.#lastSweep.set(h.bucket, now);
        }
        rules.push({
          bucket: h.bucket,
          maxVersions: cfg.maxVersions,
          before: cfg.maxAgeMs !== undefined ? now - cfg.maxAgeMs : undefined,
          sweep,
        });
      }
      if (rules.length > 0) retention = rules;
    }
    const limit = this.#host?.feedLimit ?? 0;
    // Prune the stored feed in steps (a tenth of the limit at least), not on every flush:
    // the feed keeps at least the last `limit` entries, and a small commit stays small.
    let feedPruneTo: number | undefined;
    if (feed.length > 0 && limit > 0 && this.#seq - limit - this.#feedPrunedTo >= Math.max(64, limit / 10)) {
      feedPruneTo = this.#seq - limit;
      this.#feedPrunedTo = feedPruneTo;
    }
    return {
      ...unit,
      history: history.length > 0 ? history : undefined,
      retention,
      feed: feed.length > 0 ? feed : undefined,
      feedPruneTo,
    };
  }

  // ── History reads (stored rows + rows still queued) ──────────────

  /** Whether this storage keeps the history of persistent buckets (incremental adapters that can read it back). */
  get keepsHistory(): boolean {
    return this.#incremental?.readHistory !== undefined;
  }

  /** Whether this storage keeps the change feed of persistent changes. */
  get keepsFeed(): boolean {
    return this.#incremental?.readChanges !== undefined;
  }

  /** History rows of one record, newest first: what storage holds plus what waits to be written. */
  async readHistory(bucket: string, keyId: KeyId, f: HistoryFilter): Promise<HistoryWrite[]> {
    const a = this.#incremental;
    if (a?.readHistory === undefined) return [];
    const key = encodeKey(keyId);
    if (!this.#opened) {
      try {
        await this.#open();
      } catch {
        /* reported; what is queued is all there is */
      }
    }
    const stored = this.#opened ? await a.readHistory(this.#store, bucket, key, f) : [];
    // Collected synchronously after the read: a row is either stored, in flight or queued.
    const pending: HistoryWrite[] = [];
    for (const list of [this.#inflight?.history, this.#history])
      if (list !== undefined)
        for (const h of list)
          if (
            h.bucket === bucket &&
            h.key === key &&
            h.at >= f.since &&
            h.at <= f.until &&
            (f.version === undefined || h.version === f.version)
          )
            pending.push(h);
    if (pending.length === 0) return stored;
    const bySeq = new Map<number, HistoryWrite>();
    for (const h of stored) bySeq.set(h.seq, h);
    for (const h of pending) bySeq.set(h.seq, h);
    return [...bySeq.values()].sort((x, y) => y.seq - x.seq).slice(0, f.limit);
  }

  /** Feed rows with `seq > since`, oldest first: stored plus queued. */
  async readChanges(since: number, limit: number): Promise<FeedWrite[]> {
    const a = this.#incremental;
    if (a?.readChanges === undefined) return [];
    if (!this.#opened) {
      try {
        await this.#open();
      } catch {
        /* reported */
      }
    }
    const stored = this.#opened ? await a.readChanges(this.#store, since, limit) : [];
    const pending: FeedWrite[] = [];
    for (const list of [this.#inflight?.feed, this.#feed])
      if (list !== undefined) for (const r of list) if (r.seq > since) pending.push(r);
    if (pending.length === 0) return stored;
    const bySeq = new Map<number, FeedWrite>();
    for (const r of stored) bySeq.set(r.seq, r);
    for (const r of pending) bySeq.set(r.seq, r);
    return [...bySeq.values()].sort((x, y) => x.seq - y.seq).slice(0, limit);
  }

  async #flushSnapshot(): Promise<void> {
    const adapter = this.#snapshot!;
    const dirty = this.#dirty;
    const dropped = this.#dropped;
    const waiters = this.#waiters;
    this.#dirty = new Set();
    this.#dropped = new Set();
    this.#waiters = [];
    const done = new Set<string>();
    try {
      for (const name of dropped) {
        await adapter.delete(bucketKey(this.#store, name));
        done.add(`drop\0${name}`);
      }
      for (const name of dirty) {
        const state = this.#host?.bucketState(name);
        if (state === undefined || !state.def.persistent) continue;
        const records: Array<[unknown, StoreRecord]> = [];
        for (const r of state.records.values()) records.push([state.publicKeyOf(r), r]);
        await adapter.save(bucketKey(this.#store, name), {
          state: {
            records,
            autoincrementCounter: state.autoincrement,
            definition: serializeDefinition(state.def.definition),
          },
          metadata: { persistedAt: Date.now(), serverId: this.#store, schemaVersion: 1 },
        });
        done.add(name);
      }
    } catch (e) {
      for (const n of dropped) if (!done.has(`drop\0${n}`)) this.#dropped.add(n);
      for (const n of dirty) if (!done.has(n)) this.#dirty.add(n);
      this.#waiters = [...waiters, ...this.#waiters];
      throw this.#failed(e);
    }
    this.#succeeded(waiters);
  }

  // ── Bucket lifecycle ────────────────────────────────────────────

  async dropBucket(name: string): Promise<void> {
    if (this.#closed || this.#isReadOnly()) return;
    if (this.#snapshot !== undefined) {
      this.#dirty.delete(name);
      this.#dropped.add(name);
    } else this.#resetOp(name, 'drop');
    await this.#flushQuietly();
  }

  /** A bucket's definition was replaced (updateBucket, migrations); `rewritten`: its records changed too. */
  bucketReplaced(state: BucketState, rewritten: boolean): void {
    if (this.#closed || !state.def.persistent || this.#isReadOnly()) return;
    const name = state.name;
    if (this.#snapshot !== undefined) {
      this.#dirty.add(name);
    } else {
      const op = rewritten ? this.#resetOp(name, 'clear') : this.#bucketOp(name);
      op.definition = serializeDefinition(state.def.definition);
      op.autoincrement = state.autoincrement;
      if (rewritten)
        for (const [k, r] of state.records)
          this.#addRecord(name, encodeKey(k), 'insert', this.#nextSeq(), r._version, r);
    }
    this.#schedule();
  }

  /** Force a checkpoint of the adapter (SQLite WAL checkpoint, FileAdapter compaction). */
  async checkpoint(): Promise<void> {
    await this.flush();
    await this.#incremental?.checkpoint?.();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } catch {
      /* reported */
    }
    this.#closed = true;
    for (const t of [this.#timer, this.#retry]) if (t !== undefined) clearTimeout(t);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = this.#retry = this.#immediate = undefined;
    if (this.#hasPending()) {
      const lost = new StorageError(
        'close',
        `Store "${this.#store}" stopped while storage was failing: its last unwritten changes were not persisted`,
      );
      this.#report(lost, 'close');
      for (const w of this.#waiters) w.reject(lost);
      this.#waiters = [];
      this.#clearQueue();
    }
    try {
      if (this.#incremental !== undefined) {
        if (this.#opened) await this.#incremental.close(this.#store);
      } else await this.#snapshot!.close?.();
    } catch (e) {
      this.#report(e, 'close');
    }
  }

  // ── Online backup to a file (P-9) ─────────────────────────────

  /**
   * Write a consistent copy of the store to an SQLite file. SQLiteAdapter:
   * SQLite's online backup of the whole database file (commits go on while
   * it copies). Other incremental adapters: the buckets, their history and
   * the change feed, captured in one synchronous step, written as a new
   * SQLite store. Pending changes are flushed first.
   */
  async backupTo(
    target: string,
    buckets: Map<string, BucketState>,
    options: BackupToOptions,
  ): Promise<BackupFileInfo> {
    const t0 = Date.now();
    if (fs.existsSync(target) && options.overwrite !== true)
      throw new InvalidArgumentError(
        'backupTo',
        'path',
        `"${target}" exists (pass {overwrite: true} to replace it)`,
      );
    await this.flush();
    const a = this.#incremental;
    if (a instanceof SQLiteAdapter) {
      if (path.resolve(a.path) === path.resolve(target))
        throw new InvalidArgumentError('backupTo', 'path', 'cannot back up a database onto itself');
      const r = await a.backupTo(target, {
        pagesPerStep: options.pagesPerStep,
        onProgress: options.onProgress,
      });
      return { path: target, bytes: r.bytes, durationMs: Date.now() - t0 };
    }
    // Capture everything synchronously: a consistent cut.
    const bw: BucketWrite[] = [];
    const records: RecordWrite[] = [];
    let ord = 0;
    for (const [name, b] of buckets) {
      if (!b.def.persistent) continue;
      bw.push({
        bucket: name,
        definition: serializeDefinition(b.def.definition),
        autoincrement: b.autoincrement,
      });
      for (const [k, r] of b.records) {
        ord++;
        records.push({
          bucket: name,
          key: encodeKey(k),
          op: 'insert',
          seq: ord,
          ord,
          version: r._version,
          data: JSON.stringify(r),
        });
      }
    }
    type Dump = { history: HistoryWrite[]; feed: FeedWrite[] };
    const dump = (await (a as { dumpLog?: (s: string) => Dump | Promise<Dump> } | undefined)?.dumpLog?.(
      this.#store,
    )) ?? { history: [], feed: [] };
    const unit: CommitUnit = {
      buckets: bw,
      records,
      lastSeq: Math.max(this.#seq, ord),
      history: dump.history,
      feed: dump.feed,
    };
    const tmp = `${target}.tmp-${process.pid}`;
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
    const out = new SQLiteAdapter(tmp, { autoCheckpointPages: 0 });
    try {
      out.open(this.#store, { onError: () => {} });
      out.commit(this.#store, unit);
      out.database.pragma('wal_checkpoint(TRUNCATE)');
      out.database.pragma('journal_mode = DELETE');
    } catch (e) {
      out.close();
      fs.rmSync(tmp, { force: true });
      throw toStorageError('backup', e, target);
    }
    out.close();
    fs.renameSync(tmp, target);
    return { path: target, bytes: fs.statSync(target).size, durationMs: Date.now() - t0 };
  }

  // ── Backups (noex layout: `<store>:backup:<name>` through the adapter's key/value side) ──

  #backupKey(name: string): string {
    return `${this.#store}:backup:${name}`;
  }

  get createBackup() {
    const kv = this.#kv;
    if (kv === undefined) return undefined;
    return async (name: string, buckets: Map<string, BucketState>): Promise<BackupInfo> => {
      const out: Record<string, { records: Array<[unknown, StoreRecord]>; autoincrementCounter: number }> =
        {};
      let totalRecords = 0;
      for (const [n, b] of buckets) {
        if (!b.def.persistent) continue;
        out[n] = {
          records: [...b.records.values()].map((r) => [b.publicKeyOf(r), r]),
          autoincrementCounter: b.autoincrement,
        };
        totalRecords += b.size;
      }
      const createdAt = Date.now();
      const meta = { name, createdAt, bucketNames: Object.keys(out), totalRecords };
      await kv.save(this.#backupKey(name), {
        state: { meta, buckets: out },
        metadata: { persistedAt: createdAt, serverId: this.#store, schemaVersion: 1 },
      });
      return { id: name, ...meta };
    };
  }

  get listBackups() {
    const kv = this.#kv;
    if (kv === undefined) return undefined;
    return async (): Promise<BackupInfo[]> => {
      const out: BackupInfo[] = [];
      for (const key of await kv.listKeys(`${this.#store}:backup:`)) {
        const p = (await kv.load(key)) as PersistedState<{ meta: Omit<BackupInfo, 'id'> }> | undefined;
        if (p?.state?.meta !== undefined) out.push({ id: p.state.meta.name, ...p.state.meta });
      }
      return out.sort((a, b) => a.createdAt - b.createdAt);
    };
  }

  get loadBackup() {
    const kv = this.#kv;
    if (kv === undefined) return undefined;
    return async (name: string) => {
      const p = (await kv.load(this.#backupKey(name))) as
        | PersistedState<{
            buckets: Record<string, { records: Array<[unknown, StoreRecord]>; autoincrementCounter: number }>;
          }>
        | undefined;
      if (p?.state?.buckets === undefined) return undefined;
      const out: Record<string, { records: StoreRecord[]; autoincrement: number }> = {};
      for (const [b, v] of Object.entries(p.state.buckets))
        out[b] = { records: v.records.map((x) => x[1]), autoincrement: v.autoincrementCounter };
      return out;
    };
  }

  get deleteBackup() {
    const kv = this.#kv;
    if (kv === undefined) return undefined;
    return async (name: string) => kv.delete(this.#backupKey(name));
  }
}

/** A restored backup rewrites records with the same version: not a new version worth a history row. */
function unchanged(c: Change): boolean {
  const o = c.oldRecord;
  const n = c.newRecord;
  return o !== undefined && n !== undefined && o._version === n._version && o._updatedAt === n._updatedAt;
}

function buildUnit(
  records: Map<string, Map<string, PendingRecord>>,
  buckets: Map<string, PendingBucket>,
  lastSeq: number,
): CommitUnit {
  const out: RecordWrite[] = [];
  for (const [bucket, m] of records) {
    for (const [key, r] of m) {
      out.push({
        bucket,
        key,
        op: r.op,
        seq: r.seq,
        ord: r.ord,
        version: r.version,
        base: r.base,
        data: r.op === 'delete' ? undefined : JSON.stringify(r.record),
      });
    }
  }
  const bw: BucketWrite[] = [...buckets.values()];
  return { buckets: bw, records: out, lastSeq };
}
