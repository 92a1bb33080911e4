// The built-in methods: the store API of SPEC section 2 and P-6/P-9 as
// JSON-RPC methods with named params (see api.ts for names and shapes).

import { lstatSync, mkdirSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import type { BucketEvent, BucketHandle, Store, StoreStats, WriteOptions } from '../store/index.js';
import { deepEqual, TransactionConflictError } from '../store/index.js';
import type { TransactionBucketHandle } from '../transaction/index.js';
import type { Authenticator } from './auth.js';
import type { Dispatcher, MethodContext } from './dispatcher.js';
import { invalidParams, notSupported, RpcError } from './errors.js';
import { NOTIFY_EVENT, NOTIFY_QUERY, STORE_ERROR, UNAUTHORIZED } from './protocol.js';

type P = Record<string, unknown>;

// ── Param checks ─────────────────────────────────────────────────────

function obj(params: unknown): P {
  if (params === undefined) return {};
  return params as P;
}

function str(p: P, name: string): string {
  const v = p[name];
  if (typeof v !== 'string' || v === '') throw invalidParams(`"${name}" must be a non-empty string`);
  return v;
}

function optStr(p: P, name: string): string | undefined {
  return p[name] === undefined ? undefined : str(p, name);
}

function int(p: P, name: string, min = 0): number {
  const v = p[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw invalidParams(`"${name}" must be an integer >= ${min}`);
  return v;
}

function optInt(p: P, name: string, min = 0): number | undefined {
  return p[name] === undefined ? undefined : int(p, name, min);
}

function optNum(p: P, name: string): number | undefined {
  const v = p[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidParams(`"${name}" must be a number`);
  return v;
}

function record(p: P, name: string): P {
  const v = p[name];
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw invalidParams(`"${name}" must be an object`);
  return v as P;
}

function optRecord(p: P, name: string): P | undefined {
  return p[name] === undefined ? undefined : record(p, name);
}

function key(p: P): unknown {
  const v = p.key;
  if (v === undefined || v === null) throw invalidParams('"key" is required');
  return v;
}

function list(p: P, name: string): unknown[] {
  const v = p[name];
  if (!Array.isArray(v)) throw invalidParams(`"${name}" must be an array`);
  return v;
}

/** `undefined` is not JSON: missing results become null. */
function orNull<T>(v: T | undefined): T | null {
  return v === undefined ? null : v;
}

function conflict(
  bucket: string,
  k: unknown,
  expected: number,
  found: number | undefined,
): TransactionConflictError {
  return new TransactionConflictError(
    bucket,
    k,
    found === undefined
      ? `expected version ${expected}, but the record does not exist`
      : `expected version ${expected}, found version ${found}`,
  );
}

// ── Registration ─────────────────────────────────────────────────────

/**
 * The actor, and with auth a permission check the store runs on the whole
 * staged write: cascades into other buckets need write permission there, a
 * reference into another bucket needs read permission there.
 */
function writeOptions(p: unknown, ctx: MethodContext): WriteOptions | undefined {
  const actor = ctx.actor(p);
  const identity = ctx.identity;
  if (identity === undefined) return actor === undefined ? undefined : { actor };
  return { actor, authorize: (access, bucket) => identity.require(access, bucket) };
}

export interface StoreMethodsOptions {
  readonly authenticator: Authenticator | undefined;
  /** Absolute directory for `backupTo`; undefined: the method is refused. */
  readonly backupDir: string | undefined;
}

/** A backup file name a client may choose: one plain name, no directory part. */
function backupFileName(p: P): string {
  const v = p.file ?? p.path;
  if (typeof v !== 'string' || v === '') throw invalidParams('"file" must be a non-empty file name');
  if (
    v === '.' ||
    v === '..' ||
    v.includes('/') ||
    v.includes('\\') ||
    v.includes('\0') ||
    isAbsolute(v) ||
    v !== basename(v)
  )
    throw invalidParams(
      `"file" must be a plain file name inside the server's backup directory, without "/", "\\" or "..": got ${JSON.stringify(v)}`,
    );
  return v;
}

export function registerStoreMethods(d: Dispatcher, store: Store, options: StoreMethodsOptions): void {
  const bucketOf = (p: P, ctx: MethodContext, access: 'read' | 'write'): BucketHandle => {
    const name = str(p, 'bucket');
    ctx.authorize(access, name);
    return store.bucket(name);
  };
  const reader =
    <T>(fn: (b: BucketHandle, p: P, ctx: MethodContext) => Promise<T>) =>
    (params: unknown, ctx: MethodContext) => {
      const p = obj(params);
      return fn(bucketOf(p, ctx, 'read'), p, ctx);
    };
  const writer =
    <T>(fn: (b: BucketHandle, p: P, options: WriteOptions | undefined) => Promise<T>) =>
    (params: unknown, ctx: MethodContext) => {
      const p = obj(params);
      const b = bucketOf(p, ctx, 'write');
      return fn(b, p, writeOptions(p, ctx));
    };

  // ── Connection ──
  d.register('ping', () => 'pong', { public: true });
  d.register('listMethods', () => d.methodNames);
  d.register(
    'authenticate',
    async (params: unknown, ctx: MethodContext) => {
      const p = obj(params);
      const token = str(p, 'token');
      if (options.authenticator === undefined) throw notSupported('this server does not use authentication');
      if (ctx.session.transport === 'http')
        throw notSupported(
          'over HTTP, send the token in an "Authorization: Bearer" header with each request',
        );
      const identity = await options.authenticator.identify(token);
      if (identity === undefined)
        throw new RpcError(UNAUTHORIZED, 'Unauthorized: invalid token', { code: 'UNAUTHORIZED' });
      ctx.session.identity = identity;
      return { identity: identity.name };
    },
    { public: true },
  );

  // ── Records ──
  d.register(
    'insert',
    writer((b, p, o) => b.insert(record(p, 'record'), o)),
  );
  d.register('get', (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const b = bucketOf(p, ctx, 'read');
    const k = key(p);
    // A loaded bucket answers synchronously (no promise, no timeout timer per request);
    // while loading, or for a key it refuses, `get` waits or fails as it always did.
    try {
      return orNull(b.peek(k));
    } catch {
      return b.get(k).then(orNull);
    }
  });
  d.register(
    'update',
    writer(async (b, p, o) => {
      const k = key(p);
      const changes = record(p, 'changes');
      const expected = optInt(p, 'expectedVersion', 1);
      if (expected === undefined) return b.update(k, changes, o);
      return store.transaction(async (tx) => {
        const t = await tx.bucket(b.name);
        const cur = await t.get(k);
        if (cur?._version !== expected) throw conflict(b.name, k, expected, cur?._version);
        return t.update(k, changes);
      }, o);
    }),
  );
  d.register(
    'delete',
    writer(async (b, p, o) => {
      const k = key(p);
      const expected = optInt(p, 'expectedVersion', 1);
      // Whether a record was deleted (the library's delete resolves void, as noex-store's does);
      // read and delete in one transaction so the answer is exact under concurrent writers.
      return store.transaction(async (tx) => {
        const t = await tx.bucket(b.name);
        const cur = await t.get(k);
        if (expected !== undefined && cur?._version !== expected)
          throw conflict(b.name, k, expected, cur?._version);
        if (cur === undefined) return false;
        await t.delete(k);
        return true;
      }, o);
    }),
  );
  d.register(
    'upsert',
    writer((b, p, o) => b.upsert(record(p, 'record'), o)),
  );
  d.register(
    'clear',
    writer(async (b, _p, o) => {
      await b.clear(o);
      return true;
    }),
  );
  d.register(
    'insertMany',
    writer((b, p, o) => b.insertMany(list(p, 'records') as P[], o)),
  );
  d.register(
    'updateMany',
    writer((b, p, o) => b.updateMany(record(p, 'filter'), record(p, 'changes'), o)),
  );
  d.register(
    'deleteMany',
    writer((b, p, o) => b.deleteMany(record(p, 'filter'), o)),
  );

  // ── Import / export (P-9) ──
  d.register(
    'import',
    writer((b, p, o) => {
      const source = p.records !== undefined ? (list(p, 'records') as P[]) : { text: str(p, 'text') };
      const format = optStr(p, 'format');
      if (p.records === undefined && format === undefined)
        throw invalidParams('"format" (json, ndjson, yaml) is required with "text"');
      const options: Record<string, unknown> = { ...o };
      if (format !== undefined) options.format = format;
      if (p.mode !== undefined) options.mode = str(p, 'mode');
      if (p.metadata !== undefined) options.metadata = str(p, 'metadata');
      if (p.onlyIfEmpty !== undefined) options.onlyIfEmpty = p.onlyIfEmpty === true;
      return b.import(source as never, options as never);
    }),
  );
  d.register(
    'export',
    reader((b, p) => {
      const options: Record<string, unknown> = {};
      if (p.filter !== undefined) options.filter = record(p, 'filter');
      if (p.metadata !== undefined) options.metadata = p.metadata !== false;
      return b.export((optStr(p, 'format') ?? 'json') as never, options as never);
    }),
  );

  // ── Queries and aggregations ──
  d.register(
    'all',
    reader((b) => b.all()),
  );
  d.register(
    'where',
    reader((b, p) => {
      const options: Record<string, unknown> = {};
      if (p.sort !== undefined) options.sort = record(p, 'sort');
      if (p.limit !== undefined) options.limit = int(p, 'limit');
      if (p.offset !== undefined) options.offset = int(p, 'offset');
      return b.where(record(p, 'filter'), options);
    }),
  );
  d.register(
    'findOne',
    reader(async (b, p) => orNull(await b.findOne(record(p, 'filter')))),
  );
  d.register(
    'count',
    reader((b, p) => b.count(optRecord(p, 'filter'))),
  );
  d.register(
    'first',
    reader((b, p) => b.first(int(p, 'n'), optRecord(p, 'filter'))),
  );
  d.register(
    'last',
    reader((b, p) => b.last(int(p, 'n'), optRecord(p, 'filter'))),
  );
  d.register(
    'paginate',
    reader((b, p) => {
      const options: { limit: number; after?: unknown } = { limit: int(p, 'limit', 1) };
      if (p.after !== undefined && p.after !== null) options.after = p.after;
      return b.paginate(options, optRecord(p, 'filter'));
    }),
  );
  for (const fn of ['sum', 'avg', 'min', 'max'] as const) {
    d.register(
      fn,
      reader(async (b, p) => orNull(await b[fn](str(p, 'field'), optRecord(p, 'filter')))),
    );
  }
  d.register(
    'groupBy',
    reader((b, p) => {
      const fields = p.fields ?? p.field;
      if (typeof fields !== 'string' && !Array.isArray(fields))
        throw invalidParams('"fields" must be a field name or a list of field names');
      return b.groupBy(fields as string | string[], record(p, 'aggregate') as never, optRecord(p, 'filter'));
    }),
  );

  // ── Transactions ──
  d.register('transaction', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const ops = list(p, 'operations');
    const reads = new Set(['get', 'all', 'where', 'findOne', 'count']);
    // Check shape and permissions of every operation before running any.
    ops.forEach((op, i) => {
      if (op === null || typeof op !== 'object' || Array.isArray(op))
        throw invalidParams(`operations[${i}] must be an object`);
      const o = op as P;
      if (typeof o.op !== 'string' || !TX_OPS.has(o.op))
        throw invalidParams(`operations[${i}].op must be one of ${[...TX_OPS].join(', ')}`);
      ctx.authorize(reads.has(o.op) ? 'read' : 'write', str(o, 'bucket'));
    });
    const options = writeOptions(p, ctx);
    let index = 0;
    try {
      return await store.transaction(async (tx) => {
        const results: unknown[] = [];
        for (index = 0; index < ops.length; index++) {
          const o = ops[index] as P;
          results.push(await runOp(await tx.bucket(o.bucket as string), o));
        }
        index = -1; // past here, a failure is the commit's, not one operation's
        return results;
      }, options);
    } catch (e) {
      if (index >= 0 && index < ops.length) attachOperation(e, index);
      throw e;
    }
  });

  // ── Definitions ──
  d.register('defineBucket', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    ctx.authorize('admin', '*');
    await store.defineBucket(str(p, 'name'), record(p, 'definition') as never);
    return true;
  });
  d.register('dropBucket', (params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    return store.dropBucket(str(obj(params), 'name'));
  });
  d.register('updateBucket', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    ctx.authorize('admin', '*');
    await store.updateBucket(str(p, 'name'), record(p, 'updates'));
    return true;
  });
  d.register('hasBucket', (params: unknown, ctx: MethodContext) => {
    const name = str(obj(params), 'name');
    // Refused whether or not it exists: the answer must not leak names.
    ctx.authorize('read', name);
    return store.hasBucket(name);
  });
  d.register('listBuckets', async (_params: unknown, ctx: MethodContext) => {
    const names = (await store.getStats()).buckets.names;
    return ctx.identity === undefined ? names : names.filter((n) => ctx.identity!.can('read', n));
  });
  d.register('getBucketSchema', (params: unknown, ctx: MethodContext) => {
    const name = str(obj(params), 'name');
    ctx.authorize('read', name);
    return orNull(store.getBucketSchema(name));
  });

  // ── Reactive queries ──
  const queryAccess = (name: string, ctx: MethodContext) => {
    const info = store.getQueryInfo(name);
    // Declarative queries read one known bucket; a programmatic query may read any.
    ctx.authorize('read', info?.config?.bucket ?? '*');
  };
  d.register('defineQuery', (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    ctx.authorize('admin', '*');
    const name = str(p, 'name');
    const config = record(p, 'config');
    // Idempotent over RPC: a program run twice, or a client re-defining its queries after a
    // reconnect, gets `true` for the same definition; a different one is QUERY_ALREADY_DEFINED.
    const existing = store.getQueryInfo(name)?.config;
    if (existing !== undefined && deepEqual(existing, config)) return true;
    store.defineDeclarativeQuery(name, config as never);
    return true;
  });
  d.register('undefineQuery', (params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    return store.undefineQuery(str(obj(params), 'name'));
  });
  d.register('listQueries', (_params: unknown, ctx: MethodContext) => {
    const all = store.getQueries();
    const identity = ctx.identity;
    if (identity === undefined) return all;
    // A declarative query reveals its bucket; a programmatic one may read any bucket.
    return all.filter((q) => identity.can('read', q.config?.bucket ?? '*'));
  });
  d.register('runQuery', (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const name = str(p, 'name');
    queryAccess(name, ctx);
    return store.runQuery(name, p.params);
  });
  d.register('subscribe', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const name = str(p, 'query');
    const notify = ctx.session.notify;
    if (notify === undefined)
      throw notSupported(`"subscribe" over ${ctx.session.transport}: use a WebSocket or stdio connection`);
    queryAccess(name, ctx);
    // Changes seen before the response is out are held back, then sent only
    // if they differ from the result the response carried.
    let ready = false;
    let held: { result: unknown } | undefined;
    let last: unknown;
    let id = '';
    const callback = (result: unknown) => {
      if (!ready) {
        held = { result };
        return;
      }
      if (deepEqual(result, last)) return;
      last = result;
      notify(NOTIFY_QUERY, { subscription: id, result });
    };
    const off =
      p.params === undefined
        ? await store.subscribe(name, callback)
        : await store.subscribe(name, p.params, callback);
    let result: unknown;
    try {
      result = await store.runQuery(name, p.params);
    } catch (e) {
      off();
      throw e;
    }
    if (ctx.session.closed) {
      off();
      throw new RpcError(STORE_ERROR, 'The connection closed', { code: 'CONNECTION_CLOSED' });
    }
    last = result;
    id = ctx.session.addSubscription(off);
    ctx.afterResponse(() => {
      ready = true;
      if (held !== undefined) callback(held.result);
    });
    return { subscription: id, result };
  });
  d.register('subscribeEvents', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const pattern = str(p, 'pattern');
    const notify = ctx.session.notify;
    if (notify === undefined)
      throw notSupported(
        `"subscribeEvents" over ${ctx.session.transport}: use a WebSocket or stdio connection`,
      );
    const identity = ctx.identity;
    let id = '';
    let ready = false;
    const held: Array<[string, unknown]> = [];
    const off = await store.on<BucketEvent>(pattern, (event, topic) => {
      if (identity !== undefined && !identity.can('read', event.bucket)) return;
      if (!ready) held.push([topic, event]);
      else notify(NOTIFY_EVENT, { subscription: id, topic, event });
    });
    id = ctx.session.addSubscription(() => void off());
    ctx.afterResponse(() => {
      ready = true;
      for (const [topic, event] of held.splice(0)) notify(NOTIFY_EVENT, { subscription: id, topic, event });
    });
    return { subscription: id };
  });
  d.register('unsubscribe', (params: unknown, ctx: MethodContext) =>
    ctx.session.removeSubscription(str(obj(params), 'subscription')),
  );

  // ── Store ──
  d.register('getStats', async (_params: unknown, ctx: MethodContext) => {
    const stats = await store.getStats();
    const identity = ctx.identity;
    if (identity === undefined || identity.can('read', '*')) return stats;
    return readableStats(
      stats,
      (b) => identity.can('read', b),
      store.getQueries().filter((q) => identity.can('read', q.config?.bucket ?? '*')).length,
    );
  });
  d.register('settle', async () => {
    await store.settle();
    return true;
  });
  d.register('purgeTtl', (_params: unknown, ctx: MethodContext) => {
    ctx.authorize('write', '*');
    return store.purgeTtl();
  });
  d.register('flush', async (_params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    await store.flush();
    return true;
  });
  d.register('checkpoint', async (_params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    const s = store as unknown as { checkpoint?: () => unknown };
    if (typeof s.checkpoint !== 'function')
      throw notSupported('checkpoint (this store has no checkpointing storage)');
    return orNull(await s.checkpoint());
  });
  d.register('createBackup', (params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    return store.createBackup(optStr(obj(params), 'name'));
  });
  d.register('backupTo', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    ctx.authorize('admin', '*');
    const dir = options.backupDir;
    if (dir === undefined)
      throw notSupported(
        'backupTo (this server has no backup directory: server option backupDir, CLI --backup-dir)',
      );
    const name = backupFileName(p);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const target = join(dir, name);
    // A link placed in the backup directory must not redirect the write elsewhere.
    let link = false;
    try {
      link = lstatSync(target).isSymbolicLink();
    } catch {
      /* does not exist yet */
    }
    if (link) throw invalidParams(`"${name}" in the backup directory is a symbolic link`);
    return store.backupTo(target, { overwrite: p.overwrite === true });
  });
  d.register('listBackups', (_params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    return store.listBackups();
  });
  d.register('restoreBackup', async (params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    await store.restoreBackup(str(obj(params), 'name'));
    return true;
  });
  d.register('deleteBackup', (params: unknown, ctx: MethodContext) => {
    ctx.authorize('admin', '*');
    return store.deleteBackup(str(obj(params), 'name'));
  });

  // ── History (P-6): wired when the store provides it ──
  d.register(
    'history',
    reader(async (b, p) => {
      const h = b as unknown as { history?: (k: unknown, o?: object) => Promise<unknown> };
      if (typeof h.history !== 'function')
        throw notSupported('history (this store version keeps no history)');
      const o: Record<string, number> = {};
      const limit = optInt(p, 'limit', 1);
      const since = optNum(p, 'since');
      const until = optNum(p, 'until');
      if (limit !== undefined) o.limit = limit;
      if (since !== undefined) o.since = since;
      if (until !== undefined) o.until = until;
      return h.history(key(p), o);
    }),
  );
  d.register(
    'restoreVersion',
    writer(async (b, p, o) => {
      const h = b as unknown as { restoreVersion?: (k: unknown, v: number, o?: object) => Promise<unknown> };
      if (typeof h.restoreVersion !== 'function')
        throw notSupported('restoreVersion (this store version keeps no history)');
      return h.restoreVersion(key(p), int(p, 'version', 1), o);
    }),
  );
  d.register('changes', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    ctx.authorize('read', '*');
    const s = store as unknown as { changes?: (o: object) => Promise<unknown> };
    if (typeof s.changes !== 'function')
      throw notSupported('changes (this store version has no change feed)');
    const o: Record<string, number> = {};
    const since = optInt(p, 'since');
    const limit = optInt(p, 'limit', 1);
    if (since !== undefined) o.since = since;
    if (limit !== undefined) o.limit = limit;
    return s.changes(o);
  });
}

