// SQLiteAdapter specifics: WAL and synchronous settings, self-created and
// versioned tables, persisted seq, checkpoints, single writer (P-4) with a
// real second process, stale lock takeover, read-only open, faults (SPEC §4).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  ReadOnlyStorageError,
  SQLiteAdapter,
  StorageCorruptError,
  StorageError,
  StorageLockedError,
  Store,
} from '../../src/index.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/persistence/index.js';
import { runToEnd } from '../child-output.js';
import { tempDir, waitFor } from './helpers.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

describe('SQLiteAdapter', () => {
  it('creates its tables on a fresh machine, runs WAL + synchronous=FULL, records schema_version', async () => {
    const file = path.join(tempDir(), 'nested', 'dir', 'fresh.db');
    const adapter = new SQLiteAdapter(file);
    const s = await Store.start({ name: 'f', persistence: { adapter, durability: 'strict' } });
    await (await s.defineBucket('b', def)).insert({ id: 1, v: 'x' });
    const db = adapter.database;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL: strict commits fsync the WAL
    expect(db.prepare("SELECT value FROM quire_meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SQLITE_SCHEMA_VERSION),
    );
    const row = db.prepare('SELECT key, seq, version, data FROM quire_records').get() as Record<
      string,
      unknown
    >;
    expect(row).toMatchObject({ key: '1', version: 1 });
    expect(JSON.parse(row.data as string)).toMatchObject({ id: 1, v: 'x' });
    await s.stop();
  });

  it('persists a monotonic seq across restarts', async () => {
    const file = path.join(tempDir(), 'seq.db');
    const seqs: number[] = [];
    for (let run = 0; run < 3; run++) {
      const adapter = new SQLiteAdapter(file);
      const s = await Store.start({ name: 'q', persistence: { adapter, durability: 'strict' } });
      const b = await s.defineBucket('b', def);
      await b.insert({ id: run * 10, v: 'a' });
      await b.delete(run * 10); // deletes consume seqs too
      await b.insert({ id: run * 10 + 1, v: 'b' });
      // The store's row, or the change feed's newest row when a commit's feed row carried the seq.
      seqs.push(
        adapter.database
          .prepare(
            `SELECT max((SELECT coalesce(max(last_seq), 0) FROM quire_stores WHERE name = 'q'),
                        (SELECT coalesce(max(seq), 0) FROM quire_feed WHERE store = 'q'))`,
          )
          .pluck()
          .get() as number,
      );
      const rowSeq = adapter.database.prepare('SELECT max(seq) FROM quire_records').pluck().get() as number;
      expect(rowSeq).toBe(seqs.at(-1));
      await s.stop();
    }
    expect(seqs).toEqual([3, 6, 9]);
  });

  it('continues the seq after restarts that switch the change feed off and on', async () => {
    const file = path.join(tempDir(), 'seq-feed.db');
    const runs = [10, 0, 3, 0];
    for (let run = 0; run < runs.length; run++) {
      const maxEntries = runs[run]!;
      const s = await Store.start({
        name: 'q',
        changeFeed: { maxEntries },
        persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
      });
      const b = await s.defineBucket('b', def);
      for (let i = 0; i < 5; i++) await b.insert({ id: run * 10 + i, v: 'a' });
      await b.delete(run * 10);
      const feed = await s.changes({ since: 0 });
      if (maxEntries > 0) expect(feed.at(-1)?.op).toBe('delete');
      await s.stop();
    }
    const db = new Database(file, { readonly: true });
    const seqs = db.prepare('SELECT seq FROM quire_records ORDER BY ord').pluck().all() as number[];
    db.close();
    // Every run's records got seqs above the previous run's: nothing was handed out twice.
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    const s = await Store.start({ name: 'q', persistence: { adapter: new SQLiteAdapter(file) } });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 999, v: 'z' });
    const feed = await s.changes({ since: 0 });
    // 4 runs × 6 changes (4 × 5 inserts + 4 deletes), then this insert.
    expect(feed.at(-1)?.seq).toBe(25);
    await s.stop();
  });

  it('checkpoints on demand (the WAL is emptied)', async () => {
    const file = path.join(tempDir(), 'cp.db');
    const adapter = new SQLiteAdapter(file, { autoCheckpointPages: 0 });
    const s = await Store.start({ name: 'c', persistence: { adapter, durability: 'strict' } });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 50; i++) await b.insert({ id: i, v: 'x'.repeat(100) });
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
    await s.checkpoint();
    expect(fs.statSync(`${file}-wal`).size).toBe(0);
    await s.stop();
  });

  it('upgrades an old layout and refuses a newer one with a clear error', async () => {
    const file = path.join(tempDir(), 'v.db');
    // a database that has the meta table but an unknown future version
    const raw = new Database(file);
    raw.exec(
      "CREATE TABLE quire_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO quire_meta VALUES ('schema_version', '99')",
    );
    raw.close();
    // a store it cannot read is refused at start (nothing is written over it)
    await expect(
      Store.start({ name: 'v', persistence: { adapter: new SQLiteAdapter(file) } }),
    ).rejects.toThrow(/schema version 99, newer than this Quire supports/);
    // version 0 (meta table without a version row): upgraded in place
    const file2 = path.join(tempDir(), 'v0.db');
    const raw2 = new Database(file2);
    raw2.exec('CREATE TABLE quire_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    raw2.close();
    const a = new SQLiteAdapter(file2);
    a.open('x', { onError: () => {} });
    expect(
      a.database.prepare("SELECT value FROM quire_meta WHERE key = 'schema_version'").pluck().get(),
    ).toBe(String(SQLITE_SCHEMA_VERSION));
    a.close();
  });

  it('rejects bad constructor arguments with typed errors', () => {
    expect(() => new SQLiteAdapter('')).toThrow(InvalidArgumentError);
    expect(() => new SQLiteAdapter(42 as unknown as string)).toThrow(/path/);
    expect(() => new SQLiteAdapter('x.db', { autoCheckpointPages: -1 })).toThrow(/autoCheckpointPages/);
    expect(() => new SQLiteAdapter('x.db', { busyTimeoutMs: 1.5 })).toThrow(/busyTimeoutMs/);
    expect(() => new SQLiteAdapter('x.db', null as unknown as object)).toThrow(InvalidArgumentError);
  });
});

