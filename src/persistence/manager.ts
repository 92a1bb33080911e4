// PersistenceManager: the StoreStorage the Store builds when `persistence`
// is configured. It checks the options, opens the adapter, and hands each
// job to its own file:
//
//   commit-queue.ts   ChangeBatches → CommitUnits: durability, group commit, retries
//   restore.ts        fill a defined bucket from storage, stored-definition checks
//   log-reads.ts      history and change-feed reads (stored + not yet stored)
//   named-backups.ts  noex-style named backups through the adapter's key/value side
//   backup-to.ts      store.backupTo(path): a consistent SQLite file copy
//
// Every persistent change carries the store's next sequence number (`seq`,
// monotonic, persisted by the adapter, never reused).
import {
  type BucketState,
  type ChangeBatch,
  type CommitObservation,
  type HistoryFilter,
  InvalidArgumentError,
  type KeyId,
  type RemoteChange,
  type StorageStatus,
  type StoreRecord,
} from '../engine/index.js';
import { backupTo } from './backup-to.js';
import { decodeKey, encodeKey, serializeDefinition } from './codec.js';
import { CommitQueue } from './commit-queue.js';
import { CounterBlocks } from './counters.js';
import { StorageCorruptError, StorageError, StorageUnavailableError, toStorageError } from './errors.js';
import { type LogSource, readChanges, readHistory } from './log-reads.js';
import { NamedBackups } from './named-backups.js';
import { isCorruption, restoreBucket } from './restore.js';
import { loadSnapshotBucket } from './snapshot.js';
import type {
  BackupFileInfo,
  BackupToOptions,
  StorageHost,
  StorePersistenceConfig,
  StoreStorage,
} from './store-storage.js';
import {
  type Durability,
  type FeedWrite,
  type HistoryWrite,
  type IncrementalAdapter,
  isIncrementalAdapter,
  isSnapshotAdapter,
  type RemoteSnapshot,
  type StorageAdapter,
  type StoredDefinition,
} from './types.js';

export class PersistenceManager implements StoreStorage {
  readonly #store: string;
  readonly #incremental: IncrementalAdapter | undefined;
  readonly #snapshot: StorageAdapter | undefined;
  readonly #backups: NamedBackups | undefined;
  readonly #onError: ((e: Error) => void) | undefined;
  readonly #durability: Durability;
  readonly #queue: CommitQueue;
  readonly #log: LogSource;
  #opened = false;
  #following = false;
  /** Shared databases: autoincrement blocks per bucket (what was not used is given back at close). */
  readonly #reservations = new Map<string, CounterBlocks>();
  /** The last storage failure reported (cleared once storage works again). */
  #lastError: { message: string; at: number } | undefined;
  /** Storage failures reported since the store started. */
  #errors = 0;
  readonly #commitObservers = new Set<(commit: CommitObservation) => void>();

