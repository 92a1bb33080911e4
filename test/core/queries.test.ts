// C-6 queries: where/findOne/count/first/last/paginate, aggregates, groupBy
// and the whole filter language.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidFilterError, matchesFilter, Store } from '../../src/index.js';
import { keysOf, rejects } from './helpers.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start();
});
afterEach(async () => {
  await store.stop();
});

const people = [
  { id: 3, name: 'Carol', city: 'Brno', age: 35, tags: ['b', 'c'], score: 7, active: true },
  { id: 1, name: 'alice', city: 'Praha', age: 30, tags: ['a', 'b'], score: 5, active: true },
  { id: 2, name: 'Bob', city: 'Praha', age: 25, tags: [], score: 3, active: false },
  { id: 5, name: 'Eve', city: 'Ostrava', age: 41, tags: ['c'], active: false },
  { id: 4, name: 'Dave', city: 'Brno', age: 35, tags: ['A'], score: 10, nick: 'D' },
];

async function peopleBucket(etsType: 'set' | 'ordered_set' = 'set', indexed = false) {
  const b = await store.defineBucket(`people_${etsType}_${indexed}`, {
    key: 'id',
    etsType,
    schema: {
      id: { type: 'number' },
      name: { type: 'string' },
      city: { type: 'string' },
      age: { type: 'number' },
      tags: { type: 'array' },
      score: { type: 'number' },
      active: { type: 'boolean' },
      nick: { type: 'string' },
    },
    ...(indexed
      ? { indexes: ['city', { fields: 'age', sorted: true }, { fields: 'name', sorted: true }] }
      : {}),
  });
  await b.insertMany(people);
  return b;
}

describe('C-6 ordering: set vs ordered_set', () => {
  it("'set' follows insertion order", async () => {
    const b = await peopleBucket('set');
    expect(keysOf(await b.all())).toEqual([3, 1, 2, 5, 4]);
    expect(keysOf(await b.first(2))).toEqual([3, 1]);
    expect(keysOf(await b.last(2))).toEqual([5, 4]);
    expect(keysOf(await b.first(0))).toEqual([]);
    expect(keysOf(await b.last(0))).toEqual([]);
    expect(keysOf(await b.first(99))).toEqual([3, 1, 2, 5, 4]);
    expect(keysOf(await b.where({ city: 'Brno' }))).toEqual([3, 4]);
  });

  it("'ordered_set' follows key order, also after inserts", async () => {
    const b = await peopleBucket('ordered_set');
    expect(keysOf(await b.all())).toEqual([1, 2, 3, 4, 5]);
    expect(keysOf(await b.first(2))).toEqual([1, 2]);
    expect(keysOf(await b.last(2))).toEqual([4, 5]);
    await b.insert({ id: 0, name: 'Zero' });
    await b.delete(3);
    expect(keysOf(await b.all())).toEqual([0, 1, 2, 4, 5]);
    expect(keysOf(await b.first(1))).toEqual([0]);
    expect(keysOf(await b.where({ city: 'Brno' }))).toEqual([4]);
  });

  it("'ordered_set' with string keys orders like noex (localeCompare)", async () => {
    const b = await store.defineBucket('s', {
      key: 'k',
      etsType: 'ordered_set',
      schema: { k: { type: 'string' } },
    });
    for (const k of ['b', 'a10', 'A', 'a2', 'c']) await b.insert({ k });
    const expected = ['b', 'a10', 'A', 'a2', 'c'].sort((x, y) => x.localeCompare(y));
    expect(keysOf(await b.all(), 'k')).toEqual(expected);
  });
});

describe('C-6 paginate', () => {
  for (const etsType of ['set', 'ordered_set'] as const) {
    it(`walks all records with primary-key cursors (${etsType})`, async () => {
      const b = await peopleBucket(etsType);
      const order = keysOf(await b.all());
      const seen: unknown[] = [];
      let after: unknown;
      for (let i = 0; i < 10; i++) {
        const page = await b.paginate({ after, limit: 2 });
        seen.push(...keysOf(page.records));
        if (page.records.length > 0) expect(page.nextCursor).toBe(page.records.at(-1)!.id);
        if (!page.hasMore) break;
        after = page.nextCursor;
      }
      expect(seen).toEqual(order);
    });
  }

  it('exact shape: hasMore, nextCursor undefined on an empty page, unknown cursor', async () => {
    const b = await peopleBucket('ordered_set');
    expect(await b.paginate({ limit: 5 })).toMatchObject({ hasMore: false, nextCursor: 5 });
    const p = await b.paginate({ limit: 4 });
    expect([p.hasMore, p.nextCursor, p.records.length]).toEqual([true, 4, 4]);
    expect(await b.paginate({ after: 5, limit: 3 })).toEqual({
      records: [],
      hasMore: false,
      nextCursor: undefined,
    });
    // an unknown cursor yields an empty page (noex)
    expect(await b.paginate({ after: 999, limit: 3 })).toEqual({
      records: [],
      hasMore: false,
      nextCursor: undefined,
    });
    expect((await b.paginate({ limit: 0 })).records).toEqual([]);
  });
});

