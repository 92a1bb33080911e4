// QuireServer: a Store served over JSON-RPC 2.0 on stdio, HTTP and
// WebSocket, with one dispatcher and one method table for all three.
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  type AssetHandler,
  inspectorAssets,
  pageNotBuilt,
  type StorageReporter,
} from '../inspector/index.js';
import { type AnyStore, QuireError, type Store } from '../store/index.js';
import { ActivityMonitor } from './activity.js';
import { Authenticator, type AuthOptions } from './auth.js';
import {
  Dispatcher,
  type Handler,
  type MethodOptions,
  type RateLimit,
  RateLimiter,
  type RequestRecord,
} from './dispatcher.js';
import { HttpTransport } from './http.js';
import { registerInspectionMethods } from './inspection.js';
import { jsonLogger, type Logger, type LogLevel, logs } from './logging.js';
import { registerStoreMethods } from './methods.js';
import { ServerMetrics } from './metrics.js';
import { isLoopbackHost, OriginPolicy } from './origin.js';
import { StdioTransport } from './stdio.js';

export interface ServerOptions {
  /** The store to serve (typed or not). */
  readonly store: AnyStore;
  /** Stop the store when the server closes (default false: the store is only flushed). */
  readonly stopStoreOnClose?: boolean;
  /** Largest accepted message in bytes (a request, a batch, a stdio line, a WebSocket frame). Default 10 MB. */
  readonly maxRequestBytes?: number;
  /** A request not answered within this time gets a TIMEOUT error. Default 30 000 ms; 0 = none. */
  readonly requestTimeoutMs?: number;
  /** Open TCP connections (HTTP and WebSocket together). Default 1000. */
  readonly maxConnections?: number;
  /** Requests per interval per connection (HTTP: per client address). Default: unlimited. */
  readonly rateLimit?: RateLimit;
  /** Requests in one batch. Default 1000. */
  readonly maxBatch?: number;
  /** Time allowed to receive one HTTP request, headers and body. Default 30 000 ms. */
  readonly bodyTimeoutMs?: number;
  /** A WebSocket client whose unread outgoing data stays above this for `slowClientMs` is disconnected. Default 16 MB. */
  readonly maxBufferedBytes?: number;
  /** Grace period for a WebSocket client behind by more than maxBufferedBytes. Default 5000 ms. */
  readonly slowClientMs?: number;
  /** WebSocket ping interval; a peer that misses a ping is dropped. Default 30 000 ms; 0 = off. */
  readonly heartbeatMs?: number;
  /** Bearer-token auth with per-bucket permissions. Default: none. */
  readonly auth?: AuthOptions;
  /**
   * Browser origins (`http://localhost:3000`) allowed to call the server over
   * HTTP and WebSocket; listed origins get CORS headers. A request with any
   * other `Origin` is refused (403). Requests without `Origin` (programs,
   * not pages) are not affected. Default: none.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Allow `listen()` on a non-loopback address without `auth`. Default
   * false: such a listen() fails. When true, a warning is logged.
   */
  readonly insecure?: boolean;
  /**
   * Where the `backupTo` method writes: clients name a file, never a path.
   * Created when missing. Default: none (`backupTo` is refused).
   */
  readonly backupDir?: string;
  /**
   * Replaces the JSON log lines: called with every message and request
   * line at `logLevel` and above (all of them when `logLevel` is not given).
   */
  readonly log?: Logger;
  /**
   * The least important lines logged: `error`, `warn`, `info` (one line per
   * request) or `debug` (also connections). Default `warn` (the CLI: `info`).
   */
  readonly logLevel?: LogLevel;
  /** Where the JSON log lines go. Default: stderr (never stdout). */
  readonly logStream?: { write(line: string): unknown };
  /** Serve `GET /metrics` (Prometheus text format) on the HTTP transport. Default true. */
  readonly metrics?: boolean;
  /**
   * Refuse every write: the built-in write methods, and `authorize('write', …)`
   * of application methods, fail with READ_ONLY. Default false.
   */
  readonly readOnly?: boolean;
  /** Serve the inspector page at `GET /` of the HTTP transport (docs/inspector.md). Default false. */
  readonly inspector?: boolean;
  /** Storage sizes shown by the inspector (see `sqliteStorageReport`). */
  readonly storageReport?: StorageReporter;
}

export interface ListenOptions {
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default 127.0.0.1. Bind to 0.0.0.0 or :: only on purpose. */
  readonly host?: string;
  /** Also accept WebSocket upgrades on /rpc and /ws. Default true. */
  readonly websocket?: boolean;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port/rpc` */
  readonly url: string;
  /** `ws://host:port/rpc` */
  readonly wsUrl: string;
}

export interface StdioServeOptions {
  /** Default process.stdin. */
  readonly input?: Readable;
  /** Default process.stdout. */
  readonly output?: Writable;
  /** Close the server when the input ends. Default true. */
  readonly closeOnEnd?: boolean;
}

