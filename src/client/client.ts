// The transport-independent part of the client: typed calls, batches, the
// remote bucket handle, and (for connections that receive notifications)
// subscriptions delivered to callbacks.
import type {
  EventNotification,
  MethodName,
  QueryNotification,
  QuireMethods,
  ResultOf,
  RpcErrorData,
  RpcErrorObject,
  RpcResponse,
  TransactionOperation,
} from '../server/index.js';
import type {
  BucketDefinition,
  BucketEvent,
  BucketName,
  DeclarativeQueryConfig,
  FieldOf,
  FilterFor,
  InsertOf,
  IsUntyped,
  PaginatedResult,
  RecordOf,
  SchemaTypes,
  StoreRecord,
  UntypedSchema,
  WhereOptionsFor,
} from '../store/index.js';

/** A JSON-RPC error answered by the server. `data.code` is the stable Quire code. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: RpcErrorData | undefined;
  constructor(error: RpcErrorObject) {
    super(error.message);
    this.name = 'RpcError';
    this.code = error.code;
    this.data = error.data;
  }
  /** The Quire error code (`VALIDATION`, `TRANSACTION_CONFLICT`, `UNAUTHORIZED` …). */
  get quireCode(): string | undefined {
    return this.data?.code;
  }
}

/**
 * The connection failed or closed before the answer came. For a write, the
 * outcome is unknown: it may or may not have been applied.
 */
export class ConnectionError extends Error {
  readonly code = 'CONNECTION_CLOSED';
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/** A call got no answer within the client's call timeout (its outcome is unknown). */
export class CallTimeoutError extends Error {
  readonly code = 'CALL_TIMEOUT';
  constructor(method: string, ms: number) {
    super(`"${method}" got no answer within ${ms} ms`);
    this.name = 'CallTimeoutError';
  }
}

type Rec = Record<string, unknown>;

/** Application methods a client knows about: name → {params, result} (like QuireMethods). */
export type MethodMap = { readonly [method: string]: { readonly params: unknown; readonly result: unknown } };

/** Method names a client accepts: the built-in ones and the application's. */
export type CallableMethod<A extends MethodMap> = MethodName | (keyof A & string);
type SpecOf<A extends MethodMap, M> = M extends MethodName
  ? QuireMethods[M]
  : M extends keyof A
    ? A[M]
    : never;
/**
 * The application methods of an untyped client: any name, params and result
 * unknown (built-in names stay typed). A typed client knows only the methods
 * it is given.
 */
export type OpenMethods = {
  readonly [method: string]: { readonly params: unknown; readonly result: unknown };
};
/** The default application methods for schema `S`: open when untyped, none when typed. */
export type DefaultMethods<S> = IsUntyped<S> extends true ? OpenMethods : {};
/** The params of a call: optional when the method takes none. */
export type CallArgs<A extends MethodMap, M> = undefined extends SpecOf<A, M>['params']
  ? [params?: SpecOf<A, M>['params']]
  : [params: SpecOf<A, M>['params']];
/** What a call resolves with. */
export type CallResult<A extends MethodMap, M> = SpecOf<A, M>['result'];

/** One call of a batch. */
export interface BatchCall {
  readonly method: string;
  readonly params?: unknown;
  /** Send as a notification: no response, no entry in the results. */
  readonly notify?: boolean;
}

/** Outcome of one batch call: its result or its error. */
export type BatchResult =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: RpcError };

/**
 * A subscription could not be made again after a reconnect (the server lost
 * or changed the query, or refused it). The subscription is over: its
 * callback gets no more results; subscribe again once the cause is fixed.
 */
export class ResubscribeError extends Error {
  readonly code = 'RESUBSCRIBE_FAILED';
  /** The query name (query subscriptions) or event pattern (event subscriptions). */
  readonly subscription: string;
  override readonly cause: Error;
  constructor(subscription: string, cause: Error) {
    super(`subscription to "${subscription}" could not be restored after reconnecting: ${cause.message}`);
    this.name = 'ResubscribeError';
    this.subscription = subscription;
    this.cause = cause;
  }
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /**
   * Called when the subscription ends by an error: it could not be restored
   * after a reconnect (ResubscribeError). Without it, the client's `onError` gets it.
   */
  readonly onError?: (error: ResubscribeError) => void;
  /**
   * Called when the subscription was made again after a reconnect. Events
   * of the time without a connection are not replayed: read again what you
   * show. (A query subscription reports a changed result by itself.)
   */
  readonly onResubscribed?: () => void;
}