describe('C-6 where / findOne / count', () => {
  it('equality, several fields, empty filter', async () => {
    const b = await peopleBucket();
    expect(keysOf(await b.where({ city: 'Praha' }))).toEqual([1, 2]);
    expect(keysOf(await b.where({ city: 'Brno', age: 35 }))).toEqual([3, 4]);
    expect(keysOf(await b.where({}))).toEqual([3, 1, 2, 5, 4]);
    expect(await b.count()).toBe(5);
    expect(await b.count({ city: 'Praha' })).toBe(2);
    expect(await b.count({ city: 'Nowhere' })).toBe(0);
    expect((await b.findOne({ city: 'Brno' }))!.id).toBe(3);
    expect(await b.findOne({ city: 'Nowhere' })).toBeUndefined();
    // equality against an array value compares deeply
    expect(keysOf(await b.where({ tags: ['a', 'b'] }))).toEqual([1]);
    // null in a filter matches only null (noex strict equality), not a missing field
    expect(keysOf(await b.where({ nick: undefined }))).toEqual([3, 1, 2, 5]);
  });
});

describe('C-6 filter operators', () => {
  const cases: Array<[string, Record<string, unknown>, number[]]> = [
    ['$eq', { age: { $eq: 35 } }, [3, 4]],
    ['$neq', { city: { $neq: 'Praha' } }, [3, 5, 4]],
    ['$gt', { age: { $gt: 35 } }, [5]],
    ['$gte', { age: { $gte: 35 } }, [3, 5, 4]],
    ['$lt', { age: { $lt: 30 } }, [2]],
    ['$lte', { age: { $lte: 30 } }, [1, 2]],
    ['$gt on strings', { name: { $gt: 'Dave' } }, [1, 5]],
    ['$in', { city: { $in: ['Brno', 'Ostrava'] } }, [3, 5, 4]],
    ['$nin', { city: { $nin: ['Brno', 'Ostrava'] } }, [1, 2]],
    ['$contains string, case-insensitive', { name: { $contains: 'AL' } }, [1]],
    ['$contains string substring', { city: { $contains: 'ra' } }, [1, 2, 5]],
    ['$contains array membership', { tags: { $contains: 'b' } }, [3, 1]],
    ['$contains array membership is exact', { tags: { $contains: 'a' } }, [1]],
    ['$startsWith (case-sensitive)', { name: { $startsWith: 'B' } }, [2]],
    ['$endsWith', { city: { $endsWith: 'ha' } }, [1, 2]],
    ['$exists true', { score: { $exists: true } }, [3, 1, 2, 4]],
    ['$exists false', { nick: { $exists: false } }, [3, 1, 2, 5]],
    ['$between inclusive', { age: { $between: [30, 35] } }, [3, 1, 4]],
    ['$between on strings', { city: { $between: ['B', 'O'] } }, [3, 4]],
    ['combined operators', { age: { $gte: 30, $lt: 40 }, city: { $neq: 'Praha' } }, [3, 4]],
    ['$gt skips missing values', { score: { $gt: 0 } }, [3, 1, 2, 4]],
    ['$and', { $and: [{ city: 'Brno' }, { score: { $gt: 8 } }] }, [4]],
    ['$or', { $or: [{ city: 'Ostrava' }, { age: { $lt: 30 } }] }, [2, 5]],
    [
      '$or with field condition',
      { active: true, $or: [{ city: 'Brno' }, { name: { $contains: 'LI' } }] },
      [3, 1],
    ],
    ['nested $or in $and', { $and: [{ $or: [{ id: 1 }, { id: 2 }] }, { active: false }] }, [2]],
    ['empty $or matches nothing', { $or: [] }, []],
    ['empty $and matches everything', { $and: [] }, [3, 1, 2, 5, 4]],
    ['boolean equality', { active: false }, [2, 5]],
  ];
  for (const indexed of [false, true]) {
    for (const [name, filter, expected] of cases) {
      it(`${name}${indexed ? ' (indexed)' : ''}`, async () => {
        const b = await peopleBucket('set', indexed);
        const got = keysOf(await b.where(filter));
        expect([...got].sort()).toEqual([...expected].sort());
        expect(await b.count(filter)).toBe(expected.length);
        const one = await b.findOne(filter);
        if (expected.length === 0) expect(one).toBeUndefined();
        else expect(expected).toContain(one!.id);
        // matchesFilter agrees with the bucket
        const all = await b.all();
        expect(keysOf(all.filter((r) => matchesFilter(r, filter))).sort()).toEqual([...expected].sort());
      });
    }
  }

  it('matchesFilter is exported and works on plain records', () => {
    expect(matchesFilter({ a: 1, t: 'Hello' }, { a: 1, t: { $contains: 'ELL' } })).toBe(true);
    expect(matchesFilter({ a: 1 }, { $or: [{ a: 2 }, { a: 3 }] })).toBe(false);
  });
});

