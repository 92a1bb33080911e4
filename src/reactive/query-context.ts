// The read-only context handed to query functions. It records what a query
// reads: `get(key)` is a record-level dependency, every other read is
// bucket-level. A read filter (row-level security) is merged into every read.
import type {
  AggregateFunction,
  GroupByResult,
  PaginatedResult,
  PaginateOptions,
  QueryBucket,
  QueryContext,
  ReadFilter,
  StoreRecord,
  WhereFilter,
  WhereOptions,
} from '../engine/index.js';
import { matchesFilter } from '../engine/index.js';

/** What the query layer needs from a bucket: the query reads, with an extra filter on the ordered ones. */
export interface ReadableBucket extends QueryBucket {
  keyIdOf(key: unknown): unknown;
  first(n: number, filter?: WhereFilter): Promise<StoreRecord[]>;
  last(n: number, filter?: WhereFilter): Promise<StoreRecord[]>;
  paginate(options: PaginateOptions, filter?: WhereFilter): Promise<PaginatedResult>;
}

export interface Dependencies {
  readonly buckets: Set<string>;
  /** bucket → internal record keys */
  readonly records: Map<string, Set<unknown>>;
}

function merge(base: WhereFilter | null, user: WhereFilter | undefined): WhereFilter | undefined {
  if (base === null) return user;
  if (user === undefined) return base;
  return { $and: [base, user] };
}

class TrackedBucket implements QueryBucket {
  readonly #b: ReadableBucket;
  readonly #name: string;
  readonly #deps: Dependencies;
  readonly #rf: WhereFilter | null;

  constructor(b: ReadableBucket, name: string, deps: Dependencies, readFilter: WhereFilter | null) {
    this.#b = b;
    this.#name = name;
    this.#deps = deps;
    this.#rf = readFilter;
  }

  #bucketDep(): void {
    this.#deps.buckets.add(this.#name);
  }

  async get(key: unknown): Promise<StoreRecord | undefined> {
    let keys = this.#deps.records.get(this.#name);
    if (keys === undefined) this.#deps.records.set(this.#name, (keys = new Set()));
    keys.add(this.#b.keyIdOf(key));
    const r = await this.#b.get(key);
    if (r !== undefined && this.#rf !== null && !matchesFilter(r, this.#rf)) return undefined;
    return r;
  }
  all(): Promise<StoreRecord[]> {
    this.#bucketDep();
    return this.#rf !== null ? this.#b.first(Number.MAX_SAFE_INTEGER, this.#rf) : this.#b.all();
  }
  where(filter: WhereFilter, options?: WhereOptions): Promise<StoreRecord[]> {
    this.#bucketDep();
    return this.#b.where(merge(this.#rf, filter)!, options);
  }
  findOne(filter: WhereFilter): Promise<StoreRecord | undefined> {
    this.#bucketDep();
    return this.#b.findOne(merge(this.#rf, filter)!);
  }
  count(filter?: WhereFilter): Promise<number> {
    this.#bucketDep();
    return this.#b.count(merge(this.#rf, filter));
  }
  first(n: number): Promise<StoreRecord[]> {
    this.#bucketDep();
    return this.#b.first(n, this.#rf ?? undefined);
  }
  last(n: number): Promise<StoreRecord[]> {
    this.#bucketDep();
    return this.#b.last(n, this.#rf ?? undefined);
  }
  paginate(options: PaginateOptions): Promise<PaginatedResult> {
    this.#bucketDep();
    return this.#b.paginate(options, this.#rf ?? undefined);
  }
  sum(field: string, filter?: WhereFilter): Promise<number> {
    this.#bucketDep();
    return this.#b.sum(field, merge(this.#rf, filter));
  }
  avg(field: string, filter?: WhereFilter): Promise<number> {
    this.#bucketDep();
    return this.#b.avg(field, merge(this.#rf, filter));
  }
  min(field: string, filter?: WhereFilter): Promise<number | undefined> {
    this.#bucketDep();
    return this.#b.min(field, merge(this.#rf, filter));
  }
  max(field: string, filter?: WhereFilter): Promise<number | undefined> {
    this.#bucketDep();
    return this.#b.max(field, merge(this.#rf, filter));
  }
  groupBy(
    field: string | string[],
    aggregate: { function: AggregateFunction; field?: string },
    filter?: WhereFilter,
  ): Promise<GroupByResult[]> {
    this.#bucketDep();
    return this.#b.groupBy(field, aggregate, merge(this.#rf, filter));
  }
}

export class TrackingContext implements QueryContext {
  readonly deps: Dependencies = { buckets: new Set(), records: new Map() };
  readonly #access: (name: string) => ReadableBucket;
  readonly #readFilter: ReadFilter | undefined;

  constructor(access: (name: string) => ReadableBucket, readFilter?: ReadFilter) {
    this.#access = access;
    this.#readFilter = readFilter;
  }

  bucket(name: string): QueryBucket {
    const rf = this.#readFilter?.(name) ?? null;
    return new TrackedBucket(this.#access(name), name, this.deps, rf);
  }
}
