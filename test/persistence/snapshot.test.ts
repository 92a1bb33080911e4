// Any object with noex-store's StorageAdapter shape works as a snapshot
// adapter: whole-bucket saves under `<store>:bucket:<name>` with
// `{state: {records: [[key, record]], autoincrementCounter}, metadata}`.
// Quire's own adapters answer the same keys from their incremental data.
import { describe, expect, it } from 'vitest';
import {
  MemoryAdapter,
  type PersistedState,
  type StorageAdapter,
  StorageCorruptError,
  Store,
} from '../../src/index.js';
import { waitFor } from './helpers.js';

/** A hand-written noex-shaped adapter: a Map of JSON strings. */
class NoexStyleAdapter implements StorageAdapter {
  readonly data = new Map<string, string>();
  saves: string[] = [];
  failing = false;
  async save(key: string, value: PersistedState) {
    if (this.failing) throw new Error('disk full');
    this.saves.push(key);
    this.data.set(key, JSON.stringify(value));
  }
  async load<T>(key: string) {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as PersistedState<T>);
  }
  async delete(key: string) {
    return this.data.delete(key);
  }
  async exists(key: string) {
    return this.data.has(key);
  }
  async listKeys(prefix = '') {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix));
  }
  closed = 0;
  async close() {
    this.closed++;
  }
}

const def = {
  key: 'id',
  schema: { id: { type: 'number', generated: 'autoincrement' }, name: { type: 'string', unique: true } },
} as const;

describe('snapshot adapters (noex StorageAdapter shape)', () => {
  it('saves whole buckets in noex layout, debounced, and restores them', async () => {
    const adapter = new NoexStyleAdapter();
    const s = await Store.start({ name: 'shop', persistence: { adapter, debounceMs: 5 } });
    const b = await s.defineBucket('items', def);
    await b.insert({ name: 'a' });
    await b.insert({ name: 'b' });
    await waitFor(() => adapter.data.has('shop:bucket:items'), 'a debounced save');
    await s.stop();
    expect(adapter.closed).toBe(1);
    const saved = JSON.parse(adapter.data.get('shop:bucket:items')!);
    expect(saved.state.autoincrementCounter).toBe(2);
    expect(saved.state.records.map((p: [number, { name: string }]) => [p[0], p[1].name])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(saved.metadata).toMatchObject({ serverId: 'shop', schemaVersion: 1 });
    const again = await Store.start({ name: 'shop', persistence: { adapter } });
    const b2 = await again.defineBucket('items', def);
    expect((await b2.insert({ name: 'c' })).id).toBe(3);
    await expect(b2.insert({ name: 'a' })).rejects.toThrow(/Unique/);
    await again.stop();
  });

  it('restores data written by noex-store itself (no stored definition)', async () => {
    const adapter = new NoexStyleAdapter();
    adapter.data.set(
      'legacy:bucket:items',
      JSON.stringify({
        state: {
          records: [[7, { id: 7, name: 'old', _version: 3, _createdAt: 1, _updatedAt: 2 }]],
          autoincrementCounter: 7,
        },
        metadata: { persistedAt: 1, serverId: 'legacy', schemaVersion: 1 },
      }),
    );
    const s = await Store.start({ name: 'legacy', persistence: { adapter } });
    const b = await s.defineBucket('items', def);
    expect(await b.get(7)).toMatchObject({ name: 'old', _version: 3 });
    expect((await b.insert({ name: 'new' })).id).toBe(8);
    await s.stop();
  });

  it('strict mode and failures work with snapshot adapters too', async () => {
    const adapter = new NoexStyleAdapter();
    const errors: Error[] = [];
    const s = await Store.start({
      name: 'st',
      persistence: { adapter, durability: 'strict', onError: (e) => errors.push(e) },
    });
    const b = await s.defineBucket('items', def);
    await b.insert({ name: 'a' });
    expect(adapter.data.has('st:bucket:items')).toBe(true);
    adapter.failing = true;
    const w = b.insert({ name: 'b' });
    await waitFor(() => errors.length > 0, 'a failure report');
    adapter.failing = false;
    await w;
    expect(JSON.parse(adapter.data.get('st:bucket:items')!).state.records).toHaveLength(2);
    expect(await s.dropBucket('items')).toBe(true);
    expect(adapter.data.has('st:bucket:items')).toBe(false);
    await s.stop();
  });

  it('a failed load rejects defineBucket with StorageCorruptError; the stored value is not written over', async () => {
    const adapter = new NoexStyleAdapter();
    const stored = '{"state": 42, "metadata": {}}';
    adapter.data.set('bad:bucket:items', stored);
    adapter.data.set('bad:bucket:notjson', '{"state": {"records": [[1, {"id": 1');
    const s = await Store.start({ name: 'bad', persistence: { adapter, durability: 'strict' } });
    const err = await s.defineBucket('items', def).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageCorruptError);
    expect((err as StorageCorruptError).bucket).toBe('items');
    expect(s.hasBucket('items')).toBe(false);
    // an unparsable snapshot value: typed, not a bare SyntaxError
    const err2 = await s.defineBucket('notjson', def).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(StorageCorruptError);
    expect((err2 as StorageCorruptError).bucket).toBe('notjson');
    await s.stop();
    expect(adapter.data.get('bad:bucket:items')).toBe(stored);
  });

  it("Quire's own adapters answer noex bucket keys from their incremental data", async () => {
    const adapter = new MemoryAdapter();
    const s = await Store.start({ name: 'm', persistence: { adapter } });
    await (await s.defineBucket('items', def)).insert({ name: 'a' });
    await s.stop();
    const snap = (await adapter.load('m:bucket:items')) as PersistedState<{
      records: unknown[][];
      autoincrementCounter: number;
    }>;
    expect(snap.state.autoincrementCounter).toBe(1);
    expect(snap.state.records[0]![0]).toBe(1);
    expect(await adapter.listKeys('m:')).toEqual(['m:bucket:items']);
  });
});
