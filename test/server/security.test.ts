// The server as a hostile page, a hostile client and a careless operator
// would meet it: cross-origin requests, content types, preflights, binding,
// token handling, backups chosen by the client, and permissions that must
// hold through cascades, references and introspection. Every client here is
// a real socket on 127.0.0.1.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectHttp, connectWebSocket, RpcError } from '../../src/client/index.js';
import { InvalidArgumentError, SQLiteAdapter, Store } from '../../src/index.js';
import { type AuthOptions, InsecureBindError, QuireServer } from '../../src/server/index.js';
import { watchOutput } from '../child-output.js';
import { type Running, startHttp, until } from './fixture.js';

const BIN = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
const ENV = { ...process.env, QUIRE_CLI_SOURCE: '1' };

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One HTTP request with exactly these headers (fetch would add or forbid some). */
function raw(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: options.path ?? u.pathname,
        method: options.method ?? 'POST',
        headers: options.headers,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const insertUser = (id: string) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'insert',
    params: { bucket: 'users', record: { id, name: id } },
  });

/** Whether a WebSocket handshake with these headers is accepted (the HTTP status when not). */
function wsHandshake(url: string, headers: Record<string, string>): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => {});
  });
}

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return e as RpcError;
  }
  throw new Error('expected the call to fail');
}

