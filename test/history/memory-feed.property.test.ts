// The in-memory change feed keeps its rows as fields in a ring that grows,
// wraps around and shrinks again (history/memory-log.ts). Property: through
// random runs of appends (one at a time and in bursts past the ring's size),
// prunes, seq shifts and reads, every read returns exactly what a plain
// array of row objects, trimmed from the front, returns.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/history/index.js';
import type { FeedRow } from '../../src/history/types.js';

type Op =
  | { t: 'add'; n: number; actor: boolean }
  | { t: 'prune'; keep: number }
  | { t: 'shift'; by: number }
  | { t: 'read'; since: number; limit: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('add' as const),
      n: fc.integer({ min: 1, max: 3 }),
      actor: fc.boolean(),
    }),
  },
  // Bursts larger than the ring's first size (64 rows) make it grow while rows wrap.
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('add' as const),
      n: fc.integer({ min: 50, max: 400 }),
      actor: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('prune' as const), keep: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('shift' as const), by: fc.integer({ min: 0, max: 50 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('read' as const),
      since: fc.integer({ min: -5, max: 2000 }),
      limit: fc.integer({ min: 0, max: 300 }),
    }),
  },
);

describe('in-memory change feed ring', () => {
  it('reads as an array of rows trimmed from the front', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const log = new MemoryLog();
        let model: FeedRow[] = [];
        let seq = 0;
        for (const op of ops) {
          switch (op.t) {
            case 'add':
              for (let i = 0; i < op.n; i++) {
                // Gaps in seq, as changes of buckets whose feed storage keeps leave them.
                seq += 1 + (seq % 3 === 0 ? 1 : 0);
                const row: FeedRow = {
                  seq,
                  bucket: `b${seq % 4}`,
                  key: seq % 5 === 0 ? [seq, 'k'] : `k${seq}`,
                  op: (['insert', 'update', 'delete'] as const)[seq % 3]!,
                  version: (seq % 7) + 1,
                  at: 1_700_000_000_000 + seq,
                  actor: op.actor ? `a${seq % 2}` : null,
                };
                if (i % 2 === 0) log.addFeed(row);
                else log.addFeedRow(row.seq, row.bucket, row.key, row.op, row.version, row.at, row.actor);
                model.push(row);
              }
              break;
            case 'prune': {
              const upTo = seq - op.keep;
              log.pruneFeed(upTo);
              model = model.filter((r) => r.seq > upTo);
              break;
            }
            case 'shift':
              log.shift(op.by);
              model = model.map((r) => ({ ...r, seq: r.seq + op.by }));
              seq += op.by;
              break;
            case 'read':
              expect(log.readChanges(op.since, op.limit)).toEqual(
                model.filter((r) => r.seq > op.since).slice(0, op.limit),
              );
              break;
          }
          expect(log.feedRows()).toEqual(model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
