// A client over a message socket (a WebSocket) that reconnects: calls made
// while the connection is down wait for it (up to their timeout); calls that
// were in flight when it dropped fail with ConnectionError (outcome
// unknown); query and event subscriptions are made again after reconnecting,
// and a query whose result changed meanwhile calls its callback with the new
// result. Events that happened while disconnected are not replayed.
//
// The socket itself is the transport's (`ws` in Node, the browser's
// WebSocket): everything here runs in both.
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
  /**
   * The bearer token. Node sends it as an `Authorization` header when
   * connecting; a browser (which cannot set headers on a WebSocket) sends it
   * with the `authenticate` method before anything else, on every connection.
   */
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

/** What a transport tells the client about its socket. */
export interface SocketEvents {
  /** The socket is open (messages may be sent). */
  opened(): void;
  message(text: string): void;
  /** The connection attempt failed before the socket opened. */
  failed(error: ConnectionError): void;
  /** The socket closed (after opening, or after `failed`). */
  closed(why: string): void;
}

/** One connection attempt's socket, as the transport implements it. */
export interface MessageSocket {
  readonly isOpen: boolean;
  send(text: string): void | Promise<void>;
  /** Close normally; resolves once closed (or after a short grace period). */
  close(): Promise<void>;
  /** Drop the connection at once. */
  terminate(): void;
}

export type SocketOpener = (url: string, events: SocketEvents) => MessageSocket;

export abstract class ReconnectingClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends StreamClient<S, A> {
  readonly url: string;
  protected readonly options: WebSocketClientOptions;
  readonly #openSocket: SocketOpener;
  #socket: MessageSocket | undefined;
  #open = false;
  #closed = false;
  #waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #attempts = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;

  protected constructor(url: string, options: WebSocketClientOptions, openSocket: SocketOpener) {
    super(options);
    this.url = url;
    this.options = options;
    this.#openSocket = openSocket;
  }

  get connected(): boolean {
    return this.#open;
  }

  /**
   * Runs on every new connection before calls flow (a browser's
   * `authenticate`); `request` writes straight to the new socket.
   */
  protected handshake(_request: (method: string, params: unknown) => Promise<unknown>): Promise<void> {
    return Promise.resolve();
  }

  /** Open a connection; resolves once it is ready for calls, rejects if it fails. */
  protected connectOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = false;
      const socket = this.#openSocket(this.url, {
        opened: () => {
          const direct = (method: string, params: unknown) =>
            this.requestVia(method, params, (text, onWrite) => {
              onWrite();
              return socket.send(text);
            });
          this.handshake(direct).then(
            () => {
              if (this.#socket !== socket || !socket.isOpen) return;
              ready = true;
              this.#open = true;
              this.#attempts = 0;
              for (const w of this.#waiting.splice(0)) w.resolve();
              resolve();
            },
            (e: unknown) => {
              reject(e instanceof Error ? e : new ConnectionError(String(e)));
              socket.terminate();
            },
          );
        },
        message: (text) => {
          if (this.#socket === socket) this.receive(text);
        },
        failed: (error) => {
          if (!ready) reject(error);
        },
        closed: (why) => {
          if (this.#socket !== socket) return;
          this.#open = false;
          if (!ready) {
            // A failed attempt: calls waiting for the connection keep waiting.
            reject(new ConnectionError(`WebSocket connection to ${this.url} ${why}`));
            return;
          }
          this.failPending(
            new ConnectionError(`WebSocket ${why}; the outcome of calls in flight is unknown`),
          );
          this.options.onDisconnect?.(why);
          this.#scheduleReconnect();
        },
      });
      this.#socket = socket;
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.options.reconnect === false) {
      this.#giveUp('the connection is closed');
      return;
    }
    const r = typeof this.options.reconnect === 'object' ? this.options.reconnect : {};
    if (r.maxAttempts !== undefined && this.#attempts >= r.maxAttempts) {
      this.#giveUp(`reconnecting failed ${this.#attempts} times`);
      return;
    }
    const delay = Math.min((r.initialDelayMs ?? 100) * 2 ** this.#attempts, r.maxDelayMs ?? 5000);
    this.#attempts++;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.connectOnce().then(
        async () => {
          await this.resubscribe();
          this.options.onReconnect?.();
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
    if (!this.#open || this.#socket?.isOpen !== true) {
      if (this.options.reconnect === false) throw new ConnectionError('the WebSocket is not connected');
      await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    }
    const socket = this.#socket!;
    onWrite?.();
    await socket.send(text);
  }

  /** Simulate a dropped connection (tests, network changes): the client reconnects. */
  dropConnection(): void {
    this.#socket?.terminate();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#giveUp('the client is closed');
    await this.#socket?.close();
  }
}
