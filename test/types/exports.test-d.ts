import { describe, expectTypeOf, it } from 'vitest';
import type { BridgeOptions, EventReceiver } from '../../src/bridge/index.js';
import type {
  BackupInfo,
  BucketDefinition,
  BucketDeletedEvent,
  BucketEvent,
  BucketInsertedEvent,
  BucketUpdatedEvent,
  DeclarativeQueryConfig,
  FieldDefinition,
  FilterOperators,
  GroupByResult,
  Migration,
  MigrationContext,
  PaginatedResult,
  PaginateOptions,
  QueryInfo,
  RecordMeta,
  SchemaDefinition,
  StorageAdapter,
  StoreOptions,
  StorePersistenceConfig,
  StoreRecord,
  StoreStats,
  WhereFilter,
} from '../../src/index.js';

// Appendix A type exports: this file only compiles if every one of them exists
// (vitest typecheck and `tsc --noEmit` both check it).
describe('type exports (Appendix A)', () => {
  it('event types have the noex shapes', () => {
    expectTypeOf<BucketInsertedEvent>().toEqualTypeOf<{
      readonly type: 'inserted';
      readonly bucket: string;
      readonly key: unknown;
      readonly record: StoreRecord;
    }>();
    expectTypeOf<BucketUpdatedEvent>().toEqualTypeOf<{
      readonly type: 'updated';
      readonly bucket: string;
      readonly key: unknown;
      readonly oldRecord: StoreRecord;
      readonly newRecord: StoreRecord;
    }>();
    expectTypeOf<BucketDeletedEvent>().toEqualTypeOf<{
      readonly type: 'deleted';
      readonly bucket: string;
      readonly key: unknown;
      readonly record: StoreRecord;
    }>();
    expectTypeOf<BucketEvent>().toEqualTypeOf<
      BucketInsertedEvent | BucketUpdatedEvent | BucketDeletedEvent
    >();
  });

  it('record, query and store types', () => {
    expectTypeOf<RecordMeta>().toHaveProperty('_version').toEqualTypeOf<number>();
    expectTypeOf<StoreRecord>().toExtend<RecordMeta>();
    expectTypeOf<PaginatedResult>().toHaveProperty('hasMore').toEqualTypeOf<boolean>();
    expectTypeOf<GroupByResult>().toEqualTypeOf<{
      readonly key: Record<string, unknown>;
      readonly value: number;
    }>();
    expectTypeOf<{ limit: 10; after: 'x' }>().toExtend<PaginateOptions>();
    expectTypeOf<{ age: { $gte: 3 }; $or: [{ a: 1 }] }>().toExtend<WhereFilter>();
    expectTypeOf<{ $in: [1, 2] }>().toExtend<FilterOperators>();
    expectTypeOf<{ key: 'id'; schema: { id: { type: 'string' } } }>().toExtend<BucketDefinition>();
    expectTypeOf<{ type: 'number'; min: 0 }>().toExtend<FieldDefinition>();
    expectTypeOf<{ id: { type: 'string' } }>().toExtend<SchemaDefinition>();
    expectTypeOf<{ bucket: 'users'; filter: { a: 1 }; limit: 3 }>().toExtend<DeclarativeQueryConfig>();
    expectTypeOf<QueryInfo>().toHaveProperty('activeSubscriptions').toEqualTypeOf<number>();
    expectTypeOf<{ name: 's'; ttlCheckIntervalMs: 0 }>().toExtend<StoreOptions>();
    expectTypeOf<StoreStats>().toHaveProperty('ttl').toEqualTypeOf<{
      readonly enabled: boolean;
      readonly checkIntervalMs: number;
    }>();
    expectTypeOf<StorePersistenceConfig>().toHaveProperty('debounceMs');
    expectTypeOf<BackupInfo>().toHaveProperty('name').toEqualTypeOf<string>();
    expectTypeOf<StorageAdapter>().toHaveProperty('save');
    expectTypeOf<StorageAdapter>().toHaveProperty('load');
    expectTypeOf<Migration>().toHaveProperty('version');
    expectTypeOf<MigrationContext>().toHaveProperty('createBucket');
  });

  it('bridge types', () => {
    expectTypeOf<{
      emit(topic: string, data: Record<string, unknown>): Promise<void>;
    }>().toExtend<EventReceiver>();
    expectTypeOf<BridgeOptions>().toHaveProperty('mapTopic');
  });
});
