// BucketHandle: the async face of one bucket. Each write builds a WriteSet,
// commits it through the StoreCore and resolves with the result (in strict
// durability mode, only once the change is on disk). Reads are synchronous
// underneath and resolve immediately.

import type {
  AggregateFunction,
  BucketState,
  FieldOf,
  FilterFor,
  GroupByResult,
  PaginatedResult,
  PaginateOptions,
  StoreCore,
  StoreRecord,
  WhereFilter,
  WhereOptions,
  WhereOptionsFor,
  WriteOptions,
} from '../engine/index.js';
import {
  avgOf,
  BucketLoadingError,
  groupRecords,
  InvalidArgumentError,
  isPlainObject,
  maxOf,
  minOf,
  sumOf,
} from '../engine/index.js';
import { type HistoryEntry, type HistoryQuery, readHistory, restoreVersion } from '../history/index.js';
import type {
  DataFormat,
  ExportOptions,
  ExportResult,
  ImportOptions,
  ImportResult,
  ImportSource,
} from '../io/index.js';
import { exportRecords, importRecords } from '../io/index.js';

type Rec = Record<string, unknown>;

/**
 * A handle on a bucket. `R` is the record type (inferred from the definition
 * when the handle comes from `defineBucket`), `I` what `insert` accepts.
 */
export class BucketHandle<R extends Rec = Rec, I extends Rec = Rec> {
  readonly #core: StoreCore;
  readonly #name: string;
  /** The state last looked up, valid while the registry's generation is unchanged. */
  #cached: BucketState | undefined;
  #cachedGeneration = -1;

  /** @internal Obtain handles from `store.bucket()` or `store.defineBucket()`. */
  constructor(core: StoreCore, name: string) {
    this.#core = core;
    this.#name = name;
  }

  get name(): string {
    return this.#name;
  }

  /** The bucket's current state (BucketNotDefinedError / StoreStoppedError if gone). */
  #bucket(): BucketState {
    const buckets = this.#core.buckets;
    if (this.#cachedGeneration === buckets.generation) return this.#cached!;
    const b = this.#core.require(this.#name);
    this.#cached = b;
    this.#cachedGeneration = buckets.generation;
    return b;
  }