export class QuireServer {
  readonly store: Store;
  readonly #o: ServerOptions;
  readonly #d: Dispatcher;
  readonly #auth: Authenticator | undefined;
  readonly #log: Logger;
  readonly #origins: OriginPolicy;
  readonly #http: HttpTransport[] = [];
  readonly #stdio: StdioTransport[] = [];
  readonly #started = Date.now();
  readonly #activity: ActivityMonitor;
  readonly #assets: AssetHandler | undefined;
  readonly #metrics: ServerMetrics | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: ServerOptions) {
    if (options === null || typeof options !== 'object' || options.store === undefined)
      throw new TypeError('QuireServer: options.store is required');
    this.store = options.store;
    this.#o = options;
    if (options.logLevel !== undefined && !LOG_LEVEL_NAMES.has(options.logLevel))
      throw new TypeError(
        `QuireServer: logLevel must be "error", "warn", "info" or "debug", got ${JSON.stringify(options.logLevel)}`,
      );
    const min: LogLevel = options.logLevel ?? (options.log !== undefined ? 'debug' : 'warn');
    const sink = options.log ?? jsonLogger(min, options.logStream);
    this.#log = (level, message, fields) => {
      if (logs(min, level)) sink(level, message, fields);
    };
    const requestLines = logs(min, 'info');
    this.#metrics =
      options.metrics === false
        ? undefined
        : new ServerMetrics({
            store: this.store,
            connections: () => {
              let tcp = 0;
              let ws = 0;
              for (const h of this.#http) {
                tcp += h.connections;
                ws += h.webSockets;
              }
              return { http: tcp - ws, ws, stdio: this.#stdio.filter((t) => !t.session.closed).length };
            },
            subscriptions: () =>
              this.#http.reduce((n, h) => n + h.subscriptions, 0) +
              this.#stdio.reduce((n, t) => n + t.session.subscriptionCount, 0),
          });
    const metrics = this.#metrics;
    this.#auth = options.auth !== undefined ? new Authenticator(options.auth) : undefined;
    this.#origins = new OriginPolicy(options.allowedOrigins ?? []);
    this.#d = new Dispatcher({
      maxRequestBytes: options.maxRequestBytes ?? 10 * 1024 * 1024,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxBatch: options.maxBatch ?? 1000,
      authRequired: this.#auth !== undefined,
      readOnly: options.readOnly === true,
      onInternalError: (method, e) =>
        this.#log('error', `internal error in "${method}": ${(e as Error)?.stack ?? String(e)}`),
      onRequest:
        metrics === undefined && !requestLines
          ? undefined
          : (r) => {
              metrics?.request(r);
              if (requestLines) this.#log('info', 'request', requestFields(r));
            },
    });
    registerStoreMethods(this.#d, this.store, {
      authenticator: this.#auth,
      backupDir: options.backupDir !== undefined ? resolve(options.backupDir) : undefined,
    });
    this.#activity = new ActivityMonitor(this.store);
    registerInspectionMethods(this.#d, this.store, {
      readOnly: options.readOnly === true,
      auth: this.#auth !== undefined,
      storageReport: options.storageReport,
      activity: this.#activity,
    });
    // A checkout that was never built answers GET / with a 503 saying so.
    if (options.inspector === true) this.#assets = inspectorAssets() ?? pageNotBuilt;
  }

  /**
   * Add an application method. The handler gets the params (an object, or
   * undefined) and a context with the session, the identity, `authorize()`
   * and `actor()`. Throw a Quire error or an RpcError to fail the request.
   */
  register(name: string, handler: Handler, options?: MethodOptions): this {
    this.#d.register(name, handler, options);
    return this;
  }

  get methods(): string[] {
    return this.#d.methodNames;
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.#d.inFlight;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  #limiter(): RateLimiter | undefined {
    return this.#o.rateLimit === undefined ? undefined : new RateLimiter(this.#o.rateLimit);
  }

  /** Serve HTTP (`POST /rpc`, `GET /health`) and WebSocket on one port. */
  async listen(options: ListenOptions = {}): Promise<ListenAddress> {
    if (this.#closing !== undefined) throw new Error('The server is closed');
    const host = options.host ?? '127.0.0.1';
    if (!isLoopbackHost(host) && this.#auth === undefined) {
      if (this.#o.insecure !== true) throw new InsecureBindError(host);
      this.#log(
        'warn',
        `listening on ${host} without auth (insecure): anyone who can reach this address can read and write the store`,
      );
    }
    const http = new HttpTransport(this.#d, {
      host,
      port: options.port ?? 0,
      websocket: options.websocket ?? true,
      maxRequestBytes: this.#o.maxRequestBytes ?? 10 * 1024 * 1024,
      maxConnections: this.#o.maxConnections ?? 1000,
      rateLimit: this.#o.rateLimit,
      bodyTimeoutMs: this.#o.bodyTimeoutMs ?? 30_000,
      maxBufferedBytes: this.#o.maxBufferedBytes ?? 16 * 1024 * 1024,
      slowClientMs: this.#o.slowClientMs ?? 5000,
      heartbeatMs: this.#o.heartbeatMs ?? 30_000,
      authenticator: this.#auth,
      origins: this.#origins,
      assets: this.#assets,
      log: this.#log,
      ...(this.#metrics !== undefined
        ? {
            metrics: async () => ({
              contentType: this.#metrics!.contentType,
              text: await this.#metrics!.text(),
            }),
          }
        : {}),
      health: () => ({
        ...storageHealth(this.store),
        store: this.store.name,
        uptimeMs: Date.now() - this.#started,
        connections: this.#http.reduce((n, h) => n + h.connections, 0),
        inFlight: this.#d.inFlight,
      }),
    });
    const bound = await http.listen();
    this.#http.push(http);
    // The page charts writes per second over the last minutes: sample from the start.
    if (this.#assets !== undefined) this.#activity.start();
    const h = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
    return {
      host: bound.host,
      port: bound.port,
      url: `http://${h}:${bound.port}/rpc`,
      wsUrl: `ws://${h}:${bound.port}/rpc`,
    };
  }

  /**
   * Serve newline-delimited JSON-RPC on stdin/stdout. While it runs, the
   * console's log/info/debug go to stderr so that stdout carries nothing but
   * protocol.
   */
  serveStdio(options: StdioServeOptions = {}): void {
    if (this.#closing !== undefined) throw new Error('The server is closed');
    const output = options.output ?? process.stdout;
    if (output === process.stdout) {
      const toStderr = (...args: unknown[]) => console.error(...args);
      console.log = toStderr;
      console.info = toStderr;
      console.debug = toStderr;
    }
    const t = new StdioTransport(this.#d, {
      input: options.input ?? process.stdin,
      output,
      maxRequestBytes: this.#o.maxRequestBytes ?? 10 * 1024 * 1024,
      limiter: this.#limiter(),
      onEnd: () => {
        if (options.closeOnEnd ?? true) void this.close();
      },
    });
    this.#stdio.push(t);
  }

  /**
   * Stop accepting, answer the requests already received, close the
   * connections, flush the store (stop it with `stopStoreOnClose`).
   * Idempotent; the same promise every time.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#d.beginShutdown();
    this.#activity.stop();
    this.#metrics?.close();
    for (const h of this.#http) h.stopAccepting();
    for (const s of this.#stdio) s.stop();
    await this.#d.drain();
    for (const s of this.#stdio) s.session.close();
    await Promise.all(this.#http.map((h) => h.closeAll()));
    if (this.#o.stopStoreOnClose === true) await this.store.stop();
    else {
      await this.store.flush();
      // Acknowledged writes that never reached storage make the shutdown a failure (exit code 1).
      const lost = this.store.storageStatus()?.lostWrites ?? 0;
      if (lost > 0)
        throw new Error(
          `${lost} acknowledged change(s) could not be stored: ${this.store.storageStatus()?.lastError ?? ''}`,
        );
    }
  }

  /**
   * On SIGTERM/SIGINT: close() and exit the process with 0 (1 when closing
   * failed or took longer than `graceMs`, default 2500 ms, so that the
   * process is gone within 3 s). Returns a function removing the handlers.
   */
  handleSignals(options: { graceMs?: number; onExit?: (code: number) => void } = {}): () => void {
    const grace = options.graceMs ?? 2500;
    const exit = options.onExit ?? ((code: number) => process.exit(code));
    let done = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (done) return;
      done = true;
      this.#log('info', `${signal}: shutting down`);
      const timer = setTimeout(() => {
        this.#log('error', `shutdown took longer than ${grace} ms; exiting anyway`);
        exit(1);
      }, grace);
      timer.unref();
      this.close().then(
        () => {
          clearTimeout(timer);
          exit(0);
        },
        (e) => {
          clearTimeout(timer);
          this.#log('error', `shutdown failed: ${(e as Error)?.message ?? String(e)}`);
          exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }
}

/** listen() on a non-loopback address without auth and without `insecure`. */
export class InsecureBindError extends QuireError {
  override readonly code = 'INSECURE_BIND';
  readonly host: string;
  constructor(host: string) {
    super(
      `Refusing to listen on ${host} without auth: anyone who can reach it could read and write the store. Configure auth, bind 127.0.0.1, or pass insecure: true (CLI: --insecure).`,
    );
    this.host = host;
  }
}

const LOG_LEVEL_NAMES = new Set<string>(['error', 'warn', 'info', 'debug']);

/** A request's log line: names, outcome and time; never params values, results or tokens. */
function requestFields(r: RequestRecord): Record<string, unknown> {
  return {
    method: r.method,
    ...(r.bucket !== undefined ? { bucket: r.bucket } : {}),
    outcome: r.outcome,
    durationMs: Math.round(r.durationMs * 1000) / 1000,
    transport: r.session.transport,
    connection: r.session.id,
    identity: r.session.identity?.name ?? null,
    ...(r.notification ? { notification: true } : {}),
  };
}

/** `/health`'s storage part: ok, or degraded with the last storage error. */
function storageHealth(store: Store): Record<string, unknown> {
  const s = store.storageStatus();
  if (s === undefined) return { status: 'ok', storage: { state: 'none' } };
  return { status: s.state, storage: s };
}

/** Serve `store` (see ServerOptions); call `listen()` and/or `serveStdio()` on the result. */
export function createServer(options: ServerOptions): QuireServer {
  return new QuireServer(options);
}
