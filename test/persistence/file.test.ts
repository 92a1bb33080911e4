// FileAdapter specifics: journal + snapshot layout, compaction, checksums,
// damaged snapshot, bad arguments, read-only open.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FileAdapter,
  InvalidArgumentError,
  MemoryAdapter,
  ReadOnlyStorageError,
  StorageCorruptionError,
  StorageLockedError,
  Store,
} from '../../src/index.js';
import { tempDir } from './helpers.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

describe('FileAdapter', () => {
  it('compacts the journal into an atomic snapshot and restores from both', async () => {
    const dir = path.join(tempDir(), 'f');
    const s = await Store.start({
      name: 'c',
      persistence: { adapter: new FileAdapter(dir, { compactAfterBytes: 2048 }), durability: 'strict' },
    });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 40; i++) await b.insert({ id: i, v: 'x'.repeat(100) });
    expect(fs.existsSync(path.join(dir, 'c.snapshot'))).toBe(true);
    expect(fs.statSync(path.join(dir, 'c.journal')).size).toBeLessThan(2048 + 400);
    await b.delete(0);
    await b.insert({ id: 0, v: 'last' });
    await s.stop();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const again = await Store.start({ name: 'c', persistence: { adapter: new FileAdapter(dir) } });
    const b2 = await again.defineBucket('b', def);
    expect(await b2.count()).toBe(40);
    expect((await b2.all()).at(-1)).toMatchObject({ id: 0, v: 'last' });
    await again.stop();
  });

  it('a flipped byte inside a journal frame fails its checksum: cut off there and reported', async () => {
    const dir = path.join(tempDir(), 'f');
    const s = await Store.start({
      name: 'k',
      persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
    });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 1, v: 'one' });
    await b.insert({ id: 2, v: 'two' });
    await s.stop();
    const journal = path.join(dir, 'k.journal');
    const buf = fs.readFileSync(journal);
    buf[buf.length - 5] ^= 0xff;
    fs.writeFileSync(journal, buf);
    const errors: Error[] = [];
    const again = await Store.start({
      name: 'k',
      persistence: { adapter: new FileAdapter(dir), onError: (e) => errors.push(e) },
    });
    const b2 = await again.defineBucket('b', def);
    expect(await b2.get(1)).toBeDefined();
    expect(await b2.get(2)).toBeUndefined();
    expect(errors[0]).toBeInstanceOf(StorageCorruptionError);
    expect(errors[0]!.message).toMatch(/checksum mismatch/);
    await again.stop();
  });

  it('an unreadable snapshot: Store.start refuses with StorageCorruptError and leaves the file as it is', async () => {
    const dir = path.join(tempDir(), 'f');
    fs.mkdirSync(dir, { recursive: true });
    const snapshot = path.join(dir, 's.snapshot');
    fs.writeFileSync(snapshot, '{"format": "quire-snapshot", garbage');
    const err = await Store.start({ name: 's', persistence: { adapter: new FileAdapter(dir) } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageCorruptionError);
    expect((err as StorageCorruptionError).path).toBe(snapshot);
    expect(fs.readFileSync(snapshot, 'utf8')).toBe('{"format": "quire-snapshot", garbage');
    expect(fs.existsSync(path.join(dir, 's.lock'))).toBe(false);
  });

  it('single writer per store directory; read-only open works alongside', async () => {
    const dir = path.join(tempDir(), 'f');
    const s = await Store.start({
      name: 'w',
      persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
    });
    await (await s.defineBucket('b', def)).insert({ id: 1, v: 'x' });
    await expect(
      Store.start({ name: 'w', persistence: { adapter: new FileAdapter(dir) } }),
    ).rejects.toBeInstanceOf(StorageLockedError);
    const errors: Error[] = [];
    const ro = await Store.start({
      name: 'w',
      persistence: { adapter: new FileAdapter(dir, { readOnly: true }), onError: (e) => errors.push(e) },
    });
    const b = await ro.defineBucket('b', def);
    expect(await b.get(1)).toBeDefined();
    await b.insert({ id: 2, v: 'mem' });
    expect(errors[0]).toBeInstanceOf(ReadOnlyStorageError);
    await ro.stop();
    await s.stop();
  });

  it('rejects bad constructor arguments', () => {
    expect(() => new FileAdapter('')).toThrow(InvalidArgumentError);
    expect(() => new FileAdapter(null as unknown as string)).toThrow(/dir/);
    expect(() => new FileAdapter('d', { compactAfterBytes: -5 })).toThrow(/compactAfterBytes/);
  });
});

describe('backups through the adapters', () => {
  it('createBackup / listBackups / restoreBackup / deleteBackup on every Quire adapter', async () => {
    for (const adapter of [new MemoryAdapter(), new FileAdapter(path.join(tempDir(), 'bk'))]) {
      const s = await Store.start({ name: 'bk', persistence: { adapter } });
      const b = await s.defineBucket('b', def);
      await b.insert({ id: 1, v: 'before' });
      const info = await s.createBackup('one');
      expect(info).toMatchObject({ name: 'one', bucketNames: ['b'], totalRecords: 1 });
      await b.update(1, { v: 'after' });
      expect((await s.listBackups()).map((x) => x.name)).toEqual(['one']);
      await s.restoreBackup('one');
      expect(await s.bucket('b').get(1)).toMatchObject({ v: 'before' });
      expect(await s.deleteBackup('one')).toBe(true);
      expect(await s.listBackups()).toEqual([]);
      await s.stop();
    }
  });
});