/** A live reactive-query subscription. */
export interface QuerySubscription<R = unknown> {
  /** The query's result when the subscription was made (later results go to the callback). */
  readonly result: R;
  unsubscribe(): Promise<void>;
}

export interface EventSubscription {
  unsubscribe(): Promise<void>;
}

export interface WriteOpts {
  readonly actor?: string;
}

/**
 * A client. `S` types bucket names, records and filters (a `QuireSchema`
 * written by `quire types`); `A` adds the application's own methods to
 * `call()`. Both default to untyped.
 */
export abstract class QuireClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> {
  protected nextId = 0;

  /** Send a request and wait for its result; rejects with RpcError, ConnectionError or CallTimeoutError. */
  abstract request(method: string, params: unknown): Promise<unknown>;
  /** Send a notification (no response). */
  abstract notify(method: string, params?: unknown): Promise<void>;
  /** Send several calls in one JSON-RPC batch. */
  abstract batch(calls: readonly BatchCall[]): Promise<BatchResult[]>;
  abstract close(): Promise<void>;

  /**
   * Call a built-in method (or one of the application methods `A`), params
   * and result typed. Unknown names do not compile; `request()` sends any.
   */
  call<M extends CallableMethod<A>>(method: M, ...params: CallArgs<A, M>): Promise<CallResult<A, M>>;
  call(method: string, params?: unknown): Promise<unknown> {
    return this.request(method, params);
  }

  /** A built-in method, typed whatever `A` is. */
  protected builtin<M extends MethodName>(method: M, ...params: CallArgs<{}, M>): Promise<ResultOf<M>> {
    return this.request(method, params[0]) as Promise<ResultOf<M>>;
  }

  /** The records of one bucket; on a typed client the name must be a bucket of `S`. */
  bucket<N extends BucketName<S>>(name: N): RemoteBucket<RecordOf<S, N>, InsertOf<S, N>> {
    return new RemoteBucket(this as QuireClient<any, any>, name);
  }

  transaction(operations: readonly TransactionOperation[], options?: WriteOpts): Promise<unknown[]> {
    return this.builtin('transaction', { operations, ...options });
  }

  async defineBucket(name: string, definition: BucketDefinition): Promise<void> {
    await this.builtin('defineBucket', { name, definition });
  }

  dropBucket(name: string): Promise<boolean> {
    return this.builtin('dropBucket', { name });
  }

  /**
   * Define a declarative query on the server. Defining the same definition
   * again is a no-op; a different one under the same name fails with
   * QUERY_ALREADY_DEFINED. Connections that reconnect define it again
   * before restoring subscriptions (the server may have restarted).
   */
  async defineQuery(name: string, config: DeclarativeQueryConfig): Promise<true> {
    const r = await this.builtin('defineQuery', { name, config });
    this.definedQueries.set(name, config);
    return r;
  }

  /** Queries this client defined, re-defined after a reconnect. */
  protected readonly definedQueries = new Map<string, DeclarativeQueryConfig>();

  getStats(): Promise<ResultOf<'getStats'>> {
    return this.builtin('getStats');
  }

  /** Subscribe to a reactive query: the current result now, `callback` with every changed result. */
  subscribe<R = unknown>(
    _query: string,
    _params: unknown,
    _callback: (result: R) => void,
    _options?: SubscribeOptions,
  ): Promise<QuerySubscription<R>> {
    return Promise.reject(
      new RpcError({
        code: -32601,
        message: 'Not supported: subscriptions need a WebSocket or stdio connection',
        data: { code: 'NOT_SUPPORTED' },
      }),
    );
  }

