// C-7 unique constraints and secondary indexes; P-7 composite keys,
// compound indexes, compound unique constraints and sorted indexes.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DuplicateKeyError,
  InvalidArgumentError,
  Store,
  UniqueConstraintError,
  ValidationError,
} from '../../src/index.js';
import { asSet, expectIndexesMatchData, keysOf, rejects, snapshot } from './helpers.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start();
});
afterEach(async () => {
  await store.stop();
});

describe('C-7 unique constraints', () => {
  it('rejects duplicates with UniqueConstraintError {bucket, field, value}', async () => {
    const b = await store.defineBucket('users', {
      key: 'id',
      schema: { id: { type: 'number' }, email: { type: 'string', unique: true } },
    });
    await b.insert({ id: 1, email: 'a@x.io' });
    const e = await rejects(() => b.insert({ id: 2, email: 'a@x.io' }), UniqueConstraintError);
    expect([e.bucket, e.field, e.value, e.name]).toEqual([
      'users',
      'email',
      'a@x.io',
      'UniqueConstraintError',
    ]);
    expect(e.message).toBe(
      'Unique constraint violation in bucket "users": field "email" already has value "a@x.io"',
    );
    expect(await b.count()).toBe(1);
  });

  it('null/undefined are not constrained; own value may be kept; freed values are reusable', async () => {
    const b = await store.defineBucket('users', {
      key: 'id',
      schema: { id: { type: 'number' }, email: { type: 'string', unique: true }, n: { type: 'number' } },
    });
    await b.insertMany([{ id: 1 }, { id: 2 }, { id: 3, email: null }, { id: 4, email: 'x' }]);
    await b.update(4, { email: 'x', n: 1 });
    await b.update(4, { email: 'y' });
    await b.insert({ id: 5, email: 'x' });
    await b.update(5, { email: null });
    await b.insert({ id: 6, email: 'x' });
    await b.delete(6);
    await b.insert({ id: 7, email: 'x' });
    await rejects(() => b.update(1, { email: 'y' }), UniqueConstraintError);
    // several records may clear the value at once
    expect(await b.updateMany({}, { email: null })).toBe(6);
    expect(await b.count({ email: { $exists: true } })).toBe(0);
    await b.insert({ id: 8, email: 'y' });
  });

  it('unique values are case- and type-sensitive', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, code: { type: 'string', unique: true } },
    });
    await b.insert({ id: 1, code: 'A' });
    await b.insert({ id: 2, code: 'a' });
    expect(await b.count()).toBe(2);
  });

  it('unique date fields compare Date values by time', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, day: { type: 'date', unique: true } },
      indexes: [{ fields: 'day', sorted: true, unique: true, name: 'day-sorted' }],
    });
    await b.insert({ id: 1, day: new Date(86_400_000) });
    await rejects(() => b.insert({ id: 2, day: new Date(86_400_000) }), UniqueConstraintError);
    // a number or a string is a different value
    await b.insert({ id: 3, day: 86_400_000 });
    await b.insert({ id: 4, day: '1970-01-02' });
    await b.update(1, { day: new Date(0) });
    await b.insert({ id: 5, day: new Date(86_400_000) });
    await rejects(() => b.update(5, { day: new Date(0) }), UniqueConstraintError);
    expect(await b.count()).toBe(4);
  });

  it('unique index declared in indexes: {fields, unique: true}', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, slug: { type: 'string' } },
      indexes: [{ fields: 'slug', unique: true }],
    });
    await b.insert({ id: 1, slug: 's' });
    await rejects(() => b.insert({ id: 2, slug: 's' }), UniqueConstraintError);
  });

  it('a sorted unique index enforces uniqueness too', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, rank: { type: 'number' } },
      indexes: [{ fields: 'rank', unique: true, sorted: true }],
    });
    await b.insertMany([
      { id: 1, rank: 2 },
      { id: 2, rank: 1 },
    ]);
    await rejects(() => b.insert({ id: 3, rank: 2 }), UniqueConstraintError);
    await rejects(() => b.update(2, { rank: 2 }), UniqueConstraintError);
    expect(keysOf(await b.where({}, { sort: { rank: 'asc' } }))).toEqual([2, 1]);
  });
});

