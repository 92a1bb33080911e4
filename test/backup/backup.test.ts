// Backups: the noex-compatible ones (createBackup/listBackups/restoreBackup/
// deleteBackup) and the online backup to a file (store.backupTo) with
// restoreFromBackup, on real files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, inject, it } from 'vitest';
import {
  BackupNotFoundError,
  FileAdapter,
  InvalidArgumentError,
  MemoryAdapter,
  PersistenceRequiredError,
  restoreFromBackup,
  SQLiteAdapter,
  StorageError,
  StorageLockedError,
  Store,
} from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, tempDir } from '../persistence/helpers.js';

const postgres = () => new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema: pgSchema() });

const def = {
  key: 'id',
  schema: { id: { type: 'number' }, name: { type: 'string' }, payload: { type: 'string' } },
  history: true,
} as const;

describe('noex-compatible backups', () => {
  it('PersistenceRequiredError without persistence, for every backup call', async () => {
    const s = await Store.start();
    await expect(s.createBackup()).rejects.toBeInstanceOf(PersistenceRequiredError);
    await expect(s.listBackups()).rejects.toThrow('Cannot list backups: persistence is not configured');
    await expect(s.restoreBackup('x')).rejects.toBeInstanceOf(PersistenceRequiredError);
    await expect(s.deleteBackup('x')).rejects.toBeInstanceOf(PersistenceRequiredError);
    await expect(s.backupTo(path.join(tempDir(), 'x.db'))).rejects.toBeInstanceOf(PersistenceRequiredError);
    await s.stop();
  });

  for (const [kind, make] of [
    ['SQLiteAdapter', () => new SQLiteAdapter(path.join(tempDir(), 'b.db'))],
    ['FileAdapter', () => new FileAdapter(path.join(tempDir(), 'files'))],
    ['MemoryAdapter', () => new MemoryAdapter()],
    ['PostgresAdapter', postgres],
  ] as const) {
    it(`create, list, restore, delete; BackupNotFoundError (${kind})`, async () => {
      const s = await Store.start({ name: 'bk', persistence: { adapter: make() } });
      const b = await s.defineBucket('items', def);
      await b.insertMany([
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ]);
      const info = await s.createBackup('first');
      expect(info).toMatchObject({ id: 'first', name: 'first', bucketNames: ['items'], totalRecords: 2 });
      await b.update(1, { name: 'changed' });
      await b.delete(2);
      await b.insert({ id: 3, name: 'three' });
      expect((await s.listBackups()).map((x) => x.name)).toEqual(['first']);
      await s.restoreBackup('first');
      expect((await b.all()).map((r) => r.name)).toEqual(['one', 'two']);
      const e = await s.restoreBackup('nope').catch((x) => x);
      expect(e).toBeInstanceOf(BackupNotFoundError);
      expect(e.message).toBe('Backup "nope" not found');
      expect(await s.deleteBackup('first')).toBe(true);
      expect(await s.deleteBackup('first')).toBe(false);
      await expect(s.restoreBackup('first')).rejects.toBeInstanceOf(BackupNotFoundError);
      expect(await s.listBackups()).toEqual([]);
      await s.stop();
    });
  }
});

/** A strict-mode store on SQLite with `n` records of ~200 bytes. */
async function bigStore(file: string, n: number) {
  const s = await Store.start({
    name: 'big',
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });
  const b = await s.defineBucket('items', def);
  const payload = 'p'.repeat(200);
  for (let i = 0; i < n; i += 5000)
    await b.insertMany(
      Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({ id: i + j, name: `n${i + j}`, payload })),
    );
  return { s, b };
}

