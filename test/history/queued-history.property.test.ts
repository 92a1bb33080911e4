// Queued history versions are kept column by column (persistence/queued-history.ts)
// and grouped and packed into quire_history rows by SQLite's writer
// (log-rows.ts historyRows). Property: through random runs of versions of
// records of several buckets (number and string keys, 1 and "1" apart,
// deletes, actors with quotes and non-ASCII text, records of any JSON, more
// versions of a record than one packed row holds), dropped buckets, dropped
// seqs, renumbering, queues appended to each other and `maxVersions`
// retention, the rows are exactly those a plain array of HistoryWrite rows
// gives when grouped the straightforward way (per bucket its rows of one
// version, then its packed rows; records in the order of their first
// version), whether the columns are read where they were built or after a
// copy to another thread; packed rows unpack to their versions; and the
// queue's rows and a record's versions read back as the array.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeKey } from '../../src/persistence/codec.js';
import { HISTORY_VERSIONS_PER_ROW, historyRows, unpackHistory } from '../../src/persistence/log-rows.js';
import { QueuedHistory } from '../../src/persistence/queued-history.js';
import type { HistoryWrite } from '../../src/persistence/types.js';
import { docDef, kinds, summary } from './helpers.js';

type KeyId = string | number;

type Step =
  | {
      t: 'version';
      bucket: number;
      key: KeyId;
      op: HistoryWrite['op'];
      at: number;
      actor: number;
      data: unknown;
    }
  | { t: 'burst'; bucket: number; key: KeyId; n: number }
  | { t: 'dropBucket'; bucket: number }
  | { t: 'dropSeqs'; every: number }
  | { t: 'shift'; by: number }
  | { t: 'append' }
  | { t: 'read' };

