import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BucketEvent } from '../../src/index.js';
import { DefinitionError, ReferentialIntegrityError, Store } from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
});

afterEach(async () => {
  await store.stop();
});

async function authorsAndPosts(onDelete: 'restrict' | 'cascade' | 'set_null' | undefined) {
  await store.defineBucket('authors', {
    key: 'id',
    schema: { id: { type: 'string', required: true }, name: { type: 'string' } },
  });
  await store.defineBucket('posts', {
    key: 'id',
    schema: {
      id: { type: 'number', generated: 'autoincrement' },
      title: { type: 'string', unique: true },
      authorId:
        onDelete === undefined
          ? { type: 'string', ref: 'authors' }
          : { type: 'string', ref: 'authors', onDelete },
    },
    indexes: ['authorId'],
  });
  await store.bucket('authors').insertMany([
    { id: 'a1', name: 'A' },
    { id: 'a2', name: 'B' },
  ]);
  return { authors: store.bucket('authors'), posts: store.bucket('posts') };
}

describe('references (C-8)', () => {
  it('insert with a missing target fails with ReferentialIntegrityError (noex message and fields)', async () => {
    const { posts } = await authorsAndPosts(undefined);
    const err = await posts.insert({ title: 't', authorId: 'nope' }).catch((e) => e);
    expect(err).toBeInstanceOf(ReferentialIntegrityError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ReferentialIntegrityError');
    expect(err.message).toBe(
      'Foreign key violation in bucket "posts": field "authorId" references bucket "authors" with key "nope", but no such record exists',
    );
    expect(err).toMatchObject({
      sourceBucket: 'posts',
      sourceField: 'authorId',
      targetBucket: 'authors',
      targetKey: 'nope',
    });
    expect(await posts.count()).toBe(0);
  });

  it('null or missing reference values are allowed', async () => {
    const { posts } = await authorsAndPosts(undefined);
    await posts.insert({ title: 'x' });
    await posts.insert({ title: 'y', authorId: null } as never);
    expect(await posts.count()).toBe(2);
  });

  it('update to a missing target fails; to an existing target works', async () => {
    const { posts } = await authorsAndPosts(undefined);
    const p = await posts.insert({ title: 't', authorId: 'a1' });
    await expect(posts.update(p.id, { authorId: 'zz' })).rejects.toBeInstanceOf(ReferentialIntegrityError);
    expect((await posts.get(p.id))!.authorId).toBe('a1');
    await posts.update(p.id, { authorId: 'a2' });
    expect((await posts.get(p.id))!.authorId).toBe('a2');
    // a1 is no longer referenced: deletable even with restrict
    await store.bucket('authors').delete('a1');
    await expect(store.bucket('authors').delete('a2')).rejects.toBeInstanceOf(ReferentialIntegrityError);
  });

  it('insertMany fails as a whole on one dangling reference', async () => {
    const { posts } = await authorsAndPosts(undefined);
    await expect(
      posts.insertMany([
        { title: 'ok', authorId: 'a1' },
        { title: 'bad', authorId: 'zz' },
      ]),
    ).rejects.toBeInstanceOf(ReferentialIntegrityError);
    expect(await posts.count()).toBe(0);
    // the autoincrement counter did not move
    expect((await posts.insert({ title: 'n' })).id).toBe(1);
  });

  it('restrict (the default) blocks deleting a referenced record', async () => {
    const { authors, posts } = await authorsAndPosts(undefined);
    await posts.insert({ title: 't', authorId: 'a1' });
    const err = await authors.delete('a1').catch((e) => e);
    expect(err).toBeInstanceOf(ReferentialIntegrityError);
    expect(err.message).toBe(
      'Cannot delete from bucket "authors" (key "a1"): referenced by bucket "posts" (key "1") via field "authorId"',
    );
    expect(err).toMatchObject({
      sourceBucket: 'posts',
      sourceField: 'authorId',
      targetBucket: 'authors',
      targetKey: 'a1',
    });
    expect(await authors.get('a1')).toBeDefined();
    await authors.delete('a2'); // unreferenced
    expect(await authors.count()).toBe(1);
  });

  it('cascade deletes referencing records and emits their deleted events', async () => {
    const { authors, posts } = await authorsAndPosts('cascade');
    await posts.insertMany([
      { title: 'p1', authorId: 'a1' },
      { title: 'p2', authorId: 'a1' },
      { title: 'p3', authorId: 'a2' },
    ]);
    const events: BucketEvent[] = [];
    await store.on('bucket.*.deleted', (e: BucketEvent) => {
      events.push(e);
    });
    await authors.delete('a1');
    await store.settle();
    expect((await posts.all()).map((p) => p.title)).toEqual(['p3']);
    expect(await posts.where({ authorId: 'a1' })).toEqual([]);
    expect(events.map((e) => `${e.bucket}:${String(e.key)}`).sort()).toEqual([
      'authors:a1',
      'posts:1',
      'posts:2',
    ]);
    // unique values of the cascaded records are free again
    await posts.insert({ title: 'p1', authorId: 'a2' });
  });

  it('set_null nulls the referencing field (and emits updated)', async () => {
    const { authors, posts } = await authorsAndPosts('set_null');
    const p = await posts.insert({ title: 't', authorId: 'a1' });
    const events: BucketEvent[] = [];
    await store.on('bucket.posts.updated', (e: BucketEvent) => {
      events.push(e);
    });
    await authors.delete('a1');
    await store.settle();
    const after = await posts.get(p.id);
    expect(after!.authorId).toBeNull();
    expect(after!._version).toBe(2);
    expect(await posts.where({ authorId: 'a1' })).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'updated', bucket: 'posts', key: p.id });
  });

  it('set_null on a required field is rejected at definition time', async () => {
    await store.defineBucket('t', { key: 'id', schema: { id: { type: 'string' } } });
    await expect(
      store.defineBucket('s', {
        key: 'id',
        schema: {
          id: { type: 'string' },
          tId: { type: 'string', ref: 't', onDelete: 'set_null', required: true },
        },
      }),
    ).rejects.toThrow('field "tId" has onDelete "set_null" but is required');
    expect(store.hasBucket('s')).toBe(false);
  });

  it('an unknown onDelete is rejected', async () => {
    await expect(
      store.defineBucket('s', {
        key: 'id',
        schema: { id: { type: 'string' }, x: { type: 'string', ref: 's', onDelete: 'explode' as never } },
      }),
    ).rejects.toBeInstanceOf(DefinitionError);
  });

  it('cascades follow chains a → b → c', async () => {
    await store.defineBucket('a', { key: 'id', schema: { id: { type: 'string' } } });
    await store.defineBucket('b', {
      key: 'id',
      schema: { id: { type: 'string' }, aId: { type: 'string', ref: 'a', onDelete: 'cascade' } },
    });
    await store.defineBucket('c', {
      key: 'id',
      schema: { id: { type: 'string' }, bId: { type: 'string', ref: 'b', onDelete: 'cascade' } },
    });
    await store.defineBucket('d', {
      key: 'id',
      schema: { id: { type: 'string' }, cId: { type: 'string', ref: 'c', onDelete: 'set_null' } },
    });
    await store.bucket('a').insertMany([{ id: 'a1' }, { id: 'a2' }]);
    await store.bucket('b').insertMany([
      { id: 'b1', aId: 'a1' },
      { id: 'b2', aId: 'a1' },
      { id: 'b3', aId: 'a2' },
    ]);
    await store.bucket('c').insertMany([
      { id: 'c1', bId: 'b1' },
      { id: 'c2', bId: 'b2' },
      { id: 'c3', bId: 'b3' },
    ]);
    await store.bucket('d').insertMany([
      { id: 'd1', cId: 'c1' },
      { id: 'd3', cId: 'c3' },
    ]);
    await store.bucket('a').delete('a1');
    expect((await store.bucket('a').all()).map((r) => r.id)).toEqual(['a2']);
    expect((await store.bucket('b').all()).map((r) => r.id)).toEqual(['b3']);
    expect((await store.bucket('c').all()).map((r) => r.id)).toEqual(['c3']);
    expect(await store.bucket('d').all()).toMatchObject([
      { id: 'd1', cId: null },
      { id: 'd3', cId: 'c3' },
    ]);
  });

  it('cascade cycles a ↔ b terminate', async () => {
    await store.defineBucket('a', {
      key: 'id',
      schema: { id: { type: 'string' }, bId: { type: 'string', ref: 'b', onDelete: 'cascade' } },
    });
    await store.defineBucket('b', {
      key: 'id',
      schema: { id: { type: 'string' }, aId: { type: 'string', ref: 'a', onDelete: 'cascade' } },
    });
    await store.bucket('a').insert({ id: 'a1' });
    await store.bucket('b').insert({ id: 'b1', aId: 'a1' });
    await store.bucket('a').update('a1', { bId: 'b1' });
    await store.bucket('a').insert({ id: 'a2' });
    const deleted: string[] = [];
    await store.on('bucket.*.deleted', (e: BucketEvent) => {
      deleted.push(`${e.bucket}:${String(e.key)}`);
    });
    await store.bucket('a').delete('a1');
    await store.settle();
    expect(await store.bucket('a').count()).toBe(1);
    expect(await store.bucket('b').count()).toBe(0);
    expect(deleted.sort()).toEqual(['a:a1', 'b:b1']);
  });

  it('a self-referencing cascade (tree) removes the whole subtree', async () => {
    await store.defineBucket('nodes', {
      key: 'id',
      schema: { id: { type: 'string' }, parent: { type: 'string', ref: 'nodes', onDelete: 'cascade' } },
    });
    const nodes = store.bucket('nodes');
    await nodes.insert({ id: 'root' });
    await nodes.insert({ id: 'x', parent: 'root' });
    await nodes.insert({ id: 'y', parent: 'x' });
    await nodes.insert({ id: 'z', parent: 'y' });
    await nodes.insert({ id: 'other' });
    await nodes.delete('x');
    expect((await nodes.all()).map((n) => n.id)).toEqual(['root', 'other']);
  });

  it('deleteMany with cascades removes every dependant', async () => {
    const { authors, posts } = await authorsAndPosts('cascade');
    await authors.insert({ id: 'a3', name: 'C' });
    await posts.insertMany([
      { title: 'p1', authorId: 'a1' },
      { title: 'p2', authorId: 'a2' },
      { title: 'p3', authorId: 'a3' },
    ]);
    expect(await authors.deleteMany({ id: { $in: ['a1', 'a2'] } })).toBe(2);
    expect((await authors.all()).map((a) => a.id)).toEqual(['a3']);
    expect((await posts.all()).map((p) => p.title)).toEqual(['p3']);
  });

  it('a restrict in the middle of a cascade changes nothing anywhere', async () => {
    await store.defineBucket('a', {
      key: 'id',
      schema: { id: { type: 'string' }, label: { type: 'string', unique: true } },
      indexes: ['label'],
    });
    await store.defineBucket('b', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        aId: { type: 'string', ref: 'a', onDelete: 'cascade' },
        tag: { type: 'string' },
      },
      indexes: ['tag', 'aId'],
    });
    await store.defineBucket('n', {
      key: 'id',
      schema: { id: { type: 'string' }, aId: { type: 'string', ref: 'a', onDelete: 'set_null' } },
    });
    await store.defineBucket('c', {
      key: 'id',
      schema: { id: { type: 'string' }, bId: { type: 'string', ref: 'b' } }, // restrict
    });
    await store.bucket('a').insertMany([
      { id: 'a1', label: 'L1' },
      { id: 'a2', label: 'L2' },
    ]);
    await store.bucket('b').insertMany([
      { id: 'b1', aId: 'a1', tag: 'x' },
      { id: 'b2', aId: 'a1', tag: 'x' },
      { id: 'b3', aId: 'a2', tag: 'y' },
    ]);
    await store.bucket('n').insert({ id: 'n1', aId: 'a1' });
    await store.bucket('c').insert({ id: 'c1', bId: 'b2' }); // blocks deleting b2
    const snapshot = async () => ({
      a: await store.bucket('a').all(),
      b: await store.bucket('b').all(),
      n: await store.bucket('n').all(),
      c: await store.bucket('c').all(),
    });
    const before = await snapshot();
    const events: BucketEvent[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(e);
    });

    await expect(store.bucket('a').delete('a1')).rejects.toBeInstanceOf(ReferentialIntegrityError);
    await expect(store.bucket('a').deleteMany({})).rejects.toBeInstanceOf(ReferentialIntegrityError);
    await expect(store.bucket('a').clear()).rejects.toBeInstanceOf(ReferentialIntegrityError);
    await store.settle();

    expect(await snapshot()).toEqual(before);
    expect(events).toEqual([]);
    // indexes still match the data
    expect((await store.bucket('b').where({ tag: 'x' })).map((r) => r.id)).toEqual(['b1', 'b2']);
    expect((await store.bucket('b').where({ aId: 'a1' })).map((r) => r.id)).toEqual(['b1', 'b2']);
    expect((await store.bucket('a').where({ label: 'L1' })).map((r) => r.id)).toEqual(['a1']);
    await expect(store.bucket('a').insert({ id: 'a9', label: 'L1' })).rejects.toThrow(/Unique/);
    // the reference index is intact: deleting the blocker makes the cascade possible
    await store.bucket('c').delete('c1');
    await store.bucket('a').delete('a1');
    expect((await store.bucket('b').all()).map((r) => r.id)).toEqual(['b3']);
    expect(await store.bucket('n').get('n1')).toMatchObject({ aId: null });
  });

  it('a record both cascaded and set_null by the same delete is simply deleted (either field order)', async () => {
    await store.defineBucket('a', { key: 'id', schema: { id: { type: 'string' } } });
    await store.defineBucket('b', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        x: { type: 'string', ref: 'a', onDelete: 'cascade' },
        y: { type: 'string', ref: 'a', onDelete: 'set_null' },
      },
    });
    await store.defineBucket('c', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        y: { type: 'string', ref: 'a', onDelete: 'set_null' },
        x: { type: 'string', ref: 'a', onDelete: 'cascade' },
      },
    });
    await store.bucket('a').insertMany([{ id: 'a1' }, { id: 'a2' }]);
    await store.bucket('b').insert({ id: 'b1', x: 'a1', y: 'a1' });
    await store.bucket('c').insert({ id: 'c1', x: 'a2', y: 'a2' });
    const events: string[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(`${e.type}:${e.bucket}:${String(e.key)}`);
    });
    await store.bucket('a').delete('a1');
    await store.bucket('a').delete('a2');
    await store.settle();
    expect(await store.bucket('a').count()).toBe(0);
    expect(await store.bucket('b').count()).toBe(0);
    expect(await store.bucket('c').count()).toBe(0);
    expect(events.sort()).toEqual(['deleted:a:a1', 'deleted:a:a2', 'deleted:b:b1', 'deleted:c:c1']);
  });

  it('a restricting referrer that the same cascade removes does not block the delete', async () => {
    await store.defineBucket('a', { key: 'id', schema: { id: { type: 'string' } } });
    await store.defineBucket('b', {
      key: 'id',
      schema: { id: { type: 'string' }, aId: { type: 'string', ref: 'a', onDelete: 'cascade' } },
    });
    // c1 restricts deleting a1, but it is itself cascaded away through b1
    await store.defineBucket('c', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        bId: { type: 'string', ref: 'b', onDelete: 'cascade' },
        aId: { type: 'string', ref: 'a' },
      },
    });
    await store.bucket('a').insert({ id: 'a1' });
    await store.bucket('b').insert({ id: 'b1', aId: 'a1' });
    await store.bucket('c').insert({ id: 'c1', bId: 'b1', aId: 'a1' });
    await store.bucket('a').delete('a1');
    expect(await store.bucket('a').count()).toBe(0);
    expect(await store.bucket('b').count()).toBe(0);
    expect(await store.bucket('c').count()).toBe(0);
  });

  it('a record that restricts only itself can be deleted', async () => {
    await store.defineBucket('people', {
      key: 'id',
      schema: { id: { type: 'string' }, mentor: { type: 'string', ref: 'people' } },
    });
    const people = store.bucket('people');
    await people.insert({ id: 'solo' });
    await people.update('solo', { mentor: 'solo' });
    await people.insert({ id: 'pupil', mentor: 'solo' });
    // still restricted by someone else
    await expect(people.delete('solo')).rejects.toBeInstanceOf(ReferentialIntegrityError);
    await people.delete('pupil');
    await people.delete('solo');
    expect(await people.count()).toBe(0);
  });

  it('clear() applies referential actions', async () => {
    const { authors, posts } = await authorsAndPosts('cascade');
    await posts.insert({ title: 'p', authorId: 'a1' });
    await authors.clear();
    expect(await authors.count()).toBe(0);
    expect(await posts.count()).toBe(0);
  });

  it('references to composite keys', async () => {
    await store.defineBucket('cells', {
      key: ['row', 'col'],
      schema: { row: { type: 'number' }, col: { type: 'number' } },
    });
    await store.defineBucket('notes', {
      key: 'id',
      schema: { id: { type: 'string' }, cell: { type: 'array', ref: 'cells', onDelete: 'cascade' } },
    });
    await store.bucket('cells').insertMany([
      { row: 1, col: 1 },
      { row: 1, col: 2 },
    ]);
    await expect(store.bucket('notes').insert({ id: 'bad', cell: [9, 9] })).rejects.toBeInstanceOf(
      ReferentialIntegrityError,
    );
    await store.bucket('notes').insert({ id: 'n', cell: [1, 2] });
    await store.bucket('cells').delete([1, 2]);
    expect(await store.bucket('notes').count()).toBe(0);
  });

  it('a dropped source bucket no longer restricts its targets', async () => {
    const { authors, posts } = await authorsAndPosts(undefined);
    await posts.insert({ title: 't', authorId: 'a1' });
    await store.dropBucket('posts');
    await authors.delete('a1');
    expect(await authors.get('a1')).toBeUndefined();
  });
});
