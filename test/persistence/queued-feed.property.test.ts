// The change feed's queued rows (persistence/retention.ts QueuedFeed) are a
// ring that keeps the newest `limit` rows. Property: through random runs of
// pushes (several buckets, ops, actors, number and string keys, batches past
// the limit before the limit is known), limit changes, renumbering, dropped
// seqs and queues appended to each other (a failed flush put back), the rows
// it gives for any `since` are exactly those a plain list gives that keeps
// every row and cuts by seq (`seq > current - limit`, the feed's promise),
// plus at most the rows the ring still holds below that cut; and it never
// holds more than the limit once told it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QueuedFeed } from '../../src/persistence/retention.js';
import type { FeedWrite } from '../../src/persistence/types.js';

type Step =
  | { t: 'push'; n: number; bucket: string; key: number | string; op: FeedWrite['op']; actor: string | null }
  | { t: 'limit'; limit: number }
  | { t: 'shift'; by: number }
  | { t: 'drop'; every: number }
  | { t: 'append'; n: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('push' as const),
      n: fc.integer({ min: 1, max: 80 }),
      bucket: fc.constantFrom('a', 'b"q', 'ünï'),
      key: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom('1', 'x', 'é"')),
      op: fc.constantFrom<FeedWrite['op']>('insert', 'update', 'delete'),
      actor: fc.constantFrom<string | null>(null, 'ann', 'bob "b"'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('limit' as const), limit: fc.integer({ min: 1, max: 60 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('shift' as const), by: fc.integer({ min: 1, max: 5 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('drop' as const), every: fc.integer({ min: 2, max: 5 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 0, max: 40 }) }),
  },
);

describe('QueuedFeed', () => {
  it('gives the promised rows of a plain list, and holds at most the limit', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const q = new QueuedFeed();
        let all: FeedWrite[] = [];
        let seq = 0;
        let limit: number | undefined;
        // The smallest limit told so far: rows dropped under it stay dropped if it grows.
        let least = Number.POSITIVE_INFINITY;
        const row = (s: Extract<Step, { t: 'push' }>, i: number): FeedWrite => ({
          seq: ++seq,
          bucket: s.bucket,
          key: JSON.stringify(typeof s.key === 'number' ? s.key + i : s.key),
          op: s.op,
          version: i + 1,
          at: 1_700_000_000_000 + seq * 3,
          actor: s.actor,
        });
        const pushTo = (feed: QueuedFeed, r: FeedWrite) =>
          feed.push(r.seq, r.bucket, JSON.parse(r.key), r.op, r.version, r.at, r.actor);
        for (const s of steps) {
          if (s.t === 'push') {
            for (let i = 0; i < s.n; i++) {
              const r = row(s, i);
              all.push(r);
              pushTo(q, r);
            }
            if (limit !== undefined) q.limitTo(limit);
          } else if (s.t === 'limit') {
            limit = s.limit;
            least = Math.min(least, limit);
            q.limitTo(limit);
          } else if (s.t === 'shift') {
            q.shift(s.by);
            seq += s.by;
            all = all.map((r) => ({ ...r, seq: r.seq + s.by }));
          } else if (s.t === 'drop') {
            const drop = new Set(all.filter((r) => r.seq % s.every === 0).map((r) => r.seq));
            q.drop(drop);
            all = all.filter((r) => !drop.has(r.seq));
          } else {
            // A failed flush's rows (q) go back in front of rows queued meanwhile.
            const newer = new QueuedFeed();
            if (limit !== undefined) newer.limitTo(limit);
            for (let i = 0; i < s.n; i++) {
              const r = row({ t: 'push', n: 1, bucket: 'a', key: i, op: 'update', actor: 'ann' }, i);
              all.push(r);
              pushTo(newer, r);
            }
            expect(q.append(newer)).toBe(q);
          }
          if (limit !== undefined) expect(q.length).toBeLessThanOrEqual(limit);
          const got = q.rows();
          // Oldest first, and a run of the plain list's newest rows.
          expect(got).toEqual(all.slice(all.length - got.length));
          const promised = all.filter((r) => r.seq > seq - least);
          expect(got.length).toBeGreaterThanOrEqual(promised.length);
          for (const since of [0, seq - 7, seq - (limit ?? 0), seq])
            expect(q.rows(since)).toEqual(got.filter((r) => r.seq > since));
        }
      }),
      { numRuns: 300 },
    );
  });
});
