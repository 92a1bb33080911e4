// History and the change feed on disk: not folded (every version of a
// debounced flush is kept), written in the same storage transaction as the
// change, monotonic seqs across restarts, feed retention, the SQLite v1 → v2
// upgrade, and a strict-mode writer killed with SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FileAdapter, InvalidArgumentError, SQLiteAdapter, Store } from '../../src/index.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/persistence/index.js';
import { watchOutput } from '../child-output.js';
import { FlakyAdapter } from '../persistence/helpers.js';
import { docDef, kinds, summary, tempDir } from './helpers.js';

for (const { kind, durable, fresh } of kinds()) {
  if (!durable) continue;
  describe(`history on disk (${kind})`, () => {
    it('keeps every version of a record changed several times in one debounced flush; survives restarts', async () => {
      const open = fresh();
      const s = await open({ persistence: { adapter: undefined, debounceMs: 10_000 } });
      const docs = await s.defineBucket('docs', docDef);
      await docs.insert({ id: 'a', title: 't1' }, { actor: 'u1' });
      for (let i = 2; i <= 5; i++) await docs.update('a', { title: `t${i}` }, { actor: `u${i}` });
      await docs.delete('a', { actor: 'u6' });
      // readable before the flush
      expect(summary(await docs.history('a'))).toEqual([
        '5:delete:u6',
        '5:update:u5',
        '4:update:u4',
        '3:update:u3',
        '2:update:u2',
        '1:insert:u1',
      ]);
      await s.stop();
      const s2 = await open();
      const d2 = await s2.defineBucket('docs', docDef);
      const h = await d2.history('a');
      expect(summary(h)).toEqual([
        '5:delete:u6',
        '5:update:u5',
        '4:update:u4',
        '3:update:u3',
        '2:update:u2',
        '1:insert:u1',
      ]);
      expect(h.map((e) => e.record?.title)).toEqual([undefined, 't5', 't4', 't3', 't2', 't1']);
      // undelete after a restart continues the version numbers
      expect((await d2.restoreVersion('a', 3, { actor: 'admin' }))._version).toBe(6);
      const feed = await s2.changes();
      expect(feed.map((e) => `${e.seq}:${e.op}:${String(e.key)}:${e.actor}`)).toEqual([
        '1:insert:a:u1',
        '2:update:a:u2',
        '3:update:a:u3',
        '4:update:a:u4',
        '5:update:a:u5',
        '6:delete:a:u6',
        '7:insert:a:admin',
      ]);
      await s2.stop();
      // seqs go on after another restart
      const s3 = await open();
      const d3 = await s3.defineBucket('docs', docDef);
      await d3.update('a', { title: 'later' });
      expect((await s3.changes({ since: 7 })).map((e) => e.seq)).toEqual([8]);
      expect((await s3.changes({ since: 2, limit: 2 })).map((e) => e.seq)).toEqual([3, 4]);
      await s3.stop();
    });

    it('the change feed keeps the last maxEntries seqs, also after a restart; 0 turns it off', async () => {
      const open = fresh();
      const s = await open({ changeFeed: { maxEntries: 5 } });
      const b = await s.defineBucket('plain', { key: 'id', schema: { id: { type: 'number' } } });
      for (let i = 1; i <= 12; i++) await b.insert({ id: i });
      await s.flush();
      expect((await s.changes()).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
      await s.stop();
      const s2 = await open({ changeFeed: { maxEntries: 5 } });
      const b2 = await s2.defineBucket('plain', { key: 'id', schema: { id: { type: 'number' } } });
      expect((await s2.changes()).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
      await b2.delete(1);
      await s2.flush();
      expect((await s2.changes()).map((e) => `${e.seq}:${e.op}`)).toEqual([
        '9:insert',
        '10:insert',
        '11:insert',
        '12:insert',
        '13:delete',
      ]);
      await s2.stop();
      const off = await open({ changeFeed: { maxEntries: 0 } });
      await (await off.defineBucket('plain', { key: 'id', schema: { id: { type: 'number' } } })).insert({
        id: 99,
      });
      expect(await off.changes()).toEqual([]);
      await off.stop();
    });

    it('merges persistent and non-persistent buckets in seq order', async () => {
      const open = fresh();
      const s = await open();
      const p = await s.defineBucket('p', { key: 'id', schema: { id: { type: 'number' } } });
      const m = await s.defineBucket('m', {
        key: 'id',
        schema: { id: { type: 'number' } },
        persistent: false,
        history: true,
      });
      await p.insert({ id: 1 });
      await m.insert({ id: 2 });
      await p.insert({ id: 3 });
      await m.update(2, {});
      expect((await s.changes()).map((e) => `${e.seq}:${e.bucket}:${e.op}`)).toEqual([
        '1:p:insert',
        '2:m:insert',
        '3:p:insert',
        '4:m:update',
      ]);
      expect(summary(await m.history(2))).toEqual(['2:update:-', '1:insert:-']);
      await s.stop();
      const s2 = await open();
      await s2.defineBucket('p', { key: 'id', schema: { id: { type: 'number' } } });
      const m2 = await s2.defineBucket('m', {
        key: 'id',
        schema: { id: { type: 'number' } },
        persistent: false,
        history: true,
      });
      expect(await m2.history(2)).toEqual([]);
      await m2.insert({ id: 5 });
      // the in-memory bucket's changes continue after the stored seqs
      expect((await s2.changes()).map((e) => `${e.seq}:${e.bucket}`)).toEqual(['1:p', '3:p', '5:m']);
      await s2.stop();
    });
  });
}

describe('history and the storage transaction', () => {
  it('history rows travel in the same CommitUnit as the change, unfolded', async () => {
    const flaky = new FlakyAdapter(new SQLiteAdapter(path.join(tempDir(), 'unit.db')));
    const s = await Store.start({ name: 'u', persistence: { adapter: flaky, debounceMs: 10_000 } });
    const docs = await s.defineBucket('docs', docDef);
    await docs.insert({ id: 'a', title: '1' });
    await docs.update('a', { title: '2' });
    await docs.update('a', { title: '3' });
    flaky.failing = true;
    await expect(s.flush()).rejects.toThrow(/ENOSPC/);
    // nothing was written: neither the record nor its history
    flaky.failing = false;
    await s.flush();
    const unit = flaky.commits.at(-1)!;
    expect(unit.records.filter((r) => r.bucket === 'docs')).toHaveLength(1); // folded
    expect(unit.history!.map((h) => h.version)).toEqual([1, 2, 3]); // not folded
    expect(unit.feed!.map((f) => f.seq)).toEqual([1, 2, 3]);
    await s.stop();
  });

  it('rejects bad changeFeed and changes() options', async () => {
    for (const changeFeed of [{ maxEntries: -1 }, { maxEntries: 1.5 }, 'big', { maxEntries: '10' }])
      await expect(Store.start({ changeFeed } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const s = await Store.start();
    for (const bad of [{ since: -1 }, { since: 'x' }, { limit: 0 }, { limit: 2.5 }, { from: 1 }, 7])
      await expect(s.changes(bad as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await s.stop();
  });
});

describe('SQLite storage upgrade', () => {
  it('a version 1 database (no history tables, no row checksums) upgrades to the current version without losing anything', async () => {
    const file = path.join(tempDir(), 'v1.db');
    const s = await Store.start({
      name: 'old',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    const docs = await s.defineBucket('docs', { ...docDef, history: undefined });
    for (let i = 0; i < 50; i++) await docs.insert({ id: `d${i}`, title: `T${i}` });
    await s.stop();
    // Turn it into what Quire 0.1 (storage version 1) wrote.
    const raw = new Database(file);
    raw.exec(
      "DROP TABLE quire_history; DROP TABLE quire_feed; ALTER TABLE quire_records DROP COLUMN crc; UPDATE quire_meta SET value = '1' WHERE key = 'schema_version'",
    );
    raw.close();
    // read-only opening asks for an upgrade first
    const ro = new SQLiteAdapter(file, { readOnly: true });
    expect(() => ro.open('old', { onError: () => {} })).toThrow(/schema version 1; open it once for writing/);
    const s2 = await Store.start({
      name: 'old',
      persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
    });
    const d2 = await s2.defineBucket('docs', { ...docDef, history: undefined });
    expect(await d2.count()).toBe(50);
    expect((await d2.get('d7'))?.title).toBe('T7');
    await d2.update('d7', { title: 'new' });
    const feed = await s2.changes();
    expect(feed).toHaveLength(1);
    expect(feed[0]!.seq).toBe(51); // continues after the 50 stored changes
    await s2.stop();
    // a history bucket on the upgraded file
    const s3 = await Store.start({ name: 'old', persistence: { adapter: new SQLiteAdapter(file) } });
    await s3.defineBucket('docs', { ...docDef, history: undefined });
    const h = await s3.defineBucket('h', docDef);
    await h.insert({ id: 'x', title: 'X' });
    await s3.stop();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT value FROM quire_meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SQLITE_SCHEMA_VERSION),
    );
    expect(db.prepare('SELECT count(*) FROM quire_history').pluck().get()).toBe(1);
    expect(db.prepare('SELECT count(*) FROM quire_records').pluck().get()).toBe(51);
    db.close();
  });

  it('FileAdapter: history and feed survive a compaction into a new snapshot', async () => {
    const dir = path.join(tempDir(), 'files');
    const s = await Store.start({
      name: 'f',
      persistence: { adapter: new FileAdapter(dir, { compactAfterBytes: 512 }) },
    });
    const docs = await s.defineBucket('docs', { ...docDef, history: { maxVersions: 4 } });
    await docs.insert({ id: 'a', title: '0' });
    for (let i = 1; i < 30; i++) {
      await docs.update('a', { title: String(i) }, { actor: `a${i}` });
      await s.flush();
    }
    await s.checkpoint();
    await s.stop();
    const s2 = await Store.start({ name: 'f', persistence: { adapter: new FileAdapter(dir) } });
    const d2 = await s2.defineBucket('docs', { ...docDef, history: { maxVersions: 4 } });
    expect(summary(await d2.history('a'))).toEqual([
      '30:update:a29',
      '29:update:a28',
      '28:update:a27',
      '27:update:a26',
    ]);
    expect((await s2.changes({ since: 28 })).map((e) => e.seq)).toEqual([29, 30]);
    await s2.stop();
  });
});

describe('history after SIGKILL (strict mode)', () => {
  it('every acknowledged version is in the history with its actor; seqs continue', async () => {
    const file = path.join(tempDir(), 'kill.db');
    const fixture = path.resolve(import.meta.dirname, '../fixtures/history-writer.ts');
    let lastAck = 0;
    for (let round = 0; round < 3; round++) {
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture, file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let acks = 0;
      const out = watchOutput(child);
      out.onLine('stdout', (line) => {
        if (!line.startsWith('ack ')) return;
        lastAck = Math.max(lastAck, Number(line.slice(4)));
        if (++acks === 40 + round * 13) child.kill('SIGKILL');
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await out.exited;
      clearTimeout(guard);
      expect(acks, out.text('stderr')).toBeGreaterThan(0);
    }
    const s = await Store.start({ name: 'hist', persistence: { adapter: new SQLiteAdapter(file) } });
    const b = await s.defineBucket('docs', {
      key: 'id',
      schema: { id: { type: 'string' }, n: { type: 'number' } },
      history: true,
    });
    const cur = (await b.get('doc'))!;
    expect(cur._version).toBeGreaterThanOrEqual(lastAck);
    const h = await b.history('doc');
    // one entry per version, none missing, each with the actor that wrote it
    expect(h.map((e) => e.version)).toEqual(Array.from({ length: cur._version }, (_, i) => cur._version - i));
    for (const e of h.slice(0, -1)) {
      expect(e.actor).toBe(`writer-${e.version}`);
      expect(e.record?.n).toBe(e.version - 1);
    }
    const feed = await s.changes({ limit: 100_000 });
    const seqs = feed.map((e) => e.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(feed).toHaveLength(cur._version);
    await b.update('doc', { n: -1 });
    expect((await s.changes({ since: seqs.at(-1)! }))[0]!.seq).toBeGreaterThan(seqs.at(-1)!);
    await s.stop();
  });
});
