// Values that cannot be stored are refused at the door, through every write
// path, with a ValidationError naming the field; nothing reaches memory or
// storage, and the commit pipeline keeps working for everyone else. Also:
// "__proto__" is never a prototype, filters see own fields only, and deep
// filters are a typed error.
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  InvalidFilterError,
  SQLiteAdapter,
  Store,
  ValidationError,
} from '../../src/index.js';
import { tempDir } from './helpers.js';

type Rec = Record<string, any>;

const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop().catch(() => {});
});

async function open(file: string, options: { maxNestingDepth?: number } = {}): Promise<Store> {
  const s = await Store.start({
    name: 'v',
    ttlCheckIntervalMs: 0,
    ...options,
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });
  stores.push(s);
  await s.defineBucket('items', {
    key: 'id',
    schema: {
      id: { type: 'string' },
      n: { type: 'number' },
      data: { type: 'object' },
      tags: { type: 'array' },
      note: { type: 'string', default: 'none' },
      title: { type: 'string', required: true },
    },
    history: true,
  });
  return s;
}

function nested(depth: number): Rec {
  let v: Rec = { leaf: 1 };
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** The ValidationError a write fails with. */
async function refused(p: Promise<unknown>): Promise<ValidationError> {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(ValidationError);
  return e as ValidationError;
}

const circular = (): Rec => {
  const o: Rec = { x: 1 };
  o.self = o;
  return o;
};

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  toJSON() {
    throw new Error('no JSON for you');
  }
}

const BAD: Array<[string, () => Rec, string, string]> = [
  ['BigInt', () => ({ n: 10n as unknown as number }), 'n', 'unstorable'],
  ['BigInt nested', () => ({ data: { deep: [1, 2n] } }), 'data.deep[1]', 'unstorable'],
  ['circular', () => ({ data: circular() }), 'data.self', 'circular'],
  ['throwing toJSON', () => ({ data: { p: new Point(1, 2) } }), 'data.p', 'unstorable'],
  ['Map', () => ({ data: { m: new Map([[1, 2]]) } }), 'data.m', 'unstorable'],
  ['function', () => ({ data: { f: () => 1 } }), 'data.f', 'unstorable'],
  ['symbol', () => ({ data: { s: Symbol('s') } }), 'data.s', 'unstorable'],
  ['Infinity', () => ({ n: Number.POSITIVE_INFINITY }), 'n', 'non_finite'],
  ['NaN nested', () => ({ data: { v: Number.NaN } }), 'data.v', 'non_finite'],
  ['-Infinity in an array', () => ({ tags: [1, Number.NEGATIVE_INFINITY] }), 'tags[1]', 'non_finite'],
  ['undefined in an array', () => ({ tags: ['a', undefined] }), 'tags[1]', 'unstorable'],
  ['invalid Date', () => ({ data: { at: new Date(Number.NaN) } }), 'data.at', 'unstorable'],
  ['65 levels deep', () => ({ data: nested(65) }), '', 'depth'],
  ['6,000 levels deep', () => ({ data: nested(6000) }), '', 'depth'],
  [
    'nested __proto__ key',
    () => ({ data: JSON.parse('{"ok":1,"__proto__":{"polluted":true}}') }),
    'data.__proto__',
    'proto_key',
  ],
];

