// The contract between the store facade and durable storage: the
// persistence options of Store.start, what the store gives storage
// (StorageHost) and what storage gives the store (StoreStorage).
import type {
  BackupInfo,
  BucketState,
  ChangeBatch,
  CommitObservation,
  RemoteChange,
  StorageStatus,
} from '../engine/index.js';
import type { HistoryStorage } from '../history/index.js';

export interface StorePersistenceConfig {
  /** Storage adapter (SQLiteAdapter, FileAdapter, MemoryAdapter or a noex-style snapshot adapter). */
  readonly adapter: unknown;
  /** Debounce interval for batched writes in ms. Default: 100. */
  readonly debounceMs?: number;
  /** Called with every storage failure (writes are retried; nothing is thrown into writes). */
  readonly onError?: (error: Error) => void;
  /**
   * `debounced` (default): writes resolve at once, a commit follows within debounceMs (the loss window).
   * `process`: writes resolve once committed to the OS (survive a process crash, not a power loss).
   * `strict`: writes resolve once committed and fsynced (survive a power loss).
   */
  readonly durability?: 'debounced' | 'process' | 'strict';
}

/** `store.backupTo(path, options)`. */
export interface BackupToOptions {
  /** Replace an existing file at `path` (default false: it is an error). */
  readonly overwrite?: boolean;
  /** SQLite pages copied per step; commits run between steps. Default 1000 (4 MB with 4 KB pages). */
  readonly pagesPerStep?: number;
  /** Called after every step of an SQLite online backup. */
  readonly onProgress?: (progress: { totalPages: number; remainingPages: number }) => void;
}

export interface BackupFileInfo {
  /** The file written: an SQLite Quire store (open it with `new SQLiteAdapter(path)`). */
  readonly path: string;
  readonly bytes: number;
  readonly durationMs: number;
}

/**
 * What the Store needs from durable storage; PersistenceManager implements
 * it. The store facade sees storage only through this interface.
 */
export interface StoreStorage {
  /**
   * Fill a freshly defined (empty) bucket from storage: records, autoincrement
   * counter (no events). Rejects when the stored definition/data cannot be
   * reconciled with the new definition (SchemaMismatchError) and when the
   * stored data cannot be read completely (StorageCorruptError, StorageError):
   * a bucket that did not load is never defined, so nothing writes over it.
   */
  /**
   * `held`: a migration's schema session holds the bucket (it is written in
   * full when the session commits), so nothing about it is queued now — not
   * even its definition, which must not land without the rest of the migration.
   */
  restoreBucket(state: BucketState, options?: { readonly held?: boolean }): Promise<void> | void;
  /** A bucket's definition was swapped (updateBucket, migrations); `rewritten`: its records changed too. */
  bucketReplaced(state: BucketState, rewritten: boolean): void;
  dropBucket(name: string): Promise<void> | void;
  /** The commit listener that makes batches durable (returns a promise in strict mode). */
  listener(host: StorageHost): (batch: ChangeBatch) => Promise<void> | undefined;
  /** Commit everything queued; rejects with a StorageError if that fails. */
  flush(): Promise<void>;
  /** Force a storage checkpoint (SQLite WAL checkpoint, FileAdapter compaction). */
  checkpoint?(): Promise<void>;
  close(): Promise<void>;
  createBackup?(name: string, buckets: Map<string, BucketState>): Promise<BackupInfo>;
  listBackups?(): Promise<BackupInfo[]>;
  loadBackup?(name: string): Promise<Record<string, { records: any[]; autoincrement: number }> | undefined>;
  deleteBackup?(name: string): Promise<boolean>;
  /** The last sequence number in storage once opened (the store's counter continues from it). */
  readonly lastSeq?: number;
  /** Whether storage keeps up (for health checks). */
  status?(): StorageStatus;
  /** Call `observer` after every successful commit (metrics); returns a function that stops it. */
  observeCommits?(observer: (commit: CommitObservation) => void): () => void;
  /** History and change feed reads (P-6); see src/history. */
  readonly keepsHistory?: boolean;
  readonly keepsFeed?: boolean;
  /**
   * False while another instance sharing the database does the work that
   * must happen once (TTL purge of persistent buckets); true otherwise.
   */
  readonly runsOnceOnlyWork?: boolean;
  readHistory?: HistoryStorage['readHistory'];
  readChanges?: HistoryStorage['readChanges'];
  backupTo?(
    path: string,
    buckets: Map<string, BucketState>,
    options: BackupToOptions,
  ): Promise<BackupFileInfo>;
}

/** What storage may ask the store about its buckets. */
export interface StorageHost {
  isPersistent(bucket: string): boolean;
  bucketState(bucket: string): BucketState | undefined;
  /** The store's next sequence number (for writes that are not store changes). */
  nextSeq(): number;
  /** The last sequence number handed out (also to changes storage does not keep). */
  currentSeq(): number;
  /** Storage opened late and holds higher sequence numbers: move the store's counter up by `offset`. */
  shiftSeq(offset: number): void;
  /** Change feed size (0: no feed). */
  readonly feedLimit: number;
  /** Apply changes another instance committed to shared storage (events, queries; not stored again). */
  applyRemote(changes: readonly RemoteChange[], at: number): void;
  /**
   * Another instance sharing the database defined or changed (`definition`:
   * its stored form) or dropped (undefined) a bucket: bring this store's
   * bucket in line, loading its records from storage.
   */
  remoteDefinition?(bucket: string, definition: Record<string, unknown> | undefined): Promise<void>;
}
