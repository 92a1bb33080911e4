// The adapter interfaces.
//
// Quire's own adapters (SQLiteAdapter, FileAdapter, MemoryAdapter) are
// *incremental*: the store hands them, per flush, one CommitUnit holding the
// coalesced per-record upserts and deletes of every bucket plus bucket-level
// changes (definition, autoincrement counter, drop). An adapter must apply a
// unit atomically — all of it or nothing — and durably before `commit`
// returns (or its promise resolves). That is the whole contract; ordering,
// batching, retries, group commit and definition checks live above the
// adapters (commit-queue.ts, restore.ts), not in them.
//
// Any object with noex-store's snapshot shape (`save/load/delete/exists/
// listKeys/close?`) works too, as a *snapshot* adapter: whole-bucket saves
// under `<store>:bucket:<name>`, debounced, as in noex-store. Quire's own
// adapters implement that shape as well (a small key/value area, used for
// backups), so code that reads `adapter.load('<store>:bucket:<name>')` keeps working.

import type { HistoryFilter, StoreRecord } from '../engine/index.js';
import type { FeedRow, LogRow, RetentionRule } from '../history/index.js';

/** The JSON-serialisable part of a bucket definition, as stored (P-5). */
export interface StoredDefinition {
  /** The definition with every function removed. */
  readonly definition: Record<string, unknown>;
  /** Paths of the functions the definition had (`validate`, `schema.name.default` …): they cannot be stored. */
  readonly functions: readonly string[];
}

/** What an adapter returns for a stored bucket. */
export interface StoredBucket {
  readonly definition: StoredDefinition | undefined;
  readonly autoincrement: number;
  /** Records in insertion order. Adapters stream them (no giant strings); consumed exactly once. */
  readonly records: Iterable<StoreRecord>;
  /**
   * The same records a chunk at a time, for adapters that read them so
   * (restores then skip a step per record). Consumed instead of `records`,
   * exactly once.
   */
  readonly chunks?: Iterable<readonly StoreRecord[]>;
}

/** One record's final state in a flush (earlier changes of the same key in that flush are folded in). */
export interface RecordWrite {
  readonly bucket: string;
  /** Stable text encoding of the internal key: `JSON.stringify(keyId)` (so 1 and "1" differ). */
  readonly key: string;
  /**
   * `insert`: the record becomes the last one in insertion order (replacing a
   * stored row of the same key, if a delete of it was folded in);
   * `update`: content changes, position is kept; `delete`: the row goes.
   */
  readonly op: 'insert' | 'update' | 'delete';
  /** Sequence number of the last change folded into this write (monotonic per store, never reused). */
  readonly seq: number;
  /** Position in insertion order (the seq of the insert that put the record there). */
  readonly ord: number;
  /** `_version` of the record after the change (the deleted version for deletes). */
  readonly version: number;
  /**
   * `_version` the writer's copy had before the first change folded into this
   * write (0: the record did not exist). Adapters of a database shared by
   * several instances write only if the stored row still has it.
   */
  readonly base?: number;
  /** The record as JSON (insert and update). */
  readonly data: string | undefined;
}

/** Bucket-level changes; applied before the unit's record writes. */
export interface BucketWrite {
  readonly bucket: string;
  /** Remove the bucket (records, counter, definition) first. */
  readonly drop?: boolean;
  /** Remove all records of the bucket first (a rewrite follows in `records`). */
  readonly clear?: boolean;
  /** New stored definition. */
  readonly definition?: StoredDefinition;
  /** New autoincrement counter value. */
  readonly autoincrement?: number;
}

/**
 * One version of a record in the history of a bucket with `history` (P-6):
 * `key` is the record key's text encoding (as in RecordWrite), `data` the
 * record as JSON (null for deletes). History rows are never folded: every
 * change is one row.
 */
export type HistoryWrite = LogRow<string> & { readonly key: string };

/** One change in the store's change feed; `key` is the public key as JSON. */
export type FeedWrite = FeedRow & { readonly key: string };

/** Everything one flush writes: one atomic storage transaction. */
export interface CommitUnit {
  readonly buckets: readonly BucketWrite[];
  readonly records: readonly RecordWrite[];
  /** The highest sequence number handed out so far; adapters persist it so seqs survive restarts. */
  readonly lastSeq: number;
  /** History rows to append (in seq order), written after the bucket-level changes. */
  readonly history?: readonly HistoryWrite[];
  /** Retention to apply after appending: per bucket, `maxVersions` for the keys written in this unit, `before` for all keys. */
  readonly retention?: readonly RetentionRule[];
  /** Change feed rows to append (in seq order). */
  readonly feed?: readonly FeedWrite[];
  /** Drop feed rows with `seq <=` this. */
  readonly feedPruneTo?: number;
}

