// The inspection methods the inspector page uses (any client may), the
// read-only server mode, and the page's files at GET /, over real HTTP on
// 127.0.0.1 against stores in memory and in a real SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, RpcError } from '../../src/client/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { inspectorAssets, pageNotBuilt } from '../../src/inspector/index.js';
import { QuireServer, sqliteStorageReport } from '../../src/server/index.js';
import { buildPage } from '../inspector/fixture.js';
import { startHttp } from './fixture.js';

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return e as RpcError;
  }
  throw new Error('expected the call to fail');
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

async function linkedStore(): Promise<Store> {
  const store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('customers', {
    key: 'id',
    schema: { id: { type: 'string' }, name: { type: 'string', default: () => 'x' } },
  });
  await store.defineBucket('orders', {
    key: 'id',
    schema: { id: { type: 'string' }, customer: { type: 'string', ref: 'customers', onDelete: 'cascade' } },
  });
  await store.defineBucket('lines', {
    key: 'id',
    schema: { id: { type: 'string' }, order: { type: 'string', ref: 'orders', onDelete: 'cascade' } },
  });
  await store.defineBucket('notes', {
    key: 'id',
    schema: { id: { type: 'string' }, customer: { type: 'string', ref: 'customers', onDelete: 'set_null' } },
  });
  await store.defineBucket('invoices', {
    key: 'id',
    schema: { id: { type: 'string' }, customer: { type: 'string', ref: 'customers' } },
  });
  await store.bucket('customers').insertMany([{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }]);
  await store.bucket('orders').insertMany([
    { id: 'o1', customer: 'c1' },
    { id: 'o2', customer: 'c1' },
    { id: 'o3', customer: 'c2' },
  ]);
  await store.bucket('lines').insertMany([
    { id: 'l1', order: 'o1' },
    { id: 'l2', order: 'o3' },
  ]);
  await store.bucket('notes').insert({ id: 'n1', customer: 'c1' });
  await store.bucket('invoices').insert({ id: 'i1', customer: 'c2' });
  return store;
}

