// Restores fill a bucket with BucketState.loadBulk: the key map first, then
// every index built in one call per chunk (sorted indexes by one sort). The
// result must be indistinguishable from inserting the same records one by
// one: same bucket order, same index order (ties and nulls included), the
// same typed errors for stored data that breaks a key or unique index.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BucketState,
  compileDefinition,
  DuplicateKeyError,
  type StoreRecord,
  UniqueConstraintError,
} from '../../src/engine/index.js';

const definition = {
  key: 'id',
  schema: {
    id: { type: 'number' },
    a: { type: 'number' },
    b: { type: 'string' },
    u: { type: 'number' },
    tag: { type: 'string' },
  },
  indexes: [
    { fields: ['a'], sorted: true },
    { fields: ['a', 'b'], sorted: true },
    { fields: ['u'], sorted: true, unique: true },
    'tag',
    ['tag', 'b'],
  ],
  ttl: '1h',
} as const;

type Rec = Record<string, unknown>;

/** Every ordered view the indexes give: sorted scans both ways, prefix scans, hash lookups. */
function views(state: BucketState): unknown {
  const out: Record<string, unknown> = { order: [...state.records.keys()] };
  for (const ix of state.indexes) {
    if ('scan' in ix) {
      out[`${ix.def.name} asc`] = [...ix.scan(false)];
      out[`${ix.def.name} desc`] = [...ix.scan(true)];
      for (const v of [0, 1, 2, -3])
        out[`${ix.def.name} prefix ${v}`] = [[...ix.prefixScan([v], false)], [...ix.prefixScan([v], true)]];
    } else {
      for (const v of ['p', 'q', 'r', undefined])
        out[`${ix.def.name} ${v}`] = [...ix.lookup(ix.valueFor([v]))];
    }
  }
  out.expiry = [...state.expiry!.scan(false)];
  return out;
}

/** Records as storage holds them: metadata included, created in order (ties on the same millisecond). */
function stored(rows: Array<{ a: unknown; b: unknown; tag: unknown }>): StoreRecord[] {
  return rows.map((r, i) => {
    const rec: Rec = { id: i + 1, u: 1000 - i, _version: 1, _createdAt: 100 + (i >> 2), _updatedAt: 100 };
    if (r.a !== undefined) rec.a = r.a;
    if (r.b !== undefined) rec.b = r.b;
    if (r.tag !== undefined) rec.tag = r.tag;
    rec._expiresAt = 5000 - (i % 3);
    return rec as StoreRecord;
  });
}

function chunked<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const number = fc.oneof(fc.constantFrom(0, 1, 2, null, undefined), fc.integer({ min: -3, max: 3 }));
const text = fc.constantFrom('x', 'y', 'z', '', null, undefined);

describe('BucketState.loadBulk', () => {
  it('gives the same bucket order and index order as inserting one by one (ties, nulls, compound)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ a: number, b: text, tag: fc.constantFrom('p', 'q', 'r', undefined) }), {
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 7 }),
        (rows, chunkSize) => {
          const def = compileDefinition('t', definition);
          const records = stored(rows);
          const one = new BucketState(def);
          for (const r of records) one.put(one.keyIdOf(r), undefined, r);
          const bulk = new BucketState(def);
          bulk.loadBulk(chunked(records, chunkSize));
          expect(views(bulk)).toEqual(views(one));
          expect(bulk.select({ a: { $gte: 0 } }, { sort: { a: 'desc' } })).toEqual(
            one.select({ a: { $gte: 0 } }, { sort: { a: 'desc' } }),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('records stored out of creation order end in creation order, indexes too', () => {
    const def = compileDefinition('t', definition);
    const records = stored(
      Array.from({ length: 20 }, (_, i) => ({ a: i % 3, b: i % 2 ? 'x' : 'y', tag: 'p' })),
    );
    const shuffled = [...records].reverse();
    const bulk = new BucketState(def);
    bulk.loadBulk(chunked(shuffled, 6));
    // Stable: records created in the same millisecond keep their stored order.
    const byCreation = [...shuffled].sort((x, y) => x._createdAt - y._createdAt);
    expect([...bulk.records.values()]).toEqual(byCreation);
    const one = new BucketState(def);
    for (const r of byCreation) one.put(one.keyIdOf(r), undefined, r);
    expect(views(bulk)).toEqual(views(one));
  });

  it('a unique value held twice in stored data: UniqueConstraintError, the bucket stays empty', () => {
    const def = compileDefinition('t', definition);
    const records = stored(Array.from({ length: 30 }, () => ({ a: 1, b: 'x', tag: 'q' })));
    (records[25] as Rec).u = records[3]!.u; // in a later chunk than the first holder
    const state = new BucketState(def);
    let error: unknown;
    try {
      state.loadBulk(chunked(records, 8), 'stored');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UniqueConstraintError);
    const e = error as UniqueConstraintError;
    expect([e.code, e.bucket, e.field, e.value]).toEqual(['UNIQUE_CONSTRAINT', 'stored', 'u', records[3]!.u]);
    expect(state.size).toBe(0);
    expect(views(state)).toEqual(views(new BucketState(def)));
    expect([...state.expiry!.scan(false)]).toEqual([]);
    // The emptied bucket takes a correct load afterwards.
    (records[25] as Rec).u = -1;
    state.loadBulk([records]);
    expect(state.size).toBe(30);
  });

  it('a unique hash index and a key held twice: typed errors, nothing kept', () => {
    const def = compileDefinition('t', {
      key: 'id',
      schema: { id: { type: 'string' }, email: { type: 'string', unique: true }, role: { type: 'string' } },
      indexes: ['role'],
    });
    const rec = (id: string, email: string): StoreRecord =>
      ({ id, email, role: 'r', _version: 1, _createdAt: 1, _updatedAt: 1 }) as StoreRecord;
    const state = new BucketState(def);
    expect(() => state.loadBulk([[rec('a', 'x@y.z'), rec('b', 'y@y.z')], [rec('c', 'x@y.z')]])).toThrow(
      UniqueConstraintError,
    );
    expect(state.size).toBe(0);
    expect(() => state.loadBulk([[rec('a', 'x@y.z')], [rec('a', 'z@y.z')]])).toThrow(DuplicateKeyError);
    expect(state.size).toBe(0);
    expect(state.select({ role: 'r' }, undefined)).toEqual([]);
    state.loadBulk([[rec('a', 'x@y.z'), rec('b', 'y@y.z')], [rec('c', 'z@y.z')]]);
    expect(state.select({ role: 'r' }, undefined).map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(state.select({ email: 'z@y.z' }, undefined).map((r) => r.id)).toEqual(['c']);
  });
});
