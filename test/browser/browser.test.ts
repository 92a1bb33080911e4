// The browser client and the React hooks in real Chromium: a small page
// (page.ts) bundled by esbuild the way a web app's bundler does it ("browser"
// condition), served from its own origin, against a real QuireServer on an
// SQLite file with bearer-token auth. The page shows a live count that moves
// when a Node client writes, a useRecord view that follows one record, adds
// a record over fetch, and comes back after the server restarts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp } from '../../src/client/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../inspector/fixture.js';

const PAGE = fileURLToPath(new URL('./page.ts', import.meta.url));
const PAGE_TOKEN = 'page-token-7d1c';
const WRITER_TOKEN = 'writer-token-2a9f';

let dir: string;
let bundle: string;
let metafile: Metafile;
let pageServer: Server;
let pageOrigin: string;
let browser: Browser;
/** The Quire server's port the page server passes /rpc to (POSTs and WebSocket upgrades), as a reverse proxy would. */
let proxyTo: number | undefined;

/** A store and server on the test's SQLite file, listening on `port` (0: any) once `seed` has run. */
async function startServer(
  port: number,
  seed?: (store: Store) => Promise<unknown>,
  file = 'app.db',
): Promise<{ store: Store; server: QuireServer; url: string; port: number }> {
  const store = await Store.start({
    name: 'app',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(join(dir, file)), durability: 'strict' },
  });
  await store.defineBucket('todos', {
    key: 'id',
    schema: { id: { type: 'string' }, title: { type: 'string', required: true } },
  });
  store.defineDeclarativeQuery('todoCount', { bucket: 'todos', aggregate: { function: 'count' } });
  const server = new QuireServer({
    store,
    stopStoreOnClose: true,
    allowedOrigins: [pageOrigin],
    log: () => {},
    auth: {
      tokens: {
        [PAGE_TOKEN]: { identity: 'page', write: ['todos'] },
        [WRITER_TOKEN]: { identity: 'writer', write: '*' },
      },
    },
  });
  await seed?.(store);
  const address = await server.listen({ port });
  return { store, server, url: address.url, port: address.port };
}

