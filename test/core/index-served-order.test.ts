// Index-served queries return exactly what a full scan returns, in the same
// order: hash indexes that hand out records (where by equality, with offset
// and limit), and a sorted compound index walked by its equality prefix for
// where + sort + limit (ties in bucket order, nulls last both ways).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/index.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
});
afterEach(async () => {
  await store.stop();
});

const schema = {
  id: { type: 'number', required: true },
  city: { type: 'string' },
  age: { type: 'number' },
  name: { type: 'string' },
} as const;

const CITIES = ['Brno', 'Praha', 'Zlin', null];

/** Deterministic rows with ties, nulls and missing fields. */
function rows(n: number) {
  const out: Array<Record<string, unknown>> = [];
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const r: Record<string, unknown> = { id: (seed % 100_000) * 10 + (i % 10) };
    const city = CITIES[seed % 4];
    if (city !== null || i % 3 === 0) r.city = city;
    if (seed % 7 !== 0) r.age = seed % 13;
    else if (seed % 2 === 0) r.age = null;
    r.name = `n${seed % 5}`;
    out.push(r);
  }
  return out;
}

async function pair() {
  const indexed = await store.defineBucket('indexed', {
    key: 'id',
    schema,
    indexes: ['city', { fields: ['city', 'age'], sorted: true }],
  });
  const plain = await store.defineBucket('plain', { key: 'id', schema });
  const seen = new Set<unknown>();
  for (const r of rows(400)) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    await indexed.insert(r as never);
    await plain.insert(r as never);
  }
  return { indexed, plain };
}

const ids = (rs: readonly Record<string, unknown>[]) => rs.map((r) => r.id);

describe('index-served where keeps bucket order', () => {
  it('equality on a hash index, with offset and limit, equals the scan', async () => {
    const { indexed, plain } = await pair();
    for (const city of ['Brno', 'Praha', 'Zlin', 'Nowhere']) {
      for (const opts of [undefined, { limit: 5 }, { offset: 3, limit: 4 }, { offset: 1000 }, { limit: 0 }]) {
        expect(ids(indexed.peekWhere({ city }, opts))).toEqual(ids(plain.peekWhere({ city }, opts)));
        expect(ids(await indexed.where({ city, name: 'n1' }, opts))).toEqual(
          ids(await plain.where({ city, name: 'n1' }, opts)),
        );
      }
      expect(await indexed.count({ city })).toBe(await plain.count({ city }));
      expect((await indexed.findOne({ city, name: 'n2' }))?.id).toBe(
        (await plain.findOne({ city, name: 'n2' }))?.id,
      );
    }
  });

  it('updates keep records in place and the index hands out the new record', async () => {
    const { indexed, plain } = await pair();
    const first = (await plain.where({ city: 'Brno' }))[2]!;
    for (const b of [indexed, plain]) await b.update(first.id, { name: 'renamed' });
    const got = indexed.peekWhere({ city: 'Brno' });
    expect(ids(got)).toEqual(ids(plain.peekWhere({ city: 'Brno' })));
    expect(got.find((r) => r.id === first.id)?.name).toBe('renamed');
    expect(got.find((r) => r.id === first.id)).toBe(indexed.peek(first.id));
    // Moving a record to another value and back, and deleting: still the scan's answer.
    for (const b of [indexed, plain]) {
      await b.update(first.id, { city: 'Zlin' });
      await b.update(first.id, { city: 'Brno' });
      await b.delete((await plain.where({ city: 'Praha' }))[0]!.id);
    }
    for (const city of ['Brno', 'Praha', 'Zlin'])
      expect(ids(indexed.peekWhere({ city }))).toEqual(ids(plain.peekWhere({ city })));
  });

  it('where + sort + limit on a sorted (city, age) index equals sorting the scan', async () => {
    const { indexed, plain } = await pair();
    for (const city of ['Brno', 'Praha', 'Zlin', 'Nowhere']) {
      for (const dir of ['asc', 'desc'] as const) {
        for (const page of [{}, { limit: 1 }, { limit: 10 }, { offset: 7, limit: 5 }, { offset: 500 }]) {
          const opts = { sort: { age: dir }, ...page };
          expect(ids(indexed.peekWhere({ city }, opts)), `${city} ${dir} ${JSON.stringify(page)}`).toEqual(
            ids(plain.peekWhere({ city }, opts)),
          );
          expect(ids(await indexed.where({ city: { $eq: city }, name: 'n3' }, opts))).toEqual(
            ids(await plain.where({ city: { $eq: city }, name: 'n3' }, opts)),
          );
        }
      }
    }
  });

  it('the sorted walk follows updates that move a record within the index', async () => {
    const { indexed, plain } = await pair();
    const some = (await plain.where({ city: 'Praha' })).slice(0, 6);
    for (const [i, r] of some.entries()) {
      for (const b of [indexed, plain]) await b.update(r.id, { age: i % 2 === 0 ? 100 : null });
    }
    for (const dir of ['asc', 'desc'] as const) {
      const opts = { sort: { age: dir }, limit: 8 };
      expect(ids(indexed.peekWhere({ city: 'Praha' }, opts))).toEqual(
        ids(plain.peekWhere({ city: 'Praha' }, opts)),
      );
    }
  });
});
