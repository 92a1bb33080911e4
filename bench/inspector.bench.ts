// The inspector on a bucket of QUIRE_BENCH_INSPECT records (default
// 1,000,000) in SQLite, served over HTTP as the page uses it:
// - one page of the records view (`where` with limit/offset + `count`) at
//   the start, the middle and the end, unsorted and sorted on a sorted index,
//   and with a filter;
// - the stored size per bucket (first call scans the rows; then cached);
// - in Chromium (when /usr/bin/chromium exists): page load to the bucket
//   table, and "Last »" to the last page shown.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectHttp } from '../src/client/index.js';
import { SQLiteAdapter, Store } from '../src/index.js';
import { QuireServer, sqliteStorageReport } from '../src/server/index.js';
import { type BenchSection, formatNumber, table } from './harness.js';

const N = Number(process.env.QUIRE_BENCH_INSPECT ?? 1_000_000);
const PAGE = 50;

async function best<T>(fn: () => Promise<T>, repeats = 3): Promise<number> {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

export async function run(): Promise<BenchSection> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-bench-inspect-'));
  const adapter = new SQLiteAdapter(path.join(dir, 'i.db'));
  const store = await Store.start({
    name: 'i',
    ttlCheckIntervalMs: 0,
    persistence: { adapter, durability: 'debounced' },
  });
  const items = await store.defineBucket('items', {
    key: 'id',
    schema: {
      id: { type: 'number' },
      name: { type: 'string' },
      category: { type: 'string' },
      score: { type: 'number' },
    },
    indexes: ['category', { fields: 'score', sorted: true }],
  });
  for (let start = 0; start < N; start += 100_000) {
    const chunk = [];
    for (let i = start; i < Math.min(N, start + 100_000); i++)
      chunk.push({ id: i, name: `item-${i}`, category: `c${i % 10}`, score: (i * 7919) % 100_003 });
    await items.insertMany(chunk);
  }
  await store.flush();
  const server = new QuireServer({
    store,
    inspector: true,
    storageReport: sqliteStorageReport(adapter, 'i'),
    log: () => {},
  });
  const address = await server.listen();
  const c = connectHttp(address.url);
  const page = (offset: number, extra: Record<string, unknown> = {}, filter: Record<string, unknown> = {}) =>
    Promise.all([
      c.call('where', { bucket: 'items', filter, limit: PAGE, offset, ...extra }),
      c.call('count', { bucket: 'items', ...(Object.keys(filter).length > 0 ? { filter } : {}) }),
    ]);
  const rows: Array<[string, number]> = [];
  rows.push(['page 1 (bucket order)', await best(() => page(0))]);
  rows.push([`page ${formatNumber(N / 2 / PAGE)} (bucket order)`, await best(() => page(N / 2))]);
  rows.push(['last page (bucket order)', await best(() => page(N - PAGE))]);
  rows.push([
    'page 1 sorted by score (sorted index)',
    await best(() => page(0, { sort: { score: 'desc' } })),
  ]);
  rows.push(['page 100 sorted by score', await best(() => page(99 * PAGE, { sort: { score: 'desc' } }))]);
  rows.push([
    `page ${formatNumber(N / 2 / PAGE)} sorted by score`,
    await best(() => page(N / 2, { sort: { score: 'desc' } }), 1),
  ]);
  rows.push(['page 1, filter category = c3 (hash index)', await best(() => page(0, {}, { category: 'c3' }))]);
  rows.push([
    'page 1, filter name starts with item-99 (scan)',
    await best(() => page(0, {}, { name: { $startsWith: 'item-99' } })),
  ]);
  const t0 = performance.now();
  await c.call('describeBuckets');
  rows.push(['describeBuckets, sizes computed (scan)', performance.now() - t0]);
  rows.push(['describeBuckets, sizes cached', await best(() => c.call('describeBuckets'))]);

  if (fs.existsSync('/usr/bin/chromium')) {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const base = `http://127.0.0.1:${address.port}/`;
    let t = performance.now();
    await p.goto(base);
    await p.getByTestId('bucket-table').waitFor();
    rows.push(['Chromium: load to bucket table shown', performance.now() - t]);
    await p.goto(`${base}#/b/items`);
    await p
      .getByTestId('range')
      .filter({ hasText: `of ${N.toLocaleString('en-US')}` })
      .waitFor({ timeout: 60_000 });
    t = performance.now();
    await p.getByRole('button', { name: 'Last »' }).click();
    await p
      .getByTestId('range')
      .filter({ hasText: `–${N.toLocaleString('en-US')} of` })
      .waitFor({ timeout: 60_000 });
    rows.push(['Chromium: "Last »" to the last page shown', performance.now() - t]);
    await browser.close();
  }
  await c.close();
  await server.close();
  await store.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    title: `Inspector on ${formatNumber(N)} records (SQLite, over HTTP)`,
    markdown: table(
      ['operation', 'ms'],
      rows.map(([name, ms]) => [name, ms.toFixed(1)]),
    ),
  };
}
