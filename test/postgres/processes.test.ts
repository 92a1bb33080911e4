// Several Quire processes on one PostgreSQL database, with real faults:
// counters incremented from 3 processes, a unique value raced for by 2, a
// reactive query in one process following another's writes, an instance
// killed with SIGKILL under load, and PostgreSQL itself stopped and
// restarted under load (on a private cluster).
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { watchOutput } from '../child-output.js';
import { pgSchema, waitFor } from '../persistence/helpers.js';
import { startCluster } from './cluster.js';

const fixture = path.join(import.meta.dirname, '..', 'fixtures', 'pg-instance.ts');

interface Instance {
  readonly child: ChildProcess;
  readonly out: Array<Record<string, any>>;
  readonly exited: Promise<number | null>;
  go(): void;
  send(line: string): void;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function spawnInstance(
  url: string,
  schema: string,
  job: string,
  arg = '',
  env: Record<string, string> = {},
): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, url, schema, job, arg], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  const output = watchOutput(child);
  const out: Array<Record<string, any>> = [];
  output.onLine('stdout', (l) => {
    if (l !== 'ready') out.push(JSON.parse(l));
  });
  await output.match('stdout', /^ready$/m);
  const { exited } = output;
  const send = (line: string) => child.stdin!.write(`${line}\n`);
  return { child, out, exited, go: () => send('go'), send };
}

