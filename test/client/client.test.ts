// The client: WebSocket reconnect and resubscribe, failures surfaced as
// typed errors, the child-process client's lifecycle.
import { afterEach, describe, expect, it } from 'vitest';
import {
  CallTimeoutError,
  ConnectionError,
  connectHttp,
  connectWebSocket,
  RpcError,
  spawnStdio,
} from '../../src/client/index.js';
import { Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import {
  prepareStore,
  type Running,
  registerAppMethods,
  STDIO_SERVER,
  startHttp,
  TSX,
  until,
} from '../server/fixture.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(): Promise<Running> {
  const r = await startHttp();
  cleanups.push(() => r.stop());
  return r;
}

describe('WebSocket client', () => {
  it('reconnects after a dropped connection, resubscribes, and reports what changed meanwhile', async () => {
    const r = await started();
    let reconnects = 0;
    const ws = await connectWebSocket(r.address.wsUrl, {
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      onReconnect: () => reconnects++,
    });
    cleanups.push(() => ws.close());
    const admins: string[][] = [];
    const sub = await ws.subscribe<Array<{ name: string }>>('admins', undefined, (res) =>
      admins.push(res.map((u) => u.name)),
    );
    expect(sub.result).toEqual([]);
    const topics: string[] = [];
    await ws.on('bucket.users.*', (_e, t) => topics.push(t));

    ws.dropConnection();
    // A change made while the client is away …
    await r.store.bucket('users').insert({ id: 'a', name: 'Ann', role: 'admin' });
    // … a call made while it is away waits for the new connection.
    expect(await ws.bucket('users').count()).toBe(1);
    await until(() => reconnects === 1);
    await until(() => admins.length === 1);
    expect(admins).toEqual([['Ann']]);

    // Subscriptions work on the new connection.
    await ws.bucket('users').insert({ id: 'b', name: 'Bea', role: 'admin' });
    await ws.call('settle');
    await until(() => admins.length === 2 && topics.length >= 1);
    expect(admins[1]).toEqual(['Ann', 'Bea']);
    expect(topics).toEqual(['bucket.users.inserted']);
    await sub.unsubscribe();
    expect((await ws.getStats()).queries.activeSubscriptions).toBe(0);
  });

  it('reconnects to a server restarted on the same port; a graceful close answers calls in flight first', async () => {
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    await prepareStore(store);
    cleanups.push(() => store.stop());
    const first = new QuireServer({ store, log: () => {} });
    registerAppMethods(first);
    const { port, wsUrl } = await first.listen();
    let disconnects = 0;
    const ws = await connectWebSocket(wsUrl, {
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      onDisconnect: () => disconnects++,
    });
    cleanups.push(() => ws.close());
    const values: number[] = [];
    await ws.subscribe<number>('byRole', { role: 'admin' }, (names) =>
      values.push((names as unknown as string[]).length),
    );

    const inFlight = ws.call('app.slow', { ms: 200 });
    expect(await ws.call('ping')).toBe('pong');
    const closing = first.close();
    expect(await inFlight).toBe('done');
    await closing;

    const second = new QuireServer({ store, log: () => {} });
    await second.listen({ port });
    cleanups.push(() => second.close());
    await store.bucket('users').insert({ id: 'z', name: 'Zed', role: 'admin' });
    expect(await ws.call('count', { bucket: 'users' })).toBe(1);
    expect(disconnects).toBeGreaterThanOrEqual(1);
    await until(() => values.length === 1);
    expect(values).toEqual([1]);
  });

  it('without reconnect, a closed connection fails calls with ConnectionError', async () => {
    const r = await started();
    const ws = await connectWebSocket(r.address.wsUrl, { reconnect: false });
    cleanups.push(() => ws.close());
    const pending = ws.call('app.slow', { ms: 300 }).catch((e) => e);
    expect(await ws.call('ping')).toBe('pong');
    ws.dropConnection();
    expect(await pending).toBeInstanceOf(ConnectionError);
    await expect(ws.call('ping')).rejects.toBeInstanceOf(ConnectionError);
  });

  it('connection refused and call timeouts are typed errors', async () => {
    const r = await started();
    const dead = `ws://127.0.0.1:${r.address.port}/nowhere`;
    await expect(connectWebSocket(dead, { reconnect: false })).rejects.toBeInstanceOf(ConnectionError);
    const ws = await connectWebSocket(r.address.wsUrl, { callTimeoutMs: 100 });
    cleanups.push(() => ws.close());
    await expect(ws.call('app.slow', { ms: 300 })).rejects.toBeInstanceOf(CallTimeoutError);
    expect(await ws.call('ping')).toBe('pong');
  });
});

describe('HTTP client', () => {
  it('reports refused connections, timeouts and server errors with distinct types', async () => {
    const r = await started();
    const h = connectHttp(r.address.url, { callTimeoutMs: 100 });
    await expect(h.call('app.slow', { ms: 300 })).rejects.toBeInstanceOf(CallTimeoutError);
    const e = (await h.call('nope').catch((x: RpcError) => x)) as RpcError;
    expect(e).toBeInstanceOf(RpcError);
    expect(e.quireCode).toBe('METHOD_NOT_FOUND');
    await r.stop();
    cleanups.pop();
    await expect(connectHttp(r.address.url).call('ping')).rejects.toBeInstanceOf(ConnectionError);
    expect(await h.batch([])).toEqual([]);
  });

  it('an absolute URL is kept as given; a relative one has no page to resolve against in Node', () => {
    expect(connectHttp('http://127.0.0.1:7070/rpc').url).toBe('http://127.0.0.1:7070/rpc');
    expect(() => connectHttp('/rpc')).toThrow(TypeError);
    expect(() => connectHttp('http://[bad')).toThrow(TypeError);
  });
});

describe('stdio client', () => {
  it('a child that dies fails the calls in flight with ConnectionError naming the exit', async () => {
    const c = await spawnStdio(process.execPath, [...TSX, STDIO_SERVER], { stderr: 'pipe' });
    const pending = c.call('app.slow', { ms: 5000 }).catch((e: Error) => e);
    expect(await c.call('ping')).toBe('pong');
    await c.kill('SIGKILL');
    const err = (await pending) as Error;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/SIGKILL/);
    await expect(c.call('ping')).rejects.toBeInstanceOf(ConnectionError);
  });

  it('a command that cannot start, or a child that exits at once, is reported', async () => {
    await expect(spawnStdio('/nonexistent/quire-server', [])).rejects.toBeInstanceOf(ConnectionError);
    const err = await spawnStdio(
      process.execPath,
      ['-e', 'console.error("no store here"); process.exit(3)'],
      {
        stderr: 'pipe',
      },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/code 3/);
    expect(err.message).toMatch(/no store here/);
  });

  it('close() ends stdin; the server answers what it has, flushes and exits 0', async () => {
    const c = await spawnStdio(process.execPath, [...TSX, STDIO_SERVER], { stderr: 'pipe' });
    const last = c.call('app.slow', { ms: 100 });
    await c.close();
    expect(await last).toBe('done');
    expect((await c.exited).code).toBe(0);
  });
});