/** A unit being written in parts (IncrementalAdapter.openUnit): one transaction all the same. */
export interface UnitStream {
  /** The next records of the unit, in order. Failures surface at end(). */
  add(records: readonly RecordWrite[]): void;
  /** Commit: `unit` is the whole unit (its records, every one added, are not written again). Rejects as commit() does, changing nothing. */
  end(unit: CommitUnit): Promise<void>;
  /** Roll back (the unit will not be ended). */
  abort(): void;
}

/** How far a commit must get before a write is acknowledged (see docs/persistence.md). */
export type Durability = 'debounced' | 'process' | 'strict';

/**
 * Every stored record of the buckets an instance has loaded, as of one
 * database snapshot (`seq`): an instance that fell behind the pruned change
 * log reloads from it instead of missing changes.
 */
export interface RemoteSnapshot {
  readonly seq: number;
  readonly at: number;
  /** bucket → [key text, record JSON] of every stored record. */
  readonly buckets: ReadonlyMap<string, ReadonlyArray<readonly [string, string]>>;
}

/** What else following a shared database hands the store. */
export interface FollowOptions {
  /**
   * The instance fell behind what the database still keeps of the log:
   * bring memory to a snapshot (`load` reads it); following goes on from there.
   */
  readonly resync?: (load: () => Promise<RemoteSnapshot>) => Promise<void>;
  /** Bucket definitions other instances defined, changed or dropped. */
  readonly definitions?: (changes: ReadonlyArray<RemoteDefinition>) => Promise<void>;
  /** The store was opened read-only: it follows, but never takes on once-only work (it writes nothing). */
  readonly readOnly?: boolean;
}

/** A bucket definition another instance stored (or dropped: `definition` undefined). */
export interface RemoteDefinition {
  readonly bucket: string;
  readonly definition: StoredDefinition | undefined;
}

/** A record's state after a commit of another instance sharing the database (deletes: `data` null). */
export interface RemoteWrite {
  readonly bucket: string;
  /** Key text, as in RecordWrite. */
  readonly key: string;
  readonly data: string | null;
  /** Global sequence number of the change. */
  readonly seq: number;
  readonly at: number;
}

export interface AdapterContext {
  /** Report a problem that did not stop the operation (e.g. a torn journal tail that was cut off). */
  onError(error: Error): void;
  /**
   * The store's durability level. `strict`: a commit must be on stable storage (fsynced) before
   * `commit` returns; otherwise handing it to the OS is enough. Default `strict`.
   */
  readonly durability?: Durability;
}

import type { OwnFiles } from './own-files.js';

type MaybePromise<T> = T | Promise<T>;

