// The server side by side with bare servers (SPEC §5), each server in a
// process of its own (server-child.ts), this process the only client, 32
// requests in flight:
// - HTTP `get` with keep-alive: `quire serve`'s HTTP transport vs a bare
//   node:http server answering the same JSON-RPC request with the same JSON
//   (target ≥ 50%);
// - WebSocket `get`: Quire's WebSocket transport vs a bare `ws` server
//   answering the same JSON (target ≥ 50%);
// - strict inserts (committed and fsynced before the answer) over HTTP,
//   WebSocket and stdio, beside strict inserts in-process.
// Runs alternate between the servers compared (best of three each), so a
// burst of load from elsewhere hits both.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { spawnStdio } from '../src/client/index.js';
import { SQLiteAdapter, Store } from '../src/index.js';
import { type BenchSection, table } from './harness.js';
import { ITEMS, SEED, seedRecord } from './server-items.js';

export { ITEMS } from './server-items.js';

const CONCURRENCY = 32;
const GETS = Number(process.env.QUIRE_BENCH_SERVER_GETS ?? 20_000);
const INSERTS = Number(process.env.QUIRE_BENCH_SERVER_INSERTS ?? 5_000);
const ROUNDS = 3;
const CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));

type Call = (method: string, params: unknown) => Promise<unknown>;

/** `count` calls with CONCURRENCY in flight; calls/s. */
async function inFlight(count: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await op(next++);
    }),
  );
  return (count / (performance.now() - t0)) * 1000;
}

/** A server process; resolves with what it printed once listening. */
export async function startChild(
  mode: string,
  file?: string,
): Promise<{ child: ChildProcess; url?: string; wsUrl?: string }> {
  const prof = process.env.QUIRE_BENCH_SERVER_PROF; // a directory: the servers write CPU profiles there
  const flags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  // Quire logs a line per request, as `quire serve` does: to a file beside the store.
  const log = mode === 'quire' && file !== undefined ? `${file}.log` : undefined;
  const logFd = log !== undefined ? openSync(log, 'w') : undefined;
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', CHILD, mode, ...(file ? [file] : [])], {
    stdio: ['ignore', 'pipe', logFd ?? 'inherit'],
  });
  if (logFd !== undefined) closeSync(logFd);
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => {
      const tail = log !== undefined ? `: ${readFileSync(log, 'utf8').slice(-2000)}` : '';
      reject(new Error(`server child ${mode} exited with ${code}${tail}`));
    });
  });
  return { child, ...(JSON.parse(first) as { url?: string; wsUrl?: string }) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/**
 * JSON-RPC over HTTP/1.1 POST with keep-alive: CONCURRENCY connections, one
 * request at a time on each. A minimal client on raw sockets (node:http's
 * client costs more per request than the servers measured here, and would
 * cap both at its own rate).
 */
export async function httpCaller(url: string): Promise<{ call: Call; close(): void }> {
  const u = new URL(url);
  const idle: HttpConnection[] = [];
  const queue: Array<() => void> = [];
  const all: HttpConnection[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const c = await HttpConnection.open(u);
    all.push(c);
    idle.push(c);
  }
  let id = 0;
  const call: Call = async (method, params) => {
    let c = idle.pop();
    while (c === undefined) {
      await new Promise<void>((resolve) => queue.push(resolve));
      c = idle.pop();
    }
    const body = JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params });
    try {
      let text: string;
      try {
        text = await c.post(u.pathname, body);
      } catch {
        // The server closed the idle connection (keep-alive timeout): again on a new one.
        const fresh = await HttpConnection.open(u);
        all[all.indexOf(c)] = fresh;
        c = fresh;
        text = await c.post(u.pathname, body);
      }
      const reply = JSON.parse(text) as { result?: unknown; error?: { message: string } };
      if (reply.error !== undefined) throw new Error(reply.error.message);
      return reply.result;
    } finally {
      idle.push(c);
      queue.shift()?.();
    }
  };
  return {
    call,
    close: () => {
      for (const c of all) c.socket.destroy();
    },
  };
}

class HttpConnection {
  #buf: Buffer = Buffer.alloc(0);
  #waiting: { resolve(body: string): void; reject(e: Error): void } | undefined;
  #closed = false;
  #host: string;
  private constructor(
    readonly socket: Socket,
    host: string,
  ) {
    this.#host = host;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#parse();
    });
    const closed = () => {
      this.#closed = true;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(new Error('connection closed'));
    };
    socket.on('close', closed);
    socket.on('error', closed);
  }

  static open(u: URL): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => resolve(new HttpConnection(s, u.host)));
      s.once('error', reject);
    });
  }

  post(path: string, body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('connection closed'));
        return;
      }
      this.#waiting = { resolve, reject };
      this.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${this.#host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  #parse(): void {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const m = /content-length: *(\d+)/i.exec(head);
    if (m === null) throw new Error(`no Content-Length in answer: ${head}`);
    const total = end + 4 + Number(m[1]);
    if (this.#buf.length < total) return;
    const body = this.#buf.subarray(end + 4, total).toString('utf8');
    this.#buf = this.#buf.subarray(total);
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.resolve(body);
  }
}

/** JSON-RPC over one WebSocket, answers matched by id. */
export async function wsCaller(url: string): Promise<{ call: Call; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.on('message', (data) => {
    const reply = JSON.parse(String(data)) as { id: number; result?: unknown; error?: { message: string } };
    const w = waiting.get(reply.id);
    if (w === undefined) return;
    waiting.delete(reply.id);
    if (reply.error !== undefined) w.reject(new Error(reply.error.message));
    else w.resolve(reply.result);
  });
  let id = 0;
  const call: Call = (method, params) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      waiting.set(n, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: n, method, params }));
    });
  return { call, close: () => ws.close() };
}

