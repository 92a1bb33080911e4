// Limits and safety: auth and per-bucket permissions, rate limit, request
// timeout, connection limit, slow clients, concurrent writers, shutdown.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, connectWebSocket, type QuireClient, RpcError } from '../../src/client/index.js';
import type { AuthOptions } from '../../src/server/index.js';
import { type Running, startHttp } from './fixture.js';
import { httpChannel, stalledWebSocket, stdioChannel, wsChannel } from './raw.js';

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return e as RpcError;
  }
  throw new Error('expected the call to fail');
}

const AUTH: AuthOptions = {
  tokens: {
    'admin-token': { identity: 'root', read: '*', write: '*', admin: true },
    'reader-token': { identity: 'ruth', read: ['users'] },
    'writer-token': { identity: 'walt', write: ['users', 'counters'] },
  },
};

describe('auth: bearer tokens with per-bucket permissions', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startHttp({ auth: AUTH });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('HTTP: no token or a bad token is 401 / UNAUTHORIZED', async () => {
    const none = await httpChannel(r.address.url).post('{"jsonrpc":"2.0","method":"ping","id":1}');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: -32001, data: { code: 'UNAUTHORIZED' } } });
    const bad = await rpcError(connectHttp(r.address.url, { token: 'nope' }).call('ping'));
    expect(bad.code).toBe(-32001);
    // /health stays open.
    expect((await fetch(r.address.url.replace(/rpc$/, 'health'))).status).toBe(200);
  });

  it('HTTP: permissions per bucket; the identity is the actor', async () => {
    const admin = connectHttp(r.address.url, { token: 'admin-token' });
    const reader = connectHttp(r.address.url, { token: 'reader-token' });
    const writer = connectHttp(r.address.url, { token: 'writer-token' });
    await admin.bucket('secrets').insert({ id: 's1', text: 'hush' });
    await writer.bucket('users').insert({ id: 'w1', name: 'Walt' });
    expect((await reader.bucket('users').get('w1'))?.name).toBe('Walt');
    expect((await writer.bucket('users').get('w1'))?.name).toBe('Walt'); // write implies read

    const cases: Array<[QuireClient, string, unknown]> = [
      [reader, 'insert', { bucket: 'users', record: { name: 'no' } }],
      [reader, 'get', { bucket: 'secrets', key: 's1' }],
      [writer, 'get', { bucket: 'secrets', key: 's1' }],
      [writer, 'defineBucket', { name: 'x', definition: { key: 'id', schema: { id: { type: 'string' } } } }],
      [writer, 'dropBucket', { name: 'users' }],
      [
        reader,
        'transaction',
        {
          operations: [
            { op: 'get', bucket: 'users', key: 'w1' },
            { op: 'insert', bucket: 'users', record: { name: 'x' } },
          ],
        },
      ],
      [reader, 'runQuery', { name: 'byRole', params: { role: 'user' } }], // programmatic: needs read on every bucket
      [writer, 'changes', {}],
      [reader, 'createBackup', {}],
    ];
    for (const [client, method, params] of cases) {
      const e = await rpcError(client.call(method, params));
      expect(e.code, method).toBe(-32002);
      expect(e.data?.code).toBe('FORBIDDEN');
    }
    expect(await reader.call('runQuery', { name: 'admins' })).toEqual([]); // declarative on a readable bucket
    expect(await reader.call('listBuckets')).toEqual(['users']);
    expect(await admin.call('app.actor', { actor: 'spoofed' })).toBe('root');
    expect(await writer.call('app.whoami')).toBe('walt');
    expect(await admin.bucket('secrets').count()).toBe(1);
    expect(await admin.bucket('users').count()).toBe(1);
  });

  it('WebSocket: token at connect or via authenticate; events filtered by read permission', async () => {
    const refused = await connectWebSocket(r.address.wsUrl, { token: 'bad', reconnect: false }).catch(
      (e) => e,
    );
    expect(refused.message).toMatch(/401/);

    const anon = await wsChannel(r.address.wsUrl);
    expect(await anon.send('{"jsonrpc":"2.0","method":"ping","id":1}')).toMatchObject({ result: 'pong' });
    expect(
      await anon.send('{"jsonrpc":"2.0","method":"count","params":{"bucket":"users"},"id":2}'),
    ).toMatchObject({
      error: { code: -32001 },
    });
    expect(
      await anon.send('{"jsonrpc":"2.0","method":"authenticate","params":{"token":"x"},"id":3}'),
    ).toMatchObject({
      error: { code: -32001 },
    });
    expect(
      await anon.send('{"jsonrpc":"2.0","method":"authenticate","params":{"token":"reader-token"},"id":4}'),
    ).toMatchObject({ result: { identity: 'ruth' } });
    expect(
      await anon.send('{"jsonrpc":"2.0","method":"count","params":{"bucket":"users"},"id":5}'),
    ).toMatchObject({
      result: expect.any(Number),
    });
    await anon.close();

    const reader = await connectWebSocket(r.address.wsUrl, { token: 'reader-token' });
    const admin = await connectWebSocket(r.address.wsUrl, { token: 'admin-token' });
    const seen: string[] = [];
    await reader.on('bucket.*.*', (_e, topic) => seen.push(topic));
    await admin.bucket('secrets').insert({ id: 's2', text: 'hidden' });
    await admin.bucket('users').insert({ id: 'u9', name: 'Visible' });
    await admin.call('settle');
    await reader.call('ping');
    const end = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 5));
    expect(seen).toEqual(['bucket.users.inserted']);
    const sub = await rpcError(reader.subscribe('byRole', { role: 'user' }, () => {}));
    expect(sub.data?.code).toBe('FORBIDDEN');
    await reader.close();
    await admin.close();
  });

  it('stdio: authenticate with a token', async () => {
    const ch = await stdioChannel({ auth: AUTH });
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"all","params":{"bucket":"users"},"id":1}'),
    ).toMatchObject({
      error: { code: -32001 },
    });
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"authenticate","params":{"token":"writer-token"},"id":2}'),
    ).toMatchObject({ result: { identity: 'walt' } });
    expect(
      await ch.send(
        '{"jsonrpc":"2.0","method":"insert","params":{"bucket":"users","record":{"name":"S"}},"id":3}',
      ),
    ).toMatchObject({ result: { name: 'S' } });
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"app.actor","params":{"actor":"spoofed"},"id":4}'),
    ).toMatchObject({ result: 'walt' });
    await ch.close();
  });
});