describe('browsers: origins, content type, CORS, preflights', () => {
  let r: Running;
  const ALLOWED = 'http://app.example:3000';
  beforeAll(async () => {
    r = await startHttp({ allowedOrigins: [ALLOWED] });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('a page from another origin cannot POST /rpc, not even as text/plain, and changes nothing', async () => {
    const res = await raw(r.address.url, {
      headers: { origin: 'http://evil.example', 'content-type': 'text/plain' },
      body: insertUser('evil1'),
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { code: -32002, data: { code: 'ORIGIN_NOT_ALLOWED' } } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const json = await raw(r.address.url, {
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: insertUser('evil2'),
    });
    expect(json.status).toBe(403);
    expect(await r.store.bucket('users').get('evil1')).toBeUndefined();
    expect(await r.store.bucket('users').get('evil2')).toBeUndefined();
  });

  it('POST needs Content-Type: application/json (415 otherwise), also without Origin', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await raw(r.address.url, { headers: { 'content-type': type }, body: insertUser('form') });
      expect(res.status, type).toBe(415);
      expect(res.body).toMatchObject({ error: { data: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    }
    const none = await raw(r.address.url, { body: insertUser('form') });
    expect(none.status).toBe(415);
    expect(await r.store.bucket('users').get('form')).toBeUndefined();
    const ok = await raw(r.address.url, {
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: insertUser('program'),
    });
    expect(ok.status).toBe(200);
    expect(ok.body.result).toMatchObject({ id: 'program' });
  });

  it('a listed origin gets CORS headers and a proper preflight; others get 403 to the preflight', async () => {
    const pre = await raw(r.address.url, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(String(pre.headers['access-control-allow-methods'])).toMatch(/POST/);
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toMatch(/content-type/);
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toMatch(/authorization/);
    expect(String(pre.headers.vary)).toMatch(/Origin/);
    const call = await raw(r.address.url, {
      headers: { origin: ALLOWED, 'content-type': 'application/json' },
      body: insertUser('cors'),
    });
    expect(call.status).toBe(200);
    expect(call.headers['access-control-allow-origin']).toBe(ALLOWED);
    const evilPre = await raw(r.address.url, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(evilPre.status).toBe(403);
    expect(evilPre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('same origin counts only under a loopback host name (a DNS-rebinding host does not)', async () => {
    const port = r.address.port;
    const same = await raw(r.address.url, {
      headers: {
        origin: `http://127.0.0.1:${port}`,
        host: `127.0.0.1:${port}`,
        'content-type': 'application/json',
      },
      body: insertUser('same'),
    });
    expect(same.status).toBe(200);
    const rebound = await raw(r.address.url, {
      headers: {
        origin: `http://attacker.example:${port}`,
        host: `attacker.example:${port}`,
        'content-type': 'application/json',
      },
      body: insertUser('rebound'),
    });
    expect(rebound.status).toBe(403);
    expect(await r.store.bucket('users').get('rebound')).toBeUndefined();
  });

  it('a request under a host name that is not loopback or listed is refused, GETs too (DNS rebinding)', async () => {
    const port = r.address.port;
    // A rebinding page's same-origin GET carries no Origin: the Host header is what gives it away.
    const rebound = await raw(r.address.url, {
      method: 'GET',
      path: '/health',
      headers: { host: `attacker.example:${port}` },
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatchObject({ error: { data: { code: 'HOST_NOT_ALLOWED' } } });
    const post = await raw(r.address.url, {
      headers: { host: `attacker.example:${port}`, 'content-type': 'application/json' },
      body: insertUser('rebound-no-origin'),
    });
    expect(post.status).toBe(403);
    expect(await r.store.bucket('users').get('rebound-no-origin')).toBeUndefined();
    expect(await wsHandshake(r.address.wsUrl, { host: `attacker.example:${port}` })).toBe(403);
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      'app.example:3000',
      'LOCALHOST',
    ])
      expect((await raw(r.address.url, { method: 'GET', path: '/health', headers: { host } })).status).toBe(
        200,
      );
  });

  it('WebSocket upgrades from a disallowed Origin are refused; listed, same and no Origin work', async () => {
    expect(await wsHandshake(r.address.wsUrl, { origin: 'http://evil.example' })).toBe(403);
    expect(await wsHandshake(r.address.wsUrl, { origin: 'null' })).toBe(403);
    expect(await wsHandshake(r.address.wsUrl, { origin: ALLOWED })).toBe('open');
    expect(await wsHandshake(r.address.wsUrl, {})).toBe('open');
    const c = await connectWebSocket(r.address.wsUrl, { reconnect: false });
    expect(await c.call('ping')).toBe('pong');
    await c.close();
  });

  it('allowedOrigins must be origins', () => {
    expect(() => new QuireServer({ store: r.store, allowedOrigins: ['not a url'] })).toThrow(TypeError);
    expect(() => new QuireServer({ store: r.store, allowedOrigins: ['http://a.example/path'] })).toThrow(
      TypeError,
    );
  });
});

describe('oversized requests', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startHttp({ maxRequestBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('a client still sending a huge body reads the 413, with Connection: close', async () => {
    for (let round = 0; round < 4; round++) {
      const sock = connect(r.address.port, '127.0.0.1');
      await new Promise<void>((res, rej) => {
        sock.once('connect', () => res());
        sock.once('error', rej);
      });
      let received = '';
      let writeError: string | undefined;
      sock.on('error', (e) => {
        writeError = (e as NodeJS.ErrnoException).code;
      });
      const closed = new Promise<void>((res) => sock.on('close', () => res()));
      // Like a client that uploads first and reads the answer afterwards.
      sock.pause();
      const chunked = round % 2 === 1;
      sock.write(
        `POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${4 * 1024 * 1024}`}\r\n\r\n`,
      );
      const block = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 64 && !sock.destroyed; i++) {
        const frame = chunked
          ? Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from('\r\n')])
          : block;
        await new Promise<void>((res) => sock.write(frame, () => res()));
      }
      sock.on('data', (d) => {
        received += d.toString('latin1');
      });
      sock.resume();
      await Promise.race([closed, until(() => received.includes('REQUEST_TOO_LARGE'), 3000).catch(() => {})]);
      sock.destroy();
      expect(writeError, `round ${round}: the upload failed`).toBeUndefined();
      expect(received, `round ${round}`).toMatch(/^HTTP\/1\.1 413/);
      expect(received.toLowerCase()).toContain('connection: close');
      expect(received).toContain('REQUEST_TOO_LARGE');
    }
    // The server still works.
    expect(await connectHttp(r.address.url).call('ping')).toBe('pong');
  });
});

describe('binding and tokens', () => {
  it('listen() on a non-loopback address without auth is refused unless insecure (with a warning)', async () => {
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    const logs: string[] = [];
    try {
      const plain = new QuireServer({ store, log: (l, m) => logs.push(`${l} ${m}`) });
      await expect(plain.listen({ host: '0.0.0.0' })).rejects.toBeInstanceOf(InsecureBindError);
      await expect(plain.listen({ host: '::' })).rejects.toMatchObject({ code: 'INSECURE_BIND' });
      // Loopback is fine.
      expect((await plain.listen({ host: '127.0.0.1' })).host).toBe('127.0.0.1');
      await plain.close();
      const withAuth = new QuireServer({
        store,
        log: () => {},
        auth: { tokens: { t: { identity: 'x', read: '*' } } },
      });
      await withAuth.listen({ host: '0.0.0.0' });
      await withAuth.close();
      const insecure = new QuireServer({ store, insecure: true, log: (l, m) => logs.push(`${l} ${m}`) });
      await insecure.listen({ host: '0.0.0.0' });
      await insecure.close();
      expect(logs.some((l) => l.startsWith('warn') && /without auth/.test(l))).toBe(true);
    } finally {
      await store.stop();
    }
  });

  it('tokens are never logged, not by failing verification nor in errors', async () => {
    const secret = 'tok-SECRET-4f7a9c';
    const logs: string[] = [];
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    const server = new QuireServer({
      store,
      log: (l, m) => logs.push(`${l} ${m}`),
      auth: {
        verify: (t) => {
          if (t.startsWith('boom')) throw new Error('lookup service down');
          return t === secret ? { identity: 'ok', read: '*' } : undefined;
        },
      },
    });
    const { url, wsUrl } = await server.listen();
    try {
      await rpcError(connectHttp(url, { token: `${secret}x` }).call('ping'));
      await rpcError(connectHttp(url, { token: `boom-${secret}` }).call('ping'));
      expect(await connectHttp(url, { token: secret }).call('ping')).toBe('pong');
      const ws = await connectWebSocket(wsUrl, { reconnect: false });
      await rpcError(ws.call('authenticate', { token: `boom-${secret}` }));
      await ws.close();
      expect(logs.join('\n')).not.toContain(secret);
    } finally {
      await server.close();
      await store.stop();
    }
  });
});

describe('backups chosen by the client', () => {
  let dir: string;
  let store: Store;
  let server: QuireServer;
  let url: string;
  const admin = () => connectHttp(url, { token: 'admin' });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quire-backupdir-'));
    store = await Store.start({
      name: 'b',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(join(dir, 'store.db')), durability: 'strict' },
    });
    await store.defineBucket('notes', {
      key: 'id',
      schema: { id: { type: 'string' }, text: { type: 'string' } },
    });
    server = new QuireServer({
      store,
      log: () => {},
      backupDir: join(dir, 'backups'),
      auth: {
        tokens: {
          admin: { identity: 'root', read: '*', write: '*', admin: true },
          writer: { identity: 'w', read: '*', write: '*' },
        },
      },
    });
    url = (await server.listen()).url;
  });
  afterAll(async () => {
    await server.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('over the server: only plain file names, into the backup directory', async () => {
    for (let i = 0; i < 15; i++)
      await admin()
        .bucket('notes')
        .insert({ id: `n${i}`, text: 'x' });
    const bad = [
      '../escape.db',
      '/tmp/abs.db',
      `${dir}/store.db-wal`,
      '/proc/self/cwd/x.db',
      'sub/x.db',
      '..',
      '.',
      'a\\b.db',
      'nul\0.db',
    ];
    for (const file of bad) {
      const e = await rpcError(admin().call('backupTo', { file }));
      expect(e.data?.code, file).toBe('INVALID_PARAMS');
    }
    // The old `path` parameter is held to the same rule.
    expect(
      (await rpcError(admin().call('backupTo', { path: join(dir, 'store.db-wal') } as never))).data?.code,
    ).toBe('INVALID_PARAMS');
    expect(existsSync(join(dir, 'escape.db'))).toBe(false);
    const ok = (await admin().call('backupTo', { file: 'nightly.db' })) as { path: string };
    expect(ok.path).toBe(join(dir, 'backups', 'nightly.db'));
    expect(statSync(ok.path).size).toBeGreaterThan(0);
    // Admin only.
    expect(
      (await rpcError(connectHttp(url, { token: 'writer' }).call('backupTo', { file: 'w.db' }))).data?.code,
    ).toBe('FORBIDDEN');
  });

  it('a symlink planted in the backup directory (to the WAL) is refused; the data survives', async () => {
    symlinkSync(join(dir, 'store.db-wal'), join(dir, 'backups', 'planted.db'));
    const e = await rpcError(admin().call('backupTo', { file: 'planted.db', overwrite: true }));
    expect(e.code).toBe(-32602);
    expect(await store.bucket('notes').count()).toBe(15);
    // A fresh reader sees every acknowledged record.
    const reader = await Store.start({
      name: 'b',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(join(dir, 'store.db'), { readOnly: true }) },
    });
    await reader.defineBucket('notes', {
      key: 'id',
      schema: { id: { type: 'string' }, text: { type: 'string' } },
    });
    expect(await reader.bucket('notes').count()).toBe(15);
    await reader.stop();
  });

  it('store.backupTo keeps full paths but refuses the store files, by device + inode', async () => {
    const db = join(dir, 'store.db');
    writeFileSync(join(dir, 'unrelated'), 'x');
    symlinkSync(db, join(dir, 'link-to-db'));
    symlinkSync(`${db}-wal`, join(dir, 'link-to-wal'));
    symlinkSync(dir, join(dir, 'loop'));
    const own = [
      db,
      `${db}-wal`,
      `${db}-shm`,
      `${db}.lock`,
      `${db}.lock.os`,
      `${db}-journal`,
      join(dir, 'backups', '..', 'store.db-wal'),
      `/proc/self/root${db}-wal`,
      `/proc/self/cwd/${relative(process.cwd(), `${db}-wal`)}`,
      join(dir, 'link-to-db'),
      join(dir, 'link-to-wal'),
      join(dir, 'loop', 'store.db-shm'),
      join(dir, 'loop', 'store.db.lock'),
    ];
    for (const target of own) {
      await expect(store.backupTo(target, { overwrite: true }), target).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    const elsewhere = await store.backupTo(join(dir, 'loop', 'copy.db'));
    expect(elsewhere.bytes).toBeGreaterThan(0);
    expect(await store.bucket('notes').count()).toBe(15);
  });
});

// ── Permissions ──────────────────────────────────────────────────────

const AUTH: AuthOptions = {
  tokens: {
    root: { identity: 'root', read: '*', write: '*', admin: true },
    // May write projects only; tasks reference projects and cascade.
    projects: { identity: 'pm', write: ['projects'] },
    // May write tasks only: must not learn which projects exist.
    tasks: { identity: 'tm', write: ['tasks'] },
    both: { identity: 'lead', write: ['projects', 'tasks'] },
    readTasks: { identity: 'viewer', read: ['tasks'] },
  },
};

describe('permissions through cascades, references and introspection', () => {
  let store: Store;
  let server: QuireServer;
  let url: string;
  const as = (token: string) => connectHttp(url, { token });
  beforeAll(async () => {
    store = await Store.start({ ttlCheckIntervalMs: 0 });
    await store.defineBucket('projects', {
      key: 'id',
      schema: { id: { type: 'string' }, name: { type: 'string' } },
    });
    await store.defineBucket('tasks', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        project: { type: 'string', ref: 'projects', onDelete: 'cascade' },
      },
      history: true,
    });
    await store.defineBucket('notes', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        project: { type: 'string', ref: 'projects', onDelete: 'set_null' },
      },
    });
    store.defineDeclarativeQuery('allProjects', { bucket: 'projects' });
    store.defineDeclarativeQuery('allTasks', { bucket: 'tasks' });
    server = new QuireServer({ store, log: () => {}, auth: AUTH });
    url = (await server.listen()).url;
    const root = as('root');
    await root.bucket('projects').insertMany([
      { id: 'p1', name: 'One' },
      { id: 'p2', name: 'Two' },
      { id: 'p3', name: 'Three' },
    ]);
    await root.bucket('tasks').insertMany([
      { id: 't1', project: 'p1' },
      { id: 't2', project: 'p1' },
    ]);
    await root.bucket('notes').insert({ id: 'n1', project: 'p2' });
  });
  afterAll(async () => {
    await server.close();
    await store.stop();
  });

  it('a delete that cascades into a bucket the caller may not write fails and changes nothing', async () => {
    const e = await rpcError(as('projects').bucket('projects').delete('p1'));
    expect(e.data).toMatchObject({ code: 'FORBIDDEN', access: 'write', bucket: 'tasks' });
    expect(await store.bucket('projects').get('p1')).toBeDefined();
    expect(await store.bucket('tasks').count()).toBe(2);
    // set null into notes is a write to notes as well.
    const n = await rpcError(as('projects').bucket('projects').delete('p2'));
    expect(n.data).toMatchObject({ code: 'FORBIDDEN', bucket: 'notes' });
    expect((await store.bucket('notes').get('n1'))?.project).toBe('p2');
    // The same through deleteMany, clear and a transaction.
    expect((await rpcError(as('projects').bucket('projects').deleteMany({ id: 'p1' }))).data?.code).toBe(
      'FORBIDDEN',
    );
    expect((await rpcError(as('projects').bucket('projects').clear())).data?.code).toBe('FORBIDDEN');
    expect(
      (await rpcError(as('projects').transaction([{ op: 'delete', bucket: 'projects', key: 'p1' }] as never)))
        .data?.code,
    ).toBe('FORBIDDEN');
    expect(await store.bucket('projects').count()).toBe(3);
    expect(await store.bucket('tasks').count()).toBe(2);
    // Nobody else is named in the tasks' history.
    const h = (await as('root').call('history', { bucket: 'tasks', key: 't1' })) as Array<{ actor: string }>;
    expect(h.map((x) => x.actor)).not.toContain('pm');
    // A token that may write both buckets cascades, as the actor.
    await as('both').bucket('projects').delete('p1');
    expect(await store.bucket('tasks').count()).toBe(0);
    const after = (await as('root').call('history', { bucket: 'tasks', key: 't1' })) as Array<{
      op: string;
      actor: string;
    }>;
    expect(after[0]).toMatchObject({ op: 'delete', actor: 'lead' });
  });

  it('reference checks do not reveal which keys exist in a bucket the caller cannot read', async () => {
    const tm = as('tasks');
    const existing = await rpcError(tm.bucket('tasks').insert({ id: 't9', project: 'p3' }));
    const missing = await rpcError(tm.bucket('tasks').insert({ id: 't9', project: 'nope' }));
    expect(existing.data).toMatchObject({ code: 'FORBIDDEN', access: 'read', bucket: 'projects' });
    expect(missing.data).toEqual(existing.data);
    expect(missing.message).toBe(existing.message);
    // Through update and a transaction the same.
    await as('root').bucket('tasks').insert({ id: 't8' });
    const u1 = await rpcError(tm.bucket('tasks').update('t8', { project: 'p3' }));
    const u2 = await rpcError(tm.bucket('tasks').update('t8', { project: 'nope' }));
    expect(u1.data).toEqual(u2.data);
    expect(await store.bucket('tasks').get('t9')).toBeUndefined();
    // Writes without a reference still work.
    expect((await tm.bucket('tasks').insert({ id: 't10' })).id).toBe('t10');
  });

  it('introspection reveals only readable buckets and their queries; hasBucket needs read', async () => {
    const viewer = as('readTasks');
    const stats = (await viewer.call('getStats')) as {
      buckets: { names: string[]; count: number };
      records: { total: number; perBucket: Record<string, number> };
      queries: { defined: number };
    };
    expect(stats.buckets.names).toEqual(['tasks']);
    expect(stats.buckets.count).toBe(1);
    expect(Object.keys(stats.records.perBucket)).toEqual(['tasks']);
    expect(stats.records.total).toBe(await store.bucket('tasks').count());
    expect(stats.queries.defined).toBe(1);
    const queries = (await viewer.call('listQueries')) as Array<{ name: string }>;
    expect(queries.map((q) => q.name)).toEqual(['allTasks']);
    expect(await viewer.call('hasBucket', { name: 'tasks' })).toBe(true);
    // Same answer for an existing unreadable bucket and a missing one.
    const a = await rpcError(viewer.call('hasBucket', { name: 'projects' }));
    const b = await rpcError(viewer.call('hasBucket', { name: 'ghost' }));
    expect(a.data?.code).toBe('FORBIDDEN');
    expect(b.data?.code).toBe('FORBIDDEN');
    // Admin sees everything.
    expect(((await as('root').call('getStats')) as { buckets: { count: number } }).buckets.count).toBe(3);
  });

  it('definitions, backups and restore need admin', async () => {
    const lead = as('both');
    const calls: Array<[string, unknown]> = [
      ['defineBucket', { name: 'x', definition: { key: 'id', schema: { id: { type: 'string' } } } }],
      ['dropBucket', { name: 'tasks' }],
      ['updateBucket', { name: 'tasks', updates: { addIndexes: ['project'] } }],
      ['createBackup', {}],
      ['restoreBackup', { name: 'x' }],
      ['listBackups', {}],
      ['deleteBackup', { name: 'x' }],
      ['backupTo', { file: 'x.db' }],
    ];
    for (const [method, params] of calls)
      expect((await rpcError(lead.call(method as never, params as never))).data?.code, method).toBe(
        'FORBIDDEN',
      );
    expect(store.hasBucket('tasks')).toBe(true);
  });
});

// ── The CLI ──────────────────────────────────────────────────────────

const children = new Set<ChildProcess>();

function serve(
  args: string[],
  cwd: string,
): { child: ChildProcess; listening: Promise<string>; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'serve', '--create', ...args], {
    cwd,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const out = watchOutput(child);
  const listening = out.match('stderr', /HTTP (http:\/\/\S+)/).then((m) => m[1]!);
  listening.catch(() => {});
  return { child, listening, stderr: () => out.text('stderr'), exited: out.exited };
}

describe('quire serve: --host, --insecure, --allowed-origin, --backup-dir', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'quire-secure-cli-'));
  });
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a bad auth file is reported without printing any part of a token', async () => {
    const token = 'Zq9-VERY-SECRET-token';
    writeFileSync(join(dir, 'auth.json'), JSON.stringify({ tokens: { [token]: { read: '*' } } }));
    const s = serve(['--db', 'auth.db', '--auth', 'auth.json', '--http', '0'], dir);
    expect(await s.exited).toBe(2);
    expect(s.stderr()).toMatch(/needs an "identity"/);
    expect(s.stderr()).not.toContain(token.slice(0, 3));
  });

  it('a non-loopback --host without --auth is refused (exit 2); with --insecure it starts and warns', async () => {
    const refused = serve(['--db', 'a.db', '--host', '0.0.0.0', '--http', '0'], dir);
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toMatch(/without auth/);
    const insecure = serve(['--db', 'a.db', '--host', '0.0.0.0', '--http', '0', '--insecure'], dir);
    const url = await insecure.listening;
    expect(insecure.stderr()).toMatch(/warn.*without auth/i);
    expect(await connectHttp(url.replace('0.0.0.0', '127.0.0.1')).call('ping')).toBe('pong');
    insecure.child.kill('SIGTERM');
    expect(await insecure.exited).toBe(0);
  });

  it('--allowed-origin (repeatable) and --backup-dir (default <db>.backups/)', async () => {
    const s = serve(
      [
        '--db',
        'b.db',
        '--http',
        '0',
        '--allowed-origin',
        'http://one.example',
        '--allowed-origin',
        'http://two.example',
      ],
      dir,
    );
    const url = await s.listening;
    for (const origin of ['http://one.example', 'http://two.example']) {
      const ok = await raw(url, {
        headers: { origin, 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      });
      expect(ok.status).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe(origin);
    }
    const evil = await raw(url, {
      headers: { origin: 'http://three.example', 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(evil.status).toBe(403);
    const backup = (await connectHttp(url).call('backupTo', { file: 'one.db' })) as { path: string };
    expect(backup.path).toBe(join(dir, 'b.db.backups', 'one.db'));
    expect(existsSync(backup.path)).toBe(true);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });
});