describe('P-7 composite keys', () => {
  const def = {
    key: ['ns', 'flag'],
    schema: {
      ns: { type: 'string', required: true },
      flag: { type: 'string', required: true },
      on: { type: 'boolean', default: false },
    },
  } as const;

  it('get/update/delete by array or object key; duplicate keys rejected', async () => {
    const b = await store.defineBucket('flags', def);
    await b.insert({ ns: 'a', flag: 'x' });
    await b.insert({ ns: 'a', flag: 'y', on: true });
    await b.insert({ ns: 'b', flag: 'x' });
    expect((await b.get(['a', 'y']))!.on).toBe(true);
    expect((await b.get({ ns: 'a', flag: 'y' }))!.on).toBe(true);
    expect(await b.get(['a', 'z'])).toBeUndefined();
    const u = await b.update({ ns: 'b', flag: 'x' }, { on: true });
    expect(u).toMatchObject({ ns: 'b', flag: 'x', on: true, _version: 2 });
    // changing a key field through update is ignored
    const u2 = await b.update(['b', 'x'], { flag: 'q' } as any);
    expect(u2.flag).toBe('x');
    const e = await rejects(() => b.insert({ ns: 'a', flag: 'x' }), DuplicateKeyError);
    expect(e.message).toContain('Duplicate key');
    expect(e.key).toEqual(['a', 'x']);
    await b.delete(['a', 'x']);
    await b.delete({ ns: 'a', flag: 'y' });
    expect(keysOf(await b.all(), 'flag')).toEqual(['x']);
    // the same values in a different order are a different key
    await b.insert({ ns: 'x', flag: 'b' });
    expect(await b.count()).toBe(2);
  });

  it('keys that could collide when joined naively stay distinct', async () => {
    const b = await store.defineBucket('flags', def);
    await b.insert({ ns: 'a,b', flag: 'c' });
    await b.insert({ ns: 'a', flag: 'b,c' });
    await b.insert({ ns: '1', flag: '2' });
    const n = await store.defineBucket('n', {
      key: ['a', 'b'],
      schema: { a: { type: 'number' }, b: { type: 'string' } },
    });
    await n.insert({ a: 1, b: '2' });
    await n.insert({ a: 1, b: '02' });
    expect(await b.count()).toBe(3);
    expect(await n.count()).toBe(2);
    expect((await n.get([1, '2']))!.b).toBe('2');
    expect(await n.get(['1', '2'])).toBeUndefined();
  });

  it('bad composite keys → InvalidArgumentError', async () => {
    const b = await store.defineBucket('flags', def);
    await b.insert({ ns: 'a', flag: 'x' });
    for (const k of ['a', ['a'], ['a', 'x', 'z'], { ns: 'a' }, [null, 'x'], [{}, 'x'], null]) {
      await rejects(() => b.get(k), InvalidArgumentError);
      await rejects(() => b.update(k, { on: true }), InvalidArgumentError);
      await rejects(() => b.delete(k), InvalidArgumentError);
    }
    // missing key field on insert is a validation error
    const v = await rejects(() => b.insert({ ns: 'a' } as any), ValidationError);
    expect(v.issues.map((i) => [i.field, i.code])).toEqual([['flag', 'required']]);
    expect(await b.count()).toBe(1);
  });

  it('events carry the key as an array', async () => {
    const b = await store.defineBucket('flags', def);
    const keys: unknown[] = [];
    await store.on('bucket.flags.*', (e: { key: unknown; type: string }) => {
      keys.push([e.type, e.key]);
    });
    await b.insert({ ns: 'a', flag: 'x' });
    await b.update(['a', 'x'], { on: true });
    await b.delete({ ns: 'a', flag: 'x' });
    await store.settle();
    expect(keys).toEqual([
      ['inserted', ['a', 'x']],
      ['updated', ['a', 'x']],
      ['deleted', ['a', 'x']],
    ]);
  });

  it('ordered_set orders by the key fields; paginate cursors are array keys', async () => {
    const b = await store.defineBucket('flags', { ...def, etsType: 'ordered_set' });
    for (const [ns, flag] of [
      ['b', 'a'],
      ['a', 'z'],
      ['a', 'b'],
      ['c', 'a'],
    ])
      await b.insert({ ns, flag });
    expect((await b.all()).map((r) => `${r.ns}/${r.flag}`)).toEqual(['a/b', 'a/z', 'b/a', 'c/a']);
    const p1 = await b.paginate({ limit: 2 });
    expect(p1.nextCursor).toEqual(['a', 'z']);
    expect(p1.hasMore).toBe(true);
    const p2 = await b.paginate({ after: p1.nextCursor, limit: 2 });
    expect(p2.records.map((r) => `${r.ns}/${r.flag}`)).toEqual(['b/a', 'c/a']);
    expect(p2.hasMore).toBe(false);
    const p3 = await b.paginate({ after: { ns: 'b', flag: 'a' }, limit: 5 });
    expect(p3.records.map((r) => r.ns)).toEqual(['c']);
    // where on a key prefix
    expect((await b.where({ ns: 'a' })).map((r) => r.flag)).toEqual(['b', 'z']);
    expect((await b.where({ ns: 'a', flag: 'z' })).map((r) => r.flag)).toEqual(['z']);
  });

  it('upsert and insertMany with composite keys', async () => {
    const b = await store.defineBucket('flags', def);
    await b.upsert({ ns: 'a', flag: 'x' });
    const up = await b.upsert({ ns: 'a', flag: 'x', on: true });
    expect(up._version).toBe(2);
    await rejects(
      () =>
        b.insertMany([
          { ns: 'b', flag: 'x' },
          { ns: 'b', flag: 'x' },
        ]),
      DuplicateKeyError,
    );
    expect(await b.count()).toBe(1);
  });
});

