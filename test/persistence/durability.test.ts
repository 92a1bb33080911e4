// Durability modes (P-2), group commit, flush, transactions as one storage
// transaction, and failure handling (C-13, SPEC §4): failures go to onError,
// never into writes; the queue is kept and retried; the store catches up.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, MemoryAdapter, SQLiteAdapter, StorageError, Store } from '../../src/index.js';
import { backends, FlakyAdapter, tempDir, waitFor } from './helpers.js';

const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } } as const;

function sqlite(): SQLiteAdapter {
  return new SQLiteAdapter(path.join(tempDir(), 'd.db'));
}

describe('strict durability', () => {
  it('resolves a write only after its commit; concurrent writes share one commit', async () => {
    const flaky = new FlakyAdapter(sqlite());
    const s = await Store.start({ name: 's', persistence: { adapter: flaky, durability: 'strict' } });
    const b = await s.defineBucket('b', def);
    await s.flush();
    const before = flaky.commits.length;
    await b.insert({ id: 0, v: 'x' });
    expect(flaky.commits.length).toBe(before + 1);
    expect(flaky.commits.at(-1)!.records.map((r) => r.key)).toEqual(['0']);
    const writes = Array.from({ length: 50 }, (_, i) => b.insert({ id: i + 1, v: 'x' }));
    await Promise.all(writes);
    // group commit: far fewer commits than writes (all queued in one tick → one commit)
    expect(flaky.commits.length - before - 1).toBe(1);
    expect(flaky.commits.at(-1)!.records).toHaveLength(50);
    await s.stop();
  });

  it('a write stays pending while storage fails and resolves once it is back; the error goes to onError', async () => {
    const flaky = new FlakyAdapter(sqlite());
    const errors: Error[] = [];
    const s = await Store.start({
      name: 's',
      persistence: { adapter: flaky, durability: 'strict', onError: (e) => errors.push(e) },
    });
    const b = await s.defineBucket('b', def);
    await s.flush();
    flaky.failing = true;
    let done = false;
    const w = b.insert({ id: 1, v: 'pending' }).then(() => {
      done = true;
    });
    await waitFor(() => errors.length >= 2, 'two reported failures (first try and a retry)');
    expect(done).toBe(false);
    // the store keeps serving from memory
    expect(await b.get(1)).toMatchObject({ v: 'pending' });
    expect(errors[0]).toBeInstanceOf(StorageError);
    expect(errors[0]!.message).toMatch(/ENOSPC/);
    flaky.failing = false;
    await w;
    expect(done).toBe(true);
    await s.stop();
  });

  it('stop() while storage is down rejects pending strict writes and reports the loss', async () => {
    const flaky = new FlakyAdapter(new MemoryAdapter());
    const errors: Error[] = [];
    const s = await Store.start({
      name: 's',
      persistence: { adapter: flaky, durability: 'strict', onError: (e) => errors.push(e) },
    });
    const b = await s.defineBucket('b', def);
    flaky.failing = true;
    const w = b.insert({ id: 1, v: 'x' });
    await waitFor(() => errors.length >= 1, 'a failure');
    await s.stop();
    await expect(w).rejects.toBeInstanceOf(StorageError);
    expect(errors.at(-1)!.message).toMatch(/not persisted/);
  });
});

describe('debounced durability', () => {
  it('batches writes into one commit after debounceMs; flush() forces it', async () => {
    const flaky = new FlakyAdapter(sqlite());
    const s = await Store.start({ name: 's', persistence: { adapter: flaky, debounceMs: 60_000 } });
    const b = await s.defineBucket('b', def);
    for (let i = 0; i < 10; i++) await b.insert({ id: i, v: 'a' });
    await b.update(3, { v: 'b' });
    await b.delete(4);
    expect(flaky.commits).toHaveLength(0); // nothing yet: the debounce window is a minute
    await s.flush();
    expect(flaky.commits).toHaveLength(1);
    const unit = flaky.commits[0]!;
    // folded: 9 records (4 inserted then deleted within the window → one delete of a row never stored)
    expect(unit.records.filter((r) => r.op === 'insert')).toHaveLength(9);
    expect(unit.records.find((r) => r.key === '3')).toMatchObject({ op: 'insert', version: 2 });
    expect(unit.buckets.find((x) => x.bucket === 'b')?.definition).toBeDefined();
    await s.stop();
  });

  it('flushes on its own after debounceMs', async () => {
    const flaky = new FlakyAdapter(sqlite());
    const s = await Store.start({ name: 's', persistence: { adapter: flaky, debounceMs: 5 } });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 1, v: 'a' });
    await waitFor(() => flaky.commits.some((u) => u.records.length > 0), 'the debounced commit');
    await s.stop();
  });

  it('catches up after failures without losing or reordering anything', async () => {
    const file = path.join(tempDir(), 'c.db');
    const flaky = new FlakyAdapter(new SQLiteAdapter(file));
    const errors: Error[] = [];
    const s = await Store.start({
      name: 's',
      persistence: { adapter: flaky, debounceMs: 1, onError: (e) => errors.push(e) },
    });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 1, v: 'first' });
    await s.flush();
    flaky.failing = true;
    await b.insert({ id: 2, v: 'x' });
    await waitFor(() => errors.length >= 1, 'failure report');
    // writes during the outage are accepted (never thrown into the caller) and folded into the queue
    await b.update(2, { v: 'y' });
    await b.delete(1);
    await b.insert({ id: 1, v: 'second' });
    await expect(s.flush()).rejects.toBeInstanceOf(StorageError);
    flaky.failing = false;
    await waitFor(() => flaky.commits.length >= 2, 'catch-up commit');
    await s.stop();
    const again = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
    const b2 = await again.defineBucket('b', def);
    expect((await b2.all()).map((r) => [r.id, r.v])).toEqual([
      [2, 'y'],
      [1, 'second'],
    ]);
    await again.stop();
  });
});

