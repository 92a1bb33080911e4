// SQLiteAdapter commits large units (and every unit while one is in flight)
// on a writer thread with its own connection. These tests check that the
// thread is really used, that the main thread keeps running while it
// commits, that reads see a unit the thread still has, that its failures
// (a full disk, on a real tmpfs) reach the store exactly as main-thread
// failures do, and that stop() with a unit in flight closes everything.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, StorageError, Store } from '../../src/index.js';
import { runToEnd } from '../child-output.js';
import { integrity, storeWithThread, tempDir } from './helpers.js';
import { fillDisk, mountTmpfs, resizeTmpfs } from './tmpfs.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;
const historyDef = { ...def, history: true } as const;

function rawIds(file: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT key FROM quire_records ORDER BY ord').pluck().all() as string[]).map(Number);
  } finally {
    db.close();
  }
}

function withExitHook<T>(mode: string | undefined, run: () => Promise<T>): Promise<T> {
  if (mode === undefined) return run();
  process.env.QUIRE_TEST_WRITER_THREAD_EXIT = mode;
  return run().finally(() => {
    delete process.env.QUIRE_TEST_WRITER_THREAD_EXIT;
  });
}

describe('SQLite writer thread', () => {
  it('commits a large flush while the event loop keeps running; reads see the unit in flight; stored after; a single strict write commits on the main thread', async () => {
    const file = path.join(tempDir(), 'w.db');
    const adapter = new SQLiteAdapter(file);
    const s = await Store.start({ name: 'w', persistence: { adapter, debounceMs: 60_000 } });
    const b = await s.defineBucket('b', def);
    // The first large unit commits on the main thread and starts the thread.
    await b.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: 100_000 + i, v: 'first' })));
    await s.flush();
    expect(adapter.writerThreadCommits).toBe(0);
    const before = adapter.writerThreadCommits;
    await b.insertMany(Array.from({ length: 20_000 }, (_, i) => ({ id: i, v: `v${i}` })));
    // Another connection holds the write lock, so the thread's commit waits (in the thread) until it is released.
    const blocker = new Database(file);
    blocker.prepare('BEGIN IMMEDIATE').run();
    const flushed = s.flush();
    let turns = 0;
    while (turns < 20) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    // The event loop runs while the unit is in flight, and reads see it: the change feed lists its
    // changes (the last 10,000, the feed's default size) although none is stored yet.
    expect(adapter.writerThreadCommits).toBe(before);
    const feed = await s.changes({ since: 0, limit: 100_000 });
    expect(feed).toHaveLength(10_000);
    expect(feed.at(-1)).toMatchObject({ bucket: 'b', key: 19_999, op: 'insert' });
    expect(rawIds(file)).toHaveLength(100);
    blocker.prepare('ROLLBACK').run();
    blocker.close();
    await flushed;
    expect(adapter.writerThreadCommits).toBe(before + 1);
    expect(rawIds(file)).toHaveLength(20_100);
    await s.stop();

    // A strict store commits on the main thread by default, even a group (nothing to overlap).
    const inline = new SQLiteAdapter(file);
    const u = await Store.start({ name: 'w', persistence: { adapter: inline, durability: 'strict' } });
    const ub = await u.defineBucket('b', def);
    for (let round = 0; round < 2; round++) {
      await Promise.all(Array.from({ length: 32 }, (_, i) => ub.update(100 + i, { v: `inline ${round}` })));
    }
    expect(inline.writerThreadCommits).toBe(0);
    await u.stop();

    // writerThread: true: a strict store's lone write is small, so it commits on the main thread
    // (no hop); a group goes to the thread (the first one starts it).
    const strict = new SQLiteAdapter(file, { writerThread: true });
    const t = await Store.start({ name: 'w', persistence: { adapter: strict, durability: 'strict' } });
    const tb = await t.defineBucket('b', def);
    await tb.update(1, { v: 'one' });
    expect(strict.writerThreadCommits).toBe(0);
    await Promise.all(Array.from({ length: 32 }, (_, i) => tb.update(100 + i, { v: 'first group' })));
    expect(strict.writerThreadCommits).toBe(0);
    await Promise.all(Array.from({ length: 32 }, (_, i) => tb.update(100 + i, { v: 'group' })));
    expect(strict.writerThreadCommits).toBe(1);
    await t.stop();
    const db = new Database(file, { readonly: true });
    const v = db.prepare('SELECT data FROM quire_records WHERE key = ?').pluck();
    expect(JSON.parse(v.get('1') as string).v).toBe('one');
    expect(JSON.parse(v.get('131') as string).v).toBe('group');
    db.close();
  });

  it('a bucket dropped on one connection and defined again is written under its new id by the other', async () => {
    const file = path.join(tempDir(), 'drop.db');
    const adapter = new SQLiteAdapter(file, { writerThread: true });
    const s = await Store.start({ name: 'd', persistence: { adapter, durability: 'strict' } });
    const rows = (from: number) => Array.from({ length: 500 }, (_, i) => ({ id: from + i, v: 'x' }));
    let b = await s.defineBucket('b', def);
    await b.insertMany(rows(0)); // the first large unit: the main thread (the thread starts)
    await b.insertMany(rows(1000)); // a large unit: the thread caches the bucket's id
    expect(adapter.writerThreadCommits).toBe(1);
    await s.dropBucket('b'); // a small unit: the main thread drops the bucket row
    // Another bucket takes the freed id (SQLite reuses the largest), so 'b' gets a new one.
    const c = await s.defineBucket('c', def);
    await c.insert({ id: 1, v: 'c' });
    b = await s.defineBucket('b', def);
    await b.insertMany(rows(10_000)); // the thread again, under the bucket's new id
    expect(adapter.writerThreadCommits).toBe(2);
    await s.dropBucket('b');
    b = await s.defineBucket('b', def);
    await b.insert({ id: 7, v: 'small' }); // the main thread, after the thread saw the drop
    await s.stop();
    const db = new Database(file, { readonly: true });
    // Every record row belongs to a stored bucket: none was written under a dropped id.
    const orphans = db
      .prepare('SELECT count(*) FROM quire_records WHERE bucket_id NOT IN (SELECT id FROM quire_buckets)')
      .pluck()
      .get();
    db.close();
    expect(orphans).toBe(0);
    const again = await Store.start({ name: 'd', persistence: { adapter: new SQLiteAdapter(file) } });
    const b2 = await again.defineBucket('b', def);
    expect((await b2.all()).map((r) => r.id)).toEqual([7]);
    expect((await (await again.defineBucket('c', def)).all()).map((r) => r.id)).toEqual([1]);
    await again.stop();
  });

  it('writerThread: false commits everything on the main thread', async () => {
    const file = path.join(tempDir(), 'off.db');
    const adapter = new SQLiteAdapter(file, { writerThread: false });
    const s = await Store.start({ name: 'o', persistence: { adapter, debounceMs: 60_000 } });
    const b = await s.defineBucket('b', def);
    await b.insertMany(Array.from({ length: 1000 }, (_, i) => ({ id: i, v: 'x' })));
    await s.flush();
    expect(adapter.writerThreadCommits).toBe(0);
    await s.stop();
    expect(rawIds(file)).toHaveLength(1000);
  });

  it('stop() while the thread commits a unit: it lands, both connections close, no -wal/-shm is left, the process exits', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'stop.db');
    const script = path.join(dir, 'stop.mts');
    fs.writeFileSync(
      script,
      `
      import { SQLiteAdapter, Store } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../src/index.ts'))};
      const adapter = new SQLiteAdapter(${JSON.stringify(file)});
      const s = await Store.start({ name: 's', persistence: { adapter, debounceMs: 60_000 } });
      const b = await s.defineBucket('b', { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } });
      // The first large unit commits on the main thread and starts the thread.
      await b.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: 100000 + i, v: 'first' })));
      await s.flush();
      await b.insertMany(Array.from({ length: 30000 }, (_, i) => ({ id: i, v: 'x'.repeat(100) })));
      void s.flush();
      // The flush is with the thread; more writes queue behind it.
      await new Promise((r) => setImmediate(r));
      await b.insert({ id: 30000, v: 'last' });
      await s.stop();
      process.stdout.write(JSON.stringify({ thread: adapter.writerThreadCommits }));
      // No exit call: a thread or handle left running would keep the process alive.
      `,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: path.resolve(import.meta.dirname, '../..'),
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const { code, stdout, stderr } = await runToEnd(child);
    clearTimeout(guard);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout).thread).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);
    expect(rawIds(file)).toHaveLength(30_101);
    expect(integrity(file)).toBe('ok');
  }, 30_000);

  it('full disk (tmpfs) while the thread commits: debounced units are reported and retried whole; once space returns everything lands', async () => {
    const mnt = mountTmpfs('2m');
    const file = path.join(mnt, 'full.db');
    const errors: StorageError[] = [];
    const adapter = new SQLiteAdapter(file);
    const s = await storeWithThread(adapter, errors, def);
    const b = s.bucket('b');
    const ballast = fillDisk(mnt, 64 * 1024);
    // Far more than the space left: the thread's commit fails with SQLITE_FULL.
    await b.insertMany(Array.from({ length: 2000 }, (_, i) => ({ id: 1000 + i, v: 'y'.repeat(1000) })));
    const thread = adapter.writerThreadCommits;
    const failed = await s.flush().catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(StorageError);
    expect((failed as Error).message).toMatch(/SQLITE_FULL|full/);
    expect(errors.some((e) => e.operation === 'commit' && /SQLITE_FULL|full/.test(e.message))).toBe(true);
    expect(s.storageStatus()?.state).toBe('degraded');
    // Nothing of the failed unit is stored; the store serves everything from memory.
    expect(rawIds(file)).toHaveLength(100);
    expect(await b.count()).toBe(2100);
    // Space returns: the retry (on its backoff timer, or this flush) commits the whole unit on the thread.
    fs.rmSync(ballast);
    resizeTmpfs(mnt, '16m');
    await s.flush();
    expect(adapter.writerThreadCommits).toBeGreaterThan(thread);
    expect(rawIds(file)).toHaveLength(2100);
    await s.stop();
    expect(integrity(file)).toBe('ok');
  }, 60_000);

  it('full disk (tmpfs) while the thread commits a strict group: the writers wait (the error goes to onError), then resolve once space returns; stop() meanwhile rejects them', async () => {
    const mnt = mountTmpfs('2m');
    const file = path.join(mnt, 'strict.db');
    const errors: StorageError[] = [];
    let failedOnce!: () => void;
    const failure = new Promise<void>((r) => {
      failedOnce = r;
    });
    const adapter = new SQLiteAdapter(file, { writerThread: true });
    const s = await Store.start({
      name: 's',
      persistence: {
        adapter,
        durability: 'strict',
        onError: (e) => {
          errors.push(e as StorageError);
          if ((e as StorageError).operation === 'commit') failedOnce();
        },
      },
    });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 0, v: 'first' });
    // A first group commits on the main thread and starts the thread.
    await Promise.all(Array.from({ length: 20 }, (_, i) => b.insert({ id: 500 + i, v: 'g' })));
    const ballast = fillDisk(mnt, 64 * 1024);
    let settled = 0;
    const group = Array.from({ length: 200 }, (_, i) =>
      b.insert({ id: 1 + i, v: 'z'.repeat(1000) }).then(() => settled++),
    );
    await failure;
    expect(errors[0]).toBeInstanceOf(StorageError);
    expect(errors[0]!.message).toMatch(/SQLITE_FULL|full/);
    expect(settled).toBe(0);
    expect(rawIds(file)).toHaveLength(21);
    fs.rmSync(ballast);
    resizeTmpfs(mnt, '16m');
    await Promise.all(group);
    expect(settled).toBe(200);
    expect(adapter.writerThreadCommits).toBeGreaterThan(0);
    expect(rawIds(file)).toHaveLength(221);

    // Full again: a new group waits, and stop() rejects it with a StorageError (as on the main thread).
    const ballast2 = fillDisk(mnt, 64 * 1024);
    const more = Array.from({ length: 200 }, (_, i) =>
      b.insert({ id: 1000 + i, v: 'w'.repeat(1000) }).catch((e: unknown) => e),
    );
    await new Promise((r) => setTimeout(r, 200));
    const stopped = await s.stop().catch((e: unknown) => e);
    const outcomes = await Promise.all(more);
    for (const o of outcomes) expect(o).toBeInstanceOf(StorageError);
    expect(stopped).toBeUndefined();
    fs.rmSync(ballast2);
    expect(rawIds(file)).toHaveLength(221);
    expect(integrity(file)).toBe('ok');
  }, 60_000);
});

