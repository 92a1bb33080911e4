// One bad value must never poison storage for everyone: a 6,000-level deep
// request is refused at the door while other clients' strict writes commit;
// a record that cannot be encoded (changed in place after it was written) is
// dropped from its commit and reported, the rest commits; /health says
// "degraded" while commits fail or after changes were lost; stop() and
// SIGTERM do not report success when acknowledged writes were dropped.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp } from '../../src/client/index.js';
import { SQLiteAdapter, StorageError, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import { watchOutput } from '../child-output.js';
import { FlakyAdapter, tempDir, waitFor } from '../persistence/helpers.js';

const def = {
  key: 'id',
  schema: { id: { type: 'string' }, data: { type: 'object' }, n: { type: 'number' } },
} as const;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function health(url: string): Promise<any> {
  return (await fetch(url.replace(/rpc$/, 'health'))).json();
}

describe('a bad value over the server', () => {
  it('a request nested 6,000 levels deep is VALIDATION; strict writes of other clients commit', async () => {
    const file = path.join(tempDir(), 'store.db');
    const store = await Store.start({
      name: 's',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    await store.defineBucket('items', def);
    const server = new QuireServer({ store, log: () => {}, requestTimeoutMs: 5000 });
    const { url } = await server.listen();
    cleanups.push(
      () => store.stop(),
      () => server.close(),
    );
    let deep = '1';
    for (let i = 0; i < 6000; i++) deep = `{"a":${deep}}`;
    const body = `{"jsonrpc":"2.0","id":1,"method":"insert","params":{"bucket":"items","record":{"id":"deep","data":${deep}}}}`;
    expect(body.length).toBeGreaterThan(30_000);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (await res.json()) as any;
    expect(answer.error).toMatchObject({ code: -32602, data: { code: 'VALIDATION' } });
    expect(answer.error.data.issues[0]).toMatchObject({ code: 'depth' });
    // "__proto__" from JSON is an own key: refused, never a prototype.
    const proto = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":2,"method":"insert","params":{"bucket":"items","record":{"id":"p","__proto__":{"n":1}}}}',
    });
    expect(((await proto.json()) as any).error.data).toMatchObject({
      code: 'VALIDATION',
      issues: [{ field: '__proto__', code: 'proto_key' }],
    });
    // Other clients, concurrently: every strict write is acknowledged (no TIMEOUT) and on disk.
    const clients = [connectHttp(url), connectHttp(url), connectHttp(url)];
    await Promise.all(
      clients.map((c, i) =>
        Promise.all(
          Array.from({ length: 20 }, (_, j) => c.bucket('items').insert({ id: `c${i}-${j}`, n: j })),
        ),
      ),
    );
    expect((await health(url)).status).toBe('ok');
    expect(store.storageStatus()).toMatchObject({ state: 'ok', lostWrites: 0 });
    await server.close();
    await store.stop();
    const reader = await Store.start({
      name: 's',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(file, { readOnly: true }) },
    });
    cleanups.push(() => reader.stop());
    const items = await reader.defineBucket('items', def);
    expect(await items.count()).toBe(60);
    expect(await items.get('deep')).toBeUndefined();
  });
});

