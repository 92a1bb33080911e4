// A non-unique hash index keeps the records of a value shared by several
// keys in an array that updates leave stale and reads refresh (indexes.ts,
// ValueGroup). Property: through long runs of inserts, updates in place,
// moves between values, deletes and re-inserts of the same keys, with and
// without queries in between, every equality query returns exactly the
// records a scan finds, as current objects, in bucket order; composite keys
// too. Long runs (hundreds of writes on a few values) pass the point where
// writes refresh a group themselves.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BucketState, compileDefinition, StoreCore } from '../../src/engine/index.js';
import { EventBus } from '../../src/events/index.js';

type Op =
  | { t: 'insert'; id: number; g: string | null }
  | { t: 'update'; id: number; n: number }
  | { t: 'move'; id: number; g: string | null }
  | { t: 'delete'; id: number }
  | { t: 'query'; g: string };

const G = ['a', 'b', 'c'];
const idArb = fc.integer({ min: 0, max: 80 });
const gArb = fc.constantFrom<string | null>('a', 'b', 'c', null);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('insert' as const), id: idArb, g: gArb }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('update' as const), id: idArb, n: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('move' as const), id: idArb, g: gArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delete' as const), id: idArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('query' as const), g: fc.constantFrom(...G) }) },
);

function run(ops: readonly Op[], composite: boolean): void {
  const core = new StoreCore('groups', new EventBus());
  const def = composite
    ? {
        key: ['k1', 'k2'],
        schema: {
          k1: { type: 'number', required: true },
          k2: { type: 'string', required: true },
          g: { type: 'string' },
          n: { type: 'number' },
        },
        indexes: ['g'],
      }
    : {
        key: 'id',
        schema: { id: { type: 'number', required: true }, g: { type: 'string' }, n: { type: 'number' } },
        indexes: ['g'],
      };
  const b = new BucketState(compileDefinition('t', def as never));
  core.buckets.set('t', b);
  const keyOf = (id: number) => (composite ? [id % 7, `k${id}`] : id);
  const recordOf = (id: number, g: string | null, n: number) =>
    composite ? { k1: id % 7, k2: `k${id}`, g, n } : { id, g, n };
  const write = (stage: (ws: ReturnType<StoreCore['writeSet']>) => void) => {
    const ws = core.writeSet();
    stage(ws);
    core.commit(ws);
  };
  const check = (g: string) => {
    const expected = [...b.records.values()].filter((r) => r.g === g);
    const got = b.select({ g });
    expect(got.length).toBe(expected.length);
    // The very objects the bucket holds, in bucket order.
    for (let i = 0; i < got.length; i++) expect(got[i]).toBe(expected[i]);
    expect(b.count({ g })).toBe(expected.length);
    expect(b.findOne({ g })).toBe(expected[0]);
  };
  for (const op of ops) {
    const keyId = b.toKeyId(keyOf('id' in op ? op.id : 0), 'test');
    const present = b.records.get(keyId);
    switch (op.t) {
      case 'insert':
        if (present === undefined) write((ws) => ws.insert(b, recordOf(op.id, op.g, 0)));
        break;
      case 'update':
        if (present !== undefined) write((ws) => ws.update(b, keyId, { n: op.n }, keyOf(op.id)));
        break;
      case 'move':
        if (present !== undefined) write((ws) => ws.update(b, keyId, { g: op.g }, keyOf(op.id)));
        break;
      case 'delete':
        if (present !== undefined) write((ws) => ws.delete(b, keyId));
        break;
      case 'query':
        check(op.g);
        break;
    }
  }
  for (const g of G) check(g);
}

describe('hash index groups (records of a shared value)', () => {
  it('equality queries equal a scan after any run of writes (single keys)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 50, maxLength: 600 }), (ops) => run(ops, false)),
      { numRuns: 60 },
    );
  });

  it('equality queries equal a scan after any run of writes (composite keys)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 50, maxLength: 600 }), (ops) => run(ops, true)),
      { numRuns: 40 },
    );
  });

  it('many updates without queries keep the index exact; re-inserted keys come last', () => {
    const ops: Op[] = [];
    for (let id = 0; id < 60; id++) ops.push({ t: 'insert', id, g: 'a' });
    for (let round = 0; round < 5; round++)
      for (let id = 0; id < 60; id++) ops.push({ t: 'update', id, n: round });
    for (let id = 0; id < 60; id += 3) ops.push({ t: 'delete', id });
    for (let id = 0; id < 60; id += 6) ops.push({ t: 'insert', id, g: 'a' });
    for (let id = 1; id < 60; id += 4) ops.push({ t: 'move', id, g: 'b' });
    for (let id = 1; id < 60; id += 8) ops.push({ t: 'move', id, g: 'a' });
    run(ops, false);
    run(ops, true);
  });
});
