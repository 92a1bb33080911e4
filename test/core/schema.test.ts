// C-3 schema validation and C-4 record metadata.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateKeyError, Store, ValidationError } from '../../src/index.js';
import { rejects } from './helpers.js';

let store: Store;
beforeEach(async () => {
  store = await Store.start();
});
afterEach(async () => {
  await store.stop();
});

async function issuesOf(fn: () => Promise<unknown>) {
  const e = await rejects(fn, ValidationError);
  expect(e.name).toBe('ValidationError');
  return e.issues;
}

describe('C-3 types', () => {
  it('checks every field type with code "type"', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        s: { type: 'string' },
        n: { type: 'number' },
        bo: { type: 'boolean' },
        o: { type: 'object' },
        a: { type: 'array' },
        d: { type: 'date' },
      },
    });
    const ok = await b.insert({
      id: 1,
      s: 'x',
      n: 1.5,
      bo: false,
      o: { any: 1 },
      a: [1, 'x'],
      d: '2024-01-01',
    });
    expect(ok.s).toBe('x');
    // date accepts Date objects, numbers and strings
    await b.insert({ id: 2, d: new Date(0) });
    await b.insert({ id: 3, d: 1700000000000 });
    const issues = await issuesOf(() =>
      b.insert({ id: 4, s: 1, n: 'x', bo: 'yes', o: [], a: {}, d: true } as any),
    );
    expect(issues.map((i) => [i.field, i.code])).toEqual([
      ['s', 'type'],
      ['n', 'type'],
      ['bo', 'type'],
      ['o', 'type'],
      ['a', 'type'],
      ['d', 'type'],
    ]);
    expect(issues[0]!.message).toBe('Expected type "string", got number');
    expect(issues[3]!.message).toBe('Expected type "object", got array');
    // NaN is not a number, an invalid Date is not a date
    const nan = await issuesOf(() => b.insert({ id: 5, n: Number.NaN, d: new Date('nope') }));
    expect(nan.map((i) => i.field)).toEqual(['n', 'd']);
    expect(await b.count()).toBe(3);
  });

  it('undeclared fields pass through', async () => {
    const b = await store.defineBucket('t', { key: 'id', schema: { id: { type: 'string' } } });
    const r = await b.insert({ id: 'a', extra: { deep: [1] } } as any);
    expect((r as any).extra).toEqual({ deep: [1] });
  });
});

describe('C-3 required and defaults', () => {
  it('required rejects undefined and null', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number' }, name: { type: 'string', required: true } },
    });
    for (const name of [undefined, null]) {
      const issues = await issuesOf(() => b.insert({ id: 1, name } as any));
      expect(issues).toEqual([{ field: 'name', message: 'Field is required', code: 'required' }]);
    }
    // update to null is also rejected
    await b.insert({ id: 1, name: 'x' });
    const issues = await issuesOf(() => b.update(1, { name: null } as any));
    expect(issues[0]!.code).toBe('required');
    expect((await b.get(1))!.name).toBe('x');
  });

  it('defaults: values and functions, only when the field is missing', async () => {
    let n = 0;
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        role: { type: 'string', default: 'user' },
        tags: { type: 'array', default: () => ['t' + ++n] },
        active: { type: 'boolean', default: true },
      },
    });
    const a = await b.insert({ id: 1 });
    const c = await b.insert({ id: 2, role: 'admin', active: false });
    expect([a.role, a.tags, a.active]).toEqual(['user', ['t1'], true]);
    expect([c.role, c.tags, c.active]).toEqual(['admin', ['t2'], false]);
    expect(a.tags).not.toBe(c.tags);
    // a default satisfies required
    const r = await store.defineBucket('r', {
      key: 'id',
      schema: { id: { type: 'number' }, s: { type: 'string', required: true, default: 'd' } },
    });
    expect((await r.insert({ id: 1 })).s).toBe('d');
  });

  it('does not mutate the caller input', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'string', generated: 'uuid' }, role: { type: 'string', default: 'u' } },
    });
    const input = { name: 'x' };
    await b.insert(input as any);
    expect(input).toEqual({ name: 'x' });
  });
});