describe('P-7 compound indexes and compound unique constraints', () => {
  it('compound hash index answers multi-field equality like a full scan', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, a: { type: 'string' }, c: { type: 'number' } },
      indexes: [['a', 'c']],
    });
    const rows = [];
    for (let i = 0; i < 60; i++) rows.push({ id: i, a: `g${i % 4}`, c: i % 3 });
    await b.insertMany(rows);
    for (let g = 0; g < 5; g++)
      for (let c = 0; c < 4; c++) {
        const expected = rows.filter((r) => r.a === `g${g}` && r.c === c).map((r) => r.id);
        expect(keysOf(await b.where({ a: `g${g}`, c })).sort()).toEqual(expected.sort());
      }
    await b.updateMany({ a: 'g1', c: 1 }, { c: 2 });
    await expectIndexesMatchData(b, ['a', 'c']);
    expect(await b.count({ a: 'g1', c: 1 })).toBe(0);
  });

  it('compound unique: the combination must be unique, nulls are not constrained', async () => {
    const b = await store.defineBucket('members', {
      key: 'id',
      schema: { id: { type: 'number' }, team: { type: 'string' }, user: { type: 'string' } },
      indexes: [{ fields: ['team', 'user'], unique: true }],
    });
    await b.insert({ id: 1, team: 't1', user: 'u1' });
    await b.insert({ id: 2, team: 't1', user: 'u2' });
    await b.insert({ id: 3, team: 't2', user: 'u1' });
    await b.insert({ id: 4, team: 't1' });
    await b.insert({ id: 5, team: 't1' });
    const e = await rejects(() => b.insert({ id: 6, team: 't1', user: 'u1' }), UniqueConstraintError);
    expect(e.bucket).toBe('members');
    expect(e.field).toBe('team, user');
    await rejects(() => b.update(2, { user: 'u1' }), UniqueConstraintError);
    await rejects(() => b.update(3, { team: 't1' }), UniqueConstraintError);
    // freeing one side makes the combination available
    await b.update(1, { user: 'u9' });
    await b.update(3, { team: 't1' });
    await rejects(
      () =>
        b.insertMany([
          { id: 7, team: 'z', user: 'z' },
          { id: 8, team: 'z', user: 'z' },
        ]),
      UniqueConstraintError,
    );
    expect(await b.count()).toBe(5);
  });
});

// ── Sorted indexes vs brute force ──────────────────────────────────

type Row = { id: number; g: string; n: number | null; s: string; u?: string };

function bruteWhere(
  all: Row[],
  pred: (r: Row) => boolean,
  sort?: [keyof Row, 'asc' | 'desc'] | Array<[keyof Row, 'asc' | 'desc']>,
  offset = 0,
  limit = Number.POSITIVE_INFINITY,
): Row[] {
  let out = all.filter(pred);
  if (sort !== undefined) {
    const entries = (typeof sort[0] === 'string' ? [sort] : sort) as Array<[keyof Row, 'asc' | 'desc']>;
    out = [...out].sort((a, b) => {
      for (const [f, d] of entries) {
        const av = a[f];
        const bv = b[f];
        if (av === bv) continue;
        if (av == null) {
          if (bv == null) continue;
          return 1;
        }
        if (bv == null) return -1;
        const c = av < bv ? -1 : 1;
        return d === 'desc' ? -c : c;
      }
      return 0;
    });
  }
  return out.slice(offset, offset + limit);
}