/** Stats narrowed to the buckets a caller may read (names, counts and totals of those only). */
function readableStats(
  stats: StoreStats,
  readable: (bucket: string) => boolean,
  queries: number,
): StoreStats {
  const names = stats.buckets.names.filter(readable);
  const pick = (per: Record<string, number>) => {
    const out: Record<string, number> = {};
    let total = 0;
    for (const n of names) {
      out[n] = per[n] ?? 0;
      total += out[n]!;
    }
    return { total, perBucket: out };
  };
  return {
    ...stats,
    buckets: { count: names.length, names },
    records: pick(stats.records.perBucket),
    indexes: pick(stats.indexes.perBucket),
    queries: { defined: queries, activeSubscriptions: 0 },
  };
}

const TX_OPS = new Set([
  'insert',
  'update',
  'delete',
  'upsert',
  'insertMany',
  'updateMany',
  'deleteMany',
  'get',
  'all',
  'where',
  'findOne',
  'count',
]);

async function runOp(t: TransactionBucketHandle, o: P): Promise<unknown> {
  switch (o.op) {
    case 'insert':
      return t.insert(record(o, 'record'));
    case 'update': {
      const k = key(o);
      const expected = optInt(o, 'expectedVersion', 1);
      if (expected !== undefined) {
        const cur = await t.get(k);
        if (cur?._version !== expected) throw conflict(t.name, k, expected, cur?._version);
      }
      return t.update(k, record(o, 'changes'));
    }
    case 'delete': {
      const k = key(o);
      const expected = optInt(o, 'expectedVersion', 1);
      if (expected !== undefined) {
        const cur = await t.get(k);
        if (cur?._version !== expected) throw conflict(t.name, k, expected, cur?._version);
      } else if ((await t.get(k)) === undefined) return false;
      await t.delete(k);
      return true;
    }
    case 'upsert':
      return t.upsert(record(o, 'record'));
    case 'insertMany':
      return t.insertMany(list(o, 'records') as P[]);
    case 'updateMany':
      return t.updateMany(record(o, 'filter'), record(o, 'changes'));
    case 'deleteMany':
      return t.deleteMany(record(o, 'filter'));
    case 'get':
      return orNull(await t.get(key(o)));
    case 'all':
      return t.all();
    case 'where':
      return t.where(record(o, 'filter'));
    case 'findOne':
      return orNull(await t.findOne(record(o, 'filter')));
    case 'count':
      return t.count(optRecord(o, 'filter'));
    default:
      throw invalidParams(`unknown operation "${String(o.op)}"`);
  }
}

/** Marks which operation of a transaction failed (`data.operation`). */
function attachOperation(e: unknown, index: number): void {
  if (e !== null && typeof e === 'object') {
    try {
      Object.defineProperty(e, 'operation', { value: index, enumerable: true, configurable: true });
      if (e instanceof RpcError) (e.data as Record<string, unknown>).operation = index;
    } catch {
      /* frozen error: no index */
    }
  }
}
