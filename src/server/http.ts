// HTTP (`POST /rpc`, `GET /health`) and WebSocket (upgrade on `/rpc` or
// `/ws`) on one node:http server. Connection limit, body size limit, slow
// request bodies (requestTimeout) and slow WebSocket readers (buffered bytes)
// are enforced here; everything about the protocol is the dispatcher's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Authenticator, bearerToken, type Identity } from './auth.js';
import {
  type Dispatcher,
  notification,
  type RateLimit,
  RateLimiter,
  Session,
  tooLarge,
} from './dispatcher.js';
import type { Logger } from './logging.js';
import { isJsonContentType, type OriginPolicy } from './origin.js';
import { FORBIDDEN, INVALID_REQUEST, UNAUTHORIZED } from './protocol.js';

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  readonly websocket: boolean;
  readonly maxRequestBytes: number;
  readonly maxConnections: number;
  /** Per WebSocket connection; per client address for HTTP. */
  readonly rateLimit: RateLimit | undefined;
  /** Time allowed to receive a whole HTTP request (headers and body). */
  readonly bodyTimeoutMs: number;
  /** A WebSocket client with more unread outgoing data than this for `slowClientMs` is disconnected. */
  readonly maxBufferedBytes: number;
  readonly slowClientMs: number;
  /** Interval of WebSocket pings; a peer that misses one is dropped. 0 = off. */
  readonly heartbeatMs: number;
  readonly authenticator: Authenticator | undefined;
  /** Which browser origins may call (HTTP and WebSocket). */
  readonly origins: OriginPolicy;
  /** Static files (the inspector page) served on GET before the RPC paths. */
  readonly assets?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  readonly health: () => Record<string, unknown>;
  /** `GET /metrics` (Prometheus text); the same auth as the RPC endpoint guards it. */
  readonly metrics?: () => Promise<{ contentType: string; text: string }>;
  readonly log: Logger;
}

const RPC_PATHS = new Set(['/rpc', '/ws', '/']);

