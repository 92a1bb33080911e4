// Logs and metrics of a running server: `quire serve` (the real binary) logs
// one JSON line per request on stderr (names, outcome, time, identity; never
// record contents or tokens), `--log-level` filters them, `GET /metrics`
// speaks the Prometheus text format (parsed here by a Prometheus parser) and
// is guarded by the same tokens as the RPC endpoint.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, connectWebSocket, RpcError, spawnStdio } from '../../src/client/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import { BIN, cliRunner, ENV } from '../cli/run.js';
import { FlakyAdapter, tempDir, waitFor } from '../persistence/helpers.js';

const ADMIN_TOKEN = 'tok-admin-5f1e9a77c3';
const USERS_TOKEN = 'tok-users-only-90d2b4';
const SECRET = 'very-private-note-3141';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-observe-'));
  writeFileSync(
    join(dir, 'schema.yaml'),
    [
      'buckets:',
      '  users:',
      '    key: id',
      '    schema:',
      '      id: { type: string }',
      '      name: { type: string, required: true }',
      '      note: { type: string }',
      '  notes:',
      '    key: id',
      '    schema:',
      '      id: { type: string }',
      '      text: { type: string }',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'auth.yaml'),
    [
      'tokens:',
      `  ${ADMIN_TOKEN}: { identity: ops, read: '*', write: '*', admin: true }`,
      `  ${USERS_TOKEN}: { identity: clerk, write: [users] }`,
    ].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const cli = cliRunner(() => dir);

/** `quire serve … --http 0`: the child, its URL, and its stderr (and any stdout, marked) so far. */
async function serveHttp(
  ...args: string[]
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const s = await cli.serveHttp(...args);
  children.push(s.child);
  let out = '';
  s.child.stdout!.on('data', (d) => {
    out += d;
  });
  return { child: s.child, url: s.url, stderr: () => s.stderr() + (out !== '' ? `\nSTDOUT:${out}` : '') };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

/** The JSON lines of a log (other stderr lines are the CLI's own messages). */
function jsonLines(text: string): Array<Record<string, any>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

type Families = ReturnType<typeof parsePrometheus>;

async function scrape(url: string, token?: string): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(url.replace(/rpc$/, 'metrics'), {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

async function metrics(url: string, token?: string): Promise<Families> {
  const r = await scrape(url, token);
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain/);
  return parsePrometheus(r.text);
}

/** A sample's value; labels must match exactly those given. 0 when the series does not exist yet. */
function sample(families: Families, name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const s = family.metrics.find(
    (m) =>
      Object.keys(labels).length === Object.keys(m.labels ?? {}).length &&
      Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  return s === undefined ? 0 : Number(s.value);
}

/** A histogram's observation count (unlabelled histograms). */
function observations(families: Families, name: string): number {
  const family = families.find((f) => f.name === name);
  if (family === undefined || family.type !== 'HISTOGRAM') throw new Error(`no histogram ${name}`);
  return Number(family.metrics[0]?.count ?? 0);
}

describe('quire serve: logs and metrics', { timeout: 120_000 }, () => {
  it('one JSON line per request on stderr, /metrics moves with requests, auth guards it', async () => {
    const s = await serveHttp(
      '--db',
      'observed.db',
      '--create',
      '--schema',
      'schema.yaml',
      '--auth',
      'auth.yaml',
    );
    const { url } = s;
    // Without a token, with a bad one, with one that may not read every bucket: refused.
    expect((await scrape(url)).status).toBe(401);
    expect((await scrape(url, 'not-a-token')).status).toBe(401);
    const forbidden = await scrape(url, USERS_TOKEN);
    expect(forbidden.status).toBe(403);
    expect(forbidden.text).not.toContain('quire_');

    const before = await metrics(url, ADMIN_TOKEN);
    expect(before.map((f) => f.name).every((n) => n.startsWith('quire_'))).toBe(true);
    const insertsBefore = sample(before, 'quire_requests_total', { method: 'insert', outcome: 'ok' });
    const requestsBefore = observations(before, 'quire_request_duration_seconds');

    const admin = connectHttp(url, { token: ADMIN_TOKEN });
    const clerk = connectHttp(url, { token: USERS_TOKEN });
    cleanups.push(
      () => admin.close(),
      () => clerk.close(),
    );
    await admin.bucket('users').insert({ id: 'u1', name: 'Ann', note: SECRET });
    await admin.bucket('users').insert({ id: 'u2', name: 'Bob' });
    await clerk.bucket('users').update('u2', { note: `${SECRET}-2` });
    const invalid = await admin
      .bucket('users')
      .insert({ id: 'u3' } as never)
      .catch((e) => e);
    expect(invalid).toBeInstanceOf(RpcError);
    const refused = await clerk
      .bucket('notes')
      .insert({ id: 'n1', text: SECRET })
      .catch((e) => e);
    expect((refused as RpcError).quireCode).toBe('FORBIDDEN');
    expect((await admin.bucket('users').get('u1'))?.note).toBe(SECRET);
    await admin.request('noSuchMethod', { bucket: 'users' }).catch(() => {});

    // A live WebSocket subscription shows as a connection and a subscription.
    const ws = await connectWebSocket(url.replace(/^http/, 'ws'), { token: ADMIN_TOKEN });
    cleanups.push(() => ws.close());
    await ws.defineQuery('everyone', { bucket: 'users' });
    await ws.subscribe('everyone', undefined, () => {});

    const after = await metrics(url, ADMIN_TOKEN);
    expect(sample(after, 'quire_requests_total', { method: 'insert', outcome: 'ok' })).toBe(
      insertsBefore + 2,
    );
    expect(sample(after, 'quire_requests_total', { method: 'insert', outcome: 'VALIDATION' })).toBe(1);
    expect(sample(after, 'quire_requests_total', { method: 'insert', outcome: 'FORBIDDEN' })).toBe(1);
    expect(sample(after, 'quire_requests_total', { method: 'update', outcome: 'ok' })).toBe(1);
    expect(sample(after, 'quire_requests_total', { method: '(unknown)', outcome: 'METHOD_NOT_FOUND' })).toBe(
      1,
    );
    // The client's unknown method name never becomes a label.
    expect(
      after.find((f) => f.name === 'quire_requests_total')!.metrics.map((m) => m.labels?.method),
    ).not.toContain('noSuchMethod');
    expect(observations(after, 'quire_request_duration_seconds')).toBeGreaterThanOrEqual(requestsBefore + 8);
    // Three strict writes were committed (a commit may carry several).
    expect(observations(after, 'quire_commit_duration_seconds')).toBeGreaterThanOrEqual(1);
    const group = after.find((f) => f.name === 'quire_commit_group_size')!.metrics[0]!;
    expect(Number(group.sum)).toBe(3);
    expect(sample(after, 'quire_records', { bucket: 'users' })).toBe(2);
    expect(sample(after, 'quire_records', { bucket: 'notes' })).toBe(0);
    expect(sample(after, 'quire_open_connections', { transport: 'ws' })).toBe(1);
    expect(sample(after, 'quire_subscriptions')).toBe(1);
    expect(sample(after, 'quire_storage_errors_total')).toBe(0);
    expect(sample(after, 'quire_storage_degraded')).toBe(0);
    expect(after.find((f) => f.name === 'quire_wal_bytes')?.type).toBe('GAUGE');

    const health = (await (await fetch(url.replace(/rpc$/, 'health'))).json()) as any;
    expect(health).toMatchObject({ status: 'ok', storage: { state: 'ok', errors: 0 } });

    expect(await stop(s.child)).toBe(0);
    const log = s.stderr();
    expect(log).not.toContain('STDOUT:');
    const lines = jsonLines(log);
    const requests = lines.filter((l) => l.msg === 'request');
    const inserts = requests.filter((l) => l.method === 'insert');
    expect(inserts.map((l) => l.outcome).sort()).toEqual(['FORBIDDEN', 'VALIDATION', 'ok', 'ok']);
    for (const l of requests) {
      expect(l.level).toBe('info');
      expect(typeof l.durationMs).toBe('number');
      expect(['http', 'ws']).toContain(l.transport);
    }
    expect(inserts.find((l) => l.outcome === 'FORBIDDEN')).toMatchObject({
      bucket: 'notes',
      identity: 'clerk',
      transport: 'http',
    });
    expect(requests.find((l) => l.method === 'update')).toMatchObject({ bucket: 'users', identity: 'clerk' });
    expect(requests.find((l) => l.method === 'subscribe')).toMatchObject({
      identity: 'ops',
      transport: 'ws',
    });
    // Nothing of what was written or sent as credentials.
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(ADMIN_TOKEN);
    expect(log).not.toContain(USERS_TOKEN);
    expect(log).not.toContain('Ann');
  });

  it('--log-level warn keeps request lines out; stdio serving keeps stdout for the protocol', async () => {
    const s = await serveHttp(
      '--db',
      'quiet.db',
      '--create',
      '--schema',
      'schema.yaml',
      '--log-level',
      'warn',
    );
    const c = connectHttp(s.url);
    cleanups.push(() => c.close());
    await c.bucket('users').insert({ id: 'q', name: 'Quinn' });
    await c
      .bucket('users')
      .insert({ id: 'q', name: 'Quinn' })
      .catch(() => {});
    // The requests did reach the server: its metrics counted them.
    expect(sample(await metrics(s.url), 'quire_requests_total', { method: 'insert', outcome: 'ok' })).toBe(1);
    expect(await stop(s.child)).toBe(0);
    expect(jsonLines(s.stderr()).filter((l) => l.msg === 'request')).toEqual([]);

    const bad = await cli.quire('serve', '--db', 'quiet.db', '--log-level', 'loud');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--log-level/);

    // Over stdio at debug level: every stdout line is protocol (the client would report anything else).
    const unreadable: Error[] = [];
    const stdio = await spawnStdio(
      process.execPath,
      [BIN, 'serve', '--db', 'quiet.db', '--log-level', 'debug'],
      {
        cwd: dir,
        env: ENV,
        stderr: 'pipe',
        onError: (e) => unreadable.push(e),
      },
    );
    cleanups.push(() => stdio.close());
    await stdio.bucket('users').insert({ id: 'r', name: 'Rita' });
    expect(await stdio.bucket('users').count()).toBe(2);
    await stdio.close();
    expect(unreadable).toEqual([]);
    const requests = jsonLines(stdio.stderrText).filter((l) => l.msg === 'request');
    expect(requests.map((l) => l.method)).toEqual(expect.arrayContaining(['ping', 'insert', 'count']));
    expect(requests.every((l) => l.transport === 'stdio')).toBe(true);
    expect(stdio.stderrText).not.toContain('Rita');
  });
});

describe('QuireServer metrics in one process', () => {
  it('two servers keep their own counts; storage errors and degraded state are counted', async () => {
    const flaky = new FlakyAdapter(new SQLiteAdapter(join(tempDir(), 'm.db')));
    const failing = await Store.start({
      name: 'm',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: flaky, durability: 'debounced', debounceMs: 5, onError: () => {} },
    });
    await failing.defineBucket('items', { key: 'id', schema: { id: { type: 'string' } } });
    const file = join(tempDir(), 'w.db');
    const healthy = await Store.start({
      name: 'w',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    await healthy.defineBucket('items', { key: 'id', schema: { id: { type: 'string' } } });
    const lines: string[] = [];
    const a = new QuireServer({
      store: failing,
      logLevel: 'info',
      logStream: { write: (l) => lines.push(l) },
    });
    const b = new QuireServer({
      store: healthy,
      logLevel: 'error',
      logStream: { write: (l) => lines.push(l) },
    });
    const [ua, ub] = [(await a.listen()).url, (await b.listen()).url];
    cleanups.push(
      () => failing.stop(),
      () => healthy.stop(),
      () => a.close(),
      () => b.close(),
    );
    flaky.failing = true;
    await connectHttp(ua).bucket('items').insert({ id: 'x' });
    for (let i = 0; i < 3; i++)
      await connectHttp(ub)
        .bucket('items')
        .insert({ id: `y${i}` });
    await waitFor(() => failing.storageStatus()?.state === 'degraded', 'degraded');

    const ma = await metrics(ua);
    const mb = await metrics(ub);
    expect(sample(ma, 'quire_requests_total', { method: 'insert', outcome: 'ok' })).toBe(1);
    expect(sample(mb, 'quire_requests_total', { method: 'insert', outcome: 'ok' })).toBe(3);
    expect(sample(ma, 'quire_storage_errors_total')).toBeGreaterThanOrEqual(1);
    expect(sample(ma, 'quire_storage_degraded')).toBe(1);
    expect(sample(mb, 'quire_storage_errors_total')).toBe(0);
    expect(observations(mb, 'quire_commit_duration_seconds')).toBeGreaterThanOrEqual(3);
    // The WAL gauge is the -wal file's size (nothing writes between the scrape and the stat).
    expect(sample(mb, 'quire_wal_bytes')).toBe(statSync(`${file}-wal`).size);
    expect(sample(mb, 'quire_wal_bytes')).toBeGreaterThan(0);
    const health = (await (await fetch(ua.replace(/rpc$/, 'health'))).json()) as any;
    expect(health.status).toBe('degraded');
    expect(health.storage.lastError).toMatch(/ENOSPC/);

    // Only server a logs request lines (info); b logs errors only.
    const logged = lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.msg === 'request');
    expect(logged.every((l) => l.connection !== undefined && l.method !== undefined)).toBe(true);
    expect(logged.filter((l) => l.method === 'insert')).toHaveLength(1);
    flaky.failing = false;
    expect(() => new QuireServer({ store: healthy, logLevel: 'verbose' as never })).toThrow(/logLevel/);
  });
});
