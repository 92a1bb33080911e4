import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DefinitionError, defineSchema, SQLiteAdapter, Store } from '../../src/index.js';

const schema = defineSchema({
  users: {
    key: 'id',
    schema: {
      id: { type: 'string', generated: 'uuid' },
      name: { type: 'string', required: true },
      age: { type: 'number' },
    },
  },
  notes: {
    key: 'id',
    schema: { id: { type: 'number', generated: 'autoincrement' }, text: { type: 'string' } },
  },
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Store.start({buckets})', () => {
  it('defines every bucket before it resolves', async () => {
    const store = await Store.start({ buckets: schema });
    expect(store.hasBucket('users')).toBe(true);
    expect(store.hasBucket('notes')).toBe(true);
    await store.bucket('users').insert({ name: 'Ann', age: 40 });
    expect(await store.bucket('users').where({ age: { $gt: 30 } })).toHaveLength(1);
    await store.stop();
  });

  it('restores stored records of a persistent store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quire-typed-'));
    dirs.push(dir);
    const path = join(dir, 'db.sqlite');
    const first = await Store.start({
      name: 'app',
      buckets: schema,
      persistence: { adapter: new SQLiteAdapter(path) },
    });
    await first.bucket('users').insert({ name: 'Bo' });
    await first.stop();
    const again = await Store.start({
      name: 'app',
      buckets: schema,
      persistence: { adapter: new SQLiteAdapter(path) },
    });
    expect((await again.bucket('users').all()).map((u) => u.name)).toEqual(['Bo']);
    await again.stop();
  });

  it('an invalid definition rejects with DefinitionError and leaves no store running', async () => {
    await expect(
      Store.start({ buckets: { bad: { key: 'nope', schema: { id: { type: 'string' } } } } }),
    ).rejects.toBeInstanceOf(DefinitionError);
  });

  it('buckets must be an object', async () => {
    await expect(Store.start({ buckets: 'users' as never })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