describe('C-3 generated', () => {
  it('uuid, cuid, autoincrement, timestamp', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number', generated: 'autoincrement' },
        uuid: { type: 'string', generated: 'uuid' },
        cuid: { type: 'string', generated: 'cuid' },
        ts: { type: 'number', generated: 'timestamp' },
      },
    });
    const before = Date.now();
    const r1 = await b.insert({});
    const r2 = await b.insert({});
    const after = Date.now();
    expect([r1.id, r2.id]).toEqual([1, 2]);
    expect(r1.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r1.uuid).not.toBe(r2.uuid);
    expect(r1.cuid).toMatch(/^c[0-9a-f]{32}$/);
    expect(r1.cuid).not.toBe(r2.cuid);
    expect(r1.ts).toBeGreaterThanOrEqual(before);
    expect(r1.ts).toBeLessThanOrEqual(after);
    // provided values are kept
    const r3 = await b.insert({ id: 100, uuid: 'mine', cuid: 'c1', ts: 5 });
    expect([r3.id, r3.uuid, r3.cuid, r3.ts]).toEqual([100, 'mine', 'c1', 5]);
  });

  it('explicit autoincrement values advance the counter (no collision with later generated ids)', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number', generated: 'autoincrement' }, v: { type: 'string' } },
    });
    await b.insertMany([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect((await b.insert({})).id).toBe(4);
    await b.insert({ id: 10 });
    expect((await b.insert({})).id).toBe(11);
    // a lower explicit value does not move the counter back
    await b.insert({ id: 7 });
    expect((await b.insert({})).id).toBe(12);
    await b.upsert({ id: 20, v: 'x' });
    expect((await b.insertMany([{}, {}])).map((r) => r.id)).toEqual([21, 22]);
    // a failed insert with an explicit value does not move it either
    await rejects(() => b.insertMany([{ id: 100 }, { id: 4 }]), DuplicateKeyError);
    expect((await b.insert({})).id).toBe(23);
  });

  it('a failed insert does not consume an autoincrement value', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: { id: { type: 'number', generated: 'autoincrement' }, n: { type: 'number', min: 0 } },
    });
    await b.insert({ n: 1 });
    await rejects(() => b.insert({ n: -1 }), ValidationError);
    await rejects(() => b.insertMany([{ n: 1 }, { n: -1 }]), ValidationError);
    expect((await b.insert({ n: 2 })).id).toBe(2);
    const many = await b.insertMany([{ n: 3 }, { n: 4 }]);
    expect(many.map((r) => r.id)).toEqual([3, 4]);
  });
});

describe('C-3 constraints', () => {
  it('enum, formats, min/max, lengths, pattern with noex codes and messages', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        role: { type: 'string', enum: ['admin', 'user'] },
        email: { type: 'string', format: 'email' },
        site: { type: 'string', format: 'url' },
        born: { type: 'string', format: 'iso-date' },
        age: { type: 'number', min: 0, max: 150 },
        name: { type: 'string', minLength: 2, maxLength: 5 },
        code: { type: 'string', pattern: '^[A-Z]{3}$' },
      },
    });
    const good = {
      id: 1,
      role: 'admin' as const,
      email: 'a@b.co',
      site: 'https://x.io/p',
      born: '2024-02-29T10:00:00Z',
      age: 0,
      name: 'ab',
      code: 'ABC',
    };
    expect((await b.insert(good)).code).toBe('ABC');
    await b.insert({ id: 2, age: 150, name: 'abcde', born: '2023-12-31' });
    const issues = await issuesOf(() =>
      b.insert({
        id: 3,
        role: 'root',
        email: 'nope',
        site: 'not a url',
        born: '2023-02-30',
        age: -1,
        name: 'a',
        code: 'abc',
      } as any),
    );
    expect(issues).toEqual([
      { field: 'role', message: 'Value must be one of: admin, user', code: 'enum' },
      { field: 'email', message: 'Invalid email format', code: 'format' },
      { field: 'site', message: 'Invalid url format', code: 'format' },
      { field: 'born', message: 'Invalid iso-date format', code: 'format' },
      { field: 'age', message: 'Minimum value is 0', code: 'min' },
      { field: 'name', message: 'Minimum length is 2', code: 'minLength' },
      { field: 'code', message: 'Value must match pattern "^[A-Z]{3}$"', code: 'pattern' },
    ]);
    const more = await issuesOf(() => b.insert({ id: 4, age: 151, name: 'abcdef' }));
    expect(more).toEqual([
      { field: 'age', message: 'Maximum value is 150', code: 'max' },
      { field: 'name', message: 'Maximum length is 5', code: 'maxLength' },
    ]);
    expect(await b.count()).toBe(2);
  });

  it('the ValidationError message lists every issue', async () => {
    const b = await store.defineBucket('people', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        a: { type: 'number', min: 1 },
        b: { type: 'string', required: true },
      },
    });
    const e = await rejects(() => b.insert({ id: 1, a: 0 } as any), ValidationError);
    expect(e.message).toBe(
      'Validation failed for bucket "people": a: Minimum value is 1; b: Field is required',
    );
  });
});

