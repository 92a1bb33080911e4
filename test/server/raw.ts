// Raw protocol access for the tests: send text exactly as given and read
// what comes back, over HTTP, a WebSocket or a child process's stdio.
import { type ChildProcess, spawn } from 'node:child_process';
import WebSocket from 'ws';
import { watchOutput } from '../child-output.js';
import { STDIO_SERVER, TSX } from './fixture.js';

export interface RawChannel {
  /** Send `text`; resolves with the next message parsed (undefined when none is due: see `expectNone`). */
  send(text: string | Buffer): Promise<any>;
  /** Send a notification and prove no response came (a following ping is answered first). */
  expectNone(text: string): Promise<void>;
  close(): Promise<void>;
}

/** Message-stream channel: responses arrive in order for sequential sends. */
class Queue {
  readonly #items: string[] = [];
  readonly #waiters: Array<(s: string) => void> = [];
  push(s: string): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w(s);
    else this.#items.push(s);
  }
  next(): Promise<string> {
    const it = this.#items.shift();
    if (it !== undefined) return Promise.resolve(it);
    return new Promise((r) => this.#waiters.push(r));
  }
}

export function httpChannel(
  url: string,
  headers: Record<string, string> = {},
): RawChannel & {
  post(text: string | Buffer): Promise<{ status: number; body: any }>;
} {
  const post = async (text: string | Buffer) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: text,
    });
    const t = await res.text();
    return { status: res.status, body: t === '' ? undefined : JSON.parse(t) };
  };
  return {
    post,
    async send(text) {
      return (await post(text)).body;
    },
    async expectNone(text) {
      const r = await post(text);
      if (r.status !== 204 || r.body !== undefined)
        throw new Error(`expected 204 without body, got ${r.status}`);
    },
    async close() {},
  };
}

export async function wsChannel(
  url: string,
  headers: Record<string, string> = {},
): Promise<RawChannel & { ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, { headers });
  const q = new Queue();
  ws.on('message', (d) => q.push(d.toString()));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    closed,
    async send(text) {
      ws.send(text);
      return JSON.parse(await q.next());
    },
    async expectNone(text) {
      ws.send(text);
      ws.send('{"jsonrpc":"2.0","method":"ping","id":"probe"}');
      const m = JSON.parse(await q.next());
      if (m.id !== 'probe') throw new Error(`expected no response, got ${JSON.stringify(m)}`);
    },
    async close() {
      ws.close();
      await closed;
    },
  };
}

export async function stdioChannel(serverOptions?: object): Promise<
  RawChannel & {
    child: ChildProcess;
    stderr: () => string;
    exited: Promise<number | null>;
    next: () => Promise<any>;
  }
> {
  const args = [...TSX, STDIO_SERVER];
  if (serverOptions !== undefined) args.push(JSON.stringify(serverOptions));
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const q = new Queue();
  const out = watchOutput(child);
  out.onLine('stdout', (line) => q.push(line));
  const ch = {
    child,
    exited: out.exited,
    stderr: () => out.text('stderr'),
    /** The next line from stdout, parsed. */
    next: async () => JSON.parse(await q.next()),
    async send(text: string | Buffer) {
      child.stdin!.write(text);
      if (!(typeof text === 'string' ? text.endsWith('\n') : text.at(-1) === 10)) child.stdin!.write('\n');
      const line = await q.next();
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`stdout carried a line that is not JSON: ${line}`);
      }
    },
    async expectNone(text: string) {
      child.stdin!.write(`${text}\n{"jsonrpc":"2.0","method":"ping","id":"probe"}\n`);
      const m = JSON.parse(await q.next());
      if (m.id !== 'probe') throw new Error(`expected no response, got ${JSON.stringify(m)}`);
    },
    async close() {
      child.stdin!.end();
      await out.exited;
    },
  };
  await ch.send('{"jsonrpc":"2.0","method":"ping","id":0}');
  return ch;
}

/**
 * A WebSocket client made by hand on a raw TCP socket: sends one text frame
 * and then never reads again (a client that stopped reading).
 */
export async function stalledWebSocket(
  port: number,
  firstMessage: string,
): Promise<{ closed: Promise<void>; destroy: () => void }> {
  const { connect } = await import('node:net');
  const { randomBytes } = await import('node:crypto');
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => {
    sock.once('connect', () => res());
    sock.once('error', rej);
  });
  sock.write(
    `GET /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((res) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        sock.off('data', onData);
        res();
      }
    };
    sock.on('data', onData);
  });
  const payload = Buffer.from(firstMessage);
  if (payload.length > 125) throw new Error('first message too long for this minimal framer');
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  sock.write(frame);
  sock.pause();
  const closed = new Promise<void>((res) => sock.on('close', () => res()));
  // Paused sockets do not see the FIN; an error or close still arrives.
  sock.on('error', () => {});
  return { closed, destroy: () => sock.destroy() };
}
