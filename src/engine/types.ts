// Public types of the store. Names and shapes follow @hamicek/noex-store 0.2
// so that programs written against it type-check unchanged; Quire's
// extensions (composite keys, index specs, history, typed records) are additive.

export type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'date';
export type GeneratedType = 'uuid' | 'cuid' | 'autoincrement' | 'timestamp';
export type FormatType = 'email' | 'url' | 'iso-date';
export type EtsTableType = 'set' | 'ordered_set' | 'bag' | 'duplicate_bag';
export type OnDeleteAction = 'restrict' | 'cascade' | 'set_null';

export interface FieldDefinition {
  readonly type: FieldType;
  readonly required?: boolean;
  readonly default?: unknown | (() => unknown);
  readonly generated?: GeneratedType;
  readonly enum?: readonly unknown[];
  readonly format?: FormatType;
  readonly min?: number;
  readonly max?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly ref?: string;
  readonly onDelete?: OnDeleteAction;
  readonly unique?: boolean;
  /** Nested schema for `type: 'object'`. */
  readonly properties?: SchemaDefinition;
  /** Element schema for `type: 'array'`. */
  readonly items?: FieldDefinition;
  /** Field validator: return an error message, or `undefined` when valid. */
  readonly validate?: (value: any, record: Record<string, unknown>) => string | undefined;
}

export type SchemaDefinition = Readonly<Record<string, FieldDefinition>>;

/**
 * An index: a field name (hash index, as in noex-store), a list of field
 * names (compound hash index), or an object for sorted and unique indexes.
 */
export type IndexSpec =
  | string
  | readonly string[]
  | {
      readonly fields: string | readonly string[];
      /** Rejects two records with the same values in these fields. */
      readonly unique?: boolean;
      /** Keeps entries ordered: serves range filters and `sort` without a full scan. */
      readonly sorted?: boolean;
      readonly name?: string;
    };

export interface HistoryOptions {
  /** Keep at most this many versions per key (oldest are pruned). */
  readonly maxVersions?: number;
  /** Drop versions older than this (ms or "30d"). */
  readonly maxAge?: number | string;
}

export interface BucketDefinition {
  /** Primary key field, or several fields for a composite key. */
  readonly key: string | readonly string[];
  readonly schema: SchemaDefinition;
  readonly indexes?: readonly IndexSpec[];
  readonly etsType?: EtsTableType;
  /** Opt out of persistence. Default: persistent when the store has persistence. */
  readonly persistent?: boolean;
  /** Time-to-live per record: ms, or "30s" "15m" "1h" "7d". */
  readonly ttl?: number | string;
  /** Maximum number of records; the oldest by `_createdAt` are evicted on insert. */
  readonly maxSize?: number;
  /** Whole-record validator: return error messages, or `undefined` when valid. */
  readonly validate?: (record: Record<string, unknown>) => string[] | undefined;
  /** Keep every version of every record (see `history()`). */
  readonly history?: boolean | HistoryOptions;
}

export interface BucketSchemaUpdate {
  readonly addFields?: Readonly<Record<string, FieldDefinition>>;
  readonly addIndexes?: readonly IndexSpec[];
  /** `null` removes the TTL. */
  readonly ttl?: number | string | null;
}

export type RecordMeta = {
  readonly _version: number;
  readonly _createdAt: number;
  readonly _updatedAt: number;
  readonly _expiresAt?: number;
};

export type StoreRecord<T = Record<string, unknown>> = T & RecordMeta;

// ── Events ──────────────────────────────────────────────────────────

export type BucketEventType = 'inserted' | 'updated' | 'deleted';

export interface BucketInsertedEvent {
  readonly type: 'inserted';
  readonly bucket: string;
  readonly key: unknown;
  readonly record: StoreRecord;
}
export interface BucketUpdatedEvent {
  readonly type: 'updated';
  readonly bucket: string;
  readonly key: unknown;
  readonly oldRecord: StoreRecord;
  readonly newRecord: StoreRecord;
}
export interface BucketDeletedEvent {
  readonly type: 'deleted';
  readonly bucket: string;
  readonly key: unknown;
  readonly record: StoreRecord;
}
export type BucketEvent = BucketInsertedEvent | BucketUpdatedEvent | BucketDeletedEvent;

// ── Queries ─────────────────────────────────────────────────────────

export interface FilterOperators {
  readonly $eq?: unknown;
  readonly $neq?: unknown;
  readonly $gt?: number | string;
  readonly $gte?: number | string;
  readonly $lt?: number | string;
  readonly $lte?: number | string;
  readonly $in?: readonly unknown[];
  readonly $nin?: readonly unknown[];
  /** Case-insensitive substring for strings; membership for arrays. */
  readonly $contains?: unknown;
  readonly $startsWith?: string;
  readonly $endsWith?: string;
  readonly $exists?: boolean;
  /** Inclusive range `[lower, upper]`. */
  readonly $between?: readonly [number | string, number | string];
}

export type FilterValue = unknown | FilterOperators;

export interface WhereFilter {
  readonly $or?: readonly WhereFilter[];
  readonly $and?: readonly WhereFilter[];
  readonly [field: string]: FilterValue;
}

