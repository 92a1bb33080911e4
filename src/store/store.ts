// Store: the public entry point. It owns the StoreCore (buckets and the
// commit pipeline), the event bus, reactive queries and the TTL timer, and
// (when configured) durable storage. Its API follows @hamicek/noex-store 0.2.

import type {
  BackupInfo,
  BucketDefinition,
  BucketEvent,
  BucketName,
  BucketSchemaUpdate,
  CommitObservation,
  DeclarativeQueryConfig,
  EventFor,
  EventPattern,
  IndexSpec,
  InferInsert,
  InferRecord,
  InsertOf,
  IsUntyped,
  QueryContextFor,
  QueryFn,
  QueryInfo,
  ReadFilter,
  RecordOf,
  SchemaOf,
  SchemaTypes,
  StorageStatus,
  StoreStats,
  UntypedSchema,
  WriteOptions,
} from '../engine/index.js';
import {
  applyRemote,
  BackupNotFoundError,
  BucketAlreadyExistsError,
  BucketNotDefinedError,
  BucketState,
  compileDefinition,
  DEFAULT_MAX_NESTING_DEPTH,
  DefinitionError,
  InvalidArgumentError,
  isObjectArg,
  isPlainObject,
  PersistenceRequiredError,
  StoreCore,
  StoreStoppedError,
} from '../engine/index.js';
import { EventBus, type EventHandler } from '../events/index.js';
import {
  type ChangeFeedConfig,
  type ChangeFeedEntry,
  type ChangesOptions,
  changesOptions,
  HistoryService,
  type HistoryStorage,
} from '../history/index.js';
import { TtlManager } from '../lifecycle/index.js';
import {
  type BackupFileInfo,
  type BackupToOptions,
  PersistenceManager,
  type StorePersistenceConfig,
  type StoreStorage,
  serializeDefinition,
} from '../persistence/index.js';
import { createDeclarativeQuery, QueryManager, type ReadableBucket } from '../reactive/index.js';
import { TransactionContext } from '../transaction/index.js';
import { BucketHandle } from './bucket-handle.js';
import { SchemaSession } from './schema-session.js';

export interface StoreOptions {
  readonly name?: string;
  readonly persistence?: StorePersistenceConfig;
  /** TTL check interval in ms; 0 disables the timer. Default: 1000. */
  readonly ttlCheckIntervalMs?: number;
  /** How much of the change feed (`store.changes()`) is kept. Default: the last 10,000 changes. */
  readonly changeFeed?: ChangeFeedConfig;
  /**
   * Buckets to define when the store starts (stored records restored first).
   * Types the store: `bucket(name)`, `tx.bucket(name)`, query contexts and
   * events then know these names and their record types.
   */
  readonly buckets?: BucketDefinitions;
  /**
   * How deep objects and arrays may nest inside a record; deeper values are
   * rejected with a ValidationError (code `depth`). Default 64.
   */
  readonly maxNestingDepth?: number;
}

/** Bucket name → definition, as `Store.start({buckets})` and `defineSchema` take them. */
export type BucketDefinitions = { readonly [bucket: string]: BucketDefinition };

/**
 * Keep a set of bucket definitions with their literal types (for
 * `Store.start({buckets})` and `SchemaOf<typeof schema>`), checking each
 * against BucketDefinition.
 */
export function defineSchema<const B extends BucketDefinitions>(buckets: B): B {
  return buckets;
}

/** Any store, typed or not (what servers, bridges and migrations accept). */
export type AnyStore = Store<any>;

/** `this` for methods only an untyped store has (their typed forms check names). */
type Untyped<S extends SchemaTypes> = IsUntyped<S> extends true ? Store<S> : never;
/** A query function of a typed store (`any` on an untyped one, so a typed store is still a Store). */
type TypedQueryFn<S extends SchemaTypes, P, R> =
  IsUntyped<S> extends true ? any : (ctx: QueryContextFor<S>, params: P) => Promise<R>;
/** `this` for methods only a typed store has. */
type Typed<S extends SchemaTypes> = IsUntyped<S> extends true ? never : Store<S>;

let storeCounter = 0;

function historyStorage(s: StoreStorage | undefined): HistoryStorage | undefined {
  if (s === undefined || s.readHistory === undefined || s.readChanges === undefined) return undefined;
  return s as HistoryStorage;
}