  /** The bucket's state, once loaded from storage. */
  async #state(): Promise<BucketState> {
    const b = this.#bucket();
    if (b.loading !== undefined) await b.loading;
    return this.#bucket();
  }

  /** The state if it is ready now (the hot path: no extra await), else undefined. */
  #ready(): BucketState | undefined {
    const b = this.#bucket();
    return b.loading === undefined ? b : undefined;
  }

  /** The state for a synchronous read: loaded, or BucketLoadingError. */
  #loaded(): BucketState {
    const b = this.#bucket();
    if (b.loading !== undefined) throw new BucketLoadingError(this.#name);
    return b;
  }

  async #commit<T>(
    ws: ReturnType<StoreCore['writeSet']>,
    options: WriteOptions | undefined,
    result: T,
  ): Promise<T> {
    const wait = this.#core.commit(ws, actorOf(options), options?.authorize);
    if (wait !== undefined) await wait;
    return result;
  }

  // ── Writes ────────────────────────────────────────────────────────

  insert(data: I, options?: WriteOptions): Promise<StoreRecord<R>> {
    // Not an async function: the hot path (bucket loaded, no strict wait)
    // returns an already resolved promise, with errors as rejections.
    try {
      const b = this.#ready();
      if (b === undefined) return this.#insertLoaded(data, options);
      return this.#insertInto(b, data, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #insertLoaded(data: I, options: WriteOptions | undefined): Promise<StoreRecord<R>> {
    return this.#insertInto(await this.#state(), data, options);
  }

  #insertInto(b: BucketState, data: I, options: WriteOptions | undefined): Promise<StoreRecord<R>> {
    checkRecord('insert', data);
    // Shared databases: wait for reserved autoincrement values when none are left.
    const reserving = b.counterReservation?.ensure(1, b.autoincrement);
    if (reserving !== undefined) return reserving.then(() => this.#stageInsert(b, data, options));
    return this.#stageInsert(b, data, options);
  }

  #stageInsert(b: BucketState, data: I, options: WriteOptions | undefined): Promise<StoreRecord<R>> {
    if (options === undefined && b.writesAlone) {
      const core = this.#core;
      const record = core.insertLone(b, data) as StoreRecord<R>;
      const wait = core.loneWait;
      return wait === undefined ? Promise.resolve(record) : wait.then(() => record);
    }
    const ws = this.#core.writeSet();
    const record = ws.insert(b, data) as StoreRecord<R>;
    const wait = this.#core.commit(ws, actorOf(options), options?.authorize);
    return wait === undefined ? Promise.resolve(record) : wait.then(() => record);
  }

  get(key: unknown): Promise<StoreRecord<R> | undefined> {
    try {
      const b = this.#ready();
      if (b !== undefined)
        return Promise.resolve(b.records.get(b.toKeyId(key, 'get')) as StoreRecord<R> | undefined);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#state().then((b) => b.records.get(b.toKeyId(key, 'get')) as StoreRecord<R> | undefined);
  }

  update(key: unknown, changes: Partial<R>, options?: WriteOptions): Promise<StoreRecord<R>> {
    // As insert: a resolved promise on the hot path, errors as rejections.
    try {
      const b = this.#ready();
      if (b === undefined) return this.#updateLoaded(key, changes, options);
      return this.#updateIn(b, key, changes, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #updateLoaded(
    key: unknown,
    changes: Partial<R>,
    options: WriteOptions | undefined,
  ): Promise<StoreRecord<R>> {
    return this.#updateIn(await this.#state(), key, changes, options);
  }

  #updateIn(
    b: BucketState,
    key: unknown,
    changes: Partial<R>,
    options: WriteOptions | undefined,
  ): Promise<StoreRecord<R>> {
    const keyId = b.toKeyId(key, 'update');
    checkRecord('update', changes, 'changes');
    if (options === undefined && b.writesAlone) {
      const core = this.#core;
      const record = core.updateLone(b, keyId, changes as Rec, key) as StoreRecord<R>;
      const wait = core.loneWait;
      return wait === undefined ? Promise.resolve(record) : wait.then(() => record);
    }
    const ws = this.#core.writeSet();
    const record = ws.update(b, keyId, changes as Rec, key) as StoreRecord<R>;
    const wait = this.#core.commit(ws, actorOf(options), options?.authorize);
    return wait === undefined ? Promise.resolve(record) : wait.then(() => record);
  }

  /** Deletes the record (a no-op if absent), applying referential actions. */
  async delete(key: unknown, options?: WriteOptions): Promise<void> {
    const b = await this.#state();
    const keyId = b.toKeyId(key, 'delete');
    if (!b.records.has(keyId)) return;
    const ws = this.#core.writeSet();
    ws.delete(b, keyId);
    await this.#commit(ws, options, undefined);
  }

  /** Inserts all records or none. */
  async insertMany(data: readonly I[], options?: WriteOptions): Promise<StoreRecord<R>[]> {
    const b = await this.#state();
    if (!Array.isArray(data))
      throw new InvalidArgumentError('insertMany', 'records', `expected an array, got ${typeof data}`);
    for (let i = 0; i < data.length; i++) checkRecord('insertMany', data[i], `records[${i}]`);
    if (data.length === 0) return [];
    if (b.counterReservation !== undefined) await b.counterReservation.ensure(data.length, b.autoincrement);
    const ws = this.#core.writeSet();
    const records = data.map((d) => ws.insert(b, d));
    return this.#commit(ws, options, records as StoreRecord<R>[]);
  }

  /** Applies `changes` to every matching record, all or none; returns the count. */
  async updateMany(filter: FilterFor<R>, changes: Partial<R>, options?: WriteOptions): Promise<number> {
    const b = await this.#state();
    checkFilter('updateMany', filter);
    checkRecord('updateMany', changes, 'changes');
    const matching = b.select(filter as WhereFilter);
    if (matching.length === 0) return 0;
    const ws = this.#core.writeSet();
    for (const r of matching) ws.update(b, b.keyIdOf(r), changes as Rec, b.publicKeyOf(r));
    return this.#commit(ws, options, matching.length);
  }

  /** Deletes every matching record (with referential actions), all or none; returns the count. */
  async deleteMany(filter: FilterFor<R>, options?: WriteOptions): Promise<number> {
    const b = await this.#state();
    checkFilter('deleteMany', filter);
    const matching = b.select(filter as WhereFilter);
    if (matching.length === 0) return 0;
    const ws = this.#core.writeSet();
    const visited = new Set<string>();
    for (const r of matching) ws.delete(b, b.keyIdOf(r), visited);
    return this.#commit(ws, options, matching.length);
  }

  /** Updates the record with this key if it exists, inserts it otherwise. */
  async upsert(data: I, options?: WriteOptions): Promise<StoreRecord<R>> {
    const b = await this.#state();
    checkRecord('upsert', data);
    if (b.counterReservation !== undefined) await b.counterReservation.ensure(1, b.autoincrement);
    const ws = this.#core.writeSet();
    const d = data as Rec;
    const hasKey = b.def.keyFields.every((f) => d[f] !== undefined && d[f] !== null);
    let record: StoreRecord;
    if (hasKey) {
      const keyId = b.keyIdOf(d);
      record = b.records.has(keyId) ? ws.update(b, keyId, d, b.publicKeyOf(d)) : ws.insert(b, d);
    } else record = ws.insert(b, d);
    return this.#commit(ws, options, record as StoreRecord<R>);
  }

  /** Deletes every record (durably, with events and referential actions). */
  async clear(options?: WriteOptions): Promise<void> {
    const b = await this.#state();
    if (b.records.size === 0) return;
    const ws = this.#core.writeSet();
    const visited = new Set<string>();
    for (const k of [...b.records.keys()]) ws.delete(b, k, visited);
    await this.#commit(ws, options, undefined);
  }

  // ── Reads ─────────────────────────────────────────────────────────

  async all(): Promise<StoreRecord<R>[]> {
    return (await this.#state()).all() as StoreRecord<R>[];
  }

  /** Matching records; `options` sorts (null last), offsets and limits, using sorted indexes when it can. */
  async where(filter: FilterFor<R>, options?: WhereOptionsFor<R>): Promise<StoreRecord<R>[]> {
    const b = await this.#state();
    checkFilter('where', filter);
    return b.select(filter as WhereFilter, options as WhereOptions) as StoreRecord<R>[];
  }

  async findOne(filter: FilterFor<R>): Promise<StoreRecord<R> | undefined> {
    const b = await this.#state();
    checkFilter('findOne', filter);
    return b.findOne(filter as WhereFilter) as StoreRecord<R> | undefined;
  }

  async count(filter?: FilterFor<R>): Promise<number> {
    const b = await this.#state();
    if (filter !== undefined) checkFilter('count', filter);
    return b.count(filter as WhereFilter | undefined);
  }

  async first(n: number, filter?: FilterFor<R>): Promise<StoreRecord<R>[]> {
    return (await this.#state()).first(n, filter as WhereFilter | undefined) as StoreRecord<R>[];
  }

  async last(n: number, filter?: FilterFor<R>): Promise<StoreRecord<R>[]> {
    return (await this.#state()).last(n, filter as WhereFilter | undefined) as StoreRecord<R>[];
  }

  async paginate(options: PaginateOptions, filter?: FilterFor<R>): Promise<PaginatedResult<StoreRecord<R>>> {
    return (await this.#state()).paginate(options, filter as WhereFilter | undefined) as PaginatedResult<
      StoreRecord<R>
    >;
  }

  async sum(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number> {
    return sumOf(await this.#matching('sum', field, filter as WhereFilter | undefined), field);
  }

  async avg(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number> {
    return avgOf(await this.#matching('avg', field, filter as WhereFilter | undefined), field);
  }

  async min(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined> {
    return minOf(await this.#matching('min', field, filter as WhereFilter | undefined), field);
  }

  async max(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined> {
    return maxOf(await this.#matching('max', field, filter as WhereFilter | undefined), field);
  }

  async groupBy(
    field: FieldOf<R> | FieldOf<R>[],
    aggregate: { function: AggregateFunction; field?: FieldOf<R> },
    filter?: FilterFor<R>,
  ): Promise<GroupByResult[]> {
    const fields = typeof field === 'string' ? [field] : field;
    if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string')) {
      throw new InvalidArgumentError(
        'groupBy',
        'field',
        'expected a field name or a non-empty list of field names',
      );
    }
    if (
      !isPlainObject(aggregate) ||
      !['count', 'sum', 'avg', 'min', 'max'].includes(aggregate.function as string)
    ) {
      throw new InvalidArgumentError(
        'groupBy',
        'aggregate',
        'expected {function: count|sum|avg|min|max, field?}',
      );
    }
    if (aggregate.function !== 'count' && typeof aggregate.field !== 'string') {
      throw new InvalidArgumentError('groupBy', 'aggregate.field', `"${aggregate.function}" needs a field`);
    }
    const b = await this.#state();
    const records = filter === undefined ? b.all() : b.select(filter as WhereFilter);
    return groupRecords(records, fields, aggregate);
  }

  async #matching(op: string, field: string, filter: WhereFilter | undefined): Promise<StoreRecord[]> {
    if (typeof field !== 'string' || field === '')
      throw new InvalidArgumentError(op, 'field', 'expected a field name');
    const b = await this.#state();
    if (filter === undefined) return [...b.records.values()];
    checkFilter(op, filter);
    return b.select(filter);
  }

  // ── Synchronous reads (docs/guide.md) ─────────────────────────────
  // Committed state, returned directly (no promise, no microtask): for hot
  // loops such as a lookup on every request. A transaction's uncommitted
  // writes are not visible here. BucketLoadingError while the bucket's
  // stored records are still loading.

  /** The record with this key, or undefined. */
  peek(key: unknown): StoreRecord<R> | undefined {
    const b = this.#loaded();
    return b.records.get(b.toKeyId(key, 'peek')) as StoreRecord<R> | undefined;
  }

  /** Matching records, as `where` returns them (sorted, offset and limited per `options`). */
  peekWhere(filter: FilterFor<R>, options?: WhereOptionsFor<R>): StoreRecord<R>[] {
    const b = this.#loaded();
    checkFilter('peekWhere', filter);
    return b.select(filter as WhereFilter, options as WhereOptions) as StoreRecord<R>[];
  }

  /** The first matching record in bucket order, as `findOne`. */
  peekOne(filter: FilterFor<R>): StoreRecord<R> | undefined {
    const b = this.#loaded();
    checkFilter('peekOne', filter);
    return b.findOne(filter as WhereFilter) as StoreRecord<R> | undefined;
  }

  /** How many records match (all records without a filter), as `count`. */
  peekCount(filter?: FilterFor<R>): number {
    const b = this.#loaded();
    if (filter !== undefined) checkFilter('peekCount', filter);
    return b.count(filter as WhereFilter | undefined);
  }

  // ── History (docs/history.md) ─────────────────────────────────────

  /**
   * Every kept version of a record, newest first (`limit`, and `since`/`until`
   * times in ms or Dates). Needs `history` in the definition
   * (HistoryNotEnabledError otherwise); a key never written has none.
   */
  history(key: unknown, options?: HistoryQuery): Promise<HistoryEntry<R>[]> {
    return readHistory(this.#core, this.#name, key, options) as Promise<HistoryEntry<R>[]>;
  }

  /**
   * Write the content of an earlier version as a new version (an update, or
   * an insert that undeletes a deleted key), recorded in history like any
   * write. VersionNotFoundError when the history does not hold that version.
   */
  async restoreVersion(key: unknown, version: number, options?: WriteOptions): Promise<StoreRecord<R>> {
    const actor = actorOf(options);
    return (await restoreVersion(
      this.#core,
      this.#name,
      key,
      version,
      actor,
      options?.authorize,
    )) as StoreRecord<R>;
  }

  // ── Import / export (docs/import-export.md) ───────────────────────

  /**
   * Import records from a file path, stream, `{text}` or array (JSON, NDJSON
   * or YAML). Every record is validated; all are written in one commit, or
   * none (ImportError names the line or index of the bad record).
   */
  import(source: ImportSource, options?: ImportOptions): Promise<ImportResult> {
    return importRecords(this.#core, this.#name, source, options);
  }

  /** Export a snapshot of the records to a file path or writable stream (or as text when `to` is omitted). */
  export(
    format: DataFormat,
    options: ExportOptions & { readonly to: NonNullable<ExportOptions['to']> },
  ): Promise<ExportResult>;
  export(format: DataFormat, options?: ExportOptions): Promise<ExportResult & { data: string }>;
  export(format: DataFormat, options?: ExportOptions): Promise<ExportResult & { data?: string }> {
    return exportRecords(this.#core, this.#name, format, options);
  }

  /** @internal Key identity used by reactive dependency tracking. */
  keyIdOf(key: unknown): unknown {
    return this.#bucket().toKeyId(key, 'get');
  }
}

function actorOf(options: WriteOptions | undefined): string | undefined {
  if (options === undefined) return undefined;
  if (!isPlainObject(options)) throw new InvalidArgumentError('write', 'options', 'expected {actor?}');
  const actor = options.actor;
  if (actor !== undefined && typeof actor !== 'string') {
    throw new InvalidArgumentError('write', 'options.actor', 'expected a string');
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('write', 'options.authorize', 'expected a function');
  return actor;
}

function checkRecord(op: string, data: unknown, what = 'record'): void {
  if (!isPlainObject(data)) {
    throw new InvalidArgumentError(
      op,
      what,
      `expected a plain object, got ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}`,
    );
  }
}

function checkFilter(op: string, filter: unknown): void {
  if (!isPlainObject(filter)) {
    throw new InvalidArgumentError(
      op,
      'filter',
      `expected a filter object, got ${filter === null ? 'null' : typeof filter}`,
    );
  }
}