describe('single writer (P-4)', () => {
  const fixture = path.resolve(import.meta.dirname, '../fixtures/hold-lock.ts');

  it('a second writer gets StorageLockedError naming the holder; read-only works meanwhile', async () => {
    const file = path.join(tempDir(), 'lock.db');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await waitFor(() => out.includes('ready'), 'the holder to be ready', 20_000);
      const err = await Store.start({
        name: 'locked',
        persistence: { adapter: new SQLiteAdapter(file) },
      }).catch((e) => e);
      expect(err).toBeInstanceOf(StorageLockedError);
      expect(err.holder.pid).toBe(child.pid);
      expect(err.message).toContain(`process ${child.pid}`);
      expect(err.message).toContain('host');
      // read-only open while the writer holds it
      const errors: Error[] = [];
      const ro = await Store.start({
        name: 'locked',
        persistence: { adapter: new SQLiteAdapter(file, { readOnly: true }), onError: (e) => errors.push(e) },
      });
      const b = await ro.defineBucket('b', { key: 'id', schema: { id: { type: 'number' } } });
      expect(await b.get(1)).toBeDefined();
      await b.insert({ id: 2 }); // kept in memory; reported, never thrown
      expect(errors[0]).toBeInstanceOf(ReadOnlyStorageError);
      await ro.stop();
    } finally {
      child.stdin!.end();
      await exited;
    }
    // after the holder exits, writing works again
    const s = await Store.start({ name: 'locked', persistence: { adapter: new SQLiteAdapter(file) } });
    await s.stop();
  }, 30_000);

  it('takes over a stale lock left by a dead process', async () => {
    const file = path.join(tempDir(), 'stale.db');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    fs.writeFileSync(
      `${file}.lock`,
      JSON.stringify({ pid: dead.pid, host: (await import('node:os')).hostname(), since: 1 }),
    );
    const s = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
    expect(JSON.parse(fs.readFileSync(`${file}.lock`, 'utf8')).pid).toBe(process.pid);
    await s.stop();
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it('a second adapter on the same file in the same process is refused too', async () => {
    const file = path.join(tempDir(), 'same.db');
    const s = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
    await expect(
      Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } }),
    ).rejects.toBeInstanceOf(StorageLockedError);
    await s.stop();
  });
});

