// A large flush goes to the SQLite writer thread in parts (SQLiteAdapter.openUnit): the thread
// opens the unit's transaction, applies each part as it arrives, and commits at the end, while the
// main thread encodes the next part and the event loop runs in between. These tests check that
// such a unit is still one transaction (all or nothing, also when the thread dies or the disk is
// full), that units posted meanwhile wait for it, and that a write loop that never yields to the
// event loop still gets its unit through.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type CommitUnit, SQLiteAdapter, StorageError, Store } from '../../src/index.js';
import { EARLY_FLUSH_CHANGES, STREAM_PART_RECORDS } from '../../src/persistence/commit-queue.js';
import { watchOutput } from '../child-output.js';
import { integrity, storedNumber, storedRows, storeWithThread, tempDir } from './helpers.js';
import { fillDisk, mountTmpfs, resizeTmpfs } from './tmpfs.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;
const historyDef = { ...def, history: true } as const;
/** Block this thread (no event loop, no microtasks) for `ms`. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Enough records for a unit in parts (at least two parts). */
const LARGE = 3 * STREAM_PART_RECORDS + 123;

function rows(file: string): Array<{ key: string; ord: number; v: string; version: number }> {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db.prepare('SELECT key, ord, version, data FROM quire_records ORDER BY ord').all() as Array<{
        key: string;
        ord: number;
        version: number;
        data: string;
      }>
    ).map((r) => ({
      key: r.key,
      ord: r.ord,
      version: r.version,
      v: (JSON.parse(r.data) as { v: string }).v,
    }));
  } finally {
    db.close();
  }
}

