// The request/response side of the HTTP clients: one POST per call (or per
// batch), no notifications, so no subscriptions. How the POST is made is the
// transport's (node:http in Node, fetch in the browser).
import type { RpcResponse } from '../server/index.js';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import {
  type BatchCall,
  type BatchResult,
  ConnectionError,
  type DefaultMethods,
  type MethodMap,
  QuireClient,
  RpcError,
  toBatchResults,
} from './client.js';

/**
 * An absolute `url` as it is; a relative one resolved against the page's address (in a browser).
 * Throws TypeError on a malformed URL, and on a relative one where there is no page (Node).
 */
export function pageUrl(url: string): string {
  try {
    new URL(url);
    return url;
  } catch (e) {
    const base = (globalThis as { location?: { href?: unknown } }).location?.href;
    if (typeof base !== 'string') throw e;
    return new URL(url, base).href;
  }
}

export interface HttpClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Default 30 000 ms; 0 = never. */
  readonly callTimeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export abstract class PostingClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends QuireClient<S, A> {
  readonly url: string;
  protected readonly options: HttpClientOptions;

  constructor(url: string, options: HttpClientOptions = {}) {
    super();
    // Throws on a malformed URL now rather than at the first call. In a page, a relative URL
    // ('/rpc') is the page's own server, as fetch reads it; Node has no base to resolve against.
    this.url = pageUrl(url);
    this.options = options;
  }

  /** The request headers: JSON, the caller's own, the bearer token. */
  protected headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.options.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    return headers;
  }

  /**
   * POST `body` to the URL and resolve with the parsed JSON answer
   * (undefined for 204). Rejects with ConnectionError or CallTimeoutError;
   * `what` names the call in messages.
   */
  protected abstract post(body: string, what: string): Promise<unknown>;

  async request(method: string, params: unknown): Promise<unknown> {
    const id = ++this.nextId;
    const msg =
      params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
    const r = (await this.post(JSON.stringify(msg), method)) as RpcResponse | undefined;
    if (r === undefined || r === null || typeof r !== 'object')
      throw new ConnectionError(`${method}: empty response`);
    if ('error' in r) throw new RpcError(r.error);
    return r.result;
  }

  async notify(method: string, params?: unknown): Promise<void> {
    const msg = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
    await this.post(JSON.stringify(msg), method);
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
    const r = await this.post(JSON.stringify(msgs), 'batch');
    if (ids.length === 0) return [];
    if (!Array.isArray(r)) {
      if (r !== null && typeof r === 'object' && 'error' in r)
        throw new RpcError((r as { error: never }).error);
      throw new ConnectionError('batch: the response is not a batch');
    }
    return toBatchResults(r as RpcResponse[], ids);
  }
}

/** The answer of a POST as JSON; a body that is not JSON is a ConnectionError naming the status. */
export function parseAnswer(status: number, text: string, what: string): unknown {
  if (status === 204) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ConnectionError(
      `${what}: HTTP ${status} with a body that is not JSON-RPC: ${text.slice(0, 200)}`,
    );
  }
}