export class HttpTransport {
  readonly #d: Dispatcher;
  readonly #o: HttpOptions;
  readonly #server: Server;
  readonly #wss: WebSocketServer | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #busy = new Set<Socket>();
  readonly #limiters = new Map<string, RateLimiter>();
  readonly #sessions = new Map<WebSocket, Session>();
  readonly #wsSockets = new Set<Socket>();
  /** WebSocket → answered the last ping. */
  readonly #alive = new Map<WebSocket, boolean>();
  #heartbeat: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(dispatcher: Dispatcher, options: HttpOptions) {
    this.#d = dispatcher;
    this.#o = options;
    this.#server = createServer(
      {
        requestTimeout: options.bodyTimeoutMs,
        headersTimeout: Math.min(options.bodyTimeoutMs, 60_000),
        // How often Node looks for requests past their timeout.
        connectionsCheckingInterval: Math.max(50, Math.min(options.bodyTimeoutMs / 4, 30_000)),
      },
      (req, res) => this.#request(req, res),
    );
    this.#server.on('connection', (socket: Socket) => {
      if (this.#sockets.size >= this.#o.maxConnections || this.#closing) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        socket.destroySoon?.();
        return;
      }
      this.#sockets.add(socket);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        this.#busy.delete(socket);
      });
    });
    this.#server.on('clientError', (err, socket) => {
      if (socket.writable) {
        const status = (err as { code?: string }).code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        socket.end(
          `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      }
      socket.destroy();
    });
    if (options.websocket) {
      this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxRequestBytes });
      this.#server.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket as Socket, head));
      if (options.heartbeatMs > 0) {
        this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs);
        this.#heartbeat.unref();
      }
    }
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off('error', reject);
        const a = this.#server.address();
        if (a === null || typeof a === 'string') reject(new Error('no TCP address'));
        else resolve({ host: a.address, port: a.port });
      });
    });
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Open WebSocket connections (the rest of `connections` are HTTP). */
  get webSockets(): number {
    return this.#sessions.size;
  }

  /** Subscriptions held by the WebSocket clients. */
  get subscriptions(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.subscriptionCount;
    return n;
  }

  /** Stop accepting connections; requests already received still complete. */
  stopAccepting(): void {
    this.#closing = true;
    this.#server.close();
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    // Idle keep-alive sockets go now; busy ones after their response.
    for (const s of this.#sockets) if (!this.#busy.has(s) && !this.#isWebSocket(s)) s.destroy();
  }

  /** Close every remaining connection (after in-flight requests are answered). */
  async closeAll(): Promise<void> {
    for (const [ws, session] of this.#sessions) {
      session.close();
      ws.close(1001, 'server shutting down');
    }
    const done = new Promise<void>((resolve) => {
      if (this.#sockets.size === 0) resolve();
      else {
        const check = setInterval(() => {
          if (this.#sockets.size === 0) {
            clearInterval(check);
            resolve();
          }
        }, 10);
        setTimeout(() => {
          clearInterval(check);
          for (const s of this.#sockets) s.destroy();
          resolve();
        }, 500).unref();
      }
    });
    this.#server.closeAllConnections();
    await done;
  }

  #isWebSocket(s: Socket): boolean {
    return this.#wsSockets.has(s);
  }

  #limiter(remote: string | undefined): RateLimiter | undefined {
    if (this.#o.rateLimit === undefined) return undefined;
    const k = remote ?? '?';
    let l = this.#limiters.get(k);
    if (l === undefined) {
      if (this.#limiters.size > 10_000) this.#limiters.clear();
      this.#limiters.set(k, (l = new RateLimiter(this.#o.rateLimit)));
    }
    return l;
  }

  async #identify(
    req: IncomingMessage,
    url: URL | undefined,
  ): Promise<{ identity: Identity | undefined; bad: boolean }> {
    const a = this.#o.authenticator;
    if (a === undefined) return { identity: undefined, bad: false };
    const token = bearerToken(req.headers.authorization) ?? url?.searchParams.get('token') ?? undefined;
    if (token === undefined) return { identity: undefined, bad: false };
    const identity = await a.identify(token);
    return { identity, bad: identity === undefined };
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.#busy.add(socket);
    res.on('finish', () => {
      this.#busy.delete(socket);
      if (this.#closing) socket.destroySoon?.();
    });
    // A JSON-RPC POST to a plain RPC path (the hot case) needs no URL object: it has no query string.
    const rawUrl = req.url ?? '/';
    const plainRpc = req.method === 'POST' && RPC_PATHS.has(rawUrl);
    const url = plainRpc ? undefined : new URL(rawUrl, 'http://localhost');
    const origin = req.headers.origin;
    if (!this.#o.origins.acceptsHost(req.headers.host, this.#o.host)) {
      send(
        res,
        403,
        rpcFailure(FORBIDDEN, `Forbidden: host ${req.headers.host} is not allowed`, 'HOST_NOT_ALLOWED'),
      );
      req.resume();
      return;
    }
    const verdict = this.#o.origins.judge(origin, req.headers.host);
    if (verdict === 'denied') {
      // Not even a preflight gets an answer a page could use.
      send(
        res,
        403,
        rpcFailure(FORBIDDEN, `Forbidden: origin ${origin} is not allowed`, 'ORIGIN_NOT_ALLOWED'),
      );
      req.resume();
      return;
    }
    if (verdict === 'listed') {
      res.setHeader('Access-Control-Allow-Origin', origin!);
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      if (verdict === 'listed') {
        res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      res.setHeader('Allow', 'POST, GET, OPTIONS');
      res.writeHead(204).end();
      req.resume();
      return;
    }
    if (url !== undefined && !this.#otherThanRpc(req, res, url)) return;
    // A page may POST text/plain or a form without a preflight; JSON needs one (or the same origin).
    const contentType = req.headers['content-type'];
    if (contentType !== 'application/json' && !isJsonContentType(contentType)) {
      send(
        res,
        415,
        rpcFailure(
          INVALID_REQUEST,
          `Invalid Request: POST /rpc needs "Content-Type: application/json" (got ${JSON.stringify(req.headers['content-type'] ?? null)})`,
          'UNSUPPORTED_MEDIA_TYPE',
        ),
      );
      req.resume();
      return;
    }
    const limit = this.#o.maxRequestBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      tooBig(socket, res, limit);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (c: Buffer) => {
      if (aborted) return;
      size += c.length;
      if (size > limit) {
        aborted = true;
        chunks.length = 0;
        tooBig(socket, res, limit);
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => {
      aborted = true;
    });
    req.on('end', () => {
      if (aborted) return;
      const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      if (this.#o.authenticator === undefined) this.#answer(req, res, body, undefined);
      else void this.#dispatch(req, res, url, body);
    });
  }

  /**
   * The requests that are not a POST to an RPC path: health, metrics,
   * static files, 404 and 405. Returns true when the request is an RPC
   * POST after all (a path spelled differently, a query string).
   */
  #otherThanRpc(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (req.method === 'GET' && url.pathname === '/health') {
      const health = this.#o.health();
      const status = this.#closing ? 'closing' : (health.status ?? 'ok');
      send(res, 200, JSON.stringify({ ...health, status }));
      return false;
    }
    if (req.method === 'GET' && url.pathname === '/metrics' && this.#o.metrics !== undefined) {
      void this.#metrics(req, res, url);
      return false;
    }
    if (this.#o.assets?.(req, res, url) === true) return false;
    if (!RPC_PATHS.has(url.pathname)) {
      send(
        res,
        404,
        JSON.stringify({ error: `Not found: ${url.pathname} (JSON-RPC is served at POST /rpc)` }),
      );
      return false;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      send(res, 405, JSON.stringify({ error: 'JSON-RPC requests are sent with POST' }));
      return false;
    }
    return true;
  }

  /**
   * With auth, metrics need a token that may read every bucket (they name
   * the buckets and count their records) or an admin token.
   */
  async #metrics(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let auth: { identity: Identity | undefined; bad: boolean };
    try {
      auth = await this.#identify(req, url);
    } catch {
      auth = { identity: undefined, bad: true };
    }
    if (this.#o.authenticator !== undefined) {
      if (auth.identity === undefined) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        this.#o.log('debug', 'metrics refused', { path: '/metrics', status: 401 });
        send(
          res,
          401,
          rpcFailure(
            UNAUTHORIZED,
            auth.bad ? 'Unauthorized: invalid token' : 'Unauthorized: a bearer token is required',
            'UNAUTHORIZED',
          ),
        );
        return;
      }
      if (!auth.identity.admin && !auth.identity.can('read', '*')) {
        send(
          res,
          403,
          rpcFailure(
            FORBIDDEN,
            `Forbidden: "${auth.identity.name}" may not read metrics (needs read on every bucket, or admin)`,
            'FORBIDDEN',
          ),
        );
        return;
      }
    }
    try {
      const m = await this.#o.metrics!();
      if (res.headersSent) return;
      res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(m.text) });
      res.end(m.text);
    } catch (e) {
      this.#o.log('error', `metrics failed: ${(e as Error)?.message ?? String(e)}`);
      send(res, 500, JSON.stringify({ error: 'metrics could not be collected' }));
    }
  }

  /** With auth: identify the token, then answer. */
  async #dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL | undefined,
    body: string,
  ): Promise<void> {
    let auth: { identity: Identity | undefined; bad: boolean };
    try {
      auth = await this.#identify(req, url);
    } catch (e) {
      this.#o.log('error', `token verification failed: ${(e as Error).message}`);
      auth = { identity: undefined, bad: true };
    }
    if (this.#o.authenticator !== undefined && auth.identity === undefined) {
      this.#o.log('info', 'request', {
        method: null,
        transport: 'http',
        outcome: 'UNAUTHORIZED',
        status: 401,
      });
      res.setHeader('WWW-Authenticate', 'Bearer');
      send(
        res,
        401,
        JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: {
            code: UNAUTHORIZED,
            message: auth.bad ? 'Unauthorized: invalid token' : 'Unauthorized: a bearer token is required',
            data: { code: 'UNAUTHORIZED' },
          },
        }),
      );
      return;
    }
    this.#answer(req, res, body, auth.identity);
  }

  /** Runs the JSON-RPC message and sends its response (synchronously when the request completes so). */
  #answer(req: IncomingMessage, res: ServerResponse, body: string, identity: Identity | undefined): void {
    const limiter = this.#o.rateLimit === undefined ? undefined : this.#limiter(req.socket.remoteAddress);
    const session = new Session('http', undefined, limiter, identity);
    this.#d.handleEach(body, session, (out) => {
      session.close();
      if (out === undefined) {
        res.writeHead(204).end();
        return;
      }
      send(res, out.includes('"code":-32003') && !out.startsWith('[') ? 429 : 200, out);
    });
  }

  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const reject = (status: number, text: string) => {
      if (socket.writable)
        socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (this.#closing) return reject(503, 'Service Unavailable');
    if (!RPC_PATHS.has(url.pathname)) return reject(404, 'Not Found');
    // The WebSocket handshake has no preflight: the Origin check is the only guard against pages.
    if (
      !this.#o.origins.acceptsHost(req.headers.host, this.#o.host) ||
      this.#o.origins.judge(req.headers.origin, req.headers.host) === 'denied'
    )
      return reject(403, 'Forbidden');
    let auth: { identity: Identity | undefined; bad: boolean };
    try {
      auth = await this.#identify(req, url);
    } catch {
      auth = { identity: undefined, bad: true };
    }
    if (auth.bad) {
      this.#o.log('info', 'websocket refused', { transport: 'ws', outcome: 'UNAUTHORIZED', status: 401 });
      return reject(401, 'Unauthorized');
    }
    this.#wsSockets.add(socket);
    socket.on('close', () => this.#wsSockets.delete(socket));
    this.#wss!.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, auth.identity));
  }

  #connected(ws: WebSocket, identity: Identity | undefined): void {
    let congested: NodeJS.Timeout | undefined;
    const send = (text: string) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(text);
      // A burst may exceed the limit briefly; a client still behind after the grace period is dropped.
      if (ws.bufferedAmount > this.#o.maxBufferedBytes && congested === undefined) {
        congested = setTimeout(() => {
          congested = undefined;
          if (ws.readyState === ws.OPEN && ws.bufferedAmount > this.#o.maxBufferedBytes) {
            this.#o.log(
              'warn',
              `websocket client is not reading (${ws.bufferedAmount} bytes waiting); disconnecting it`,
            );
            ws.terminate();
          }
        }, this.#o.slowClientMs);
        congested.unref();
      }
    };
    const session = new Session(
      'ws',
      (method, params) => send(notification(method, params)),
      this.#o.rateLimit === undefined ? undefined : new RateLimiter(this.#o.rateLimit),
      identity,
    );
    this.#sessions.set(ws, session);
    this.#o.log('debug', 'websocket connected', {
      connection: session.id,
      identity: identity?.name ?? null,
    });
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));
    ws.on('message', (data, isBinary) => {
      const text = isBinary || typeof data !== 'string' ? Buffer.from(data as Buffer).toString('utf8') : data;
      this.#d.handle(text, session, send);
    });
    ws.on('close', (code) => {
      if (congested !== undefined) clearTimeout(congested);
      this.#o.log('debug', 'websocket closed', { connection: session.id, code });
      this.#sessions.delete(ws);
      this.#alive.delete(ws);
      session.close();
    });
    ws.on('error', (e) => {
      // Oversized frames and protocol violations end up here; ws closes the socket itself.
      this.#o.log('warn', `websocket: ${e.message}`);
    });
  }

  #ping(): void {
    for (const ws of this.#sessions.keys()) {
      if (this.#alive.get(ws) !== true) {
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        /* closing */
      }
    }
  }
}

/** 413: answer first, then close without reading the rest (the client must be able to read the 413). */
function tooBig(socket: Socket, res: ServerResponse, limit: number): void {
  lingerOnClose(socket);
  res.setHeader('Connection', 'close');
  send(res, 413, tooLarge(limit));
}

function rpcFailure(code: number, message: string, dataCode: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message, data: { code: dataCode } } });
}

/** How long a connection answered with 413 keeps draining what the client still sends. */
const LINGER_MS = 2000;

/**
 * Closing a socket while the peer is still sending makes the kernel answer
 * with a reset, which can destroy the response before the client reads it
 * (the client sees only EPIPE/ECONNRESET). So after the response: half-close
 * (FIN), drop whatever still arrives without parsing it, and destroy when
 * the client closes or after LINGER_MS.
 */
function lingerOnClose(socket: Socket): void {
  (socket as { destroySoon?: () => void }).destroySoon = () => {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.end();
    socket.removeAllListeners('data');
    socket.on('data', () => {});
    socket.resume();
    // node:http hands the socket's reads straight to its parser and stops them once the
    // response is done; start them again so the kernel never holds unread data at close.
    const handle = (socket as unknown as { _handle?: { reading?: boolean; readStart?: () => number } })
      ._handle;
    if (handle !== undefined && handle.reading === false && typeof handle.readStart === 'function') {
      handle.reading = true;
      handle.readStart();
    }
  };
}

function send(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
