import { describe, expectTypeOf, it } from 'vitest';
import type {
  BucketDefinition,
  BucketHandle,
  InferInsert,
  InferRecord,
  RecordMeta,
  StoreRecord,
} from '../../src/index.js';
import { Store } from '../../src/index.js';

const userDef = {
  key: 'id',
  schema: {
    id: { type: 'string', generated: 'uuid' },
    name: { type: 'string', required: true },
    email: { type: 'string', format: 'email' },
    age: { type: 'number', min: 0 },
    role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
    active: { type: 'boolean', default: true },
    tags: { type: 'array', items: { type: 'string' } },
    address: {
      type: 'object',
      properties: { city: { type: 'string', required: true }, zip: { type: 'string' } },
    },
    meta: { type: 'object' },
    seq: { type: 'number', generated: 'autoincrement' },
  },
} as const;

type User = InferRecord<typeof userDef>;
type UserInsert = InferInsert<typeof userDef>;

describe('InferRecord (P-8)', () => {
  it('maps field types', () => {
    expectTypeOf<User['name']>().toEqualTypeOf<string>();
    expectTypeOf<User['active']>().toEqualTypeOf<boolean>();
    expectTypeOf<User['seq']>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<User['age']>>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<User['tags']>>().toEqualTypeOf<string[]>();
    expectTypeOf<NonNullable<User['address']>>().toEqualTypeOf<{ city: string; zip?: string | null }>();
    expectTypeOf<NonNullable<User['meta']>>().toEqualTypeOf<Record<string, unknown>>();
  });

  it('enum becomes a union of its values', () => {
    expectTypeOf<User['role']>().toEqualTypeOf<'admin' | 'user'>();
  });

  it('required, generated and defaulted fields are non-optional; the rest are optional', () => {
    expectTypeOf<User>().toHaveProperty('id');
    expectTypeOf<User['id']>().toEqualTypeOf<string>();
    expectTypeOf<Pick<User, 'id' | 'name' | 'role' | 'active' | 'seq'>>().toEqualTypeOf<{
      id: string;
      name: string;
      role: 'admin' | 'user';
      active: boolean;
      seq: number;
    }>();
    expectTypeOf<User['age']>().toEqualTypeOf<number | null | undefined>();
    expectTypeOf<User['email']>().toEqualTypeOf<string | null | undefined>();
    // optional in the type: `{}` is missing them without complaint
    expectTypeOf<{ name: string; id: string; role: 'user'; active: boolean; seq: number }>().toExtend<User>();
  });

  it('inserts need only required fields that are neither generated nor defaulted', () => {
    expectTypeOf<{ name: string }>().toExtend<UserInsert>();
    expectTypeOf<{}>().not.toExtend<UserInsert>();
    expectTypeOf<{ name: string; role: 'admin'; id: string; seq: number }>().toExtend<UserInsert>();
    expectTypeOf<{ name: string; role: 'owner' }>().not.toExtend<UserInsert>();
  });
});

