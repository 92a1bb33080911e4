// SQLite's change feed in schema version 5: packed rows in the compact
// layout, in a rowid table where a store's rows are one id range. Every
// entry comes back as written whatever changes between entries (seq gaps,
// time, bucket, actor, op, any key); rows stay short of overflow pages;
// stores sharing a file keep apart feeds; a version 4 file (WITHOUT ROWID
// table, entry-list rows) upgrades and reads; damage is a
// StorageCorruptError.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, StorageCorruptError, StorageError, Store } from '../../src/index.js';
import type { FeedWrite } from '../../src/persistence/index.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/persistence/index.js';
import { straceScript } from '../persistence/strace.js';
import { fillDisk, mountTmpfs } from '../persistence/tmpfs.js';
import { tempDir } from './helpers.js';

const quiet = { onError: () => {}, durability: 'strict' as const };

/** A store's feed entries, written as one unit each per batch, straight through the adapter. */
function writeFeed(file: string, batches: FeedWrite[][]): void {
  const a = new SQLiteAdapter(file);
  a.open('f', quiet);
  for (const feed of batches)
    a.commit('f', { buckets: [], records: [], lastSeq: feed.at(-1)!.seq, feed }) as void;
  a.close();
}

function readFeed(file: string, since: number, limit: number, store = 'f'): FeedWrite[] {
  const a = new SQLiteAdapter(file, { readOnly: true });
  try {
    a.open(store, quiet);
    return a.readChanges(store, since, limit);
  } finally {
    a.close();
  }
}

/** Turn a current file into what schema version 4 wrote: quire_feed WITHOUT ROWID keyed (store, seq). */
function toVersion4(file: string): void {
  const raw = new Database(file);
  raw.exec(`
    CREATE TABLE quire_feed_v4 (store TEXT NOT NULL, seq INTEGER NOT NULL, bucket TEXT NOT NULL,
      key TEXT NOT NULL, op TEXT NOT NULL, version INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT,
      packed TEXT, PRIMARY KEY (store, seq)) WITHOUT ROWID;
    INSERT INTO quire_feed_v4 SELECT store, seq, bucket, key, op, version, at, actor, packed FROM quire_feed;
    DROP TABLE quire_feed;
    ALTER TABLE quire_feed_v4 RENAME TO quire_feed;
    ALTER TABLE quire_stores DROP COLUMN feed_slot;
    UPDATE quire_meta SET value = '4' WHERE key = 'schema_version';
  `);
  raw.close();
}

/**
 * A version 4 file holding 6,000 feed entries of store 'f' (about 1 MiB): an upgrade copies them all
 * in one transaction, many WAL pages. (Their packed rows keep the current layout: the upgrade copies
 * rows as they are, whatever their layout.)
 */
function largeVersion4File(file: string): FeedWrite[] {
  const entries: FeedWrite[] = Array.from({ length: 6000 }, (_, i) => ({
    seq: i + 1,
    bucket: 'items',
    key: JSON.stringify(`key-${i}-${'x'.repeat(40)}`),
    op: 'update',
    version: i + 2,
    at: 1_764_000_000_000 + i,
    actor: i % 2 === 0 ? 'writer' : null,
  }));
  writeFeed(
    file,
    Array.from({ length: 60 }, (_, b) => entries.slice(b * 100, b * 100 + 100)),
  );
  toVersion4(file);
  return entries;
}

const root = path.resolve(import.meta.dirname, '../..');

/** One value, read by a writable connection (which recovers a WAL left by a killed process). */
function rawQuery(file: string, sql: string): unknown {
  const db = new Database(file);
  try {
    return db.prepare(sql).pluck().get();
  } finally {
    db.close();
  }
}

/** Every stored feed row as it is, in (store, seq) order. */
function rawFeedRows(file: string): unknown[] {
  const db = new Database(file);
  try {
    return db.prepare('SELECT * FROM quire_feed ORDER BY store, seq').all();
  } finally {
    db.close();
  }
}

const query = (file: string, sql: string): unknown => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get();
  } finally {
    db.close();
  }
};

