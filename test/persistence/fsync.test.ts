// `strict` survives a power loss: every acknowledged strict write was
// preceded by an fsync/fdatasync of the SQLite WAL. Checked on the system
// calls of a real child process under strace; `process` durability (commit
// handed to the OS only) is the control that shows the check can fail.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';
import { straceScript } from './strace.js';

const root = path.resolve(import.meta.dirname, '../..');

interface Trace {
  /** Per acknowledged write: WAL writes and WAL syncs since the previous acknowledgement. */
  acks: Array<{ walWrites: number; walSyncs: number; walWriteAfterSync: boolean }>;
  walSyncs: number;
  /** Files SQLite opened in its temporary directory after START (statement journals, temp tables). */
  tempOpens: number;
}

/**
 * Run `writes` strict inserts in a child under strace; `concurrent` writes in flight per round.
 * `preload` records are stored first; keys are random strings when `randomKeys` (each insert then
 * lands on another page of the key index, as uuids do).
 */
function traced(
  durability: 'strict' | 'process',
  rounds: number,
  concurrent: number,
  { preload = 0, randomKeys = false } = {},
): Trace {
  const dir = tempDir('quire-fsync-');
  const db = path.join(dir, 'f.db');
  const sqliteTmp = path.join(dir, 'sqlite-tmp');
  fs.mkdirSync(sqliteTmp);
  const script = path.join(dir, 'child.mts');
  fs.writeFileSync(
    script,
    `
    import * as fs from 'node:fs';
    import { SQLiteAdapter, Store } from ${JSON.stringify(path.join(root, 'src/index.ts'))};
    const s = await Store.start({ name: 'f', persistence: { adapter: new SQLiteAdapter(${JSON.stringify(db)}), durability: ${JSON.stringify(durability)} } });
    const b = await s.defineBucket('b', { key: 'id', schema: { id: { type: 'string' }, v: { type: 'string' } } });
    let id = 0;
    const key = () => ${randomKeys ? "Math.random().toString(36).slice(2) + '-' + id++" : "String(id++).padStart(12, '0')"};
    await b.insertMany(Array.from({ length: ${preload} }, () => ({ id: key(), v: 'x'.repeat(100) })));
    await s.flush();
    fs.writeSync(1, 'START\\n');
    for (let r = 0; r < ${rounds}; r++) {
      await Promise.all(Array.from({ length: ${concurrent} }, () => b.insert({ id: key(), v: 'x'.repeat(50) })));
      fs.writeSync(1, 'ACK\\n');
    }
    await s.stop();
    `,
  );
  const out = path.join(dir, 'trace.txt');
  const r = straceScript(script, 'openat,close,write,pwrite64,fsync,fdatasync', out, {
    strace: ['-s', '16'],
    env: { ...process.env, SQLITE_TMPDIR: sqliteTmp },
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.split('\n').filter((l) => l === 'ACK')).toHaveLength(rounds);
  const wal = `${db}-wal`;
  const fds = new Map<string, string>(); // fd → path (fds are shared by the threads of the process)
  const acks: Trace['acks'] = [];
  let started = false;
  let cur = { walWrites: 0, walSyncs: 0, walWriteAfterSync: false };
  let walSyncs = 0;
  let tempOpens = 0;
  // A call another thread interrupts is printed in two parts: `… <unfinished ...>` and `<... call resumed>…`.
  const unfinished = new Map<string, string>();
  for (const raw of r.lines) {
    let line = raw;
    const pid = /^(\d+)\s/.exec(raw)?.[1] ?? '';
    if (raw.endsWith('<unfinished ...>')) {
      unfinished.set(pid, raw.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(raw);
    if (resumed !== null) {
      line = `${unfinished.get(pid) ?? ''}${resumed[1]}`;
      unfinished.delete(pid);
    }
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line);
    if (m === null) continue;
    const [, call, args, ret] = m as unknown as [string, string, string, string];
    const fd = args.split(',')[0]!.trim();
    if (call === 'openat') {
      const p = /"([^"]*)"/.exec(args)?.[1];
      if (p !== undefined && Number(ret) >= 0) fds.set(ret, p);
      if (p?.startsWith(sqliteTmp) && started) tempOpens++;
    } else if (call === 'close') fds.delete(fd);
    else if (call === 'write' && fd === '1') {
      if (args.includes('START')) started = true;
      else if (args.includes('ACK') && started) {
        acks.push(cur);
        cur = { walWrites: 0, walSyncs: 0, walWriteAfterSync: false };
      }
    } else if (fds.get(fd) === wal && started) {
      if (call === 'pwrite64' || call === 'write') {
        cur.walWrites++;
        if (cur.walSyncs > 0) cur.walWriteAfterSync = true;
      } else if (call === 'fsync' || call === 'fdatasync') {
        cur.walSyncs++;
        cur.walWriteAfterSync = false;
        walSyncs++;
      }
    }
  }
  return { acks, walSyncs, tempOpens };
}

describe('strict means fsynced (strace)', () => {
  it('every strict acknowledgement follows an fsync of the WAL written for it', () => {
    const t = traced('strict', 40, 1);
    expect(t.acks).toHaveLength(40);
    for (const a of t.acks) {
      expect(a.walWrites).toBeGreaterThan(0); // the commit went to the WAL …
      expect(a.walSyncs).toBeGreaterThan(0); // … and was synced …
      expect(a.walWriteAfterSync).toBe(false); // … after its last write, before the reply
    }
  }, 180_000);

  it('group commit: 32 concurrent strict writes share one WAL fsync', () => {
    const t = traced('strict', 5, 32);
    expect(t.acks).toHaveLength(5);
    for (const a of t.acks) {
      expect(a.walSyncs).toBeGreaterThan(0);
      expect(a.walWriteAfterSync).toBe(false);
    }
    // 160 writes, far fewer syncs (one per commit; a commit holds every write queued in a tick)
    expect(t.walSyncs).toBeLessThanOrEqual(10);
  }, 180_000);

  it('group commit into a large key index opens no temporary file (statement journals stay in memory)', () => {
    // A multi-row INSERT inside a transaction keeps a statement journal; once it outgrows 64 KiB SQLite
    // spills it to a new temporary file, created, written and deleted per commit, unless temp_store is MEMORY.
    const t = traced('strict', 4, 64, { preload: 20_000, randomKeys: true });
    expect(t.acks).toHaveLength(4);
    expect(t.walSyncs).toBeGreaterThan(0);
    expect(t.tempOpens).toBe(0);
  }, 180_000);

  it("durability 'process' acknowledges without syncing the WAL (survives a process crash only)", () => {
    const t = traced('process', 20, 1);
    expect(t.acks).toHaveLength(20);
    for (const a of t.acks) {
      expect(a.walWrites).toBeGreaterThan(0);
      expect(a.walSyncs).toBe(0);
    }
  }, 180_000);
});
