// A debounced store flushes when its timer fires, which needs the event loop.
// A loop of awaited writes that never yields to it (a migration script, a
// bulk import) must still write as it goes: past a number of queued changes
// a flush starts at once, and commits the writer thread has answered are
// settled without waiting for the event loop.
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { tempDir } from './helpers.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

function storedRows(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM quire_records').pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Block this thread (no event loop, no microtasks) for `ms`. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('debounced store, a write loop that never yields to the event loop', () => {
  it('writes during the loop, on the writer thread too, and every write is stored at the end', async () => {
    const file = path.join(tempDir(), 'early.db');
    const adapter = new SQLiteAdapter(file);
    const s = await Store.start({
      name: 's',
      ttlCheckIntervalMs: 0,
      persistence: { adapter, debounceMs: 60_000 },
    });
    const b = await s.defineBucket('b', def);
    let loopRan = false;
    setImmediate(() => {
      loopRan = true;
    });
    for (let i = 0; i < 60_000; i++) await b.insert({ id: i, v: `v${i}` });
    // The timer (a minute away) cannot have fired, and the event loop has not run: rows came from
    // flushes the queue started by itself.
    expect(loopRan).toBe(false);
    const during = storedRows(file);
    expect(during).toBeGreaterThanOrEqual(16_384);
    expect(during).toBeLessThan(60_000);
    // Give the writer thread time for what it was sent, then write on: its answer is taken at the
    // next check, so the loop goes on committing there.
    block(1_000);
    for (let i = 0; i < 20_000; i++) await b.update(i, { v: `u${i}` });
    expect(loopRan).toBe(false);
    expect(adapter.writerThreadCommits).toBeGreaterThanOrEqual(1);
    expect(storedRows(file)).toBeGreaterThan(during);
    await s.stop();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM quire_records').pluck().get()).toBe(60_000);
    const data = db
      .prepare('SELECT data FROM quire_records ORDER BY ord')
      .pluck()
      .all()
      .map((d) => JSON.parse(d as string) as { id: number; v: string });
    db.close();
    expect(data.map((r) => r.id)).toEqual(Array.from({ length: 60_000 }, (_, i) => i));
    expect(data.every((r) => r.v === (r.id < 20_000 ? `u${r.id}` : `v${r.id}`))).toBe(true);
  });
});