describe('rate limit, timeout, connection limit', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startHttp({
      rateLimit: { requests: 5, intervalMs: 60_000 },
      requestTimeoutMs: 200,
      maxConnections: 3,
    });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('a connection over its rate gets RATE_LIMITED (HTTP 429); others are unaffected', async () => {
    const ws = await connectWebSocket(r.address.wsUrl);
    for (let i = 0; i < 5; i++) expect(await ws.call('ping')).toBe('pong');
    const e = await rpcError(ws.call('ping'));
    expect(e.code).toBe(-32003);
    expect(e.data?.code).toBe('RATE_LIMITED');
    const other = await connectWebSocket(r.address.wsUrl);
    expect(await other.call('ping')).toBe('pong');
    await ws.close();
    await other.close();
  });

  it('HTTP clients are limited per address', async () => {
    const h = httpChannel(r.address.url);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await h.post('{"jsonrpc":"2.0","method":"ping","id":1}')).status);
    expect(statuses).toContain(429);
    const last = await h.post('{"jsonrpc":"2.0","method":"ping","id":1}');
    expect(last.body).toMatchObject({ error: { code: -32003, data: { code: 'RATE_LIMITED' } } });
  });

  it('a request running past the timeout gets TIMEOUT; the server goes on', async () => {
    const ws = await connectWebSocket(r.address.wsUrl);
    const e = await rpcError(ws.call('app.slow', { ms: 1000 }));
    expect(e.code).toBe(-32004);
    expect(e.data?.code).toBe('TIMEOUT');
    expect(await ws.call('app.slow', { ms: 1 })).toBe('done');
    await ws.close();
  });

  it('connections beyond maxConnections are refused (503) until one closes', async () => {
    await r.stop();
    r = await startHttp({ maxConnections: 3 });
    const open = [
      await wsChannel(r.address.wsUrl),
      await wsChannel(r.address.wsUrl),
      await wsChannel(r.address.wsUrl),
    ];
    const refused = await connectWebSocket(r.address.wsUrl, { reconnect: false }).catch((e) => e);
    expect(refused).toBeInstanceOf(Error);
    await open.pop()!.close();
    let ok: Awaited<ReturnType<typeof wsChannel>> | undefined;
    for (let i = 0; i < 50 && ok === undefined; i++) {
      ok = await wsChannel(r.address.wsUrl).catch(() => undefined);
      if (ok === undefined) await new Promise((res) => setTimeout(res, 20));
    }
    expect(ok).toBeDefined();
    expect(await ok!.send('{"jsonrpc":"2.0","method":"ping","id":1}')).toMatchObject({ result: 'pong' });
    await ok!.close();
    for (const c of open) await c.close();
  });
});

