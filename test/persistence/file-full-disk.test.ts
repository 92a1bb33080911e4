// FileAdapter on a full disk (a real 1 MiB tmpfs): the kernel cuts writes
// short, then answers ENOSPC. A compaction or a backup that cannot be
// written completely must fail, leave the previous files as they were, and
// lose nothing that was acknowledged; when space returns the store catches up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExportError, FileAdapter, ReadOnlyStorageError, StorageError, Store } from '../../src/index.js';
import { fillDisk, mountTmpfs, resizeTmpfs } from './tmpfs.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

async function readIds(dir: string, name: string): Promise<{ ids: Set<number>; errors: Error[] }> {
  const errors: Error[] = [];
  const s = await Store.start({
    name,
    persistence: { adapter: new FileAdapter(dir, { readOnly: true }), onError: (e) => errors.push(e) },
  });
  const b = await s.defineBucket('b', def);
  const ids = new Set((await b.all()).map((r) => r.id as number));
  await s.stop();
  // Defining the bucket through a read-only adapter reports that its definition stays in memory.
  return { ids, errors: errors.filter((e) => !(e instanceof ReadOnlyStorageError)) };
}

describe('FileAdapter on a full disk', () => {
  it('a compaction that cannot be written keeps snapshot + journal; acknowledged strict writes survive; catches up when space returns', async () => {
    const mnt = mountTmpfs('1m');
    const dir = path.join(mnt, 'files');
    const compactAfterBytes = 32 * 1024;
    const errors: StorageError[] = [];
    let commitFailed!: () => void;
    const commitFailure = new Promise<'stuck'>((resolve) => {
      commitFailed = () => resolve('stuck');
    });
    const s = await Store.start({
      name: 'full',
      persistence: {
        adapter: new FileAdapter(dir, { compactAfterBytes }),
        durability: 'strict',
        onError: (e) => {
          errors.push(e as StorageError);
          if ((e as StorageError).operation === 'commit') commitFailed();
        },
      },
    });
    const b = await s.defineBucket('b', def);
    const acked: number[] = [];
    let pending: Promise<unknown> | undefined;
    let pendingId = -1;
    // Strict inserts until the journal itself cannot grow; compactions fail well before that.
    for (let id = 0; id < 5000; id++) {
      const write = b.insert({ id, v: `${id}:${'x'.repeat(1000)}` });
      if ((await Promise.race([write.then(() => 'ok' as const), commitFailure])) === 'stuck') {
        pending = write;
        pendingId = id;
        break;
      }
      acked.push(id);
    }
    expect(pending, 'the disk filled up').toBeDefined();
    const compactErrors = errors.filter((e) => e.operation === 'compact');
    expect(compactErrors.length).toBeGreaterThan(0);
    expect(compactErrors[0]).toBeInstanceOf(StorageError);
    expect(compactErrors[0]!.message).toMatch(/ENOSPC|no space/);
    // The failed snapshot was removed, not moved into place.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // What is on disk right now (the disk still full) holds every acknowledged write.
    const now = await readIds(dir, 'full');
    expect(now.errors).toEqual([]);
    for (const id of acked) expect(now.ids.has(id), `acknowledged id ${id} on disk`).toBe(true);
    expect(now.ids.has(pendingId)).toBe(false);
    // The store kept serving from memory.
    expect(await b.count()).toBe(acked.length + 1);

    // Space returns: the pending write is committed, the overdue compaction runs.
    resizeTmpfs(mnt, '8m');
    await s.flush();
    await pending;
    // Failed compactions are retried as the journal grows (by half the threshold), not on every commit.
    const journal = path.join(dir, 'full.journal');
    const more: number[] = [];
    while (fs.statSync(journal).size >= compactAfterBytes && more.length < 100) {
      await b.insert({ id: 100_000 + more.length, v: 'z'.repeat(1000) });
      more.push(100_000 + more.length);
    }
    expect(fs.statSync(journal).size).toBeLessThan(compactAfterBytes);
    await s.stop();

    const after = await readIds(dir, 'full');
    expect(after.errors).toEqual([]);
    expect(after.ids.size).toBe(acked.length + 1 + more.length);
    for (const id of [...acked, pendingId, ...more]) expect(after.ids.has(id)).toBe(true);
  }, 60_000);

  it('a backup cut short by a full disk fails instead of reporting success; listBackups and restoreBackup keep working', async () => {
    const mnt = mountTmpfs('1m');
    const dir = path.join(mnt, 'files');
    const s = await Store.start({ name: 'bk', persistence: { adapter: new FileAdapter(dir) } });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 100; i++) await b.insert({ id: i, v: 'y'.repeat(1000) });
    await s.flush();
    expect(await s.createBackup('one')).toMatchObject({ name: 'one', totalRecords: 100 });
    // Room for part of a second backup only: the kernel writes what fits and returns a short count.
    const ballast = fillDisk(mnt, 40 * 1024);
    const err = await s.createBackup('two').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/ENOSPC|no space/);
    expect(fs.readdirSync(path.join(dir, 'kv')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await s.listBackups()).map((x) => x.name)).toEqual(['one']);
    await b.update(1, { v: 'changed' });
    await s.restoreBackup('one');
    expect(await b.get(1)).toMatchObject({ v: 'y'.repeat(1000) });
    // Space returns: the same backup now works.
    fs.rmSync(ballast);
    expect(await s.createBackup('two')).toMatchObject({ name: 'two', totalRecords: 100 });
    expect((await s.listBackups()).map((x) => x.name)).toEqual(['one', 'two']);
    await s.restoreBackup('two');
    expect(await b.count()).toBe(100);
    await s.stop();
  }, 60_000);

  it('an export that does not fit fails with ExportError and leaves the previous file as it was', async () => {
    const mnt = mountTmpfs('64k');
    const s = await Store.start({ name: 'ex' });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 200; i++) await b.insert({ id: i, v: 'e'.repeat(1000) });
    const target = path.join(mnt, 'out.json');
    fs.writeFileSync(target, '"previous export"');
    const err = await b.export('json', { to: target }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as Error).message).toMatch(/ENOSPC|no space/);
    expect(fs.readFileSync(target, 'utf8')).toBe('"previous export"');
    expect(fs.readdirSync(mnt)).toEqual(['out.json']);
    await s.stop();
  });
});
