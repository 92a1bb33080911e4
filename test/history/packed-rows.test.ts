// SQLite keeps the versions of a record changed several times in one flush
// in one quire_history row, and the feed entries of one commit in one
// quire_feed row (schema version 4). Reads unpack them: every version and
// every change comes back, in order, with retention applied; databases
// written before (one row per version and per change, schema version 3)
// open and read as before, and mix with the new rows.
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, StorageCorruptError, Store } from '../../src/index.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/persistence/index.js';
import { FEED_ROW_CHARS } from '../../src/persistence/log-rows.js';
import { storedNumber } from '../persistence/helpers.js';
import { docDef, summary, tempDir } from './helpers.js';

const open = (file: string, durability: 'strict' | 'debounced' = 'debounced') =>
  Store.start({
    name: 'p',
    persistence: { adapter: new SQLiteAdapter(file), durability, debounceMs: 60_000 },
  });

describe('SQLite packed history and feed rows', () => {
  it('a record changed many times in one flush is one row; history(key) returns every version, filters and limits', async () => {
    const file = path.join(tempDir(), 'p.db');
    const s = await open(file);
    const docs = await s.defineBucket('docs', docDef);
    await docs.insert({ id: 'a', title: 't0' }, { actor: 'x"y' });
    for (let i = 1; i < 40; i++) await docs.update('a', { title: `t${i}` }, { actor: `u${i % 3}` });
    await docs.insert({ id: 'b', title: 'only' });
    await s.flush();
    await docs.delete('a', { actor: 'gone' });
    await docs.insert({ id: 'a', title: 'again' }, { actor: 'back' });
    await s.stop();
    // 'a': one row of 40 versions, one of 2; 'b': a plain row
    expect(storedNumber(file, 'SELECT count(*) FROM quire_history WHERE key = \'"a"\'')).toBe(2);
    expect(storedNumber(file, 'SELECT sum(versions) FROM quire_history WHERE key = \'"a"\'')).toBe(42);
    expect(
      storedNumber(file, 'SELECT count(*) FROM quire_history WHERE key = \'"b"\' AND packed IS NULL'),
    ).toBe(1);

    const s2 = await open(file);
    const d2 = await s2.defineBucket('docs', docDef);
    const all = await d2.history('a');
    expect(all).toHaveLength(42);
    expect(summary(all.slice(0, 4))).toEqual([
      '1:insert:back',
      '40:delete:gone',
      '40:update:u0',
      '39:update:u2',
    ]);
    expect(summary(all.slice(-1))).toEqual(['1:insert:x"y']);
    expect(all.map((e) => e.record?.title)).toEqual([
      'again',
      undefined,
      ...Array.from({ length: 40 }, (_, i) => `t${39 - i}`),
    ]);
    expect(all.every((e, i) => i === 0 || e.seq! < all[i - 1]!.seq!)).toBe(true);
    expect((await d2.history('a', { limit: 3 })).map((e) => e.seq)).toEqual(
      all.slice(0, 3).map((e) => e.seq),
    );
    const until = all[20]!.at;
    expect((await d2.history('a', { until })).map((e) => e.seq)).toEqual(
      all.filter((e) => e.at <= until).map((e) => e.seq),
    );
    const since = all[30]!.at;
    expect((await d2.history('a', { since, limit: 5 })).map((e) => e.seq)).toEqual(
      all
        .filter((e) => e.at >= since)
        .slice(0, 5)
        .map((e) => e.seq),
    );
    expect((await d2.history('b')).map((e) => e.record?.title)).toEqual(['only']);
    await s2.stop();
  });

  it('maxVersions: a flush with more versions than kept stores only the newest; older rows are pruned by version count', async () => {
    const file = path.join(tempDir(), 'keep.db');
    const def = { ...docDef, history: { maxVersions: 5 } };
    const s = await open(file);
    const docs = await s.defineBucket('docs', def);
    await docs.insert({ id: 'a', title: 't0' });
    for (let i = 1; i < 20; i++) await docs.update('a', { title: `t${i}` });
    await s.flush();
    expect(storedNumber(file, 'SELECT sum(coalesce(versions, 1)) FROM quire_history')).toBe(5);
    for (let i = 20; i < 23; i++) await docs.update('a', { title: `t${i}` });
    await s.flush();
    // the newest row holds 3 versions; the row before it is kept for the other 2
    expect(storedNumber(file, 'SELECT count(*) FROM quire_history')).toBe(2);
    for (let i = 23; i < 28; i++) await docs.update('a', { title: `t${i}` });
    await s.flush();
    expect(storedNumber(file, 'SELECT count(*) FROM quire_history')).toBe(1);
    await s.stop();
    const s2 = await open(file);
    const d2 = await s2.defineBucket('docs', def);
    expect((await d2.history('a')).map((e) => e.record?.title)).toEqual(['t27', 't26', 't25', 't24', 't23']);
    await s2.stop();
  });

  it('one feed row per commit; changes() returns every change in order from any point inside a row, with limits', async () => {
    const file = path.join(tempDir(), 'feed.db');
    const s = await open(file);
    const b = await s.defineBucket('items', {
      key: 'id',
      schema: { id: { type: 'number' }, n: { type: 'number' } },
    });
    for (let i = 0; i < 600; i++) await b.insert({ id: i, n: 0 }, i % 2 === 0 ? { actor: 'even' } : {});
    expect((await s.changes({ limit: 10_000 })).map((c) => c.key)).toEqual(
      Array.from({ length: 600 }, (_, i) => i),
    );
    await s.flush();
    await b.update(5, { n: 1 }, { actor: 'one' });
    await s.flush();
    await s.stop();
    // 600 entries in rows cut short of SQLite's overflow size, then a plain row for the single change
    expect(
      storedNumber(file, 'SELECT count(*) FROM quire_feed WHERE packed IS NOT NULL'),
    ).toBeGreaterThanOrEqual(3);
    expect(storedNumber(file, 'SELECT max(length(packed)) FROM quire_feed')).toBeLessThan(
      FEED_ROW_CHARS + 100,
    );
    expect(storedNumber(file, 'SELECT count(*) FROM quire_feed WHERE packed IS NULL')).toBe(1);
    const s2 = await open(file);
    const all = await s2.changes({ limit: 10_000 });
    expect(all.map((c) => c.seq)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    expect(all[0]).toMatchObject({ bucket: 'items', key: 0, op: 'insert', version: 1, actor: 'even' });
    expect(all[1]!.actor).toBeUndefined();
    expect(all[600]).toMatchObject({ key: 5, op: 'update', version: 2, actor: 'one' });
    const mid = await s2.changes({ since: 300, limit: 5 });
    expect(mid.map((c) => [c.seq, c.key])).toEqual([
      [301, 300],
      [302, 301],
      [303, 302],
      [304, 303],
      [305, 304],
    ]);
    expect((await s2.changes({ since: 600 })).map((c) => c.key)).toEqual([5]);
    await s2.stop();
  });

  it('a database written with one row per version and per change (schema version 3) opens, reads and takes packed rows', async () => {
    const file = path.join(tempDir(), 'v3.db');
    const s = await open(file, 'strict');
    const docs = await s.defineBucket('docs', docDef);
    await docs.insert({ id: 'a', title: 't0' }, { actor: 'old' });
    for (let i = 1; i < 5; i++) await docs.update('a', { title: `t${i}` }, { actor: 'old' });
    await s.stop();
    // What the previous Quire stored: no packed columns, version 3.
    const raw = new Database(file);
    expect(raw.prepare('SELECT count(*) FROM quire_history WHERE packed IS NOT NULL').pluck().get()).toBe(0);
    raw.exec(`
      ALTER TABLE quire_history DROP COLUMN packed;
      ALTER TABLE quire_history DROP COLUMN first_at;
      ALTER TABLE quire_history DROP COLUMN versions;
      ALTER TABLE quire_feed DROP COLUMN packed;
      UPDATE quire_meta SET value = '3' WHERE key = 'schema_version';
    `);
    raw.close();
    const ro = new SQLiteAdapter(file, { readOnly: true });
    expect(() => ro.open('p', { onError: () => {} })).toThrow(/schema version 3; open it once for writing/);

    const s2 = await open(file);
    const d2 = await s2.defineBucket('docs', docDef);
    expect((await d2.history('a')).map((e) => e.record?.title)).toEqual(['t4', 't3', 't2', 't1', 't0']);
    expect((await s2.changes()).map((c) => c.version)).toEqual([1, 2, 3, 4, 5]);
    for (let i = 5; i < 10; i++) await d2.update('a', { title: `t${i}` }, { actor: 'new' });
    await s2.stop();
    expect(storedNumber(file, "SELECT value FROM quire_meta WHERE key = 'schema_version'")).toBe(
      String(SQLITE_SCHEMA_VERSION),
    );

    const s3 = await open(file);
    const d3 = await s3.defineBucket('docs', docDef);
    const h = await d3.history('a');
    expect(h.map((e) => e.record?.title)).toEqual(Array.from({ length: 10 }, (_, i) => `t${9 - i}`));
    expect(h.map((e) => e.actor)).toEqual([...Array(5).fill('new'), ...Array(5).fill('old')]);
    expect((await s3.changes()).map((c) => c.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await s3.stop();
    // dumpLog (the CLI's history/changes, backups, copies) unpacks both kinds in seq order
    const a = new SQLiteAdapter(file, { readOnly: true });
    const log = a.dumpLog('p');
    a.close();
    expect(log.history.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(log.history.every((r, i) => i === 0 || r.seq > log.history[i - 1]!.seq)).toBe(true);
    expect(JSON.parse(log.history[9]!.data!).title).toBe('t9');
    expect(log.feed.map((r) => [r.version, r.key])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i + 1, '"a"']),
    );
  });

  it('a long debounce window keeps the feed limit: queued rows past it are dropped, the last ones read in order before and after the flush', async () => {
    const file = path.join(tempDir(), 'trim.db');
    const s = await Store.start({
      name: 'p',
      changeFeed: { maxEntries: 10 },
      persistence: { adapter: new SQLiteAdapter(file), durability: 'debounced', debounceMs: 60_000 },
    });
    const b = await s.defineBucket('items', {
      key: 'id',
      schema: { id: { type: 'number' }, n: { type: 'number' } },
    });
    await b.insert({ id: 1, n: 0 });
    for (let i = 1; i <= 6000; i++) await b.update(1, { n: i }, { actor: `a${i}` });
    const expected = Array.from({ length: 10 }, (_, i) => 5992 + i);
    const queued = await s.changes({ since: 0 });
    expect(queued.map((c) => c.seq)).toEqual(expected);
    expect(queued.map((c) => c.actor)).toEqual(expected.map((seq) => `a${seq - 1}`));
    await s.flush();
    expect((await s.changes()).map((c) => c.seq)).toEqual(expected);
    await s.stop();
    expect(storedNumber(file, 'SELECT count(*) FROM quire_feed')).toBe(1);
    const s2 = await Store.start({
      name: 'p',
      changeFeed: { maxEntries: 10 },
      persistence: { adapter: new SQLiteAdapter(file) },
    });
    expect((await s2.changes()).map((c) => [c.seq, c.version])).toEqual(expected.map((seq) => [seq, seq]));
    await s2.stop();
  });

  it('a damaged packed row is a StorageCorruptError naming what it held; nothing else changes', async () => {
    const file = path.join(tempDir(), 'bad.db');
    const s = await open(file);
    const docs = await s.defineBucket('docs', docDef);
    await docs.insert({ id: 'a', title: 't0' });
    for (let i = 1; i < 5; i++) await docs.update('a', { title: `t${i}` });
    await s.stop();
    const raw = new Database(file);
    raw.exec(
      "UPDATE quire_history SET packed = substr(packed, 1, 20); UPDATE quire_feed SET packed = '[[1,'",
    );
    raw.close();
    const s2 = await open(file);
    const d2 = await s2.defineBucket('docs', docDef);
    const h = await d2.history('a').catch((e: unknown) => e);
    expect(h).toBeInstanceOf(StorageCorruptError);
    expect((h as StorageCorruptError).message).toMatch(/history of key "a" in bucket "docs".*is damaged/);
    const f = await s2.changes().catch((e: unknown) => e);
    expect(f).toBeInstanceOf(StorageCorruptError);
    expect((f as StorageCorruptError).message).toMatch(/change feed at seq 5/);
    expect((await d2.get('a'))?.title).toBe('t4');
    await s2.stop();
  });

  it('many versions of one record in one flush go in rows of at most 256; the newest is read without the rest', async () => {
    const file = path.join(tempDir(), 'many.db');
    const s = await open(file);
    const docs = await s.defineBucket('docs', docDef);
    await docs.insert({ id: 'a', title: 't0' });
    for (let i = 1; i < 600; i++) await docs.update('a', { title: `t${i}` });
    await s.stop();
    expect(storedNumber(file, 'SELECT count(*) FROM quire_history')).toBe(3);
    expect(storedNumber(file, 'SELECT max(versions) FROM quire_history')).toBe(256);
    const s2 = await open(file);
    const d2 = await s2.defineBucket('docs', docDef);
    expect((await d2.history('a', { limit: 1 })).map((e) => e.record?.title)).toEqual(['t599']);
    const all = await d2.history('a');
    expect(all.map((e) => e.version)).toEqual(Array.from({ length: 600 }, (_, i) => 600 - i));
    await s2.stop();
  });
});
