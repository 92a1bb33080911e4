// Durable storage for Quire: the PersistenceManager the Store builds when
// `persistence` is configured, the adapters behind it, and its errors.

export {
  bucketKey,
  type DefinitionDiff,
  decodeKey,
  diffDefinitions,
  encodeKey,
  parseBucketKey,
  sameDefinition,
  serializeDefinition,
  snapshotView,
  stableJson,
} from './codec.js';
export { type CopyProgress, type CopyResult, copyStore } from './copy.js';
export {
  CommitConflictError,
  CommitOutcomeUnknownError,
  CommitTimeoutError,
  type ConflictingWrite,
  DatabaseUnreachableError,
  JournalDamagedError,
  type LockHolder,
  ReadOnlyStorageError,
  SchemaMismatchError,
  type SkippedJournalRange,
  StorageCorruptError,
  StorageCorruptionError,
  StorageError,
  StorageLockedError,
  StorageUnavailableError,
  toStorageError,
} from './errors.js';
export { FileAdapter, type FileAdapterOptions } from './file-adapter.js';
export { PersistenceManager } from './manager.js';
export { MemoryAdapter } from './memory-adapter.js';
export { type RestoreFromBackupOptions, restoreFromBackup } from './restore-file.js';
export { SQLITE_SCHEMA_VERSION, SQLiteAdapter, type SQLiteAdapterOptions } from './sqlite-adapter.js';
export type {
  BackupFileInfo,
  BackupToOptions,
  StorageHost,
  StorePersistenceConfig,
  StoreStorage,
} from './store-storage.js';
export type {
  AdapterContext,
  BucketWrite,
  CommitUnit,
  FeedWrite,
  FollowOptions,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  RecordWrite,
  RemoteDefinition,
  RemoteSnapshot,
  RemoteWrite,
  StorageAdapter,
  StoredBucket,
  StoredDefinition,
  UnitStream,
} from './types.js';
