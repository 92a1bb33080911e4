// The store folder's face: the public facade (Store, BucketHandle) on top of
// the engine, whose face it passes on so code above needs one import
// (src/index.ts picks what is public).
export * from '../engine/index.js';
export { BucketHandle } from './bucket-handle.js';
export {
  type BackupFileInfo,
  type BackupToOptions,
  registerStorageFactory,
  type StorageFactory,
  type StorageHost,
  Store,
  type StoreOptions,
  type StorePersistenceConfig,
  type StoreStorage,
} from './store.js';
