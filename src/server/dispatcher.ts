// The transport-independent JSON-RPC 2.0 dispatcher: parses a message
// (a request, a notification or a batch), checks it, runs the method with a
// timeout and returns the response text. Transports only move text.
//
// Order: a message's handler is started synchronously from `handle()` (no
// await before it), so requests take effect in the order they arrive on a
// connection, even though their responses may come back in another order.
import type { Access, Identity } from './auth.js';
import { RpcError, toRpcError } from './errors.js';
import {
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  RATE_LIMITED,
  type RpcErrorObject,
  type RpcId,
  SHUTTING_DOWN,
  STORE_ERROR,
  TIMEOUT,
  UNAUTHORIZED,
} from './protocol.js';
import { readOnlyRefusal } from './read-only.js';

export type Transport = 'stdio' | 'http' | 'ws';

/** Token bucket: `requests` per `intervalMs`, bursts up to `requests`. */
export interface RateLimit {
  readonly requests: number;
  readonly intervalMs: number;
}

export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  #tokens: number;
  #at = Date.now();

  constructor(limit: RateLimit) {
    this.#capacity = limit.requests;
    this.#perMs = limit.requests / limit.intervalMs;
    this.#tokens = limit.requests;
  }

  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

let sessionCounter = 0;

/** One client connection (for HTTP: one request). Owns its subscriptions. */
export class Session {
  readonly id = ++sessionCounter;
  readonly transport: Transport;
  identity: Identity | undefined;
  /** Push a notification to the client; undefined when the transport cannot (HTTP). */
  readonly notify: ((method: string, params: unknown) => void) | undefined;
  readonly limiter: RateLimiter | undefined;
  /** Created with the first subscription (an HTTP request's session never has one). */
  #cleanups: Map<string, () => void> | undefined;
  #nextSub = 0;
  closed = false;

  constructor(
    transport: Transport,
    notify: ((method: string, params: unknown) => void) | undefined,
    limiter: RateLimiter | undefined,
    identity?: Identity,
  ) {
    this.transport = transport;
    this.notify = notify;
    this.limiter = limiter;
    this.identity = identity;
  }

  /** Registers a subscription's cleanup; returns its id (unique within the session). */
  addSubscription(cleanup: () => void): string {
    const id = `s${++this.#nextSub}`;
    (this.#cleanups ??= new Map()).set(id, cleanup);
    return id;
  }

  removeSubscription(id: string): boolean {
    const c = this.#cleanups?.get(id);
    if (c === undefined) return false;
    this.#cleanups!.delete(id);
    c();
    return true;
  }

  get subscriptionCount(): number {
    return this.#cleanups?.size ?? 0;
  }

  /** Ends every subscription; further notifications are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.#cleanups === undefined) return;
    for (const c of this.#cleanups.values()) {
      try {
        c();
      } catch {
        /* a failing cleanup must not keep the others from running */
      }
    }
    this.#cleanups.clear();
  }
}

/** What a method handler sees besides its params. */
export interface MethodContext {
  readonly session: Session;
  /** The authenticated identity; undefined when auth is off. */
  readonly identity: Identity | undefined;
  readonly method: string;
  /** Throws FORBIDDEN unless the identity may do `access` on `bucket` ('*' = every bucket). No-op without auth. */
  authorize(access: Access, bucket: string): void;
  /** The actor for writes: the identity with auth, else the client's `actor` param. */
  actor(params: unknown): string | undefined;
  /** Runs after this request's response has been handed to the transport. */
  afterResponse(fn: () => void): void;
}

export type Handler = (params: any, ctx: MethodContext) => unknown;

export interface MethodOptions {
  /** Accept params given by position (an array). Default: only named params (an object) or none. */
  readonly positional?: boolean;
  /** Callable before authenticating (only `authenticate` and `ping` by default). */
  readonly public?: boolean;
}