/** Fresh keys for inserts. */
let uid = 0;
const insertOp = (call: Call, prefix: string) => (i: number) =>
  call('insert', { bucket: 'items', record: { id: `${prefix}${++uid}`, n: i, text: 'hello world' } });

const getOp = (call: Call) => (i: number) => call('get', { bucket: 'items', key: `s${(i * 13) % SEED}` });

/** Best of ROUNDS for each of several callers, alternating between them round by round. */
async function alternate(
  count: number,
  ops: ReadonlyArray<(i: number) => Promise<unknown>>,
): Promise<number[]> {
  const best = ops.map(() => 0);
  for (const op of ops) for (let i = 0; i < 500; i++) await op(i); // warm-up
  for (let r = 0; r < ROUNDS; r++)
    for (let k = 0; k < ops.length; k++) best[k] = Math.max(best[k]!, await inFlight(count, ops[k]!));
  return best;
}

export async function seededFile(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  const store = await Store.start({
    name: 'bench',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });
  const items = await store.defineBucket('items', ITEMS);
  await items.insertMany(Array.from({ length: SEED }, (_, i) => seedRecord(i)));
  await store.stop();
  return file;
}

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-server-'));
  const children: ChildProcess[] = [];
  const rows: Array<Array<string | number>> = [];
  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  try {
    const quire = await startChild('quire', await seededFile(dir, 'served.db'));
    const bareHttp = await startChild('bare-http');
    const bareWs = await startChild('bare-ws');
    children.push(quire.child, bareHttp.child, bareWs.child);

    const qh = await httpCaller(quire.url!);
    const bh = await httpCaller(bareHttp.url!);
    const [quireHttpGet, bareHttpGet] = await alternate(GETS, [getOp(qh.call), getOp(bh.call)]);
    rows.push([
      'HTTP get (keep-alive)',
      quireHttpGet!,
      `${Math.round(bareHttpGet!).toLocaleString('en-US')} bare node:http`,
      pct(quireHttpGet!, bareHttpGet!),
      `≥ 50% (${met(quireHttpGet! >= 0.5 * bareHttpGet!)})`,
    ]);

    const qw = await wsCaller(quire.wsUrl!);
    const bw = await wsCaller(bareWs.wsUrl!);
    const [quireWsGet, bareWsGet] = await alternate(GETS, [getOp(qw.call), getOp(bw.call)]);
    rows.push([
      'WebSocket get',
      quireWsGet!,
      `${Math.round(bareWsGet!).toLocaleString('en-US')} bare ws`,
      pct(quireWsGet!, bareWsGet!),
      `≥ 50% (${met(quireWsGet! >= 0.5 * bareWsGet!)})`,
    ]);

    // Strict inserts: in-process beside both transports of the Quire server process.
    const local = await Store.start({
      name: 'bench',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(join(dir, 'local.db')), durability: 'strict' },
    });
    const items = await local.defineBucket('items', ITEMS);
    const inserts = await alternate(INSERTS, [
      (i) => items.insert({ id: `l${++uid}`, n: i, text: 'hello world' }),
      insertOp(qh.call, 'h'),
      insertOp(qw.call, 'w'),
    ]);
    await local.stop();
    rows.push(['strict insert, in-process', inserts[0]!, '', '', '']);
    rows.push(['strict insert over HTTP', inserts[1]!, '', pct(inserts[1]!, inserts[0]!), 'of in-process']);
    rows.push([
      'strict insert over WebSocket',
      inserts[2]!,
      '',
      pct(inserts[2]!, inserts[0]!),
      'of in-process',
    ]);
    qh.close();
    bh.close();
    qw.close();
    bw.close();

    // stdio: the client spawns the server process.
    const stdio = await spawnStdio(
      process.execPath,
      ['--import', 'tsx', CHILD, 'stdio', await seededFile(dir, 'stdio.db')],
      { stderr: 'inherit' },
    );
    const sc: Call = (method, params) => stdio.request(method as 'get', params as never);
    const [stdioGet] = await alternate(GETS, [getOp(sc)]);
    const [stdioInsert] = await alternate(INSERTS, [insertOp(sc, 's')]);
    await stdio.close();
    rows.push(['stdio get (child process)', stdioGet!, '', '', '']);
    rows.push(['stdio strict insert', stdioInsert!, '', pct(stdioInsert!, inserts[0]!), 'of in-process']);
  } finally {
    for (const c of children) await stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: 'Server: Quire beside bare node:http and ws servers, 32 requests in flight',
    markdown: [
      `Each server runs in a process of its own; this process is the only client and keeps ${CONCURRENCY} requests in flight (HTTP: a minimal client on raw sockets, keep-alive, one connection per request in flight; WebSocket: the ws client, one connection). The bare servers answer the same JSON-RPC \`get\` with the same JSON from a Map. Quire's HTTP/WebSocket server writes one JSON log line per request (to a file), as \`quire serve\` does. Quire's store is SQLite with durability 'strict' (an insert is answered once committed and fsynced; concurrent inserts share commits). Best of ${ROUNDS} rounds of ${GETS.toLocaleString('en-US')} gets / ${INSERTS.toLocaleString('en-US')} inserts, alternating between the servers compared.`,
      '',
      table(['case', 'Quire req/s', 'baseline req/s', 'ratio', 'target'], rows),
    ].join('\n'),
  };
}
