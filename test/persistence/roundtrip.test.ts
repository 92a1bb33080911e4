// Restart round trips on every Quire adapter: records, insertion order,
// autoincrement counters, indexes, unique constraints, reference indexes,
// no events on restore, persistent: false, dropBucket, updateBucket.
import { describe, expect, it } from 'vitest';
import { ReferentialIntegrityError, Store, UniqueConstraintError } from '../../src/index.js';
import { adapterKinds, userDef } from './helpers.js';

describe.each(adapterKinds())('$kind restart round trip', ({ make }) => {
  it('restores records, order, counter, indexes, unique and refs without events', async () => {
    const adapter = make();
    const errors: Error[] = [];
    const start = () =>
      Store.start({ name: 'app', persistence: { adapter: adapter(), onError: (e) => errors.push(e) } });
    const postDef = {
      key: 'id',
      schema: {
        id: { type: 'string', generated: 'uuid' },
        author: { type: 'number', ref: 'users', onDelete: 'cascade' },
        title: { type: 'string' },
      },
    } as const;

    let s = await start();
    let users = await s.defineBucket('users', userDef);
    let posts = await s.defineBucket('posts', postDef);
    for (let i = 0; i < 20; i++)
      await users.insert({ email: `u${i}@x.io`, age: 20 + i, role: i % 3 ? 'user' : 'admin' });
    await users.update(1, { age: 99 }); // keeps position
    await users.delete(2);
    await users.insert({ id: 2, email: 'again@x.io', age: 5 }); // re-insert goes to the end
    const p = await posts.insert({ author: 3, title: 'hello' });
    await s.transaction(async (tx) => {
      const u = await tx.bucket('users');
      const ps = await tx.bucket('posts');
      await u.update(4, { role: 'admin' });
      await ps.insert({ author: 4, title: 'tx' });
    });
    const before = await users.all();
    const postsBefore = await posts.all();
    await s.stop();

    s = await start();
    const events: unknown[] = [];
    await s.on('bucket.*.*', (e) => {
      events.push(e);
    });
    users = await s.defineBucket('users', userDef);
    posts = await s.defineBucket('posts', postDef);
    expect(await users.all()).toEqual(before);
    expect((await users.all()).map((r) => r.id).slice(-2)).toEqual([20, 2]);
    expect(await posts.all()).toEqual(postsBefore);
    expect(await s.getStats()).toMatchObject({ records: { total: 22 }, persistence: { enabled: true } });
    // indexes
    expect((await users.where({ role: 'admin' })).map((r) => r.id).sort((a, b) => a - b)).toEqual(
      before
        .filter((r) => r.role === 'admin')
        .map((r) => r.id)
        .sort((a, b) => a - b),
    );
    expect((await users.where({ age: { $gte: 35 } })).map((r) => r.age)).toEqual(
      before.filter((r) => (r.age as number) >= 35).map((r) => r.age),
    );
    // unique
    await expect(users.insert({ email: 'u5@x.io' })).rejects.toBeInstanceOf(UniqueConstraintError);
    // autoincrement continues after the highest counter
    expect((await users.insert({ email: 'new@x.io' })).id).toBe(21);
    // reference index: restrict/cascade work on restored data
    await expect(posts.insert({ author: 999, title: 'x' })).rejects.toBeInstanceOf(ReferentialIntegrityError);
    await users.delete(3);
    expect(await posts.get(p.id)).toBeUndefined();
    await s.settle();
    // no events for the restore itself, only for the writes above
    expect(events.every((e) => (e as { key: unknown }).key !== 1)).toBe(true);
    await s.stop();
    expect(errors).toEqual([]);
  });

  it('keeps 1 and "1" apart, composite keys, nested values', async () => {
    const adapter = make();
    const def = {
      key: ['a', 'b'],
      schema: { a: { type: 'string' }, b: { type: 'number' }, v: { type: 'object' } },
    } as const;
    const kdef = { key: 'k', schema: { k: { type: 'string' } } } as const;
    const ndef = { key: 'k', schema: { k: { type: 'number' } } } as const;
    let s = await Store.start({ name: 'k', persistence: { adapter: adapter() } });
    await (await s.defineBucket('c', def)).insert({ a: 'x', b: 1, v: { deep: [1, { z: 'é\n\t"' }] } });
    await (await s.defineBucket('str', kdef)).insert({ k: '1' });
    await (await s.defineBucket('num', ndef)).insert({ k: 1 });
    await s.stop();
    s = await Store.start({ name: 'k', persistence: { adapter: adapter() } });
    const c = await s.defineBucket('c', def);
    expect((await c.get(['x', 1]))?.v).toEqual({ deep: [1, { z: 'é\n\t"' }] });
    expect(await (await s.defineBucket('str', kdef)).get('1')).toBeDefined();
    expect(await (await s.defineBucket('num', ndef)).get(1)).toBeDefined();
    await s.stop();
  });

  it('never writes persistent: false buckets; dropBucket removes stored data; stores are separate by name', async () => {
    const adapter = make();
    const def = { key: 'id', schema: { id: { type: 'number' } } } as const;
    let s = await Store.start({ name: 'one', persistence: { adapter: adapter() } });
    await (await s.defineBucket('cache', { ...def, persistent: false })).insert({ id: 1 });
    await (await s.defineBucket('gone', def)).insert({ id: 1 });
    await (await s.defineBucket('kept', def)).insert({ id: 1 });
    expect(await s.dropBucket('gone')).toBe(true);
    await s.stop();
    s = await Store.start({ name: 'one', persistence: { adapter: adapter() } });
    expect(await (await s.defineBucket('cache', { ...def, persistent: false })).count()).toBe(0);
    expect(await (await s.defineBucket('gone', def)).count()).toBe(0);
    expect(await (await s.defineBucket('kept', def)).count()).toBe(1);
    await s.stop();
    const other = await Store.start({ name: 'two', persistence: { adapter: adapter() } });
    expect(await (await other.defineBucket('kept', def)).count()).toBe(0);
    await other.stop();
  });

  it('updateBucket stores the new definition and the records', async () => {
    const adapter = make();
    const def = { key: 'id', schema: { id: { type: 'number' }, n: { type: 'string' } } } as const;
    let s = await Store.start({ name: 'u', persistence: { adapter: adapter() } });
    const b = await s.defineBucket('b', def);
    await b.insert({ id: 1, n: 'a' });
    await s.updateBucket('b', { addFields: { tag: { type: 'string', default: 'none' } }, addIndexes: ['n'] });
    await s.stop();
    s = await Store.start({ name: 'u', persistence: { adapter: adapter() } });
    // Defining with the updated definition is an exact match: no differences to reconcile.
    const again = await s.defineBucket('b', {
      key: 'id',
      schema: { id: { type: 'number' }, n: { type: 'string' }, tag: { type: 'string', default: 'none' } },
      indexes: ['n'],
    });
    expect(await again.get(1)).toMatchObject({ id: 1, n: 'a' });
    await s.stop();
  });
});
