// The built-in methods of a Quire server: names, params and results. Types
// only; the typed client (`quiredb/client`) is generated from this map.
//
// Every write accepts `actor` (used only when the server has no auth: with
// auth, the authenticated identity is the actor and `actor` is ignored).
import type {
  AggregateFunction,
  BackupInfo,
  BucketDefinition,
  BucketSchemaUpdate,
  DeclarativeQueryConfig,
  GroupByResult,
  PaginatedResult,
  QueryInfo,
  StoreRecord,
  StoreStats,
  WhereFilter,
  WhereOptions,
} from '../store/index.js';

type Rec = Record<string, unknown>;
type Rec_ = StoreRecord<Rec>;

interface B {
  readonly bucket: string;
}
interface W {
  /** Who made the change (only honoured when the server runs without auth). */
  readonly actor?: string;
}
interface Agg extends B {
  readonly field: string;
  readonly filter?: WhereFilter;
}

/** One operation of a `transaction` call. */
export type TransactionOperation =
  | ({ readonly op: 'insert'; readonly record: Rec } & B)
  | ({
      readonly op: 'update';
      readonly key: unknown;
      readonly changes: Rec;
      readonly expectedVersion?: number;
    } & B)
  | ({ readonly op: 'delete'; readonly key: unknown; readonly expectedVersion?: number } & B)
  | ({ readonly op: 'upsert'; readonly record: Rec } & B)
  | ({ readonly op: 'insertMany'; readonly records: readonly Rec[] } & B)
  | ({ readonly op: 'updateMany'; readonly filter: WhereFilter; readonly changes: Rec } & B)
  | ({ readonly op: 'deleteMany'; readonly filter: WhereFilter } & B)
  | ({ readonly op: 'get'; readonly key: unknown } & B)
  | ({ readonly op: 'all' } & B)
  | ({ readonly op: 'where'; readonly filter: WhereFilter } & B)
  | ({ readonly op: 'findOne'; readonly filter: WhereFilter } & B)
  | ({ readonly op: 'count'; readonly filter?: WhereFilter } & B);

/** One entry of a record's history (P-6). */
export interface HistoryEntry {
  readonly version: number;
  readonly op: 'insert' | 'update' | 'delete';
  readonly record: Rec | undefined;
  readonly at: number;
  readonly actor: string | undefined;
  readonly seq: number;
}

export interface MethodSpec<P, R> {
  readonly params: P;
  readonly result: R;
}

export interface QuireMethods {
  // ── Connection ──
  ping: MethodSpec<Record<string, never> | undefined, 'pong'>;
  listMethods: MethodSpec<Record<string, never> | undefined, string[]>;
  /** Authenticate a connection (WebSocket, stdio) with a bearer token. */
  authenticate: MethodSpec<{ readonly token: string }, { readonly identity: string }>;

  // ── Records ──
  insert: MethodSpec<B & W & { readonly record: Rec }, Rec_>;
  get: MethodSpec<B & { readonly key: unknown }, Rec_ | null>;
  /** With `expectedVersion`, fails with TRANSACTION_CONFLICT unless the record has that `_version`. */
  update: MethodSpec<
    B & W & { readonly key: unknown; readonly changes: Rec; readonly expectedVersion?: number },
    Rec_
  >;
  delete: MethodSpec<B & W & { readonly key: unknown; readonly expectedVersion?: number }, true>;
  upsert: MethodSpec<B & W & { readonly record: Rec }, Rec_>;
  clear: MethodSpec<B & W, true>;
  insertMany: MethodSpec<B & W & { readonly records: readonly Rec[] }, Rec_[]>;
  updateMany: MethodSpec<B & W & { readonly filter: WhereFilter; readonly changes: Rec }, number>;
  deleteMany: MethodSpec<B & W & { readonly filter: WhereFilter }, number>;

  // ── Import / export (P-9): all or nothing ──
  import: MethodSpec<
    B &
      W & {
        /** The records themselves, or `text` in `format`. */
        readonly records?: readonly Rec[];
        readonly text?: string;
        readonly format?: 'json' | 'ndjson' | 'yaml';
        readonly mode?: 'insert' | 'upsert';
        readonly metadata?: 'keep' | 'reset';
        readonly onlyIfEmpty?: boolean;
      },
    { readonly imported: number; readonly skipped: boolean; readonly format: string }
  >;
  export: MethodSpec<
    B & {
      readonly format?: 'json' | 'ndjson' | 'yaml';
      readonly filter?: WhereFilter;
      readonly metadata?: boolean;
    },
    { readonly data: string; readonly exported: number; readonly format: string }
  >;