describe('a large unit sent to the writer thread in parts', () => {
  it('lands whole and once, in insertion order, with its updates, deletes and history; the event loop runs between parts', async () => {
    const file = path.join(tempDir(), 'parts.db');
    const adapter = new SQLiteAdapter(file);
    const s = await storeWithThread(adapter, [], historyDef);
    const b = s.bucket('b');
    for (let i = 0; i < 50; i++) await b.update(i, { v: 'second' });
    for (let i = 50; i < 60; i++) await b.delete(i);
    await b.insertMany(Array.from({ length: LARGE }, (_, i) => ({ id: 1000 + i, v: `v${i}` })));
    let turns = 0;
    let flushed = false;
    const flushing = s.flush().then(() => {
      flushed = true;
    });
    while (!flushed) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    await flushing;
    expect(adapter.streamedUnits).toBe(1);
    expect(adapter.writerThreadCommits).toBe(1);
    // One turn of the event loop at least per part.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(LARGE / STREAM_PART_RECORDS));
    const stored = rows(file);
    expect(stored).toHaveLength(90 + LARGE);
    expect(stored.map((r) => Number(r.key))).toEqual([
      ...Array.from({ length: 50 }, (_, i) => i),
      ...Array.from({ length: 40 }, (_, i) => 60 + i),
      ...Array.from({ length: LARGE }, (_, i) => 1000 + i),
    ]);
    expect(stored.slice(0, 50).every((r) => r.v === 'second' && r.version === 2)).toBe(true);
    expect(stored.at(-1)).toMatchObject({ v: `v${LARGE - 1}`, version: 1 });
    // One history row per change: 100 + 50 updates + 10 deletes + LARGE inserts (packed rows count their versions).
    expect(storedNumber(file, 'SELECT sum(coalesce(versions, 1)) FROM quire_history')).toBe(160 + LARGE);
    await s.stop();
    expect(integrity(file)).toBe('ok');
    const again = await Store.start({ name: 'd', persistence: { adapter: new SQLiteAdapter(file) } });
    const b2 = await again.defineBucket('b', historyDef);
    expect(await b2.count()).toBe(90 + LARGE);
    expect((await b2.history(7)).map((h) => h.version)).toEqual([2, 1]);
    expect(await b2.get(55)).toBeUndefined();
    await again.stop();
  }, 60_000);

  it('a write loop that never yields to the event loop: the unit goes on part by part as writes are queued, and everything is stored', async () => {
    const file = path.join(tempDir(), 'noyield.db');
    const adapter = new SQLiteAdapter(file);
    const s = await storeWithThread(adapter, [], def, 20);
    const b = s.bucket('b');
    let loopRan = false;
    setImmediate(() => {
      loopRan = true;
    });
    const n = 3 * EARLY_FLUSH_CHANGES;
    for (let i = 0; i < n; i++) await b.insert({ id: 1000 + i, v: `v${i}` });
    // No setImmediate ran, yet a unit was sent in parts and ended: the thread commits it without
    // this thread (which waits here, still without running the event loop).
    expect(loopRan).toBe(false);
    expect(adapter.streamedUnits).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 100 && storedRows(file) === 100; i++) block(100);
    expect(loopRan).toBe(false);
    const during = storedRows(file);
    expect(during).toBeGreaterThan(100);
    expect(during).toBeLessThan(100 + n);
    await s.stop();
    const stored = rows(file);
    expect(stored).toHaveLength(100 + n);
    expect(stored.at(-1)).toMatchObject({ key: String(1000 + n - 1), v: `v${n - 1}` });
    expect(integrity(file)).toBe('ok');
  }, 60_000);

  for (const mode of ['in-transaction', 'after-commit'] as const) {
    it(`the thread dies ${mode === 'in-transaction' ? 'with every part applied, before COMMIT' : 'right after COMMIT'}: the unit is stored once, on the main thread if it was rolled back`, async () => {
      const file = path.join(tempDir(), `dies-${mode}.db`);
      const errors: StorageError[] = [];
      process.env.QUIRE_TEST_WRITER_THREAD_EXIT = mode;
      try {
        const adapter = new SQLiteAdapter(file);
        const s = await storeWithThread(adapter, errors, historyDef);
        const b = s.bucket('b');
        for (let i = 0; i < 100; i++) await b.update(i, { v: 'second' });
        await b.insertMany(Array.from({ length: LARGE }, (_, i) => ({ id: 1000 + i, v: 'thread' })));
        await s.flush();
        expect(adapter.streamedUnits).toBe(1);
        expect(errors.map((e) => e.message)).toEqual([
          expect.stringMatching(
            mode === 'in-transaction'
              ? /writer thread .*stopped.*rolled back and has been committed on the main thread/
              : /writer thread .*stopped.*was committed before it stopped/,
          ),
        ]);
        expect(rows(file)).toHaveLength(100 + LARGE);
        expect(storedNumber(file, 'SELECT sum(coalesce(versions, 1)) FROM quire_history')).toBe(200 + LARGE);
        // Later units commit on the main thread, whole.
        await b.insertMany(Array.from({ length: LARGE }, (_, i) => ({ id: 100_000 + i, v: 'after' })));
        await s.flush();
        expect(adapter.streamedUnits).toBe(1);
        expect(rows(file)).toHaveLength(100 + 2 * LARGE);
        await s.stop();
      } finally {
        delete process.env.QUIRE_TEST_WRITER_THREAD_EXIT;
      }
      expect(integrity(file)).toBe('ok');
    }, 60_000);
  }

  it('full disk (tmpfs) part-way through: nothing of the unit is stored, the failure is reported, and the unit lands whole once space returns', async () => {
    const mnt = mountTmpfs('3m');
    const file = path.join(mnt, 'full.db');
    const errors: StorageError[] = [];
    const adapter = new SQLiteAdapter(file);
    const s = await storeWithThread(adapter, errors, def);
    const b = s.bucket('b');
    const ballast = fillDisk(mnt, 256 * 1024);
    await b.insertMany(Array.from({ length: LARGE }, (_, i) => ({ id: 1000 + i, v: 'y'.repeat(300) })));
    const failed = await s.flush().catch((e: unknown) => e);
    expect(adapter.streamedUnits).toBe(1);
    expect(failed).toBeInstanceOf(StorageError);
    expect((failed as Error).message).toMatch(/SQLITE_FULL|full/);
    expect(errors.some((e) => e.operation === 'commit' && /SQLITE_FULL|full/.test(e.message))).toBe(true);
    expect(storedRows(file)).toBe(100);
    expect(await b.count()).toBe(100 + LARGE);
    fs.rmSync(ballast);
    resizeTmpfs(mnt, '32m');
    await s.flush();
    expect(adapter.streamedUnits).toBe(2);
    expect(storedRows(file)).toBe(100 + LARGE);
    await s.stop();
    expect(integrity(file)).toBe('ok');
  }, 60_000);
});