const sortedDef = {
  key: 'id',
  schema: {
    id: { type: 'number' },
    g: { type: 'string' },
    n: { type: 'number' },
    s: { type: 'string' },
    u: { type: 'string', unique: true },
  },
  indexes: [
    { fields: 'n', sorted: true },
    { fields: 's', sorted: true },
    'g',
    { fields: ['g', 'n'], sorted: true },
  ],
} as const;

describe('P-7 sorted indexes', () => {
  it('range filters and where(filter, {sort, limit, offset}) equal a full scan on a large bucket', async () => {
    const b = await store.defineBucket('t', sortedDef);
    const plain = await store.defineBucket('plain', { key: 'id', schema: sortedDef.schema });
    // Enough entries to split the sorted list's chunks several times.
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const rows: Row[] = [];
    for (let i = 0; i < 3000; i++) {
      rows.push({
        id: i,
        g: `g${Math.floor(rnd() * 5)}`,
        n: rnd() < 0.05 ? null : Math.floor(rnd() * 500),
        s: Math.floor(rnd() * 1e6).toString(36),
      });
    }
    await b.insertMany(rows);
    await plain.insertMany(rows);
    // Churn: delete a third, update a third (including to null).
    const live = new Map(rows.map((r) => [r.id, { ...r }]));
    for (let i = 0; i < 3000; i += 3) {
      await b.delete(i);
      await plain.delete(i);
      live.delete(i);
    }
    for (let i = 1; i < 3000; i += 3) {
      const n = i % 7 === 0 ? null : Math.floor(rnd() * 500);
      await b.update(i, { n });
      await plain.update(i, { n });
      live.get(i)!.n = n;
    }
    const all = keysOf(await b.all()).map((k) => live.get(k as number)!);
    expect(all.length).toBe(2000);

    const queries: Array<[Record<string, unknown>, (r: Row) => boolean]> = [
      [{ n: { $gte: 100, $lt: 200 } }, (r) => r.n != null && r.n >= 100 && r.n < 200],
      [{ n: { $gt: 480 } }, (r) => r.n != null && r.n > 480],
      [{ n: { $lte: 3 } }, (r) => r.n != null && r.n <= 3],
      [{ n: { $between: [250, 250] } }, (r) => r.n === 250],
      [{ n: { $between: [300, 200] } }, () => false],
      [{ n: { $gt: 600 } }, () => false],
      [{ n: { $gte: -5, $lte: 1000 } }, (r) => r.n != null],
      [{ s: { $gte: 'a', $lt: 'b' } }, (r) => r.s >= 'a' && r.s < 'b'],
      [{ s: { $startsWith: 'k' } }, (r) => r.s.startsWith('k')],
      [
        { g: 'g2', n: { $gte: 100, $lte: 300 } },
        (r) => r.g === 'g2' && r.n != null && r.n >= 100 && r.n <= 300,
      ],
      [{ g: 'g3', n: 42 }, (r) => r.g === 'g3' && r.n === 42],
      [{ g: 'g1' }, (r) => r.g === 'g1'],
      [{ n: null }, (r) => r.n === null],
      [{ n: { $exists: false } }, (r) => r.n == null],
      [{ n: { $in: [1, 2, 3, 400] } }, (r) => [1, 2, 3, 400].includes(r.n as number)],
      [{ n: { $gte: '100' } }, (r) => r.n != null && (r.n as unknown as string) >= '100'],
      [{ $or: [{ n: { $lt: 10 } }, { n: { $gt: 490 } }] }, (r) => r.n != null && (r.n < 10 || r.n > 490)],
      [{}, () => true],
    ];
    const sorts: Array<[keyof Row, 'asc' | 'desc'] | undefined> = [
      undefined,
      ['n', 'asc'],
      ['n', 'desc'],
      ['s', 'asc'],
      ['s', 'desc'],
      ['id', 'desc'],
    ];
    for (const [filter, pred] of queries) {
      const expected = bruteWhere(all, pred);
      expect(keysOf(await b.where(filter)).sort(), JSON.stringify(filter)).toEqual(
        keysOf(await plain.where(filter)).sort(),
      );
      expect(keysOf(await b.where(filter)).sort(), JSON.stringify(filter)).toEqual(keysOf(expected).sort());
      expect(await b.count(filter)).toBe(expected.length);
      for (const sort of sorts) {
        if (sort === undefined) continue;
        for (const [offset, limit] of [
          [0, undefined],
          [0, 5],
          [7, 13],
          [1990, 50],
        ] as const) {
          const opts = { sort: { [sort[0]]: sort[1] }, offset, ...(limit !== undefined ? { limit } : {}) };
          const got = await b.where(filter, opts);
          const want = bruteWhere(all, pred, sort, offset, limit);
          const label = `${JSON.stringify(filter)} ${JSON.stringify(opts)}`;
          // sort values in order (ties may differ in order only)
          expect(
            got.map((r) => r[sort[0]]),
            label,
          ).toEqual(want.map((r) => r[sort[0]]));
          // and the same records as a bucket without indexes
          expect(keysOf(got), label).toEqual(keysOf(await plain.where(filter, opts)));
        }
      }
    }
  });
});

