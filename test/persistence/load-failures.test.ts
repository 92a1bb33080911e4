// Loading is all or nothing: stored data that cannot be read completely
// fails Store.start or defineBucket with a typed error (StorageCorruptError
// for damaged bytes), never starts a bucket empty or partial, and never lets
// new writes replace rows that were not loaded. Real files, damaged the way
// disks and people damage them: a flipped byte in a row, a damaged page, a
// truncated file, a path that cannot be opened, a full disk at start.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAdapter, SQLiteAdapter, StorageCorruptError, StorageError, Store } from '../../src/index.js';
import { storedRows, tempDir } from './helpers.js';
import { fillDisk, mountTmpfs } from './tmpfs.js';

const require = createRequire(import.meta.url);
const BIN = path.resolve(import.meta.dirname, '../../bin/quire.js');

const def = {
  key: 'id',
  schema: { id: { type: 'number', generated: 'autoincrement' }, v: { type: 'string' } },
} as const;

/** A store file with `n` records in bucket `b` (and one in `other`), fully checkpointed into the main file. */
async function makeStore(file: string, n: number): Promise<void> {
  const s = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
  const b = await s.defineBucket('b', def);
  await b.insertMany(Array.from({ length: n }, (_, i) => ({ v: `${'x'.repeat(300)}-marker-${i}-end` })));
  await (await s.defineBucket('other', def)).insert({ v: 'fine' });
  await s.stop();
  const raw = new Database(file);
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.close();
  for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

/** Start a store without onError (nothing is printed, nothing is reported) and define `b`. */
async function load(file: string): Promise<{ store: Store; error: unknown }> {
  const store = await Store.start({
    name: 's',
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });
  const error = await store.defineBucket('b', def).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { store, error };
}

/** Change `-marker-…` to `-mArker-…` wherever it occurs in the file (stale copies in free pages too). */
function flipAll(file: string, text: string): number {
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let at = buf.indexOf(text); at >= 0; at = buf.indexOf(text, at + 1)) {
    buf[at + 2] = 'A'.charCodeAt(0);
    n++;
  }
  fs.writeFileSync(file, buf);
  return n;
}

