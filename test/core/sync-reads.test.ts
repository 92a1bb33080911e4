// The synchronous read path (peek, peekWhere, peekOne, peekCount): the same
// answers as the async reads, committed state only, a typed error while the
// bucket is still loading.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BucketLoadingError,
  BucketNotDefinedError,
  InvalidArgumentError,
  InvalidFilterError,
  QuireError,
  SQLiteAdapter,
  Store,
  StoreStoppedError,
} from '../../src/index.js';

const definition = {
  key: 'id',
  schema: {
    id: { type: 'number', required: true },
    name: { type: 'string', required: true },
    city: { type: 'string' },
    age: { type: 'number' },
  },
  indexes: ['city', { fields: ['city', 'age'], sorted: true }],
} as const;

const people = [
  { id: 3, name: 'Carol', city: 'Brno', age: 35 },
  { id: 1, name: 'Alice', city: 'Praha', age: 30 },
  { id: 2, name: 'Bob', city: 'Praha', age: 25 },
  { id: 5, name: 'Eve', city: 'Ostrava', age: 41 },
  { id: 4, name: 'Dave', city: 'Brno', age: 35 },
  { id: 6, name: 'Fay', city: 'Brno', age: 20 },
];

let store: Store;
beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
});
afterEach(async () => {
  await store.stop();
});

async function filled() {
  const b = await store.defineBucket('people', definition);
  for (const p of people) await b.insert(p);
  return b;
}

describe('peek and friends answer as the async reads do', () => {
  it('peek(key) is get(key) without a promise', async () => {
    const b = await filled();
    const got = b.peek(4);
    expect(got).not.toBeInstanceOf(Promise);
    expect(got).toBe(await b.get(4));
    expect(got).toMatchObject({ id: 4, name: 'Dave', _version: 1 });
    expect(b.peek(99)).toBeUndefined();
  });

  it('peekWhere, peekOne and peekCount match where, findOne and count (index-served and scanned)', async () => {
    const b = await filled();
    const filters = [
      {},
      { city: 'Brno' },
      { city: 'Brno', age: 35 },
      { age: { $gte: 30 } },
      { city: { $in: ['Praha', 'Ostrava'] } },
      { name: { $startsWith: 'X' } },
    ];
    for (const f of filters) {
      expect(b.peekWhere(f)).toEqual(await b.where(f));
      expect(b.peekOne(f)).toBe(await b.findOne(f));
      expect(b.peekCount(f)).toBe(await b.count(f));
    }
    expect(b.peekCount()).toBe(people.length);
    const options = { sort: { age: 'desc' as const }, limit: 2, offset: 1 };
    expect(b.peekWhere({ city: 'Brno' }, options)).toEqual(await b.where({ city: 'Brno' }, options));
    expect(b.peekWhere({ city: 'Brno' }, { sort: { age: 'asc' }, limit: 2 }).map((r) => r.id)).toEqual([
      6, 3,
    ]);
  });

  it('sees each committed write at once', async () => {
    const b = await filled();
    await b.update(1, { age: 31 });
    expect(b.peek(1)?.age).toBe(31);
    await b.delete(2);
    expect(b.peek(2)).toBeUndefined();
    expect(b.peekWhere({ city: 'Praha' }).map((r) => r.id)).toEqual([1]);
  });
});

describe('committed state only', () => {
  it("a transaction's writes are invisible to peek until it commits", async () => {
    const b = await filled();
    let seenInside: unknown[] = [];
    await store.transaction(async (tx) => {
      const t = await tx.bucket('people');
      await t.update(1, { name: 'Alicia' });
      await t.insert({ id: 7, name: 'Gus', city: 'Praha', age: 50 });
      await t.delete(2);
      seenInside = [
        b.peek(1)?.name,
        b.peek(7),
        b.peek(2)?.name,
        b.peekWhere({ city: 'Praha' }).map((r) => r.id),
        b.peekCount(),
      ];
    });
    expect(seenInside).toEqual(['Alice', undefined, 'Bob', [1, 2], 6]);
    expect(b.peek(1)?.name).toBe('Alicia');
    expect(b.peek(7)?.name).toBe('Gus');
    expect(b.peek(2)).toBeUndefined();
  });
});

describe('errors', () => {
  it('bad keys and filters are typed errors, as in the async reads', async () => {
    const b = await filled();
    expect(() => b.peek({ no: 1 })).toThrow(InvalidArgumentError);
    expect(() => b.peekWhere(null as never)).toThrow(InvalidArgumentError);
    expect(() => b.peekWhere({ age: { $gtx: 1 } } as never)).toThrow(InvalidFilterError);
    expect(() => b.peekWhere({}, { limit: -1 })).toThrow(InvalidArgumentError);
    expect(() => b.peekOne({ $nor: [] } as never)).toThrow(InvalidFilterError);
    expect(() => b.peekCount(5 as never)).toThrow(InvalidArgumentError);
  });

  it('a dropped bucket and a stopped store throw as the async reads reject', async () => {
    const b = await filled();
    await store.dropBucket('people');
    expect(() => b.peek(1)).toThrow(BucketNotDefinedError);
    const again = await store.defineBucket('people', definition);
    expect(b.peek(1)).toBeUndefined();
    await again.insert({ id: 1, name: 'New' });
    expect(b.peek(1)?.name).toBe('New');
    await store.stop();
    expect(() => b.peek(1)).toThrow(StoreStoppedError);
  });

  it('while stored records load: BucketLoadingError (code BUCKET_LOADING); afterwards the records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quire-peek-'));
    try {
      const path = join(dir, 'store.db');
      const first = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(path) } });
      const b = await first.defineBucket('people', definition);
      for (const p of people) await b.insert(p);
      await first.stop();

      const second = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(path) } });
      try {
        const defining = second.defineBucket('people', definition);
        const early = second.bucket('people');
        let error: unknown;
        try {
          early.peek(1);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(BucketLoadingError);
        expect(error).toBeInstanceOf(QuireError);
        expect((error as BucketLoadingError).code).toBe('BUCKET_LOADING');
        expect((error as BucketLoadingError).bucket).toBe('people');
        expect(() => early.peekWhere({})).toThrow(BucketLoadingError);
        expect(() => early.peekOne({ id: 1 })).toThrow(BucketLoadingError);
        expect(() => early.peekCount()).toThrow(BucketLoadingError);
        // The async read waits for the load instead.
        expect((await early.get(1))?.name).toBe('Alice');
        const loaded = await defining;
        expect(loaded.peek(1)?.name).toBe('Alice');
        expect(early.peekCount()).toBe(people.length);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