  private constructor(store: string, config: StorePersistenceConfig) {
    const adapter = config.adapter;
    this.#store = store;
    /** The adapter's noex-style key/value side, used for named backups. */
    let kv: StorageAdapter | undefined;
    if (isIncrementalAdapter(adapter)) {
      this.#incremental = adapter;
      if (isSnapshotAdapter(adapter)) kv = adapter;
    } else if (isSnapshotAdapter(adapter)) {
      this.#snapshot = adapter;
      kv = adapter;
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
    if (durability !== 'debounced' && durability !== 'process' && durability !== 'strict')
      throw new InvalidArgumentError(
        'Store.start',
        'persistence.durability',
        `expected "debounced", "process" or "strict", got ${JSON.stringify(durability)}`,
      );
    if (config.onError !== undefined && typeof config.onError !== 'function')
      throw new InvalidArgumentError('Store.start', 'persistence.onError', 'expected a function');
    this.#onError = config.onError;
    this.#durability = durability;
    this.#backups = kv === undefined ? undefined : new NamedBackups(kv, store);
    this.#queue = new CommitQueue({
      store,
      incremental: this.#incremental,
      snapshot: this.#snapshot,
      // Writes wait for their commit in both process and strict; only the adapter's sync differs.
      strict: durability !== 'debounced',
      debounceMs: debounce,
      open: () => (this.#opened ? undefined : this.#open()),
      report: (e, operation) => this.#report(e, operation),
      committed: (commit) => {
        for (const observe of this.#commitObservers) {
          try {
            observe(commit);
          } catch {
            /* an observer must not break the commit pipeline */
          }
        }
      },
    });
    const queue = this.#queue;
    this.#log = {
      store,
      adapter: this.#incremental,
      ensureOpen: async () => {
        if (!this.#opened) {
          try {
            await this.#open();
          } catch {
            /* reported; what is queued is all there is */
          }
        }
        return this.#opened;
      },
      unstored: () => [
        ...(queue.inflight !== undefined ? [queue.inflight] : []),
        {
          history: queue.pending.history,
          get feed() {
            return queue.pending.feed.rows();
          },
        },
      ],
    };
  }

  /** Builds the storage of a store (Store.start calls it when `persistence` is configured). */
  static async create(store: string, config: StorePersistenceConfig): Promise<PersistenceManager> {
    const m = new PersistenceManager(store, config);
    try {
      await m.#open();
    } catch (e) {
      // Storage that holds nothing yet and cannot be created now (unwritable location) is reported;
      // the store serves from memory and retries on every flush. Anything else (another live writer,
      // a damaged or unreadable file, a full disk) is fatal: starting without the stored data would
      // let new writes replace it.
      if (!(e instanceof StorageUnavailableError)) throw m.#openFailure(e);
      m.#report(e, 'open');
    }
    return m;
  }

  /** The file or directory of the adapter, for messages. */
  get #where(): string {
    const a = (this.#incremental ?? this.#snapshot) as { path?: unknown; dir?: unknown };
    return String(a.path ?? a.dir ?? 'storage');
  }

  /** Why storage could not be opened at start, as a typed error. */
  #openFailure(e: unknown): StorageError {
    if (e instanceof StorageError && !(e.code === 'STORAGE_ERROR' && isCorruption(e))) return e;
    if (isCorruption(e))
      return new StorageCorruptError(
        this.#where,
        `Storage "${this.#where}" is damaged and cannot be opened (${(e as Error).message}); the store did not start, nothing was changed`,
        undefined,
        e,
        { lost: 'the whole store' },
      );
    return toStorageError('open', e, this.#where);
  }

  #report(e: unknown, operation = 'commit'): void {
    const err = toStorageError(operation, e);
    this.#errors++;
    this.#lastError = { message: err.message, at: Date.now() };
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
    const { lastSeq } = await a.open(this.#store, {
      onError: (e) => this.#report(e, 'load'),
      durability: this.#durability,
    });
    this.#opened = true;
    // Sequence numbers handed out before storage could be opened move above the stored ones.
    if (lastSeq > 0) {
      this.#queue.seq += lastSeq;
      this.#queue.host?.shiftSeq(lastSeq);
      this.#queue.pending.renumber(lastSeq);
    }
    this.#follow();
  }

  /** Shared databases: other instances' commits reach this store's memory (once storage is open). */
  #follow(): void {
    const a = this.#incremental;
    const host = this.#queue.host;
    if (a?.follow === undefined || host === undefined || !this.#opened || this.#following) return;
    this.#following = true;
    const q = this.#queue;
    const resync = async (load: () => Promise<RemoteSnapshot>) => {
      // What this instance has committed is in the snapshot; what it has not stays as it is here.
      await q.flush().catch(() => {});
      const snap = await load();
      if (q.closed) return;
      const changes: RemoteChange[] = [];
      for (const [bucket, rows] of snap.buckets) {
        const state = host.bucketState(bucket);
        if (state === undefined || !state.def.persistent) continue;
        const pending = q.pending.records.get(bucket);
        const stored = new Set<string>();
        for (const [key, data] of rows) {
          stored.add(key);
          const keyId = decodeKey(key);
          if (pending?.has(keyId) === true) continue;
          const record = JSON.parse(data) as StoreRecord;
          changes.push({ bucket, keyId, record, data, seq: snap.seq });
        }
        for (const keyId of state.records.keys()) {
          if (stored.has(encodeKey(keyId)) || pending?.has(keyId) === true) continue;
          changes.push({ bucket, keyId, record: undefined, data: undefined, seq: snap.seq });
        }
      }
      if (snap.seq > q.seq) q.seq = snap.seq;
      host.applyRemote(changes, snap.at);
    };
    a.follow(
      this.#store,
      (writes) => {
        if (q.closed || writes.length === 0) return;
        const changes: RemoteChange[] = [];
        for (const w of writes)
          changes.push({
            bucket: w.bucket,
            keyId: decodeKey(w.key),
            record: w.data === null ? undefined : (JSON.parse(w.data) as StoreRecord),
            data: w.data ?? undefined,
            seq: w.seq,
          });
        const last = writes[writes.length - 1]!;
        if (last.seq > q.seq) q.seq = last.seq;
        host.applyRemote(changes, last.at);
      },
      {
        resync,
        readOnly: a.readOnly,
        definitions: async (defs) => {
          for (const d of defs) {
            if (q.closed || host.remoteDefinition === undefined) return;
            const local = host.bucketState(d.bucket);
            if (d.definition === undefined) {
              // Dropped there; a bucket this instance is about to store (queued) stays.
              if (local === undefined || !local.def.persistent || q.pending.buckets.has(d.bucket)) continue;
            } else if (
              local !== undefined &&
              JSON.stringify(serializeDefinition(local.def.definition)) === JSON.stringify(d.definition)
            )
              continue; // this instance's own definition
            try {
              await host.remoteDefinition(d.bucket, d.definition?.definition);
            } catch (e) {
              this.#report(e, 'load');
            }
          }
        },
      },
    );
  }

  /** The last sequence number in storage (known once storage is open): the store continues from it. */
  get lastSeq(): number {
    return this.#queue.seq;
  }

  listener(host: StorageHost): (batch: ChangeBatch) => Promise<void> | undefined {
    this.#queue.host = host;
    this.#follow();
    return (batch) => this.#queue.onBatch(batch);
  }

  /** Commit everything queued now, as one storage transaction. Rejects with StorageError when that fails. */
  flush(): Promise<void> {
    return this.#queue.flush();
  }

  // ── Buckets ─────────────────────────────────────────────────────

  async restoreBucket(state: BucketState, options?: { readonly held?: boolean }): Promise<void> {
    const q = this.#queue;
    const held = options?.held === true;
    await restoreBucket(state, {
      load: async (name) => {
        if (this.#snapshot !== undefined) return loadSnapshotBucket(this.#snapshot, this.#store, name);
        await this.#open();
        return this.#incremental!.loadBucket(this.#store, name);
      },
      where: this.#where,
      report: (e) => this.#report(e, 'load'),
      storeDefinition: (name, def) => {
        if (!held) this.#storeDefinition(name, def);
      },
      rewrite: (name, keyId, r) => {
        if (held) return;
        const seq = q.nextSeq();
        q.pending.addRecord(name, keyId, 'update', seq, r._version, r, seq, r._version);
      },
    });
    // Shared databases: generated keys come from blocks reserved in the database.
    const a = this.#incremental;
    if (a?.reserveCounter !== undefined && state.def.hasAutoincrement) {
      const store = this.#store;
      const name = state.name;
      const blocks = new CounterBlocks((n) => a.reserveCounter!(store, name, n));
      state.counterReservation = blocks;
      this.#reservations.set(name, blocks);
    }
  }

  #storeDefinition(name: string, def: StoredDefinition): void {
    const q = this.#queue;
    if (q.isReadOnly()) return;
    if (this.#snapshot !== undefined) q.pending.dirty.add(name);
    else q.pending.bucketOp(name).definition = def;
    q.schedule();
  }

  async dropBucket(name: string): Promise<void> {
    const q = this.#queue;
    if (q.closed || q.isReadOnly()) return;
    if (this.#snapshot !== undefined) {
      q.pending.dirty.delete(name);
      q.pending.dropped.add(name);
    } else q.pending.resetOp(name, 'drop');
    await q.flushQuietly();
  }

  /** A bucket's definition was replaced (updateBucket, migrations); `rewritten`: its records changed too. */
  bucketReplaced(state: BucketState, rewritten: boolean): void {
    const q = this.#queue;
    if (q.closed || !state.def.persistent || q.isReadOnly()) return;
    const name = state.name;
    if (this.#snapshot !== undefined) {
      q.pending.dirty.add(name);
    } else {
      const op = rewritten ? q.pending.resetOp(name, 'clear') : q.pending.bucketOp(name);
      op.definition = serializeDefinition(state.def.definition);
      op.autoincrement = state.autoincrement;
      if (rewritten)
        for (const [k, r] of state.records)
          q.pending.addRecord(name, k, 'insert', q.nextSeq(), r._version, r);
    }
    q.schedule();
  }

  // ── History and change feed ─────────────────────────────────────

  /** Whether this storage keeps the history of persistent buckets (incremental adapters that can read it back). */
  get keepsHistory(): boolean {
    return this.#incremental?.readHistory !== undefined;
  }

  /** False while another instance sharing the database purges expired records. */
  get runsOnceOnlyWork(): boolean {
    return this.#incremental?.isLeader?.(this.#store) ?? true;
  }

  /** Whether this storage keeps the change feed of persistent changes. */
  get keepsFeed(): boolean {
    return this.#incremental?.readChanges !== undefined;
  }

  readHistory(bucket: string, keyId: KeyId, f: HistoryFilter): Promise<HistoryWrite[]> {
    return readHistory(this.#log, bucket, keyId, f);
  }

  readChanges(since: number, limit: number): Promise<FeedWrite[]> {
    return readChanges(this.#log, since, limit);
  }

  // ── Checkpoint, backups, close ──────────────────────────────────

  /** Force a checkpoint of the adapter (SQLite WAL checkpoint, FileAdapter compaction). */
  async checkpoint(): Promise<void> {
    await this.flush();
    await this.#incremental?.checkpoint?.();
  }

  backupTo(
    target: string,
    buckets: Map<string, BucketState>,
    options: BackupToOptions,
  ): Promise<BackupFileInfo> {
    const source = {
      store: this.#store,
      adapter: this.#incremental,
      lastSeq: () => this.#queue.seq,
      flush: () => this.flush(),
    };
    return backupTo(source, target, buckets, options);
  }

  get createBackup() {
    const b = this.#backups;
    return b && ((name: string, buckets: Map<string, BucketState>) => b.create(name, buckets));
  }

  get listBackups() {
    const b = this.#backups;
    return b && (() => b.list());
  }

  get loadBackup() {
    const b = this.#backups;
    return b && ((name: string) => b.load(name));
  }

  get deleteBackup() {
    const b = this.#backups;
    return b && ((name: string) => b.delete(name));
  }

  /** Storage health for monitoring (`/health`): degraded while commits fail or after changes were lost. */
  status(): StorageStatus {
    const { failures, lostWrites } = this.#queue.health;
    if (failures === 0 && lostWrites === 0 && (this.#opened || this.#incremental === undefined))
      this.#lastError = undefined;
    const degraded = failures > 0 || lostWrites > 0 || this.#lastError !== undefined;
    const last = this.#lastError;
    return {
      state: degraded ? 'degraded' : 'ok',
      ...(last !== undefined ? { lastError: last.message, lastErrorAt: last.at } : {}),
      failures,
      lostWrites,
      errors: this.#errors,
      ...(this.#incremental?.walBytes !== undefined ? { walBytes: this.#incremental.walBytes() } : {}),
    };
  }

  /** Call `observer` after every successful commit (metrics); returns a function that stops it. */
  observeCommits(observer: (commit: CommitObservation) => void): () => void {
    this.#commitObservers.add(observer);
    return () => this.#commitObservers.delete(observer);
  }

  /** Flush and close; rejects with StorageError when acknowledged changes could not be stored. */
  async close(): Promise<void> {
    if (this.#queue.closed) return;
    try {
      await this.flush();
    } catch {
      /* reported */
    }
    const lost = this.#queue.close();
    try {
      const a = this.#incremental;
      for (const [name, blocks] of this.#reservations) {
        await blocks.idle();
        const used = this.#queue.host?.bucketState(name)?.autoincrement;
        if (blocks.reservedTo > 0 && used !== undefined && a?.releaseCounter !== undefined && this.#opened)
          await a.releaseCounter(this.#store, name, blocks.reservedTo, used);
      }
      if (this.#incremental !== undefined) {
        if (this.#opened) await this.#incremental.close(this.#store);
      } else await this.#snapshot!.close?.();
    } catch (e) {
      this.#report(e, 'close');
    }
    if (lost !== undefined) throw lost;
  }
}
