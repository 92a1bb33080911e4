import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BucketNotDefinedError,
  InvalidMigrationError,
  type Migration,
  MigrationStepError,
  QuireError,
  runMigrations,
  Store,
  ValidationError,
} from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('users', {
    key: 'id',
    schema: {
      id: { type: 'string', required: true },
      name: { type: 'string', required: true },
      age: { type: 'string' },
    },
    indexes: ['name'],
  });
  await store.bucket('users').insertMany([
    { id: 'u1', name: 'Ada', age: '36' },
    { id: 'u2', name: 'Bob', age: '41' },
    { id: 'u3', name: 'Cy' },
  ]);
});

afterEach(async () => {
  await store.stop();
});

/** Everything observable about the store: bucket list, definitions, records, counters. */
async function snapshot(s: Store) {
  const names = (await s.getStats()).buckets.names;
  const out: Record<string, unknown> = {};
  for (const n of names) {
    out[n] = { definition: s.getBucketSchema(n), records: await s.bucket(n).all() };
  }
  return { names, buckets: out };
}

const m = (version: number, name: string, up: Migration['up']): Migration => ({ version, name, up });

describe('runMigrations: ordering, recording, idempotence', () => {
  it('applies pending migrations in version order and records them in _migrations', async () => {
    const order: number[] = [];
    const result = await runMigrations(store, [
      m(3, 'third', async () => void order.push(3)),
      m(1, 'first', async () => void order.push(1)),
      m(2, 'second', async () => void order.push(2)),
    ]);
    expect(result).toEqual({ applied: 3, currentVersion: 3 });
    expect(order).toEqual([1, 2, 3]);
    const log = await store.bucket('_migrations').all();
    expect(log.map((r) => [r.version, r.name])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'third'],
    ]);
    for (const r of log) expect(typeof r.appliedAt).toBe('number');
  });

  it('reruns are no-ops; new versions apply on top', async () => {
    let calls = 0;
    const list = [m(1, 'one', async () => void calls++)];
    expect(await runMigrations(store, list)).toEqual({ applied: 1, currentVersion: 1 });
    expect(await runMigrations(store, list)).toEqual({ applied: 0, currentVersion: 1 });
    expect(calls).toBe(1);
    const more = [...list, m(2, 'two', async () => void calls++)];
    expect(await runMigrations(store, more)).toEqual({ applied: 1, currentVersion: 2 });
    expect(calls).toBe(2);
  });

  it('an empty list creates the log and reports version 0', async () => {
    expect(await runMigrations(store, [])).toEqual({ applied: 0, currentVersion: 0 });
    expect(store.hasBucket('_migrations')).toBe(true);
  });

  it('concurrent calls on one store apply each migration once', async () => {
    let calls = 0;
    const list = [
      m(1, 'slow', async (ctx) => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        await ctx.bucket('users').addField('email', { type: 'string' });
      }),
    ];
    const [a, b] = await Promise.all([runMigrations(store, list), runMigrations(store, list)]);
    expect(calls).toBe(1);
    expect([a.applied, b.applied].sort()).toEqual([0, 1]);
  });
});

