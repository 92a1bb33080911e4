// The browser client and the React hooks in real Chromium: a small page
// (page.ts) bundled by esbuild the way a web app's bundler does it ("browser"
// condition), served from its own origin, against a real QuireServer on an
// SQLite file with bearer-token auth. The page shows a live count that moves
// when a Node client writes, a useRecord view that follows one record, adds
// a record over fetch, and comes back after the server restarts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
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

/** A store and server on the test's SQLite file, listening on `port` (0: any) once `seed` has run. */
async function startServer(
  port: number,
  seed?: (store: Store) => Promise<unknown>,
): Promise<{ store: Store; server: QuireServer; url: string; port: number }> {
  const store = await Store.start({
    name: 'app',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(join(dir, 'app.db')), durability: 'strict' },
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
