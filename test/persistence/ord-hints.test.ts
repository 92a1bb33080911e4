// The SQLite writer updates a record's row by its primary key (bucket, ord)
// when it knows where the row is, learnt from rows it wrote or from one scan
// of the key index. The hint is only a hint: another connection may have
// moved or removed the row, and a hint that is wrong must never touch another
// record's row. These tests drive two writers on two connections of one file.
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { historyRows } from '../../src/persistence/log-rows.js';
import { packUnit, UnitWriter } from '../../src/persistence/sqlite-writer.js';
import type { RecordWrite } from '../../src/persistence/types.js';
import { tempDir } from './helpers.js';

const crc32 = (zlib as unknown as { crc32: (d: string) => number }).crc32;

async function emptyStoreFile(): Promise<string> {
  const file = path.join(tempDir(), 'hints.db');
  const s = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
  await s.defineBucket('b', { key: 'id', schema: { id: { type: 'string' }, n: { type: 'number' } } });
  await s.stop();
  return file;
}

function writer(file: string): UnitWriter {
  return new UnitWriter(new Database(file), (d) => crc32(d), historyRows);
}

let seq = 1000;
function write(op: RecordWrite['op'], id: string, n: number, ord = ++seq): RecordWrite {
  const s = ++seq;
  return {
    bucket: 'b',
    key: JSON.stringify(id),
    op,
    seq: s,
    ord,
    version: n,
    base: 0,
    data: op === 'delete' ? undefined : JSON.stringify({ id, n, _version: n }),
  };
}

/** Inserts that make a unit large enough for its writer to keep the positions of what it inserts. */
function filler(w: UnitWriter): RecordWrite[] {
  return Array.from({ length: w.limits.learnFrom }, (_, i) => write('insert', `filler${i}`, 1, 50_000 + i));
}

function commit(w: UnitWriter, records: RecordWrite[]): void {
  w.commit('s', packUnit({ buckets: [], records, lastSeq: seq }), 'NORMAL');
}

/** Every stored row of the bucket: key → [ord, data], and whether each row's checksum matches. */
function rows(file: string): { byKey: Map<string, [number, string]>; crcOk: boolean } {
  const db = new Database(file, { readonly: true });
  const all = db
    .prepare(
      "SELECT r.key, r.ord, r.data, r.crc FROM quire_records r JOIN quire_buckets b ON b.id = r.bucket_id WHERE b.name = 'b'",
    )
    .raw()
    .all() as Array<[string, number, string, number]>;
  db.close();
  return {
    byKey: new Map(all.map(([k, o, d]) => [JSON.parse(k) as string, [o, d]])),
    crcOk: all.every(([, , d, c]) => crc32(d) === c),
  };
}

