// Client over HTTP: one POST per call (or per batch). No notifications, so
// no subscriptions; use the WebSocket or stdio client for those.
import type { RpcResponse } from '../server/protocol.js';
import {
  type BatchCall,
  type BatchResult,
  CallTimeoutError,
  ConnectionError,
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

export class HttpClient extends QuireClient {
  readonly url: string;
  readonly #o: HttpClientOptions;

  constructor(url: string, options: HttpClientOptions = {}) {
    super();
    this.url = url;
    this.#o = options;
  }

  async #post(body: string, what: string): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.#o.headers };
    if (this.#o.token !== undefined) headers.authorization = `Bearer ${this.#o.token}`;
    const ms = this.#o.callTimeoutMs ?? 30_000;
    const signal = ms > 0 ? AbortSignal.timeout(ms) : undefined;
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body, signal });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') throw new CallTimeoutError(what, ms);
      throw new ConnectionError(
        `${what}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`,
      );
    }
    if (res.status === 204) return undefined;
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new ConnectionError(
        `${what}: HTTP ${res.status} with a body that is not JSON-RPC: ${text.slice(0, 200)}`,
      );
    }
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

  async close(): Promise<void> {}
}

/** A client for a server's `POST /rpc` endpoint (e.g. `http://127.0.0.1:7070/rpc`). */
export function connectHttp(url: string, options?: HttpClientOptions): HttpClient {
  return new HttpClient(url, options);
}
