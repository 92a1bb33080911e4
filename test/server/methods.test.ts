// Every built-in method over every transport: HTTP and WebSocket against an
// in-process server on 127.0.0.1, stdio against a real child process.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  connectHttp,
  connectWebSocket,
  type QuireClient,
  RpcError,
  type StdioClient,
  spawnStdio,
} from '../../src/client/index.js';
import { BucketHandle, Store } from '../../src/index.js';
import { type Running, STDIO_SERVER, startHttp, TSX, until } from './fixture.js';

type Kind = 'http' | 'ws' | 'stdio';

async function open(kind: Kind): Promise<{ client: QuireClient; close: () => Promise<void> }> {
  if (kind === 'stdio') {
    const client = await spawnStdio(process.execPath, [...TSX, STDIO_SERVER], { stderr: 'pipe' });
    return { client, close: () => client.close() };
  }
  const running: Running = await startHttp();
  const client =
    kind === 'http' ? connectHttp(running.address.url) : await connectWebSocket(running.address.wsUrl);
  return {
    client,
    close: async () => {
      await client.close();
      await running.stop();
    },
  };
}

/** The RpcError a call rejects with. */
async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return e as RpcError;
  }
  throw new Error('expected the call to fail');
}

const strip = (r: Record<string, unknown>) => {
  const { _createdAt, _updatedAt, ...rest } = r;
  return rest;
};

