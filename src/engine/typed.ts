// Compile-time types for stores and clients typed by their schema. Types
// only: nothing here exists at run time. A schema type maps each bucket name
// to its record type and what `insert` accepts; `Store.start({buckets})`
// derives it from bucket definitions, `quire types` writes it for clients.
import type { InferInsert, InferRecord } from './infer.js';
import type {
  AggregateFunction,
  BucketDefinition,
  GroupByResult,
  PaginatedResult,
  PaginateOptions,
  QueryContext,
  RecordMeta,
  SortDirection,
  StoreRecord,
  WhereFilter,
  WhereOptions,
} from './types.js';

type Rec = Record<string, unknown>;

/** One bucket's types: the stored record and what an insert accepts. */
export interface BucketTypes<R extends Rec = Rec, I extends Rec = Rec> {
  readonly record: R;
  readonly insert: I;
}

/** Bucket name → its types. */
export type SchemaTypes = { readonly [bucket: string]: BucketTypes<any, any> };

/** The schema type of a store or client nobody typed: any bucket name, any record. */
export type UntypedSchema = { readonly [bucket: string]: BucketTypes };

/** True when `S` (a schema or a record type) accepts any name, i.e. was not typed. */
export type IsUntyped<S> = string extends keyof S ? true : false;

/** The schema type of a set of bucket definitions (`Store.start({buckets})`). */
export type SchemaOf<B extends { readonly [bucket: string]: BucketDefinition }> = {
  readonly [K in keyof B & string]: BucketTypes<InferRecord<B[K]>, InferInsert<B[K]>>;
};

/** Bucket names of a schema (any string when untyped). */
export type BucketName<S> = keyof S & string;
export type RecordOf<S, N extends keyof S> = S[N] extends BucketTypes<infer R, any> ? R : Rec;
export type InsertOf<S, N extends keyof S> = S[N] extends BucketTypes<any, infer I> ? I : Rec;

/** What a range operator compares a field of type `V` with. */
type Comparable<V> = V extends number
  ? number
  : V extends string
    ? string
    : V extends Date
      ? Date | number | string
      : never;

/** Operators allowed on a field whose values have type `V`. */
export interface TypedFilterOperators<V> {
  readonly $eq?: V | null;
  readonly $neq?: V | null;
  readonly $gt?: Comparable<V>;
  readonly $gte?: Comparable<V>;
  readonly $lt?: Comparable<V>;
  readonly $lte?: Comparable<V>;
  readonly $in?: readonly (V | null)[];
  readonly $nin?: readonly (V | null)[];
  /** Case-insensitive substring for strings; membership for arrays. */
  readonly $contains?: V extends readonly (infer E)[] ? E : V extends string ? string : never;
  readonly $startsWith?: V extends string ? string : never;
  readonly $endsWith?: V extends string ? string : never;
  readonly $exists?: boolean;
  readonly $between?: readonly [Comparable<V>, Comparable<V>];
}

/** A filter over records of type `R`: known field names, operator values of the field's type. */
export type TypedWhereFilter<R> = {
  readonly [K in keyof R & string]?: NonNullable<R[K]> | null | TypedFilterOperators<NonNullable<R[K]>>;
} & {
  readonly $or?: readonly TypedWhereFilter<R>[];
  readonly $and?: readonly TypedWhereFilter<R>[];
};

/** The filter a handle on records `R` accepts: typed, or any filter when `R` is untyped. */
export type FilterFor<R> = IsUntyped<R> extends true ? WhereFilter : TypedWhereFilter<R & RecordMeta>;

/** A field name of records `R` (any string when untyped). */
export type FieldOf<R> = IsUntyped<R> extends true ? string : keyof (R & RecordMeta) & string;

/** `where` options with sort fields checked against `R`. */
export type WhereOptionsFor<R> =
  IsUntyped<R> extends true
    ? WhereOptions
    : Omit<WhereOptions, 'sort'> & {
        readonly sort?: { readonly [K in keyof (R & RecordMeta) & string]?: SortDirection };
      };

// ── Events ──────────────────────────────────────────────────────────

export interface TypedInsertedEvent<R, N extends string = string> {
  readonly type: 'inserted';
  readonly bucket: N;
  readonly key: unknown;
  readonly record: StoreRecord<R>;
}
export interface TypedUpdatedEvent<R, N extends string = string> {
  readonly type: 'updated';
  readonly bucket: N;
  readonly key: unknown;
  readonly oldRecord: StoreRecord<R>;
  readonly newRecord: StoreRecord<R>;
}
export interface TypedDeletedEvent<R, N extends string = string> {
  readonly type: 'deleted';
  readonly bucket: N;
  readonly key: unknown;
  readonly record: StoreRecord<R>;
}

type EventsOf<S, N extends keyof S & string> = N extends unknown
  ? {
      inserted: TypedInsertedEvent<RecordOf<S, N>, N>;
      updated: TypedUpdatedEvent<RecordOf<S, N>, N>;
      deleted: TypedDeletedEvent<RecordOf<S, N>, N>;
    }
  : never;

type EventKind = 'inserted' | 'updated' | 'deleted';

/** Topic patterns of a typed schema: `bucket.<name|*>.<inserted|updated|deleted|*>`, `bucket.*`, `*`. */
export type EventPattern<S> =
  | `bucket.${(keyof S & string) | '*'}.${EventKind | '*'}`
  | `bucket.${keyof S & string}.*`
  | 'bucket.*'
  | '*';

/** The event a pattern delivers on a typed schema. */
export type EventFor<S, P extends string> = P extends `bucket.${infer N}.${infer T}`
  ? N extends keyof S & string
    ? T extends EventKind
      ? EventsOf<S, N>[T]
      : EventsOf<S, N>[EventKind]
    : EventsOf<S, keyof S & string>[T extends EventKind ? T : EventKind]
  : EventsOf<S, keyof S & string>[EventKind];

// ── Reactive query contexts ─────────────────────────────────────────

/** What a query function reads from one bucket of a typed store. */
export interface TypedQueryBucket<R extends Rec> {
  get(key: unknown): Promise<StoreRecord<R> | undefined>;
  all(): Promise<StoreRecord<R>[]>;
  where(filter: FilterFor<R>, options?: WhereOptionsFor<R>): Promise<StoreRecord<R>[]>;
  findOne(filter: FilterFor<R>): Promise<StoreRecord<R> | undefined>;
  count(filter?: FilterFor<R>): Promise<number>;
  first(n: number): Promise<StoreRecord<R>[]>;
  last(n: number): Promise<StoreRecord<R>[]>;
  paginate(options: PaginateOptions): Promise<PaginatedResult<StoreRecord<R>>>;
  sum(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number>;
  avg(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number>;
  min(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined>;
  max(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined>;
  groupBy(
    field: FieldOf<R> | FieldOf<R>[],
    aggregate: { function: AggregateFunction; field?: FieldOf<R> },
    filter?: FilterFor<R>,
  ): Promise<GroupByResult[]>;
}

/** The context a query function of a typed store gets: bucket names and filters checked. */
export interface TypedQueryContext<S> {
  bucket<N extends BucketName<S>>(name: N): TypedQueryBucket<RecordOf<S, N>>;
}

/** The query context of a store with schema `S` (noex's untyped context when untyped). */
export type QueryContextFor<S> = IsUntyped<S> extends true ? QueryContext : TypedQueryContext<S>;