describe('C-6 aggregates', () => {
  it('sum / avg / min / max with and without filter, skipping non-numbers', async () => {
    const b = await peopleBucket();
    expect(await b.sum('score')).toBe(25);
    expect(await b.avg('score')).toBe(6.25);
    expect(await b.min('age')).toBe(25);
    expect(await b.max('age')).toBe(41);
    expect(await b.sum('age', { city: 'Brno' })).toBe(70);
    expect(await b.avg('age', { city: 'Praha' })).toBe(27.5);
    expect(await b.min('score', { city: 'Brno' })).toBe(7);
    expect(await b.max('score', { city: 'Praha' })).toBe(5);
    // nothing to aggregate
    expect(await b.sum('score', { city: 'Nowhere' })).toBe(0);
    expect(await b.avg('score', { city: 'Nowhere' })).toBe(0);
    expect(await b.min('score', { city: 'Nowhere' })).toBeUndefined();
    expect(await b.max('name')).toBeUndefined();
  });

  it('groupBy returns {key, value}[] in first-seen order', async () => {
    const b = await peopleBucket();
    expect(await b.groupBy('city', { function: 'count' })).toEqual([
      { key: { city: 'Brno' }, value: 2 },
      { key: { city: 'Praha' }, value: 2 },
      { key: { city: 'Ostrava' }, value: 1 },
    ]);
    expect(await b.groupBy('city', { function: 'sum', field: 'score' })).toEqual([
      { key: { city: 'Brno' }, value: 17 },
      { key: { city: 'Praha' }, value: 8 },
      { key: { city: 'Ostrava' }, value: 0 },
    ]);
    expect(await b.groupBy('city', { function: 'avg', field: 'age' }, { active: { $exists: true } })).toEqual(
      [
        { key: { city: 'Brno' }, value: 35 },
        { key: { city: 'Praha' }, value: 27.5 },
        { key: { city: 'Ostrava' }, value: 41 },
      ],
    );
    // min/max of an empty group is 0 inside groupBy (noex)
    expect(await b.groupBy('city', { function: 'min', field: 'score' })).toEqual([
      { key: { city: 'Brno' }, value: 7 },
      { key: { city: 'Praha' }, value: 3 },
      { key: { city: 'Ostrava' }, value: 0 },
    ]);
    expect(await b.groupBy(['city', 'age'], { function: 'max', field: 'score' })).toEqual([
      { key: { city: 'Brno', age: 35 }, value: 10 },
      { key: { city: 'Praha', age: 30 }, value: 5 },
      { key: { city: 'Praha', age: 25 }, value: 3 },
      { key: { city: 'Ostrava', age: 41 }, value: 0 },
    ]);
    // missing group field groups under the value undefined
    expect(await b.groupBy('nick', { function: 'count' })).toEqual([
      { key: { nick: undefined }, value: 4 },
      { key: { nick: 'D' }, value: 1 },
    ]);
  });
});

describe('C-6 where with options', () => {
  it('sort (null last in both directions), limit, offset', async () => {
    const b = await peopleBucket();
    expect(keysOf(await b.where({}, { sort: { score: 'asc' } }))).toEqual([2, 1, 3, 4, 5]);
    expect(keysOf(await b.where({}, { sort: { score: 'desc' } }))).toEqual([4, 3, 1, 2, 5]);
    expect(keysOf(await b.where({}, { sort: { age: 'desc', name: 'asc' } }))).toEqual([5, 3, 4, 1, 2]);
    expect(keysOf(await b.where({ age: { $gte: 30 } }, { sort: { age: 'asc' }, limit: 2 }))).toEqual([1, 3]);
    expect(keysOf(await b.where({}, { sort: { id: 'asc' }, offset: 1, limit: 2 }))).toEqual([2, 3]);
    expect(keysOf(await b.where({}, { offset: 4 }))).toEqual([4]);
    expect(keysOf(await b.where({}, { limit: 0 }))).toEqual([]);
  });
});

