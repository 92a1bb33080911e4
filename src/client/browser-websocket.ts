// The WebSocket client in the browser (the global WebSocket). A page cannot
// set headers on a WebSocket, so the token goes with the `authenticate`
// method on every new connection, before any other call.
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import { ConnectionError, type DefaultMethods, type MethodMap } from './client.js';
import { pageUrl } from './posting.js';
import {
  type MessageSocket,
  ReconnectingClient,
  type SocketEvents,
  type WebSocketClientOptions,
} from './reconnecting.js';

export type { ReconnectOptions, WebSocketClientOptions } from './reconnecting.js';

/** Close code of a connection the client drops on purpose (dropConnection, a failed handshake). */
const DROPPED = 4000;

function browserSocket(url: string, options: WebSocketClientOptions, events: SocketEvents): MessageSocket {
  const ws = new WebSocket(url);
  let settled = false;
  const timeout = setTimeout(() => {
    if (settled) return;
    settled = true;
    events.failed(new ConnectionError(`WebSocket connection to ${url} timed out`));
    ws.close();
  }, options.connectTimeoutMs ?? 10_000);
  ws.addEventListener('open', () => {
    if (settled) return;
    settled = true;
    clearTimeout(timeout);
    events.opened();
  });
  ws.addEventListener('message', (e: MessageEvent) => {
    if (typeof e.data === 'string') events.message(e.data);
    else if (e.data instanceof Blob) void e.data.text().then((t) => events.message(t));
  });
  // The browser tells a page nothing about why (no status, no message): by design.
  ws.addEventListener('error', () => {
    if (settled) return;
    settled = true;
    clearTimeout(timeout);
    events.failed(new ConnectionError(`WebSocket connection to ${url} failed`));
  });
  let closed: () => void = () => {};
  const whenClosed = new Promise<void>((r) => {
    closed = r;
  });
  ws.addEventListener('close', (e: { readonly code: number; readonly reason: string }) => {
    clearTimeout(timeout);
    closed();
    events.closed(`closed (${e.code}${e.reason !== '' ? ` ${e.reason}` : ''})`);
  });
  return {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) => {
      if (ws.readyState !== WebSocket.OPEN)
        throw new ConnectionError('send failed: the WebSocket is not open');
      ws.send(text);
    },
    close: () => {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      ws.close(1000);
      return Promise.race([whenClosed, new Promise<void>((r) => setTimeout(r, 1000))]);
    },
    terminate: () => ws.close(DROPPED, 'dropped by the client'),
  };
}

/**
 * The WebSocket address of `url`: relative to the page ('/ws' is the page's own server), and
 * http(s) as ws(s), so a page can use the one address it gives its HTTP client.
 */
function socketUrl(url: string): string {
  const absolute = pageUrl(url);
  return /^https?:/i.test(absolute) ? absolute.replace(/^http/i, 'ws') : absolute;
}

export class WebSocketClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends ReconnectingClient<S, A> {
  private constructor(url: string, options: WebSocketClientOptions) {
    super(socketUrl(url), options, (u, events) => browserSocket(u, options, events));
  }

  /** Connect; rejects if the first connection (or its authentication) fails. */
  static async connect(url: string, options: WebSocketClientOptions = {}): Promise<WebSocketClient> {
    const c = new WebSocketClient(url, options);
    await c.connectOnce();
    return c;
  }

  protected override async handshake(
    request: (method: string, params: unknown) => Promise<unknown>,
  ): Promise<void> {
    if (this.options.token !== undefined) await request('authenticate', { token: this.options.token });
  }
}

/** A client over the browser's WebSocket (reconnecting); `connectWebSocket<QuireSchema>(url)` types it. */
export function connectWebSocket<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
>(url: string, options?: WebSocketClientOptions): Promise<WebSocketClient<S, A>> {
  return WebSocketClient.connect(url, options) as Promise<WebSocketClient<any, any>>;
}