/**
 * A store. `S` is its schema type: untyped (`Store.start()`, noex's API: any
 * bucket name, any record) or derived from the definitions given to
 * `Store.start({buckets})`.
 */
export class Store<S extends SchemaTypes = UntypedSchema> {
  readonly #core: StoreCore;
  readonly #events: EventBus;
  readonly #queries: QueryManager;
  readonly #ttl: TtlManager;
  readonly #storage: StoreStorage | undefined;
  readonly #readables = new Map<string, ReadableBucket>();
  readonly #history: HistoryService;
  #stopping: Promise<void> | undefined;
  /** Open while a migration runs: bucket-level changes are held until it commits (schema-session.ts). */
  #session: SchemaSession | undefined;
  /** Buckets defined here because another instance sharing the database defined them (name → stored form). */
  readonly #remoteDefined = new Map<string, string>();

  private constructor(
    name: string,
    storage: StoreStorage | undefined,
    ttlCheckIntervalMs: number,
    feedLimit: number,
  ) {
    this.#events = new EventBus();
    this.#core = new StoreCore(name, this.#events);
    this.#storage = storage;
    this.#core.seq = storage?.lastSeq ?? 0;
    this.#history = new HistoryService(this.#core, historyStorage(storage), feedLimit);
    this.#core.history = this.#history;
    this.#queries = new QueryManager((bucket) => this.#readable(bucket));
    this.#core.addCommitListener((batch) => {
      this.#queries.onChanges(batch.changes);
    });
    if (storage !== undefined) {
      const core = this.#core;
      const toStorage = storage.listener({
        isPersistent: (b) => core.bucketState(b)?.def.persistent ?? false,
        bucketState: (b) => core.bucketState(b),
        nextSeq: () => ++core.seq,
        currentSeq: () => core.seq,
        shiftSeq: (offset) => {
          core.seq += offset;
          this.#history.shift(offset);
        },
        feedLimit,
        applyRemote: (changes, at) => applyRemote(core, changes, at),
        remoteDefinition: (bucket, definition) => this.#remoteDefinition(bucket, definition),
      });
      this.#core.addCommitListener((batch) =>
        this.#session === undefined ? toStorage(batch) : this.#session.filter(batch, toStorage),
      );
    }
    this.#core.addCommitListener((batch) => {
      this.#history.onBatch(batch);
    });
    this.#ttl = new TtlManager(ttlCheckIntervalMs, () => this.#purgeExpired());
  }

  static start<const B extends BucketDefinitions>(
    options: StoreOptions & { readonly buckets: B },
  ): Promise<Store<SchemaOf<B>>>;
  static start(options?: StoreOptions): Promise<Store>;
  static async start(options: StoreOptions = {}): Promise<Store<any>> {
    if (!isObjectArg(options)) throw new InvalidArgumentError('Store.start', 'options', 'expected an object');
    const name = options.name ?? `store-${++storeCounter}`;
    if (typeof name !== 'string' || name === '')
      throw new InvalidArgumentError('Store.start', 'name', 'expected a non-empty string');
    const interval = options.ttlCheckIntervalMs ?? 1_000;
    if (typeof interval !== 'number' || !(interval >= 0) || !Number.isFinite(interval)) {
      throw new InvalidArgumentError(
        'Store.start',
        'ttlCheckIntervalMs',
        `expected a number >= 0, got ${String(interval)}`,
      );
    }
    const feed = options.changeFeed ?? {};
    const feedLimit = isObjectArg(feed) ? (feed.maxEntries ?? 10_000) : Number.NaN;
    if (!(Number.isInteger(feedLimit) && feedLimit >= 0))
      throw new InvalidArgumentError(
        'Store.start',
        'changeFeed',
        `expected {maxEntries: integer >= 0}, got ${JSON.stringify(options.changeFeed)}`,
      );
    const maxDepth = options.maxNestingDepth ?? DEFAULT_MAX_NESTING_DEPTH;
    if (!(Number.isInteger(maxDepth) && maxDepth >= 1 && maxDepth <= 1000))
      throw new InvalidArgumentError(
        'Store.start',
        'maxNestingDepth',
        `expected an integer from 1 to 1000, got ${String(options.maxNestingDepth)}`,
      );
    let storage: StoreStorage | undefined;
    const persistence = options.persistence;
    if (persistence !== undefined) {
      if (!isObjectArg(persistence) || persistence.adapter == null) {
        throw new InvalidArgumentError(
          'Store.start',
          'persistence',
          'expected {adapter, debounceMs?, onError?, durability?}',
        );
      }
      storage = await PersistenceManager.create(name, persistence);
    }
    const buckets = options.buckets;
    if (buckets !== undefined && !isObjectArg(buckets)) {
      await storage?.close();
      throw new InvalidArgumentError('Store.start', 'buckets', 'expected {name: definition, …}');
    }
    const store = new Store(name, storage, interval, feedLimit);
    store.#core.maxNestingDepth = maxDepth;
    store.#ttl.start();
    if (buckets !== undefined) {
      try {
        for (const [bucket, definition] of Object.entries(buckets))
          await store.defineBucket(bucket, definition);
      } catch (e) {
        await store.stop();
        throw e;
      }
    }
    return store;
  }

  get name(): string {
    return this.#core.name;
  }

  // ── Buckets ───────────────────────────────────────────────────────

  /**
   * Define a bucket; with persistence, its stored records are restored
   * before the promise resolves (no events). Returns a typed handle.
   */
  defineBucket<const D extends BucketDefinition>(
    name: string,
    definition: D,
  ): Promise<BucketHandle<InferRecord<D>, InferInsert<D>>> {
    if (this.#core.stopped)
      return Promise.reject(new InvalidArgumentError('defineBucket', 'store', 'the store is stopped'));
    if (this.#core.buckets.has(name)) {
      // Another instance defined it first and it arrived here: defining the same again is no error.
      const remote = this.#remoteDefined.get(name);
      let same = false;
      try {
        same = remote !== undefined && JSON.stringify(serializeDefinition(definition).definition) === remote;
      } catch {
        /* not serialisable: not the same */
      }
      if (!same) return Promise.reject(new BucketAlreadyExistsError(name));
      this.#remoteDefined.delete(name);
      const existing = this.#core.buckets.get(name)!;
      const handle = new BucketHandle<InferRecord<D>, InferInsert<D>>(this.#core, name);
      return (existing.loading ?? Promise.resolve()).then(() => {
        // The stored form has no functions (validate, default functions): take them from this definition.
        if (serializeDefinition(definition).functions.length > 0) this.replaceDefinition(name, definition);
        return handle;
      });
    }
    let state: BucketState;
    try {
      state = new BucketState(compileDefinition(name, definition));
    } catch (e) {
      return Promise.reject(e);
    }
    this.#core.buckets.set(name, state);
    this.#session?.defined(name);
    const handle = new BucketHandle<InferRecord<D>, InferInsert<D>>(this.#core, name);
    // A bucket dropped earlier in the same migration starts empty: its stored data is going away.
    if (this.#storage === undefined || !state.def.persistent || this.#session?.wasDropped(name))
      return Promise.resolve(handle);
    const loaded = (state.loading = this.#restore(state).finally(() => {
      state.loading = undefined;
    }));
    return loaded.then(
      () => handle,
      (e) => {
        if (this.#core.buckets.get(name) === state) this.#core.buckets.delete(name);
        throw e;
      },
    );
  }

  async #restore(state: BucketState): Promise<void> {
    await this.#storage!.restoreBucket(state, { held: this.#session?.holds(state.name) === true });
    this.#session?.restored(state);
    if (state.def.refs.length > 0)
      for (const [k, r] of state.records) this.#core.refs.track(state, k, undefined, r);
  }

  /**
   * A handle on a defined bucket; throws BucketNotDefinedError synchronously.
   * On a typed store the name must be one of its buckets and the handle is
   * typed from its definition.
   */
  bucket<R extends Record<string, unknown> = Record<string, unknown>>(
    this: Untyped<S>,
    name: string,
  ): BucketHandle<R, R>;
  bucket<N extends BucketName<S>>(this: Typed<S>, name: N): BucketHandle<RecordOf<S, N>, InsertOf<S, N>>;
  bucket(name: string): BucketHandle<any, any> {
    if (!this.#core.buckets.has(name)) throw new BucketNotDefinedError(name);
    return new BucketHandle(this.#core, name);
  }

  hasBucket(name: string): boolean {
    return this.#core.buckets.has(name);
  }

  getBucketSchema(name: string): BucketDefinition | undefined {
    return this.#core.buckets.get(name)?.def.definition;
  }

  /** Removes the bucket and its data (also from storage); false if it did not exist. */
  async dropBucket(name: string): Promise<boolean> {
    const state = this.#core.buckets.get(name);
    if (state === undefined) return false;
    if (state.loading !== undefined) await state.loading.catch(() => {});
    const session = this.#session;
    // In a migration, queries and storage hear of the drop when it commits.
    if (session === undefined) this.#queries.dropBucket(name);
    this.#core.refs.dropSource(name);
    this.#core.buckets.delete(name);
    this.#readables.delete(name);
    this.#history.dropBucket(name);
    if (session !== undefined) session.droppedBucket(name);
    else if (this.#storage !== undefined && state.def.persistent) await this.#storage.dropBucket(name);
    return true;
  }

  /**
   * Another instance sharing the database defined, changed or dropped a
   * bucket. Here the bucket is forgotten (without touching storage) and, unless
   * dropped, defined again from the stored definition, loading its records.
   */
  async #remoteDefinition(name: string, definition: Record<string, unknown> | undefined): Promise<void> {
    if (this.#core.stopped || this.#session !== undefined) return;
    const state = this.#core.buckets.get(name);
    if (state !== undefined) {
      // A memory-only bucket of this instance keeps its name.
      if (!state.def.persistent) return;
      if (state.loading !== undefined) await state.loading.catch(() => {});
      if (this.#core.buckets.get(name) !== state) return;
      this.#queries.dropBucket(name);
      this.#core.refs.dropSource(name);
      this.#core.buckets.delete(name);
      this.#readables.delete(name);
      this.#history.dropBucket(name);
      this.#remoteDefined.delete(name);
    }
    if (definition === undefined) return;
    this.#remoteDefined.set(name, JSON.stringify(definition));
    try {
      await this.defineBucket(name, definition as unknown as BucketDefinition);
    } catch (e) {
      this.#remoteDefined.delete(name);
      throw e;
    }
  }

  /** Add fields, indexes or change the TTL; records are kept and re-indexed. */
  async updateBucket(name: string, updates: BucketSchemaUpdate): Promise<void> {
    const state = this.#core.require(name);
    if (state.loading !== undefined) await state.loading;
    if (!isObjectArg(updates))
      throw new InvalidArgumentError('updateBucket', 'updates', 'expected {addFields?, addIndexes?, ttl?}');
    const def = state.def.definition;
    const schema = { ...def.schema };
    for (const [field, fd] of Object.entries(updates.addFields ?? {})) {
      if (Object.hasOwn(schema, field))
        throw new DefinitionError(name, `Field "${field}" already exists in bucket "${name}"`);
      schema[field] = fd;
    }
    const indexes: IndexSpec[] = [...(def.indexes ?? [])];
    for (const ix of updates.addIndexes ?? []) {
      if (!indexes.some((i) => JSON.stringify(i) === JSON.stringify(ix))) indexes.push(ix);
    }
    const next: Record<string, unknown> = { ...def, schema };
    if (indexes.length > 0) next.indexes = indexes;
    if (updates.ttl === null) delete next.ttl;
    else if (updates.ttl !== undefined) next.ttl = updates.ttl;
    this.replaceDefinition(name, next as unknown as BucketDefinition);
  }

  /**
   * @internal Swap a bucket's definition, keeping (or transforming) its
   * records. Builds the new state completely before swapping, so a failure
   * (invalid definition, a record that no longer validates, a unique
   * conflict) leaves the bucket as it was.
   */
  replaceDefinition(
    name: string,
    definition: BucketDefinition,
    transform?: (records: any[]) => any[],
  ): BucketState {
    const old = this.#core.require(name);
    const compiled = compileDefinition(name, definition);
    const fresh = new BucketState(compiled);
    let records = [...old.all()];
    if (transform !== undefined) {
      records = transform(records);
      for (const r of records) compiled.validator.validate(r, this.#core.maxNestingDepth);
    }
    fresh.load(records);
    fresh.autoincrement = old.autoincrement;
    if (compiled.hasAutoincrement) fresh.counterReservation = old.counterReservation;
    this.#core.refs.dropSource(name);
    this.#core.buckets.set(name, fresh);
    this.#readables.delete(name);
    if (compiled.refs.length > 0)
      for (const [k, r] of fresh.records) this.#core.refs.track(fresh, k, undefined, r);
    if (this.#session !== undefined) this.#session.replaced(name, transform !== undefined);
    else this.#storage?.bucketReplaced(fresh, transform !== undefined);
    return fresh;
  }

  /**
   * @internal Open a schema session (one migration): bucket-level changes
   * apply at once but reach storage only on `commit()`; `rollback()` puts
   * every bucket back as it was. One session at a time.
   */
  beginSchemaSession(): SchemaSession {
    if (this.#session !== undefined)
      throw new InvalidArgumentError('runMigrations', 'store', 'another migration is running on this store');
    if (this.#core.stopped) throw new StoreStoppedError(this.name);
    const session = new SchemaSession({
      core: this.#core,
      storage: this.#storage,
      onChanges: (changes) => this.#queries.onChanges(changes),
      dropQueries: (bucket) => this.#queries.dropBucket(bucket),
      forget: (bucket) => this.#readables.delete(bucket),
      end: () => {
        if (this.#session === session) this.#session = undefined;
      },
    });
    this.#session = session;
    return session;
  }

  // ── Transactions ──────────────────────────────────────────────────

  /**
   * Run `fn` with transactional bucket handles. Its writes are invisible to
   * others until it returns; then all of them apply at once or none do.
   */
  async transaction<T>(fn: (tx: TransactionContext<S>) => Promise<T>, options?: WriteOptions): Promise<T> {
    if (typeof fn !== 'function')
      throw new InvalidArgumentError('transaction', 'fn', 'expected an async function (tx)');
    const tx = new TransactionContext<S>(this.#core);
    let result: T;
    try {
      result = await fn(tx);
    } catch (e) {
      tx.abandon();
      throw e;
    }
    const wait = tx.commit(options);
    if (wait !== undefined) await wait;
    return result;
  }

  // ── TTL ───────────────────────────────────────────────────────────

  /** Purge expired records now; returns how many were removed. */
  async purgeTtl(): Promise<number> {
    return this.#purgeExpired();
  }

  #purgeExpired(): number {
    const now = Date.now();
    let total = 0;
    // On a shared database one instance purges; the others hear of the deletes.
    const purgeStored = this.#storage?.runsOnceOnlyWork !== false;
    for (const b of this.#core.buckets.values()) {
      if (b.expiry === undefined || b.loading !== undefined) continue;
      if (b.def.persistent && !purgeStored) continue;
      const expired: unknown[] = [];
      for (const k of b.expiry.range([], undefined, { value: now, inclusive: true })) expired.push(k);
      if (expired.length === 0) continue;
      const ws = this.#core.writeSet();
      try {
        for (const k of expired) ws.delete(b, k as string);
        this.#core.commit(ws);
        total += expired.length;
      } catch {
        // A reference restricts some deletion: purge record by record, skipping those.
        for (const k of expired) {
          try {
            const one = this.#core.writeSet();
            one.delete(b, k as string);
            this.#core.commit(one);
            total++;
          } catch {
            /* stays until its referrers are gone */
          }
        }
      }
    }
    return total;
  }

  // ── Stats, events ─────────────────────────────────────────────────

  async getStats(): Promise<StoreStats> {
    const names = [...this.#core.buckets.keys()];
    const perBucketRecords: Record<string, number> = {};
    const perBucketIndexes: Record<string, number> = {};
    let records = 0;
    let indexes = 0;
    for (const [n, b] of this.#core.buckets) {
      perBucketRecords[n] = b.size;
      perBucketIndexes[n] = b.indexes.length;
      records += b.size;
      indexes += b.indexes.length;
    }
    return {
      name: this.name,
      buckets: { count: names.length, names },
      records: { total: records, perBucket: perBucketRecords },
      indexes: { total: indexes, perBucket: perBucketIndexes },
      queries: { defined: this.#queries.queryCount, activeSubscriptions: this.#queries.subscriptionCount },
      persistence: { enabled: this.#storage !== undefined },
      ttl: { enabled: this.#ttl.enabled, checkIntervalMs: this.#ttl.checkIntervalMs },
    };
  }

  /** Subscribe to `bucket.<name>.<inserted|updated|deleted>` (`*` matches one segment). */
  on<E = BucketEvent>(
    this: Untyped<S>,
    pattern: string,
    handler: EventHandler<E>,
  ): Promise<() => Promise<void>>;
  on<P extends EventPattern<S>>(
    this: Typed<S>,
    pattern: P,
    handler: EventHandler<EventFor<S, P>>,
  ): Promise<() => Promise<void>>;
  async on(pattern: string, handler: EventHandler): Promise<() => Promise<void>> {
    const off = this.#events.subscribe(pattern, handler);
    return async () => off();
  }

  // ── Reactive queries ──────────────────────────────────────────────

  defineQuery<P = any, R = unknown>(this: Untyped<S>, name: string, fn: QueryFn<P, R>): void;
  /** On a typed store the query's context knows the bucket names and record types. */
  defineQuery<P = any, R = unknown>(this: Typed<S>, name: string, fn: TypedQueryFn<S, P, R>): void;
  defineQuery(name: string, fn: (ctx: any, params: any) => Promise<unknown>): void {
    this.#queries.define(name, fn as QueryFn);
  }

  defineDeclarativeQuery(name: string, config: DeclarativeQueryConfig): void {
    if (!isPlainObject(config) || typeof config.bucket !== 'string') {
      throw new InvalidArgumentError(
        'defineDeclarativeQuery',
        'config',
        'expected {bucket, filter?, sort?, limit?, offset?, fields?, aggregate?}',
      );
    }
    if (!this.#core.buckets.has(config.bucket)) throw new BucketNotDefinedError(config.bucket);
    this.#queries.define(name, createDeclarativeQuery(config), config);
  }

  undefineQuery(name: string): boolean {
    return this.#queries.undefine(name);
  }

  getQueries(): QueryInfo[] {
    return this.#queries.list();
  }

  getQueryInfo(name: string): QueryInfo | undefined {
    return this.#queries.info(name);
  }

  subscribe<R = any>(name: string, callback: (result: R) => void): Promise<() => void>;
  subscribe<R = any>(
    name: string,
    params: unknown,
    callback: (result: R) => void,
    readFilter?: ReadFilter,
  ): Promise<() => void>;
  subscribe(
    name: string,
    paramsOrCallback: unknown,
    maybeCallback?: (result: any) => void,
    readFilter?: ReadFilter,
  ) {
    return this.#queries.subscribe(name, paramsOrCallback, maybeCallback, readFilter);
  }

  runQuery<R = unknown>(name: string, params?: unknown, readFilter?: ReadFilter): Promise<R> {
    return this.#queries.run(name, params, readFilter) as Promise<R>;
  }

  #readable(name: string): ReadableBucket {
    let r = this.#readables.get(name);
    if (r === undefined) {
      r = new BucketHandle(this.#core, name) as unknown as ReadableBucket;
      this.#core.require(name);
      this.#readables.set(name, r);
    }
    return r;
  }

  /** Resolves once queued events are delivered and reactive queries have re-run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      await this.#events.drained();
      await this.#queries.settle();
      await new Promise<void>((r) => setImmediate(r));
      if (!this.#events.hasSubscribers()) break;
    }
  }

  // ── Persistence ───────────────────────────────────────────────────

  /**
   * Whether durable storage keeps up: `ok`, or `degraded` with the last
   * error while commits fail or after changes could not be stored.
   * Undefined for a store without persistence.
   */
  storageStatus(): StorageStatus | undefined {
    return this.#storage?.status?.();
  }

  /**
   * Call `observer` after every successful storage commit with its duration
   * and how many writes it carried (for metrics). Returns a function that
   * stops it; a store without persistence never calls it.
   */
  observeCommits(observer: (commit: CommitObservation) => void): () => void {
    return this.#storage?.observeCommits?.(observer) ?? (() => {});
  }

  /** Commit everything pending to storage now (one storage transaction); rejects with StorageError on failure. */
  async flush(): Promise<void> {
    await this.#storage?.flush();
  }

  /** Flush, then checkpoint storage (SQLite: WAL checkpoint; FileAdapter: new snapshot). */
  async checkpoint(): Promise<void> {
    const s = this.#requireStorage('checkpoint');
    await (s.checkpoint !== undefined ? s.checkpoint() : s.flush());
  }

  async createBackup(name?: string): Promise<BackupInfo> {
    const s = this.#requireStorage('create backup');
    await s.flush();
    if (s.createBackup === undefined) throw new PersistenceRequiredError('create backup');
    return s.createBackup(name ?? `backup-${Date.now()}`, this.#core.buckets);
  }

  async listBackups(): Promise<BackupInfo[]> {
    const s = this.#requireStorage('list backups');
    return s.listBackups?.() ?? [];
  }

  async restoreBackup(name: string): Promise<void> {
    const s = this.#requireStorage('restore backup');
    const data = await s.loadBackup?.(name);
    if (data === undefined) throw new BackupNotFoundError(name);
    const current = this.#core.buckets;
    // Build every restored bucket first, then swap them all in one step.
    const swaps: Array<[string, BucketState]> = [];
    for (const [bucket, content] of Object.entries(data)) {
      const old = current.get(bucket);
      if (old === undefined) continue;
      const fresh = new BucketState(old.def);
      fresh.load(content.records);
      fresh.autoincrement = content.autoincrement;
      fresh.counterReservation = old.counterReservation;
      swaps.push([bucket, fresh]);
    }
    for (const [bucket, fresh] of swaps) {
      const old = current.get(bucket)!;
      this.#core.refs.dropSource(bucket);
      current.set(bucket, fresh);
      this.#readables.delete(bucket);
      if (fresh.def.refs.length > 0)
        for (const [k, r] of fresh.records) this.#core.refs.track(fresh, k, undefined, r);
      // Storage and reactive queries learn the new content as ordinary changes; restores emit no events (C-9).
      const changes = [];
      for (const [k, r] of old.records)
        if (!fresh.records.has(k))
          changes.push({
            bucket,
            op: 'delete' as const,
            key: old.publicKeyOf(r),
            keyId: k,
            oldRecord: r,
            newRecord: undefined,
            version: r._version,
            seq: 0,
          });
      for (const [k, r] of fresh.records) {
        const before = old.records.get(k);
        changes.push({
          bucket,
          op: before === undefined ? ('insert' as const) : ('update' as const),
          key: fresh.publicKeyOf(r),
          keyId: k,
          oldRecord: before,
          newRecord: r,
          version: r._version,
          seq: 0,
        });
      }
      const wait = this.#core.dispatch(
        {
          changes,
          counters: new Map([[bucket, fresh.autoincrement]]),
          actor: undefined,
          at: Date.now(),
        },
        false,
      );
      if (wait !== undefined) await wait;
    }
  }

  /**
   * Online, consistent backup to a file (P-9): an SQLite Quire store that
   * `new SQLiteAdapter(path)` opens (docs/backups.md). Pending changes are
   * flushed first; writes go on while it copies.
   */
  async backupTo(path: string, options: BackupToOptions = {}): Promise<BackupFileInfo> {
    if (typeof path !== 'string' || path === '')
      throw new InvalidArgumentError('backupTo', 'path', 'expected a non-empty file path');
    if (!isObjectArg(options))
      throw new InvalidArgumentError(
        'backupTo',
        'options',
        'expected {overwrite?, pagesPerStep?, onProgress?}',
      );
    const step = options.pagesPerStep;
    if (step !== undefined && !(Number.isInteger(step) && step > 0))
      throw new InvalidArgumentError(
        'backupTo',
        'options.pagesPerStep',
        `expected a positive integer, got ${String(step)}`,
      );
    const s = this.#requireStorage('back up to a file');
    if (s.backupTo === undefined)
      throw new PersistenceRequiredError('back up to a file (snapshot adapters cannot)');
    return s.backupTo(path, this.#core.buckets, options);
  }

  /**
   * The change feed (P-6): changes with `seq > since`, oldest first, at most
   * `limit` (default 1000). Sequence numbers are monotonic and survive restarts.
   */
  async changes(options?: ChangesOptions): Promise<ChangeFeedEntry[]> {
    const { since, limit } = changesOptions(options);
    if (this.#core.stopped) throw new StoreStoppedError(this.name);
    return this.#history.changes(since, limit);
  }

  async deleteBackup(name: string): Promise<boolean> {
    const s = this.#requireStorage('delete backup');
    return (await s.deleteBackup?.(name)) ?? false;
  }

  #requireStorage(operation: string): StoreStorage {
    if (this.#storage === undefined) throw new PersistenceRequiredError(operation);
    return this.#storage;
  }

  /** Flush storage, stop timers and subscriptions. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#ttl.stop();
    await this.settle().catch(() => {});
    this.#queries.destroy();
    try {
      if (this.#storage !== undefined) {
        // close() makes a last flush attempt itself and reports what it could not write.
        await this.#storage.flush().catch(() => {});
        await this.#storage.close();
      }
    } finally {
      this.#core.stopped = true;
      this.#core.buckets.clear();
      this.#events.clear();
    }
  }
}
