// A debounced store flushes when its timer fires, which needs the event loop.
// A loop of awaited writes that never yields to it (a migration script, a
// bulk import) must still write as it goes: past a number of queued changes
// a flush starts at once, and commits the writer thread has answered are
// settled without waiting for the event loop.
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { EARLY_FLUSH_CHANGES } from '../../src/persistence/commit-queue.js';
import { storedRows, tempDir } from './helpers.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

/** Block this thread (no event loop, no microtasks) for `ms`. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('debounced store, a write loop that never yields to the event loop', () => {
  it('one large write is left to the timer: it returns at once', async () => {
    const file = path.join(tempDir(), 'large.db');
    const s = await Store.start({
      name: 's',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(file), debounceMs: 60_000 },
    });
    const b = await s.defineBucket('b', def);
    await s.flush();
    const n = EARLY_FLUSH_CHANGES * 1.5;
    await b.insertMany(Array.from({ length: n }, (_, i) => ({ id: i, v: `v${i}` })));
    expect(storedRows(file)).toBe(0);
    await s.flush();
    expect(storedRows(file)).toBe(n);
    await s.stop();
  });

  it('writes during the loop, on the writer thread too, and every write is stored at the end', async () => {
    const file = path.join(tempDir(), 'early.db');
    const adapter = new SQLiteAdapter(file);
    const s = await Store.start({
      name: 's',
      ttlCheckIntervalMs: 0,
      persistence: { adapter, debounceMs: 20 },
    });
    const b = await s.defineBucket('b', def);
    let loopRan = false;
    setImmediate(() => {
      loopRan = true;
    });
    const n = EARLY_FLUSH_CHANGES * 2.5;
    for (let i = 0; i < n; i++) await b.insert({ id: i, v: `v${i}` });
    // The event loop has not run, so the timer cannot have fired: rows came from flushes the queue
    // started by itself once the timer was overdue.
    expect(loopRan).toBe(false);
    const during = storedRows(file);
    expect(during).toBeGreaterThanOrEqual(EARLY_FLUSH_CHANGES);
    expect(during).toBeLessThan(n);
    // Give the writer thread time for what it was sent, then write on: its answer is taken at the
    // next check, so the loop goes on committing there.
    block(1_000);
    for (let i = 0; i < EARLY_FLUSH_CHANGES; i++) await b.update(i, { v: `u${i}` });
    expect(loopRan).toBe(false);
    expect(adapter.writerThreadCommits).toBeGreaterThanOrEqual(1);
    expect(storedRows(file)).toBeGreaterThan(during);
    await s.stop();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM quire_records').pluck().get()).toBe(n);
    const data = db
      .prepare('SELECT data FROM quire_records ORDER BY ord')
      .pluck()
      .all()
      .map((d) => JSON.parse(d as string) as { id: number; v: string });
    db.close();
    expect(data.map((r) => r.id)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(data.every((r) => r.v === (r.id < EARLY_FLUSH_CHANGES ? `u${r.id}` : `v${r.id}`))).toBe(true);
  });
});
