// `quire copy`: a store moved from SQLite to PostgreSQL and back, with its
// definitions, records, counters, history and change feed, verified; a
// target that already holds the store is refused.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { runToEnd } from '../child-output.js';
import { pgSchema, tempDir } from '../persistence/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));

function quire(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToEnd(
    spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, QUIRE_CLI_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

const def = {
  key: 'id',
  schema: { id: { type: 'number', generated: 'autoincrement' }, title: { type: 'string' } },
  history: true,
} as const;

async function contents(adapter: SQLiteAdapter | PostgresAdapter) {
  const s = await Store.start({ name: 'app', persistence: { adapter } });
  const notes = await s.defineBucket('notes', def);
  const out = {
    records: await notes.all(),
    history: (await notes.history(1)).map((h) => `${h.version}:${h.op}:${h.actor ?? '-'}`),
    feed: (await s.changes({ limit: 1000 })).length,
    next: (await notes.insert({ title: 'after copy' })).id,
  };
  await s.stop();
  return out;
}

describe('quire copy', () => {
  it('SQLite → PostgreSQL → SQLite keeps records, counters, history and the feed; refuses a filled target', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'app.db');
    const s = await Store.start({ name: 'app', persistence: { adapter: new SQLiteAdapter(file) } });
    const notes = await s.defineBucket('notes', def);
    for (let i = 0; i < 1200; i++) await notes.insert({ title: `n${i}` });
    await notes.update(1, { title: 'edited' }, { actor: 'ann' });
    await notes.delete(2);
    const original = { records: await notes.all(), feed: (await s.changes({ limit: 1000 })).length };
    await s.stop();

    const schema = pgSchema();
    const url = `${inject('pgUrl')}?schema=${schema}`;
    const up = await quire('copy', '--from', file, '--to', url);
    expect(up.stderr).toMatch(
      /copied store "app": 1 buckets, 1199 records, \d+ history entries, \d+ feed entries \(verified\)/,
    );
    expect(up.code).toBe(0);
    const again = await quire('copy', '--from', file, '--to', url);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already holds store "app"/);

    const back = path.join(dir, 'back.db');
    const down = await quire('copy', '--from', url, '--to', back);
    expect(down.code).toBe(0);
    // Both copies hold what the original held.
    for (const adapter of [
      new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema }),
      new SQLiteAdapter(back),
    ]) {
      const c = await contents(adapter);
      expect(c.records).toEqual(
        original.records.slice(0, -0 || undefined).filter((r) => r.title !== 'after copy'),
      );
      expect(c.history).toEqual(['2:update:ann', '1:insert:-']);
      expect(c.feed).toBe(original.feed);
      // The autoincrement counter came along: the next id follows the highest ever given.
      expect(c.next).toBe(1201);
    }
  }, 60_000);
});
