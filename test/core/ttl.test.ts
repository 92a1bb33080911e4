import { afterEach, describe, expect, it } from 'vitest';
import type { BucketEvent } from '../../src/index.js';
import { DefinitionError, Store } from '../../src/index.js';

const stores: Store[] = [];

async function start(ttlCheckIntervalMs = 0): Promise<Store> {
  const s = await Store.start({ ttlCheckIntervalMs });
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
});

/** Poll until `check` holds or the deadline passes; returns the final value of `check`. */
async function eventually(check: () => Promise<boolean> | boolean, deadlineMs = 5_000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

/** Wait until the clock has moved past `t` (so consecutive inserts get distinct `_createdAt`). */
async function tickPast(t: number): Promise<void> {
  while (Date.now() <= t) await new Promise((r) => setTimeout(r, 1));
}

const schema = { id: { type: 'string' as const, required: true }, v: { type: 'number' as const } };

describe('TTL (C-12)', () => {
  it('sets _expiresAt = _createdAt + ttl on insert, unless given', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, ttl: 60_000 });
    const r = await b.insert({ id: 'a' });
    expect(r._expiresAt).toBe(r._createdAt + 60_000);
    const given = Date.now() + 5;
    const r2 = await b.insert({ id: 'b', _expiresAt: given } as never);
    expect(r2._expiresAt).toBe(given);
    // update keeps _expiresAt
    const u = await b.update('a', { v: 1 });
    expect(u._expiresAt).toBe(r._expiresAt);
  });

  it('records of a bucket without ttl have no _expiresAt', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema });
    expect('_expiresAt' in (await b.insert({ id: 'a' }))).toBe(false);
  });

  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['250ms', 250],
    [1234, 1234],
  ])('parses ttl %s', async (ttl, ms) => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, ttl });
    const r = await b.insert({ id: 'a' });
    expect(r._expiresAt! - r._createdAt).toBe(ms);
  });

  it.each([[-1], [0], ['abc'], ['10x'], ['-5s'], [Number.NaN], [Number.POSITIVE_INFINITY]])(
    'rejects ttl %s',
    async (ttl) => {
      const store = await start();
      await expect(store.defineBucket('s', { key: 'id', schema, ttl })).rejects.toBeInstanceOf(
        DefinitionError,
      );
      expect(store.hasBucket('s')).toBe(false);
    },
  );

  it('purgeTtl removes expired records, returns the count and emits deleted', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, ttl: '1h' });
    const other = await store.defineBucket('t', { key: 'id', schema, ttl: '1h' });
    const past = Date.now() - 1;
    await b.insert({ id: 'old1', _expiresAt: past } as never);
    await b.insert({ id: 'old2', _expiresAt: past } as never);
    await b.insert({ id: 'fresh' });
    await other.insert({ id: 'old3', _expiresAt: past } as never);
    const events: BucketEvent[] = [];
    await store.on('bucket.*.deleted', (e: BucketEvent) => {
      events.push(e);
    });
    expect(await store.purgeTtl()).toBe(3);
    await store.settle();
    expect((await b.all()).map((r) => r.id)).toEqual(['fresh']);
    expect(await other.count()).toBe(0);
    expect(events.map((e) => `${e.bucket}:${String(e.key)}`).sort()).toEqual(['s:old1', 's:old2', 't:old3']);
    expect(events[0]).toMatchObject({ type: 'deleted', record: { _expiresAt: past } });
    expect(await store.purgeTtl()).toBe(0);
  });

  it('purge keeps indexes consistent', async () => {
    const store = await start();
    const b = await store.defineBucket('s', {
      key: 'id',
      schema: { ...schema, tag: { type: 'string', unique: true } },
      indexes: ['v'],
      ttl: '1h',
    });
    await b.insert({ id: 'x', v: 1, tag: 't', _expiresAt: Date.now() - 1 } as never);
    await b.insert({ id: 'y', v: 1 });
    expect(await store.purgeTtl()).toBe(1);
    expect((await b.where({ v: 1 })).map((r) => r.id)).toEqual(['y']);
    await b.insert({ id: 'z', tag: 't' }); // unique value released
  });

  it('a record restricted by a reference is not purged (and does not block other purges)', async () => {
    const store = await start();
    const sessions = await store.defineBucket('sessions', { key: 'id', schema, ttl: '1h' });
    const logs = await store.defineBucket('logs', {
      key: 'id',
      schema: { id: { type: 'string' }, sessionId: { type: 'string', ref: 'sessions' } },
    });
    const past = Date.now() - 1;
    await sessions.insert({ id: 'held', _expiresAt: past } as never);
    await sessions.insert({ id: 'free', _expiresAt: past } as never);
    await logs.insert({ id: 'l', sessionId: 'held' });
    expect(await store.purgeTtl()).toBe(1);
    expect((await sessions.all()).map((r) => r.id)).toEqual(['held']);
  });

  it('purging applies referential actions (cascade) with events', async () => {
    const store = await start();
    const sessions = await store.defineBucket('sessions', { key: 'id', schema, ttl: '1h' });
    const logs = await store.defineBucket('logs', {
      key: 'id',
      schema: { id: { type: 'string' }, sessionId: { type: 'string', ref: 'sessions', onDelete: 'cascade' } },
    });
    await sessions.insert({ id: 's', _expiresAt: Date.now() - 1 } as never);
    await logs.insertMany([
      { id: 'l1', sessionId: 's' },
      { id: 'l2', sessionId: 's' },
    ]);
    const deleted: string[] = [];
    await store.on('bucket.*.deleted', (e: BucketEvent) => {
      deleted.push(`${e.bucket}:${String(e.key)}`);
    });
    expect(await store.purgeTtl()).toBe(1);
    await store.settle();
    expect(await logs.count()).toBe(0);
    expect(deleted.sort()).toEqual(['logs:l1', 'logs:l2', 'sessions:s']);
  });

  it('a purge re-runs reactive queries', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, ttl: '1h' });
    await b.insert({ id: 'x', _expiresAt: Date.now() - 1 } as never);
    await b.insert({ id: 'y' });
    store.defineQuery('n', async (ctx) => ctx.bucket('s').count());
    const results: unknown[] = [];
    await store.subscribe('n', (r) => results.push(r));
    await store.purgeTtl();
    await store.settle();
    expect(results).toEqual([1]);
  });

  it('the periodic timer purges expired records', async () => {
    const store = await start(10);
    const b = await store.defineBucket('s', { key: 'id', schema, ttl: 1 });
    const deleted: unknown[] = [];
    await store.on('bucket.s.deleted', (e: BucketEvent) => {
      deleted.push(e.key);
    });
    await b.insertMany([{ id: 'a' }, { id: 'b' }]);
    expect(await eventually(async () => (await b.count()) === 0)).toBe(true);
    await store.settle();
    expect(deleted.sort()).toEqual(['a', 'b']);
    const stats = await store.getStats();
    expect(stats.ttl).toEqual({ enabled: true, checkIntervalMs: 10 });
  });

  it('ttlCheckIntervalMs: 0 disables the timer; purgeTtl still works', async () => {
    const store = await start(0);
    expect((await store.getStats()).ttl).toEqual({ enabled: false, checkIntervalMs: 0 });
    const b = await store.defineBucket('s', { key: 'id', schema, ttl: 1 });
    const r = await b.insert({ id: 'a' });
    await tickPast(r._expiresAt! + 20);
    // give a would-be timer plenty of turns
    for (let i = 0; i < 5; i++) await new Promise((res) => setTimeout(res, 5));
    expect(await b.count()).toBe(1);
    expect(await store.purgeTtl()).toBe(1);
    expect(await b.count()).toBe(0);
  });

  it('the default interval is 1000 ms and stop() stops the timer', async () => {
    const store = await Store.start();
    expect((await store.getStats()).ttl).toEqual({ enabled: true, checkIntervalMs: 1000 });
    await store.stop();
    expect((await store.getStats()).ttl.enabled).toBe(false);
  });

  it('rejects a negative ttlCheckIntervalMs', async () => {
    await expect(Store.start({ ttlCheckIntervalMs: -1 })).rejects.toThrow(/ttlCheckIntervalMs/);
  });

  it('updateBucket can add and remove a ttl', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema });
    await store.updateBucket('s', { ttl: '1m' });
    const r = await b.insert({ id: 'a' });
    expect(r._expiresAt).toBe(r._createdAt + 60_000);
    await store.updateBucket('s', { ttl: null });
    expect('_expiresAt' in (await b.insert({ id: 'b' }))).toBe(false);
  });
});

