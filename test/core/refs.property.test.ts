import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BucketDefinition, FieldDefinition } from '../../src/index.js';
import { ReferentialIntegrityError, Store } from '../../src/index.js';

// Random reference graphs (chains, cycles, self-references, every onDelete)
// under random inserts, re-points and deletes, checked against a small model:
// a delete succeeds unless a referrer that survives it restricts it
// (whatever order the rules are met in), no reference ever dangles, and a
// failed operation changes nothing.

type OnDelete = 'restrict' | 'cascade' | 'set_null';
const BUCKETS = ['a', 'b', 'c'] as const;
type B = (typeof BUCKETS)[number];
// field name → [owner bucket, target bucket]
const REFS: Record<string, [B, B]> = {
  bToA: ['b', 'a'],
  cToB: ['c', 'b'],
  cToA: ['c', 'a'],
  aToC: ['a', 'c'],
  bToB: ['b', 'b'],
};
const KEYS = ['k1', 'k2', 'k3', 'k4'];

const op = fc.oneof(
  fc.record({
    kind: fc.constant('update' as const),
    bucket: fc.constantFrom(...BUCKETS),
    key: fc.constantFrom(...KEYS),
    refs: fc.dictionary(fc.constantFrom(...Object.keys(REFS)), fc.option(fc.constantFrom(...KEYS))),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    bucket: fc.constantFrom(...BUCKETS),
    key: fc.constantFrom(...KEYS),
    refs: fc.dictionary(fc.constantFrom(...Object.keys(REFS)), fc.option(fc.constantFrom(...KEYS))),
  }),
  fc.record({
    kind: fc.constant('update' as const),
    bucket: fc.constantFrom(...BUCKETS),
    key: fc.constantFrom(...KEYS),
    refs: fc.dictionary(fc.constantFrom(...Object.keys(REFS)), fc.option(fc.constantFrom(...KEYS))),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    bucket: fc.constantFrom(...BUCKETS),
    key: fc.constantFrom(...KEYS),
  }),
  fc.record({
    kind: fc.constant('deleteMany' as const),
    bucket: fc.constantFrom(...BUCKETS),
    keys: fc.subarray(KEYS),
  }),
  fc.record({
    kind: fc.constant('tx' as const),
    deletes: fc.array(fc.tuple(fc.constantFrom(...BUCKETS), fc.constantFrom(...KEYS)), { maxLength: 3 }),
  }),
);

type Model = Record<B, Map<string, Record<string, string | null>>>;

function refFieldsOf(b: B): string[] {
  return Object.entries(REFS)
    .filter(([, [owner]]) => owner === b)
    .map(([f]) => f);
}

/** What deleting `roots` does under the rules, judged on the final state (order-independent). */
function modelDelete(m: Model, rules: Record<string, OnDelete>, roots: Array<[B, string]>): boolean {
  const gone = new Set<string>();
  const work: Array<[B, string]> = [];
  for (const [b, k] of roots) {
    if (m[b].has(k) && !gone.has(`${b}:${k}`)) {
      gone.add(`${b}:${k}`);
      work.push([b, k]);
    }
  }
  // cascade closure
  while (work.length > 0) {
    const [tb, tk] = work.pop()!;
    for (const [f, [owner, target]] of Object.entries(REFS)) {
      if (target !== tb || rules[f] !== 'cascade') continue;
      for (const [k, r] of m[owner]) {
        if (r[f] === tk && !gone.has(`${owner}:${k}`)) {
          gone.add(`${owner}:${k}`);
          work.push([owner, k]);
        }
      }
    }
  }
  // a surviving restricting referrer blocks everything
  for (const [f, [owner, target]] of Object.entries(REFS)) {
    if (rules[f] !== 'restrict') continue;
    for (const [k, r] of m[owner]) {
      if (!gone.has(`${owner}:${k}`) && r[f] != null && gone.has(`${target}:${r[f]}`)) return false;
    }
  }
  for (const id of gone) {
    const [b, k] = id.split(':') as [B, string];
    m[b].delete(k);
  }
  for (const [f, [owner, target]] of Object.entries(REFS)) {
    for (const r of m[owner].values()) if (r[f] != null && gone.has(`${target}:${r[f]}`)) r[f] = null;
  }
  return true;
}

function cloneModel(m: Model): Model {
  const out = {} as Model;
  for (const b of BUCKETS) out[b] = new Map([...m[b]].map(([k, r]) => [k, { ...r }]));
  return out;
}

function modelView(m: Model) {
  const out: Record<string, unknown[]> = {};
  for (const b of BUCKETS) {
    out[b] = [...m[b].entries()]
      .map(([k, r]) => ({ id: k, ...Object.fromEntries(refFieldsOf(b).map((f) => [f, r[f] ?? null])) }))
      .sort((x, y) => x.id.localeCompare(y.id));
  }
  return out;
}

async function storeView(store: Store) {
  const out: Record<string, unknown[]> = {};
  for (const b of BUCKETS) {
    out[b] = (await store.bucket(b).all())
      .map((r) => ({ id: r.id, ...Object.fromEntries(refFieldsOf(b).map((f) => [f, r[f] ?? null])) }))
      .sort((x, y) => (x.id as string).localeCompare(y.id as string));
  }
  return out;
}