describe('slow clients', () => {
  let r: Running;
  const logs: string[] = [];
  beforeAll(async () => {
    r = await startHttp({
      bodyTimeoutMs: 300,
      maxBufferedBytes: 1024 * 1024,
      slowClientMs: 300,
      log: (_l, m) => logs.push(m),
    });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('an HTTP client that stalls mid-body is cut off; others are served meanwhile', async () => {
    const sock = connect(r.address.port, '127.0.0.1');
    let received = '';
    sock.on('data', (d) => {
      received += d.toString();
    });
    const closed = new Promise<void>((res) => sock.on('close', () => res()));
    sock.write(
      'POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc"',
    );
    const c = connectHttp(r.address.url);
    expect(await c.call('ping')).toBe('pong');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(await c.call('ping')).toBe('pong');
  });

  it('a WebSocket client that stops reading is disconnected; others keep their notifications', async () => {
    const slow = await stalledWebSocket(
      r.address.port,
      '{"jsonrpc":"2.0","method":"subscribeEvents","params":{"pattern":"bucket.counters.*"},"id":1}',
    );
    const good = await connectWebSocket(r.address.wsUrl);
    let events = 0;
    await good.on('bucket.counters.*', () => {
      events++;
    });
    const pad = 'x'.repeat(64 * 1024);
    let i = 0;
    const dropped = () => logs.some((l) => l.includes('not reading'));
    // Write until the server gives up on the client that does not read.
    while (!dropped() && i < 2000) {
      await good.bucket('counters').insert({ id: `c${i++}`, pad });
      if (i % 20 === 0) await good.call('settle');
    }
    expect(dropped()).toBe(true);
    expect(logs.filter((l) => l.includes('not reading'))).toHaveLength(1);
    slow.destroy();
    await good.call('settle');
    await good.call('ping');
    const end = Date.now() + 5000;
    while (events < i && Date.now() < end) await new Promise((res) => setTimeout(res, 5));
    expect(events).toBe(i);
    await good.close();
  });
});

describe('concurrent clients writing the same record', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startHttp();
  });
  afterAll(async () => {
    await r.stop();
  });

  it('a stale expectedVersion is reported as TRANSACTION_CONFLICT', async () => {
    const a = await connectWebSocket(r.address.wsUrl);
    const b = connectHttp(r.address.url);
    await a.bucket('counters').insert({ id: 'x', value: 0 });
    const va = (await a.bucket('counters').get('x'))!._version;
    const vb = (await b.bucket('counters').get('x'))!._version;
    await a.bucket('counters').update('x', { value: 1 }, { expectedVersion: va });
    const e = await rpcError(b.bucket('counters').update('x', { value: 2 }, { expectedVersion: vb }));
    expect(e.data).toMatchObject({ code: 'TRANSACTION_CONFLICT', bucket: 'counters', key: 'x' });
    expect((await b.bucket('counters').get('x'))!.value).toBe(1);
    await a.close();
  });

  it('read-modify-write increments from many clients over all transports lose nothing', async () => {
    const clients: QuireClient[] = [
      connectHttp(r.address.url),
      connectHttp(r.address.url),
      await connectWebSocket(r.address.wsUrl),
      await connectWebSocket(r.address.wsUrl),
      await connectWebSocket(r.address.wsUrl),
    ];
    await clients[0]!.bucket('counters').insert({ id: 'n', value: 0 });
    const PER = 20;
    let conflicts = 0;
    await Promise.all(
      clients.map(async (c) => {
        for (let done = 0; done < PER; ) {
          const cur = (await c.bucket('counters').get('n'))!;
          try {
            await c
              .bucket('counters')
              .update('n', { value: (cur.value as number) + 1 }, { expectedVersion: cur._version });
            done++;
          } catch (e) {
            if (!(e instanceof RpcError) || e.quireCode !== 'TRANSACTION_CONFLICT') throw e;
            conflicts++;
          }
        }
      }),
    );
    const final = (await clients[0]!.bucket('counters').get('n'))!;
    expect(final.value).toBe(clients.length * PER);
    expect(final._version).toBe(clients.length * PER + 1);
    expect(conflicts).toBeGreaterThanOrEqual(0);
    // Plain updates of different fields of the same record merge: none is lost.
    await Promise.all(clients.map((c, i) => c.bucket('counters').update('n', { [`f${i}`]: i })));
    const merged = (await clients[0]!.bucket('counters').get('n'))!;
    for (let i = 0; i < clients.length; i++) expect(merged[`f${i}`]).toBe(i);
    for (const c of clients) await c.close();
  });
});