// ── Property test: indexes never drift from the data ──────────────

type Op =
  | { t: 'insert'; row: Row }
  | { t: 'insertMany'; rows: Row[] }
  | { t: 'update'; id: number; ch: Partial<Row> }
  | { t: 'updateMany'; g: string; ch: Partial<Row> }
  | { t: 'delete'; id: number }
  | { t: 'deleteMany'; lt: number }
  | { t: 'upsert'; row: Row };

const idArb = fc.integer({ min: 0, max: 30 });
const gArb = fc.constantFrom('a', 'b', 'c');
const nArb = fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constant(null));
const sArb = fc.constantFrom('', 'x', 'xa', 'xb', 'y', 'Y', 'z');
const uArb = fc.option(fc.constantFrom('u1', 'u2', 'u3', 'u4'), { nil: undefined });
const rowArb = fc.record({ id: idArb, g: gArb, n: nArb, s: sArb, u: uArb }) as fc.Arbitrary<Row>;
const changeArb = fc.record(
  { g: gArb, n: nArb, s: sArb, u: fc.option(fc.constantFrom('u1', 'u2', 'u3', 'u4'), { nil: null }) },
  { requiredKeys: [] },
) as fc.Arbitrary<Partial<Row>>;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('insert' as const), row: rowArb }),
  fc.record({ t: fc.constant('insertMany' as const), rows: fc.array(rowArb, { maxLength: 4 }) }),
  fc.record({ t: fc.constant('update' as const), id: idArb, ch: changeArb }),
  fc.record({ t: fc.constant('updateMany' as const), g: gArb, ch: changeArb }),
  fc.record({ t: fc.constant('delete' as const), id: idArb }),
  fc.record({ t: fc.constant('deleteMany' as const), lt: fc.integer({ min: -5, max: 20 }) }),
  fc.record({ t: fc.constant('upsert' as const), row: rowArb }),
);

/** The model: the same operations on a Map with the same rules (key, unique u). */
function applyModel(model: Map<number, Row>, op: Op): boolean {
  const uniqueOk = (rows: Map<number, Row>) => {
    const seen = new Set<string>();
    for (const r of rows.values()) {
      if (r.u == null) continue;
      if (seen.has(r.u)) return false;
      seen.add(r.u);
    }
    return true;
  };
  const next = new Map(model);
  const clean = (r: Row) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Row;
  switch (op.t) {
    case 'insert':
      if (next.has(op.row.id)) return false;
      next.set(op.row.id, clean(op.row));
      break;
    case 'insertMany':
      for (const r of op.rows) {
        if (next.has(r.id)) return false;
        next.set(r.id, clean(r));
      }
      break;
    case 'upsert':
      next.set(op.row.id, clean({ ...(next.get(op.row.id) ?? {}), ...op.row }));
      break;
    case 'update': {
      const r = next.get(op.id);
      if (r === undefined) return false;
      next.set(op.id, { ...r, ...op.ch });
      break;
    }
    case 'updateMany':
      for (const [k, r] of next) if (r.g === op.g) next.set(k, { ...r, ...op.ch });
      break;
    case 'delete':
      next.delete(op.id);
      break;
    case 'deleteMany':
      for (const [k, r] of next) if (r.n !== null && r.n < op.lt) next.delete(k);
      break;
  }
  if (!uniqueOk(next)) return false;
  model.clear();
  for (const [k, v] of next) model.set(k, v);
  return true;
}