describe.each(['http', 'ws', 'stdio'] as const)('built-in methods over %s', (kind) => {
  let c: QuireClient;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ client: c, close } = await open(kind));
  });
  afterAll(async () => {
    await close();
  });
  beforeEach(async () => {
    await c.call('clear', { bucket: 'users' });
    await c.call('clear', { bucket: 'counters' });
  });

  it('ping, listMethods, app methods', async () => {
    expect(await c.call('ping')).toBe('pong');
    const methods = await c.call('listMethods');
    for (const m of [
      'insert',
      'transaction',
      'subscribe',
      'history',
      'createBackup',
      'import',
      'export',
      'app.echo',
    ])
      expect(methods).toContain(m);
    expect(await c.call('app.echo', { a: [1, 'x', null] })).toEqual({ a: [1, 'x', null] });
    expect(await c.call('app.whoami')).toBeNull();
    const err = await rpcError(c.call('app.fail'));
    expect(err.code).toBe(-32603);
    expect(err.data?.code).toBe('INTERNAL');
  });

  it('insert, get, update, delete, upsert', async () => {
    const users = c.bucket('users');
    const ann = await users.insert({ name: 'Ann', email: 'ann@x.io', age: 30 });
    expect(ann).toMatchObject({ name: 'Ann', role: 'user', _version: 1 });
    expect(typeof ann.id).toBe('string');
    expect(await users.get(ann.id)).toEqual(ann);
    expect(await users.get('missing')).toBeUndefined();
    expect(await c.call('get', { bucket: 'users', key: 'missing' })).toBeNull();

    const u = await users.update(ann.id, { age: 31 });
    expect(u).toMatchObject({ age: 31, _version: 2 });
    const u2 = await users.update(ann.id, { role: 'admin' }, { expectedVersion: 2 });
    expect(u2._version).toBe(3);
    const stale = await rpcError(users.update(ann.id, { age: 1 }, { expectedVersion: 2 }));
    expect(stale.code).toBe(-32000);
    expect(stale.data).toMatchObject({ code: 'TRANSACTION_CONFLICT', bucket: 'users', key: ann.id });
    expect((await users.get(ann.id))?.age).toBe(31);

    const up = await users.upsert({ id: ann.id, name: 'Anna' });
    expect(up).toMatchObject({ name: 'Anna', _version: 4 });
    const fresh = await users.upsert({ id: 'u2', name: 'Bob' });
    expect(fresh._version).toBe(1);

    expect(await c.call('delete', { bucket: 'users', key: 'u2', expectedVersion: 1 })).toBe(true);
    // delete answers whether a record was deleted.
    expect(await users.delete(ann.id)).toBe(true);
    expect(await users.delete('never-existed')).toBe(false);
    expect(await c.call('delete', { bucket: 'users', key: 'never-existed' })).toBe(false);
    expect(await users.count()).toBe(0);
    const gone = await rpcError(users.delete('u2', { expectedVersion: 1 }));
    expect(gone.data?.code).toBe('TRANSACTION_CONFLICT');
  });

  it('bulk: insertMany, updateMany, deleteMany, clear (all or nothing)', async () => {
    const users = c.bucket('users');
    const made = await users.insertMany([
      { id: 'a', name: 'A', age: 10 },
      { id: 'b', name: 'B', age: 20 },
      { id: 'c', name: 'C', age: 30, role: 'admin' },
    ]);
    expect(made.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    const bad = await rpcError(
      users.insertMany([
        { id: 'd', name: 'D' },
        { id: 'e', name: 'E', role: 'boss' },
      ]),
    );
    expect(bad.code).toBe(-32602);
    expect(bad.data?.code).toBe('VALIDATION');
    expect(bad.data?.issues?.[0]).toMatchObject({ field: 'role', code: 'enum' });
    expect(await users.count()).toBe(3);

    expect(await users.updateMany({ age: { $gte: 20 } }, { role: 'admin' })).toBe(2);
    expect(await users.count({ role: 'admin' })).toBe(2);
    expect(await users.deleteMany({ age: { $lt: 15 } })).toBe(1);
    expect(await users.count()).toBe(2);
    await users.clear();
    expect(await users.count()).toBe(0);
  });

  it('import and export (all or nothing)', async () => {
    const r = await c.call('import', {
      bucket: 'users',
      text: '{"id":"i1","name":"Imp"}\n{"id":"i2","name":"Ort"}\n',
      format: 'ndjson',
    });
    expect(r).toMatchObject({ imported: 2, skipped: false });
    const bad = await rpcError(
      c.call('import', {
        bucket: 'users',
        records: [
          { id: 'i3', name: 'ok' },
          { id: 'i4', role: 'x' },
        ],
      }),
    );
    expect(bad.code).toBe(-32000);
    expect(bad.data).toMatchObject({ code: 'IMPORT_FAILED', cause: { code: 'VALIDATION' } });
    expect(await c.bucket('users').count()).toBe(2);
    expect(
      await c.call('import', { bucket: 'users', records: [{ id: 'i5', name: 'x' }], onlyIfEmpty: true }),
    ).toMatchObject({
      skipped: true,
    });
    const e = await c.call('export', { bucket: 'users', format: 'json', metadata: false });
    expect(e.exported).toBe(2);
    expect(JSON.parse(e.data)).toEqual([
      { id: 'i1', name: 'Imp', role: 'user' },
      { id: 'i2', name: 'Ort', role: 'user' },
    ]);
    expect(
      (await c.call('export', { bucket: 'users', format: 'yaml', filter: { name: 'Ort' } })).exported,
    ).toBe(1);
  });

  it('queries and aggregations', async () => {
    const users = c.bucket('users');
    await users.insertMany([
      { id: 'a', name: 'Ann', age: 30, role: 'admin', email: 'ann@x.io' },
      { id: 'b', name: 'Bob', age: 20 },
      { id: 'c', name: 'Cid', age: 40 },
      { id: 'd', name: 'Dan', age: 50, role: 'admin' },
    ]);
    expect((await users.all()).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect((await users.where({ role: 'admin' })).map((r) => r.id)).toEqual(['a', 'd']);
    expect(
      (await users.where({ age: { $gte: 30 } }, { sort: { age: 'desc' }, limit: 2, offset: 1 })).map(
        (r) => r.id,
      ),
    ).toEqual(['c', 'a']);
    expect((await users.where({ $or: [{ name: { $startsWith: 'b' } }, { age: 50 }] })).length).toBe(1);
    expect((await users.findOne({ email: 'ann@x.io' }))?.id).toBe('a');
    expect(await users.findOne({ name: 'Zed' })).toBeUndefined();
    expect(await users.count({ age: { $between: [20, 40] } })).toBe(3);
    expect((await users.first(2)).map((r) => r.id)).toEqual(['a', 'b']);
    expect((await users.last(1)).map((r) => r.id)).toEqual(['d']);
    const page = await users.paginate({ limit: 3 });
    expect(page.records.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(page.hasMore).toBe(true);
    const page2 = await users.paginate({ after: page.nextCursor, limit: 3 });
    expect(page2.records.map((r) => r.id)).toEqual(['d']);
    expect(page2.hasMore).toBe(false);
    expect(await users.sum('age')).toBe(140);
    expect(await users.avg('age', { role: 'admin' })).toBe(40);
    expect(await users.min('age')).toBe(20);
    expect(await users.max('age')).toBe(50);
    expect(await users.min('age', { name: 'nobody' })).toBeUndefined();
    expect(await users.groupBy('role', { function: 'count' })).toEqual(
      expect.arrayContaining([
        { key: { role: 'admin' }, value: 2 },
        { key: { role: 'user' }, value: 2 },
      ]),
    );
    const badFilter = await rpcError(users.where({ age: { $near: 3 } } as never));
    expect(badFilter.code).toBe(-32602);
    expect(badFilter.data?.code).toBe('INVALID_FILTER');
  });

  it('transaction: operations apply together, with read-your-own-writes', async () => {
    const results = await c.transaction([
      { op: 'insert', bucket: 'users', record: { id: 't1', name: 'T1' } },
      { op: 'insert', bucket: 'counters', record: { id: 'n', value: 1 } },
      { op: 'update', bucket: 'counters', key: 'n', changes: { value: 2 } },
      { op: 'get', bucket: 'counters', key: 'n' },
      { op: 'count', bucket: 'users' },
      { op: 'where', bucket: 'users', filter: { name: 'T1' } },
    ]);
    expect(results).toHaveLength(6);
    expect(results[3]).toMatchObject({ id: 'n', value: 2 });
    expect(results[4]).toBe(1);
    expect((await c.bucket('counters').get('n'))?.value).toBe(2);
    // delete in a transaction answers whether a record was deleted, as the method does.
    expect(
      await c.transaction([
        { op: 'delete', bucket: 'users', key: 't1' },
        { op: 'delete', bucket: 'users', key: 't1' },
      ]),
    ).toEqual([true, false]);
    await c.bucket('users').insert({ id: 't1', name: 'T1' });

    // A failing operation undoes the whole transaction and names the operation.
    const err = await rpcError(
      c.transaction([
        { op: 'update', bucket: 'counters', key: 'n', changes: { value: 99 } },
        { op: 'insert', bucket: 'users', record: { id: 't1', name: 'again' } },
      ]),
    );
    expect(err.data).toMatchObject({ code: 'DUPLICATE_KEY', operation: 1 });
    expect((await c.bucket('counters').get('n'))?.value).toBe(2);

    const conflict = await rpcError(
      c.transaction([
        { op: 'update', bucket: 'counters', key: 'n', changes: { value: 5 }, expectedVersion: 1 },
      ]),
    );
    expect(conflict.data).toMatchObject({ code: 'TRANSACTION_CONFLICT', operation: 0 });

    const shape = await rpcError(c.call('transaction', { operations: [{ op: 'explode', bucket: 'users' }] }));
    expect(shape.code).toBe(-32602);
  });

  it('bucket definitions: define, has, schema, update, list, drop', async () => {
    await c.defineBucket('notes', {
      key: 'id',
      schema: {
        id: { type: 'number', generated: 'autoincrement' },
        text: { type: 'string', required: true },
      },
    });
    expect(await c.call('hasBucket', { name: 'notes' })).toBe(true);
    expect(await c.call('listBuckets')).toContain('notes');
    expect(await c.call('getBucketSchema', { name: 'notes' })).toMatchObject({ key: 'id' });
    expect(await c.call('getBucketSchema', { name: 'nope' })).toBeNull();
    const n = await c.bucket('notes').insert({ text: 'hello' });
    expect(n.id).toBe(1);
    await c.call('updateBucket', { name: 'notes', updates: { addFields: { tag: { type: 'string' } } } });
    expect(await c.call('getBucketSchema', { name: 'notes' })).toMatchObject({
      schema: { tag: { type: 'string' } },
    });
    const dup = await rpcError(c.defineBucket('notes', { key: 'id', schema: { id: { type: 'string' } } }));
    expect(dup.data).toMatchObject({ code: 'BUCKET_ALREADY_EXISTS', bucket: 'notes' });
    const bad = await rpcError(c.defineBucket('bad', { key: 'nope', schema: { id: { type: 'string' } } }));
    expect(bad.code).toBe(-32602);
    expect(bad.data?.code).toBe('INVALID_DEFINITION');
    expect(await c.dropBucket('notes')).toBe(true);
    expect(await c.dropBucket('notes')).toBe(false);
    const missing = await rpcError(c.bucket('notes').count());
    expect(missing.code).toBe(-32000);
    expect(missing.data).toMatchObject({ code: 'BUCKET_NOT_DEFINED', bucket: 'notes' });
  });

  it('queries: define, list, run, undefine', async () => {
    await c.bucket('users').insertMany([
      { id: 'a', name: 'Ann', role: 'admin' },
      { id: 'b', name: 'Bob' },
    ]);
    await c.defineQuery('young', { bucket: 'users', filter: { age: { $lt: 18 } } });
    expect((await c.call('listQueries')).map((q) => q.name)).toEqual(
      expect.arrayContaining(['admins', 'byRole', 'young']),
    );
    expect(await c.call('runQuery', { name: 'byRole', params: { role: 'user' } })).toEqual(['Bob']);
    expect(((await c.call('runQuery', { name: 'admins' })) as unknown[]).length).toBe(1);
    expect(await c.call('undefineQuery', { name: 'young' })).toBe(true);
    const err = await rpcError(c.call('runQuery', { name: 'young' }));
    expect(err.data).toMatchObject({ code: 'QUERY_NOT_DEFINED', query: 'young' });
  });

  it('reactive query subscriptions push changed results', async () => {
    if (kind === 'http') {
      const err = await rpcError(c.call('subscribe', { query: 'admins' }));
      expect(err.code).toBe(-32601);
      expect(err.data?.code).toBe('NOT_SUPPORTED');
      await expect(c.subscribe('admins', undefined, () => {})).rejects.toThrow(/WebSocket or stdio/);
      return;
    }
    const seen: string[][] = [];
    const sub = await c.subscribe<Array<{ name: string }>>('admins', undefined, (r) =>
      seen.push(r.map((u) => u.name)),
    );
    expect(sub.result).toEqual([]);
    const roles: string[][] = [];
    const sub2 = await c.subscribe<string[]>('byRole', { role: 'user' }, (r) => roles.push(r));
    expect(sub2.result).toEqual([]);
    await c.bucket('users').insert({ id: 'a', name: 'Ann', role: 'admin' });
    await c.bucket('users').insert({ id: 'b', name: 'Bob' });
    await c.bucket('users').update('b', { role: 'admin' });
    await c.call('settle');
    await until(() => seen.length >= 2 && roles.length >= 2);
    expect(seen).toEqual([['Ann'], ['Ann', 'Bob']]);
    expect(roles).toEqual([['Bob'], []]);
    await sub.unsubscribe();
    await sub2.unsubscribe();
    await c.bucket('users').insert({ id: 'c', name: 'Cid', role: 'admin' });
    await c.call('settle');
    await c.call('ping'); // any notification would have arrived before this answer
    expect(seen).toHaveLength(2);
    expect(await c.call('unsubscribe', { subscription: 'nope' })).toBe(false);
  });

  it('event subscriptions push bucket events', async () => {
    if (kind === 'http') {
      const err = await rpcError(c.call('subscribeEvents', { pattern: 'bucket.*.*' }));
      expect(err.data?.code).toBe('NOT_SUPPORTED');
      return;
    }
    const topics: string[] = [];
    const sub = await c.on<{ key: unknown }>('bucket.users.*', (e, topic) =>
      topics.push(`${topic}:${String(e.key)}`),
    );
    await c.bucket('users').insert({ id: 'e1', name: 'E' });
    await c.bucket('users').update('e1', { age: 3 });
    await c.bucket('counters').insert({ id: 'ignored' });
    await c.bucket('users').delete('e1');
    await c.call('settle');
    await until(() => topics.length >= 3);
    expect(topics).toEqual([
      'bucket.users.inserted:e1',
      'bucket.users.updated:e1',
      'bucket.users.deleted:e1',
    ]);
    await sub.unsubscribe();
    await c.bucket('users').insert({ id: 'e2', name: 'E' });
    await c.call('settle');
    await c.call('ping');
    expect(topics).toHaveLength(3);
  });

  it('store: stats, settle, purgeTtl, flush', async () => {
    await c.bucket('users').insert({ id: 's', name: 'S' });
    const stats = await c.getStats();
    expect(stats.buckets.names).toEqual(expect.arrayContaining(['users', 'counters']));
    expect(stats.records.perBucket.users).toBe(1);
    expect(await c.call('settle')).toBe(true);
    expect(await c.call('purgeTtl')).toBe(0);
    expect(await c.call('flush')).toBe(true);
  });

  it('persistence and history methods on a store without persistence or history', async () => {
    // The test servers run without persistence.
    const backup = await rpcError(c.call('createBackup', { name: 'b1' }));
    expect(backup.data?.code).toBe('PERSISTENCE_REQUIRED');
    expect((await rpcError(c.call('listBackups'))).data?.code).toBe('PERSISTENCE_REQUIRED');
    expect((await rpcError(c.call('restoreBackup', { name: 'b1' }))).data?.code).toBe('PERSISTENCE_REQUIRED');
    expect((await rpcError(c.call('deleteBackup', { name: 'b1' }))).data?.code).toBe('PERSISTENCE_REQUIRED');
    const cp = await rpcError(c.call('checkpoint'));
    expect(['NOT_SUPPORTED', 'PERSISTENCE_REQUIRED']).toContain(cp.data?.code);

    await c.bucket('users').insert({ id: 'h', name: 'H' });
    const hasHistory = typeof (BucketHandle.prototype as { history?: unknown }).history === 'function';
    const hasChanges = typeof (Store.prototype as { changes?: unknown }).changes === 'function';
    if (!hasHistory) {
      const h = await rpcError(c.bucket('users').history('h'));
      expect(h.code).toBe(-32601);
      expect(h.data?.code).toBe('NOT_SUPPORTED');
      expect((await rpcError(c.bucket('users').restoreVersion('h', 1))).data?.code).toBe('NOT_SUPPORTED');
    }
    if (hasHistory) {
      // The fixture's buckets are defined without `history`.
      const h = await rpcError(c.bucket('users').history('h'));
      expect(h.code).toBe(-32000);
      expect(h.data).toMatchObject({ code: 'HISTORY_NOT_ENABLED', bucket: 'users' });
    }
    if (!hasChanges)
      expect((await rpcError(c.call('changes', { since: 0 }))).data?.code).toBe('NOT_SUPPORTED');
    else expect(Array.isArray(await c.call('changes', { since: 0, limit: 5 }))).toBe(true);
  });

  it('wrong params are -32602 with INVALID_PARAMS', async () => {
    const cases: Array<[string, unknown]> = [
      ['insert', { bucket: 'users' }],
      ['insert', { bucket: 'users', record: [1, 2] }],
      ['insert', { record: { name: 'x' } }],
      ['get', { bucket: 'users' }],
      ['update', { bucket: 'users', key: 'a', changes: 'x' }],
      ['update', { bucket: 'users', key: 'a', changes: {}, expectedVersion: 0 }],
      ['first', { bucket: 'users', n: -1 }],
      ['where', { bucket: 'users', filter: { a: 1 }, limit: 'ten' }],
      ['insertMany', { bucket: 'users', records: {} }],
      ['transaction', { operations: 'all' }],
      ['defineBucket', { name: 'x' }],
      ['subscribe', {}],
      ['insert', ['users', { name: 'positional' }]],
    ];
    for (const [method, params] of cases) {
      const err = await rpcError(c.call(method, params));
      expect(err.code, `${method} ${JSON.stringify(params)}`).toBe(-32602);
      expect(['INVALID_PARAMS', 'INVALID_ARGUMENT']).toContain(err.data?.code);
    }
    const unique = await rpcError(
      c.bucket('users').insertMany([
        { name: 'a', email: 'same@x.io' },
        { name: 'b', email: 'same@x.io' },
      ]),
    );
    expect(unique.data).toMatchObject({ code: 'UNIQUE_CONSTRAINT', field: 'email', value: 'same@x.io' });
    const unknown = await rpcError(c.call('noSuchMethod', {}));
    expect(unknown.code).toBe(-32601);
    expect(unknown.data?.code).toBe('METHOD_NOT_FOUND');
    expect(await c.call('ping')).toBe('pong');
  });

  it('batches: results in order, errors per call, notifications get no entry', async () => {
    const results = await c.batch([
      { method: 'insert', params: { bucket: 'users', record: { id: 'b1', name: 'B1' } } },
      { method: 'app.echo', params: { x: 1 }, notify: true },
      { method: 'get', params: { bucket: 'users', key: 'b1' } },
      { method: 'nope' },
      { method: 'count', params: { bucket: 'users' } },
    ]);
    expect(results).toHaveLength(4);
    expect(results[0]).toMatchObject({ ok: true, result: { id: 'b1' } });
    expect(results[1]).toMatchObject({ ok: true, result: { id: 'b1', name: 'B1' } });
    expect(results[2]?.ok).toBe(false);
    expect(results[3]).toEqual({ ok: true, result: 1 });
    expect(strip((await c.bucket('users').get('b1'))!)).toMatchObject({ id: 'b1', _version: 1 });
  });

  if (kind === 'stdio') {
    it('stdout carries only protocol: console output of a method goes to stderr', async () => {
      expect(await c.call('app.print')).toBe(true);
      await until(() => (c as StdioClient).stderrText.includes('this line goes to stderr'));
      expect(await c.call('ping')).toBe('pong');
    });
  }
});
