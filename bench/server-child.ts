// A server of the server benchmark, in a process of its own:
//   server-child.ts quire FILE      Quire: a strict-durability SQLite store (FILE) served over
//                                   HTTP + WebSocket on one port (as `quire serve --http` does,
//                                   request log lines included)
//   server-child.ts stdio FILE      the same store served on stdin/stdout
//   server-child.ts bare-http       bare node:http answering a JSON-RPC `get` with the same JSON
//   server-child.ts bare-ws         bare `ws` server answering a JSON-RPC `get` with the same JSON
// Network servers print {"url": ...} as their first stdout line once listening.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { SQLiteAdapter, Store } from '../src/index.js';
import { QuireServer } from '../src/server/index.js';
import { ITEMS, SEED, seedRecord } from './server-items.js';

const mode = process.argv[2];

/** The seed records as a store holds them (with metadata), for the bare servers' answers. */
function seedMap(): Map<string, Record<string, unknown>> {
  const now = Date.now();
  const m = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < SEED; i++) {
    const r = seedRecord(i);
    m.set(r.id, { ...r, _version: 1, _createdAt: now, _updatedAt: now });
  }
  return m;
}

/** The JSON-RPC answer to a `get` request text, as the bare servers give it. */
function answer(records: Map<string, Record<string, unknown>>, text: string): string {
  const req = JSON.parse(text) as { id: unknown; params: { key: string } };
  return JSON.stringify({ jsonrpc: '2.0', id: req.id, result: records.get(req.params.key) ?? null });
}

if (mode === 'quire' || mode === 'stdio') {
  const store = await Store.start({
    name: 'bench',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(process.argv[3]!), durability: 'strict' },
  });
  await store.defineBucket('items', ITEMS);
  // As `quire serve` runs: one JSON log line per request on stderr (HTTP: the bench sends
  // this child's stderr to a file beside the store); stdio, whose client shows stderr, logs warnings only.
  const server = new QuireServer({
    store,
    stopStoreOnClose: true,
    logLevel: mode === 'quire' ? 'info' : 'warn',
  });
  if (mode === 'stdio') server.serveStdio();
  else {
    const address = await server.listen({ port: 0 });
    process.stdout.write(`${JSON.stringify({ url: address.url, wsUrl: address.wsUrl })}\n`);
    process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
  }
} else if (mode === 'bare-http') {
  const records = seedMap();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = answer(records, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/rpc` })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (mode === 'bare-ws') {
  const records = seedMap();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
    const port = (wss.address() as { port: number }).port;
    process.stdout.write(`${JSON.stringify({ wsUrl: `ws://127.0.0.1:${port}/rpc` })}\n`);
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => ws.send(answer(records, String(data))));
  });
  process.on('SIGTERM', () => wss.close(() => process.exit(0)));
} else {
  process.stderr.write(`unknown mode ${String(mode)}\n`);
  process.exit(2);
}