interface Method {
  readonly handler: Handler;
  readonly options: MethodOptions;
}

export interface DispatcherOptions {
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxBatch: number;
  /** Whether sessions must authenticate. */
  readonly authRequired: boolean;
  /** Refuse write and admin access (a read-only server). */
  readonly readOnly?: boolean;
  readonly onInternalError: (method: string, error: unknown) => void;
  /** Told about every request once it is answered (logs, metrics). */
  readonly onRequest?: (request: RequestRecord) => void;
}

/**
 * One handled request, for logs and metrics: names and outcome only, never
 * params values, results or tokens.
 */
export interface RequestRecord {
  /** The method called; `(invalid)` for a message that is not a valid request. */
  readonly method: string;
  /** Whether the method exists (an unknown name is the client's text: metrics do not use it as a label). */
  readonly known: boolean;
  /** The `bucket` param, when the request has one. */
  readonly bucket: string | undefined;
  /** `ok`, or the error's stable code (`VALIDATION`, `UNAUTHORIZED` …). */
  readonly outcome: string;
  readonly durationMs: number;
  readonly session: Session;
  /** A notification (no response was due). */
  readonly notification: boolean;
}

/** Filled in while a request runs. */
interface Tracking {
  readonly started: number;
  method: string;
  known: boolean;
  bucket: string | undefined;
  outcome: string;
  notification: boolean;
}

/** Longest method or bucket name copied into a record (the rest is the client's text). */
const MAX_NAME = 100;

interface Outcome {
  readonly text: string | undefined;
  readonly after: Array<() => void>;
}

export class Dispatcher {
  readonly #methods = new Map<string, Method>();
  readonly #options: DispatcherOptions;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing = false;

  constructor(options: DispatcherOptions) {
    this.#options = options;
  }

