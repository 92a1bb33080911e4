// P-5 stored definitions: compatible changes apply themselves and are
// stored; incompatible ones fail with SchemaMismatchError saying what
// differs and how to migrate; data is never dropped.
import { describe, expect, it } from 'vitest';
import { SchemaMismatchError, Store } from '../../src/index.js';
import { type Backend, backends } from './helpers.js';

const base = {
  key: 'id',
  schema: { id: { type: 'number' }, name: { type: 'string' }, age: { type: 'number' } },
} as const;

async function seeded(backend: Backend, records: Array<Record<string, unknown>>, def: object = base) {
  const storage = backend.fresh();
  const s = await Store.start({ name: 'd', persistence: { adapter: storage.adapter() } });
  const b = await s.defineBucket('people', def as typeof base);
  for (const r of records) await b.insert(r as never);
  await s.stop();
  return async (next: object) => {
    const st = await Store.start({ name: 'd', persistence: { adapter: storage.adapter() } });
    try {
      const h = await st.defineBucket('people', next as typeof base);
      return { store: st, bucket: h };
    } catch (e) {
      await st.stop();
      throw e;
    }
  };
}

describe.each(backends())('stored definitions (P-5) on $kind', (backend) => {
  it('stores the JSON part of the definition and records which functions it had', async () => {
    const storage = backend.fresh();
    const s = await Store.start({
      name: 'd',
      persistence: { adapter: storage.adapter(), durability: 'strict' },
    });
    await s.defineBucket('x', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        n: { type: 'string', default: () => 'gen', validate: () => undefined },
      },
      validate: () => undefined,
    });
    await s.flush();
    const stored = JSON.parse(
      (await storage.query('SELECT definition FROM quire_buckets'))[0]!.definition as string,
    );
    expect(stored.definition.schema.n).toEqual({ type: 'string' });
    expect(stored.functions.sort()).toEqual(['schema.n.default', 'schema.n.validate', 'validate']);
    await s.stop();
  });

  it('compatible: new optional field, field with default (filled and stored), new index', async () => {
    const reopen = await seeded(backend, [
      { id: 1, name: 'a', age: 30 },
      { id: 2, name: 'b', age: 40 },
    ]);
    const next = {
      key: 'id',
      schema: {
        ...base.schema,
        nick: { type: 'string' },
        tier: { type: 'string', default: 'free', required: true },
      },
      indexes: ['age'],
    };
    const { store, bucket } = await reopen(next);
    expect(await bucket.get(1)).toMatchObject({ tier: 'free' });
    expect((await bucket.where({ age: 40 })).map((r) => r.id)).toEqual([2]);
    await store.stop();
    // the new definition and the filled defaults were stored: an identical reopen has nothing to reconcile
    const again = await reopen(next);
    expect(await again.bucket.get(2)).toMatchObject({ tier: 'free' });
    await again.store.stop();
  });

  it('incompatible: key changed', async () => {
    const reopen = await seeded(backend, [{ id: 1, name: 'a', age: 1 }]);
    const err = await reopen({ ...base, key: 'name' }).catch((e) => e);
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect(err.code).toBe('SCHEMA_MISMATCH');
    expect(err.message).toMatch(/key changed from \[id\] to \[name\]/);
    expect(err.message).toMatch(/runMigrations/);
    expect(err.storedDefinition).toMatchObject({ key: 'id' });
    // nothing was dropped: the stored definition still opens the data
    const ok = await reopen(err.storedDefinition);
    expect(await ok.bucket.count()).toBe(1);
    await ok.store.stop();
  });

  it('incompatible: field type changed with data of the old type', async () => {
    const reopen = await seeded(backend, [{ id: 1, name: 'a', age: 30 }]);
    const err = await reopen({ ...base, schema: { ...base.schema, age: { type: 'string' } } }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect(err.message).toMatch(/field "age": type changed from number to string/);
    expect(err.message).toMatch(/stored record "1" fails/);
    expect(err.message).toMatch(/changeFieldType/);
  });

  it('incompatible: field became required without a default while records lack it', async () => {
    const reopen = await seeded(backend, [{ id: 1, age: 3 }]);
    const err = await reopen({
      ...base,
      schema: { ...base.schema, name: { type: 'string', required: true } },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect(err.message).toMatch(/became required without a default/);
  });

  it('incompatible: unique added where stored data conflicts; compatible where it does not', async () => {
    const reopen = await seeded(backend, [
      { id: 1, name: 'same', age: 1 },
      { id: 2, name: 'same', age: 2 },
    ]);
    const err = await reopen({
      ...base,
      schema: { ...base.schema, name: { type: 'string', unique: true } },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect(err.message).toMatch(/became unique/);
    expect(err.message).toMatch(/conflict/);
    const ok = await reopen({ ...base, schema: { ...base.schema, age: { type: 'number', unique: true } } });
    expect(await ok.bucket.count()).toBe(2);
    await ok.store.stop();
  });

  it('a removed field keeps its stored values (undeclared fields pass through)', async () => {
    const reopen = await seeded(backend, [{ id: 1, name: 'a', age: 3 }]);
    const { store, bucket } = await reopen({
      key: 'id',
      schema: { id: { type: 'number' }, name: { type: 'string' } },
    });
    expect(await bucket.get(1)).toMatchObject({ age: 3 });
    await store.stop();
  });
});
