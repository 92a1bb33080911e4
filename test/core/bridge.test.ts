import vm from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BridgeOptions, bridgeStoreToRules, type EventReceiver } from '../../src/bridge/index.js';
import type { BucketEvent } from '../../src/index.js';
import { Store } from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('users', {
    key: 'id',
    schema: { id: { type: 'string', required: true }, name: { type: 'string' } },
  });
  await store.defineBucket('orders', {
    key: 'id',
    schema: { id: { type: 'string', required: true }, total: { type: 'number' } },
  });
});

afterEach(async () => {
  await store.stop();
});

function receiver(): EventReceiver & { calls: Array<[string, Record<string, unknown>]> } {
  const calls: Array<[string, Record<string, unknown>]> = [];
  return {
    calls,
    async emit(topic: string, data: Record<string, unknown>) {
      calls.push([topic, data]);
    },
  };
}

describe('bridgeStoreToRules (C-17)', () => {
  it('forwards every bucket event with its topic and payload by default', async () => {
    const r = receiver();
    const off = await bridgeStoreToRules(store, r);
    expect(typeof off).toBe('function');
    const users = store.bucket('users');
    const rec = await users.insert({ id: 'a', name: 'A' });
    const upd = await users.update('a', { name: 'B' });
    await users.delete('a');
    await store.bucket('orders').insert({ id: 'o', total: 1 });
    await store.settle();
    expect(r.calls).toEqual([
      ['bucket.users.inserted', { type: 'inserted', bucket: 'users', key: 'a', record: rec }],
      [
        'bucket.users.updated',
        { type: 'updated', bucket: 'users', key: 'a', oldRecord: rec, newRecord: upd },
      ],
      ['bucket.users.deleted', { type: 'deleted', bucket: 'users', key: 'a', record: upd }],
      ['bucket.orders.inserted', expect.objectContaining({ type: 'inserted', bucket: 'orders', key: 'o' })],
    ]);
  });

  it('filter, mapTopic and mapData', async () => {
    const r = receiver();
    const options: BridgeOptions = {
      filter: (e: BucketEvent) => e.bucket === 'orders',
      mapTopic: (topic: string, e: BucketEvent) => `store:${e.bucket}:${e.type}:${topic.split('.').length}`,
      mapData: (e: BucketEvent) => ({ id: e.key, kind: e.type }),
    };
    await bridgeStoreToRules(store, r, options);
    await store.bucket('users').insert({ id: 'a' });
    await store.bucket('orders').insert({ id: 'o1', total: 5 });
    await store.bucket('orders').update('o1', { total: 6 });
    await store.settle();
    expect(r.calls).toEqual([
      ['store:orders:inserted:3', { id: 'o1', kind: 'inserted' }],
      ['store:orders:updated:3', { id: 'o1', kind: 'updated' }],
    ]);
  });

  it('the teardown stops forwarding', async () => {
    const r = receiver();
    const off = await bridgeStoreToRules(store, r);
    await store.bucket('users').insert({ id: 'a' });
    await store.settle();
    await off();
    await store.bucket('users').insert({ id: 'b' });
    await store.settle();
    expect(r.calls.map(([, d]) => d.key)).toEqual(['a']);
  });

  it('receiver errors (sync throw or rejection) and mapper errors never reach the store', async () => {
    const rejecting: EventReceiver = { emit: async () => Promise.reject(new Error('rejected')) };
    const throwing: EventReceiver = {
      emit: () => {
        throw new Error('thrown');
      },
    };
    const good = receiver();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await bridgeStoreToRules(store, rejecting);
      await bridgeStoreToRules(store, throwing);
      await bridgeStoreToRules(store, good, {
        mapData: () => {
          throw new Error('mapper');
        },
      });
      await bridgeStoreToRules(store, good, {
        filter: () => {
          throw new Error('filter');
        },
      });
      const ok = receiver();
      await bridgeStoreToRules(store, ok);
      await expect(store.bucket('users').insert({ id: 'a' })).resolves.toMatchObject({ id: 'a' });
      await expect(store.bucket('users').update('a', { name: 'x' })).resolves.toMatchObject({ _version: 2 });
      await store.settle();
      await new Promise((r) => setTimeout(r, 10));
      expect(ok.calls.map(([t]) => t)).toEqual(['bucket.users.inserted', 'bucket.users.updated']);
      expect(good.calls).toEqual([]);
      expect(unhandled).toEqual([]);
      expect(await store.bucket('users').count()).toBe(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a rejection from another realm (a promise that is not instanceof Promise) is swallowed too', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const foreign: EventReceiver = {
        emit: () => vm.runInNewContext('Promise.reject(new Error("foreign"))'),
      };
      const probe = foreign.emit('t', {}) as PromiseLike<unknown>;
      probe.then(undefined, () => {});
      expect(probe instanceof Promise).toBe(false);
      await bridgeStoreToRules(store, foreign);
      await store.bucket('users').insert({ id: 'a' });
      await store.settle();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('works with a receiver whose emit is synchronous', async () => {
    const topics: string[] = [];
    await bridgeStoreToRules(store, {
      emit(topic) {
        topics.push(topic);
      },
    });
    await store.bucket('users').insert({ id: 'a' });
    await store.settle();
    expect(topics).toEqual(['bucket.users.inserted']);
  });
});
