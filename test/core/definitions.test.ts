// SPEC §4 for definitions: every invalid BucketDefinition is rejected with a
// DefinitionError that names what is wrong and where, and nothing is created.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BucketAlreadyExistsError, DefinitionError, QuireError, Store } from '../../src/index.js';
import { rejects } from './helpers.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start();
});
afterEach(async () => {
  await store.stop();
});

const base = { id: { type: 'string' } } as const;

async function rejectsDefinition(name: string, def: unknown, message: string | RegExp) {
  const e = await rejects(() => store.defineBucket(name, def as any), DefinitionError);
  expect(e.name).toBe('DefinitionError');
  expect(e).toBeInstanceOf(QuireError);
  expect(e).toBeInstanceOf(Error);
  if (typeof message === 'string') expect(e.message).toContain(message);
  else expect(e.message).toMatch(message);
  expect(store.hasBucket(name)).toBe(false);
  return e;
}

describe('invalid definitions', () => {
  it('key not in schema (noex message)', async () => {
    const e = await rejectsDefinition(
      'b',
      { key: 'nope', schema: base },
      'Key field "nope" does not exist in schema for bucket "b"',
    );
    expect(e.bucket).toBe('b');
    await rejectsDefinition('b', { key: ['id', 'nope'], schema: base }, 'Key field "nope" does not exist');
    await rejectsDefinition('b', { key: [], schema: base }, 'at least one field');
    await rejectsDefinition('b', { key: 5, schema: base }, 'Key of bucket "b"');
    await rejectsDefinition('b', { schema: base }, 'Key of bucket "b"');
    await rejectsDefinition('b', { key: ['id', 'id'], schema: base }, 'repeats');
  });

  it('index on a missing field (noex message)', async () => {
    await rejectsDefinition(
      'b',
      { key: 'id', schema: base, indexes: ['ghost'] },
      'Index field "ghost" does not exist in schema for bucket "b"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: base, indexes: [['id', 'ghost']] },
      'Index field "ghost" does not exist',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: base, indexes: [{ fields: 'ghost', sorted: true }] },
      'Index field "ghost" does not exist',
    );
    await rejectsDefinition('b', { key: 'id', schema: base, indexes: [[]] }, 'at least one field');
    await rejectsDefinition('b', { key: 'id', schema: base, indexes: [42] }, 'Invalid index');
    await rejectsDefinition('b', { key: 'id', schema: base, indexes: 'id' }, 'must be an array');
  });

  it('bad regex pattern', async () => {
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, code: { type: 'string', pattern: '([a-z' } } },
      /Invalid pattern for field "code" of bucket "b"/,
    );
    await rejectsDefinition(
      'b',
      {
        key: 'id',
        schema: { ...base, addr: { type: 'object', properties: { zip: { type: 'string', pattern: '[' } } } },
      },
      'field "addr.zip"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, code: { type: 'string', pattern: 5 } } },
      'pattern of field "code"',
    );
  });

  it('negative, zero or malformed ttl; bad maxSize', async () => {
    for (const ttl of [-1, 0, Number.NaN, Number.POSITIVE_INFINITY, '-5s', '10 parsecs', '', 'h', {}]) {
      await rejectsDefinition('b', { key: 'id', schema: base, ttl }, 'Invalid ttl for bucket "b"');
    }
    for (const maxSize of [0, -1, 1.5, '10']) {
      await rejectsDefinition('b', { key: 'id', schema: base, maxSize }, 'maxSize of bucket "b"');
    }
    // valid forms are accepted
    for (const [i, ttl] of [1000, '30s', '15m', '1h', '7d', '1.5h'].entries()) {
      await store.defineBucket(`ok${i}`, { key: 'id', schema: base, ttl });
    }
  });

  it('unknown and unsupported etsType', async () => {
    await rejectsDefinition('b', { key: 'id', schema: base, etsType: 'hash' }, 'Unknown etsType "hash"');
    await rejectsDefinition(
      'b',
      { key: 'id', schema: base, etsType: 'bag' },
      'etsType "bag" is not supported',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: base, etsType: 'duplicate_bag' },
      'etsType "duplicate_bag" is not supported',
    );
  });

  it('unknown field type, generated, format, options', async () => {
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'text' } } },
      'Unknown type "text"',
    );
    await rejectsDefinition('b', { key: 'id', schema: { ...base, x: {} } }, 'Unknown type "undefined"');
    await rejectsDefinition('b', { key: 'id', schema: { ...base, x: null } }, 'field "x"');
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', generated: 'guid' } } },
      'Unknown generated "guid"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', format: 'phone' } } },
      'Unknown format "phone"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', enum: 'a' } } },
      'enum of field "x"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'number', min: 5, max: 1 } } },
      'min',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', minLength: -1 } } },
      'must not be negative',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', properties: {} } } },
      'properties of field "x"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'array', items: { type: 'nope' } } } },
      'Unknown type "nope" for field "x[]"',
    );
    await rejectsDefinition(
      'b',
      { key: 'id', schema: { ...base, x: { type: 'string', validate: 'yes' } } },
      'validate of field "x"',
    );
    await rejectsDefinition('b', { key: 'id', schema: base, validate: 1 }, 'validate of bucket "b"');
    await rejectsDefinition('b', { key: 'id', schema: base, persistent: 'no' }, 'persistent');
    await rejectsDefinition('b', { key: 'id', schema: base, color: 'red' }, 'Unknown option "color"');
    await rejectsDefinition('b', { key: 'id', schema: null }, 'Schema of bucket "b"');
    await rejectsDefinition('b', { key: 'id', schema: [] }, 'Schema of bucket "b"');
    await rejectsDefinition('b', null, 'must be an object');
    await rejectsDefinition('', { key: 'id', schema: base }, 'Invalid bucket name');
    await rejectsDefinition('__proto__', { key: 'id', schema: base }, 'Invalid bucket name "__proto__"');
  });

  it('references: set_null on a required field, bad onDelete, onDelete without ref', async () => {
    await store.defineBucket('users', { key: 'id', schema: base });
    await rejectsDefinition(
      'posts',
      {
        key: 'id',
        schema: { ...base, author: { type: 'string', ref: 'users', onDelete: 'set_null', required: true } },
      },
      'Invalid schema for bucket "posts": field "author" has onDelete "set_null" but is required',
    );
    await rejectsDefinition(
      'posts',
      { key: 'id', schema: { ...base, author: { type: 'string', ref: 'users', onDelete: 'explode' } } },
      'onDelete must be restrict, cascade or set_null',
    );
    await rejectsDefinition(
      'posts',
      { key: 'id', schema: { ...base, author: { type: 'string', onDelete: 'cascade' } } },
      'needs ref',
    );
  });

  it('unique on object/array fields is rejected', async () => {
    await rejectsDefinition(
      'b',
      {
        key: 'id',
        schema: { ...base, tags: { type: 'array' } },
        indexes: [{ fields: 'tags', unique: true }],
      },
      'cannot be unique',
    );
  });

  it('a rejected definition leaves the store as it was; the name stays usable', async () => {
    await rejectsDefinition('b', { key: 'nope', schema: base }, 'Key field');
    const stats = await store.getStats();
    expect(stats.buckets).toEqual({ count: 0, names: [] });
    const b = await store.defineBucket('b', { key: 'id', schema: base });
    await b.insert({ id: 'x' });
    // and a duplicate definition does not replace the existing bucket
    await rejects(
      () => store.defineBucket('b', { key: 'nope', schema: base } as any),
      BucketAlreadyExistsError,
    );
    expect(await b.count()).toBe(1);
  });
});
