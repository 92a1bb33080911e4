import { describe, expect, it } from 'vitest';
import { Store } from '../../src/index.js';

describe('maxSize eviction event order (noex-store)', () => {
  it('a single insert at capacity emits the eviction first; a bulk insert emits it last', async () => {
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    const logs = await store.defineBucket('logs', {
      key: 'id',
      schema: { id: { type: 'number', generated: 'autoincrement' }, m: { type: 'string' } },
      maxSize: 2,
    });
    await logs.insert({ m: 'a' });
    await logs.insert({ m: 'b' });
    const seen: string[] = [];
    await store.on('bucket.logs.*', (e: { type: string; key: unknown }) => {
      seen.push(`${e.type}:${String(e.key)}`);
    });
    await logs.insert({ m: 'c' });
    await store.settle();
    expect(seen).toEqual(['deleted:1', 'inserted:3']);
    seen.length = 0;
    await logs.insertMany([{ m: 'd' }, { m: 'e' }]);
    await store.settle();
    expect(seen).toEqual(['inserted:4', 'inserted:5', 'deleted:2', 'deleted:3']);
    expect((await logs.all()).map((r) => r.m)).toEqual(['d', 'e']);
    await store.stop();
  });
});