  register(name: string, handler: Handler, options: MethodOptions = {}): void {
    if (typeof name !== 'string' || name === '' || name.startsWith('rpc.'))
      throw new TypeError(`Invalid method name "${String(name)}" (names starting with "rpc." are reserved)`);
    if (typeof handler !== 'function') throw new TypeError(`Handler of "${name}" must be a function`);
    if (this.#methods.has(name)) throw new TypeError(`Method "${name}" is already registered`);
    this.#methods.set(name, { handler, options });
  }

  has(name: string): boolean {
    return this.#methods.has(name);
  }

  get methodNames(): string[] {
    return [...this.#methods.keys()].sort();
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** New requests are refused with SHUTTING_DOWN from now on. */
  beginShutdown(): void {
    this.#closing = true;
  }

  /** Resolves when every running request has been answered. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Handle one incoming message. Calls `reply` with the response text (a
   * single response or a batch array), or not at all when no response is
   * due (only notifications). Never throws.
   */
  handle(text: string, session: Session, reply: (text: string) => void): void {
    this.#start(text, session, reply as (text: string | undefined) => void, false);
  }

  /**
   * Like handle(), but `answer` is called exactly once: with the response
   * text, or with undefined when no response is due (HTTP then sends 204).
   * Synchronously when the request completed synchronously (a `get` on a
   * loaded bucket): no promise per request.
   */
  handleEach(text: string, session: Session, answer: (text: string | undefined) => void): void {
    this.#start(text, session, answer, true);
  }

  #start(text: string, session: Session, reply: (text: string | undefined) => void, always: boolean): void {
    const p = this.#handle(text, session);
    if (p instanceof Promise) {
      this.#inFlight.add(p);
      void p.then(
        (out) => {
          this.#inFlight.delete(p);
          this.#deliver(out, reply, always);
        },
        () => this.#inFlight.delete(p),
      );
    } else this.#deliver(p, reply, always);
  }

  /** Like handle(), as a promise of the response text (undefined: nothing to send). */
  handleAsync(text: string, session: Session): Promise<string | undefined> {
    return new Promise((resolve) => this.handleEach(text, session, resolve));
  }

  #deliver(out: Outcome, reply: (text: string | undefined) => void, always = false): void {
    if (out.text !== undefined || always) {
      try {
        reply(out.text);
      } catch (e) {
        this.#options.onInternalError('(transport)', e);
      }
    }
    for (const fn of out.after) {
      try {
        fn();
      } catch (e) {
        this.#options.onInternalError('(afterResponse)', e);
      }
    }
  }

  /** Synchronous when every request of the message completed synchronously (errors, mostly). */
  #handle(text: string, session: Session): Outcome | Promise<Outcome> {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: short texts need no byte count.
    const max = this.#options.maxRequestBytes;
    if (text.length * 3 > max && Buffer.byteLength(text, 'utf8') > max) {
      this.#refused(session, 'REQUEST_TOO_LARGE');
      return { text: tooLarge(this.#options.maxRequestBytes), after: [] };
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      this.#refused(session, 'PARSE_ERROR');
      return {
        text: failure(null, {
          code: PARSE_ERROR,
          message: `Parse error: ${(e as Error).message}`,
          data: { code: 'PARSE_ERROR' },
        }),
        after: [],
      };
    }
    const after: Array<() => void> = [];
    if (!Array.isArray(msg)) {
      const r = this.#one(msg, session, after);
      return r instanceof Promise ? r.then((t) => ({ text: t, after })) : { text: r, after };
    }
    if (msg.length === 0) {
      this.#refused(session, 'INVALID_REQUEST');
      return {
        text: failure(null, invalid('an empty batch is not a valid request', 'INVALID_REQUEST')),
        after,
      };
    }
    if (msg.length > this.#options.maxBatch) {
      this.#refused(session, 'BATCH_TOO_LARGE');
      return {
        text: failure(
          null,
          invalid(`a batch may hold at most ${this.#options.maxBatch} requests`, 'BATCH_TOO_LARGE'),
        ),
        after,
      };
    }
    // Batch members run one after another, in order (JSON-RPC allows any order; this one is predictable).
    return (async () => {
      const parts: string[] = [];
      for (const m of msg) {
        const r = this.#one(m, session, after);
        const t = r instanceof Promise ? await r : r;
        if (t !== undefined) parts.push(t);
      }
      return { text: parts.length > 0 ? `[${parts.join(',')}]` : undefined, after };
    })();
  }

  /** A message refused as a whole (unreadable, too large): one record without a method. */
  #refused(session: Session, outcome: string): void {
    try {
      this.#options.onRequest?.({
        method: '(invalid)',
        known: false,
        bucket: undefined,
        outcome,
        durationMs: 0,
        session,
        notification: false,
      });
    } catch (e) {
      this.#options.onInternalError('(onRequest)', e);
    }
  }

  #one(
    msg: unknown,
    session: Session,
    after: Array<() => void>,
  ): string | undefined | Promise<string | undefined> {
    const observe = this.#options.onRequest;
    if (observe === undefined) return this.#run(msg, session, after, undefined);
    const t: Tracking = {
      started: performance.now(),
      method: '(invalid)',
      known: false,
      bucket: undefined,
      outcome: 'ok',
      notification: false,
    };
    const r = this.#run(msg, session, after, t);
    if (!(r instanceof Promise)) {
      this.#observed(observe, t, session);
      return r;
    }
    return r.then((text) => {
      this.#observed(observe, t, session);
      return text;
    });
  }

  #observed(observe: (request: RequestRecord) => void, t: Tracking, session: Session): void {
    try {
      observe({
        method: t.method,
        known: t.known,
        bucket: t.bucket,
        outcome: t.outcome,
        durationMs: performance.now() - t.started,
        session,
        notification: t.notification,
      });
    } catch (e) {
      this.#options.onInternalError('(onRequest)', e);
    }
  }

  #run(
    msg: unknown,
    session: Session,
    after: Array<() => void>,
    t: Tracking | undefined,
  ): string | undefined | Promise<string | undefined> {
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      return failed(t, null, invalid('a request must be a JSON object', 'INVALID_REQUEST'));
    }
    const req = msg as Record<string, unknown>;
    const idOk =
      !('id' in req) ||
      req.id === null ||
      typeof req.id === 'string' ||
      (typeof req.id === 'number' && Number.isFinite(req.id));
    const id = idOk && 'id' in req ? (req.id as RpcId) : null;
    const isNotification = !('id' in req);
    if (req.jsonrpc !== '2.0')
      return failed(t, id, invalid('"jsonrpc" must be exactly "2.0"', 'INVALID_REQUEST'));
    if (!idOk) return failed(t, null, invalid('"id" must be a string, a number or null', 'INVALID_REQUEST'));
    if (typeof req.method !== 'string' || req.method === '')
      return failed(t, id, invalid('"method" must be a non-empty string', 'INVALID_REQUEST'));
    const params = req.params;
    if (params !== undefined && (params === null || typeof params !== 'object'))
      return failed(t, id, invalid('"params" must be an object or an array', 'INVALID_REQUEST'));

    const method = this.#methods.get(req.method);
    if (t !== undefined) {
      t.method = req.method.slice(0, MAX_NAME);
      t.known = method !== undefined;
      t.notification = isNotification;
      const bucket = (params as { bucket?: unknown } | undefined)?.bucket;
      if (typeof bucket === 'string') t.bucket = bucket.slice(0, MAX_NAME);
    }
    const answer: Answer = { t, id, notification: isNotification };
    if (method === undefined) {
      return respond(answer, {
        code: METHOD_NOT_FOUND,
        message: `Method not found: "${req.method}"`,
        data: { code: 'METHOD_NOT_FOUND' },
      });
    }
    if (this.#closing) {
      return respond(answer, {
        code: SHUTTING_DOWN,
        message: 'The server is shutting down',
        data: { code: 'SHUTTING_DOWN' },
      });
    }
    if (session.limiter !== undefined && !session.limiter.take()) {
      return respond(answer, {
        code: RATE_LIMITED,
        message: 'Rate limit exceeded',
        data: { code: 'RATE_LIMITED' },
      });
    }
    if (this.#options.authRequired && session.identity === undefined && method.options.public !== true) {
      return respond(answer, {
        code: UNAUTHORIZED,
        message: 'Unauthorized: a valid bearer token is required',
        data: { code: 'UNAUTHORIZED' },
      });
    }
    if (Array.isArray(params) && method.options.positional !== true) {
      return respond(answer, {
        code: INVALID_PARAMS,
        message: `Invalid params: "${req.method}" takes named params (an object)`,
        data: { code: 'INVALID_PARAMS' },
      });
    }

    const name = req.method;
    if (this.#options.readOnly === true) {
      const refusal = readOnlyRefusal(name, params);
      if (refusal !== undefined) return respond(answer, toRpcError(refusal));
    }
    const ctx = new RequestContext(session, name, this.#options, isNotification ? undefined : after);

    let value: unknown;
    try {
      value = method.handler(params, ctx);
    } catch (e) {
      return respond(answer, this.#error(name, e));
    }
    if (!(value instanceof Promise)) return respond(answer, undefined, value);
    return this.#withTimeout(value, name).then(
      (r) => respond(answer, undefined, r),
      (e) => respond(answer, this.#error(name, e)),
    );
  }

  #withTimeout(p: Promise<unknown>, name: string): Promise<unknown> {
    const ms = this.#options.requestTimeoutMs;
    if (!(ms > 0) || !Number.isFinite(ms)) return p;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RpcError(
            TIMEOUT,
            `Request timed out after ${ms} ms ("${name}" may still complete; its outcome is unknown)`,
            { code: 'TIMEOUT' },
          ),
        );
      }, ms);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  #error(method: string, e: unknown): RpcErrorObject {
    const err = toRpcError(e);
    if (err.data?.code === 'INTERNAL') this.#options.onInternalError(method, e);
    return err;
  }
}

