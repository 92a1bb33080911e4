// Client over HTTP (node:http, keep-alive): one POST per call (or per batch).
// No notifications, so no subscriptions; use the WebSocket or stdio client for those.
import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RpcResponse } from '../server/index.js';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import {
  type BatchCall,
  type BatchResult,
  CallTimeoutError,
  ConnectionError,
  type DefaultMethods,
  type MethodMap,
  QuireClient,
  RpcError,
  toBatchResults,
} from './client.js';

export interface HttpClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Default 30 000 ms; 0 = never. */
  readonly callTimeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export class HttpClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends QuireClient<S, A> {
  readonly url: string;
  readonly #o: HttpClientOptions;
  /** Keep-alive connections: one TCP connection serves many calls. */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  constructor(url: string, options: HttpClientOptions = {}) {
    super();
    new URL(url); // throws on a malformed URL now rather than at the first call
    this.url = url;
    this.#o = options;
  }

  #post(body: string, what: string): Promise<unknown> {
    const url = new URL(this.url);
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...this.#o.headers,
    };
    if (this.#o.token !== undefined) headers.authorization = `Bearer ${this.#o.token}`;
    const ms = this.#o.callTimeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        fn();
      };
      const req = (secure ? httpsRequest : httpRequest)(
        {
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers,
          agent: secure ? this.#httpsAgent : this.#agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => finish(() => reject(new ConnectionError(`${what}: ${e.message}`))));
          res.on('end', () =>
            finish(() => {
              if (res.statusCode === 204) return resolve(undefined);
              const text = Buffer.concat(chunks).toString('utf8');
              try {
                resolve(JSON.parse(text));
              } catch {
                reject(
                  new ConnectionError(
                    `${what}: HTTP ${res.statusCode} with a body that is not JSON-RPC: ${text.slice(0, 200)}`,
                  ),
                );
              }
            }),
          );
        },
      );
      const timer =
        ms > 0
          ? setTimeout(() => {
              finish(() => reject(new CallTimeoutError(what, ms)));
              req.destroy();
            }, ms)
          : undefined;
      req.on('error', (e) => finish(() => reject(new ConnectionError(`${what}: ${e.message}`))));
      req.end(body);
    });
  }

  async request(method: string, params: unknown): Promise<unknown> {
    const id = ++this.nextId;
    const msg =
      params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
    const r = (await this.#post(JSON.stringify(msg), method)) as RpcResponse | undefined;
    if (r === undefined || r === null || typeof r !== 'object')
      throw new ConnectionError(`${method}: empty response`);
    if ('error' in r) throw new RpcError(r.error);
    return r.result;
  }

  async notify(method: string, params?: unknown): Promise<void> {
    const msg = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
    await this.#post(JSON.stringify(msg), method);
  }

  async batch(calls: readonly BatchCall[]): Promise<BatchResult[]> {
    if (calls.length === 0) return [];
    const ids: number[] = [];
    const msgs = calls.map((c) => {
      const m: Record<string, unknown> = { jsonrpc: '2.0', method: c.method };
      if (c.params !== undefined) m.params = c.params;
      if (c.notify !== true) ids.push((m.id = ++this.nextId) as number);
      return m;
    });
    const r = await this.#post(JSON.stringify(msgs), 'batch');
    if (ids.length === 0) return [];
    if (!Array.isArray(r)) {
      if (r !== null && typeof r === 'object' && 'error' in r)
        throw new RpcError((r as { error: never }).error);
      throw new ConnectionError('batch: the response is not a batch');
    }
    return toBatchResults(r as RpcResponse[], ids);
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    this.#agent.destroy();
    this.#httpsAgent.destroy();
  }
}

/** A client for a server's `POST /rpc` endpoint (e.g. `http://127.0.0.1:7070/rpc`). */
/** A client over HTTP; `connectHttp<QuireSchema>(url)` types buckets, records and filters. */
export function connectHttp<S extends SchemaTypes = UntypedSchema, A extends MethodMap = DefaultMethods<S>>(
  url: string,
  options?: HttpClientOptions,
): HttpClient<S, A> {
  return new HttpClient<S, A>(url, options);
}
