// Client over HTTP in the browser: one `fetch` POST per call (or per batch).
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import { CallTimeoutError, ConnectionError, type DefaultMethods, type MethodMap } from './client.js';
import { type HttpClientOptions, PostingClient, parseAnswer } from './posting.js';

export type { HttpClientOptions } from './posting.js';

export class HttpClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends PostingClient<S, A> {
  readonly #calls = new Set<AbortController>();

  protected async post(body: string, what: string): Promise<unknown> {
    const ms = this.options.callTimeoutMs ?? 30_000;
    const abort = new AbortController();
    this.#calls.add(abort);
    let timedOut = false;
    const timer =
      ms > 0
        ? setTimeout(() => {
            timedOut = true;
            abort.abort();
          }, ms)
        : undefined;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: this.headers(),
        body,
        signal: abort.signal,
      });
      return parseAnswer(res.status, await res.text(), what);
    } catch (e) {
      if (timedOut) throw new CallTimeoutError(what, ms);
      if (e instanceof ConnectionError) throw e;
      throw new ConnectionError(`${what}: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.#calls.delete(abort);
    }
  }

  /** Abandons the calls still waiting (they reject with ConnectionError). */
  async close(): Promise<void> {
    for (const a of this.#calls) a.abort();
    this.#calls.clear();
  }
}

/** A client for a server's `POST /rpc` endpoint; `connectHttp<QuireSchema>(url)` types buckets, records and filters. */
export function connectHttp<S extends SchemaTypes = UntypedSchema, A extends MethodMap = DefaultMethods<S>>(
  url: string,
  options?: HttpClientOptions,
): HttpClient<S, A> {
  return new HttpClient<S, A>(url, options);
}