describe('maxSize (C-12)', () => {
  it('evicts the oldest record by _createdAt on insert, with a deleted event', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 3 });
    const deleted: unknown[] = [];
    await store.on('bucket.s.deleted', (e: BucketEvent) => {
      deleted.push(e.key);
    });
    for (const id of ['a', 'b', 'c']) {
      const r = await b.insert({ id });
      await tickPast(r._createdAt);
    }
    // an update does not count as new
    await b.update('a', { v: 1 });
    await b.insert({ id: 'd' });
    expect((await b.all()).map((r) => r.id)).toEqual(['b', 'c', 'd']);
    await b.insert({ id: 'e' });
    await store.settle();
    expect((await b.all()).map((r) => r.id)).toEqual(['c', 'd', 'e']);
    expect(deleted).toEqual(['a', 'b']);
    expect((await store.getStats()).records.perBucket.s).toBe(3);
  });

  it('insertMany over the limit keeps the newest maxSize records', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 3, indexes: ['v'] });
    await b.insert({ id: 'old', v: 1 });
    await b.insertMany([
      { id: 'n1', v: 1 },
      { id: 'n2', v: 1 },
      { id: 'n3', v: 1 },
      { id: 'n4', v: 1 },
    ]);
    expect((await b.all()).map((r) => r.id)).toEqual(['n2', 'n3', 'n4']);
    expect((await b.where({ v: 1 })).map((r) => r.id).sort()).toEqual(['n2', 'n3', 'n4']);
  });

  it('upsert of an existing key does not evict', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 2 });
    await b.insertMany([{ id: 'a' }, { id: 'b' }]);
    await b.upsert({ id: 'a', v: 2 });
    expect(await b.count()).toBe(2);
    await b.upsert({ id: 'c' });
    expect((await b.all()).map((r) => r.id)).toEqual(['b', 'c']);
  });

  it('evicts by _createdAt, not by key order, in ordered_set buckets (also after updateBucket)', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 3, etsType: 'ordered_set' });
    for (const id of ['c', 'a', 'b']) {
      const r = await b.insert({ id });
      await tickPast(r._createdAt);
    }
    await store.updateBucket('s', { addIndexes: ['v'] });
    await b.insert({ id: 'd' });
    // 'c' was inserted first
    expect((await b.all()).map((r) => r.id)).toEqual(['a', 'b', 'd']);
    await b.insert({ id: 'e' });
    expect((await b.all()).map((r) => r.id)).toEqual(['b', 'd', 'e']);
  });

  it('an eviction blocked by a restricting reference fails the insert and changes nothing', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 2 });
    const holders = await store.defineBucket('h', {
      key: 'id',
      schema: { id: { type: 'string' }, sId: { type: 'string', ref: 's' } },
    });
    await b.insertMany([{ id: 'a' }, { id: 'b' }]);
    await holders.insert({ id: 'h', sId: 'a' });
    await expect(b.insert({ id: 'c' })).rejects.toThrow(/referenced by bucket "h"/);
    expect((await b.all()).map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('a transaction that inserts past maxSize evicts at commit', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 2 });
    await b.insertMany([{ id: 'a' }, { id: 'b' }]);
    const deleted: unknown[] = [];
    await store.on('bucket.s.deleted', (e: BucketEvent) => {
      deleted.push(e.key);
    });
    await store.transaction(async (tx) => {
      const t = await tx.bucket('s');
      await t.insert({ id: 'c' });
      await t.insert({ id: 'd' });
    });
    await store.settle();
    expect((await b.all()).map((r) => r.id)).toEqual(['c', 'd']);
    expect(deleted).toEqual(['a', 'b']);
  });

  it('a failed insert evicts nothing', async () => {
    const store = await start();
    const b = await store.defineBucket('s', { key: 'id', schema, maxSize: 2 });
    await b.insertMany([{ id: 'a' }, { id: 'b' }]);
    await expect(b.insert({ id: 'x', v: 'not a number' } as never)).rejects.toThrow();
    await expect(b.insert({ id: 'a' })).rejects.toThrow(/Duplicate key/);
    expect((await b.all()).map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('rejects an invalid maxSize', async () => {
    const store = await start();
    for (const maxSize of [0, -1, 1.5]) {
      await expect(store.defineBucket('s', { key: 'id', schema, maxSize })).rejects.toBeInstanceOf(
        DefinitionError,
      );
    }
  });
});
