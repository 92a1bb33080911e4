import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BucketEvent } from '../../src/index.js';
import { MemoryAdapter, Store, ValidationError } from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('users', {
    key: 'id',
    schema: {
      id: { type: 'string', required: true },
      name: { type: 'string', required: true },
      age: { type: 'number', min: 0 },
    },
  });
  await store.defineBucket('logs', {
    key: 'id',
    schema: { id: { type: 'number', generated: 'autoincrement' }, msg: { type: 'string' } },
  });
});

afterEach(async () => {
  await store.stop();
});

function collect(): {
  events: Array<{ event: BucketEvent; topic: string }>;
  handler: (e: BucketEvent, t: string) => void;
} {
  const events: Array<{ event: BucketEvent; topic: string }> = [];
  return { events, handler: (event, topic) => events.push({ event, topic }) };
}

describe('events (C-9)', () => {
  it('store.on returns an async unsubscribe function', async () => {
    const { events, handler } = collect();
    const off = await store.on('bucket.users.inserted', handler);
    expect(typeof off).toBe('function');
    const r = off();
    expect(r).toBeInstanceOf(Promise);
    await r;
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    expect(events).toHaveLength(0);
  });

  it('inserted event has exactly {type, bucket, key, record}', async () => {
    const { events, handler } = collect();
    await store.on('bucket.users.inserted', handler);
    const rec = await store.bucket('users').insert({ id: 'a', name: 'Ann', age: 3 });
    await store.settle();
    expect(events).toHaveLength(1);
    expect(events[0]!.topic).toBe('bucket.users.inserted');
    expect(Object.keys(events[0]!.event).sort()).toEqual(['bucket', 'key', 'record', 'type']);
    expect(events[0]!.event).toEqual({ type: 'inserted', bucket: 'users', key: 'a', record: rec });
  });

  it('updated event has exactly {type, bucket, key, oldRecord, newRecord}', async () => {
    const users = store.bucket('users');
    const before = await users.insert({ id: 'a', name: 'Ann' });
    const { events, handler } = collect();
    await store.on('bucket.users.updated', handler);
    const after = await users.update('a', { name: 'Anna' });
    await store.settle();
    expect(events).toHaveLength(1);
    expect(Object.keys(events[0]!.event).sort()).toEqual(['bucket', 'key', 'newRecord', 'oldRecord', 'type']);
    expect(events[0]!.event).toEqual({
      type: 'updated',
      bucket: 'users',
      key: 'a',
      oldRecord: before,
      newRecord: after,
    });
    expect(after._version).toBe(2);
  });

  it('deleted event has exactly {type, bucket, key, record}', async () => {
    const users = store.bucket('users');
    const rec = await users.insert({ id: 'a', name: 'Ann' });
    const { events, handler } = collect();
    await store.on('bucket.users.deleted', handler);
    await users.delete('a');
    await store.settle();
    expect(events).toEqual([
      { topic: 'bucket.users.deleted', event: { type: 'deleted', bucket: 'users', key: 'a', record: rec } },
    ]);
  });

  it('generated keys appear in the event key', async () => {
    const { events, handler } = collect();
    await store.on('bucket.logs.*', handler);
    await store.bucket('logs').insert({ msg: 'x' });
    await store.bucket('logs').insert({ msg: 'y' });
    await store.settle();
    expect(events.map((e) => e.event.key)).toEqual([1, 2]);
  });

  it('composite keys appear as arrays in event keys', async () => {
    await store.defineBucket('cells', {
      key: ['row', 'col'],
      schema: { row: { type: 'number' }, col: { type: 'number' }, v: { type: 'string' } },
    });
    const { events, handler } = collect();
    await store.on('bucket.cells.*', handler);
    await store.bucket('cells').insert({ row: 1, col: 2, v: 'x' });
    await store.bucket('cells').update([1, 2], { v: 'y' });
    await store.bucket('cells').delete([1, 2]);
    await store.settle();
    expect(events.map((e) => [e.event.type, e.event.key])).toEqual([
      ['inserted', [1, 2]],
      ['updated', [1, 2]],
      ['deleted', [1, 2]],
    ]);
  });

  it('`*` matches exactly one segment', async () => {
    const byType = collect();
    const byBucket = collect();
    const all = collect();
    const tooShort = collect();
    const tooLong = collect();
    await store.on('bucket.*.inserted', byType.handler);
    await store.on('bucket.users.*', byBucket.handler);
    await store.on('bucket.*.*', all.handler);
    await store.on('bucket.*', tooShort.handler);
    await store.on('bucket.*.*.*', tooLong.handler);
    const users = store.bucket('users');
    await users.insert({ id: 'a', name: 'A' });
    await users.update('a', { name: 'B' });
    await store.bucket('logs').insert({ msg: 'm' });
    await users.delete('a');
    await store.settle();
    expect(byType.events.map((e) => e.topic)).toEqual(['bucket.users.inserted', 'bucket.logs.inserted']);
    expect(byBucket.events.map((e) => e.topic)).toEqual([
      'bucket.users.inserted',
      'bucket.users.updated',
      'bucket.users.deleted',
    ]);
    expect(all.events).toHaveLength(4);
    expect(tooShort.events).toHaveLength(0);
    expect(tooLong.events).toHaveLength(0);
  });

  it('a handler sees the new state when it runs', async () => {
    const users = store.bucket('users');
    const seen: unknown[] = [];
    await store.on('bucket.users.*', async (e: BucketEvent) => {
      seen.push(await users.get(e.key));
    });
    await users.insert({ id: 'a', name: 'A' });
    await store.settle();
    await users.update('a', { name: 'B' });
    await store.settle();
    await users.delete('a');
    await store.settle();
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({ name: 'A', _version: 1 });
    expect(seen[1]).toMatchObject({ name: 'B', _version: 2 });
    expect(seen[2]).toBeUndefined();
  });

  it('a throwing or rejecting handler never breaks a write or other handlers', async () => {
    const good = collect();
    await store.on('bucket.users.inserted', () => {
      throw new Error('sync boom');
    });
    await store.on('bucket.users.inserted', async () => {
      throw new Error('async boom');
    });
    await store.on('bucket.users.inserted', good.handler);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const users = store.bucket('users');
      await expect(users.insert({ id: 'a', name: 'A' })).resolves.toMatchObject({ id: 'a' });
      await expect(users.insert({ id: 'b', name: 'B' })).resolves.toMatchObject({ id: 'b' });
      await store.settle();
      await new Promise((r) => setTimeout(r, 10));
      expect(await users.count()).toBe(2);
      expect(good.events.map((e) => e.event.key)).toEqual(['a', 'b']);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a failed write emits nothing', async () => {
    const all = collect();
    const users = store.bucket('users');
    await users.insert({ id: 'a', name: 'A' });
    await store.settle();
    await store.on('bucket.*.*', all.handler);
    await expect(users.insert({ id: 'b' })).rejects.toBeInstanceOf(ValidationError);
    await expect(users.insert({ id: 'a', name: 'dup' })).rejects.toThrow(/Duplicate key/);
    await expect(users.update('a', { age: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(users.update('missing', { age: 1 })).rejects.toThrow();
    await expect(users.insertMany([{ id: 'c', name: 'C' }, { id: 'd' }])).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(users.updateMany({}, { age: -5 })).rejects.toBeInstanceOf(ValidationError);
    await store.settle();
    expect(all.events).toEqual([]);
    expect(await users.count()).toBe(1);
  });

  it('deleting a missing key emits nothing', async () => {
    const all = collect();
    await store.on('bucket.*.*', all.handler);
    await store.bucket('users').delete('nope');
    await store.settle();
    expect(all.events).toEqual([]);
  });

  it('bulk operations emit one event per record', async () => {
    const users = store.bucket('users');
    const ins = collect();
    const upd = collect();
    const del = collect();
    await store.on('bucket.users.inserted', ins.handler);
    await store.on('bucket.users.updated', upd.handler);
    await store.on('bucket.users.deleted', del.handler);
    await users.insertMany([
      { id: 'a', name: 'A', age: 1 },
      { id: 'b', name: 'B', age: 2 },
      { id: 'c', name: 'C', age: 3 },
    ]);
    expect(await users.updateMany({ age: { $gte: 2 } }, { name: 'X' })).toBe(2);
    expect(await users.deleteMany({ age: { $lte: 2 } })).toBe(2);
    await users.clear();
    await store.settle();
    expect(ins.events.map((e) => e.event.key)).toEqual(['a', 'b', 'c']);
    expect(upd.events.map((e) => e.event.key).sort()).toEqual(['b', 'c']);
    for (const e of upd.events) {
      expect(e.event.type).toBe('updated');
      if (e.event.type === 'updated') {
        expect(e.event.oldRecord.name).not.toBe('X');
        expect(e.event.newRecord.name).toBe('X');
      }
    }
    expect(del.events.map((e) => e.event.key).sort()).toEqual(['a', 'b', 'c']);
  });

  it('upsert emits inserted, then updated', async () => {
    const all = collect();
    await store.on('bucket.users.*', all.handler);
    await store.bucket('users').upsert({ id: 'u', name: 'one' });
    await store.bucket('users').upsert({ id: 'u', name: 'two' });
    await store.settle();
    expect(all.events.map((e) => e.event.type)).toEqual(['inserted', 'updated']);
  });

  it('events are delivered after the write resolves, never inside it', async () => {
    const order: string[] = [];
    await store.on('bucket.users.inserted', () => {
      order.push('event');
    });
    const p = store.bucket('users').insert({ id: 'a', name: 'A' });
    order.push('called');
    await p;
    order.push('resolved');
    await store.settle();
    expect(order[0]).toBe('called');
    expect(order).toContain('event');
  });

  it('settle() also waits for events caused by writes made in handlers', async () => {
    const seen: string[] = [];
    await store.on('bucket.users.inserted', async (e: BucketEvent) => {
      await store.bucket('logs').insert({ msg: `user ${String(e.key)}` });
    });
    await store.on('bucket.logs.inserted', (e: BucketEvent) => {
      if (e.type === 'inserted') seen.push(e.record.msg as string);
    });
    await store.bucket('users').insert({ id: 'a', name: 'A' });
    await store.settle();
    expect(seen).toEqual(['user a']);
  });

  it('store.stop() ends event delivery', async () => {
    const { events, handler } = collect();
    await store.on('bucket.*.*', handler);
    const users = store.bucket('users');
    await store.stop();
    await expect(users.insert({ id: 'z', name: 'Z' })).rejects.toThrow();
    expect(events).toEqual([]);
  });

  it('restoring a backup emits no events (reactive queries still see the restored data)', async () => {
    const persistent = await Store.start({
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new MemoryAdapter() },
    });
    try {
      const b = await persistent.defineBucket('a', { key: 'id', schema: { id: { type: 'string' } } });
      await b.insert({ id: 'x' });
      await persistent.createBackup('bk');
      await b.insert({ id: 'y' });
      const { events, handler } = collect();
      await persistent.on('bucket.*.*', handler);
      persistent.defineQuery('n', async (ctx) => ctx.bucket('a').count());
      const counts: unknown[] = [];
      await persistent.subscribe('n', (r) => counts.push(r));
      await persistent.restoreBackup('bk');
      await persistent.settle();
      expect(await b.count()).toBe(1);
      expect(events).toEqual([]);
      expect(counts).toEqual([1]);
      // later writes emit as usual
      await b.insert({ id: 'z' });
      await persistent.settle();
      expect(events.map((e) => e.topic)).toEqual(['bucket.a.inserted']);
    } finally {
      await persistent.stop();
    }
  });

  it('rejects a bad pattern or handler', async () => {
    await expect(store.on('', () => {})).rejects.toThrow();
    await expect(store.on('bucket.*.*', 42 as never)).rejects.toThrow();
  });
});