/** Ask an instance how many users it holds in memory. */
async function countOf(n: Instance): Promise<number> {
  const before = n.out.length;
  n.send('count');
  await waitFor(() => n.out.slice(before).some((x) => x.count !== undefined), 'count answer');
  return n.out.slice(before).find((x) => x.count !== undefined)!.count as number;
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

  it('PostgreSQL stopped and restarted under load: strict writes reject within the bound, instances reconnect, every acknowledged write is stored', async () => {
    const cluster = await startCluster();
    try {
      const url = cluster.url;
      const schema = 'app';
      const env = { QUIRE_COMMIT_TIMEOUT_MS: '1000' };
      const watcher = await spawnInstance(url, schema, 'watch', '', env);
      watcher.go();
      const a = await spawnInstance(url, schema, 'load', 'a', env);
      const b = await spawnInstance(url, schema, 'load', 'b', env);
      a.go();
      b.go();
      await waitFor(() => a.out.length > 30 && b.out.length > 30, 'both writing');
      cluster.stopServer('fast');
      const atStop = [a.out.length, b.out.length];
      // While the database is down, strict writes are rejected (never left hanging, never acknowledged).
      const rejectedSinceStop = (n: Instance, i: number) =>
        n.out.slice(atStop[i]).filter((x) => x.code === 'COMMIT_TIMEOUT').length;
      await waitFor(
        () => rejectedSinceStop(a, 0) >= 8 && rejectedSinceStop(b, 1) >= 8,
        'strict writes rejected with COMMIT_TIMEOUT while PostgreSQL is down',
        30_000,
      );
      const ackedWhileDown = [a, b].flatMap((n, i) =>
        n.out.slice(atStop[i]! + 8).filter((x) => x.ack !== undefined),
      );
      cluster.startServer();
      const atStart = [a.out.length, b.out.length];
      await waitFor(
        () =>
          a.out.slice(atStart[0]).filter((x) => x.ack !== undefined).length > 40 &&
          b.out.slice(atStart[1]).filter((x) => x.ack !== undefined).length > 40,
        'both acknowledge writes again after the restart (they reconnected by themselves)',
        30_000,
      );
      for (const n of [a, b]) n.send('halt');
      await waitFor(() => [a, b].every((n) => n.out.some((x) => x.halted === true)), 'writers halted');
      const all = [...a.out, ...b.out];
      const acked = all.filter((x) => x.ack !== undefined).map((x) => x.ack as string);
      const stored = new Set(
        (await query(url, `SELECT key FROM "${schema}".quire_records`)).map(
          (r) => JSON.parse(r.key) as string,
        ),
      );
      for (const id of acked) expect(stored.has(id), id).toBe(true);
      // Writes queued after the server went away can only have been rejected: nothing was acknowledged
      // without a commit behind it.
      for (const x of ackedWhileDown) expect(stored.has(x.ack), x.ack).toBe(true);
      // A rejected write says why; a timed-out one was rolled back and is not stored, an unknown
      // outcome (in flight when the server went away) may be either.
      const rejected = all.filter((x) => x.rejected !== undefined);
      for (const r of rejected)
        expect(['COMMIT_TIMEOUT', 'COMMIT_OUTCOME_UNKNOWN'], r.message).toContain(r.code);
      for (const r of rejected.filter((x) => x.code === 'COMMIT_TIMEOUT'))
        expect(stored.has(r.rejected), r.rejected).toBe(false);
      // Memory agrees with the database: rolled-back writes are gone from each instance too.
      for (const n of [a, b, watcher])
        await waitFor(async () => (await countOf(n)) === stored.size, 'memory holds what is stored', 30_000);
      for (const n of [a, b]) n.send('stop');
      await Promise.all([a.exited, b.exited]);
      expect([...a.out, ...b.out].filter((x) => x.stopped === true && x.error !== undefined)).toEqual([]);
    } finally {
      cluster.stop();
    }
  }, 120_000);

  it('PostgreSQL stopped and restarted: debounced writes are kept while it is down and stored once it is back', async () => {
    const cluster = await startCluster();
    try {
      const url = cluster.url;
      const schema = 'app';
      const n = await spawnInstance(url, schema, 'load', 'd', { QUIRE_DURABILITY: 'debounced' });
      n.go();
      await waitFor(() => n.out.length > 50, 'writing');
      cluster.stopServer('fast');
      const atStop = n.out.length;
      // Debounced writes are acknowledged from memory while the database is down.
      await waitFor(() => n.out.length > atStop + 100, 'acknowledged while PostgreSQL is down', 30_000);
      cluster.startServer();
      const atStart = n.out.length;
      await waitFor(() => n.out.length > atStart + 100, 'writing after the restart', 30_000);
      n.send('stop');
      await n.exited;
      const end = n.out.find((x) => x.stopped === true);
      expect(end?.error).toBeUndefined();
      const acked = n.out.filter((x) => x.ack !== undefined).map((x) => x.ack as string);
      expect(n.out.filter((x) => x.rejected !== undefined)).toEqual([]);
      const stored = new Set(
        (await query(url, `SELECT key FROM "${schema}".quire_records`)).map(
          (r) => JSON.parse(r.key) as string,
        ),
      );
      for (const id of acked) expect(stored.has(id), id).toBe(true);
      expect(stored.size).toBe(acked.length);
    } finally {
      cluster.stop();
    }
  }, 120_000);

  it('once-only work: the leader purges TTL records and prunes the log; SIGKILL of the leader hands it to another process', async () => {
    const url = inject('pgUrl');
    const schema = pgSchema();
    const env = { QUIRE_LOG_KEEP: '20', QUIRE_TTL_CHECK_MS: '50' };
    const nodes = await Promise.all([1, 2].map(() => spawnInstance(url, schema, 'idle', '', env)));
    for (const n of nodes) n.go();
    const ask = async (n: Instance, line: string, field: string) => {
      const before = n.out.length;
      n.send(line);
      await waitFor(() => n.out.slice(before).some((x) => x[field] !== undefined), `${line} answered`);
      return n.out.slice(before).find((x) => x[field] !== undefined)![field];
    };
    const leaders = async () => Promise.all(nodes.map((n) => ask(n, 'leader', 'leader')));
    await waitFor(async () => (await leaders()).filter(Boolean).length === 1, 'exactly one leader');
    const first = (await leaders()).indexOf(true);
    const leader = nodes[first]!;
    const other = nodes[1 - first]!;
    const count = async (bucket: string) =>
      (
        await query(
          url,
          `SELECT count(*)::int AS n FROM "${schema}".quire_records r JOIN "${schema}".quire_buckets b ON b.id = r.bucket_id WHERE b.name = '${bucket}'`,
        )
      )[0].n as number;
    // The leader purges what the other instance inserted; only the leader writes the deletes.
    await ask(other, 'sessions 30', 'sessions');
    await waitFor(async () => (await count('sessions')) === 0, 'expired sessions purged', 15_000);
    const deleters = await query(
      url,
      `SELECT DISTINCT origin FROM "${schema}".quire_log WHERE op = 'delete'`,
    );
    expect(deleters).toHaveLength(1);
    leader.child.kill('SIGKILL');
    await leader.exited;
    // The killed leader's connection closes, its advisory lock is released, the other takes over.
    await waitFor(
      async () => (await ask(other, 'leader', 'leader')) === true,
      'the survivor becomes leader',
      15_000,
    );
    await ask(other, 'sessions 30', 'sessions');
    await waitFor(async () => (await count('sessions')) === 0, 'the new leader purges', 15_000);
    await ask(other, 'churn 60', 'churned');
    // The log is cut back to about its last 20 positions (plus one pruning step) by the new leader.
    await waitFor(
      async () => {
        const [s] = await query(url, `SELECT last_seq, log_floor FROM "${schema}".quire_stores`);
        const [l] = await query(url, `SELECT count(*)::int AS n, min(seq) AS min FROM "${schema}".quire_log`);
        return Number(s.log_floor) > 0 && l.n <= 24 && Number(l.min) > Number(s.log_floor);
      },
      'the log pruned to its tail',
      15_000,
    );
  }, 90_000);

  it('an instance that fell behind the pruned log reloads a consistent snapshot instead of missing changes', async () => {
    const url = inject('pgUrl');
    const schema = pgSchema();
    const env = { QUIRE_LOG_KEEP: '20' };
    const writer = await spawnInstance(url, schema, 'idle', '', env);
    writer.go();
    const ask = async (n: Instance, line: string, field: string, ms = 10_000) => {
      const before = n.out.length;
      n.send(line);
      await waitFor(() => n.out.slice(before).some((x) => x[field] !== undefined), `${line} answered`, ms);
      return n.out.slice(before).find((x) => x[field] !== undefined)![field];
    };
    // The writer leads (it prunes); the lagging instance starts after it.
    await waitFor(async () => (await ask(writer, 'leader', 'leader')) === true, 'writer leads');
    const lagging = await spawnInstance(url, schema, 'watch', '', env);
    lagging.go();
    await ask(writer, 'churn 30', 'churned');
    await waitFor(
      async () =>
        JSON.stringify(await ask(lagging, 'dump', 'dump')) ===
        JSON.stringify(await ask(writer, 'dump', 'dump')),
      'following normally',
    );
    expect(await ask(lagging, 'stats', 'resyncs')).toBe(0);
    // Freeze it (as a stalled process or a long GC pause would) while the writer goes on and the log is pruned.
    lagging.child.kill('SIGSTOP');
    try {
      const [before] = await query(url, `SELECT last_seq FROM "${schema}".quire_stores`);
      // New records, and updates and deletes of records the frozen instance holds.
      const churn = writer.out.length;
      writer.send('churn 90');
      await waitFor(() => writer.out.slice(churn).some((x) => x.churned !== undefined), 'churned', 30_000);
      await waitFor(
        async () => {
          const [s] = await query(url, `SELECT log_floor FROM "${schema}".quire_stores`);
          return Number(s.log_floor) > Number(before.last_seq);
        },
        'the log pruned past the frozen instance',
        15_000,
      );
    } finally {
      lagging.child.kill('SIGCONT');
    }
    const stored = (
      await query(
        url,
        `SELECT r.key, r.version FROM "${schema}".quire_records r JOIN "${schema}".quire_buckets b ON b.id = r.bucket_id WHERE b.name = 'users'`,
      )
    )
      .map((r) => [JSON.parse(r.key), Number(r.version)])
      .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    await waitFor(
      async () => JSON.stringify(await ask(lagging, 'dump', 'dump')) === JSON.stringify(stored),
      'the lagging instance holds exactly what is stored',
      15_000,
    );
    expect(await ask(lagging, 'stats', 'resyncs')).toBeGreaterThan(0);
    // Its reactive query followed too.
    await waitFor(
      () => lagging.out.filter((x) => x.count !== undefined).at(-1)?.count === stored.length,
      'reactive count',
    );
  }, 90_000);
});