describe('a record that cannot be encoded is dropped from its commit, not retried forever', () => {
  for (const durability of ['strict', 'debounced'] as const) {
    it(`${durability}: the others commit, the failure is reported, stop() rejects`, async () => {
      const file = path.join(tempDir(), 'store.db');
      const errors: Error[] = [];
      const store = await Store.start({
        name: 's',
        ttlCheckIntervalMs: 0,
        persistence: {
          adapter: new SQLiteAdapter(file),
          durability,
          debounceMs: 5,
          onError: (e) => errors.push(e),
        },
      });
      cleanups.push(() => store.stop());
      const items = await store.defineBucket('items', def);
      const victim = await items.insert({ id: 'victim', data: { ok: true } });
      await store.flush();
      // Records are shared with callers; one changes it in place (against the rules), then writes again.
      (victim.data as Record<string, unknown>).big = 10n;
      const poisoned = items.update('victim', { n: 1 });
      const others = Promise.all(Array.from({ length: 10 }, (_, i) => items.insert({ id: `o${i}`, n: i })));
      if (durability === 'strict') {
        await expect(poisoned).rejects.toBeInstanceOf(StorageError);
        await others;
      } else {
        await poisoned;
        await others;
        await store.flush();
      }
      await waitFor(() => errors.length > 0, 'the report');
      expect(errors[0]!.message).toMatch(/victim.*cannot be encoded/);
      expect(store.storageStatus()).toMatchObject({ state: 'degraded', lostWrites: 1 });
      // Later writes are not blocked.
      await items.insert({ id: 'later', n: 99 });
      await store.flush();
      await expect(store.stop()).rejects.toBeInstanceOf(StorageError);
      const again = await Store.start({
        name: 's',
        ttlCheckIntervalMs: 0,
        persistence: { adapter: new SQLiteAdapter(file) },
      });
      cleanups.push(() => again.stop());
      const b = await again.defineBucket('items', def);
      expect(await b.count()).toBe(12); // victim (version 1), o0..o9, later
      expect((await b.get('victim'))?._version).toBe(1);
      expect(await b.get('later')).toMatchObject({ n: 99 });
    });
  }
});

describe('/health reports storage state', () => {
  it('ok, degraded with the last error while commits fail, ok again after recovery', async () => {
    const flaky = new FlakyAdapter(new SQLiteAdapter(path.join(tempDir(), 'h.db')));
    const store = await Store.start({
      name: 'h',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: flaky, durability: 'debounced', debounceMs: 5, onError: () => {} },
    });
    await store.defineBucket('items', def);
    const server = new QuireServer({ store, log: () => {} });
    const { url } = await server.listen();
    cleanups.push(
      () => store.stop(),
      () => server.close(),
    );
    expect(await health(url)).toMatchObject({ status: 'ok', storage: { state: 'ok' } });
    flaky.failing = true;
    await connectHttp(url).bucket('items').insert({ id: 'a' });
    await waitFor(async () => (await health(url)).status === 'degraded', 'degraded');
    const h = await health(url);
    expect(h.storage.lastError).toMatch(/ENOSPC/);
    flaky.failing = false;
    await waitFor(async () => (await health(url)).status === 'ok', 'recovered', 15_000);
    expect((await health(url)).storage.lastError).toBeUndefined();
    // A store without persistence is ok, with no storage.
    const mem = await Store.start({ ttlCheckIntervalMs: 0 });
    const s2 = new QuireServer({ store: mem, log: () => {} });
    const a2 = await s2.listen();
    cleanups.push(
      () => mem.stop(),
      () => s2.close(),
    );
    expect(await health(a2.url)).toMatchObject({ status: 'ok', storage: { state: 'none' } });
  });
});

describe('SIGTERM after acknowledged writes were dropped', () => {
  it('exits 1, not 0', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'serve.mts');
    const src = (p: string) => JSON.stringify(path.resolve(import.meta.dirname, p));
    writeFileSync(
      script,
      `
      import { SQLiteAdapter, Store } from ${src('../../src/index.ts')};
      import { QuireServer } from ${src('../../src/server/index.ts')};
      const store = await Store.start({ name: 'x', ttlCheckIntervalMs: 0, persistence: { adapter: new SQLiteAdapter(${JSON.stringify(path.join(dir, 'x.db'))}), debounceMs: 50, onError: () => {} } });
      const items = await store.defineBucket('items', { key: 'id', schema: { id: { type: 'string' } } });
      const server = new QuireServer({ store, stopStoreOnClose: true, log: () => {} });
      server.register('app.poison', async () => {
        const r = await items.insert({ id: 'p' });
        r.big = 1n; // changed in place before the debounced flush
        return true;
      });
      server.handleSignals();
      const { url } = await server.listen();
      process.stdout.write(url + '\\n');
      `,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => child.kill('SIGKILL'));
    const out = watchOutput(child);
    const { exited } = out;
    const url = (await out.match('stdout', /^(.*)\n/))[1]!.trim();
    const c = connectHttp(url);
    expect(await c.call('app.poison')).toBe(true);
    await c.bucket('items').insert({ id: 'fine' });
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
  });
});