  // ── Queries and aggregations ──
  all: MethodSpec<B, Rec_[]>;
  where: MethodSpec<B & WhereOptions & { readonly filter: WhereFilter }, Rec_[]>;
  findOne: MethodSpec<B & { readonly filter: WhereFilter }, Rec_ | null>;
  count: MethodSpec<B & { readonly filter?: WhereFilter }, number>;
  first: MethodSpec<B & { readonly n: number; readonly filter?: WhereFilter }, Rec_[]>;
  last: MethodSpec<B & { readonly n: number; readonly filter?: WhereFilter }, Rec_[]>;
  paginate: MethodSpec<
    B & { readonly limit: number; readonly after?: unknown; readonly filter?: WhereFilter },
    PaginatedResult<Rec_>
  >;
  sum: MethodSpec<Agg, number>;
  avg: MethodSpec<Agg, number>;
  min: MethodSpec<Agg, number | null>;
  max: MethodSpec<Agg, number | null>;
  groupBy: MethodSpec<
    B & {
      readonly fields: string | readonly string[];
      readonly aggregate: { readonly function: AggregateFunction; readonly field?: string };
      readonly filter?: WhereFilter;
    },
    GroupByResult[]
  >;

  // ── Transactions ──
  /** All operations apply at once or none do; the result lists each operation's result. */
  transaction: MethodSpec<W & { readonly operations: readonly TransactionOperation[] }, unknown[]>;

  // ── Definitions ──
  defineBucket: MethodSpec<{ readonly name: string; readonly definition: BucketDefinition }, true>;
  dropBucket: MethodSpec<{ readonly name: string }, boolean>;
  updateBucket: MethodSpec<{ readonly name: string; readonly updates: BucketSchemaUpdate }, true>;
  hasBucket: MethodSpec<{ readonly name: string }, boolean>;
  listBuckets: MethodSpec<Record<string, never> | undefined, string[]>;
  getBucketSchema: MethodSpec<{ readonly name: string }, BucketDefinition | null>;

  // ── Reactive queries ──
  defineQuery: MethodSpec<{ readonly name: string; readonly config: DeclarativeQueryConfig }, true>;
  undefineQuery: MethodSpec<{ readonly name: string }, boolean>;
  listQueries: MethodSpec<Record<string, never> | undefined, QueryInfo[]>;
  runQuery: MethodSpec<{ readonly name: string; readonly params?: unknown }, unknown>;
  /** Subscribe (WebSocket, stdio): the current result now, `subscription` notifications on change. */
  subscribe: MethodSpec<
    { readonly query: string; readonly params?: unknown },
    { readonly subscription: string; readonly result: unknown }
  >;
  /** Subscribe to bucket events (`bucket.<name>.<inserted|updated|deleted>`, `*` = one segment). */
  subscribeEvents: MethodSpec<{ readonly pattern: string }, { readonly subscription: string }>;
  /** Ends a query or event subscription of this connection. */
  unsubscribe: MethodSpec<{ readonly subscription: string }, boolean>;

  // ── Store ──
  getStats: MethodSpec<Record<string, never> | undefined, StoreStats>;
  settle: MethodSpec<Record<string, never> | undefined, true>;
  purgeTtl: MethodSpec<Record<string, never> | undefined, number>;
  flush: MethodSpec<Record<string, never> | undefined, true>;
  checkpoint: MethodSpec<Record<string, never> | undefined, unknown>;
  createBackup: MethodSpec<{ readonly name?: string } | undefined, BackupInfo>;
  /** Online, consistent copy of the store to a file in the server's backup directory (admin). */
  backupTo: MethodSpec<
    { readonly file: string; readonly overwrite?: boolean },
    { readonly path: string; readonly bytes: number; readonly durationMs: number }
  >;
  listBackups: MethodSpec<Record<string, never> | undefined, BackupInfo[]>;
  restoreBackup: MethodSpec<{ readonly name: string }, true>;
  deleteBackup: MethodSpec<{ readonly name: string }, boolean>;

  // ── History (P-6) ──
  history: MethodSpec<
    B & { readonly key: unknown; readonly limit?: number; readonly since?: number; readonly until?: number },
    HistoryEntry[]
  >;
  restoreVersion: MethodSpec<B & W & { readonly key: unknown; readonly version: number }, Rec_>;
  changes: MethodSpec<{ readonly since?: number; readonly limit?: number } | undefined, unknown[]>;
}

export type MethodName = keyof QuireMethods;
export type ParamsOf<M extends MethodName> = QuireMethods[M]['params'];
export type ResultOf<M extends MethodName> = QuireMethods[M]['result'];
