// Several Quire processes on one PostgreSQL database, with real faults:
// counters incremented from 3 processes, a unique value raced for by 2, a
// reactive query in one process following another's writes, an instance
// killed with SIGKILL under load, and PostgreSQL itself stopped and
// restarted under load (on a private cluster).
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { pgSchema, waitFor } from '../persistence/helpers.js';
import { startCluster } from './cluster.js';

const fixture = path.join(import.meta.dirname, '..', 'fixtures', 'pg-instance.ts');

interface Instance {
  readonly child: ChildProcess;
  readonly out: Array<Record<string, any>>;
  readonly exited: Promise<number | null>;
  go(): void;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function spawnInstance(url: string, schema: string, job: string, arg = ''): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, url, schema, job, arg], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const out: Array<Record<string, any>> = [];
  const ready = new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l === 'ready') resolve();
      else out.push(JSON.parse(l));
    });
    child.on('exit', (code) => reject(new Error(`instance exited (${code}) before ready: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await ready;
  return { child, out, exited, go: () => child.stdin!.write('go\n') };
}

async function query(url: string, text: string): Promise<any[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

describe('instances in separate processes', () => {
  it('3 processes increment one counter in transactions: the final value is the number of increments', async () => {
    const url = inject('pgUrl');
    const schema = pgSchema();
    const nodes = await Promise.all([1, 2, 3].map(() => spawnInstance(url, schema, 'counter', '20')));
    for (const n of nodes) n.go();
    const codes = await Promise.all(nodes.map((n) => n.exited));
    expect(codes).toEqual([0, 0, 0]);
    const done = nodes.map((n) => n.out.at(-1)!);
    expect(done.map((d) => d.done)).toEqual([20, 20, 20]);
    const rows = await query(url, `SELECT data FROM "${schema}".quire_records WHERE key = '"hits"'`);
    expect(JSON.parse(rows[0].data).n).toBe(60);
    // They really raced: some attempts were refused and retried.
    expect(done.reduce((s, d) => s + d.conflicts, 0)).toBeGreaterThan(0);
  });

  it('2 processes racing to insert the same unique email: exactly one wins', async () => {
    const url = inject('pgUrl');
    const schema = pgSchema();
    const nodes = await Promise.all([1, 2].map(() => spawnInstance(url, schema, 'unique', 'race@x.io')));
    for (const n of nodes) n.go();
    await Promise.all(nodes.map((n) => n.exited));
    const results = nodes.map((n) => n.out.at(-1));
    expect(results.filter((r) => r?.won === true)).toHaveLength(1);
    expect(results.filter((r) => r?.error === 'UNIQUE_CONSTRAINT')).toHaveLength(1);
    expect(await query(url, `SELECT count(*)::int AS n FROM "${schema}".quire_records`)).toEqual([{ n: 1 }]);
  });

  it("a reactive query in process A follows process B's writes; SIGKILL of a writer leaves the others going", async () => {
    const url = inject('pgUrl');
    const schema = pgSchema();
    const watcher = await spawnInstance(url, schema, 'watch');
    watcher.go();
    const a = await spawnInstance(url, schema, 'load', 'a');
    const b = await spawnInstance(url, schema, 'load', 'b');
    a.go();
    b.go();
    await waitFor(() => a.out.length > 50 && b.out.length > 50, 'both writing');
    a.child.kill('SIGKILL');
    await a.exited;
    const bAtKill = b.out.length;
    await waitFor(() => b.out.length > bAtKill + 100, 'B carries on after A was killed');
    b.child.kill('SIGTERM');
    await b.exited;
    const acked = [...a.out, ...b.out].filter((x) => x.ack !== undefined).map((x) => x.ack as string);
    expect([...a.out, ...b.out].filter((x) => x.rejected !== undefined)).toEqual([]);
    const stored = new Set(
      (await query(url, `SELECT key FROM "${schema}".quire_records`)).map((r) => JSON.parse(r.key) as string),
    );
    // Every acknowledged write is stored, also those of the killed instance.
    for (const id of acked) expect(stored.has(id), id).toBe(true);
    // The watcher's reactive query reaches the stored count.
    await waitFor(
      () => watcher.out.at(-1)?.count === stored.size,
      "the watcher's count reaches the stored count",
    );
  });

  it('PostgreSQL stopped and restarted under load: instances reconnect; every acknowledged write is stored', async () => {
    const cluster = await startCluster();
    try {
      const url = cluster.url;
      const schema = 'app';
      const watcher = await spawnInstance(url, schema, 'watch');
      watcher.go();
      const a = await spawnInstance(url, schema, 'load', 'a');
      const b = await spawnInstance(url, schema, 'load', 'b');
      a.go();
      b.go();
      await waitFor(() => a.out.length > 30 && b.out.length > 30, 'both writing');
      cluster.stopServer('fast');
      // Replies of commits that finished before the server went down may still be in the pipes.
      await new Promise((r) => setTimeout(r, 300));
      const atStop = a.out.length + b.out.length;
      await new Promise((r) => setTimeout(r, 1000));
      // Nothing can be acknowledged while the database is down (strict writes wait for it).
      expect(a.out.length + b.out.length).toBeLessThanOrEqual(atStop + 8);
      cluster.startServer();
      await waitFor(
        () => a.out.length > atStop / 2 + 60 && b.out.length > atStop / 2 + 60,
        `both acknowledge writes again after the restart (a: ${a.out.length}, b: ${b.out.length}, at stop ${atStop})`,
        30_000,
      );
      for (const n of [a, b]) n.child.kill('SIGKILL');
      await Promise.all([a.exited, b.exited]);
      const all = [...a.out, ...b.out];
      const acked = all.filter((x) => x.ack !== undefined).map((x) => x.ack as string);
      const stored = new Set(
        (await query(url, `SELECT key FROM "${schema}".quire_records`)).map(
          (r) => JSON.parse(r.key) as string,
        ),
      );
      for (const id of acked) expect(stored.has(id), id).toBe(true);
      // A write in flight when the server went away either committed (and was acknowledged) or was
      // rejected with a stated reason: never acknowledged without being stored.
      for (const r of all.filter((x) => x.rejected !== undefined)) expect(r.code, r.message).toBeTruthy();
      await waitFor(() => watcher.out.at(-1)?.count === stored.size, 'the watcher caught up', 30_000);
    } finally {
      cluster.stop();
    }
  }, 90_000);
});