describe('kill -9 while a unit goes to the thread in parts', () => {
  const fixture = path.resolve(import.meta.dirname, '../fixtures/stream-writer.ts');

  /** Records per round in bucket "a", by round, and the rounds bucket "b" names. */
  function rounds(file: string): { a: Map<number, number>; b: number[] } {
    const db = new Database(file, { readonly: true });
    try {
      const by = (bucket: string) =>
        db
          .prepare(
            `SELECT json_extract(r.data, '$.round') AS round, count(*) AS n FROM quire_records r
             JOIN quire_buckets k ON k.id = r.bucket_id WHERE k.name = ? GROUP BY 1 ORDER BY 1`,
          )
          .all(bucket) as Array<{ round: number; n: number }>;
      return { a: new Map(by('a').map((r) => [r.round, r.n])), b: by('b').map((r) => r.round) };
    } finally {
      db.close();
    }
  }

  it('each large transaction is stored whole or not at all; the file stays sound', async () => {
    const file = path.join(tempDir(), 'killed.db');
    let interrupted = 0;
    for (let kill = 0; kill < 5; kill++) {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, file, String(LARGE)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = watchOutput(child);
      let lastGo = 0;
      let flushMs = 0;
      let streamed = 0;
      out.onLine('stdout', (line) => {
        const [what, n, ms, units] = line.split(' ');
        if (what === 'go') {
          lastGo = Number(n);
          // Once a round was sent in parts, kill somewhere inside the next flush.
          if (streamed > 0) setTimeout(() => child.kill('SIGKILL'), Math.random() * flushMs);
        }
        if (what === 'round') {
          flushMs = Number(ms);
          streamed = Number(units);
        }
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await out.exited;
      clearTimeout(guard);
      expect(out.text('stderr')).toBe('');
      const { a, b } = rounds(file);
      if (!b.includes(lastGo)) interrupted++;
      // Every round is whole: all of bucket a's records and bucket b's marker, or none of them.
      expect([...a.keys()]).toEqual(b);
      for (const n of a.values()) expect(n).toBe(LARGE);
      expect(integrity(file)).toBe('ok');
    }
    // Most kills land before their flush committed (the round is missing, whole).
    expect(interrupted).toBeGreaterThan(0);
    // And the store opens and reads every record.
    const s = await Store.start({ name: 'stream', persistence: { adapter: new SQLiteAdapter(file) } });
    const a = await s.defineBucket('a', {
      key: 'id',
      schema: { id: { type: 'number' }, round: { type: 'number' } },
    });
    expect(await a.count()).toBe([...rounds(file).a.values()].reduce((x, y) => x + y, 0));
    await s.stop();
  }, 120_000);
});

describe('SQLiteAdapter.openUnit', () => {
  const unit = (records: CommitUnit['records'], lastSeq: number): CommitUnit => ({
    buckets: [],
    records,
    lastSeq,
  });
  const inserts = (from: number, n: number, v: string): CommitUnit['records'] =>
    Array.from({ length: n }, (_, i) => ({
      bucket: 'b',
      key: String(from + i),
      op: 'insert' as const,
      seq: from + i,
      ord: from + i,
      version: 1,
      base: 0,
      data: JSON.stringify({ id: from + i, v, _version: 1 }),
    }));

  it('is undefined until the writer thread runs (and for strict stores); a unit posted while one is open waits for it; abort() rolls back', async () => {
    const file = path.join(tempDir(), 'open.db');
    // A long busy timeout: a checkpoint that waited for the open unit's lock would hang here.
    const a = new SQLiteAdapter(file, { busyTimeoutMs: 20_000 });
    a.open('x', { onError: () => {}, durability: 'debounced' });
    expect(a.openUnit('x', [], 50_000)).toBeUndefined();
    // The first large unit commits here and starts the thread.
    a.commit('x', unit(inserts(1, 100, 'first'), 100));
    const stream = a.openUnit('x', [], 200)!;
    expect(stream).toBeDefined();
    stream.add(inserts(101, 100, 'part 1'));
    stream.add(inserts(201, 100, 'part 2'));
    // The open unit holds the write lock (once the thread has begun it) until its last part is
    // sent from this thread: a checkpoint now copies what is committed instead of waiting for it.
    const probe = new Database(file);
    probe.pragma('busy_timeout = 0');
    const locked = () => {
      try {
        probe.prepare('BEGIN IMMEDIATE').run();
        probe.prepare('ROLLBACK').run();
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 100 && !locked(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(locked()).toBe(true);
    probe.close();
    // A blocking checkpoint would wait out the whole busy timeout (20 s) for a lock that only this
    // thread's next step releases; half of it is the liveness bound, not a speed target.
    const started = Date.now();
    a.checkpoint();
    expect(Date.now() - started).toBeLessThan(10_000);
    // Goes to the thread (a unit is open there) and is held until the open unit ends.
    let order: string[] = [];
    const other = Promise.resolve(a.commit('x', unit(inserts(301, 20, 'other'), 320))).then(() =>
      order.push('other'),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    expect(storedRows(file)).toBe(100);
    const ended = stream
      .end(unit([...inserts(101, 100, 'part 1'), ...inserts(201, 100, 'part 2')], 300))
      .then(() => order.push('streamed'));
    await Promise.all([ended, other]);
    expect(order).toEqual(['streamed', 'other']);
    expect(storedRows(file)).toBe(320);

    // Abandoned: nothing of it is stored, and the next unit commits.
    const dropped = a.openUnit('x', [], 200)!;
    dropped.add(inserts(1001, 100, 'dropped'));
    dropped.abort();
    order = [];
    await a.commit('x', unit(inserts(2001, 20, 'next'), 2020));
    expect(storedRows(file)).toBe(340);
    expect(rows(file).some((r) => r.v === 'dropped')).toBe(false);
    expect(a.streamedUnits).toBe(1);
    a.close();
    expect(integrity(file)).toBe('ok');

    // A strict store's units commit on the main thread (writerThread: true aside): never in parts.
    const strict = new SQLiteAdapter(file);
    strict.open('x', { onError: () => {} });
    strict.commit('x', unit(inserts(3001, 100, 'strict'), 3100));
    expect(strict.openUnit('x', [], 50_000)).toBeUndefined();
    strict.close();
  }, 60_000);
});