/** What a response needs besides the outcome: the request's id, whether one is due, the tracking record. */
interface Answer {
  readonly t: Tracking | undefined;
  readonly id: RpcId;
  readonly notification: boolean;
}

/** The response text for an outcome (undefined for a notification); notes the outcome for logs and metrics. */
function respond(a: Answer, error: RpcErrorObject | undefined, result?: unknown): string | undefined {
  if (error !== undefined && a.t !== undefined) a.t.outcome = error.data?.code ?? String(error.code);
  if (a.notification) return undefined;
  return error !== undefined ? failure(a.id, error) : success(a.id, result);
}

/** A failure answered even to a notification (the message is not a valid request). */
function failed(t: Tracking | undefined, id: RpcId, error: RpcErrorObject): string {
  if (t !== undefined) t.outcome = error.data?.code ?? String(error.code);
  return failure(id, error);
}

/**
 * A handler's MethodContext. The functions are made when first read (most
 * handlers call one of them once), not three closures per request; each
 * read gives a function that works detached from the context too.
 */
class RequestContext implements MethodContext {
  readonly session: Session;
  readonly identity: Identity | undefined;
  readonly method: string;
  readonly #options: DispatcherOptions;
  /** Undefined for a notification: nothing runs after a response that is never sent. */
  readonly #after: Array<() => void> | undefined;