describe('transactions on disk', () => {
  it('a multi-bucket transaction is one storage transaction (one unit)', async () => {
    const flaky = new FlakyAdapter(sqlite());
    const s = await Store.start({ name: 't', persistence: { adapter: flaky, durability: 'strict' } });
    const a = await s.defineBucket('a', def);
    await s.defineBucket('b', def);
    await a.insert({ id: 1, v: 'x' });
    const n = flaky.commits.length;
    await s.transaction(async (tx) => {
      await (await tx.bucket('a')).update(1, { v: 'y' });
      await (await tx.bucket('b')).insert({ id: 7, v: 'z' });
      await (await tx.bucket('b')).insert({ id: 8, v: 'z' });
    });
    expect(flaky.commits.length).toBe(n + 1);
    expect(
      flaky.commits
        .at(-1)!
        .records.map((r) => `${r.bucket}:${r.key}`)
        .sort(),
    ).toEqual(['a:1', 'b:7', 'b:8']);
    await s.stop();
  });

  it.each(backends())(
    'a failed unit leaves storage untouched (all or nothing) and is retried whole ($kind)',
    async (backend) => {
      const storage = backend.fresh();
      const flaky = new FlakyAdapter(storage.adapter());
      const s = await Store.start({
        name: 't',
        persistence: { adapter: flaky, durability: 'strict', onError: () => {} },
      });
      await s.defineBucket('a', def);
      await s.defineBucket('b', def);
      await s.flush();
      const count = async () =>
        Number((await storage.query('SELECT count(*) AS n FROM quire_records'))[0]!.n);
      flaky.failing = true;
      const tx = s.transaction(async (t) => {
        await (await t.bucket('a')).insert({ id: 1, v: 'a' });
        await (await t.bucket('b')).insert({ id: 1, v: 'b' });
      });
      await new Promise((r) => setTimeout(r, 30));
      expect(await count()).toBe(0);
      flaky.failing = false;
      await tx;
      expect(await count()).toBe(2);
      await s.stop();
    },
  );
});

describe('configuration errors', () => {
  it('rejects bad persistence options with typed errors', async () => {
    const adapter = new MemoryAdapter();
    await expect(Store.start({ persistence: { adapter: {} } })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Store.start({ persistence: { adapter, debounceMs: -1 } })).rejects.toThrow(/debounceMs/);
    await expect(Store.start({ persistence: { adapter, debounceMs: Number.NaN } })).rejects.toThrow(
      /debounceMs/,
    );
    await expect(Store.start({ persistence: { adapter, durability: 'fast' as 'strict' } })).rejects.toThrow(
      /durability/,
    );
    await expect(
      Store.start({ persistence: { adapter, onError: 'log' as unknown as () => void } }),
    ).rejects.toThrow(/onError/);
  });

  it('a throwing onError does not break writes', async () => {
    const flaky = new FlakyAdapter(new MemoryAdapter());
    const s = await Store.start({
      name: 'x',
      persistence: {
        adapter: flaky,
        debounceMs: 1,
        onError: () => {
          throw new Error('boom');
        },
      },
    });
    const b = await s.defineBucket('b', def);
    flaky.failing = true;
    await b.insert({ id: 1, v: 'x' });
    await new Promise((r) => setTimeout(r, 20));
    flaky.failing = false;
    await waitFor(() => flaky.commits.length > 0, 'recovery');
    await s.stop();
  });
});
