// A subscribed WebSocket client while the real server process restarts
// (`quire serve`, same store file, same port): the client defines its queries
// again, resubscribes, and the next change is pushed. A subscription that
// cannot be restored says so to its subscriber.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, connectWebSocket, ResubscribeError, RpcError } from '../../src/client/index.js';
import { watchOutput } from '../child-output.js';
import { until } from '../server/fixture.js';

const BIN = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
const ENV = { ...process.env, QUIRE_CLI_SOURCE: '1' };

let dir: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-restart-'));
  writeFileSync(
    join(dir, 'schema.yaml'),
    'users: {key: id, schema: {id: {type: string}, name: {type: string}, role: {type: string, default: user}}}\n',
  );
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `quire serve --http PORT`; resolves once it listens, with its port. */
async function serve(port: number, ...extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--db', 'app.db', '--schema', 'schema.yaml', '--http', String(port), ...extra],
    { cwd: dir, env: ENV, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  const m = await watchOutput(child).match('stderr', /HTTP http:\/\/127\.0\.0\.1:(\d+)\//);
  return { child, port: Number(m[1]) };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('subscriptions across a server restart', () => {
  it('defineQuery is idempotent over RPC; a different definition under the same name is refused', async () => {
    const s = await serve(0, '--create');
    const http = connectHttp(`http://127.0.0.1:${s.port}/rpc`);
    const config = { bucket: 'users', filter: { role: 'admin' } };
    expect(await http.defineQuery('admins', config)).toBe(true);
    // The README snippet run twice: the same definition again is fine.
    expect(await http.defineQuery('admins', { filter: { role: 'admin' }, bucket: 'users' })).toBe(true);
    const other = await http
      .defineQuery('admins', { bucket: 'users', filter: { role: 'user' } })
      .catch((e) => e);
    expect(other).toBeInstanceOf(RpcError);
    expect(other.quireCode).toBe('QUERY_ALREADY_DEFINED');
    expect(other.message).toBe('Query "admins" is already defined');
    await stop(s.child);
  });

  it('after a restart the client re-defines its queries, resubscribes, and the next change is pushed', async () => {
    const first = await serve(0);
    const url = `ws://127.0.0.1:${first.port}/rpc`;
    const errors: Error[] = [];
    let reconnects = 0;
    const ws = await connectWebSocket(url, {
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      onError: (e) => errors.push(e),
      onReconnect: () => reconnects++,
    });
    try {
      await ws.defineQuery('admins', { bucket: 'users', filter: { role: 'admin' } });
      const pushed: string[][] = [];
      const sub = await ws.subscribe<Array<{ name: string }>>('admins', undefined, (r) =>
        pushed.push(r.map((u) => u.name).sort()),
      );
      expect(sub.result).toEqual([]);
      await ws.bucket('users').insert({ id: 'a', name: 'Ann', role: 'admin' });
      await until(() => pushed.length === 1);
      expect(pushed).toEqual([['Ann']]);

      // Restart the server process on the same store file and port.
      await stop(first.child);
      const second = await serve(first.port);
      await until(() => reconnects === 1, 30_000);

      // The next change reaches the subscriber through the restarted server.
      await ws.bucket('users').insert({ id: 'b', name: 'Bea', role: 'admin' });
      await until(() => pushed.length === 2, 30_000);
      expect(pushed[1]).toEqual(['Ann', 'Bea']);
      expect(errors).toEqual([]);

      await stop(second.child);
    } finally {
      await ws.close();
    }
  });

  it('a subscription that cannot be restored ends with a ResubscribeError to its subscriber', async () => {
    const first = await serve(0);
    const url = `ws://127.0.0.1:${first.port}/rpc`;
    const admin = connectHttp(`http://127.0.0.1:${first.port}/rpc`);
    await admin.defineQuery('named', { bucket: 'users', filter: { name: 'Ann' } });
    let reconnects = 0;
    const ws = await connectWebSocket(url, {
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      onReconnect: () => reconnects++,
    });
    try {
      const lost: ResubscribeError[] = [];
      await ws.subscribe('named', undefined, () => {}, { onError: (e) => lost.push(e) });
      await stop(first.child);
      // The restarted server does not know "named": this client did not define it.
      const second = await serve(first.port);
      await until(() => reconnects === 1, 30_000);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeInstanceOf(ResubscribeError);
      expect(lost[0]!.message).toMatch(
        /subscription to "named" could not be restored.*Query "named" is not defined/,
      );
      expect((lost[0]!.cause as RpcError).quireCode).toBe('QUERY_NOT_DEFINED');
      expect((await ws.getStats()).queries.activeSubscriptions).toBe(0);
      await stop(second.child);
    } finally {
      await ws.close();
    }
  });
});