export type SortDirection = 'asc' | 'desc';
export type SortSpec = Readonly<Record<string, SortDirection>>;

export interface WhereOptions {
  /** Field → direction; null/undefined values sort last in either direction. */
  readonly sort?: SortSpec;
  readonly limit?: number;
  readonly offset?: number;
}

export interface PaginateOptions {
  readonly after?: unknown;
  readonly limit: number;
}

export interface PaginatedResult<R = StoreRecord> {
  readonly records: R[];
  readonly hasMore: boolean;
  readonly nextCursor: unknown | undefined;
}

export type AggregateFunction = 'count' | 'sum' | 'avg' | 'min' | 'max';

export interface GroupByResult {
  readonly key: Record<string, unknown>;
  readonly value: number;
}

export interface QueryDependencies {
  readonly bucketLevel: ReadonlySet<string>;
  readonly recordLevel: ReadonlyMap<string, ReadonlySet<unknown>>;
}

export interface QueryBucket {
  get(key: unknown): Promise<StoreRecord | undefined>;
  all(): Promise<StoreRecord[]>;
  where(filter: WhereFilter, options?: WhereOptions): Promise<StoreRecord[]>;
  findOne(filter: WhereFilter): Promise<StoreRecord | undefined>;
  count(filter?: WhereFilter): Promise<number>;
  first(n: number): Promise<StoreRecord[]>;
  last(n: number): Promise<StoreRecord[]>;
  paginate(options: PaginateOptions): Promise<PaginatedResult>;
  sum(field: string, filter?: WhereFilter): Promise<number>;
  avg(field: string, filter?: WhereFilter): Promise<number>;
  min(field: string, filter?: WhereFilter): Promise<number | undefined>;
  max(field: string, filter?: WhereFilter): Promise<number | undefined>;
  groupBy(
    field: string | string[],
    aggregate: { function: AggregateFunction; field?: string },
    filter?: WhereFilter,
  ): Promise<GroupByResult[]>;
}

export interface QueryContext {
  bucket(name: string): QueryBucket;
}

export type QueryFn<TParams = any, TResult = unknown> = (
  ctx: QueryContext,
  params: TParams,
) => Promise<TResult>;

export type ReadFilter = (bucketName: string) => WhereFilter | null;

export interface DeclarativeQueryConfig {
  readonly bucket: string;
  readonly filter?: Readonly<WhereFilter>;
  readonly sort?: Readonly<Record<string, SortDirection>>;
  readonly limit?: number;
  readonly offset?: number;
  readonly fields?: readonly string[];
  readonly aggregate?: {
    readonly function: AggregateFunction;
    readonly field?: string;
    readonly groupBy?: string | readonly string[];
  };
}

export type QueryType = 'programmatic' | 'declarative';

export interface QueryInfo {
  readonly name: string;
  readonly type: QueryType;
  readonly config?: DeclarativeQueryConfig;
  readonly activeSubscriptions: number;
}

// ── Store ───────────────────────────────────────────────────────────

export interface StoreStats {
  readonly name: string;
  readonly buckets: { readonly count: number; readonly names: string[] };
  readonly records: { readonly total: number; readonly perBucket: Record<string, number> };
  readonly indexes: { readonly total: number; readonly perBucket: Record<string, number> };
  readonly queries: { readonly defined: number; readonly activeSubscriptions: number };
  readonly persistence: { readonly enabled: boolean };
  readonly ttl: { readonly enabled: boolean; readonly checkIntervalMs: number };
}

export interface BackupInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly bucketNames: readonly string[];
  readonly totalRecords: number;
}

/** Options accepted by every write. */
export interface WriteOptions {
  /** Who made the change; recorded in history and the change feed. */
  readonly actor?: string;
  /**
   * Permission check, called after the write is staged and before anything
   * changes: `('write', bucket)` for every bucket the write would change,
   * referential actions (cascade, set null) and eviction included, and
   * `('read', bucket)` for every bucket a new or changed reference points
   * into (a reference check reveals whether a key exists there) and for a
   * bucket whose records block a delete. Throw to refuse: nothing changes.
   */
  readonly authorize?: WriteAuthorizer;
}

export type WriteAuthorizer = (access: 'read' | 'write', bucket: string) => void;

/** `store.storageStatus()`: whether durable storage is keeping up. */
export interface StorageStatus {
  /** `degraded` while commits fail (they are retried) or after changes could not be stored. */
  readonly state: 'ok' | 'degraded';
  /** The last storage failure and when it happened (ms), until a commit succeeds again. */
  readonly lastError?: string;
  readonly lastErrorAt?: number;
  /** Failed commit attempts in a row. */
  readonly failures: number;
  /** Acknowledged changes that could not be stored (since the store started). */
  readonly lostWrites: number;
  /** Storage failures reported since the store started (commits, loads, opens). */
  readonly errors?: number;
  /** Bytes in the write-ahead log not yet checkpointed (SQLite stores). */
  readonly walBytes?: number;
}

/** One storage commit (`store.observeCommits`), for metrics. */
export interface CommitObservation {
  /** Time the commit took (the storage transaction, fsync included), in ms. */
  readonly durationMs: number;
  /** Store writes (ChangeBatches) the commit carried: more than one when writers shared it (group commit). */
  readonly batches: number;
}
