// The inspector page in real Chromium (playwright-core), against a real
// server on a real SQLite store: buckets, filtering and paging through
// 100,000 records, editing with validation, history with diff and restore,
// live changes from another client, the store view, read-only mode (the
// `quire inspect` command) and token auth. Screenshots of each main view go
// to test-artifacts/inspector/.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, connectWebSocket, type HttpClient } from '../../src/client/index.js';
import { SQLiteAdapter, type Store } from '../../src/index.js';
import { QuireServer, sqliteStorageReport } from '../../src/server/index.js';
import { watchOutput } from '../child-output.js';
import {
  buildPage,
  CATEGORIES,
  CHROMIUM,
  CHROMIUM_ARGS,
  ITEMS,
  item,
  makeStore,
  ROOT,
  requireChromium,
} from './fixture.js';

const SHOTS = join(ROOT, 'test-artifacts/inspector');
const BIN = join(ROOT, 'bin/quire.js');

let dir: string;
let store: Store;
let server: QuireServer;
let base: string;
let client: HttpClient;
let browser: Browser;
let page: Page;

async function shot(p: Page, name: string): Promise<void> {
  await p.evaluate('window.scrollTo(0, 0)');
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** Waits until the page's WebSocket is subscribed and live. */
async function live(p: Page): Promise<void> {
  await p.locator('[data-live="live"]').waitFor({ timeout: 15_000 });
}

async function open(p: Page, hash: string): Promise<void> {
  await p.evaluate(`location.hash = ${JSON.stringify(hash)}`);
}

beforeAll(async () => {
  requireChromium();
  buildPage();
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'quire-inspector-'));
  const adapter = new SQLiteAdapter(join(dir, 'shop.db'));
  store = await makeStore(adapter);
  server = new QuireServer({
    store,
    inspector: true,
    storageReport: sqliteStorageReport(adapter, 'shop'),
    log: () => {},
  });
  const address = await server.listen();
  base = `http://127.0.0.1:${address.port}/`;
  client = connectHttp(address.url);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await client?.close();
  await server?.close();
  await store?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('inspector page', () => {
  it('serves a small, self-contained page and lists the buckets', async () => {
    // The script as the browser receives it: gzipped, well under 250 KB.
    const js = await new Promise<{ status: number; encoding: string; bytes: number }>((resolve, reject) => {
      request(`${base}ui/app.js`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode!, encoding: String(res.headers['content-encoding']), bytes }),
        );
      })
        .on('error', reject)
        .end();
    });
    expect(js.status).toBe(200);
    expect(js.encoding).toBe('gzip');
    expect(js.bytes).toBeLessThan(250 * 1024);

    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(base);
    const table = page.getByTestId('bucket-table');
    await table.waitFor();
    const timing = (await page.evaluate(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return { domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, now: performance.now() };
    })()`)) as { domContentLoaded: number; load: number; now: number };
    process.stderr.write(
      `inspector page: app.js ${js.bytes} bytes gzipped; DOMContentLoaded ${timing.domContentLoaded.toFixed(0)} ms, load ${timing.load.toFixed(0)} ms, bucket table shown at ${timing.now.toFixed(0)} ms\n`,
    );
    // Everything comes from this server: no CDN, no other host.
    for (const u of requests) expect(u.startsWith(base) || u.startsWith('data:')).toBe(true);

    const row = (name: string) => table.locator(`tr[data-bucket="${name}"]`);
    await expect.poll(() => row('items').getByTestId('count').textContent()).toBe('100,000');
    expect(await row('people').textContent()).toContain('on'); // history
    expect(await row('sessions').textContent()).toContain('1h'); // TTL
    expect(await row('items').textContent()).toMatch(/score \(sorted\)/);
    // Size on disk comes from the SQLite file.
    expect(await row('items').locator('td').last().textContent()).toMatch(/[KM]B$/);
    await page.getByText('Schema of people').click();
    await expect
      .poll(() => page.locator('details[open] table.fields').textContent())
      .toMatch(/agenumbermin 0 · max 150/);
    await shot(page, 'buckets');
  });

  it('filters and pages through 100,000 records on the server', async () => {
    await open(page, '#/b/items');
    const range = page.getByTestId('range');
    await expect.poll(() => range.textContent()).toContain('1–50 of 100,000');
    await page.getByRole('button', { name: 'Next ›' }).click();
    await expect.poll(() => range.textContent()).toContain('51–100 of 100,000');
    expect(
      await page.getByTestId('records').locator('tbody tr').first().locator('td').first().textContent(),
    ).toBe('51');
    await page.getByRole('button', { name: 'Last »' }).click();
    await expect.poll(() => page.getByTestId('page').textContent()).toBe('Page 2,000 of 2,000');
    await expect
      .poll(() => page.getByTestId('records').locator('tbody tr').last().locator('td').first().textContent())
      .toBe(String(ITEMS));
    expect(await range.textContent()).toContain('99,951–100,000 of 100,000');

    // Builder: category = gamma and score >= 5000.
    const expected = Array.from({ length: ITEMS }, (_, i) => item(i + 1)).filter(
      (r) => r.category === 'gamma' && r.score >= 5000,
    );
    const form = page.getByRole('form', { name: 'Filter' });
    await form.getByLabel('Field').first().selectOption('category');
    await form.getByLabel('Value').first().fill('gamma');
    await form.getByRole('button', { name: '+ Condition' }).click();
    await form.getByLabel('Field').nth(1).selectOption('score');
    await form.getByLabel('Operator').nth(1).selectOption('$gte');
    await form.getByLabel('Value').nth(1).fill('5000');
    await form.getByRole('button', { name: 'Apply filter' }).click();
    await expect
      .poll(() => range.textContent())
      .toContain(`1–50 of ${expected.length.toLocaleString('en-US')} matching`);
    await page.getByRole('button', { name: 'Next ›' }).click();
    await expect.poll(() => range.textContent()).toContain('51–100 of');
    const ids = await page.getByTestId('records').locator('tbody tr td:first-child').allTextContents();
    expect(ids).toEqual(expected.slice(50, 100).map((r) => String(r.id)));
    expect(await form.locator('textarea').inputValue()).toContain('"$gte": 5000');

    // Sort on the sorted index, descending.
    await page.getByLabel('Sort by').selectOption('score');
    await page.getByRole('button', { name: 'Sort direction' }).click();
    const scoreCol = async () => {
      const headers = await page.getByTestId('records').locator('thead th').allTextContents();
      const i = headers.indexOf('score');
      return page
        .getByTestId('records')
        .locator(`tbody tr td:nth-child(${i + 1})`)
        .allTextContents();
    };
    const best = Math.max(...expected.map((r) => r.score));
    await expect.poll(async () => (await scoreCol())[0]).toBe(String(best));
    const scores = (await scoreCol()).map(Number);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);

    // Raw JSON: bad JSON and a bad operator are shown inline; a good one applies.
    const raw = form.locator('textarea');
    await raw.fill('{"score": ');
    await form.getByRole('button', { name: 'Apply JSON filter' }).click();
    await expect.poll(() => page.locator('#raw-filter-error').textContent()).toMatch(/Invalid JSON/);
    await raw.fill('{"score": {"$bogus": 1}}');
    await form.getByRole('button', { name: 'Apply JSON filter' }).click();
    await expect.poll(() => page.locator('#raw-filter-error').textContent()).toMatch(/\$bogus/);
    await raw.fill('{"category": {"$in": ["alpha", "beta"]}, "id": {"$lte": 10}}');
    await form.getByRole('button', { name: 'Apply JSON filter' }).click();
    await expect.poll(() => range.textContent()).toContain('1–4 of 4 matching');
    expect(await page.getByTestId('applied-filter').textContent()).toBe(
      'Applied: {"category":{"$in":["alpha","beta"]},"id":{"$lte":10}}',
    );
    expect(await page.locator('#raw-filter-error').count()).toBe(0);

    // Column chooser and copy as JSON.
    await page.locator('details.columns > summary').click();
    await page.getByRole('group', { name: 'Columns' }).getByLabel('name').uncheck();
    expect(await page.getByTestId('records').locator('thead th').allTextContents()).not.toContain('name');
    await page.locator('details.columns > summary').click();
    await page.getByRole('button', { name: 'Copy page as JSON' }).click();
    await page.getByRole('status').filter({ hasText: 'Copied 4 records' }).waitFor();
    const copied = JSON.parse((await page.evaluate('navigator.clipboard.readText()')) as string);
    // The page as shown: ids ≤ 10 in alpha or beta, still sorted by score (descending).
    expect(copied.map((r: { id: number }) => r.id).sort((a: number, b: number) => a - b)).toEqual([
      1, 5, 6, 10,
    ]);
    expect(copied.map((r: { id: number }) => String(r.id))).toEqual(
      await page.getByTestId('records').locator('tbody tr td:first-child').allTextContents(),
    );
    expect(CATEGORIES).toContain(copied[0].category);
    await shot(page, 'records');
  });

  it('edits a record: an invalid value is shown next to its field and not written; a valid one is', async () => {
    await open(page, '#/b/people/r/%22ann%22');
    await page.getByTestId('record-json').waitFor();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.locator('#field-age').fill('-5');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('#field-age-error').textContent()).toMatch(/0/);
    expect(await page.locator('#field-age').getAttribute('aria-invalid')).toBe('true');
    await shot(page, 'record-edit-error');
    const unchanged = (await client.call('get', { bucket: 'people', key: 'ann' })) as Record<string, unknown>;
    expect(unchanged.age).toBe(31);
    expect(unchanged._version).toBe(1);

    await page.locator('#field-age').fill('32');
    await page.locator('#field-city').fill('Ostrava');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved version 2' }).waitFor();
    const saved = (await client.call('get', { bucket: 'people', key: 'ann' })) as Record<string, unknown>;
    expect(saved).toMatchObject({ age: 32, city: 'Ostrava', _version: 2 });
    await expect.poll(() => page.getByTestId('record-json').textContent()).toContain('"city": "Ostrava"');
  });

  it('shows the history, diffs two versions and restores one', async () => {
    const history = page.getByTestId('history');
    await expect.poll(() => history.locator('tbody tr').count()).toBe(2);
    const diff = page.getByTestId('diff');
    await expect.poll(() => diff.locator('tr[data-field="age"]').getAttribute('class')).toBe('d-changed');
    expect(await diff.locator('tr[data-field="age"]').textContent()).toMatch(/31.*32/);
    expect(await diff.locator('tr[data-field="name"]').count()).toBe(0); // unchanged fields hidden
    await shot(page, 'history');

    await history
      .locator('tr[data-version="1"]')
      .getByRole('button', { name: 'Restore this version' })
      .click();
    await expect.poll(() => history.locator('tbody tr').count()).toBe(3);
    const restored = (await client.call('get', { bucket: 'people', key: 'ann' })) as Record<string, unknown>;
    expect(restored).toMatchObject({ age: 31, city: 'Brno', _version: 3 });
    // Diff any two: v1 → v3 (the restore) has no field changes besides metadata.
    await page.getByLabel('Diff from version 1').check();
    await page.getByLabel('Diff to version 3').check();
    await expect.poll(() => diff.locator('tr[data-field="age"]').count()).toBe(0);
    expect(await diff.locator('tr[data-field="_version"]').textContent()).toMatch(/1.*3/);
  });

  it('shows another client’s changes live: records table, record view and change feed', async () => {
    await open(page, '#/b/people');
    await page.getByTestId('range').filter({ hasText: 'of 2' }).waitFor();
    await live(page);
    await client.call('insert', { bucket: 'people', record: { id: 'cid', name: 'Cid', age: 20 } });
    await page.getByTestId('records').getByRole('link', { name: 'cid' }).waitFor({ timeout: 1000 });

    await open(page, '#/b/people/r/%22bob%22');
    await page.getByTestId('record-json').waitFor();
    await live(page);
    await client.call('update', { bucket: 'people', key: 'bob', changes: { city: 'Plzeň' } });
    await page.getByTestId('record-json').filter({ hasText: 'Plzeň' }).waitFor({ timeout: 1000 });
    await page.getByTestId('changed-elsewhere').waitFor();

    await open(page, '#/changes');
    const feed = page.getByTestId('changes');
    // The recent feed is there at once (ann's restore, bob's update …).
    await feed.locator('tr[data-bucket="people"][data-op="update"]').first().waitFor();
    await live(page);
    await client.call('insert', { bucket: 'customers', record: { id: 'c9', name: 'Initech' } });
    await feed.getByRole('link', { name: 'c9' }).waitFor({ timeout: 1000 });
    // Pause: new entries wait; resume shows them.
    await page.getByRole('button', { name: 'Pause' }).click();
    await client.call('delete', { bucket: 'people', key: 'cid' });
    await page.getByRole('button', { name: 'Resume (1 new)' }).waitFor();
    expect(await feed.locator('tr[data-op="delete"]').count()).toBe(0);
    await page.getByRole('button', { name: 'Resume (1 new)' }).click();
    await feed.locator('tr[data-op="delete"]').getByRole('link', { name: 'cid' }).waitFor();
    // Filters: by bucket, by operation.
    await page.getByLabel('Bucket').selectOption('customers');
    expect(await feed.locator('tbody tr[data-bucket="people"]').count()).toBe(0);
    expect(await feed.locator('tbody tr[data-bucket="customers"]').count()).toBeGreaterThan(0);
    await page.getByLabel('Bucket').selectOption('');
    await page.getByLabel('insert').uncheck();
    expect(await feed.locator('tbody tr[data-op="insert"]').count()).toBe(0);
    await page.getByLabel('insert').check();
    await shot(page, 'changes');
    // An entry links to its record.
    await feed.getByRole('link', { name: 'c9' }).click();
    await page.getByTestId('record-json').filter({ hasText: 'Initech' }).waitFor();
  });

  it('deletes a record after showing what cascades', async () => {
    await open(page, '#/b/customers/r/%22c1%22');
    await page.getByTestId('record-json').waitFor();
    await page.getByRole('button', { name: 'Delete…' }).click();
    const cascade = page.getByTestId('cascade');
    await cascade.waitFor();
    expect(await cascade.locator('li').allTextContents()).toEqual(['deletes orders o1', 'deletes orders o2']);
    await page.getByRole('button', { name: 'Delete (and 2 more)' }).click();
    await page.getByTestId('range').waitFor();
    expect(await client.call('get', { bucket: 'customers', key: 'c1' })).toBeNull();
    expect(await client.call('count', { bucket: 'orders' })).toBe(1);
  });

  it('store view: sizes, writes per second, queries with subscribers, backups', async () => {
    const ws = await connectWebSocket(`${base.replace('http', 'ws')}rpc`);
    const sub = await ws.subscribe('adults', undefined, () => {});
    await open(page, '#/store');
    await expect.poll(() => page.getByTestId('bytes').textContent()).toMatch(/[KM]B$/);
    expect(await page.getByTestId('wal').textContent()).toMatch(/B$/);
    const queries = page.getByTestId('queries');
    await expect
      .poll(() => queries.locator('tr', { hasText: 'adults' }).locator('td').last().textContent())
      .toBe('1');
    // Writes per second: the server samples the change feed every second.
    for (let i = 0; i < 20; i++)
      await client.call('update', { bucket: 'items', key: 1, changes: { score: i } });
    await expect
      .poll(() => page.locator('figure.chart rect').count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await page.getByLabel('Name').fill('before-tests-end');
    await page.getByRole('button', { name: 'Make a backup' }).click();
    await page.getByTestId('backups').getByText('before-tests-end').waitFor();
    await shot(page, 'store');
    await sub.unsubscribe();
    await ws.close();
  });

  it('is usable in a narrow window and by keyboard; errors are shown, not a blank page', async () => {
    const narrow = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await narrow.goto(`${base}#/b/items`);
    await narrow.getByTestId('range').filter({ hasText: 'of 100,000' }).waitFor();
    const overflow = (await narrow.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    )) as number;
    expect(overflow).toBeLessThanOrEqual(1);
    await shot(narrow, 'narrow');

    // Keyboard: Tab to the first bucket link and follow it with Enter.
    await narrow.goto(`${base}#/buckets`);
    await narrow.getByTestId('bucket-table').waitFor();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await narrow.keyboard.press('Tab');
      reached = (await narrow.evaluate("document.activeElement?.textContent === 'customers'")) as boolean;
    }
    expect(reached).toBe(true);
    await narrow.keyboard.press('Enter');
    await expect.poll(() => narrow.evaluate('location.hash')).toBe('#/b/customers');

    await narrow.goto(`${base}#/b/nope`);
    await narrow.getByRole('alert').filter({ hasText: 'Bucket "nope" does not exist' }).waitFor();
    await narrow.close();
  });
});

