// Sorted indexes keep records with equal values in bucket (insertion)
// order, so where + sort + limit walks only the entries it returns, not a
// whole group of ties; and the order is still exactly the stable sort of a
// full scan: after updates (an updated record keeps its place), deletes
// (a re-inserted record comes last) and a restart from SQLite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sortedWalkCounter } from '../../src/engine/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';

const schema = {
  id: { type: 'string', required: true },
  role: { type: 'string', required: true },
  age: { type: 'number' },
  score: { type: 'number' },
} as const;

const sortedDef = {
  key: 'id',
  schema,
  indexes: ['role', { fields: ['role', 'age'], sorted: true }, { fields: ['score'], sorted: true }],
} as const;
const plainDef = { key: 'id', schema } as const;

let store: Store;
let dir: string;
beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  dir = mkdtempSync(join(tmpdir(), 'quire-ties-'));
});
afterEach(async () => {
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** 3,000 records: 2 roles × 3 ages, so ties of ~500 records; ids not in insertion order. */
function rows(): Array<{ id: string; role: string; age?: number; score?: number }> {
  const out = [];
  for (let i = 0; i < 3000; i++) {
    const id = `k${((i * 7919) % 3000).toString().padStart(4, '0')}`;
    const r: { id: string; role: string; age?: number; score?: number } = { id, role: i % 2 ? 'a' : 'b' };
    if (i % 50 !== 7) r.age = (i >> 1) % 3; // a few without an age: they sort last
    if (i % 40 !== 3) r.score = i % 4;
    out.push(r);
  }
  return out;
}

const ids = (rs: readonly { id: string }[]) => rs.map((r) => r.id);

async function pair(s: Store = store) {
  const indexed = await s.defineBucket('indexed', sortedDef);
  const plain = await s.defineBucket('plain', plainDef);
  await indexed.insertMany(rows());
  await plain.insertMany(rows());
  return { indexed, plain };
}

/** Entries the sorted walks hand out while `fn` runs. */
function walked(fn: () => unknown): number {
  const before = sortedWalkCounter.entries;
  fn();
  return sortedWalkCounter.entries - before;
}

describe('sorted index ties in bucket order', () => {
  it('where + sort + limit 10 touches ~10 index entries, ascending and descending', async () => {
    const { indexed, plain } = await pair();
    for (const dir of ['asc', 'desc'] as const) {
      const opts = { sort: { age: dir }, limit: 10 };
      let got: readonly { id: string }[] = [];
      const n = walked(() => {
        got = indexed.peekWhere({ role: 'a' }, opts);
      });
      expect(ids(got)).toEqual(ids(plain.peekWhere({ role: 'a' }, opts)));
      expect(got).toHaveLength(10);
      // A tie group here holds ~500 records: walking it whole would read them all.
      expect(n, dir).toBeLessThanOrEqual(11);
      // A page further in: offset + limit entries.
      const m = walked(() => indexed.peekWhere({ role: 'a' }, { ...opts, offset: 600 }));
      expect(m, dir).toBeLessThanOrEqual(11);
      // One-field sorted index, sort without a filter.
      const scoreOpts = { sort: { score: dir }, limit: 10 };
      let byScore: readonly { id: string }[] = [];
      const k = walked(() => {
        byScore = indexed.peekWhere({}, scoreOpts);
      });
      expect(ids(byScore)).toEqual(ids(plain.peekWhere({}, scoreOpts)));
      expect(k, dir).toBeLessThanOrEqual(11);
    }
  });

  it('every page, both directions, with and without a further filter, equals sorting the scan', async () => {
    const { indexed, plain } = await pair();
    for (const role of ['a', 'b', 'c']) {
      for (const dir of ['asc', 'desc'] as const) {
        for (const page of [{}, { limit: 1 }, { limit: 10 }, { offset: 495, limit: 20 }, { offset: 1490 }]) {
          const opts = { sort: { age: dir }, ...page };
          const label = `${role} ${dir} ${JSON.stringify(page)}`;
          expect(ids(indexed.peekWhere({ role }, opts)), label).toEqual(ids(plain.peekWhere({ role }, opts)));
          expect(ids(await indexed.where({ role, score: { $gte: 2 } }, opts)), label).toEqual(
            ids(await plain.where({ role, score: { $gte: 2 } }, opts)),
          );
        }
      }
    }
    for (const dir of ['asc', 'desc'] as const)
      expect(ids(indexed.peekWhere({}, { sort: { score: dir } }))).toEqual(
        ids(plain.peekWhere({}, { sort: { score: dir } })),
      );
  });

  it('offsets passed over in the index (no further filter) land where the scan puts them', async () => {
    const { indexed, plain } = await pair();
    const offsets = [
      1, 2, 9, 499, 500, 501, 999, 1000, 1001, 1469, 1470, 1471, 1499, 1500, 1501, 2925, 2926, 2999, 3000,
      5000,
    ];
    for (const dir of ['asc', 'desc'] as const) {
      for (const offset of offsets) {
        const byAge = { sort: { age: dir }, offset, limit: 7 };
        expect(ids(indexed.peekWhere({ role: 'a' }, byAge)), `age ${dir} ${offset}`).toEqual(
          ids(plain.peekWhere({ role: 'a' }, byAge)),
        );
        const byScore = { sort: { score: dir }, offset, limit: 7 };
        expect(ids(indexed.peekWhere({}, byScore)), `score ${dir} ${offset}`).toEqual(
          ids(plain.peekWhere({}, byScore)),
        );
      }
    }
  });

  it('an updated record keeps its place among its ties; a deleted and re-inserted one comes last', async () => {
    const b = await store.defineBucket('small', sortedDef);
    for (const [id, age] of [
      ['x1', 5],
      ['x2', 7],
      ['x3', 5],
      ['x4', 5],
    ] as const)
      await b.insert({ id, role: 'r', age });
    const order = (dir: 'asc' | 'desc') => ids(b.peekWhere({ role: 'r' }, { sort: { age: dir }, limit: 10 }));
    expect(order('asc')).toEqual(['x1', 'x3', 'x4', 'x2']);
    expect(order('desc')).toEqual(['x2', 'x1', 'x3', 'x4']);

    // x2 joins the tie at 5: in bucket order (second), not last.
    await b.update('x2', { age: 5 });
    expect(order('asc')).toEqual(['x1', 'x2', 'x3', 'x4']);
    expect(order('desc')).toEqual(['x1', 'x2', 'x3', 'x4']);
    // Changing another field moves nothing.
    await b.update('x1', { score: 9 });
    expect(order('asc')).toEqual(['x1', 'x2', 'x3', 'x4']);
    // Out of the tie and back: still its own place.
    await b.update('x3', { age: 1 });
    expect(order('asc')).toEqual(['x3', 'x1', 'x2', 'x4']);
    expect(order('desc')).toEqual(['x1', 'x2', 'x4', 'x3']);
    await b.update('x3', { age: 5 });
    expect(order('asc')).toEqual(['x1', 'x2', 'x3', 'x4']);
    // Without an age (last in both directions), then with one again.
    await b.update('x2', { age: null as never });
    expect(order('asc')).toEqual(['x1', 'x3', 'x4', 'x2']);
    expect(order('desc')).toEqual(['x1', 'x3', 'x4', 'x2']);
    await b.update('x2', { age: 5 });
    expect(order('desc')).toEqual(['x1', 'x2', 'x3', 'x4']);

    // Deleted and inserted again: a new record, last in bucket order.
    await b.delete('x1');
    expect(order('asc')).toEqual(['x2', 'x3', 'x4']);
    await b.insert({ id: 'x1', role: 'r', age: 5 });
    expect(order('asc')).toEqual(['x2', 'x3', 'x4', 'x1']);
    expect(order('desc')).toEqual(['x2', 'x3', 'x4', 'x1']);
    // The order a full scan gives, i.e. bucket order.
    expect(ids(await b.all())).toEqual(['x2', 'x3', 'x4', 'x1']);
  });

  it('a store restored from SQLite keeps the tie order and the short walk', async () => {
    const path = join(dir, 'store.db');
    const first = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(path) } });
    const { indexed, plain } = await pair(first);
    // Reorder a little: updates keep places, a delete + insert goes last.
    await indexed.update('k0007', { age: 0 });
    await plain.update('k0007', { age: 0 });
    for (const b of [indexed, plain]) {
      await b.delete('k0014');
      await b.insert({ id: 'k0014', role: 'a', age: 0 });
    }
    const pages = [
      { sort: { age: 'asc' as const }, limit: 10 },
      { sort: { age: 'desc' as const }, limit: 10 },
      { sort: { age: 'asc' as const }, offset: 480, limit: 40 },
      { sort: { age: 'desc' as const } },
    ];
    const before = pages.map((p) => ids(indexed.peekWhere({ role: 'a' }, p)));
    for (const [i, p] of pages.entries()) expect(before[i]).toEqual(ids(plain.peekWhere({ role: 'a' }, p)));
    // The re-inserted record is the last of its tie (age 0) in bucket order.
    const lastOfTie = (rs: readonly { id: string; age?: number | null }[]) =>
      rs.filter((r) => r.age === 0).at(-1)?.id;
    expect(lastOfTie(indexed.peekWhere({ role: 'a' }, { sort: { age: 'asc' } }))).toBe('k0014');
    await first.stop();

    const second = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(path) } });
    try {
      const again = await second.defineBucket('indexed', sortedDef);
      const plainAgain = await second.defineBucket('plain', plainDef);
      for (const [i, p] of pages.entries()) {
        expect(ids(again.peekWhere({ role: 'a' }, p)), JSON.stringify(p)).toEqual(before[i]);
        expect(ids(plainAgain.peekWhere({ role: 'a' }, p))).toEqual(before[i]);
      }
      expect(lastOfTie(again.peekWhere({ role: 'a' }, { sort: { age: 'asc' } }))).toBe('k0014');
      const n = walked(() => again.peekWhere({ role: 'a' }, pages[1]!));
      expect(n).toBeLessThanOrEqual(11);
      // Writes after the restart go where bucket order puts them.
      await again.insert({ id: 'new', role: 'a', age: 2 });
      await plainAgain.insert({ id: 'new', role: 'a', age: 2 });
      for (const p of pages)
        expect(ids(again.peekWhere({ role: 'a' }, p))).toEqual(ids(plainAgain.peekWhere({ role: 'a' }, p)));
    } finally {
      await second.stop();
    }
  });
});