describe('typed handles (P-8)', () => {
  it('defineBucket returns a typed handle', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);
    expectTypeOf(users).toEqualTypeOf<BucketHandle<User, UserInsert>>();

    const u = await users.insert({ name: 'Ann' });
    expectTypeOf(u).toEqualTypeOf<StoreRecord<User>>();
    expectTypeOf(u.name).toEqualTypeOf<string>();
    expectTypeOf(u.role).toEqualTypeOf<'admin' | 'user'>();
    expectTypeOf(u._version).toEqualTypeOf<number>();
    expectTypeOf(u).toExtend<RecordMeta>();

    expectTypeOf(users.get).returns.resolves.toEqualTypeOf<StoreRecord<User> | undefined>();
    expectTypeOf(users.all).returns.resolves.toEqualTypeOf<StoreRecord<User>[]>();
    expectTypeOf(users.where).returns.resolves.toEqualTypeOf<StoreRecord<User>[]>();
    expectTypeOf(users.findOne).returns.resolves.toEqualTypeOf<StoreRecord<User> | undefined>();
    expectTypeOf(users.update).returns.resolves.toEqualTypeOf<StoreRecord<User>>();
    expectTypeOf(users.insertMany).returns.resolves.toEqualTypeOf<StoreRecord<User>[]>();
    expectTypeOf(users.upsert).returns.resolves.toEqualTypeOf<StoreRecord<User>>();
    expectTypeOf(users.paginate)
      .returns.resolves.toHaveProperty('records')
      .toEqualTypeOf<StoreRecord<User>[]>();
    await store.stop();
  });

  it('a wrong field type on insert/update does not compile', async () => {
    const store = await Store.start();
    const users = await store.defineBucket('users', userDef);

    // @ts-expect-error name must be a string
    await users.insert({ name: 42 }).catch(() => {});
    // @ts-expect-error name is required
    await users.insert({ age: 3 }).catch(() => {});
    // @ts-expect-error role is an enum
    await users.insert({ name: 'A', role: 'owner' }).catch(() => {});
    // @ts-expect-error age is a number
    await users.insert({ name: 'A', age: '3' }).catch(() => {});
    // @ts-expect-error tags are strings
    await users.insert({ name: 'A', tags: [1, 2] }).catch(() => {});
    // @ts-expect-error address.city must be a string
    await users.insert({ name: 'A', address: { city: 1 } }).catch(() => {});
    // @ts-expect-error active is a boolean
    await users.update('k', { active: 'yes' }).catch(() => {});
    // @ts-expect-error role is an enum
    await users.update('k', { role: 'owner' }).catch(() => {});
    // @ts-expect-error insertMany checks every element
    await users.insertMany([{ name: 'A' }, { name: 1 }]).catch(() => {});
    // @ts-expect-error upsert is checked like insert
    await users.upsert({ name: false }).catch(() => {});

    // valid writes compile
    await users.insert({ name: 'A', age: 3, role: 'admin', tags: ['x'], address: { city: 'P' } });
    await users.update('k', { age: null }).catch(() => {});
    await store.stop();
  });

  it('store.bucket(name) is untyped unless a record type is given', async () => {
    const store = await Store.start();
    await store.defineBucket('users', userDef);
    const loose = store.bucket('users');
    expectTypeOf(loose).toEqualTypeOf<BucketHandle<Record<string, unknown>, Record<string, unknown>>>();
    const typed = store.bucket<User>('users');
    expectTypeOf(typed.get).returns.resolves.toEqualTypeOf<StoreRecord<User> | undefined>();
    await store.stop();
  });

  it('an inline definition (without as const) is inferred too', async () => {
    const store = await Store.start();
    const items = await store.defineBucket('items', {
      key: 'sku',
      schema: {
        sku: { type: 'string', required: true },
        qty: { type: 'number', default: 0 },
        kind: { type: 'string', enum: ['a', 'b'] },
      },
    });
    const r = await items.insert({ sku: 'x' });
    expectTypeOf(r.sku).toEqualTypeOf<string>();
    expectTypeOf(r.qty).toEqualTypeOf<number>();
    expectTypeOf(r.kind).toEqualTypeOf<'a' | 'b' | null | undefined>();
    // @ts-expect-error qty is a number
    await items.insert({ sku: 'y', qty: 'many' }).catch(() => {});
    // @ts-expect-error sku is required
    await items.insert({ qty: 1 }).catch(() => {});
    await store.stop();
  });

  it('a definition typed as BucketDefinition (noex-style code) stays loose and compiles as before', async () => {
    const def: BucketDefinition = { key: 'id', schema: { id: { type: 'string' }, n: { type: 'number' } } };
    expectTypeOf<InferRecord<typeof def>>().toEqualTypeOf<{ [x: string]: unknown }>();
    const store = await Store.start();
    const loose = await store.defineBucket('loose', def);
    const r = await loose.insert({ id: 'a', n: 1, undeclared: true });
    expectTypeOf(r.n).toEqualTypeOf<unknown>();
    expectTypeOf(r._version).toEqualTypeOf<number>();
    await loose.update('a', { n: 2, other: 'x' });
    await store.stop();
  });
});