describe('SQLite writer: updates by known row position', () => {
  it('an update whose row another connection moved goes through the key index', async () => {
    const file = await emptyStoreFile();
    const a = writer(file);
    const b = writer(file);
    commit(a, [write('insert', 'k', 1, 10), ...filler(a)]); // a learns: k is at ord 10
    commit(b, [write('delete', 'k', 1)]);
    commit(b, [write('insert', 'k', 2, 20)]); // k now at ord 20
    commit(a, [write('update', 'k', 3)]);
    const r = rows(file);
    expect(r.byKey.size).toBe(1 + a.limits.learnFrom);
    expect(r.byKey.get('k')).toEqual([20, JSON.stringify({ id: 'k', n: 3, _version: 3 })]);
    expect(r.crcOk).toBe(true);
  });

  it('a stale position now holding another record leaves that record alone', async () => {
    const file = await emptyStoreFile();
    const a = writer(file);
    const b = writer(file);
    commit(a, [write('insert', 'k', 1, 30), ...filler(a)]); // a learns: k is at ord 30
    commit(b, [write('delete', 'k', 1)]);
    commit(b, [write('insert', 'other', 1, 30)]); // ord 30 now holds another key
    commit(a, [write('update', 'k', 2, 31)]); // k is not stored: inserted at its own ord
    const r = rows(file);
    expect(r.byKey.get('other')).toEqual([30, JSON.stringify({ id: 'other', n: 1, _version: 1 })]);
    expect(r.byKey.get('k')).toEqual([31, JSON.stringify({ id: 'k', n: 2, _version: 2 })]);
    expect(r.byKey.size).toBe(2 + a.limits.learnFrom);
    expect(r.crcOk).toBe(true);
  });

  it('a writer that did not write the rows learns them in one scan and updates each once', async () => {
    const file = await emptyStoreFile();
    const n = writer(file).limits.scanAfter * 3;
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    commit(
      writer(file),
      ids.map((id, i) => write('insert', id, 1, 5000 + i)),
    );
    const fresh = writer(file); // knows no positions
    // Updates in an order unrelated to the rows' order, plus one record that is not stored.
    const order = ids.map((_, i) => (i * 7919) % n);
    commit(fresh, [...order.map((i) => write('update', ids[i]!, 2)), write('update', 'missing', 2, 99_999)]);
    // A second unit: every position is known now.
    commit(
      fresh,
      order.slice(0, 100).map((i) => write('update', ids[i]!, 3)),
    );
    const r = rows(file);
    expect(r.byKey.size).toBe(n + 1);
    for (let i = 0; i < n; i++)
      expect(r.byKey.get(ids[i]!)).toEqual([
        5000 + i,
        JSON.stringify({
          id: ids[i],
          n: order.indexOf(i) < 100 ? 3 : 2,
          _version: order.indexOf(i) < 100 ? 3 : 2,
        }),
      ]);
    expect(r.byKey.get('missing')?.[0]).toBe(99_999);
    expect(r.crcOk).toBe(true);
  });

  it('positions learnt in a unit that rolled back are not trusted', async () => {
    const file = await emptyStoreFile();
    const a = writer(file);
    commit(a, [write('insert', 'x', 1, 40)]);
    // The unit inserts y (a learns ord 41), then fails (a record without data): nothing of it stays.
    const bad = { ...write('insert', 'z', 1, 42), data: undefined };
    expect(() => commit(a, [write('insert', 'y', 1, 41), ...filler(a), bad])).toThrow();
    expect(rows(file).byKey.has('y')).toBe(false);
    // Another connection puts x at 41, where a saw y inserted.
    const b = writer(file);
    commit(b, [write('delete', 'x', 1)]);
    commit(b, [write('insert', 'x', 2, 41)]);
    commit(a, [write('update', 'y', 2, 43), write('update', 'x', 3)]);
    const r = rows(file);
    expect(r.byKey.get('x')).toEqual([41, JSON.stringify({ id: 'x', n: 3, _version: 3 })]);
    expect(r.byKey.get('y')).toEqual([43, JSON.stringify({ id: 'y', n: 2, _version: 2 })]);
    expect(r.byKey.size).toBe(2);
  });

  it('positions of a bulk insert become hints only when a later unit updates or deletes in the bucket', async () => {
    const file = await emptyStoreFile();
    const a = writer(file);
    const b = writer(file);
    const ids = Array.from({ length: 2 * a.limits.learnFrom }, (_, i) => `p${i}`);
    commit(
      a,
      ids.map((id, i) => write('insert', id, 1, 1000 + i)),
    );
    // Kept as a list: no map is built for a bucket that is only loaded.
    expect(a.positions).toEqual({ known: 0, kept: ids.length });
    // Another connection moves p1 meanwhile.
    commit(b, [write('delete', 'p1', 1)]);
    commit(b, [write('insert', 'p1', 2, 5000)]);
    // One unit: a delete (the kept positions go into the map first, then p0's is dropped), inserts
    // (kept, and taken into the map at the next update), updates by position (p1's is wrong now:
    // it goes through the key index).
    const more = Array.from({ length: a.limits.learnFrom }, (_, i) => write('insert', `q${i}`, 1, 6000 + i));
    commit(a, [write('delete', 'p0', 1), ...more, write('update', 'p1', 3), write('update', 'p2', 3)]);
    expect(a.positions).toEqual({ known: ids.length - 1 + more.length, kept: 0 });
    const r = rows(file);
    expect(r.byKey.has('p0')).toBe(false);
    expect(r.byKey.get('p1')).toEqual([5000, JSON.stringify({ id: 'p1', n: 3, _version: 3 })]);
    expect(r.byKey.get('p2')).toEqual([1002, JSON.stringify({ id: 'p2', n: 3, _version: 3 })]);
    expect(r.byKey.get('q0')).toEqual([6000, JSON.stringify({ id: 'q0', n: 1, _version: 1 })]);
    expect(r.byKey.size).toBe(ids.length - 1 + more.length);
    expect(r.crcOk).toBe(true);
    // A rollback forgets kept positions as well as known ones.
    const bad = { ...write('insert', 'z', 1, 9000), data: undefined };
    expect(() => commit(a, [...filler(a), bad])).toThrow();
    expect(a.positions).toEqual({ known: 0, kept: 0 });
  });

  it('a batch of updates with some hints wrong updates every record and no other row', async () => {
    const file = await emptyStoreFile();
    const a = writer(file);
    const b = writer(file);
    const ids = Array.from({ length: 300 }, (_, i) => `k${i}`);
    commit(
      a,
      ids.map((id, i) => write('insert', id, 1, 100 + i)),
    );
    // Updates run 64 to a statement in ord order: each kind of wrong hint in a statement of its own.
    commit(b, [write('delete', 'k7', 1), write('delete', 'k70', 1), write('delete', 'k150', 1)]);
    commit(b, [write('insert', 'other', 1, 107)]); // k7's old place holds another record
    // k70 is not stored at all (nor is k7).
    commit(b, [write('insert', 'k150', 2, 900)]); // moved: stored at another ord
    commit(
      a,
      ids.map((id) => write('update', id, 5)),
    );
    const r = rows(file);
    for (const id of ids) expect(JSON.parse(r.byKey.get(id)![1])).toEqual({ id, n: 5, _version: 5 });
    expect(r.byKey.get('k150')![0]).toBe(900);
    expect(r.byKey.get('other')).toEqual([107, JSON.stringify({ id: 'other', n: 1, _version: 1 })]);
    expect(r.byKey.size).toBe(301);
    expect(r.crcOk).toBe(true);
  });
});
