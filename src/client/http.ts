// Client over HTTP in Node (node:http, keep-alive): one POST per call (or per
// batch). No notifications, so no subscriptions; use the WebSocket or stdio
// client for those.
import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import { CallTimeoutError, ConnectionError, type DefaultMethods, type MethodMap } from './client.js';
import { type HttpClientOptions, PostingClient, parseAnswer } from './posting.js';

export type { HttpClientOptions } from './posting.js';

export class HttpClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends PostingClient<S, A> {
  /** Keep-alive connections: one TCP connection serves many calls. */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  protected post(body: string, what: string): Promise<unknown> {
    const url = new URL(this.url);
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = {
      ...this.headers(),
      'content-length': Buffer.byteLength(body),
    };
    const ms = this.options.callTimeoutMs ?? 30_000;
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
              try {
                resolve(parseAnswer(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), what));
              } catch (e) {
                reject(e);
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

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    this.#agent.destroy();
    this.#httpsAgent.destroy();
  }
}

/** A client for a server's `POST /rpc` endpoint (e.g. `http://127.0.0.1:7070/rpc`); `connectHttp<QuireSchema>(url)` types buckets, records and filters. */
export function connectHttp<S extends SchemaTypes = UntypedSchema, A extends MethodMap = DefaultMethods<S>>(
  url: string,
  options?: HttpClientOptions,
): HttpClient<S, A> {
  return new HttpClient<S, A>(url, options);
}