describe('SQLite: damaged rows and pages are refused, not loaded', () => {
  it('a flipped byte inside a row: StorageCorruptError naming path, bucket and what was lost; nothing overwritten', async () => {
    const file = path.join(tempDir(), 'flip.db');
    await makeStore(file, 200);
    // still valid JSON after the change: only a checksum can tell
    expect(flipAll(file, '-marker-17-end')).toBeGreaterThan(0);

    const { store, error } = await load(file);
    expect(error).toBeInstanceOf(StorageCorruptError);
    const e = error as StorageCorruptError;
    expect(e.code).toBe('STORAGE_CORRUPT');
    expect(e.path).toBe(file);
    expect(e.bucket).toBe('b');
    expect(e.lost).toBe('1 of 200 records');
    expect(e.message).toMatch(/checksum/);
    expect(e.message).toContain('18'); // the key of the damaged row
    // the bucket is not defined: nothing can write over its rows
    expect(store.hasBucket('b')).toBe(false);
    expect(() => store.bucket('b')).toThrow();
    // the rest of the store works
    const other = await store.defineBucket('other', def);
    expect(await other.count()).toBe(1);
    await other.insert({ v: 'more' });
    // asking again refuses again
    await expect(store.defineBucket('b', def)).rejects.toBeInstanceOf(StorageCorruptError);
    await store.stop();
    // the damaged bucket's rows are all still there, byte for byte
    const raw = new Database(file, { readonly: true });
    const rows = raw
      .prepare(
        "SELECT count(*) FROM quire_records r JOIN quire_buckets b ON b.id = r.bucket_id WHERE b.name = 'b'",
      )
      .pluck()
      .get();
    const damaged = raw
      .prepare("SELECT count(*) FROM quire_records WHERE instr(data, '-mArker-17-end') > 0")
      .pluck()
      .get();
    raw.close();
    expect(rows).toBe(200);
    expect(damaged).toBe(1);
    // `quire check` reports the same damage
    const check = spawnSync(process.execPath, [BIN, 'check', '--db', file], {
      env: { ...process.env, QUIRE_CLI_SOURCE: '1' },
      encoding: 'utf8',
    });
    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(/checksum/);
  });

  for (const damage of ['fewer cells', 'zeroed page', 'garbage in a page'] as const) {
    it(`a damaged page (${damage}): StorageCorruptError, never a partial bucket`, async () => {
      const file = path.join(tempDir(), 'page.db');
      await makeStore(file, 200);
      const raw = new Database(file, { readonly: true });
      const pageSize = raw.pragma('page_size', { simple: true }) as number;
      const leaves = raw
        .prepare(
          "SELECT pageno FROM dbstat WHERE name = 'quire_records' AND pagetype = 'leaf' ORDER BY pageno",
        )
        .pluck()
        .all() as number[];
      raw.close();
      expect(leaves.length).toBeGreaterThan(10);
      const off = (leaves[5]! - 1) * pageSize;
      const buf = fs.readFileSync(file);
      if (damage === 'fewer cells') buf.writeUInt16BE(1, off + 3);
      else if (damage === 'zeroed page') buf.fill(0, off, off + pageSize);
      else buf.fill(0x41, off + 100, off + 2000);
      fs.writeFileSync(file, buf);

      const { store, error } = await load(file);
      expect(error).toBeInstanceOf(StorageCorruptError);
      expect((error as StorageCorruptError).bucket).toBe('b');
      expect((error as StorageCorruptError).path).toBe(file);
      expect(store.hasBucket('b')).toBe(false);
      await store.stop();
    });
  }

  it('a truncated file: refused with StorageCorruptError', async () => {
    const file = path.join(tempDir(), 'trunc.db');
    await makeStore(file, 200);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, Math.floor(size / 2));
    const err = await load(file).then(
      async ({ store, error }) => {
        await store.stop();
        return error;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageCorruptError);
    expect(fs.statSync(file).size).toBe(Math.floor(size / 2));
  });

  it('a path that cannot be opened: Store.start rejects (strict writes can no longer hang on it)', async () => {
    const file = path.join(tempDir(), 'dir.db');
    fs.mkdirSync(file); // a directory where the database file should be: unopenable, even for root
    const err = await Store.start({
      name: 's',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).path).toBe(file);
    expect((err as Error).message).toMatch(/unable to open|directory/i);
  });

  it('an unparsable stored definition is StorageCorruptError, not a bare SyntaxError', async () => {
    const file = path.join(tempDir(), 'def.db');
    await makeStore(file, 3);
    const raw = new Database(file);
    raw.prepare("UPDATE quire_buckets SET definition = '{\"definition\": {' WHERE name = 'b'").run();
    raw.close();
    const { store, error } = await load(file);
    expect(error).toBeInstanceOf(StorageCorruptError);
    expect((error as StorageCorruptError).lost).toBe('the bucket definition');
    await store.stop();
  });

  it('databases from before checksums are upgraded: existing rows get one, and damage is then detected', async () => {
    const file = path.join(tempDir(), 'v2.db');
    await makeStore(file, 20);
    // Turn it back into a schema-2 database (no checksum column).
    const raw = new Database(file);
    raw.exec(
      "ALTER TABLE quire_records DROP COLUMN crc; UPDATE quire_meta SET value = '2' WHERE key = 'schema_version'",
    );
    raw.close();
    const { store, error } = await load(file);
    expect(error).toBeUndefined();
    expect(await store.bucket('b').count()).toBe(20);
    await store.stop();
    const check = new Database(file);
    check.pragma('wal_checkpoint(TRUNCATE)');
    expect(check.prepare('SELECT count(*) FROM quire_records WHERE crc IS NULL').pluck().get()).toBe(0);
    check.close();
    expect(flipAll(file, '-marker-3-end')).toBeGreaterThan(0);
    const again = await load(file);
    expect(again.error).toBeInstanceOf(StorageCorruptError);
    await again.store.stop();
  });
});