const keyArb = fc.oneof(
  fc.integer({ min: -1e6, max: 1e12 }),
  fc.string({ maxLength: 40 }),
  fc.uuid(),
  fc.tuple(fc.string({ maxLength: 5 }), fc.integer()),
);

/** Feed entries in seq order, as a store makes them (seqs rise, with gaps; time may even go back). */
const feedArb = fc
  .array(
    fc.record({
      step: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 1e9 })),
      bucket: fc.oneof(fc.constant('items'), fc.string({ minLength: 1, maxLength: 8 })),
      key: keyArb,
      op: fc.constantFrom('insert' as const, 'update' as const, 'delete' as const),
      version: fc.integer({ min: 1, max: 2 ** 40 }),
      atStep: fc.oneof(fc.constant(0), fc.integer({ min: -5_000, max: 5_000 })),
      actor: fc.oneof(fc.constant(null), fc.constant('bench'), fc.string({ maxLength: 12 })),
    }),
    { minLength: 1, maxLength: 120 },
  )
  .map((entries) => {
    let seq = 0;
    let at = 1_764_000_000_000;
    return entries.map(
      (e): FeedWrite => ({
        seq: (seq += e.step),
        bucket: e.bucket,
        key: JSON.stringify(e.key),
        op: e.op,
        version: e.version,
        at: (at += e.atStep),
        actor: e.actor,
      }),
    );
  });