/** Apply an operation to the model; false when the store must reject it. */
function modelApply(m: Model, rules: Record<string, OnDelete>, o: Op): boolean {
  const exists = (b: B, k: string | null | undefined) => k == null || m[b].has(k);
  switch (o.kind) {
    case 'insert': {
      if (m[o.bucket].has(o.key)) return false;
      const rec: Record<string, string | null> = {};
      for (const f of refFieldsOf(o.bucket)) rec[f] = o.refs[f] ?? null;
      m[o.bucket].set(o.key, rec);
      for (const f of refFieldsOf(o.bucket)) {
        if (!exists(REFS[f]![1], rec[f])) {
          m[o.bucket].delete(o.key);
          return false;
        }
      }
      return true;
    }
    case 'update': {
      const cur = m[o.bucket].get(o.key);
      if (cur === undefined) return false;
      const next = { ...cur };
      for (const f of refFieldsOf(o.bucket)) if (f in o.refs) next[f] = o.refs[f] ?? null;
      for (const f of refFieldsOf(o.bucket))
        if (next[f] !== cur[f] && !exists(REFS[f]![1], next[f])) return false;
      m[o.bucket].set(o.key, next);
      return true;
    }
    case 'delete':
      return modelDelete(m, rules, [[o.bucket, o.key]]);
    case 'deleteMany':
      return modelDelete(
        m,
        rules,
        o.keys.map((k) => [o.bucket, k] as [B, string]),
      );
    case 'tx':
      return modelDelete(m, rules, o.deletes);
  }
}

async function snapshot(store: Store) {
  const out: Record<string, unknown[]> = {};
  for (const b of BUCKETS) out[b] = await store.bucket(b).all();
  return out;
}

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function checkNoDangling(store: Store) {
  const data = await snapshot(store);
  const keys = Object.fromEntries(
    BUCKETS.map((b) => [b, new Set(data[b]!.map((r) => (r as { id: string }).id))]),
  );
  for (const [field, [owner, target]] of Object.entries(REFS)) {
    for (const r of data[owner] as Array<Record<string, unknown>>) {
      const v = r[field];
      if (v === null || v === undefined) continue;
      expect({ owner, field, v, exists: keys[target]!.has(v as string) }).toEqual({
        owner,
        field,
        v,
        exists: true,
      });
    }
  }
  // the reference-holder index agrees: records referenced by nobody can be deleted under any rule
}

describe('references: property test', () => {
  it('no dangling references; failed operations change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.constantFrom(...Object.keys(REFS)),
          fc.constantFrom<OnDelete>('restrict', 'cascade', 'set_null'),
          {
            minKeys: Object.keys(REFS).length,
          },
        ),
        fc.array(op, { minLength: 1, maxLength: 30 }),
        async (rules, ops) => {
          const store = await Store.start({ ttlCheckIntervalMs: 0 });
          try {
            for (const b of BUCKETS) {
              const schema: Record<string, FieldDefinition> = { id: { type: 'string', required: true } };
              for (const [field, [owner, target]] of Object.entries(REFS)) {
                if (owner === b)
                  schema[field] = { type: 'string', ref: target, onDelete: rules[field] ?? 'restrict' };
              }
              await store.defineBucket(b, { key: 'id', schema } as BucketDefinition);
            }
            const model: Model = { a: new Map(), b: new Map(), c: new Map() };
            // seed: most keys exist without references, so re-points mostly succeed
            for (const b of BUCKETS) {
              for (const k of KEYS.slice(0, 3)) {
                await store.bucket(b).insert({ id: k });
                model[b].set(k, Object.fromEntries(refFieldsOf(b).map((f) => [f, null])));
              }
            }
            for (const o of ops) {
              const before = await snapshot(store);
              const expected = cloneModel(model);
              const accepted = modelApply(expected, rules as Record<string, OnDelete>, o);
              const fieldsOf = (b: B, refs: Record<string, string | null>) =>
                Object.fromEntries(Object.entries(refs).filter(([f]) => REFS[f]![0] === b));
              let failed = false;
              try {
                switch (o.kind) {
                  case 'insert':
                    await store.bucket(o.bucket).insert({ id: o.key, ...fieldsOf(o.bucket, o.refs) });
                    break;
                  case 'update':
                    await store.bucket(o.bucket).update(o.key, fieldsOf(o.bucket, o.refs));
                    break;
                  case 'delete':
                    await store.bucket(o.bucket).delete(o.key);
                    break;
                  case 'deleteMany':
                    await store.bucket(o.bucket).deleteMany({ id: { $in: o.keys } });
                    break;
                  case 'tx':
                    await store.transaction(async (tx) => {
                      for (const [b, k] of o.deletes) await (await tx.bucket(b)).delete(k);
                    });
                    break;
                }
              } catch (e) {
                failed = true;
                // only expected failures
                expect((e as Error).name).toMatch(
                  /ReferentialIntegrityError|DuplicateKeyError|RecordNotFoundError|ValidationError/,
                );
              }
              if (failed) expect(await snapshot(store)).toEqual(before);
              await checkNoDangling(store);
              expect({ op: o, accepted: !failed }).toEqual({ op: o, accepted });
              if (accepted) Object.assign(model, expected);
              expect(await storeView(store)).toEqual(modelView(model));
            }
            // Finally the reference index must agree with the data: with every referencing
            // field cleared, every record can be deleted even under `restrict`.
            for (const b of BUCKETS) {
              const clear = Object.fromEntries(
                Object.entries(REFS)
                  .filter(([, [owner]]) => owner === b)
                  .map(([f]) => [f, null]),
              );
              await store.bucket(b).updateMany({}, clear);
            }
            for (const b of BUCKETS) {
              const err = await store
                .bucket(b)
                .deleteMany({})
                .then(
                  () => undefined,
                  (e) => e,
                );
              expect(err instanceof ReferentialIntegrityError ? err.message : err).toBeUndefined();
              expect(await store.bucket(b).count()).toBe(0);
            }
          } finally {
            await store.stop();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
