// The WebSocket client in Node (the `ws` package): the token goes in the
// upgrade request's Authorization header. Reconnecting, waiting calls and
// restored subscriptions are ReconnectingClient's (shared with the browser).
import WebSocket from 'ws';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import { ConnectionError, type DefaultMethods, type MethodMap } from './client.js';
import {
  type MessageSocket,
  ReconnectingClient,
  type SocketEvents,
  type WebSocketClientOptions,
} from './reconnecting.js';

export type { ReconnectOptions, WebSocketClientOptions } from './reconnecting.js';

function nodeSocket(url: string, options: WebSocketClientOptions, events: SocketEvents): MessageSocket {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const ws = new WebSocket(url, { headers, handshakeTimeout: options.connectTimeoutMs ?? 10_000 });
  ws.on('open', () => events.opened());
  ws.on('message', (data) => events.message(data.toString()));
  ws.on('unexpected-response', (_req, res) => {
    const err = new ConnectionError(`WebSocket handshake refused: HTTP ${res.statusCode}`);
    (err as { status?: number }).status = res.statusCode;
    ws.terminate();
    events.failed(err);
  });
  ws.on('error', (e) =>
    events.failed(new ConnectionError(`WebSocket connection to ${url} failed: ${e.message}`)),
  );
  ws.on('close', (code, reason) =>
    events.closed(`closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`),
  );
  return {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) =>
      new Promise<void>((resolve, reject) =>
        ws.send(text, (e) => (e ? reject(new ConnectionError(`send failed: ${e.message}`)) : resolve())),
      ),
    close: () => {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000);
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000).unref();
      });
    },
    terminate: () => ws.terminate(),
  };
}

export class WebSocketClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends ReconnectingClient<S, A> {
  private constructor(url: string, options: WebSocketClientOptions) {
    super(url, options, (u, events) => nodeSocket(u, options, events));
  }

  /** Connect; rejects if the first connection fails. */
  static async connect(url: string, options: WebSocketClientOptions = {}): Promise<WebSocketClient> {
    const c = new WebSocketClient(url, options);
    await c.connectOnce();
    return c;
  }
}

/** A client over a WebSocket (reconnecting), e.g. `ws://127.0.0.1:7070/rpc`; `connectWebSocket<QuireSchema>(url)` types it. */
export function connectWebSocket<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
>(url: string, options?: WebSocketClientOptions): Promise<WebSocketClient<S, A>> {
  return WebSocketClient.connect(url, options) as Promise<WebSocketClient<any, any>>;
}