describe('read-only and auth', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('quire inspect opens the store read-only: no write controls, and the server refuses writes', async () => {
    await store.flush();
    child = spawn(process.execPath, [BIN, 'inspect', join(dir, 'shop.db')], {
      env: { ...process.env, QUIRE_CLI_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = (await watchOutput(child).match('stdout', /^(http:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(url);
    await p.getByText('read-only', { exact: true }).waitFor();
    await p.getByTestId('bucket-table').waitFor();
    await p.goto(`${url}#/b/people`);
    await p.getByTestId('range').filter({ hasText: 'of' }).waitFor();
    expect(await p.getByRole('button', { name: 'New record' }).count()).toBe(0);
    await p.goto(`${url}#/b/people/r/%22ann%22`);
    await p.getByTestId('history').waitFor();
    expect(await p.getByRole('button', { name: 'Edit' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Delete…' }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Restore this version' }).count()).toBe(0);
    await shot(p, 'read-only');
    await p.goto(`${url}#/store`);
    await p.getByTestId('bytes').waitFor();
    expect(await p.getByRole('button', { name: 'Make a backup' }).count()).toBe(0);
    // The server refuses writes whatever the page shows.
    const refused = (await p.evaluate(async () => {
      const res = await fetch('rpc', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'update',
          params: { bucket: 'people', key: 'ann', changes: { age: 99 } },
        }),
      });
      return ((await res.json()) as { error: unknown }).error;
    })) as { data: { code: string } };
    expect(refused.data.code).toBe('READ_ONLY');
    await p.close();
    const ann = (await client.call('get', { bucket: 'people', key: 'ann' })) as Record<string, unknown>;
    expect(ann.age).toBe(31);
  });

  it('asks for a token; a wrong one is refused, the right one is kept for the tab', async () => {
    const guarded = new QuireServer({
      store,
      inspector: true,
      auth: { tokens: { 'right-token': { identity: 'alice', read: '*', write: ['people'] } } },
      log: () => {},
    });
    const address = await guarded.listen();
    const url = `http://127.0.0.1:${address.port}/`;
    const p = await browser.newPage();
    try {
      await p.goto(url);
      const token = p.getByLabel('Token');
      await token.fill('wrong-token');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('alert').filter({ hasText: 'invalid token' }).waitFor();
      await shot(p, 'token');
      await token.fill('right-token');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByTestId('bucket-table').waitFor();
      await p.getByText('alice · sign out').waitFor();
      await live(p);
      await p.reload();
      await p.getByTestId('bucket-table').waitFor();
      expect(await p.evaluate("sessionStorage.getItem('quire-inspector-token')")).toBe('right-token');
      // Per-bucket permissions: people is writable, items is not.
      await p.goto(`${url}#/b/items`);
      await p.getByTestId('range').filter({ hasText: 'of 100,000' }).waitFor();
      expect(await p.getByRole('button', { name: 'New record' }).count()).toBe(0);
      await p.goto(`${url}#/b/people`);
      await p.getByRole('button', { name: 'New record' }).waitFor();
      // Backups need admin.
      await p.goto(`${url}#/store`);
      await p.getByText('Backups need administrator permission.').waitFor();
    } finally {
      await p.close();
      await guarded.close();
    }
  });
});

// The page files are part of the package build.
describe('built page', () => {
  it('dist/ui holds the page, its script and style, and gzipped copies', () => {
    const sizes = JSON.parse(readFileSync(join(ROOT, 'dist/ui/sizes.json'), 'utf8'));
    expect(sizes['app.js'].gzip).toBeLessThan(250 * 1024);
    expect(readFileSync(join(ROOT, 'dist/ui/index.html'), 'utf8')).toContain('ui/app.js');
  });
});
