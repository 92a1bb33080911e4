// PostgresAdapter on its own: options, the missing driver, an unreachable
// database, its tables in the chosen schema, strict commits visible to
// other connections at once, a caller's pool, version checks and unique
// values enforced by the database.
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { DatabaseUnreachableError, InvalidArgumentError, Store } from '../../src/index.js';
import {
  CommitConflictError,
  PostgresAdapter,
  PostgresDriverMissingError,
} from '../../src/postgres/index.js';
import { pgSchema } from '../persistence/helpers.js';
import { freePort } from './cluster.js';

const url = () => inject('pgUrl');

async function sql<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url() });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

const def = {
  key: 'id',
  schema: { id: { type: 'number' }, email: { type: 'string', unique: true }, n: { type: 'number' } },
} as const;

describe('PostgresAdapter', () => {
  it('rejects bad options with typed errors', () => {
    expect(() => new PostgresAdapter(null as never)).toThrow(InvalidArgumentError);
    expect(() => new PostgresAdapter({ connectionString: '' })).toThrow(/connectionString/);
    expect(() => new PostgresAdapter({ pool: {} as never })).toThrow(/pg\.Pool/);
    expect(() => new PostgresAdapter({ connectionString: url() }, { schema: 'a"; DROP' })).toThrow(/schema/);
    expect(() => new PostgresAdapter({ connectionString: url() }, { poolSize: 1 })).toThrow(/poolSize/);
  });

  it('a missing driver is a typed error naming the package to install', async () => {
    const a = new PostgresAdapter({ connectionString: url() }, { driver: 'pg-not-installed-here' });
    const e = await a.open('s', { onError: () => {} }).catch((x) => x);
    expect(e).toBeInstanceOf(PostgresDriverMissingError);
    expect(e.code).toBe('POSTGRES_DRIVER_MISSING');
    expect(e.message).toMatch(/npm install pg/);
    // Store.start fails with it instead of running without storage.
    const s = await Store.start({ persistence: { adapter: a } }).catch((x) => x);
    expect(s).toBeInstanceOf(PostgresDriverMissingError);
  });

  it('an unreachable database fails Store.start with a clear error after the bounded wait', async () => {
    const port = await freePort();
    const adapter = new PostgresAdapter(
      { connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` },
      { connectTimeoutMs: 600 },
    );
    const t0 = Date.now();
    const e = await Store.start({ persistence: { adapter } }).catch((x) => x);
    expect(e).toBeInstanceOf(DatabaseUnreachableError);
    expect(e.code).toBe('DATABASE_UNREACHABLE');
    expect(e.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*unreachable`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
  });

  it('creates its tables in the chosen schema; a strict write is committed when it resolves', async () => {
    const schema = pgSchema();
    const adapter = new PostgresAdapter({ connectionString: url() }, { schema });
    const s = await Store.start({ name: 'app', persistence: { adapter, durability: 'strict' } });
    const b = await s.defineBucket('users', def);
    await b.insert({ id: 1, email: 'a@x.io', n: 1 });
    // Another connection sees it at once: committed, not only queued.
    const rows = await sql<{ key: string; data: string; version: string }>(
      `SELECT key, data, version FROM "${schema}".quire_records`,
    );
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.data)).toMatchObject({ id: 1, email: 'a@x.io' });
    const tables = await sql<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
      [schema],
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'quire_buckets',
      'quire_feed',
      'quire_history',
      'quire_instances',
      'quire_kv',
      'quire_log',
      'quire_meta',
      'quire_records',
      'quire_refs',
      'quire_stores',
      'quire_unique',
    ]);
    expect(await sql(`SELECT value FROM "${schema}".quire_meta WHERE key = 'schema_version'`)).toEqual([
      { value: '2' },
    ]);
    expect(await sql(`SELECT value, key FROM "${schema}".quire_unique`)).toEqual([
      { value: '"a@x.io"', key: '1' },
    ]);
    await s.stop();
    // A second open finds the tables in place and the data.
    const again = await Store.start({
      name: 'app',
      persistence: { adapter: new PostgresAdapter({ connectionString: url() }, { schema }) },
    });
    expect(await (await again.defineBucket('users', def)).get(1)).toMatchObject({ email: 'a@x.io' });
    await again.stop();
  });

  it('works on a pool the caller owns, and leaves it open', async () => {
    const pool = new pg.Pool({ connectionString: url(), max: 3 });
    const schema = pgSchema();
    const s = await Store.start({
      persistence: { adapter: new PostgresAdapter({ pool }, { schema }), durability: 'strict' },
    });
    await (await s.defineBucket('b', def)).insert({ id: 5, email: 'p@x.io', n: 0 });
    await s.stop();
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".quire_records`)).rows).toEqual([
      { n: 1 },
    ]);
    await pool.end();
  });

  it('refuses a write based on a stale version or a taken unique value, writing nothing', async () => {
    const schema = pgSchema();
    const a = new PostgresAdapter({ connectionString: url() }, { schema });
    await a.open('s', { onError: () => {} });
    const definition = { definition: def as unknown as Record<string, unknown>, functions: [] };
    await a.commit('s', {
      buckets: [{ bucket: 'b', definition }],
      records: [
        {
          bucket: 'b',
          key: '1',
          op: 'insert',
          seq: 1,
          ord: 1,
          version: 1,
          base: 0,
          data: '{"id":1,"email":"x"}',
        },
      ],
      lastSeq: 1,
    });
    const stale = a.commit('s', {
      buckets: [],
      records: [
        { bucket: 'b', key: '2', op: 'insert', seq: 2, ord: 2, version: 1, base: 0, data: '{"id":2}' },
        { bucket: 'b', key: '1', op: 'update', seq: 3, ord: 1, version: 3, base: 2, data: '{"id":1}' },
      ],
      lastSeq: 3,
    });
    const e = await stale.catch((x) => x);
    expect(e).toBeInstanceOf(CommitConflictError);
    expect(e.conflicts).toEqual([{ bucket: 'b', key: '1', reason: 'version' }]);
    const taken = await a
      .commit('s', {
        buckets: [],
        records: [
          {
            bucket: 'b',
            key: '3',
            op: 'insert',
            seq: 4,
            ord: 4,
            version: 1,
            base: 0,
            data: '{"id":3,"email":"x"}',
          },
        ],
        lastSeq: 4,
      })
      .catch((x) => x);
    expect(taken).toBeInstanceOf(CommitConflictError);
    expect(taken.conflicts).toEqual([
      { bucket: 'b', key: '3', reason: 'unique', field: 'email', value: '"x"' },
    ]);
    const exists = await a
      .commit('s', {
        buckets: [],
        records: [
          { bucket: 'b', key: '1', op: 'insert', seq: 5, ord: 5, version: 1, base: 0, data: '{"id":1}' },
        ],
        lastSeq: 5,
      })
      .catch((x) => x);
    expect(exists.conflicts).toEqual([{ bucket: 'b', key: '1', reason: 'exists' }]);
    // Nothing of the refused commits is stored, and the seq counter did not move.
    expect(await sql(`SELECT key, version FROM "${schema}".quire_records ORDER BY key`)).toEqual([
      { key: '1', version: '1' },
    ]);
    expect(await sql(`SELECT last_seq FROM "${schema}".quire_stores`)).toEqual([{ last_seq: '1' }]);
    await a.close('s');
  });
});