describe('full disk at start (1 MiB tmpfs)', () => {
  const mounts: string[] = [];
  afterEach(() => {
    for (const m of mounts.splice(0)) execFileSync('umount', [m]);
  });

  it('Store.start loads every record; once space is back the data is intact and autoincrement continues', async () => {
    const dir = path.join(tempDir(), 'mnt');
    fs.mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    mounts.push(dir);
    const file = path.join(dir, 'full.db');
    await makeStore(file, 100);
    expect(storedRows(file)).toBe(101);
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(4096);
      for (;;) fs.writeSync(fd, chunk);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    // The -wal and -shm files storedRows' connection opened are still there (without room for a -shm
    // the store opens in exclusive mode: see 'a disk too full for the shared-memory file').
    expect(fs.existsSync(`${file}-shm`)).toBe(true);
    // Reading needs no space: the store starts with every record loaded
    // (never an empty bucket over rows it could not read).
    const full = await Store.start({
      name: 's',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    const fb = await full.defineBucket('b', def);
    expect(await fb.count()).toBe(100);
    expect(((await fb.get(100)) as { v: string }).v).toMatch(/-marker-99-end$/);
    await full.stop();
    fs.rmSync(filler);
    // space is back: everything is there, and new records do not reuse ids
    const s = await Store.start({
      name: 's',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    const b = await s.defineBucket('b', def);
    expect(await b.count()).toBe(100);
    expect(((await b.get(1)) as { v: string }).v).toMatch(/-marker-0-end$/);
    const added = await b.insert({ v: 'new' });
    expect(added.id).toBe(101);
    await s.stop();
  });
});

describe('a disk too full for the shared-memory file', () => {
  it('the store opens in exclusive mode and says so: every record is read, writes wait for room and then land', async () => {
    const dir = mountTmpfs('2m');
    const file = path.join(dir, 'full.db');
    await makeStore(file, 20);
    // SQLite sizes the 32 KiB `-shm` file when it opens a WAL database: leave less than that.
    const ballast = fillDisk(dir, 8 * 1024);
    const errors: Error[] = [];
    const adapter = new SQLiteAdapter(file);
    const s = await Store.start({
      name: 's',
      persistence: { adapter, durability: 'strict', onError: (e) => errors.push(e) },
    });
    expect(adapter.exclusive).toBe(true);
    expect(errors[0]).toBeInstanceOf(StorageError);
    expect(errors[0]!.message).toContain(file);
    expect(errors[0]!.message).toMatch(/exclusive mode.*is the disk full\?/);
    const b = await s.defineBucket('b', def);
    expect(await b.count()).toBe(20);
    expect(((await b.get(20)) as { v: string }).v).toMatch(/-marker-19-end$/);
    // Another process's reader cannot use the file meanwhile (no shared memory to coordinate through).
    const reader = spawnSync(
      process.execPath,
      [
        '-e',
        `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))}); try { new D(${JSON.stringify(file)}, { readonly: true, timeout: 100 }).prepare('SELECT count(*) FROM quire_records').get(); console.log('read'); } catch (e) { console.log(e.code); }`,
      ],
      { encoding: 'utf8' },
    );
    expect(reader.stdout.trim()).not.toBe('read');
    // A strict insert waits while the disk is full, and lands once there is room.
    const inserted = b.insert({ v: 'after-room' });
    let settled = false;
    void inserted.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    expect(errors.length).toBeGreaterThan(1);
    fs.rmSync(ballast);
    const added = await inserted;
    expect(added.id).toBe(21);
    await s.stop();
    // Reopened with room: an ordinary WAL store with every record.
    const again = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
    const ab = await again.defineBucket('b', def);
    expect(await ab.count()).toBe(21);
    expect(((await ab.get(21)) as { v: string }).v).toBe('after-room');
    expect(fs.statSync(`${file}-shm`).size).toBeGreaterThanOrEqual(32 * 1024);
    await again.stop();
  });
});

describe('FileAdapter', () => {
  it('a broken record line in the snapshot is StorageCorruptError, not a bare SyntaxError', async () => {
    const dir = path.join(tempDir(), 'f');
    const s = await Store.start({
      name: 'k',
      persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
    });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 5; i++) await b.insert({ v: `row-${i}` });
    await s.checkpoint(); // writes the snapshot
    await s.stop();
    const snap = path.join(dir, 'k.snapshot');
    const text = fs.readFileSync(snap, 'utf8');
    expect(text).toContain('"row-2"');
    fs.writeFileSync(snap, text.replace('"row-2"', '"row-2'));
    const again = await Store.start({ name: 'k', persistence: { adapter: new FileAdapter(dir) } });
    const err = await again.defineBucket('b', def).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageCorruptError);
    expect((err as StorageCorruptError).bucket).toBe('b');
    expect(again.hasBucket('b')).toBe(false);
    await again.stop();
  });
});