beforeAll(async () => {
  requireChromium();
  dir = mkdtempSync(join(tmpdir(), 'quire-browser-'));
  const result = await build({
    entryPoints: [PAGE],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    // The repository's own sources (the export map's development condition), picked for browsers.
    conditions: ['quiredb-source'],
    define: { 'process.env.NODE_ENV': '"production"' },
    metafile: true,
    logLevel: 'silent',
  });
  bundle = result.outputFiles[0]!.text;
  metafile = result.metafile;
  pageServer = createServer((req, res) => {
    if (proxyTo !== undefined && req.url?.startsWith('/rpc')) {
      const upstream = request(
        { host: '127.0.0.1', port: proxyTo, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
      return;
    }
    if (req.url?.startsWith('/page.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      return;
    }
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        '<!doctype html><meta charset="utf-8"><title>todos</title><p id="status">starting</p><div id="root"></div><script type="module" src="/page.js"></script>',
      );
  });
  pageServer.on('upgrade', (req, socket, head) => {
    if (proxyTo === undefined || !req.url?.startsWith('/rpc')) return socket.destroy();
    const upstream = connectTcp(proxyTo, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
  const a = pageServer.address() as { port: number };
  pageOrigin = `http://127.0.0.1:${a.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => pageServer?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const text = (page: Page, id: string) => page.locator(`#${id}`);

describe('quiredb/client and quiredb/react in Chromium', { timeout: 120_000 }, () => {
  it('the bundle is the browser client: no Node module in it', () => {
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.some((f) => f.endsWith('src/client/browser.ts'))).toBe(true);
    expect(inputs.some((f) => f.endsWith('src/react/index.ts'))).toBe(true);
    // Neither the Node transports nor `ws` were bundled …
    for (const nodeOnly of [
      'src/client/index.ts',
      'src/client/http.ts',
      'src/client/websocket.ts',
      'src/client/stdio.ts',
    ])
      expect(inputs.filter((f) => f.endsWith(nodeOnly))).toEqual([]);
    expect(inputs.filter((f) => f.includes('node_modules/ws/'))).toEqual([]);
    // … and nothing imports a Node built-in.
    const imports = Object.values(metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(bundle).not.toMatch(/["']node:/);
  });

  it('the published files: a bundler with the "browser" condition gets dist/client/browser.js and dist/react', async () => {
    const ROOT = fileURLToPath(new URL('../../', import.meta.url));
    const r = await build({
      stdin: {
        contents:
          "import { connectWebSocket } from 'quiredb/client'; import { useQuery } from 'quiredb/react'; export { connectWebSocket, useQuery };",
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      external: ['react'],
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs).toContain('dist/client/browser.js');
    expect(inputs).toContain('dist/react/index.js');
    expect(inputs.filter((f) => f.startsWith('src/') || f === 'dist/client/index.js')).toEqual([]);
    expect(r.outputFiles[0]!.text).not.toMatch(/["']node:/);
  });

  it('a live count and a live record follow a Node client’s writes, and survive a server restart', async () => {
    let running = await startServer(0);
    const port = running.port;
    const writer = connectHttp(running.url, { token: WRITER_TOKEN });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await writer.bucket('todos').insertMany([
        { id: 't1', title: 'buy milk' },
        { id: 't2', title: 'call Bob' },
      ]);
      await page.goto(`${pageOrigin}/?rpc=${encodeURIComponent(running.url)}&token=${PAGE_TOKEN}`);
      await expect.poll(() => text(page, 'status').textContent()).toBe('connected');
      await expect.poll(() => text(page, 'count').textContent()).toBe('2');
      await expect.poll(() => text(page, 'todo').textContent()).toBe('buy milk');

      // Another client writes: the page follows without reloading.
      await writer.bucket('todos').insert({ id: 't3', title: 'water plants' });
      await expect.poll(() => text(page, 'count').textContent()).toBe('3');
      await writer.bucket('todos').update('t1', { title: 'buy oat milk' });
      await expect.poll(() => text(page, 'todo').textContent()).toBe('buy oat milk');
      await writer.bucket('todos').delete('t1');
      await expect.poll(() => text(page, 'todo').textContent()).toBe('(none)');
      await expect.poll(() => text(page, 'count').textContent()).toBe('2');

      // The page writes over fetch (CORS, bearer token): the Node side sees it.
      await page.click('#add');
      await expect.poll(() => text(page, 'added').textContent()).toBe('1');
      expect((await writer.bucket('todos').get('from-page'))?.title).toBe('added by the page');
      await expect.poll(() => text(page, 'count').textContent()).toBe('3');

      // Restart the server on the same port; write while the page is disconnected.
      await writer.close();
      await running.server.close();
      await expect.poll(() => text(page, 'status').textContent()).toBe('disconnected');
      running = await startServer(port, (store) =>
        store.bucket('todos').insert({ id: 't1', title: 'back again' }),
      );
      const writer2 = connectHttp(running.url, { token: WRITER_TOKEN });
      await expect.poll(() => text(page, 'status').textContent(), { timeout: 15_000 }).toBe('reconnected');
      // Missed while away: the query result and the record are read again.
      await expect.poll(() => text(page, 'count').textContent()).toBe('4');
      await expect.poll(() => text(page, 'todo').textContent()).toBe('back again');
      // And live again after the reconnect.
      await writer2.bucket('todos').update('t1', { title: 'live again' });
      await expect.poll(() => text(page, 'todo').textContent()).toBe('live again');
      await writer2.bucket('todos').delete('t2');
      await expect.poll(() => text(page, 'count').textContent()).toBe('3');
      await writer2.close();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await running.server.close();
    }
  });

  it('relative URLs: a page served from the server’s own origin (here through a proxy) uses "/rpc" for both clients', async () => {
    const running = await startServer(0, undefined, 'relative.db');
    proxyTo = running.port;
    const writer = connectHttp(running.url, { token: WRITER_TOKEN });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    try {
      await writer.bucket('todos').insert({ id: 't1', title: 'relative' });
      await page.goto(`${pageOrigin}/?rpc=${encodeURIComponent('/rpc')}&token=${PAGE_TOKEN}`);
      await expect.poll(() => text(page, 'status').textContent()).toBe('connected');
      // The WebSocket went to the page's own origin, as ws://.
      expect(sockets).toEqual([`${pageOrigin.replace(/^http/, 'ws')}/rpc`]);
      await expect.poll(() => text(page, 'todo').textContent()).toBe('relative');
      await expect.poll(() => text(page, 'count').textContent()).toBe('1');
      await writer.bucket('todos').update('t1', { title: 'relative, live' });
      await expect.poll(() => text(page, 'todo').textContent()).toBe('relative, live');
      // The fetch client's POST went to the page's origin too, and reached the store.
      await page.click('#add');
      await expect.poll(() => text(page, 'added').textContent()).toBe('1');
      expect((await writer.bucket('todos').get('from-page'))?.title).toBe('added by the page');
      await expect.poll(() => text(page, 'count').textContent()).toBe('2');
      expect(errors).toEqual([]);
    } finally {
      proxyTo = undefined;
      await writer.close();
      await page.close();
      await running.server.close();
    }
  });

  it('a wrong token: the page learns it (the connection is refused), nothing is shown', async () => {
    const running = await startServer(0);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${pageOrigin}/?rpc=${encodeURIComponent(running.url)}&token=wrong`);
      await expect.poll(() => errors.length).toBeGreaterThan(0);
      expect(errors.join('\n')).toMatch(/Unauthorized: invalid token/);
      expect(await text(page, 'status').textContent()).toBe('starting');
    } finally {
      await page.close();
      await running.server.close();
    }
  });
});