describe('unstorable values are rejected before they are applied', () => {
  it('insert, upsert, update, insertMany, transactions, import: ValidationError with field and code; nothing changes', async () => {
    const file = path.join(tempDir(), 'store.db');
    const s = await open(file);
    const items = s.bucket('items');
    await items.insert({ id: 'base', title: 'Base', data: { keep: true } });
    for (const [what, make, field, code] of BAD) {
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ['insert', () => items.insert({ id: 'x', title: 't', ...make() })],
        ['upsert new', () => items.upsert({ id: 'y', title: 't', ...make() })],
        ['upsert existing', () => items.upsert({ id: 'base', title: 't', ...make() })],
        ['update', () => items.update('base', make())],
        [
          'insertMany',
          () =>
            items.insertMany([
              { id: 'ok1', title: 'fine' },
              { id: 'z', title: 't', ...make() },
            ]),
        ],
        [
          'transaction',
          () =>
            s.transaction(async (tx) => {
              const b = await tx.bucket('items');
              await b.insert({ id: 'ok2', title: 'fine' });
              await b.update('base', make());
            }),
        ],
        ['updateMany', () => items.updateMany({ id: 'base' }, make())],
      ];
      for (const [path_, run] of attempts) {
        const e = await refused(run());
        // A declared field may report its schema type instead; never a silent pass.
        const issue =
          field !== ''
            ? e.issues.find((i) => i.field === field)
            : e.issues.find((i) => i.code === code && i.field.startsWith('data.a.a.a'));
        expect(issue, `${what} via ${path_}: ${e.message}`).toBeDefined();
        expect([code, 'type'], `${what} via ${path_}`).toContain(issue!.code);
      }
    }
    // import (all or nothing): the error wraps the validation failure.
    await expect(
      items.import([
        { id: 'i1', title: 'ok' },
        { id: 'i2', title: 't', n: Number.NaN },
      ] as never),
    ).rejects.toThrow(/records\[1\].*n: /);
    await expect(
      items.import([
        { id: 'i1', title: 'ok' },
        { id: 'i2', title: 't', n: Number.POSITIVE_INFINITY },
      ] as never),
    ).rejects.toThrow(/records\[1\].*n: Infinity cannot be stored/);
    expect((await items.all()).map((r) => r.id)).toEqual(['base']);
    expect((await items.get('base'))?.data).toEqual({ keep: true });
    expect((await items.get('base'))?._version).toBe(1);
    // Everything that was acknowledged is on disk; later writes still commit.
    await items.insert({ id: 'after', title: 'After' });
    await s.stop();
    const again = await open(file);
    expect((await again.bucket('items').all()).map((r) => r.id)).toEqual(['base', 'after']);
  });

  it('64 levels pass, 65 do not; maxNestingDepth is a store option', async () => {
    const s = await open(path.join(tempDir(), 'store.db'));
    await s.bucket('items').insert({ id: 'deep', title: 't', data: nested(63) });
    await refused(s.bucket('items').insert({ id: 'deeper', title: 't', data: nested(64) }));
    const tight = await open(path.join(tempDir(), 'tight.db'), { maxNestingDepth: 3 });
    await tight.bucket('items').insert({ id: 'a', title: 't', data: { b: { c: 1 } } });
    const e = await refused(
      tight.bucket('items').insert({ id: 'b', title: 't', data: { b: { c: { d: [1] } } } }),
    );
    expect(e.issues[0]).toMatchObject({ field: 'data.b.c.d', code: 'depth' });
    await expect(
      Store.start({ ttlCheckIntervalMs: 0, maxNestingDepth: 0 }).then((x) => x.stop()),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a top-level __proto__ key is refused, never becomes the prototype', async () => {
    const s = await open(path.join(tempDir(), 'store.db'));
    const items = s.bucket('items');
    const evil = JSON.parse('{"id":"p","__proto__":{"title":"from proto","note":"blocked default"}}');
    const e = await refused(items.insert(evil));
    expect(e.issues[0]).toMatchObject({ field: '__proto__', code: 'proto_key' });
    await items.insert({ id: 'q', title: 'Q' });
    await refused(items.update('q', JSON.parse('{"__proto__":{"title":"x"}}')));
    await refused(items.upsert(JSON.parse('{"id":"q","title":"Q","__proto__":{"n":1}}')));
    await refused(items.import([evil] as never).catch((x) => Promise.reject(x.cause ?? x)));
    const q = await items.get('q');
    expect(Object.getPrototypeOf(q)).toBe(Object.prototype);
    expect(await items.count()).toBe(1);
    expect(({} as Rec).title).toBeUndefined();
  });
});

describe('filters', () => {
  it('match own fields only: constructor, toString, __proto__, hasOwnProperty', async () => {
    const s = await Store.start({ ttlCheckIntervalMs: 0 });
    stores.push(s);
    const b = await s.defineBucket('things', { key: 'id', schema: { id: { type: 'string' } } });
    await b.insertMany([{ id: 'a' }, { id: 'b', toString: 'own' } as never]);
    expect(await b.count({ constructor: { $exists: true } })).toBe(0);
    expect(await b.count({ toString: { $exists: true } })).toBe(1);
    expect(await b.count({ hasOwnProperty: { $exists: true } })).toBe(0);
    expect(await b.count(JSON.parse('{"__proto__":{"$exists":true}}'))).toBe(0);
    expect(await b.count({ constructor: Object } as never)).toBe(0);
    expect(await b.count({ valueOf: { $exists: true } })).toBe(0);
    expect((await b.where({ toString: 'own' })).map((r) => r.id)).toEqual(['b']);
    expect(await b.count({ constructor: { $in: [Object] } } as never)).toBe(0);
  });

  it('a filter nested 100,000 deep is INVALID_FILTER, not a stack overflow', async () => {
    const s = await Store.start({ ttlCheckIntervalMs: 0 });
    stores.push(s);
    const b = await s.defineBucket('things', { key: 'id', schema: { id: { type: 'string' } } });
    await b.insert({ id: 'a' });
    const text = `${'{"$and":['.repeat(100_000)}{"id":"a"}${']}'.repeat(100_000)}`;
    await expect(b.where(JSON.parse(text))).rejects.toBeInstanceOf(InvalidFilterError);
    const deepValue = `{"id":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    await expect(b.count(JSON.parse(deepValue))).rejects.toBeInstanceOf(InvalidFilterError);
    // 64 levels of $and still work.
    const ok = `${'{"$and":['.repeat(60)}{"id":"a"}${']}'.repeat(60)}`;
    expect(await b.count(JSON.parse(ok))).toBe(1);
  });
});