  constructor(
    session: Session,
    method: string,
    options: DispatcherOptions,
    after: Array<() => void> | undefined,
  ) {
    this.session = session;
    this.identity = session.identity;
    this.method = method;
    this.#options = options;
    this.#after = after;
  }

  get authorize(): (access: Access, bucket: string) => void {
    return (access, bucket) => {
      if (this.#options.readOnly === true && access !== 'read')
        throw new RpcError(STORE_ERROR, `Read-only server: "${this.method}" needs ${access} access`, {
          code: 'READ_ONLY',
        });
      if (this.#options.authRequired) this.session.identity?.require(access, bucket);
    };
  }

  get actor(): (params: unknown) => string | undefined {
    return (p) => {
      if (this.session.identity !== undefined) return this.session.identity.name;
      const a = (p as Record<string, unknown> | undefined)?.actor;
      if (a !== undefined && typeof a !== 'string')
        throw new RpcError(INVALID_PARAMS, 'Invalid params: "actor" must be a string', {
          code: 'INVALID_PARAMS',
        });
      return a;
    };
  }

  get afterResponse(): (fn: () => void) => void {
    return (fn) => {
      this.#after?.push(fn);
    };
  }
}

function invalid(message: string, code: string): RpcErrorObject {
  return { code: INVALID_REQUEST, message: `Invalid Request: ${message}`, data: { code } };
}

export function tooLarge(limit: number): string {
  return failure(null, {
    code: INVALID_REQUEST,
    message: `Invalid Request: the message exceeds the size limit of ${limit} bytes`,
    data: { code: 'REQUEST_TOO_LARGE', limit },
  });
}

function success(id: RpcId, result: unknown): string {
  try {
    return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${JSON.stringify(result ?? null)}}`;
  } catch (e) {
    return failure(id, {
      code: -32603,
      message: `Internal error: the result cannot be sent as JSON (${(e as Error).message})`,
      data: { code: 'INTERNAL' },
    });
  }
}

function failure(id: RpcId, error: RpcErrorObject): string {
  let text: string;
  try {
    text = JSON.stringify(error);
  } catch {
    // Details that cannot be serialised (a BigInt value …) are dropped, the code stays.
    text = JSON.stringify({ code: error.code, message: error.message, data: { code: error.data?.code } });
  }
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":${text}}`;
}

/** Serialises a notification. */
export function notification(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}
