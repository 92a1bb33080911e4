// Requests/s and latency of get and strict-durability insert through the
// server (stdio child process, HTTP, WebSocket) beside the same operations
// on the store in-process. Every store here is SQLite-backed with
// durability 'strict': an insert's answer means it is committed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectHttp, connectWebSocket, type QuireClient, spawnStdio } from '../src/client/index.js';
import { SQLiteAdapter, Store } from '../src/index.js';
import { QuireServer } from '../src/server/index.js';
import { type BenchSection, latencies, table } from './harness.js';

export const ITEMS = {
  key: 'id',
  schema: { id: { type: 'string' }, n: { type: 'number' }, text: { type: 'string' } },
} as const;

const SEED = 1000;
const GETS = 3000;
const INSERTS = 1000;
const CONCURRENCY = 32;

interface Ops {
  get(key: string): Promise<unknown>;
  insert(record: Record<string, unknown>): Promise<unknown>;
}

async function measureOps(label: string, ops: Ops, prefix: string): Promise<Array<Array<string | number>>> {
  const rows: Array<Array<string | number>> = [];
  // Warm up (JIT, connections).
  for (let i = 0; i < 200; i++) await ops.get(`s${i % SEED}`);
  for (let i = 0; i < 100; i++) await ops.insert({ id: `${prefix}warm${i}`, n: i, text: 'warm' });

  let t0 = performance.now();
  const g = await latencies(GETS, (i) => ops.get(`s${(i * 7) % SEED}`));
  let seq = (GETS / (performance.now() - t0)) * 1000;
  t0 = performance.now();
  await inFlight(GETS, (i) => ops.get(`s${(i * 13) % SEED}`));
  let par = (GETS / (performance.now() - t0)) * 1000;
  rows.push([label, 'get', seq, g.p50, g.p99, par]);

  t0 = performance.now();
  const w = await latencies(INSERTS, (i) => ops.insert({ id: `${prefix}a${i}`, n: i, text: 'hello world' }));
  seq = (INSERTS / (performance.now() - t0)) * 1000;
  t0 = performance.now();
  await inFlight(INSERTS, (i) => ops.insert({ id: `${prefix}b${i}`, n: i, text: 'hello world' }));
  par = (INSERTS / (performance.now() - t0)) * 1000;
  rows.push([label, 'strict insert', seq, w.p50, w.p99, par]);
  return rows;
}

/** `count` operations with CONCURRENCY of them in flight at any time. */
async function inFlight(count: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

function remote(c: QuireClient): Ops {
  return {
    get: (key) => c.request('get', { bucket: 'items', key }),
    insert: (record) => c.request('insert', { bucket: 'items', record }),
  };
}

async function seeded(dir: string, file: string): Promise<Store> {
  const store = await Store.start({
    name: 'bench',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(join(dir, file)), durability: 'strict' },
  });
  const items = await store.defineBucket('items', ITEMS);
  await items.insertMany(Array.from({ length: SEED }, (_, i) => ({ id: `s${i}`, n: i, text: 'seed' })));
  return store;
}

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-server-'));
  const rows: Array<Array<string | number>> = [];
  try {
    // In-process.
    const local = await seeded(dir, 'local.db');
    const items = local.bucket('items');
    rows.push(
      ...(await measureOps('in-process', { get: (k) => items.get(k), insert: (r) => items.insert(r) }, 'l')),
    );
    await local.stop();

    // HTTP and WebSocket against one in-process server.
    const store = await seeded(dir, 'served.db');
    const server = new QuireServer({ store, log: () => {} });
    const address = await server.listen();
    const http = connectHttp(address.url);
    rows.push(...(await measureOps('HTTP', remote(http), 'h')));
    await http.close();
    const ws = await connectWebSocket(address.wsUrl);
    rows.push(...(await measureOps('WebSocket', remote(ws), 'w')));
    await ws.close();
    await server.close();
    await store.stop();

    // stdio: a child process with its own store.
    const seedStore = await seeded(dir, 'child.db');
    await seedStore.stop();
    const child = await spawnStdio(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./server-child.ts', import.meta.url)),
        join(dir, 'child.db'),
      ],
      { stderr: 'inherit' },
    );
    rows.push(...(await measureOps('stdio (child process)', remote(child), 's')));
    await child.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: 'Server: get and strict insert over stdio, HTTP and WebSocket vs in-process',
    markdown: [
      `One client, SQLite store with durability 'strict' (an insert is answered once committed). ` +
        `Sequential: one request at a time (${GETS} gets, ${INSERTS} inserts), latency per request in ms. ` +
        `${CONCURRENCY} in flight: the same count with ${CONCURRENCY} requests outstanding (strict inserts share commits).`,
      '',
      table(
        ['transport', 'operation', 'sequential req/s', 'p50 ms', 'p99 ms', `${CONCURRENCY} in flight req/s`],
        rows,
      ),
    ].join('\n'),
  };
}