describe('shutdown', () => {
  it('SIGTERM: the request in flight is answered, then the process exits 0', async () => {
    const ch = await stdioChannel();
    ch.child.stdin!.write('{"jsonrpc":"2.0","method":"app.slow","params":{"ms":300},"id":"slow"}\n');
    // Lines are read in order: once the ping is answered, the slow request is running.
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","id":"p"}')).toMatchObject({ id: 'p' });
    ch.child.kill('SIGTERM');
    const answer = await ch.next();
    expect(answer).toMatchObject({ id: 'slow', result: 'done' });
    expect(await ch.exited).toBe(0);
  });

  it('closing stdin: pending requests are answered, then the process exits 0', async () => {
    const ch = await stdioChannel();
    ch.child.stdin!.end('{"jsonrpc":"2.0","method":"app.slow","params":{"ms":100},"id":"last"}\n');
    expect(await ch.next()).toMatchObject({ id: 'last', result: 'done' });
    expect(await ch.exited).toBe(0);
  });

  it('in-process close(): refuses new requests, answers those in flight', async () => {
    const r = await startHttp();
    const ws = await connectWebSocket(r.address.wsUrl, { reconnect: false });
    const slow = ws.call('app.slow', { ms: 200 });
    expect(await ws.call('ping')).toBe('pong'); // the slow request is running
    const closing = r.server.close();
    const late = await rpcError(ws.call('ping'));
    expect(late.data?.code).toBe('SHUTTING_DOWN');
    expect(await slow).toBe('done');
    await closing;
    await expect(fetch(r.address.url, { method: 'POST', body: '{}' })).rejects.toThrow();
    await ws.close();
    await r.store.stop();
  });
});