describe('store.backupTo (online, consistent)', () => {
  it('SQLite: the file is a Quire store with records, history and the change feed', async () => {
    const dir = tempDir();
    const { s, b } = await bigStore(path.join(dir, 'live.db'), 100);
    await b.update(5, { name: 'five' }, { actor: 'eve' });
    const info = await s.backupTo(path.join(dir, 'copy.db'));
    expect(info.path).toBe(path.join(dir, 'copy.db'));
    expect(info.bytes).toBe(fs.statSync(info.path).size);
    await s.stop();
    // a single self-contained file
    expect(fs.existsSync(`${info.path}-wal`)).toBe(false);
    const copy = await Store.start({ name: 'big', persistence: { adapter: new SQLiteAdapter(info.path) } });
    const items = await copy.defineBucket('items', def);
    expect(await items.count()).toBe(100);
    expect((await items.history(5)).map((e) => `${e.version}:${e.actor ?? '-'}`)).toEqual(['2:eve', '1:-']);
    expect((await copy.changes({ since: 100 })).map((e) => `${e.seq}:${e.op}`)).toEqual(['101:update']);
    await copy.stop();
  });

  it('SQLite: writes during a large backup are neither blocked nor lost; the copy is consistent', async () => {
    const dir = tempDir();
    const { s, b } = await bigStore(path.join(dir, 'live.db'), 60_000);
    await s.defineBucket('pairs', { key: 'id', schema: { id: { type: 'number' } } });
    let stop = false;
    let written = 0;
    let duringBackup = 0;
    let backingUp = true;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        // each transaction writes two buckets: a consistent copy has both or neither
        await s.transaction(async (tx) => {
          await (await tx.bucket('items')).insert({ id: 1_000_000 + i, name: `w${i}` });
          await (await tx.bucket('pairs')).insert({ id: 1_000_000 + i });
        });
        written++;
        if (backingUp) duringBackup++;
      }
    })();
    let steps = 0;
    const info = await s.backupTo(path.join(dir, 'copy.db'), {
      pagesPerStep: 64,
      onProgress: () => {
        steps++;
      },
    });
    backingUp = false;
    stop = true;
    await writer;
    expect(steps).toBeGreaterThan(10);
    expect(duringBackup).toBeGreaterThan(0); // writers went on while pages were copied
    expect(await b.count()).toBe(60_000 + written); // nothing lost in the live store
    await s.stop();
    const check = new Database(info.path, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
    const copy = await Store.start({ name: 'big', persistence: { adapter: new SQLiteAdapter(info.path) } });
    const ci = await copy.defineBucket('items', def);
    const cp = await copy.defineBucket('pairs', { key: 'id', schema: { id: { type: 'number' } } });
    const extra = (await ci.where({ id: { $gte: 1_000_000 } })).map((r) => r.id);
    expect(extra.sort()).toEqual((await cp.all()).map((r) => r.id).sort());
    expect(await ci.count()).toBe(60_000 + extra.length);
    await copy.stop();
  });

  for (const [kind, make] of [
    ['FileAdapter', (d: string) => new FileAdapter(path.join(d, 'files'))],
    ['MemoryAdapter', () => new MemoryAdapter()],
    ['PostgresAdapter', postgres],
  ] as const) {
    it(`${kind}: writes an SQLite store with records, history and feed`, async () => {
      const dir = tempDir();
      const s = await Store.start({ name: 'x', persistence: { adapter: make(dir) } });
      const b = await s.defineBucket('items', def);
      const tmp = await s.defineBucket('tmp', {
        key: 'id',
        schema: { id: { type: 'number' } },
        persistent: false,
      });
      await tmp.insert({ id: 1 });
      for (let i = 0; i < 20; i++) await b.insert({ id: i, name: `n${i}` });
      await b.update(3, { name: 'three' }, { actor: 'ann' });
      const info = await s.backupTo(path.join(dir, 'snap.db'));
      await s.stop();
      const copy = await Store.start({ name: 'x', persistence: { adapter: new SQLiteAdapter(info.path) } });
      const ci = await copy.defineBucket('items', def);
      expect((await ci.all()).map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect((await ci.history(3)).map((e) => `${e.version}:${e.actor ?? '-'}`)).toEqual(['2:ann', '1:-']);
      expect((await copy.changes({ limit: 100 })).filter((e) => e.bucket === 'items')).toHaveLength(21);
      expect(
        await copy
          .defineBucket('tmp', { key: 'id', schema: { id: { type: 'number' } } })
          .then((t) => t.count()),
      ).toBe(0);
      // seqs continue after those of the copy
      await ci.insert({ id: 99 });
      expect((await copy.changes({ since: 22 }))[0]!.seq).toBeGreaterThan(22);
      await copy.stop();
    });
  }

  it('rejects bad input: existing file, bad options, onto itself', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'live.db');
    const s = await Store.start({ name: 'e', persistence: { adapter: new SQLiteAdapter(file) } });
    await (await s.defineBucket('items', def)).insert({ id: 1 });
    const target = path.join(dir, 'copy.db');
    await s.backupTo(target);
    await expect(s.backupTo(target)).rejects.toThrow(/exists \(pass \{overwrite: true\}/);
    await s.backupTo(target, { overwrite: true });
    await expect(s.backupTo(file, { overwrite: true })).rejects.toThrow(/onto itself/);
    for (const bad of ['', 42, null])
      await expect(s.backupTo(bad as string)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.backupTo(target, { pagesPerStep: 0, overwrite: true })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(s.backupTo(target, 'fast' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await s.stop();
  });
});

describe('restoreFromBackup', () => {
  it('puts a backup in place of a store file; refuses a running store, a damaged or foreign file', async () => {
    const dir = tempDir();
    const live = path.join(dir, 'live.db');
    const { s, b } = await bigStore(live, 10);
    const backup = path.join(dir, 'backup.db');
    await s.backupTo(backup);
    await b.deleteMany({});
    // the live file is in use
    await expect(restoreFromBackup(backup, live, { overwrite: true })).rejects.toBeInstanceOf(
      StorageLockedError,
    );
    await s.stop();
    await expect(restoreFromBackup(backup, live)).rejects.toThrow(/pass \{overwrite: true\}/);
    await restoreFromBackup(backup, live, { overwrite: true });
    const s2 = await Store.start({ name: 'big', persistence: { adapter: new SQLiteAdapter(live) } });
    expect(await (await s2.defineBucket('items', def)).count()).toBe(10);
    await s2.stop();
    // into a new file
    const other = path.join(dir, 'sub', 'other.db');
    await restoreFromBackup(backup, other);
    expect(fs.existsSync(other)).toBe(true);
    // bad sources
    await expect(restoreFromBackup(path.join(dir, 'missing.db'), path.join(dir, 'x.db'))).rejects.toThrow(
      /does not exist/,
    );
    const junk = path.join(dir, 'junk.db');
    fs.writeFileSync(junk, 'this is not a database at all, just text'.repeat(200));
    await expect(restoreFromBackup(junk, path.join(dir, 'y.db'))).rejects.toBeInstanceOf(StorageError);
    const foreign = path.join(dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE t (x)');
    f.close();
    await expect(restoreFromBackup(foreign, path.join(dir, 'z.db'))).rejects.toThrow(/not a Quire store/);
    await expect(restoreFromBackup(backup, backup)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(fs.existsSync(path.join(dir, 'y.db'))).toBe(false);
  });
});