describe('P-7 property: indexes never drift from the data', () => {
  it('after any sequence of (partly failing) writes, every index-served query equals a full scan', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('set' as const, 'ordered_set' as const),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        async (etsType, ops) => {
          const s = await Store.start();
          try {
            const b = await s.defineBucket(`t${run++}`, { ...sortedDef, etsType });
            const model = new Map<number, Row>();
            for (const op of ops) {
              const before = await snapshot(b);
              const expectOk = applyModel(model, op);
              let ok = true;
              try {
                switch (op.t) {
                  case 'insert':
                    await b.insert(op.row);
                    break;
                  case 'insertMany':
                    await b.insertMany(op.rows);
                    break;
                  case 'upsert':
                    await b.upsert(op.row);
                    break;
                  case 'update':
                    await b.update(op.id, op.ch);
                    break;
                  case 'updateMany':
                    await b.updateMany({ g: op.g }, op.ch);
                    break;
                  case 'delete':
                    await b.delete(op.id);
                    break;
                  case 'deleteMany':
                    await b.deleteMany({ n: { $lt: op.lt } });
                    break;
                }
              } catch (e) {
                if (!(e instanceof DuplicateKeyError || e instanceof UniqueConstraintError)) {
                  // update of a missing key
                  expect((e as Error).name).toBe('RecordNotFoundError');
                }
                ok = false;
                expect(await snapshot(b)).toEqual(before);
              }
              expect(ok, JSON.stringify(op)).toBe(expectOk);
            }
            const strip = (r: object) =>
              Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('_')));
            const data = (await b.all()).map(strip);
            expect(asSet(data)).toEqual(asSet([...model.values()]));
            await expectIndexesMatchData(b, ['g', 'n', 's', 'u']);
            // Bucket order: insertion order ('set', as the model Map keeps it) or key order.
            const all = [...model.values()];
            if (etsType === 'ordered_set') all.sort((x, y) => x.id - y.id);
            expect(keysOf(await b.all())).toEqual(keysOf(all));
            // Results, their order and tie order never depend on the indexes used.
            const queries: Array<[Record<string, unknown>, (r: Row) => boolean]> = [
              [{ g: 'a' }, (r) => r.g === 'a'],
              [{ g: 'b', n: { $gte: 0 } }, (r) => r.g === 'b' && r.n != null && r.n >= 0],
              [{ n: { $between: [2, 9] } }, (r) => r.n != null && r.n >= 2 && r.n <= 9],
              [{ s: { $startsWith: 'x' } }, (r) => r.s.startsWith('x')],
              [{ n: null }, (r) => r.n === null],
              [{ n: { $in: [null, 3] } }, (r) => r.n === null || r.n === 3],
              [{ s: { $contains: 'A' } }, (r) => r.s.toLowerCase().includes('a')],
              [{ $or: [{ g: 'c' }, { n: { $lt: 0 } }] }, (r) => r.g === 'c' || (r.n != null && r.n < 0)],
              [{}, () => true],
            ];
            for (const [filter, pred] of queries) {
              expect(keysOf(await b.where(filter)), JSON.stringify(filter)).toEqual(keysOf(all.filter(pred)));
              expect((await b.findOne(filter))?.id).toBe(all.find(pred)?.id);
              const multi = await b.where(filter, { sort: { g: 'desc', s: 'asc' }, limit: 6 });
              const sortSpec: Array<[keyof Row, 'asc' | 'desc']> = [
                ['g', 'desc'],
                ['s', 'asc'],
              ];
              expect(keysOf(multi)).toEqual(keysOf(bruteWhere(all, pred, sortSpec, 0, 6)));
              for (const dir of ['asc', 'desc'] as const) {
                for (const [offset, limit] of [
                  [0, undefined],
                  [1, 3],
                ] as const) {
                  const opts = { sort: { n: dir }, offset, ...(limit !== undefined ? { limit } : {}) };
                  const got = await b.where(filter, opts);
                  expect(keysOf(got), `${JSON.stringify(filter)} ${JSON.stringify(opts)}`).toEqual(
                    keysOf(bruteWhere(all, pred, ['n', dir], offset, limit)),
                  );
                }
              }
            }
          } finally {
            await s.stop();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
