// A single insert or update without options, in a bucket without
// references, maxSize or autoincrement fields, skips the WriteSet
// (StoreCore.insertLone / updateLone). Passing options (`{}`) takes the
// WriteSet path, as every write did before. Property: the same random
// sequence of inserts, updates and deletes, valid and invalid, run through
// both paths on two stores persisted to SQLite, yields the same results,
// the same errors (class, code, message, issues), the same records,
// events, change feed and history, and after a restart from the SQLite
// files the same stored records, history and feed.
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { tempDir } from '../persistence/helpers.js';

const ROLES = ['admin', 'editor', 'viewer'] as const;

const users = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    email: { type: 'string', required: true, format: 'email', unique: true },
    role: { type: 'string', required: true, enum: [...ROLES] },
    age: { type: 'number', min: 0, max: 150 },
    tags: { type: 'array' },
    nick: { type: 'string', default: 'anon' },
  },
  indexes: ['role'],
} as const;

// A generated value, a TTL and history: the lone path fills in and records them as the WriteSet does.
const notes = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    text: { type: 'string', required: true, maxLength: 8 },
    at: { type: 'number', generated: 'timestamp' },
  },
  ttl: '1h',
  history: true,
} as const;

type Op =
  | { t: 'insert'; bucket: 'users' | 'notes'; data: unknown }
  | { t: 'update'; bucket: 'users' | 'notes'; key: unknown; changes: unknown }
  | { t: 'delete'; bucket: 'users' | 'notes'; key: unknown };

const idArb = fc.constantFrom('a', 'b', 'c', 'd');
/** Values that break a rule or cannot be stored, one of which may replace a valid field. */
const badUser: Record<string, readonly unknown[]> = {
  id: [7.5, null, ['a']],
  email: ['not-an-email', 42],
  role: ['root'],
  age: [151, -1, Number.NaN, '30'],
  tags: ['tag', [1, undefined], [() => 1]],
  extra: [Number.POSITIVE_INFINITY, { deep: () => 1 }],
};
const userArb = fc
  .tuple(
    fc.record(
      {
        id: idArb,
        email: fc.constantFrom('a@x.io', 'b@x.io', 'c@x.io'),
        role: fc.constantFrom(...ROLES),
        age: fc.constantFrom(0, 30, 150),
        tags: fc.constantFrom(['t'], []),
        nick: fc.constantFrom('n', null),
        extra: fc.constantFrom(1, { deep: true }),
        _version: fc.constant(99),
      },
      { requiredKeys: ['id', 'email', 'role'] },
    ),
    fc.option(fc.constantFrom(...Object.keys(badUser)), { freq: 2 }),
    fc.nat(3),
  )
  .map(([record, bad, pick]) => {
    if (bad === null) return record as Record<string, unknown>;
    const values = badUser[bad]!;
    return { ...record, [bad]: values[pick % values.length] };
  });
/** Update changes: a few fields of a user, sometimes one bad. */
const changesArb = userArb.chain((u) =>
  fc.subarray(Object.keys(u), { minLength: 1 }).map((keys) => Object.fromEntries(keys.map((k) => [k, u[k]]))),
);
const noteArb = fc.record(
  { id: idArb, text: fc.constantFrom('hi', 'a longer text', ''), at: fc.constant(5) },
  { requiredKeys: ['id'] },
);
const inputArb = (record: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof({ weight: 9, arbitrary: record }, { weight: 1, arbitrary: fc.constantFrom(null, [1], 'x') });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('insert' as const),
      bucket: fc.constant('users' as const),
      data: inputArb(userArb),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('update' as const),
      bucket: fc.constant('users' as const),
      key: fc.oneof(idArb, fc.constantFrom(null, {})),
      changes: inputArb(changesArb),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('delete' as const),
      bucket: fc.constant('users' as const),
      key: idArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('insert' as const),
      bucket: fc.constant('notes' as const),
      data: inputArb(noteArb),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('update' as const),
      bucket: fc.constant('notes' as const),
      key: idArb,
      changes: inputArb(noteArb),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('delete' as const),
      bucket: fc.constant('notes' as const),
      key: idArb,
    }),
  },
);

/** What a call did: its result, or its error as users see it. */
function outcome(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    (value) => ({ value }),
    (e: Error) => ({ error: { ...e, class: e.constructor.name, text: e.message } }),
  );
}

async function open(file: string) {
  const store = await Store.start({
    name: 'lone',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(file), debounceMs: 5 },
  });
  await store.defineBucket('users', users);
  await store.defineBucket('notes', notes);
  const events: unknown[] = [];
  await store.on('bucket.*.*', (event, topic) => {
    events.push({ topic, event });
  });
  return { store, events };
}

/** Everything a store shows of its data: records in bucket order, history, the change feed. */
async function snapshot(store: Store) {
  const out: Record<string, unknown> = {};
  for (const name of ['users', 'notes']) {
    const b = store.bucket(name);
    const records = await b.all();
    out[name] = records;
    if (name === 'notes') {
      const history: Record<string, unknown> = {};
      for (const id of ['a', 'b', 'c', 'd', ...records.map((r) => r.id as string)])
        history[id] = await b.history(id);
      out.history = history;
    }
  }
  out.changes = await store.changes();
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('lone writes', () => {
  it('behave as the same writes through the WriteSet', async () => {
    // One clock for both stores: each operation runs on both at the same time.
    let now = 1_700_000_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const dir = tempDir('quire-lone-');
        const files = [path.join(dir, 'lone.db'), path.join(dir, 'writeset.db')];
        const [lone, viaSet] = [await open(files[0]!), await open(files[1]!)];
        // Without options a write may take the lone path; `{}` keeps it on the WriteSet.
        const run = (s: Store, op: Op, options: undefined | object) => {
          const b = s.bucket(op.bucket);
          if (op.t === 'insert') return outcome(() => b.insert(op.data as never, options));
          if (op.t === 'update') return outcome(() => b.update(op.key, op.changes as never, options));
          return outcome(() => b.delete(op.key, options));
        };
        try {
          for (const op of ops) {
            now += 1_000;
            const a = await run(lone.store, op, undefined);
            const b = await run(viaSet.store, op, {});
            expect(a).toEqual(b);
          }
          await lone.store.settle();
          await viaSet.store.settle();
          expect(lone.events).toEqual(viaSet.events);
          expect(await snapshot(lone.store)).toEqual(await snapshot(viaSet.store));
        } finally {
          await lone.store.stop();
          await viaSet.store.stop();
        }
        // What reached the SQLite files.
        const [r1, r2] = [await open(files[0]!), await open(files[1]!)];
        try {
          expect(await snapshot(r1.store)).toEqual(await snapshot(r2.store));
        } finally {
          await r1.store.stop();
          await r2.store.stop();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
