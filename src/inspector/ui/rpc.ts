// Talking to the Quire server that serves this page: JSON-RPC over HTTP
// POST for requests, one WebSocket for live events. Only Quire's public
// methods are used, so the page works against any Quire server.

export interface ErrorData {
  readonly code: string;
  readonly issues?: ReadonlyArray<{
    readonly field: string;
    readonly message: string;
    readonly code: string;
  }>;
  readonly [k: string]: unknown;
}

export class RpcError extends Error {
  readonly code: number;
  readonly data: ErrorData | undefined;
  constructor(code: number, message: string, data?: ErrorData) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
  get kind(): string {
    return this.data?.code ?? 'ERROR';
  }
}

const TOKEN_KEY = 'quire-inspector-token';

export function savedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function saveToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

let token: string | undefined = savedToken();
let nextId = 0;

export function setToken(t: string | undefined): void {
  token = t;
  saveToken(t);
}

export function currentToken(): string | undefined {
  return token;
}

const RPC_URL = new URL('rpc', location.href).href;

/** One JSON-RPC call over HTTP; rejects with RpcError. */
export async function call<T = any>(method: string, params?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(RPC_URL, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params }),
    });
  } catch (e) {
    throw new RpcError(-1, `The server cannot be reached (${(e as Error).message})`, { code: 'NETWORK' });
  }
  const text = await res.text();
  let msg: any;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new RpcError(-1, `HTTP ${res.status}: ${text.slice(0, 200) || res.statusText}`, { code: 'HTTP' });
  }
  if (msg?.error !== undefined) throw new RpcError(msg.error.code, msg.error.message, msg.error.data);
  return msg.result as T;
}

export type LiveStatus = 'connecting' | 'live' | 'offline';
type EventHandler = (event: any, topic: string) => void;

interface Wanted {
  readonly pattern: string;
  readonly handler: EventHandler;
  subscription?: string;
}

/** The live connection: bucket events over a WebSocket, re-subscribed after reconnects. */
export class Live {
  #ws: WebSocket | undefined;
  #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  #wanted = new Set<Wanted>();
  #bySub = new Map<string, Wanted>();
  #statusListeners = new Set<(s: LiveStatus) => void>();
  #status: LiveStatus = 'connecting';
  #retry = 500;
  #closed = false;

  constructor() {
    this.#connect();
  }

  get status(): LiveStatus {
    return this.#status;
  }

  onStatus(fn: (s: LiveStatus) => void): () => void {
    this.#statusListeners.add(fn);
    return () => this.#statusListeners.delete(fn);
  }

  #setStatus(s: LiveStatus): void {
    this.#status = s;
    for (const fn of this.#statusListeners) fn(s);
  }

  #connect(): void {
    if (this.#closed) return;
    const url = new URL('rpc', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url.href);
    this.#ws = ws;
    this.#setStatus('connecting');
    ws.onopen = async () => {
      try {
        if (token !== undefined) await this.#request('authenticate', { token });
        for (const w of this.#wanted) await this.#subscribe(w);
        this.#retry = 500;
        this.#setStatus('live');
      } catch {
        ws.close();
      }
    };
    ws.onmessage = (m) => {
      let msg: any;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.id !== undefined && msg.id !== null) {
        const p = this.#pending.get(msg.id);
        if (p === undefined) return;
        this.#pending.delete(msg.id);
        if (msg.error !== undefined)
          p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
        else p.resolve(msg.result);
      } else if (msg.method === 'event') {
        this.#bySub.get(msg.params?.subscription)?.handler(msg.params.event, msg.params.topic);
      }
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new RpcError(-1, 'connection closed'));
      this.#pending.clear();
      this.#bySub.clear();
      for (const w of this.#wanted) w.subscription = undefined;
      if (this.#closed) return;
      this.#setStatus('offline');
      setTimeout(() => this.#connect(), this.#retry);
      this.#retry = Math.min(this.#retry * 2, 5000);
    };
  }

  #request(method: string, params: unknown): Promise<any> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN)
      return Promise.reject(new RpcError(-1, 'not connected'));
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  async #subscribe(w: Wanted): Promise<void> {
    const r = await this.#request('subscribeEvents', { pattern: w.pattern });
    if (!this.#wanted.has(w)) {
      void this.#request('unsubscribe', { subscription: r.subscription }).catch(() => {});
      return;
    }
    w.subscription = r.subscription;
    this.#bySub.set(r.subscription, w);
  }

  /** Bucket events matching `pattern` (`bucket.<name>.<op>`, `*` = any); returns the unsubscribe. */
  subscribe(pattern: string, handler: EventHandler): () => void {
    const w: Wanted = { pattern, handler };
    this.#wanted.add(w);
    if (this.#status === 'live') void this.#subscribe(w).catch(() => {});
    return () => {
      this.#wanted.delete(w);
      if (w.subscription !== undefined) {
        this.#bySub.delete(w.subscription);
        void this.#request('unsubscribe', { subscription: w.subscription }).catch(() => {});
      }
    };
  }

  close(): void {
    this.#closed = true;
    this.#ws?.close();
  }
}
