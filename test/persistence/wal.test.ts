// The SQLite WAL stays bounded under back-to-back strict commits, and stop()
// leaves no -wal/-shm files. The bound scales with `autoCheckpointPages`
// (the worker checkpoints past it; the writer itself past four times it), so
// a small setting shows in a few thousand commits what the default shows in
// a hundred thousand (`npm run bench` measures the default: WAL ≤ 64 MiB).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { tempDir } from './helpers.js';

const PAGES = 64;
const PAGE_SIZE = 4096;
/** Four times the automatic checkpoint size, plus room for the commit that crossed it. */
const BOUND = 4 * PAGES * PAGE_SIZE + 256 * 1024;

function walSize(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

describe('bounded WAL', () => {
  it('sequential strict inserts and concurrent strict updates never let the WAL pass its bound; stop() removes -wal and -shm', async () => {
    const file = path.join(tempDir(), 'wal.db');
    const s = await Store.start({
      name: 'w',
      persistence: { adapter: new SQLiteAdapter(file, { autoCheckpointPages: PAGES }), durability: 'strict' },
    });
    const b = await s.defineBucket('b', {
      key: 'id',
      schema: {
        id: { type: 'number', generated: 'autoincrement' },
        v: { type: 'string' },
        n: { type: 'number' },
      },
    });
    let max = 0;
    let written = 0;
    const sample = () => {
      written++;
      max = Math.max(max, walSize(file));
    };
    for (let i = 0; i < 1500; i++) {
      await b.insert({ v: 'x'.repeat(200), n: 0 });
      sample();
    }
    // 8 writers in flight, updates spread over the bucket (each group commit touches many pages)
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 250; i++) {
          await b.update((((w * 250 + i) * 7) % 1500) + 1, { n: i });
          sample();
        }
      }),
    );
    expect(written).toBe(3500);
    // Without the bound this workload grows the WAL well past it (the worker's passive checkpoints fall behind).
    expect(max).toBeGreaterThan(PAGES * PAGE_SIZE); // the workload did reach the checkpoint size
    expect(max).toBeLessThanOrEqual(BOUND);
    await s.stop();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);
    const again = await Store.start({ name: 'w', persistence: { adapter: new SQLiteAdapter(file) } });
    const b2 = await again.defineBucket('b', {
      key: 'id',
      schema: {
        id: { type: 'number', generated: 'autoincrement' },
        v: { type: 'string' },
        n: { type: 'number' },
      },
    });
    expect(await b2.count()).toBe(1500);
    await again.stop();
  }, 120_000);

  it('a large unit may pass the bound alone (left to the checkpointer); one that finds the WAL past it is checkpointed by its writer', async () => {
    const file = path.join(tempDir(), 'large.db');
    const s = await Store.start({
      name: 'w',
      persistence: {
        adapter: new SQLiteAdapter(file, { autoCheckpointPages: PAGES, writerThread: false }),
        debounceMs: 60_000,
      },
    });
    const b = await s.defineBucket('b', {
      key: 'id',
      schema: { id: { type: 'number' }, v: { type: 'string' } },
    });
    await s.flush();
    const unit = (from: number) =>
      b.insertMany(Array.from({ length: 2000 }, (_, i) => ({ id: from + i, v: 'x'.repeat(300) })));
    // From a small WAL: the flush returns without a checkpoint of its own (nothing truncates the WAL).
    await unit(0);
    await s.flush();
    const afterFirst = walSize(file);
    expect(afterFirst).toBeGreaterThan(4 * PAGES * PAGE_SIZE);
    // The WAL is past the bound as the next unit starts: its writer checkpoints and truncates it.
    await unit(2000);
    await s.flush();
    expect(walSize(file)).toBe(0);
    await s.stop();
    const again = await Store.start({ name: 'w', persistence: { adapter: new SQLiteAdapter(file) } });
    expect(
      await (
        await again.defineBucket('b', {
          key: 'id',
          schema: { id: { type: 'number' }, v: { type: 'string' } },
        })
      ).count(),
    ).toBe(4000);
    await again.stop();
  });
});
