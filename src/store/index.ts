// The store folder's face to the rest of Quire (src/index.ts picks what is public).
export { aggregate, avgOf, groupRecords, maxOf, minOf, sumOf } from './aggregate.js';
export { BucketHandle } from './bucket-handle.js';
export { BucketState, sortRecords } from './bucket-state.js';
export {
  type CommitListener,
  type HistoryEntryRow,
  type HistoryFilter,
  type HistoryReader,
  StoreCore,
} from './core.js';
export {
  type CompiledBucket,
  compileDefinition,
  type HistoryConfig,
  type IndexDef,
  type RefDef,
} from './definition.js';
export { type Change, type ChangeBatch, type ChangeOp, RefIndex, WriteSet } from './engine.js';
export * from './errors.js';
export { compileFilter, isFilterOperators, matchesFilter } from './filter.js';
export type { KeyId } from './indexes.js';
export type { InferField, InferInsert, InferRecord, InferSchema, InferStoredRecord } from './infer.js';
export { applyRemote, type RemoteChange } from './remote.js';
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
export type * from './types.js';
export { compareValues, deepEqual, encodeTuple, isPlainObject } from './values.js';
