// Durable storage for Quire: adapters, errors, and the storage factory the
// Store uses when `persistence` is configured. Importing this module (which
// `quire` does) registers the factory.
import { registerStorageFactory } from '../store/index.js';
import { PersistenceManager } from './manager.js';

export type { BackupFileInfo, BackupToOptions } from '../store/index.js';
export { bucketKey, decodeKey, encodeKey, parseBucketKey, snapshotView } from './codec.js';
export {
  type LockHolder,
  ReadOnlyStorageError,
  SchemaMismatchError,
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
  AdapterContext,
  BucketWrite,
  CommitUnit,
  FeedWrite,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  RecordWrite,
  RemoteWrite,
  StorageAdapter,
  StoredBucket,
  StoredDefinition,
} from './types.js';

registerStorageFactory((store, config) => PersistenceManager.create(store, config));