// The writer thread dying with a unit: a crash, terminate(), running out of memory. SQLite's side
// is checked with a real terminate(); the adapter's with QUIRE_TEST_WRITER_THREAD_EXIT, a test-only
// switch that makes the thread end itself (process.exit or an uncaught error) at a chosen point of
// its first commit.
describe('SQLite writer thread dying with a unit', () => {
  it('terminate() while a worker connection is inside a write transaction: by its exit event the transaction is rolled back and the write lock is free', async () => {
    const file = path.join(tempDir(), 'term.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)');
    db.pragma('busy_timeout = 0');
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const Database = require(workerData.lib);
       const db = new Database(workerData.file);
       const insert = db.prepare('INSERT INTO t (b) VALUES (?)');
       db.prepare('BEGIN IMMEDIATE').run();
       for (let i = 0; i < 5000; i++) insert.run('x'.repeat(200));
       parentPort.postMessage('inside');
       for (;;) insert.run('more');`,
      { eval: true, workerData: { file, lib: createRequire(import.meta.url).resolve('better-sqlite3') } },
    );
    await new Promise((r) => worker.once('message', r));
    // Inside the transaction, nobody else can write.
    expect(() => db.prepare('BEGIN IMMEDIATE').run()).toThrow(/locked|busy/i);
    const locked = await new Promise<boolean>((resolve) => {
      worker.once('exit', () => {
        try {
          db.prepare('BEGIN IMMEDIATE').run();
          db.prepare('INSERT INTO t (b) VALUES (?)').run('main');
          db.prepare('COMMIT').run();
          resolve(false);
        } catch {
          resolve(true);
        }
      });
      void worker.terminate();
    });
    expect(locked).toBe(false);
    expect(db.prepare('SELECT b FROM t').pluck().all()).toEqual(['main']);
    db.close();
    expect(integrity(file)).toBe('ok');
  });

  const modes = ['in-transaction', 'after-commit', 'throw-after-commit'] as const;

  function historyRows(file: string): Array<{ key: string; version: number }> {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare('SELECT key, version FROM quire_history ORDER BY seq').all() as Array<{
        key: string;
        version: number;
      }>;
    } finally {
      db.close();
    }
  }

  for (const mode of modes) {
    it(`debounced store, thread dies ${mode}: the flush succeeds, nothing is lost or written twice, the death is reported, the store goes on committing on the main thread, stop() completes`, async () => {
      const file = path.join(tempDir(), `dies-${mode}.db`);
      const errors: StorageError[] = [];
      const adapter = new SQLiteAdapter(file);
      const s = await withExitHook(mode, () => storeWithThread(adapter, errors, historyDef));
      const b = s.bucket('b');
      // Updates and inserts in one unit, for the thread: it dies with it.
      for (let i = 0; i < 100; i++) await b.update(i, { v: 'second' });
      await b.insertMany(Array.from({ length: 2000 }, (_, i) => ({ id: 1000 + i, v: 'thread' })));
      await s.flush();
      // An uncaught error after the answer was posted: the unit is answered as committed; the death
      // is noticed (and reported) at the next commit.
      const answered = mode === 'throw-after-commit' ? 1 : 0;
      expect(adapter.writerThreadCommits).toBe(answered);
      expect(rawIds(file)).toHaveLength(2100);
      // The next unit: posted to the dead thread (and re-applied here once its exit is seen) or
      // committed here, depending on whether the exit was seen yet; stored once either way.
      const extra = answered * 500;
      if (extra > 0) {
        await b.insertMany(Array.from({ length: extra }, (_, i) => ({ id: 9000 + i, v: 'noticed' })));
        await s.flush();
      }
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringMatching(
          mode === 'in-transaction'
            ? /writer thread .*stopped.*rolled back and has been committed on the main thread/
            : mode === 'after-commit'
              ? /writer thread .*stopped.*was committed before it stopped/
              : /writer thread .*stopped \(test: writer thread crashed\).*main thread/,
        ),
      ]);
      expect(errors[0]).toBeInstanceOf(StorageError);
      // Exactly one history row per change: 100 inserts, 100 updates, 2000 inserts.
      const history = historyRows(file);
      expect(history).toHaveLength(2200 + extra);
      expect(new Set(history.map((h) => `${h.key}@${h.version}`)).size).toBe(2200 + extra);
      // The store goes on: small and large units commit on the main thread.
      await b.update(5, { v: 'after' });
      await b.insertMany(Array.from({ length: 2000 }, (_, i) => ({ id: 5000 + i, v: 'after' })));
      await s.flush();
      expect(adapter.writerThreadCommits).toBe(answered);
      expect(rawIds(file)).toHaveLength(4100 + extra);
      expect(historyRows(file)).toHaveLength(4201 + extra);
      await s.stop();
      expect(fs.existsSync(`${file}-wal`)).toBe(false);
      expect(integrity(file)).toBe('ok');
      const again = await Store.start({ name: 'd', persistence: { adapter: new SQLiteAdapter(file) } });
      const b2 = await again.defineBucket('b', historyDef);
      expect(await b2.count()).toBe(4100 + extra);
      expect((await b2.get(5))?.v).toBe('after');
      expect((await b2.get(99))?.v).toBe('second');
      expect((await b2.get(2999))?.v).toBe('thread');
      expect((await b2.history(99)).map((h) => h.version)).toEqual([2, 1]);
      await again.stop();
    }, 60_000);
  }

  it('a commit the thread has not finished after the stall time is reported once; it lands when the thread goes on', async () => {
    const file = path.join(tempDir(), 'stall.db');
    const errors: StorageError[] = [];
    const adapter = new SQLiteAdapter(file);
    process.env.QUIRE_TEST_WRITER_STALL_MS = '200';
    try {
      const s = await withExitHook('stall:1500', () => storeWithThread(adapter, errors, def));
      const b = s.bucket('b');
      await b.insertMany(Array.from({ length: 500 }, (_, i) => ({ id: 1000 + i, v: 'slow' })));
      await s.flush();
      // The thread took its 1.5 s and committed; the wait was said once, while it lasted.
      expect(adapter.writerThreadCommits).toBe(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(StorageError);
      expect(errors[0]!.operation).toBe('commit');
      expect(errors[0]!.message).toMatch(
        /writer thread .*has not finished a commit in \d+\.\d s; commits wait for it/,
      );
      expect(rawIds(file)).toHaveLength(600);
      await s.stop();
      expect(errors).toHaveLength(1);
    } finally {
      delete process.env.QUIRE_TEST_WRITER_STALL_MS;
    }
  }, 30_000);

  for (const mode of ['in-transaction', 'after-commit'] as const) {
    it(`strict store on the thread, thread dies ${mode}: every writer resolves once, each change is stored once`, async () => {
      const file = path.join(tempDir(), `strict-dies-${mode}.db`);
      const errors: StorageError[] = [];
      const adapter = new SQLiteAdapter(file, { writerThread: true });
      const s = await withExitHook(mode, async () => {
        const s = await Store.start({
          name: 's',
          persistence: { adapter, durability: 'strict', onError: (e) => errors.push(e as StorageError) },
        });
        const b = await s.defineBucket('b', historyDef);
        // A first group commits on the main thread and starts the thread.
        await Promise.all(Array.from({ length: 32 }, (_, i) => b.insert({ id: i, v: 'first' })));
        return s;
      });
      const b = s.bucket('b');
      let resolved = 0;
      await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          (i < 32 ? b.update(i, { v: 'group' }) : b.insert({ id: i, v: 'group' })).then(() => resolved++),
        ),
      );
      expect(resolved).toBe(64);
      expect(adapter.writerThreadCommits).toBe(0);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/writer thread .*stopped/);
      expect(rawIds(file)).toHaveLength(64);
      expect(historyRows(file)).toHaveLength(96);
      await Promise.all(Array.from({ length: 32 }, (_, i) => b.update(i, { v: 'later' })));
      expect(historyRows(file)).toHaveLength(128);
      await s.stop();
      expect(integrity(file)).toBe('ok');
      const again = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
      const b2 = await again.defineBucket('b', historyDef);
      expect((await b2.get(0))?.v).toBe('later');
      expect((await b2.get(40))?.v).toBe('group');
      expect((await b2.history(0)).map((h) => h.version)).toEqual([3, 2, 1]);
      await again.stop();
    }, 60_000);
  }
});