describe('runMigrations: validation of the list', () => {
  it.each([
    [0, 'Migration version must be a positive integer, got 0'],
    [-1, 'Migration version must be a positive integer, got -1'],
    [1.5, 'Migration version must be a positive integer, got 1.5'],
    ['2', 'Migration version must be a positive integer, got 2'],
    [Number.NaN, 'Migration version must be a positive integer, got NaN'],
  ])('rejects version %s', async (version, message) => {
    const err = await runMigrations(store, [
      { version: version as number, name: 'x', up: async () => {} },
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidMigrationError);
    expect(err).toBeInstanceOf(QuireError);
    expect(err.code).toBe('INVALID_MIGRATION');
    expect(err.message).toBe(message);
  });

  it('rejects duplicate versions before running anything', async () => {
    let ran = false;
    const err = await runMigrations(store, [
      m(1, 'a', async () => void (ran = true)),
      m(2, 'b', async () => {}),
      m(1, 'c', async () => {}),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidMigrationError);
    expect(err.message).toBe('Duplicate migration version: 1');
    expect(ran).toBe(false);
    expect(store.hasBucket('_migrations')).toBe(false);
  });

  it('rejects an empty name, a missing up and a non-array', async () => {
    await expect(runMigrations(store, [m(1, '', async () => {})])).rejects.toThrow(
      'Migration version 1 must have a non-empty name',
    );
    await expect(runMigrations(store, [{ version: 1, name: 'x' } as unknown as Migration])).rejects.toThrow(
      'Migration version 1 ("x") must have an up function',
    );
    await expect(runMigrations(store, {} as unknown as Migration[])).rejects.toThrow(
      /runMigrations: invalid migrations/,
    );
    await expect(runMigrations(store, [null as unknown as Migration])).rejects.toBeInstanceOf(
      InvalidMigrationError,
    );
  });
});

describe('migration context operations', () => {
  it('addField fills existing records with the default value (or the field default)', async () => {
    await runMigrations(store, [
      m(1, 'email', async (ctx) => {
        await ctx.bucket('users').addField('email', { type: 'string' }, 'none@example.com');
        await ctx.bucket('users').addField('active', { type: 'boolean', default: true });
        await ctx.bucket('users').addField('note', { type: 'string' });
      }),
    ]);
    const u1 = await store.bucket('users').get('u1');
    expect(u1).toMatchObject({ email: 'none@example.com', active: true, _version: 1 });
    expect(u1).not.toHaveProperty('note');
    expect(Object.keys(store.getBucketSchema('users')!.schema)).toEqual([
      'id',
      'name',
      'age',
      'email',
      'active',
      'note',
    ]);
    // New inserts follow the new schema.
    const u4 = await store.bucket('users').insert({ id: 'u4', name: 'Di' });
    expect(u4.active).toBe(true);
  });

  it('addField of a required field without a default fails when records lack it', async () => {
    const before = await snapshot(store);
    const err = await runMigrations(store, [
      m(1, 'req', async (ctx) => ctx.bucket('users').addField('email', { type: 'string', required: true })),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toContain('email');
    expect(await snapshot(store)).toEqual({
      names: [...before.names, '_migrations'],
      buckets: { ...before.buckets, _migrations: expect.anything() },
    });
    expect(await store.bucket('_migrations').count()).toBe(0);
  });

  it('addField rejects an existing field', async () => {
    const err = await runMigrations(store, [
      m(1, 'dup', async (ctx) => ctx.bucket('users').addField('name', { type: 'string' })),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationStepError);
    expect(err.code).toBe('INVALID_MIGRATION_STEP');
    expect(err.message).toBe('Field "name" already exists in bucket "users"');
  });

  it('removeField drops it from the schema, every record and its indexes', async () => {
    await runMigrations(store, [m(1, 'rm', async (ctx) => ctx.bucket('users').removeField('name'))]);
    const def = store.getBucketSchema('users')!;
    expect(Object.keys(def.schema)).toEqual(['id', 'age']);
    expect(def.indexes).toBeUndefined();
    for (const r of await store.bucket('users').all()) expect(r).not.toHaveProperty('name');
    expect((await store.getStats()).indexes.perBucket.users).toBe(0);
  });

  it('renameField moves values, keeps the position in the schema and renames indexes', async () => {
    await runMigrations(store, [
      m(1, 'mv', async (ctx) => ctx.bucket('users').renameField('name', 'fullName')),
    ]);
    const def = store.getBucketSchema('users')!;
    expect(Object.keys(def.schema)).toEqual(['id', 'fullName', 'age']);
    expect(def.indexes).toEqual(['fullName']);
    expect(await store.bucket('users').where({ fullName: 'Bob' })).toMatchObject([
      { id: 'u2', fullName: 'Bob' },
    ]);
    expect(await store.bucket('users').get('u1')).not.toHaveProperty('name');
  });

  it('renameField rejects a missing source and an existing target', async () => {
    await expect(
      runMigrations(store, [m(1, 'a', async (ctx) => ctx.bucket('users').renameField('nope', 'x'))]),
    ).rejects.toThrow('Field "nope" does not exist in bucket "users"');
    await expect(
      runMigrations(store, [m(1, 'a', async (ctx) => ctx.bucket('users').renameField('name', 'age'))]),
    ).rejects.toThrow('Field "age" already exists in bucket "users"');
  });

  it('changeFieldType converts every non-null value and validates the result', async () => {
    await runMigrations(store, [
      m(1, 'age', async (ctx) => ctx.bucket('users').changeFieldType('age', 'number', (v) => Number(v))),
    ]);
    expect(store.getBucketSchema('users')!.schema.age).toEqual({ type: 'number' });
    expect((await store.bucket('users').all()).map((r) => r.age)).toEqual([36, 41, undefined]);
    // A transform that yields the wrong type fails validation.
    const err = await runMigrations(store, [
      m(2, 'bad', async (ctx) => ctx.bucket('users').changeFieldType('name', 'number', (v) => v)),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(store.getBucketSchema('users')!.schema.name).toEqual({ type: 'string', required: true });
  });

  it.each([
    [
      'renameField',
      (ctx: any) => ctx.bucket('users').renameField('id', 'userId'),
      'Cannot rename key field "id" in bucket "users"',
    ],
    [
      'removeField',
      (ctx: any) => ctx.bucket('users').removeField('id'),
      'Cannot remove key field "id" from bucket "users"',
    ],
    [
      'changeFieldType',
      (ctx: any) => ctx.bucket('users').changeFieldType('id', 'number', Number),
      'Cannot change type of key field "id" in bucket "users"',
    ],
  ])('%s of the key field is rejected', async (_op, up, message) => {
    const err = await runMigrations(store, [m(1, 'key', up)]).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationStepError);
    expect(err.message).toBe(message);
    expect(err.bucket).toBe('users');
    expect(err.field).toBe('id');
  });

  it('key-field protection covers every field of a composite key', async () => {
    await store.defineBucket('flags', {
      key: ['ns', 'feature'],
      schema: { ns: { type: 'string', required: true }, feature: { type: 'string', required: true } },
    });
    await expect(
      runMigrations(store, [m(1, 'k', async (ctx) => ctx.bucket('flags').removeField('feature'))]),
    ).rejects.toThrow('Cannot remove key field "feature" from bucket "flags"');
  });

  it('removeField / changeFieldType of a missing field', async () => {
    await expect(
      runMigrations(store, [m(1, 'a', async (ctx) => ctx.bucket('users').removeField('ghost'))]),
    ).rejects.toThrow('Field "ghost" does not exist in bucket "users"');
    await expect(
      runMigrations(store, [
        m(1, 'a', async (ctx) => ctx.bucket('users').changeFieldType('ghost', 'number', Number)),
      ]),
    ).rejects.toThrow('Field "ghost" does not exist in bucket "users"');
  });

  it('operations on an unknown bucket throw BucketNotDefinedError', async () => {
    const err = await runMigrations(store, [
      m(1, 'a', async (ctx) => ctx.bucket('ghosts').addField('x', { type: 'string' })),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(BucketNotDefinedError);
    // noex-store's wording, which programs match on.
    expect(err.message).toBe('Bucket "ghosts" does not exist');
    // store.bucket() keeps its own wording.
    expect(() => store.bucket('ghosts')).toThrow('Bucket "ghosts" is not defined');
  });

  it('addIndex / removeIndex', async () => {
    await runMigrations(store, [
      m(1, 'ix', async (ctx) => {
        await ctx.bucket('users').addIndex('age');
        await ctx.bucket('users').removeIndex('name');
        await ctx.bucket('users').addIndex({ fields: 'name', sorted: true });
      }),
    ]);
    expect(store.getBucketSchema('users')!.indexes).toEqual(['age', { fields: 'name', sorted: true }]);
    expect(await store.bucket('users').where({ age: '41' })).toHaveLength(1);
    await expect(
      runMigrations(store, [m(2, 'rm', async (ctx) => ctx.bucket('users').removeIndex('id'))]),
    ).rejects.toThrow('Index on field "id" does not exist in bucket "users"');
    await expect(
      runMigrations(store, [m(2, 'add', async (ctx) => ctx.bucket('users').addIndex('ghost'))]),
    ).rejects.toThrow(/Index field "ghost" does not exist/);
    await runMigrations(store, [m(2, 'rm-sorted', async (ctx) => ctx.bucket('users').removeIndex('name'))]);
    expect(store.getBucketSchema('users')!.indexes).toEqual(['age']);
  });

  it('transformAll rewrites every record; it gets a copy and metadata it omits is kept', async () => {
    const before = await store.bucket('users').get('u1');
    await runMigrations(store, [
      m(1, 'upper', async (ctx) =>
        ctx.bucket('users').transformAll((r) => {
          r.name = String(r.name).toUpperCase();
          return { id: r.id, name: r.name, age: r.age };
        }),
      ),
    ]);
    const after = await store.bucket('users').get('u1');
    expect(after).toMatchObject({ name: 'ADA', _version: before!._version, _createdAt: before!._createdAt });
    expect(before!.name).toBe('Ada'); // the stored record object was not mutated
    expect(await store.bucket('users').where({ name: 'BOB' })).toHaveLength(1); // index rebuilt
  });

  it('transformAll returning a non-object fails with the key in the message', async () => {
    const err = await runMigrations(store, [
      m(1, 'bad', async (ctx) =>
        ctx.bucket('users').transformAll(() => null as unknown as Record<string, unknown>),
      ),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationStepError);
    expect(err.message).toBe(
      'transformAll in bucket "users" returned null instead of a record (for key "u1")',
    );
  });

  it('createBucket and dropBucket', async () => {
    await runMigrations(store, [
      m(1, 'buckets', async (ctx) => {
        await ctx.createBucket('tags', { key: 'tag', schema: { tag: { type: 'string', required: true } } });
        await ctx.dropBucket('users');
      }),
    ]);
    expect(store.hasBucket('tags')).toBe(true);
    expect(store.hasBucket('users')).toBe(false);
  });
});

describe('each migration is atomic', () => {
  it('a migration that throws halfway leaves the store exactly as before; the error propagates unchanged', async () => {
    await store.defineBucket('legacy', { key: 'id', schema: { id: { type: 'number', required: true } } });
    await store.bucket('legacy').insert({ id: 1 });
    await runMigrations(store, [m(1, 'ok', async (ctx) => ctx.bucket('users').addIndex('age'))]);
    const before = await snapshot(store);
    const boom = new Error('boom');
    const err = await runMigrations(store, [
      m(1, 'ok', async () => {}),
      m(2, 'halfway', async (ctx) => {
        await ctx.bucket('users').addField('email', { type: 'string' }, 'x@example.com');
        await ctx.createBucket('audit', { key: 'id', schema: { id: { type: 'string', required: true } } });
        await store.bucket('audit').insert({ id: 'a1' });
        await store.bucket('users').update('u2', { name: 'Robert' });
        await store.bucket('legacy').insert({ id: 2 });
        await ctx.bucket('users').renameField('name', 'fullName');
        await ctx.bucket('users').transformAll((r) => ({ ...r, age: '0' }));
        await ctx.dropBucket('legacy');
        await ctx.bucket('users').removeIndex('age');
        throw boom;
      }),
    ]).catch((e) => e);
    expect(err).toBe(boom);
    expect(await snapshot(store)).toEqual(before);
    // Indexes and unique checks work on the restored state.
    expect(await store.bucket('users').where({ name: 'Bob' })).toHaveLength(1);
    expect(await store.bucket('users').where({ age: '41' })).toHaveLength(1);
    await expect(store.bucket('users').insert({ id: 'u1', name: 'dup' })).rejects.toThrow(/Duplicate key/);
    expect((await store.bucket('_migrations').all()).map((r) => r.version)).toEqual([1]);
    // A fixed migration 2 then applies.
    expect(
      await runMigrations(store, [m(2, 'fixed', async (ctx) => ctx.bucket('users').addIndex('name'))]),
    ).toEqual({
      applied: 1,
      currentVersion: 2,
    });
  });

  it('stops at the failing migration: earlier ones stay applied, later ones do not run', async () => {
    let ran3 = false;
    const err = await runMigrations(store, [
      m(1, 'a', async (ctx) => ctx.bucket('users').addField('email', { type: 'string' })),
      m(2, 'b', async (ctx) => {
        await ctx.bucket('users').addField('phone', { type: 'string' });
        throw new TypeError('nope');
      }),
      m(3, 'c', async () => void (ran3 = true)),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(ran3).toBe(false);
    expect(Object.keys(store.getBucketSchema('users')!.schema)).toContain('email');
    expect(Object.keys(store.getBucketSchema('users')!.schema)).not.toContain('phone');
    expect((await store.bucket('_migrations').all()).map((r) => r.version)).toEqual([1]);
  });

  it('a step started without await that fails still fails (and rolls back) its migration', async () => {
    const before = await snapshot(store);
    const err = await runMigrations(store, [
      m(1, 'forgot-await', async (ctx) => {
        void ctx.bucket('users').addField('email', { type: 'string' });
        void ctx.bucket('users').removeField('id');
      }),
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationStepError);
    const after = await snapshot(store);
    expect(after.buckets.users).toEqual(before.buckets.users);
  });

  it('reactive queries see the migrated data after commit and the original after a rollback', async () => {
    store.defineQuery('names', async (ctx) =>
      (await ctx.bucket('users').all()).map((r) => r.name ?? r.fullName),
    );
    const seen: unknown[] = [];
    await store.subscribe('names', (v) => seen.push(v));
    await runMigrations(store, [
      m(1, 'rename', async (ctx) => ctx.bucket('users').transformAll((r) => ({ ...r, name: `${r.name}!` }))),
    ]);
    await store.settle();
    expect(seen.at(-1)).toEqual(['Ada!', 'Bob!', 'Cy!']);
    await runMigrations(store, [
      m(2, 'fails', async (ctx) => {
        await ctx.bucket('users').transformAll((r) => ({ ...r, name: 'X' }));
        throw new Error('no');
      }),
    ]).catch(() => {});
    await store.settle();
    expect(await store.runQuery('names')).toEqual(['Ada!', 'Bob!', 'Cy!']);
  });

  it('the context cannot be used after its migration ended', async () => {
    let saved: any;
    await runMigrations(store, [m(1, 'keep', async (ctx) => void (saved = ctx))]);
    await expect(saved.bucket('users').addField('x', { type: 'string' })).rejects.toThrow(
      /used after that migration ended/,
    );
  });
});

describe('misuse', () => {
  it('runMigrations from inside a migration of the same store fails instead of waiting for itself', async () => {
    const err = await runMigrations(store, [
      m(1, 'outer', async () => {
        await runMigrations(store, [m(2, 'inner', async () => {})]);
      }),
    ]).catch((e) => e);
    expect(err.message).toBe(
      'runMigrations: invalid store: cannot run migrations from inside a migration of the same store',
    );
    expect(await store.bucket('_migrations').count()).toBe(0);
  });

  it('a stopped store rejects', async () => {
    const other = await Store.start();
    await other.stop();
    await expect(runMigrations(other, [])).rejects.toThrow();
  });
});
