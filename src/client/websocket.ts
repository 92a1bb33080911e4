// Client over WebSocket, with automatic reconnect: calls made while the
// connection is down wait for it (up to their timeout); calls that were in
// flight when it dropped fail with ConnectionError (outcome unknown); query
// and event subscriptions are made again after reconnecting, and a query
// whose result changed meanwhile calls its callback with the new result.
// Events that happened while disconnected are not replayed.
import WebSocket from 'ws';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import {
  ConnectionError,
  type DefaultMethods,
  type MethodMap,
  StreamClient,
  type StreamClientOptions,
} from './client.js';

export interface ReconnectOptions {
  /** First retry delay. Default 100 ms (doubles up to maxDelayMs). */
  readonly initialDelayMs?: number;
  /** Default 5000 ms. */
  readonly maxDelayMs?: number;
  /** Give up after this many failed attempts in a row. Default: never. */
  readonly maxAttempts?: number;
}

export interface WebSocketClientOptions extends StreamClientOptions {
  /** Sent as `Authorization: Bearer <token>` when connecting. */
  readonly token?: string;
  /** Reconnect after an unexpected close. Default true. */
  readonly reconnect?: boolean | ReconnectOptions;
  /** Called when the connection drops (before reconnecting). */
  readonly onDisconnect?: (reason: string) => void;
  /** Called after a successful reconnect, once subscriptions are restored. */
  readonly onReconnect?: () => void;
  /** Give up on the initial connection after this long. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
}

export class WebSocketClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends StreamClient<S, A> {
  readonly url: string;
  readonly #o: WebSocketClientOptions;
  #ws: WebSocket | undefined;
  #open = false;
  #closed = false;
  #waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #attempts = 0;
  #retry: NodeJS.Timeout | undefined;

  private constructor(url: string, options: WebSocketClientOptions) {
    super(options);
    this.url = url;
    this.#o = options;
  }

  /** Connect; rejects if the first connection fails. */
  static async connect(url: string, options: WebSocketClientOptions = {}): Promise<WebSocketClient> {
    const c = new WebSocketClient(url, options);
    await c.#connect();
    return c;
  }

  get connected(): boolean {
    return this.#open;
  }

  #connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (this.#o.token !== undefined) headers.authorization = `Bearer ${this.#o.token}`;
      const ws = new WebSocket(this.url, { headers, handshakeTimeout: this.#o.connectTimeoutMs ?? 10_000 });
      this.#ws = ws;
      let opened = false;
      ws.on('open', () => {
        opened = true;
        this.#open = true;
        this.#attempts = 0;
        for (const w of this.#waiting.splice(0)) w.resolve();
        resolve();
      });
      ws.on('message', (data) => this.receive(data.toString()));
      ws.on('unexpected-response', (_req, res) => {
        const err = new ConnectionError(`WebSocket handshake refused: HTTP ${res.statusCode}`);
        (err as { status?: number }).status = res.statusCode;
        ws.terminate();
        if (!opened) reject(err);
      });
      ws.on('error', (e) => {
        if (!opened) reject(new ConnectionError(`WebSocket connection to ${this.url} failed: ${e.message}`));
      });
      ws.on('close', (code, reason) => {
        if (this.#ws !== ws) return;
        this.#open = false;
        if (!opened) return; // a failed attempt: calls waiting for the connection keep waiting
        const why = `closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`;
        this.failPending(new ConnectionError(`WebSocket ${why}; the outcome of calls in flight is unknown`));
        this.#o.onDisconnect?.(why);
        this.#scheduleReconnect();
      });
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#o.reconnect === false) {
      this.#giveUp('the connection is closed');
      return;
    }
    const r = typeof this.#o.reconnect === 'object' ? this.#o.reconnect : {};
    if (r.maxAttempts !== undefined && this.#attempts >= r.maxAttempts) {
      this.#giveUp(`reconnecting failed ${this.#attempts} times`);
      return;
    }
    const delay = Math.min((r.initialDelayMs ?? 100) * 2 ** this.#attempts, r.maxDelayMs ?? 5000);
    this.#attempts++;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.#connect().then(
        async () => {
          await this.resubscribe();
          this.#o.onReconnect?.();
        },
        () => this.#scheduleReconnect(),
      );
    }, delay);
  }

  #giveUp(why: string): void {
    for (const w of this.#waiting.splice(0)) w.reject(new ConnectionError(`WebSocket: ${why}`));
  }

  protected async send(text: string, onWrite?: () => void): Promise<void> {
    if (this.#closed) throw new ConnectionError('the client is closed');
    if (!this.#open || this.#ws?.readyState !== WebSocket.OPEN) {
      if (this.#o.reconnect === false) throw new ConnectionError('the WebSocket is not connected');
      await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    }
    const ws = this.#ws!;
    onWrite?.();
    await new Promise<void>((resolve, reject) =>
      ws.send(text, (e) => (e ? reject(new ConnectionError(`send failed: ${e.message}`)) : resolve())),
    );
  }

  /** Simulate a dropped connection (tests, network changes): the client reconnects. */
  dropConnection(): void {
    this.#ws?.terminate();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#giveUp('the client is closed');
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000).unref();
    });
  }
}

/** Connect to a server's WebSocket endpoint (e.g. `ws://127.0.0.1:7070/rpc`). */
/** A client over a WebSocket (reconnecting); `connectWebSocket<QuireSchema>(url)` types it. */
export function connectWebSocket<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
>(url: string, options?: WebSocketClientOptions): Promise<WebSocketClient<S, A>> {
  return WebSocketClient.connect(url, options) as Promise<WebSocketClient<any, any>>;
}