const BUCKETS = ['a', 'b"q', 'ünï'];
const ACTORS = [null, 'bench', 'x"y\\z', 'é€😀'];
const keyArb = fc.oneof(fc.integer({ min: -3, max: 5 }), fc.constantFrom('1', '2', 'k', 'q"uote', 'ü', ''));

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant('version' as const),
      bucket: fc.integer({ min: 0, max: BUCKETS.length - 1 }),
      key: keyArb,
      op: fc.constantFrom('insert', 'update', 'delete') as fc.Arbitrary<HistoryWrite['op']>,
      // Any time but -0: commit times come from Date.now(), and a packed row's text (JSON) writes -0 as 0.
      at: fc.oneof(
        fc.integer({ min: 0, max: 5 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
      ),
      actor: fc.integer({ min: 0, max: ACTORS.length - 1 }),
      data: fc.jsonValue(),
    }),
  },
  // Past one packed row's versions.
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('burst' as const),
      bucket: fc.integer({ min: 0, max: BUCKETS.length - 1 }),
      key: keyArb,
      n: fc.integer({ min: 1, max: HISTORY_VERSIONS_PER_ROW + 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('dropBucket' as const), bucket: fc.integer({ min: 0, max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('dropSeqs' as const), every: fc.integer({ min: 2, max: 5 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('shift' as const), by: fc.integer({ min: 1, max: 1000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('append' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('read' as const) }) },
);

/** What a unit writes, as one list of rows in write order: the straightforward way. */
function expectedRows(history: readonly HistoryWrite[], maxVersions: Map<string, number>): unknown[][] {
  const byBucket = new Map<string, Map<string, HistoryWrite[]>>();
  for (const h of history) {
    let byKey = byBucket.get(h.bucket);
    if (byKey === undefined) byBucket.set(h.bucket, (byKey = new Map()));
    byKey.set(h.key, [...(byKey.get(h.key) ?? []), h]);
  }
  const rows: unknown[][] = [];
  for (const [bucket, byKey] of byBucket) {
    const keep = maxVersions.get(bucket);
    const kept = [...byKey.values()].map((all) => (keep === undefined ? all : all.slice(-keep)));
    for (const v of kept)
      if (v.length === 1)
        rows.push([bucket, v[0]!.key, v[0]!.seq, v[0]!.version, v[0]!.op, v[0]!.at, v[0]!.actor, v[0]!.data]);
    for (const all of kept) {
      if (all.length === 1) continue;
      for (let i = 0; i < all.length; i += HISTORY_VERSIONS_PER_ROW) {
        const v = all.slice(i, i + HISTORY_VERSIONS_PER_ROW);
        const last = v[v.length - 1]!;
        rows.push([
          bucket,
          last.key,
          last.seq,
          last.version,
          last.op,
          last.at,
          last.actor,
          v.map((x) => x.data ?? '').join(''),
          JSON.stringify(
            v.map((x) => [x.seq, x.version, x.op, x.at, x.actor, x.data === null ? -1 : x.data.length]),
          ),
          v[0]!.at,
          v.length,
        ]);
      }
    }
  }
  return rows;
}

function builtRows(q: QueuedHistory, maxVersions: Map<string, number>, copied: boolean): unknown[][] {
  const rows: unknown[][] = [];
  const retention = [...maxVersions].map(([bucket, n]) => ({ bucket, maxVersions: n }));
  const columns = copied ? structuredClone(q.columns()) : q.columns();
  const written = historyRows(columns, retention, (...row) => {
    rows.push(row[8] === undefined ? row.slice(0, 8) : row);
  });
  // The keys written per bucket are those of its rows (what maxVersions retention prunes).
  for (const { bucket, keys } of written)
    expect(new Set(keys)).toEqual(new Set(rows.filter((r) => r[0] === bucket).map((r) => r[1])));
  return rows;
}

describe('queued history columns → quire_history rows', () => {
  it('are the rows of the same versions grouped the plain way, through drops, shifts, appends and retention', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 60 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 4 })), { maxLength: 2 }),
        (steps, limits) => {
          let q = new QueuedHistory();
          let newer: QueuedHistory | undefined;
          let plain: HistoryWrite[] = [];
          let plainNewer: HistoryWrite[] = [];
          // Engine key values of the queued rows (versionsOf takes them).
          const keyIds = new Map<string, KeyId>();
          let seq = 0;
          let version = 0;
          const add = (
            bucket: string,
            key: KeyId,
            op: HistoryWrite['op'],
            at: number,
            actor: string | null,
            data: string | null,
          ) => {
            const row: HistoryWrite = {
              bucket,
              key: encodeKey(key),
              seq: ++seq,
              version: ++version,
              op,
              at,
              actor,
              data,
            };
            keyIds.set(`${bucket}\0${row.key}`, key);
            if (newer !== undefined) {
              newer.push(bucket, key, row.seq, row.version, op, at, actor, data);
              plainNewer.push(row);
            } else {
              q.push(bucket, key, row.seq, row.version, op, at, actor, data);
              plain.push(row);
            }
          };
          // Each record's queued versions read back as the plain rows (reads between writes and drops too).
          const readAll = () => {
            for (const [k, key] of keyIds) {
              const [bucket, text] = k.split('\0') as [string, string];
              expect(q.versionsOf(bucket, key)).toEqual(
                plain.filter((h) => h.bucket === bucket && h.key === text),
              );
            }
          };
          for (const s of steps) {
            if (s.t === 'read') readAll();
            else if (s.t === 'version')
              add(
                BUCKETS[s.bucket]!,
                s.key,
                s.op,
                s.at,
                ACTORS[s.actor]!,
                s.op === 'delete' ? null : JSON.stringify(s.data),
              );
            else if (s.t === 'burst')
              for (let i = 0; i < s.n; i++)
                add(
                  BUCKETS[s.bucket]!,
                  s.key,
                  'update',
                  1_700_000_000_000 + i,
                  ACTORS[i % ACTORS.length]!,
                  `{"n":${i}}`,
                );
            else if (s.t === 'dropBucket') {
              q.dropBucket(BUCKETS[s.bucket]!);
              plain = plain.filter((h) => h.bucket !== BUCKETS[s.bucket]);
            } else if (s.t === 'dropSeqs') {
              const seqs = new Set(plain.filter((h) => h.seq % s.every === 0).map((h) => h.seq));
              q.drop(seqs);
              plain = plain.filter((h) => !seqs.has(h.seq));
            } else if (s.t === 'shift') {
              q.shift(s.by);
              plain = plain.map((h) => ({ ...h, seq: h.seq + s.by }));
              seq += s.by;
            } else if (newer === undefined) newer = new QueuedHistory();
            else {
              // A failed flush's versions go back in front of those queued meanwhile.
              q = q.append(newer);
              plain = [...plain, ...plainNewer];
              newer = undefined;
              plainNewer = [];
            }
          }
          const maxVersions = new Map(limits.map(([b, n]) => [BUCKETS[b]!, n]));
          const expected = expectedRows(plain, maxVersions);
          expect(builtRows(q, maxVersions, false)).toEqual(expected);
          expect(builtRows(q, maxVersions, true)).toEqual(expected);
          // Rows given to adapters as HistoryWrite go the same way.
          expect(builtRows(QueuedHistory.of(plain), maxVersions, true)).toEqual(expected);
          expect(q.length).toBe(plain.length);
          expect(q.rows()).toEqual(plain);
          readAll();
          expect(q.buckets()).toEqual([...new Set(plain.map((h) => h.bucket))]);
          // Packed rows read back as their versions (a record's rows in order, oldest versions first).
          const consumed = new Map<string, number>();
          for (const r of builtRows(q, new Map(), true)) {
            const [bucket, key] = r as [string, string];
            const all = plain.filter((h) => h.bucket === bucket && h.key === key);
            if (r.length === 8) {
              expect(all).toHaveLength(1);
              continue;
            }
            const [, , rowSeq, rowVersion, op, at, actor, data, packed] = r as [
              string,
              string,
              number,
              number,
              HistoryWrite['op'],
              number,
              string | null,
              string,
              string,
            ];
            const from = consumed.get(`${bucket}\0${key}`) ?? 0;
            const versions = unpackHistory('f.db', bucket, {
              key,
              seq: rowSeq,
              version: rowVersion,
              op,
              at,
              actor,
              data,
              packed,
            });
            expect(versions).toEqual(all.slice(from, from + HISTORY_VERSIONS_PER_ROW));
            consumed.set(`${bucket}\0${key}`, from + versions.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a version that cannot be encoded', () => {
  for (const k of kinds().filter((x) => x.durable)) {
    it(`${k.kind}: is left out of the queued history (reads go on), reported with its record, the others stored`, async () => {
      const open = k.fresh();
      const errors: Error[] = [];
      const s = await open({
        persistence: { durability: 'debounced', debounceMs: 60_000, onError: (e: Error) => errors.push(e) },
      } as never);
      const docs = await s.defineBucket('docs', {
        ...docDef,
        schema: { ...docDef.schema, meta: { type: 'object' } },
      });
      const victim = await docs.insert({ id: 'v', title: 't1', meta: { ok: true } });
      await s.flush();
      // Records are shared with callers; one changes it in place (against the rules), then writes again.
      (victim.meta as Record<string, unknown>).big = 10n;
      await docs.update('v', { title: 't2' }, { actor: 'poison' });
      await docs.insert({ id: 'w', title: 'fine' });
      await docs.update('w', { title: 'fine2' });
      // Queued, not stored yet: the unencodable version is not there, the others are.
      expect(summary(await docs.history('v'))).toEqual(['1:insert:-']);
      expect(summary(await docs.history('w'))).toEqual(['2:update:-', '1:insert:-']);
      await s.flush();
      expect(errors.map((e) => e.message).join('\n')).toMatch(
        /Record "v" of bucket "docs" cannot be encoded/,
      );
      await expect(s.stop()).rejects.toThrow(/could not be stored/);
      const again = await open();
      const d2 = await again.defineBucket('docs', {
        ...docDef,
        schema: { ...docDef.schema, meta: { type: 'object' } },
      });
      expect(summary(await d2.history('v'))).toEqual(['1:insert:-']);
      expect((await d2.history('w')).map((e) => e.record?.title)).toEqual(['fine2', 'fine']);
      await again.stop();
    });
  }
});