describe('inspection methods', () => {
  it('serverInfo and describeBuckets: definitions as JSON, counts, what the caller may do', async () => {
    const running = await startHttp();
    const c = connectHttp(running.address.url);
    try {
      expect(await c.call('serverInfo')).toEqual({
        store: running.store.name,
        readOnly: false,
        auth: false,
        identity: null,
        admin: true,
      });
      await c.call('insert', { bucket: 'users', record: { name: 'Ann', age: 30 } });
      const buckets = (await c.call('describeBuckets')) as Array<Record<string, any>>;
      expect(buckets.map((b) => b.name)).toEqual(['users', 'counters', 'secrets']);
      const users = buckets[0]!;
      expect(users).toMatchObject({
        count: 1,
        key: 'id',
        history: false,
        ttl: null,
        etsType: 'set',
        persistent: false,
        bytes: null,
        writable: true,
      });
      expect(users.schema.email).toEqual({ type: 'string', format: 'email', unique: true });
      expect(users.indexes).toEqual(['role', { fields: 'age', sorted: true }]);
    } finally {
      await c.close();
      await running.stop();
    }
  });

  it('with auth, only readable buckets are described, writable says what the token may write', async () => {
    const running = await startHttp({
      auth: {
        tokens: {
          reader: { identity: 'rita', read: ['users'] },
          writer: { identity: 'will', read: '*', write: ['counters'], admin: true },
        },
      },
    });
    const rita = connectHttp(running.address.url, { token: 'reader' });
    const will = connectHttp(running.address.url, { token: 'writer' });
    try {
      expect(await rita.call('serverInfo')).toMatchObject({ auth: true, identity: 'rita', admin: false });
      const seen = (await rita.call('describeBuckets')) as Array<{ name: string; writable: boolean }>;
      expect(seen.map((b) => [b.name, b.writable])).toEqual([['users', false]]);
      const all = (await will.call('describeBuckets')) as Array<{ name: string; writable: boolean }>;
      expect(all.map((b) => [b.name, b.writable])).toEqual([
        ['users', false],
        ['counters', true],
        ['secrets', false],
      ]);
      // Stats show readable buckets only; the write rate covers all, so it needs read on all.
      expect(Object.keys(((await rita.call('storageStats')) as any).records)).toEqual(['users']);
      expect((await rpcError(rita.call('storeActivity'))).data?.code).toBe('FORBIDDEN');
      expect((await will.call('storeActivity')) as any).toMatchObject({ intervalMs: 1000 });
      expect((await rpcError(rita.call('previewDelete', { bucket: 'secrets', key: 'x' }))).data?.code).toBe(
        'FORBIDDEN',
      );
      expect((await rpcError(rita.call('recentChanges', { bucket: 'secrets' }))).data?.code).toBe(
        'FORBIDDEN',
      );
    } finally {
      await rita.close();
      await will.close();
      await running.stop();
    }
  });

  it('previewDelete lists cascades (transitively), set null and restricting referrers', async () => {
    const store = await linkedStore();
    const server = new QuireServer({ store, log: () => {} });
    const address = await server.listen();
    const c = connectHttp(address.url);
    try {
      const one = (await c.call('previewDelete', { bucket: 'customers', key: 'c1' })) as any;
      expect(one.exists).toBe(true);
      expect(one.effects).toEqual([
        { bucket: 'orders', field: 'customer', action: 'delete', key: 'o1' },
        { bucket: 'orders', field: 'customer', action: 'delete', key: 'o2' },
        { bucket: 'notes', field: 'customer', action: 'set_null', key: 'n1' },
        { bucket: 'lines', field: 'order', action: 'delete', key: 'l1' },
      ]);
      const two = (await c.call('previewDelete', { bucket: 'customers', key: 'c2' })) as any;
      expect(two.effects).toContainEqual({
        bucket: 'invoices',
        field: 'customer',
        action: 'restrict',
        key: 'i1',
      });
      expect((await c.call('previewDelete', { bucket: 'customers', key: 'nope' })) as any).toEqual({
        exists: false,
        effects: [],
        truncated: false,
      });
      // The preview matches what the delete then does.
      await c.call('delete', { bucket: 'customers', key: 'c1' });
      expect(await c.call('count', { bucket: 'orders' })).toBe(1);
      expect(await c.call('count', { bucket: 'lines' })).toBe(1);
      expect(((await c.call('get', { bucket: 'notes', key: 'n1' })) as any).customer).toBeNull();
      expect((await rpcError(c.call('delete', { bucket: 'customers', key: 'c2' }))).data?.code).toBe(
        'REFERENTIAL_INTEGRITY',
      );
      // Definitions with functions are reported as JSON.
      const described = (await c.call('describeBuckets')) as any[];
      expect(described[0].schema.name.default).toBe('(function)');
    } finally {
      await c.close();
      await server.close();
      await store.stop();
    }
  });

  it('recentChanges returns the newest feed entries; storeActivity counts writes per second', async () => {
    const running = await startHttp();
    const c = connectHttp(running.address.url);
    try {
      expect(((await c.call('storeActivity')) as any).samples).toEqual([]);
      for (let i = 0; i < 30; i++)
        await c.call('upsert', { bucket: 'counters', record: { id: `k${i}`, value: i } });
      const recent = (await c.call('recentChanges', { limit: 5 })) as Array<{ key: string; op: string }>;
      expect(recent.map((e) => e.key)).toEqual(['k25', 'k26', 'k27', 'k28', 'k29']);
      expect((await c.call('recentChanges', { bucket: 'users' })) as unknown[]).toEqual([]);
      expect((await rpcError(c.call('recentChanges', { limit: 0 }))).data?.code).toBe('INVALID_PARAMS');
      // The first sample only sets the baseline; the writes of a second are counted in the next ones.
      let total = 0;
      for (let i = 0; i < 40 && total === 0; i++) {
        await c.call('upsert', { bucket: 'counters', record: { id: 'tick', value: i } });
        await new Promise((r) => setTimeout(r, 100));
        total = ((await c.call('storeActivity')) as any).total;
      }
      expect(total).toBeGreaterThan(0);
    } finally {
      await c.close();
      await running.stop();
    }
  });

  it('storageStats and describeBuckets report the sizes of an SQLite store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quire-inspection-'));
    const adapter = new SQLiteAdapter(join(dir, 's.db'));
    const store = await Store.start({ name: 's', ttlCheckIntervalMs: 0, persistence: { adapter } });
    await store.defineBucket('docs', {
      key: 'id',
      schema: { id: { type: 'number' }, text: { type: 'string' } },
      history: true,
    });
    await store
      .bucket('docs')
      .insertMany(Array.from({ length: 200 }, (_, id) => ({ id, text: 'x'.repeat(100) })));
    await store.flush();
    const server = new QuireServer({
      store,
      storageReport: sqliteStorageReport(adapter, 's'),
      log: () => {},
    });
    const address = await server.listen();
    const c = connectHttp(address.url);
    try {
      const stats = (await c.call('storageStats')) as any;
      expect(stats).toMatchObject({ persistent: true, kind: 'sqlite', location: join(dir, 's.db') });
      expect(stats.bytes).toBeGreaterThan(0);
      expect(stats.walBytes).toBeGreaterThanOrEqual(0);
      const [docs] = (await c.call('describeBuckets')) as any[];
      // Records and their history rows: at least 2 × 200 × 100 bytes of text.
      expect(docs.bytes).toBeGreaterThan(40_000);
      expect(docs.history).toBe(true);
    } finally {
      await c.close();
      await server.close();
      await store.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('read-only server', () => {
  let running: Awaited<ReturnType<typeof startHttp>>;
  beforeAll(async () => {
    running = await startHttp({ readOnly: true });
    await running.store.bucket('counters').insert({ id: 'a', value: 1 });
    running.server.register('app.write', (_p, ctx) => {
      ctx.authorize('write', 'counters');
      return 'wrote';
    });
  });
  afterAll(() => running.stop());

  it('refuses every write method with READ_ONLY and changes nothing; reads work', async () => {
    const c = connectHttp(running.address.url);
    try {
      expect(await c.call('serverInfo')).toMatchObject({ readOnly: true });
      const writes: Array<[string, unknown]> = [
        ['insert', { bucket: 'counters', record: { id: 'b' } }],
        ['update', { bucket: 'counters', key: 'a', changes: { value: 2 } }],
        ['delete', { bucket: 'counters', key: 'a' }],
        ['upsert', { bucket: 'counters', record: { id: 'a', value: 3 } }],
        ['clear', { bucket: 'counters' }],
        ['insertMany', { bucket: 'counters', records: [{ id: 'c' }] }],
        ['updateMany', { bucket: 'counters', filter: {}, changes: { value: 4 } }],
        ['deleteMany', { bucket: 'counters', filter: {} }],
        ['import', { bucket: 'counters', records: [{ id: 'd' }] }],
        ['restoreVersion', { bucket: 'counters', key: 'a', version: 1 }],
        ['defineBucket', { name: 'x', definition: { key: 'id', schema: { id: { type: 'string' } } } }],
        ['dropBucket', { name: 'counters' }],
        ['updateBucket', { name: 'counters', updates: { ttl: '1h' } }],
        ['defineQuery', { name: 'q', config: { bucket: 'counters' } }],
        ['undefineQuery', { name: 'admins' }],
        ['purgeTtl', {}],
        ['createBackup', {}],
        ['backupTo', { path: '/tmp/x.db' }],
        ['restoreBackup', { name: 'b' }],
        ['deleteBackup', { name: 'b' }],
        [
          'transaction',
          {
            operations: [
              { op: 'get', bucket: 'counters', key: 'a' },
              { op: 'delete', bucket: 'counters', key: 'a' },
            ],
          },
        ],
        ['app.write', {}],
      ];
      for (const [method, params] of writes) {
        const e = await rpcError(c.call(method, params));
        expect(e.data?.code, method).toBe('READ_ONLY');
      }
      expect(await c.call('get', { bucket: 'counters', key: 'a' })).toMatchObject({ value: 1, _version: 1 });
      expect(await c.call('count', { bucket: 'counters' })).toBe(1);
      expect(await c.call('transaction', { operations: [{ op: 'count', bucket: 'counters' }] })).toEqual([1]);
      expect((await c.call('describeBuckets')) as Array<{ writable: boolean }>).toSatisfy(
        (bs: Array<{ writable: boolean }>) => bs.every((b) => !b.writable),
      );
    } finally {
      await c.close();
    }
  });
});

describe('page files at GET /', () => {
  it('a checkout whose page was never built says so at GET / (503), not a blank page', async () => {
    expect(inspectorAssets(join(tmpdir(), 'no-such-dir-'))).toBeUndefined();
    const http = createServer((req, res) => {
      if (!pageNotBuilt(req, res, new URL(req.url ?? '/', 'http://x'))) res.writeHead(418).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { port } = http.address() as { port: number };
    try {
      const r = await get(`http://127.0.0.1:${port}/`);
      expect(r.status).toBe(503);
      expect(r.body).toMatch(/npm run build/);
      expect((await get(`http://127.0.0.1:${port}/health`)).status).toBe(418);
    } finally {
      http.close();
    }
  });

  it('without the inspector, GET / is not served; with it, the page and its files are', async () => {
    const plain = await startHttp();
    try {
      const r = await get(`http://127.0.0.1:${plain.address.port}/`);
      expect(r.status).toBe(405);
    } finally {
      await plain.stop();
    }
    buildPage();
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    const server = new QuireServer({ store, inspector: true, log: () => {} });
    const { port } = await server.listen();
    try {
      const page = await get(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
      expect(page.body).toContain('<script type="module" src="ui/app.js">');
      const js = await get(`http://127.0.0.1:${port}/ui/app.js`);
      expect(js.status).toBe(200);
      expect(js.headers['content-encoding']).toBeUndefined();
      const gz = await get(`http://127.0.0.1:${port}/ui/app.js`, { 'Accept-Encoding': 'gzip, br' });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(Number(gz.headers['content-length'])).toBeLessThan(js.body.length);
      expect((await get(`http://127.0.0.1:${port}/ui/nope.js`)).status).toBe(404);
      // JSON-RPC still answers beside the page.
      const c = connectHttp(`http://127.0.0.1:${port}/rpc`);
      expect(await c.call('ping')).toBe('pong');
      await c.close();
    } finally {
      await server.close();
      await store.stop();
    }
  });
});