describe('C-3 nested properties and items', () => {
  it('validates nested objects and array items with dotted/indexed paths', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        address: {
          type: 'object',
          properties: {
            city: { type: 'string', required: true },
            zip: { type: 'string', pattern: '^\\d{5}$' },
            geo: { type: 'object', properties: { lat: { type: 'number', min: -90, max: 90 } } },
          },
        },
        tags: { type: 'array', items: { type: 'string', minLength: 2 } },
        lines: {
          type: 'array',
          items: { type: 'object', properties: { qty: { type: 'number', min: 1 } } },
        },
      },
    });
    await b.insert({
      id: 1,
      address: { city: 'Prague', zip: '11000', geo: { lat: 50 } },
      tags: ['ab', 'cd'],
      lines: [{ qty: 1 }],
    });
    const issues = await issuesOf(() =>
      b.insert({
        id: 2,
        address: { zip: '1', geo: { lat: 91 } },
        tags: ['ok', 'x', 5],
        lines: [{ qty: 2 }, { qty: 0 }],
      } as any),
    );
    expect(issues.map((i) => [i.field, i.code])).toEqual([
      ['address.city', 'required'],
      ['address.zip', 'pattern'],
      ['address.geo.lat', 'max'],
      ['tags[1]', 'minLength'],
      ['tags[2]', 'type'],
      ['lines[1].qty', 'min'],
    ]);
  });
});

describe('C-3 nested properties apply to any object value (noex)', () => {
  it('a Date in an object field is checked against its properties', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        o: { type: 'object', properties: { c: { type: 'string', required: true } } },
      },
    });
    const issues = await issuesOf(() => b.insert({ id: 1, o: new Date(0) as any }));
    expect(issues).toEqual([{ field: 'o.c', message: 'Field is required', code: 'required' }]);
  });
});

describe('C-3 custom validators', () => {
  it('field validate(value, record) and record validate, code "custom"', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'number' },
        start: { type: 'number' },
        end: {
          type: 'number',
          validate: (v: number, r: Record<string, unknown>) =>
            v < (r.start as number) ? 'end must be >= start' : undefined,
        },
      },
      validate: (r) => ((r.start as number) === 13 ? ['unlucky start', 'really'] : undefined),
    });
    await b.insert({ id: 1, start: 1, end: 2 });
    const issues = await issuesOf(() => b.insert({ id: 2, start: 13, end: 5 }));
    expect(issues).toEqual([
      { field: 'end', message: 'end must be >= start', code: 'custom' },
      { field: '_record', message: 'unlucky start', code: 'custom' },
      { field: '_record', message: 'really', code: 'custom' },
    ]);
    // validators run on the merged record at update
    const u = await issuesOf(() => b.update(1, { end: 0 }));
    expect(u[0]!.field).toBe('end');
    expect((await b.get(1))!.end).toBe(2);
  });
});

describe('C-4 record metadata', () => {
  it('_version, _createdAt, _updatedAt; update merges and bumps', async () => {
    const b = await store.defineBucket('t', {
      key: 'id',
      schema: {
        id: { type: 'string' },
        n: { type: 'number' },
        m: { type: 'number' },
        seq: { type: 'number', generated: 'autoincrement' },
      },
    });
    const before = Date.now();
    const r = await b.insert({ id: 'a', n: 1, m: 1 });
    expect(r._version).toBe(1);
    expect(r._createdAt).toBeGreaterThanOrEqual(before);
    expect(r._updatedAt).toBe(r._createdAt);
    expect(r._expiresAt).toBeUndefined();
    const u1 = await b.update('a', { n: 2 });
    expect(u1).toMatchObject({ id: 'a', n: 2, m: 1, _version: 2, _createdAt: r._createdAt });
    expect(u1._updatedAt).toBeGreaterThanOrEqual(r._updatedAt);
    const u2 = await b.update('a', {
      id: 'zzz',
      seq: 99,
      _version: 50,
      _createdAt: 1,
      _updatedAt: 1,
      m: 5,
    } as any);
    expect(u2).toMatchObject({ id: 'a', seq: 1, _version: 3, _createdAt: r._createdAt, m: 5 });
    expect(u2._updatedAt).toBeGreaterThanOrEqual(u1._updatedAt);
    expect(await b.get('zzz')).toBeUndefined();
    expect(await b.get('a')).toEqual(u2);
    // inserting ignores caller-provided metadata
    const r2 = await b.insert({ id: 'b', _version: 9, _createdAt: 1 } as any);
    expect(r2._version).toBe(1);
    expect(r2._createdAt).toBeGreaterThan(1);
  });

  it('returned records are the stored values (get returns equal records)', async () => {
    const b = await store.defineBucket('t', { key: 'id', schema: { id: { type: 'string' } } });
    const r = await b.insert({ id: 'a' });
    expect(await b.get('a')).toEqual(r);
  });
});