/** Quire's incremental adapter interface. Every method may be synchronous or return a promise. */
export interface IncrementalAdapter {
  /** True when opened read-only: `commit` always fails with ReadOnlyStorageError. */
  readonly readOnly: boolean;
  /**
   * Open (or create and upgrade) storage for a store; returns the last persisted sequence number.
   * Throws StorageUnavailableError only when nothing is stored yet and storage cannot be created
   * now; any other failure means stored data could not be read, and the store refuses to start.
   */
  open(store: string, context: AdapterContext): MaybePromise<{ lastSeq: number }>;
  /**
   * A stored bucket, or undefined when nothing is stored under that name. Reading its records
   * throws StorageCorruptError when stored data is damaged or missing (never yields part of it).
   */
  loadBucket(store: string, bucket: string): MaybePromise<StoredBucket | undefined>;
  /** Apply a unit atomically and durably. Throws (changing nothing) on failure. */
  commit(store: string, unit: CommitUnit): MaybePromise<void>;
  /**
   * A large unit in parts: its transaction opens now with `buckets`, records follow in add(), and
   * end() commits it, so that storage writes the first records while the rest are still being
   * encoded. Undefined: commit() the unit whole (the adapter would write it on this thread anyway).
   */
  openUnit?(store: string, buckets: readonly BucketWrite[], records: number): UnitStream | undefined;
  /** Names of the stored buckets of a store. */
  listBuckets(store: string): MaybePromise<string[]>;
  /** Force a checkpoint (SQLite WAL checkpoint, FileAdapter compaction). */
  checkpoint?(): MaybePromise<void>;
  /**
   * Settle commits another thread has finished, now rather than when the event loop next runs
   * (their promises resolve; callbacks run as microtasks).
   */
  poll?(): void;
  /** History rows of one record (`key` encoded as in RecordWrite), newest first. Adapters without it keep no history. */
  readHistory?(
    store: string,
    bucket: string,
    key: string,
    filter: HistoryFilter,
  ): MaybePromise<HistoryWrite[]>;
  /** Change feed rows with `seq > since`, oldest first. */
  readChanges?(store: string, since: number, limit: number): MaybePromise<FeedWrite[]>;
  /**
   * Databases shared by several instances: deliver the record writes other
   * instances commit, in commit order, each exactly once, until `close`.
   * Writes to buckets this adapter has not loaded are left out (loading reads them).
   */
  follow?(store: string, deliver: (writes: RemoteWrite[]) => void, options?: FollowOptions): void;
  /**
   * Shared databases: the stored state of some records (after a commit was
   * refused with CommitConflictError, the store refreshes its copies from it).
   */
  readRecords?(
    store: string,
    keys: ReadonlyArray<{ bucket: string; key: string }>,
  ): MaybePromise<RemoteWrite[]>;
  /**
   * Shared databases: whether this instance is the one doing once-only work
   * (TTL purge) right now. Without it, every instance does its own.
   */
  isLeader?(store: string): boolean;
  /**
   * Shared databases: how long (ms) a strict write waits for its commit before
   * it is rejected (CommitTimeoutError, rolled back; CommitOutcomeUnknownError
   * when it was sent and its outcome is unknown). Without it, strict writes
   * wait until storage works again.
   */
  readonly commitTimeoutMs?: number;
  /**
   * Shared databases: reserve `count` autoincrement values of a bucket in the
   * database ([from, to], never handed to another instance).
   */
  reserveCounter?(store: string, bucket: string, count: number): Promise<{ from: number; to: number }>;
  /**
   * Shared databases, at close: values after `used` up to `reservedTo` were
   * never handed out; give them back if no instance reserved after them.
   */
  releaseCounter?(store: string, bucket: string, reservedTo: number, used: number): Promise<void>;
  /** Shared databases: whether the last failed commit may have committed (its connection broke during COMMIT). */
  commitOutcomeUnknown?(store: string): boolean;
  /** Release what `open(store)` acquired; the adapter can be opened again later. */
  close(store: string): MaybePromise<void>;
  /** The files (and directories) that hold a store: a backup must never be written onto them. */
  ownFiles?(store: string): OwnFiles;
  /** Every stored history and feed row of a store, read synchronously (`store.backupTo()` copies them). */
  dumpLog?(store: string): MaybePromise<{ history: HistoryWrite[]; feed: FeedWrite[] }>;
  /**
   * A native online copy of the whole database to `target` (SQLite's backup
   * API). Without it, `store.backupTo()` writes the buckets and the log as a
   * new SQLite store.
   */
  backupTo?(
    target: string,
    options: {
      pagesPerStep?: number;
      onProgress?: (p: { totalPages: number; remainingPages: number }) => void;
    },
  ): Promise<{ bytes: number }>;
  /** Where the database lives (named in errors; a database is never backed up onto itself). */
  readonly path?: string;
  /** Bytes in the write-ahead log not yet checkpointed (metrics). */
  walBytes?(): number;
}

/** noex's persisted value shape. */
export interface PersistedState<T = unknown> {
  readonly state: T;
  readonly metadata: {
    readonly persistedAt: number;
    readonly serverId: string;
    readonly schemaVersion: number;
  };
}

/** noex-store's snapshot `StorageAdapter` shape; any such object works as a snapshot adapter. */
export interface StorageAdapter {
  save(key: string, data: PersistedState): Promise<void>;
  load<T = unknown>(key: string): Promise<PersistedState<T> | undefined>;
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  listKeys(prefix?: string): Promise<string[]>;
  close?(): Promise<void>;
}

export function isIncrementalAdapter(a: unknown): a is IncrementalAdapter {
  const x = a as Partial<IncrementalAdapter> | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof x.open === 'function' &&
    typeof x.loadBucket === 'function' &&
    typeof x.commit === 'function' &&
    typeof x.close === 'function'
  );
}

export function isSnapshotAdapter(a: unknown): a is StorageAdapter {
  const x = a as Partial<StorageAdapter> | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof x.save === 'function' &&
    typeof x.load === 'function' &&
    typeof x.delete === 'function' &&
    typeof x.exists === 'function' &&
    typeof x.listKeys === 'function'
  );
}