describe('SQLite change feed rows (compact layout)', () => {
  it('every entry of a commit comes back as written, from any point, with any limit', () => {
    fc.assert(
      fc.property(feedArb, fc.nat(), fc.integer({ min: 1, max: 200 }), (feed, cut, limit) => {
        const file = path.join(tempDir('quire-feed-rows-'), 'f.db');
        // Two commits: a store writes a unit's entries together, then the next unit's.
        const half = cut % (feed.length + 1);
        writeFeed(
          file,
          [feed.slice(0, half), feed.slice(half)].filter((b) => b.length > 0),
        );
        expect(readFeed(file, 0, 10_000)).toEqual(feed);
        const since = feed[cut % feed.length]!.seq;
        expect(readFeed(file, since, limit)).toEqual(feed.filter((f) => f.seq > since).slice(0, limit));
      }),
      { numRuns: 40 },
    );
  });

  it('a strict commit of 32 changes with uuid keys writes rows that stay in their B-tree pages (no overflow page)', async () => {
    const file = path.join(tempDir('quire-feed-rows-'), 'u.db');
    const s = await Store.start({
      name: 'f',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    const b = await s.defineBucket('users', {
      key: 'id',
      schema: { id: { type: 'string' }, n: { type: 'number' } },
    });
    const ids = Array.from({ length: 32 }, (_, i) => `${crypto.randomUUID()}-${i}`);
    await Promise.all(ids.map((id) => b.insert({ id, n: 0 }, { actor: 'someone@example.com' })));
    await Promise.all(ids.map((id, i) => b.update(id, { n: i }, { actor: 'someone@example.com' })));
    await s.stop();
    // more than one row per commit (they were cut), none with an overflow page
    expect(query(file, 'SELECT count(*) FROM quire_feed WHERE packed IS NOT NULL')).toBeGreaterThan(2);
    expect(
      query(file, "SELECT count(*) FROM dbstat WHERE name = 'quire_feed' AND pagetype = 'overflow'"),
    ).toBe(0);
    const s2 = await Store.start({ name: 'f', persistence: { adapter: new SQLiteAdapter(file) } });
    const changes = await s2.changes({ limit: 1000 });
    expect(changes.map((c) => c.seq)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect(changes.slice(32).map((c) => c.key)).toEqual(ids);
    expect(changes.every((c) => c.actor === 'someone@example.com')).toBe(true);
    await s2.stop();
  });

  it('a version 4 file (WITHOUT ROWID feed, entry-list rows, stores sharing it) upgrades: every store reads its feed and seq, new rows mix in', async () => {
    const file = path.join(tempDir('quire-feed-rows-'), 'v4.db');
    const old: FeedWrite[] = [
      { seq: 1, bucket: 'items', key: '1', op: 'insert', version: 1, at: 1000, actor: 'a' },
      { seq: 2, bucket: 'items', key: '"k"', op: 'update', version: 2, at: 1001, actor: null },
      { seq: 4, bucket: 'other', key: '[1,"x"]', op: 'delete', version: 3, at: 1002, actor: 'b"c' },
    ];
    writeFeed(file, [old.slice(0, 1)]);
    // What Quire wrote with schema version 4: quire_feed WITHOUT ROWID keyed (store, seq), a packed
    // row holding an entry list; store 'g' shares the file, its seq only in its feed rows.
    toVersion4(file);
    const raw = new Database(file);
    raw.exec(`
      INSERT INTO quire_feed VALUES ('g', 7, 'gb', '7', 'insert', 1, 5, NULL, NULL);
      INSERT INTO quire_feed VALUES ('g', 9, 'gb', '9', 'insert', 1, 6, 'z', NULL);
    `);
    const v4 = JSON.stringify(
      old.slice(1).map((f) => [f.seq, f.bucket, JSON.parse(f.key), f.op, f.version, f.at, f.actor]),
    );
    raw
      .prepare(
        "INSERT INTO quire_feed (store, seq, bucket, key, op, version, at, actor, packed) VALUES ('f', 4, 'other', '[1,\"x\"]', 'delete', 3, 1002, 'b\"c', ?)",
      )
      .run(v4);
    raw.close();
    const ro = new SQLiteAdapter(file, { readOnly: true });
    expect(() => ro.open('f', quiet)).toThrow(/schema version 4; open it once for writing/);

    const newer: FeedWrite[] = [
      { seq: 5, bucket: 'items', key: '2', op: 'insert', version: 1, at: 2000, actor: 'n' },
      { seq: 6, bucket: 'items', key: '3', op: 'insert', version: 1, at: 2000, actor: 'n' },
    ];
    writeFeed(file, [newer]);
    expect(query(file, "SELECT value FROM quire_meta WHERE key = 'schema_version'")).toBe(
      String(SQLITE_SCHEMA_VERSION),
    );
    expect(query(file, 'SELECT packed FROM quire_feed WHERE seq = 4')).toBe(v4);
    expect(query(file, 'SELECT count(DISTINCT feed_slot) FROM quire_stores')).toBe(2);
    expect(readFeed(file, 0, 100)).toEqual([...old, ...newer]);
    expect(readFeed(file, 2, 2)).toEqual([old[2], newer[0]]);
    expect(readFeed(file, 0, 100, 'g')).toEqual([
      { seq: 7, bucket: 'gb', key: '7', op: 'insert', version: 1, at: 5, actor: null },
      { seq: 9, bucket: 'gb', key: '9', op: 'insert', version: 1, at: 6, actor: 'z' },
    ]);
    const a = new SQLiteAdapter(file, { readOnly: true });
    expect(a.open('g', quiet).lastSeq).toBe(9);
    expect(a.open('f', quiet).lastSeq).toBe(6);
    expect(a.dumpLog('f').feed).toEqual([...old, ...newer]);
    a.close();
  });

  it('a writer killed in the middle of the version 4 → 5 upgrade leaves a version 4 file that upgrades later, every entry kept', () => {
    const dir = tempDir('quire-feed-upgrade-kill-');
    const file = path.join(dir, 'v4.db');
    const entries = largeVersion4File(file);
    const before = rawFeedRows(file);
    expect(before.length).toBeGreaterThan(0);

    const copy = path.join(dir, 'copy.db');
    const script = path.join(dir, 'open.mts');
    fs.writeFileSync(
      script,
      `
      import * as fs from 'node:fs';
      import { SQLiteAdapter } from ${JSON.stringify(path.join(root, 'src/index.ts'))};
      const a = new SQLiteAdapter(${JSON.stringify(copy)});
      fs.writeSync(1, 'START\\n');
      a.open('f', { onError: () => {}, durability: 'strict' });
      fs.writeSync(1, 'OPENED\\n');
      a.close();
      `,
    );
    /** Open a fresh copy of the version 4 file for writing (which upgrades it) under strace. */
    const openCopy = (inject: string[]) => {
      for (const f of ['', '-wal', '-shm']) fs.rmSync(copy + f, { force: true });
      fs.copyFileSync(file, copy);
      const out = path.join(dir, 'trace.txt');
      const r = straceScript(script, 'pwrite64,write', out, { strace: inject });
      return { stdout: r.stdout, lines: r.lines };
    };
    const isPwrite = (l: string) => /pwrite64\(/.test(l);
    // A run without a fault counts the pwrite64 calls of opening, that is of the upgrade's commit.
    const clean = openCopy([]);
    expect(clean.stdout).toContain('OPENED');
    const start = clean.lines.findIndex((l) => l.includes('write(1, "START'));
    const opened = clean.lines.findIndex((l) => l.includes('write(1, "OPENED'));
    const upgradeWrites = clean.lines.slice(start, opened).filter(isPwrite).length;
    expect(upgradeWrites).toBeGreaterThan(20);
    expect(rawQuery(copy, "SELECT value FROM quire_meta WHERE key = 'schema_version'")).toBe(
      String(SQLITE_SCHEMA_VERSION),
    );
    // The same open, killed (SIGKILL) at the middle pwrite64 of the upgrade.
    const at = clean.lines.slice(0, start).filter(isPwrite).length + Math.floor(upgradeWrites / 2);
    const killed = openCopy(['-e', `inject=pwrite64:signal=KILL:when=${at}`]);
    expect(killed.stdout).toContain('START');
    expect(killed.stdout).not.toContain('OPENED');
    expect(fs.existsSync(`${copy}-wal`)).toBe(true); // it died with part of the upgrade written
    // Still version 4 with every row (the unfinished commit is not part of the file) …
    expect(rawQuery(copy, "SELECT value FROM quire_meta WHERE key = 'schema_version'")).toBe('4');
    expect(rawFeedRows(copy)).toEqual(before);
    // … and the next writable open upgrades it, with every entry readable.
    const next: FeedWrite = { ...entries[0]!, seq: 6001, version: 1, key: '"new"' };
    writeFeed(copy, [[next]]);
    expect(readFeed(copy, 0, 10_000)).toEqual([...entries, next]);
  }, 180_000);

  it('the version 4 → 5 upgrade on a full disk fails with a StorageError and changes nothing; with room again it upgrades', () => {
    const dir = mountTmpfs('16m');
    const file = path.join(dir, 'v4.db');
    const entries = largeVersion4File(file);
    const before = rawFeedRows(file);
    const bytes = fs.readFileSync(file);
    expect(bytes.length).toBeGreaterThan(4 * 160 * 1024); // the upgrade's copy needs far more than the room left
    // Room for the lock and shared-memory files, not for the upgrade's copy of the feed table.
    const ballast = fillDisk(dir, 160 * 1024);
    const a = new SQLiteAdapter(file);
    expect(() => a.open('f', quiet)).toThrow(StorageError);
    expect(() => a.open('f', quiet)).toThrow(/full|space/i);
    a.close();
    fs.rmSync(ballast);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true); // the store file itself was not touched
    expect(rawQuery(file, "SELECT value FROM quire_meta WHERE key = 'schema_version'")).toBe('4');
    expect(rawFeedRows(file)).toEqual(before);
    const next: FeedWrite = { ...entries[0]!, seq: 6001, version: 1, key: '"new"' };
    writeFeed(file, [[next]]);
    expect(readFeed(file, 0, 10_000)).toEqual([...entries, next]);
  });

  it('stores sharing a file keep their feeds apart: each reads, prunes and restarts with its own', async () => {
    const file = path.join(tempDir('quire-feed-rows-'), 'two.db');
    // One adapter (one connection) serves both stores.
    let adapter = new SQLiteAdapter(file);
    const start = (name: string) =>
      Store.start({
        name,
        changeFeed: { maxEntries: 100 },
        persistence: { adapter, durability: 'strict' },
      });
    const def = { key: 'id', schema: { id: { type: 'number' }, n: { type: 'number' } } } as const;
    const [x, y] = [await start('x'), await start('y')];
    const [bx, by] = [await x.defineBucket('b', def), await y.defineBucket('b', def)];
    for (let i = 0; i < 300; i++) {
      await bx.insert({ id: i, n: 0 }, { actor: 'x' });
      if (i % 3 === 0) await by.insert({ id: i, n: 1 }, { actor: 'y' });
    }
    await x.stop();
    await y.stop();
    expect(
      query(file, 'SELECT count(DISTINCT feed_slot) FROM quire_stores WHERE feed_slot IS NOT NULL'),
    ).toBe(2);
    // x's old entries were pruned (the feed keeps its last 100 and prunes in steps), y's were not
    expect(query(file, "SELECT min(seq) FROM quire_feed WHERE store = 'x'")).toBeGreaterThan(100);
    expect(query(file, "SELECT min(seq) FROM quire_feed WHERE store = 'y'")).toBe(1);
    adapter = new SQLiteAdapter(file);
    const [x2, y2] = [await start('x'), await start('y')];
    const cx = await x2.changes({ limit: 1000 });
    const cy = await y2.changes({ limit: 1000 });
    expect(cx.map((c) => c.key)).toEqual(Array.from({ length: 100 }, (_, i) => 200 + i));
    expect(cx.every((c) => c.actor === 'x')).toBe(true);
    expect(cy.map((c) => c.key)).toEqual(Array.from({ length: 100 }, (_, i) => i * 3));
    expect(cy.every((c) => c.actor === 'y')).toBe(true);
    await (await x2.defineBucket('b', def)).insert({ id: 1000, n: 0 });
    expect((await x2.changes({ since: 300 })).map((c) => [c.seq, c.key])).toEqual([[301, 1000]]);
    await x2.stop();
    await y2.stop();
  });

  it('a feed seq past 2^47 (the id range of a store) is a StorageError that commits nothing', () => {
    const file = path.join(tempDir('quire-feed-rows-'), 'big.db');
    const entry = (seq: number): FeedWrite => ({
      seq,
      bucket: 'items',
      key: '1',
      op: 'update',
      version: 1,
      at: 1,
      actor: null,
    });
    writeFeed(file, [[entry(2 ** 47 - 1)]]);
    const a = new SQLiteAdapter(file);
    a.open('f', quiet);
    expect(() =>
      a.commit('f', {
        buckets: [],
        records: [],
        lastSeq: 2 ** 47,
        feed: [entry(2 ** 47)],
      }),
    ).toThrow(StorageError);
    a.close();
    expect(readFeed(file, 0, 10).map((f) => f.seq)).toEqual([2 ** 47 - 1]);
  });

  it('a row whose entries were changed or cut is a StorageCorruptError naming it; records still load', async () => {
    const feed: FeedWrite[] = Array.from({ length: 5 }, (_, i) => ({
      seq: i + 1,
      bucket: 'items',
      key: String(i),
      op: 'update',
      version: i + 1,
      at: 1000,
      actor: null,
    }));
    for (const damage of [
      // still a list, but an entry short
      "UPDATE quire_feed SET packed = replace(packed, ',0,4,5]', ',0,4]') WHERE packed LIKE '%,0,4,5]'",
      // an entry's seq step changed: the entries no longer end at the row's seq
      "UPDATE quire_feed SET packed = replace(packed, ',0,4,5]', ',4,4,5,2]') WHERE packed LIKE '%,0,4,5]'",
      // not a layout this Quire knows
      "UPDATE quire_feed SET packed = '[9,1,2]'",
      // cut
      'UPDATE quire_feed SET packed = substr(packed, 1, 12)',
    ]) {
      const file = path.join(tempDir('quire-feed-rows-'), 'bad.db');
      writeFeed(file, [feed]);
      const raw = new Database(file);
      expect(raw.prepare(damage).run().changes).toBe(1);
      raw.close();
      const err = (() => {
        try {
          readFeed(file, 0, 100);
        } catch (e) {
          return e;
        }
      })();
      expect(err, damage).toBeInstanceOf(StorageCorruptError);
      expect((err as Error).message).toMatch(/change feed at seq 5 .* is damaged/);
    }
  });
});
