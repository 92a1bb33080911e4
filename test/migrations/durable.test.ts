// Migrations with durable storage: the migrated state (definitions and
// records) survives a restart, and a failed migration leaves nothing on disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  type BucketDefinition,
  MemoryAdapter,
  type Migration,
  runMigrations,
  SQLiteAdapter,
  Store,
} from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema } from '../persistence/helpers.js';

let dir: string;
let file: string;
let memory: MemoryAdapter;
let pgStore: string;
let adapterKind: 'sqlite' | 'memory' | 'postgres';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-migrations-'));
  file = join(dir, 'store.db');
  memory = new MemoryAdapter();
  pgStore = pgSchema();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const usersV1 = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    name: { type: 'string', required: true },
    age: { type: 'string' },
  },
} as const satisfies BucketDefinition;

const usersV2 = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    fullName: { type: 'string', required: true },
    age: { type: 'number' },
    email: { type: 'string' },
  },
  indexes: ['email'],
} as const satisfies BucketDefinition;

const migrationLog = {
  key: 'version',
  schema: {
    version: { type: 'number', required: true },
    name: { type: 'string', required: true },
    appliedAt: { type: 'number', required: true },
  },
} as const satisfies BucketDefinition;

const tagsDef = { key: 'tag', schema: { tag: { type: 'string', required: true } } } as const;

const v2: Migration = {
  version: 1,
  name: 'users-v2',
  up: async (ctx) => {
    const users = ctx.bucket('users');
    await users.renameField('name', 'fullName');
    await users.changeFieldType('age', 'number', (v) => Number(v));
    await users.addField('email', { type: 'string' }, 'unknown@example.com');
    await users.addIndex('email');
    await ctx.createBucket('tags', tagsDef);
    await ctx.dropBucket('legacy');
  },
};

async function open(strict = false): Promise<Store> {
  return Store.start({
    name: 'app',
    ttlCheckIntervalMs: 0,
    persistence: {
      adapter:
        adapterKind === 'sqlite'
          ? new SQLiteAdapter(file)
          : adapterKind === 'postgres'
            ? new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema: pgStore })
            : memory,
      durability: strict ? 'strict' : 'debounced',
    },
  });
}

async function seed(): Promise<void> {
  const store = await open();
  await store.defineBucket('users', usersV1);
  await store.defineBucket('legacy', { key: 'id', schema: { id: { type: 'number', required: true } } });
  await store.bucket('users').insertMany([
    { id: 'u1', name: 'Ada', age: '36' },
    { id: 'u2', name: 'Bob', age: '41' },
  ]);
  await store.bucket('legacy').insert({ id: 1 });
  await store.stop();
}

describe.each(['sqlite', 'memory', 'postgres'] as const)('durable migrations (%s adapter)', (kind) => {
  beforeEach(() => {
    adapterKind = kind;
  });

  for (const strict of [false, true]) {
    it(`a migration survives a restart (${strict ? 'strict' : 'debounced'})`, async () => {
      await seed();
      let store = await open(strict);
      await store.defineBucket('users', usersV1);
      await store.defineBucket('legacy', { key: 'id', schema: { id: { type: 'number', required: true } } });
      expect(await runMigrations(store, [v2])).toEqual({ applied: 1, currentVersion: 1 });
      await store.bucket('tags').insert({ tag: 'new' });
      await store.stop();

      store = await open(strict);
      // The stored definitions are the migrated ones: defining with them restores the migrated records.
      const users = await store.defineBucket('users', usersV2);
      const tags = await store.defineBucket('tags', tagsDef);
      await store.defineBucket('_migrations', migrationLog);
      expect(await users.all()).toMatchObject([
        { id: 'u1', fullName: 'Ada', age: 36, email: 'unknown@example.com' },
        { id: 'u2', fullName: 'Bob', age: 41, email: 'unknown@example.com' },
      ]);
      expect(await tags.all()).toMatchObject([{ tag: 'new' }]);
      // The dropped bucket is gone from storage: defining it again starts empty.
      const legacy = await store.defineBucket('legacy', {
        key: 'id',
        schema: { id: { type: 'number', required: true } },
      });
      expect(await legacy.count()).toBe(0);
      // Rerun after the restart: a no-op.
      expect(await runMigrations(store, [v2])).toEqual({ applied: 0, currentVersion: 1 });
      await store.stop();
    });
  }

  it('nothing a running migration defines reaches storage before it ends, even when the store flushes meanwhile', async () => {
    await seed();
    const store = await open();
    await store.defineBucket('users', usersV1);
    await store.defineBucket('legacy', { key: 'id', schema: { id: { type: 'number', required: true } } });
    // A second connection to the same storage sees what a crash at this moment would leave.
    const observer =
      kind === 'sqlite'
        ? new SQLiteAdapter(file, { readOnly: true })
        : kind === 'postgres'
          ? new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema: pgStore })
          : memory;
    let midway: unknown = 'not reached';
    await runMigrations(store, [
      {
        version: 1,
        name: 'creates tags',
        up: async (ctx) => {
          await ctx.createBucket('tags', tagsDef);
          await store.bucket('tags').insert({ tag: 'x' });
          await store.flush();
          midway = await observer.loadBucket('app', 'tags');
        },
      },
    ]);
    expect(midway).toBeUndefined();
    await store.flush();
    const after = await observer.loadBucket('app', 'tags');
    expect(after?.definition).toBeDefined();
    expect([...(after?.records ?? [])].length).toBe(1);
    await store.stop();
    if (observer !== memory) await (observer as { close(): unknown }).close();
  });

  it('a failed migration leaves storage as it was (also writes made inside it)', async () => {
    await seed();
    let store = await open();
    await store.defineBucket('users', usersV1);
    await store.defineBucket('legacy', { key: 'id', schema: { id: { type: 'number', required: true } } });
    await expect(
      runMigrations(store, [
        {
          version: 1,
          name: 'fails',
          up: async (ctx) => {
            await store.bucket('legacy').insert({ id: 2 }); // an ordinary write inside the migration
            await ctx.bucket('users').renameField('name', 'fullName');
            await ctx.createBucket('tags', tagsDef);
            await store.bucket('tags').insert({ tag: 'x' });
            await ctx.dropBucket('legacy');
            throw new Error('halfway');
          },
        },
      ]),
    ).rejects.toThrow('halfway');
    await store.flush();
    await store.stop();

    store = await open();
    const users = await store.defineBucket('users', usersV1);
    const legacy = await store.defineBucket('legacy', {
      key: 'id',
      schema: { id: { type: 'number', required: true } },
    });
    const tags = await store.defineBucket('tags', tagsDef);
    const log = await store.defineBucket('_migrations', migrationLog);
    expect((await users.all()).map((r) => r.name)).toEqual(['Ada', 'Bob']);
    expect((await legacy.all()).map((r) => r.id)).toEqual([1]);
    expect(await tags.count()).toBe(0);
    expect(await log.count()).toBe(0);
    await store.stop();
  });
});
