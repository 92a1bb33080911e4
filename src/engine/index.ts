// The engine's face: the synchronous core every other folder builds on
// (records, indexes, schema, filters, WriteSet, ChangeBatch, StoreCore).
export { aggregate, avgOf, groupRecords, maxOf, minOf, sumOf } from './aggregate.js';
export { BucketState, type CounterReservation, sortRecords } from './bucket-state.js';
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
export * from './errors.js';
export { compileFilter, isFilterOperators, matchesFilter } from './filter.js';
export { type KeyId, sortedWalkCounter } from './indexes.js';
export type { InferField, InferInsert, InferRecord, InferSchema, InferStoredRecord } from './infer.js';
export { applyRemote, type RemoteChange } from './remote.js';
export type {
  BucketName,
  BucketTypes,
  EventFor,
  EventPattern,
  FieldOf,
  FilterFor,
  InsertOf,
  IsUntyped,
  QueryContextFor,
  RecordOf,
  SchemaOf,
  SchemaTypes,
  TypedDeletedEvent,
  TypedFilterOperators,
  TypedInsertedEvent,
  TypedQueryBucket,
  TypedQueryContext,
  TypedUpdatedEvent,
  TypedWhereFilter,
  UntypedSchema,
  WhereOptionsFor,
} from './typed.js';
export type * from './types.js';
export {
  compareValues,
  DEFAULT_MAX_NESTING_DEPTH,
  deepEqual,
  encodeTuple,
  isObjectArg,
  isPlainObject,
} from './values.js';
export { type Change, type ChangeBatch, type ChangeOp, RefIndex, refKeyId, WriteSet } from './write-set.js';
