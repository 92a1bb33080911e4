// Set-up of the inspector tests: a real SQLite store file with a large
// bucket, a bucket with history and constraints, and two buckets linked by a
// cascading reference; the built page; Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type SQLiteAdapter, Store } from '../../src/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const ITEMS = 100_000;
export const CATEGORIES = ['alpha', 'beta', 'gamma', 'delta', 'omega'];

export function item(i: number) {
  return {
    id: i,
    name: `item-${String(i).padStart(6, '0')}`,
    category: CATEGORIES[i % CATEGORIES.length]!,
    score: (i * 7919) % 10_007,
  };
}

/** Builds dist/ui with the package's own build script (as `npm run build` does). */
export function buildPage(): void {
  execFileSync(process.execPath, ['scripts/build-inspector.mjs'], { cwd: ROOT, stdio: 'pipe' });
}

/** Chromium must be there: a missing browser fails the run (in CI and elsewhere), never skips it. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it with "apt-get install -y chromium" (the browser tests need it)`,
    );
}

/** The test store, written into the adapter's file (and left running). */
export async function makeStore(adapter: SQLiteAdapter): Promise<Store> {
  const store = await Store.start({
    name: 'shop',
    ttlCheckIntervalMs: 0,
    persistence: { adapter, durability: 'debounced' },
  });
  const items = await store.defineBucket('items', {
    key: 'id',
    schema: {
      id: { type: 'number' },
      name: { type: 'string', required: true },
      category: { type: 'string', enum: CATEGORIES },
      score: { type: 'number', min: 0 },
    },
    indexes: ['category', { fields: 'score', sorted: true }],
  });
  const people = await store.defineBucket('people', {
    key: 'id',
    schema: {
      id: { type: 'string' },
      name: { type: 'string', required: true, minLength: 1 },
      email: { type: 'string', format: 'email' },
      age: { type: 'number', min: 0, max: 150 },
      city: { type: 'string' },
    },
    history: true,
  });
  const customers = await store.defineBucket('customers', {
    key: 'id',
    schema: { id: { type: 'string' }, name: { type: 'string', required: true } },
  });
  const orders = await store.defineBucket('orders', {
    key: 'id',
    schema: {
      id: { type: 'string' },
      customerId: { type: 'string', ref: 'customers', onDelete: 'cascade' },
      total: { type: 'number' },
    },
  });
  await store.defineBucket('sessions', {
    key: 'id',
    schema: { id: { type: 'string' }, user: { type: 'string' } },
    ttl: '1h',
  });
  store.defineDeclarativeQuery('adults', { bucket: 'people', filter: { age: { $gte: 18 } } });
  const all = [];
  for (let i = 1; i <= ITEMS; i++) all.push(item(i));
  await items.insertMany(all);
  await people.insert({ id: 'ann', name: 'Ann', email: 'ann@example.com', age: 31, city: 'Brno' });
  await people.insert({ id: 'bob', name: 'Bob', email: 'bob@example.com', age: 45, city: 'Praha' });
  await customers.insert({ id: 'c1', name: 'Acme' });
  await customers.insert({ id: 'c2', name: 'Globex' });
  await orders.insertMany([
    { id: 'o1', customerId: 'c1', total: 10 },
    { id: 'o2', customerId: 'c1', total: 20 },
    { id: 'o3', customerId: 'c2', total: 30 },
  ]);
  await store.flush();
  return store;
}