describe('faults (SPEC §4)', () => {
  it('unwritable location: serves from memory, reports, catches up when the location becomes usable', async () => {
    const root = tempDir();
    const blocker = path.join(root, 'blocked');
    fs.writeFileSync(blocker, 'a file where a directory should be');
    const file = path.join(blocker, 'db', 'store.db');
    const errors: Error[] = [];
    const s = await Store.start({
      name: 'u',
      persistence: { adapter: new SQLiteAdapter(file), debounceMs: 1, onError: (e) => errors.push(e) },
    });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 1, v: 'kept in memory' });
    expect(await b.get(1)).toBeDefined();
    await waitFor(() => errors.length >= 2, 'failure reports');
    expect(errors[0]).toBeInstanceOf(StorageError);
    fs.rmSync(blocker);
    fs.mkdirSync(blocker);
    await waitFor(() => fs.existsSync(file), 'the database to be created on retry');
    await s.stop();
    const again = await Store.start({ name: 'u', persistence: { adapter: new SQLiteAdapter(file) } });
    expect(await (await again.defineBucket('b', def)).get(1)).toMatchObject({ v: 'kept in memory' });
    await again.stop();
  });

  it('a file that is not a database: Store.start refuses with StorageCorruptError and leaves it untouched', async () => {
    const file = path.join(tempDir(), 'corrupt.db');
    const garbage = Buffer.alloc(8192, 0x5a);
    fs.writeFileSync(file, garbage);
    const err = await Store.start({
      name: 'c',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageCorruptError);
    expect((err as StorageCorruptError).path).toBe(file);
    expect((err as Error).message).toMatch(/not a database/);
    expect(fs.readFileSync(file).equals(garbage)).toBe(true);
    expect(fs.existsSync(`${file}.lock`)).toBe(false); // the lock was released
  });

  it('full disk (file size limit in a child process): reported, store keeps serving, nothing corrupt', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'full.db');
    const script = `
      import { SQLiteAdapter, Store } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../src/index.ts'))};
      process.on('SIGXFSZ', () => {});
      const errors = [];
      const s = await Store.start({ name: 'f', persistence: { adapter: new SQLiteAdapter(${JSON.stringify(file)}), debounceMs: 1, onError: (e) => errors.push(e.message) } });
      const b = await s.defineBucket('b', { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } });
      for (let i = 0; i < 3000; i++) await b.insert({ id: i, v: 'x'.repeat(500) });
      await s.flush().catch(() => {});
      const count = await b.count();
      // Acknowledged (debounced) writes are dropped: stop() must say so.
      const stopped = await s.stop().then(() => 'ok', (e) => e.message);
      process.stdout.write(JSON.stringify({ count, errors: errors.slice(0, 2), stopped }));
    `;
    const scriptFile = path.join(dir, 'full.mts');
    fs.writeFileSync(scriptFile, script);
    const child = spawn(
      'bash',
      ['-c', `ulimit -f 256; exec "${process.execPath}" --import tsx "${scriptFile}"`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: path.resolve(import.meta.dirname, '../..'),
      },
    );
    const { code, stdout, stderr } = await runToEnd(child);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as { count: number; errors: string[]; stopped: string };
    expect(result.count).toBe(3000); // served from memory
    expect(result.stopped).toMatch(/not persisted/);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(result.errors[0]).toMatch(/full|FULL|large|FBIG|disk|I\/O|IOERR/i);
    // what reached the file is consistent
    const ro = new SQLiteAdapter(file, { readOnly: true });
    expect(ro.integrityCheck()).toBe('ok');
    ro.close();
  }, 60_000);
});