describe('C-6 bad filters and arguments', () => {
  it('unknown operators and malformed operands → InvalidFilterError with a path', async () => {
    const b = await peopleBucket('set', true);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ age: { $foo: 1 } }, 'age.$foo'],
      [{ age: { $in: 5 } }, 'age.$in'],
      [{ age: { $nin: 'x' } }, 'age.$nin'],
      [{ age: { $between: [1] } }, 'age.$between'],
      [{ age: { $between: 3 } }, 'age.$between'],
      [{ age: { $between: [1, {}] } }, 'age.$between[1]'],
      [{ age: { $gt: {} } }, 'age.$gt'],
      [{ age: { $lte: null } }, 'age.$lte'],
      [{ name: { $startsWith: 1 } }, 'name.$startsWith'],
      [{ name: { $endsWith: null } }, 'name.$endsWith'],
      [{ name: { $exists: 'yes' } }, 'name.$exists'],
      [{ $or: { a: 1 } }, '$or'],
      [{ $and: 'x' }, '$and'],
      [{ $or: [{ age: 1 }, { age: { $bad: 1 } }] }, '$or[1].age.$bad'],
      [{ $or: [{ age: 1 }, 5] }, '$or[1]'],
      [{ $nor: [] }, '$nor'],
      [{ age: { $gt: 1, lt: 5 } }, 'age.lt'],
    ];
    for (const [filter, path] of bad) {
      for (const run of [
        () => b.where(filter),
        () => b.count(filter),
        () => b.findOne(filter),
        () => b.updateMany(filter, { score: 1 }),
        () => b.deleteMany(filter),
        () => b.sum('age', filter),
        () => b.first(1, filter as any),
      ]) {
        const e = await rejects(run, InvalidFilterError);
        expect(e.path, JSON.stringify(filter)).toBe(path);
        expect(e.message).toContain(path);
      }
      expect(() => matchesFilter({}, filter)).toThrow(InvalidFilterError);
    }
    // nothing changed
    expect(await b.count()).toBe(5);
    expect(await b.sum('score')).toBe(25);
  });

  it('wrong argument types → InvalidArgumentError', async () => {
    const b = await peopleBucket();
    const calls: Array<() => Promise<unknown>> = [
      () => b.where('x' as any),
      () => b.where(null as any),
      () => b.where([] as any),
      () => b.findOne(5 as any),
      () => b.count('x' as any),
      () => b.first(-1),
      () => b.first(1.5),
      () => b.first('2' as any),
      () => b.last(-1),
      () => b.last(Number.NaN),
      () => b.paginate({ limit: 'x' as any }),
      () => b.paginate({ limit: -1 }),
      () => b.paginate(null as any),
      () => b.paginate({ limit: 1, after: { x: 1 } }),
      () => b.where({}, { limit: -1 }),
      () => b.where({}, { offset: 1.5 }),
      () => b.where({}, 'x' as any),
      () => b.sum(5 as any),
      () => b.avg('' as any),
      () => b.groupBy([], { function: 'count' }),
      () => b.groupBy('city', { function: 'median' as any }),
      () => b.groupBy('city', { function: 'sum' }),
      () => b.groupBy('city', null as any),
      () => b.get({}),
      () => b.get(null),
      () => b.get(undefined),
      () => b.get([1]),
      () => b.update({}, { score: 1 }),
      () => b.update(1, null as any),
      () => b.update(1, [] as any),
      () => b.delete({}),
      () => b.insert(null as any),
      () => b.insert([] as any),
      () => b.insert('x' as any),
      () => b.insertMany('x' as any),
      () => b.insertMany([{ id: 9 }, null] as any),
      () => b.updateMany(null as any, {}),
      () => b.updateMany({}, 'x' as any),
      () => b.deleteMany('x' as any),
      () => b.upsert(null as any),
      () => b.insert({ id: 10 }, 'actor' as any),
    ];
    for (const call of calls) {
      const e = await rejects(call, InvalidArgumentError);
      expect(e.name).toBe('InvalidArgumentError');
    }
    const e = await rejects(() => b.first(-1), InvalidArgumentError);
    expect(e.message).toContain('first');
    expect(e.message).toContain('-1');
    expect(await b.count()).toBe(5);
    expect(keysOf(await b.all())).toEqual([3, 1, 2, 5, 4]);
  });

  it('bad sort specs → InvalidFilterError', async () => {
    const b = await peopleBucket();
    const e = await rejects(() => b.where({}, { sort: { age: 'up' as any } }), InvalidFilterError);
    expect(e.path).toBe('sort.age');
    await rejects(() => b.where({}, { sort: 'age' as any }), InvalidFilterError);
  });
});