  /** Subscribe to bucket events (`bucket.<name>.<inserted|updated|deleted>`, `*` = one segment). */
  on<E = BucketEvent>(
    _pattern: string,
    _callback: (event: E, topic: string) => void,
    _options?: SubscribeOptions,
  ): Promise<EventSubscription> {
    return Promise.reject(
      new RpcError({
        code: -32601,
        message: 'Not supported: event subscriptions need a WebSocket or stdio connection',
        data: { code: 'NOT_SUPPORTED' },
      }),
    );
  }
}

/** The records of one bucket, remotely. Method names and arguments follow BucketHandle. */
export class RemoteBucket<R extends Rec = Rec, I extends Rec = Partial<R>> {
  readonly #c: QuireClient<any, any>;
  readonly name: string;

  constructor(client: QuireClient<any, any>, name: string) {
    this.#c = client;
    this.name = name;
  }

  #call<T>(method: MethodName, params: Rec): Promise<T> {
    return this.#c.request(method, { bucket: this.name, ...params }) as Promise<T>;
  }

  insert(record: I, options?: WriteOpts): Promise<StoreRecord<R>> {
    return this.#call('insert', { record, ...options });
  }
  async get(key: unknown): Promise<StoreRecord<R> | undefined> {
    return (await this.#call<StoreRecord<R> | null>('get', { key })) ?? undefined;
  }
  /** With `expectedVersion`, fails with TRANSACTION_CONFLICT unless the record is still at that version. */
  update(
    key: unknown,
    changes: Partial<R>,
    options?: WriteOpts & { readonly expectedVersion?: number },
  ): Promise<StoreRecord<R>> {
    return this.#call('update', { key, changes, ...options });
  }
  /** Resolves whether a record was deleted (`false`: no record with that key). */
  delete(key: unknown, options?: WriteOpts & { readonly expectedVersion?: number }): Promise<boolean> {
    return this.#call('delete', { key, ...options });
  }
  upsert(record: I, options?: WriteOpts): Promise<StoreRecord<R>> {
    return this.#call('upsert', { record, ...options });
  }
  async clear(options?: WriteOpts): Promise<void> {
    await this.#call('clear', { ...options });
  }
  insertMany(records: readonly I[], options?: WriteOpts): Promise<StoreRecord<R>[]> {
    return this.#call('insertMany', { records, ...options });
  }
  updateMany(filter: FilterFor<R>, changes: Partial<R>, options?: WriteOpts): Promise<number> {
    return this.#call('updateMany', { filter, changes, ...options });
  }
  deleteMany(filter: FilterFor<R>, options?: WriteOpts): Promise<number> {
    return this.#call('deleteMany', { filter, ...options });
  }
  all(): Promise<StoreRecord<R>[]> {
    return this.#call('all', {});
  }
  where(filter: FilterFor<R>, options?: WhereOptionsFor<R>): Promise<StoreRecord<R>[]> {
    return this.#call('where', { filter, ...options });
  }
  async findOne(filter: FilterFor<R>): Promise<StoreRecord<R> | undefined> {
    return (await this.#call<StoreRecord<R> | null>('findOne', { filter })) ?? undefined;
  }
  count(filter?: FilterFor<R>): Promise<number> {
    return this.#call('count', filter === undefined ? {} : { filter });
  }
  first(n: number, filter?: FilterFor<R>): Promise<StoreRecord<R>[]> {
    return this.#call('first', { n, filter });
  }
  last(n: number, filter?: FilterFor<R>): Promise<StoreRecord<R>[]> {
    return this.#call('last', { n, filter });
  }
  paginate(
    options: { after?: unknown; limit: number },
    filter?: FilterFor<R>,
  ): Promise<PaginatedResult<StoreRecord<R>>> {
    return this.#call('paginate', { ...options, filter });
  }
  sum(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number> {
    return this.#call('sum', { field, filter });
  }
  avg(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number> {
    return this.#call('avg', { field, filter });
  }
  async min(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined> {
    return (await this.#call<number | null>('min', { field, filter })) ?? undefined;
  }
  async max(field: FieldOf<R>, filter?: FilterFor<R>): Promise<number | undefined> {
    return (await this.#call<number | null>('max', { field, filter })) ?? undefined;
  }
  groupBy(
    fields: FieldOf<R> | FieldOf<R>[],
    aggregate: QuireMethods['groupBy']['params']['aggregate'],
    filter?: FilterFor<R>,
  ): Promise<ResultOf<'groupBy'>> {
    return this.#call('groupBy', { fields, aggregate, filter });
  }
  history(
    key: unknown,
    options?: { limit?: number; since?: number; until?: number },
  ): Promise<ResultOf<'history'>> {
    return this.#call('history', { key, ...options });
  }
  restoreVersion(key: unknown, version: number, options?: WriteOpts): Promise<StoreRecord<R>> {
    return this.#call('restoreVersion', { key, version, ...options });
  }
}

/** Structural equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Rec)[k], (b as Rec)[k]));
}

interface Pending {
  readonly method: string;
  /** Written to the connection (a call still waiting for a connection survives a disconnect). */
  sent: boolean;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

interface LocalSubscription {
  readonly kind: 'query' | 'events';
  readonly query?: string;
  readonly params?: unknown;
  readonly pattern?: string;
  readonly callback: (...args: any[]) => void;
  readonly onError: ((error: ResubscribeError) => void) | undefined;
  readonly onResubscribed: (() => void) | undefined;
  serverId: string;
  last: unknown;
  active: boolean;
}

export interface StreamClientOptions {
  /** Reject a call that got no answer after this long. Default 30 000 ms; 0 = never. */
  readonly callTimeoutMs?: number;
  /**
   * Called with a callback's exception, an unreadable message, a query that
   * could not be re-defined after a reconnect, and a ResubscribeError of a
   * subscription without its own `onError`. Default: ignored.
   */
  readonly onError?: (error: Error) => void;
}

/**
 * A client over a bidirectional message channel (WebSocket, child-process
 * stdio): matches responses to requests by id and delivers notifications to
 * subscription callbacks.
 */
export abstract class StreamClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends QuireClient<S, A> {
  readonly #pending = new Map<number, Pending>();
  readonly #batches = new Map<number, (items: RpcResponse[] | Error) => void>();
  protected readonly subscriptions = new Map<string, LocalSubscription>();
  readonly #callTimeout: number;
  protected readonly onError: (error: Error) => void;

  constructor(options: StreamClientOptions) {
    super();
    this.#callTimeout = options.callTimeoutMs ?? 30_000;
    this.onError = options.onError ?? (() => {});
  }

  /**
   * Send one message; throws or rejects if the channel is down. Calls
   * `onWrite` right before the message goes onto the connection.
   */
  protected abstract send(text: string, onWrite?: () => void): void | Promise<void>;

  request(method: string, params: unknown): Promise<unknown> {
    return this.requestVia(method, params, (text, onWrite) => this.send(text, onWrite));
  }

  /** A request written by `write` instead of `send` (a connection's handshake, before calls may flow). */
  protected requestVia(
    method: string,
    params: unknown,
    write: (text: string, onWrite: () => void) => void | Promise<void>,
  ): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer =
        this.#callTimeout > 0
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(new CallTimeoutError(method, this.#callTimeout));
            }, this.#callTimeout)
          : undefined;
      const entry: Pending = { method, resolve, reject, timer, sent: false };
      this.#pending.set(id, entry);
      const msg =
        params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
      this.#sendOrFail(JSON.stringify(msg), id, write, () => {
        entry.sent = true;
      });
    });
  }

  #sendOrFail(
    text: string,
    id: number,
    write: (text: string, onWrite: () => void) => void | Promise<void>,
    onWrite: () => void,
  ): void {
    const fail = (e: unknown) => {
      const p = this.#pending.get(id);
      if (p === undefined) return;
      this.#pending.delete(id);
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(e instanceof Error ? e : new ConnectionError(String(e)));
    };
    try {
      const r = write(text, onWrite);
      if (r instanceof Promise) r.catch(fail);
    } catch (e) {
      fail(e);
    }
  }

  async notify(method: string, params?: unknown): Promise<void> {
    await this.send(
      JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }),
    );
  }

  async batch(calls: readonly BatchCall[]): Promise<BatchResult[]> {
    if (calls.length === 0) return [];
    const ids: Array<number | undefined> = [];
    const msgs = calls.map((c) => {
      const id = c.notify === true ? undefined : ++this.nextId;
      ids.push(id);
      const m: Rec = { jsonrpc: '2.0', method: c.method };
      if (c.params !== undefined) m.params = c.params;
      if (id !== undefined) m.id = id;
      return m;
    });
    const expected = ids.filter((i) => i !== undefined) as number[];
    if (expected.length === 0) {
      await this.send(JSON.stringify(msgs));
      return [];
    }
    // The batch's answer is matched by its first id.
    const key = expected[0]!;
    const answer = new Promise<RpcResponse[] | Error>((resolve) => this.#batches.set(key, resolve));
    const timer =
      this.#callTimeout > 0
        ? setTimeout(
            () => this.#batches.get(key)?.(new CallTimeoutError('batch', this.#callTimeout)),
            this.#callTimeout,
          )
        : undefined;
    try {
      await this.send(JSON.stringify(msgs));
    } catch (e) {
      this.#batches.delete(key);
      if (timer !== undefined) clearTimeout(timer);
      throw e;
    }
    const items = await answer;
    this.#batches.delete(key);
    if (timer !== undefined) clearTimeout(timer);
    if (items instanceof Error) throw items;
    return toBatchResults(items, expected);
  }

  /** Handle one incoming message (a response, a batch response or a notification). */
  protected receive(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.onError(new Error(`unreadable message from the server: ${text.slice(0, 200)}`));
      return;
    }
    if (Array.isArray(msg)) {
      const first = msg.find((m) => m !== null && typeof m === 'object' && typeof m.id === 'number') as
        | { id: number }
        | undefined;
      const ids = msg
        .map((m) => (m as { id?: unknown })?.id)
        .filter((i): i is number => typeof i === 'number');
      const key = ids.length > 0 ? Math.min(...ids) : first?.id;
      const resolve = key === undefined ? undefined : this.#batches.get(key);
      if (resolve !== undefined) resolve(msg as RpcResponse[]);
      else this.onError(new Error('a batch response nobody waits for'));
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    const m = msg as Rec;
    if (typeof m.method === 'string' && !('id' in m)) {
      this.#notification(m.method, m.params);
      return;
    }
    if (typeof m.id !== 'number') {
      // An error without a usable id (parse error, oversized message): it belongs to no call we can name.
      if (m.error !== undefined) this.onError(new RpcError(m.error as RpcErrorObject));
      return;
    }
    const p = this.#pending.get(m.id);
    if (p === undefined) {
      this.#batches.get(m.id)?.([m as unknown as RpcResponse]);
      return;
    }
    this.#pending.delete(m.id);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (m.error !== undefined) p.reject(new RpcError(m.error as RpcErrorObject));
    else p.resolve(m.result);
  }

  /**
   * The channel went down: reject every call that was sent and waits for an
   * answer (`all`: also those not sent yet).
   */
  protected failPending(error: Error, all = false): void {
    for (const [id, p] of this.#pending) {
      if (!p.sent && !all) continue;
      this.#pending.delete(id);
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(error);
    }
    for (const resolve of this.#batches.values()) resolve(error);
    this.#batches.clear();
  }

  #notification(method: string, params: unknown): void {
    const p = params as Rec | undefined;
    const sub = typeof p?.subscription === 'string' ? this.subscriptions.get(p.subscription) : undefined;
    if (sub === undefined || !sub.active) return;
    try {
      if (method === 'subscription' && sub.kind === 'query') {
        const n = p as unknown as QueryNotification;
        sub.last = n.result;
        sub.callback(n.result);
      } else if (method === 'event' && sub.kind === 'events') {
        const n = p as unknown as EventNotification;
        sub.callback(n.event, n.topic);
      }
    } catch (e) {
      this.onError(e as Error);
    }
  }

  override async subscribe<R = unknown>(
    query: string,
    params: unknown,
    callback: (result: R) => void,
    options: SubscribeOptions = {},
  ): Promise<QuerySubscription<R>> {
    const r = (await this.builtin('subscribe', params === undefined ? { query } : { query, params })) as {
      subscription: string;
      result: R;
    };
    const sub: LocalSubscription = {
      kind: 'query',
      query,
      params,
      callback,
      onError: options.onError,
      onResubscribed: options.onResubscribed,
      serverId: r.subscription,
      last: r.result,
      active: true,
    };
    this.subscriptions.set(r.subscription, sub);
    return { result: r.result, unsubscribe: () => this.#unsubscribe(sub) };
  }

  override async on<E = BucketEvent>(
    pattern: string,
    callback: (event: E, topic: string) => void,
    options: SubscribeOptions = {},
  ): Promise<EventSubscription> {
    const r = await this.builtin('subscribeEvents', { pattern });
    const sub: LocalSubscription = {
      kind: 'events',
      pattern,
      callback,
      onError: options.onError,
      onResubscribed: options.onResubscribed,
      serverId: r.subscription,
      last: undefined,
      active: true,
    };
    this.subscriptions.set(r.subscription, sub);
    return { unsubscribe: () => this.#unsubscribe(sub) };
  }

  async #unsubscribe(sub: LocalSubscription): Promise<void> {
    if (!sub.active) return;
    sub.active = false;
    this.subscriptions.delete(sub.serverId);
    try {
      await this.builtin('unsubscribe', { subscription: sub.serverId });
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
    }
  }

  /**
   * After a reconnect: define this client's queries again (the server may
   * have restarted and lost them), then subscribe again; a query whose
   * result changed meanwhile reports it. A subscription that cannot be
   * restored ends with a ResubscribeError to its `onError`.
   */
  protected async resubscribe(): Promise<void> {
    for (const [name, config] of this.definedQueries) {
      try {
        await this.call('defineQuery', { name, config });
      } catch (e) {
        this.onError(e as Error);
      }
    }
    const subs = [...this.subscriptions.values()].filter((s) => s.active);
    this.subscriptions.clear();
    for (const sub of subs) {
      try {
        if (sub.kind === 'query') {
          const r = (await this.builtin(
            'subscribe',
            sub.params === undefined ? { query: sub.query! } : { query: sub.query!, params: sub.params },
          )) as { subscription: string; result: unknown };
          sub.serverId = r.subscription;
          this.subscriptions.set(sub.serverId, sub);
          if (!jsonEqual(r.result, sub.last)) {
            sub.last = r.result;
            sub.callback(r.result);
          }
        } else {
          const r = await this.builtin('subscribeEvents', { pattern: sub.pattern! });
          sub.serverId = r.subscription;
          this.subscriptions.set(sub.serverId, sub);
        }
        try {
          sub.onResubscribed?.();
        } catch (thrown) {
          this.onError(thrown as Error);
        }
      } catch (e) {
        sub.active = false;
        const error = new ResubscribeError(
          sub.kind === 'query' ? sub.query! : sub.pattern!,
          e instanceof Error ? e : new Error(String(e)),
        );
        try {
          (sub.onError ?? this.onError)(error);
        } catch (thrown) {
          this.onError(thrown as Error);
        }
      }
    }
  }
}

export function toBatchResults(items: readonly RpcResponse[], ids: readonly number[]): BatchResult[] {
  const byId = new Map<unknown, RpcResponse>();
  const orphans: RpcResponse[] = [];
  for (const it of items) {
    if (it !== null && typeof it === 'object' && typeof it.id === 'number') byId.set(it.id, it);
    else orphans.push(it);
  }
  return ids.map((id) => {
    const r = byId.get(id) ?? orphans.shift();
    if (r === undefined)
      return {
        ok: false,
        error: new RpcError({
          code: -32603,
          message: 'no response for this call',
          data: { code: 'INTERNAL' },
        }),
      };
    return 'error' in r ? { ok: false, error: new RpcError(r.error) } : { ok: true, result: r.result };
  });
}
