// PostgresAdapter: the store on PostgreSQL, shared by many Quire processes.
//
// It implements the same incremental adapter interface as SQLiteAdapter: one
// PostgreSQL transaction per flush with per-record upserts and deletes,
// stored definitions, autoincrement counters, history and change-feed rows in
// the same transaction. Commits run with synchronous_commit=on, so a commit
// that returned is on disk.
//
// What differs from a private SQLite file is that other instances write too:
// - Every record write carries the version its writer based it on (`base`);
//   the row is written only if the stored version still matches, else the
//   commit fails with CommitConflictError naming the records (no lost update).
// - Sequence numbers are global: a commit takes the next ones from the
//   store's row in quire_stores *after* its record writes. That row lock is
//   held to COMMIT, so seqs are handed out in commit order without gaps
//   between commits: a reader that has seen seq N can never later find a
//   commit with a smaller seq (the change log is commit-ordered).
// - Every record write also goes into quire_log (the folded record state,
//   tagged with the writing instance), which other instances tail (tail.ts).
//
// Layout, in the chosen schema (version 1):
//   quire_meta(key, value)                            schema_version, created_at
//   quire_stores(name, last_seq)                      the store's global change counter
//   quire_buckets(id, store, name, definition, counter)
//   quire_records(bucket_id, key, ord, version, data) primary key (bucket_id, key); ord from
//       quire_ord (insertion order; a restore scans (bucket_id, ord))
//   quire_history(id, bucket_id, key, seq, version, op, at, actor, data)
//   quire_feed(store, seq, bucket, key, op, version, at, actor)  the change feed
//   quire_log(store, seq, bucket, key, op, version, data, origin, at)  record writes, for other instances
//   quire_unique(bucket_id, name, value, key)         unique index entries (global constraints)
//   quire_refs(store, bucket, key, field, target, target_key, on_delete)  references (version 2)
//   quire_kv(key, value)                              noex-style snapshot keys (backups)
import { randomUUID } from 'node:crypto';
import type { HistoryFilter, StoreRecord } from '../engine/index.js';
import { InvalidArgumentError } from '../engine/index.js';
import type {
  AdapterContext,
  CommitUnit,
  FeedWrite,
  FollowOptions,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  RemoteSnapshot,
  RemoteWrite,
  StoredBucket,
  StoredDefinition,
} from '../persistence/index.js';
import {
  bucketKey,
  CommitConflictError,
  type ConflictingWrite,
  DatabaseUnreachableError,
  parseBucketKey,
  StorageError,
  snapshotView,
  toStorageError,
} from '../persistence/index.js';
import { loadDriver, type PgClient, type PgPool } from './driver.js';
import { Follower, type ListenClient } from './follower.js';
import { type RefSpec, refEntries, refSpecs } from './refs.js';
import { type UniqueSpec, uniqueEntries, uniqueSpecs } from './unique.js';

export const POSTGRES_SCHEMA_VERSION = 2;

export type PostgresConnection = { readonly connectionString: string } | { readonly pool: PgPool };

export interface PostgresAdapterOptions {
  /** PostgreSQL schema holding Quire's tables (created if missing). Default `public`. */
  readonly schema?: string;
  /** How long `open` keeps trying to reach the database before failing (ms). Default 10000. */
  readonly connectTimeoutMs?: number;
  /** Connections in the adapter's own pool (with `connectionString`). Default 4. */
  readonly poolSize?: number;
  /**
   * How often (ms) an instance checks for other instances' commits without
   * being notified (a lost notification costs at most this). Default 1000.
   */
  readonly pollMs?: number;
  /**
   * How long (ms) a strict write waits for its commit while the database does
   * not answer, before it is rejected with CommitTimeoutError (rolled back) or
   * CommitOutcomeUnknownError (sent, outcome unknown). Default 5000.
   */
  readonly commitTimeoutMs?: number;
  /**
   * How many of the latest log positions quire_log keeps for instances that
   * fall behind (the leader prunes older rows; an instance behind the pruned
   * tail reloads a snapshot instead). Default 100000.
   */
  readonly logKeep?: number;
  /** Module name of the driver (tests of the missing-driver error). Default `pg`. */
  readonly driver?: string;
}

/** One record write as other instances see it in quire_log. */
export interface LogEntry {
  readonly seq: number;
  readonly bucket: string;
  readonly key: string;
  readonly op: 'insert' | 'update' | 'delete';
  readonly version: number;
  readonly data: string | null;
  readonly origin: string;
  readonly at: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** PostgreSQL errors after which the same commit may simply be tried again. */
const RETRYABLE = new Set(['40001', '40P01']);

/** A numeric option of the adapter: `fallback` when absent, else a (whole) number >= `min`. */
function numberOption(name: string, value: unknown, fallback: number, min: number, integer = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(integer ? Number.isInteger(v) : Number.isFinite(v)) || v < min)
    throw new InvalidArgumentError(
      'PostgresAdapter',
      name,
      `expected ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(v)}`,
    );
  return v;
}

/** Connection-level failures (server gone, restarting, network). */
const CONNECTION_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const msg = e instanceof Error ? e.message : '';
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error|not queryable/i.test(
    msg,
  );
}

export class PostgresAdapter implements IncrementalAdapter {
  readonly readOnly = false;
  /** Identifies this adapter's writes in quire_log (so it does not apply them twice). */
  readonly instanceId = randomUUID();
  readonly schema: string;
  readonly #connection: PostgresConnection;
  readonly #connectTimeoutMs: number;
  readonly #poolSize: number;
  readonly #driver: string;
  #pool: PgPool | undefined;
  #ownPool = false;
  #ready: Promise<void> | undefined;
  readonly #stores = new Set<string>();
  readonly #ids = new Map<string, number>();
  /** store\0bucket → global seq as of which the bucket's records were loaded. */
  readonly #loadedAt = new Map<string, number>();
  /** store\0bucket → unique specs of its stored definition. */
  readonly #unique = new Map<string, UniqueSpec[]>();
  /** store\0bucket → references of its stored definition. */
  readonly #refs = new Map<string, RefSpec[]>();
  #onError: (e: Error) => void = () => {};
  /** Buckets (store\0bucket) being loaded right now: following pauses at their rows. */
  readonly #pendingLoads = new Set<string>();
  #loadWaiters: Array<() => void> = [];
  readonly #openedAt = new Map<string, number>();
  readonly #followers = new Map<string, Follower>();
  readonly #pollMs: number;
  /** Commit attempts so far (quire_instances.last_commit holds the last one that committed). */
  #attempts = 0;
  #uncertain: { attempt: number; unit: CommitUnit } | undefined;
  readonly commitTimeoutMs: number;
  readonly #logKeep: number;
  #lastUncertain = false;

  constructor(connection: PostgresConnection, options: PostgresAdapterOptions = {}) {
    if (connection === null || typeof connection !== 'object')
      throw new InvalidArgumentError(
        'PostgresAdapter',
        'connection',
        'expected {connectionString} or {pool}',
      );
    const c = connection as { connectionString?: unknown; pool?: unknown };
    if (c.pool !== undefined) {
      const p = c.pool as Partial<PgPool> | null;
      if (
        p === null ||
        typeof p !== 'object' ||
        typeof p.connect !== 'function' ||
        typeof p.query !== 'function'
      )
        throw new InvalidArgumentError('PostgresAdapter', 'pool', 'expected a pg.Pool');
    } else if (typeof c.connectionString !== 'string' || c.connectionString === '')
      throw new InvalidArgumentError('PostgresAdapter', 'connectionString', 'expected a postgres:// URL');
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError(
        'PostgresAdapter',
        'options',
        'expected {schema?, connectTimeoutMs?, poolSize?}',
      );
    const schema = options.schema ?? 'public';
    if (typeof schema !== 'string' || !IDENT.test(schema))
      throw new InvalidArgumentError(
        'PostgresAdapter',
        'schema',
        `expected an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), got ${JSON.stringify(schema)}`,
      );
    this.#connection = connection;
    this.schema = schema;
    this.#connectTimeoutMs = numberOption('connectTimeoutMs', options.connectTimeoutMs, 10_000, 0);
    this.#poolSize = numberOption('poolSize', options.poolSize, 4, 2, true);
    this.#driver = options.driver ?? 'pg';
    this.#pollMs = numberOption('pollMs', options.pollMs, 1000, 10);
    this.commitTimeoutMs = numberOption('commitTimeoutMs', options.commitTimeoutMs, 5000, 1);
    this.#logKeep = numberOption('logKeep', options.logKeep, 100_000, 1, true);
  }

  /** Whether the last failed `commit` may have committed (its connection broke during COMMIT). */
  commitOutcomeUnknown(_store: string): boolean {
    return this.#lastUncertain;
  }

  /** Where the database is, for messages (never the password). */
  get location(): string {
    const c = this.#connection as { connectionString?: string };
    if (c.connectionString === undefined) return `pool (schema "${this.schema}")`;
    try {
      const u = new URL(c.connectionString);
      return `postgres://${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname} (schema "${this.schema}")`;
    } catch {
      return `PostgreSQL (schema "${this.schema}")`;
    }
  }

  /** The channel this store's commits notify on. */
  channel(store: string): string {
    return `quire_${fnv(`${this.schema}\0${store}`)}`;
  }

  t(name: string): string {
    return `"${this.schema}".${name}`;
  }

  // ── Connection and schema ──────────────────────────────────────

  /** The pool, connected and with the tables in place. */
  async pool(): Promise<PgPool> {
    this.#ready ??= this.#connect().catch((e) => {
      this.#ready = undefined;
      throw e;
    });
    await this.#ready;
    return this.#pool!;
  }

  async #connect(): Promise<void> {
    if (this.#pool === undefined) {
      const c = this.#connection as { connectionString?: string; pool?: PgPool };
      if (c.pool !== undefined) this.#pool = c.pool;
      else {
        const pg = await loadDriver(this.#driver);
        this.#pool = new pg.Pool({
          connectionString: c.connectionString,
          max: this.#poolSize,
          connectionTimeoutMillis: Math.max(1000, Math.min(this.#connectTimeoutMs, 5000)),
          // Durability: a commit returns only once its WAL is flushed (strict mode's guarantee).
          options: '-c synchronous_commit=on',
        });
        this.#ownPool = true;
      }
      // An idle client's connection failing must not crash the process; the next use reconnects.
      this.#pool.on('error', (e) => this.#onError(toStorageError('connection', e, this.location)));
    }
    const until = Date.now() + this.#connectTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#upgrade();
        return;
      } catch (e) {
        if (!isConnectionError(e) || Date.now() >= until) {
          if (isConnectionError(e))
            throw new DatabaseUnreachableError(
              `PostgreSQL at ${this.location} is unreachable (gave up after ${this.#connectTimeoutMs} ms): ${(e as Error).message}`,
              { path: this.location, cause: e },
            );
          throw toStorageError('open', e, this.location);
        }
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }

  async #upgrade(): Promise<void> {
    await this.#tx(async (c) => {
      // Instances starting together create the tables one at a time.
      await c.query('SELECT pg_advisory_xact_lock($1)', [lockId(`schema\0${this.schema}`)]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.t('quire_meta')} (key text PRIMARY KEY, value text NOT NULL)`,
      );
      const r = await c.query<{ value: string }>(
        `SELECT value FROM ${this.t('quire_meta')} WHERE key = 'schema_version'`,
      );
      const from = r.rows.length === 0 ? 0 : Number(r.rows[0]!.value);
      if (from > POSTGRES_SCHEMA_VERSION)
        throw new StorageError(
          'open',
          `Schema "${this.schema}" has Quire storage version ${from}, newer than this Quire supports (${POSTGRES_SCHEMA_VERSION}); upgrade Quire`,
          { path: this.location },
        );
      if (from === POSTGRES_SCHEMA_VERSION) return;
      for (let v = from; v < POSTGRES_SCHEMA_VERSION; v++) await c.query(migration(v, (n) => this.t(n)));
      // Version 2 keeps references in quire_refs: fill it from the records stored before.
      if (from === 1) {
        const defs = await c.query<{ id: string; store: string; name: string; definition: string }>(
          `SELECT id, store, name, definition FROM ${this.t('quire_buckets')} WHERE definition IS NOT NULL`,
        );
        for (const b of defs.rows) {
          const specs = refSpecs(JSON.parse(b.definition) as StoredDefinition);
          if (specs.length > 0) await this.#rebuildRefs(c, b.store, Number(b.id), b.name, specs);
        }
      }
      await c.query(
        `INSERT INTO ${this.t('quire_meta')} (key, value) VALUES ('schema_version', $1), ('created_at', $2)
         ON CONFLICT (key) DO UPDATE SET value = CASE WHEN ${this.t('quire_meta')}.key = 'schema_version' THEN excluded.value ELSE ${this.t('quire_meta')}.value END`,
        [String(POSTGRES_SCHEMA_VERSION), new Date().toISOString()],
      );
    });
  }

  /** Run `fn` in a transaction on one pooled connection. */
  async #tx<T>(fn: (c: PgClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const pool = this.#pool!;
    const c = await pool.connect();
    let broken: Error | undefined;
    // The server may drop the connection between statements: that surfaces as the next
    // query's error; the event must not crash the process.
    const onError = (e: Error) => {
      broken = e;
    };
    c.on('error', onError);
    try {
      await c.query(begin);
      const out = await fn(c);
      try {
        await c.query('COMMIT');
      } catch (e) {
        if (e !== null && typeof e === 'object') duringCommit.add(e);
        throw e;
      }
      return out;
    } catch (e) {
      if (isConnectionError(e)) broken = e as Error;
      else
        await c.query('ROLLBACK').catch((r) => {
          broken = r as Error;
        });
      throw e;
    } finally {
      c.removeListener('error', onError);
      c.release(broken ?? false);
    }
  }

  // ── IncrementalAdapter ─────────────────────────────────────────

  async open(store: string, context: AdapterContext): Promise<{ lastSeq: number }> {
    this.#onError = (e) => context.onError(e);
    const pool = await this.pool();
    this.#stores.add(store);
    try {
      await pool.query(
        `INSERT INTO ${this.t('quire_stores')} (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`,
        [store],
      );
      const r = await pool.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${this.t('quire_stores')} WHERE name = $1`,
        [store],
      );
      const lastSeq = Number(r.rows[0]?.last_seq ?? 0);
      this.#openedAt.set(store, lastSeq);
      return { lastSeq };
    } catch (e) {
      throw toStorageError('open', e, this.location);
    }
  }

  async reserveCounter(store: string, bucket: string, count: number): Promise<{ from: number; to: number }> {
    const pool = await this.pool();
    try {
      const r = await pool.query<{ counter: string }>(
        `INSERT INTO ${this.t('quire_buckets')} AS b (store, name, counter) VALUES ($1, $2, $3)
         ON CONFLICT (store, name) DO UPDATE SET counter = b.counter + $3 RETURNING counter`,
        [store, bucket, count],
      );
      const to = Number(r.rows[0]!.counter);
      return { from: to - count + 1, to };
    } catch (e) {
      throw toStorageError('commit', e, this.location);
    }
  }

  async releaseCounter(store: string, bucket: string, reservedTo: number, used: number): Promise<void> {
    if (used >= reservedTo) return;
    const pool = await this.pool();
    // Only when nobody reserved after this instance: the counter still ends its last block.
    await pool.query(
      `UPDATE ${this.t('quire_buckets')} SET counter = $4 WHERE store = $1 AND name = $2 AND counter = $3`,
      [store, bucket, reservedTo, used],
    );
  }

  /** The global seq as of which a bucket was last loaded (changes up to it are in its records). */
  loadedAt(store: string, bucket: string): number | undefined {
    return this.#loadedAt.get(`${store}\0${bucket}`);
  }

  async loadBucket(store: string, bucket: string): Promise<StoredBucket | undefined> {
    const pending = `${store}\0${bucket}`;
    this.#pendingLoads.add(pending);
    // Following resumes once the records are in memory (the store consumes them synchronously).
    const done = () => {
      if (!this.#pendingLoads.delete(pending) || this.#pendingLoads.size > 0) return;
      const waiters = this.#loadWaiters;
      this.#loadWaiters = [];
      setImmediate(() => {
        for (const w of waiters) w();
      });
    };
    let result: StoredBucket | undefined;
    try {
      result = await this.#loadBucket(store, bucket);
    } catch (e) {
      done();
      throw e;
    }
    if (result === undefined) {
      done();
      return undefined;
    }
    const records = result.records;
    let started = false;
    // Records the caller never reads must not hold following up.
    setImmediate(() => {
      if (!started) done();
    });
    return {
      ...result,
      records: {
        *[Symbol.iterator]() {
          started = true;
          try {
            yield* records;
          } finally {
            done();
          }
        },
      },
    };
  }

  async #loadBucket(store: string, bucket: string): Promise<StoredBucket | undefined> {
    await this.pool();
    const location = this.location;
    try {
      // One snapshot: the records and the seq they are current as of.
      return await this.#tx(async (c) => {
        const b = await c.query<{ id: string; definition: string | null; counter: string }>(
          `SELECT id, definition, counter FROM ${this.t('quire_buckets')} WHERE store = $1 AND name = $2`,
          [store, bucket],
        );
        const s = await c.query<{ last_seq: string }>(
          `SELECT last_seq FROM ${this.t('quire_stores')} WHERE name = $1`,
          [store],
        );
        this.#loadedAt.set(`${store}\0${bucket}`, Number(s.rows[0]?.last_seq ?? 0));
        const row = b.rows[0];
        if (row === undefined) return undefined;
        const id = Number(row.id);
        this.#ids.set(`${store}\0${bucket}`, id);
        const definition =
          row.definition !== null ? (JSON.parse(row.definition) as StoredDefinition) : undefined;
        this.#unique.set(`${store}\0${bucket}`, uniqueSpecs(definition));
        this.#refs.set(`${store}\0${bucket}`, refSpecs(definition));
        const data = await (c as unknown as ArrayQuery).query({
          text: `SELECT data FROM ${this.t('quire_records')} WHERE bucket_id = $1 ORDER BY ord`,
          values: [id],
          rowMode: 'array',
        });
        const rows = data.rows;
        return {
          definition,
          autoincrement: Number(row.counter),
          records: {
            *[Symbol.iterator]() {
              for (let i = 0; i < rows.length; i++) {
                const text = rows[i]![0] as string;
                rows[i] = EMPTY; // let the text go as soon as it is parsed
                let r: StoreRecord;
                try {
                  r = JSON.parse(text);
                } catch (e) {
                  throw new StorageError('load', `Corrupt record in bucket "${bucket}" of ${location}`, {
                    path: location,
                    cause: e,
                  });
                }
                yield r;
              }
            },
          },
        };
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (e) {
      throw toStorageError('load', e, location);
    }
  }

  /** Names of the stores kept in this schema. */
  async listStores(): Promise<string[]> {
    const pool = await this.pool();
    const r = await pool.query<{ store: string }>(
      `SELECT DISTINCT store FROM ${this.t('quire_buckets')} ORDER BY store`,
    );
    return r.rows.map((x) => x.store);
  }

  async listBuckets(store: string): Promise<string[]> {
    const pool = await this.pool();
    const r = await pool.query<{ name: string }>(
      `SELECT name FROM ${this.t('quire_buckets')} WHERE store = $1 ORDER BY id`,
      [store],
    );
    return r.rows.map((x) => x.name);
  }

  async #bucketId(c: PgClient, store: string, bucket: string, create: boolean): Promise<number | undefined> {
    const k = `${store}\0${bucket}`;
    const cached = this.#ids.get(k);
    if (cached !== undefined) return cached;
    let r = await c.query<{ id: string }>(
      `SELECT id FROM ${this.t('quire_buckets')} WHERE store = $1 AND name = $2`,
      [store, bucket],
    );
    if (r.rows.length === 0 && create)
      r = await c.query<{ id: string }>(
        `INSERT INTO ${this.t('quire_buckets')} (store, name) VALUES ($1, $2)
         ON CONFLICT (store, name) DO UPDATE SET name = excluded.name RETURNING id`,
        [store, bucket],
      );
    const id = r.rows[0] === undefined ? undefined : Number(r.rows[0].id);
    if (id !== undefined) this.#ids.set(k, id);
    return id;
  }

  async commit(store: string, unit: CommitUnit): Promise<void> {
    this.#lastUncertain = false;
    const pool = await this.pool();
    // The last attempt lost its connection: it may have committed. Find out before going on,
    // so a retry neither writes it twice nor mistakes its own rows for another instance's.
    const uncertain = this.#uncertain;
    if (uncertain !== undefined) {
      const r = await pool
        .query<{ n: string }>(`SELECT last_commit AS n FROM ${this.t('quire_instances')} WHERE id = $1`, [
          this.instanceId,
        ])
        .catch((e) => {
          throw toStorageError('commit', e, this.location);
        });
      this.#uncertain = undefined;
      if (Number(r.rows[0]?.n ?? 0) >= uncertain.attempt) unit = withoutCommitted(unit, uncertain.unit);
    }
    for (let attempt = 0; ; attempt++) {
      const n = ++this.#attempts;
      try {
        await this.#tx((c) => this.#commit(c, store, unit, n));
        return;
      } catch (e) {
        // Cached bucket ids may name rows the rollback removed.
        this.#ids.clear();
        // Only a connection lost while COMMIT was under way leaves the outcome open;
        // before that, the server rolls the transaction back.
        if (isConnectionError(e) && duringCommit.has(e as object)) {
          this.#uncertain = { attempt: n, unit };
          this.#lastUncertain = true;
        }
        if (e instanceof CommitConflictError) throw e;
        const code = (e as { code?: string }).code;
        if (code !== undefined && RETRYABLE.has(code) && attempt < 5) continue;
        throw toStorageError('commit', e, this.location);
      }
    }
  }

  async #commit(c: PgClient, store: string, unit: CommitUnit, attempt: number): Promise<void> {
    const T = (n: string) => this.t(n);
    // Bucket-level changes first.
    for (const b of unit.buckets) {
      if (b.drop === true || b.clear === true) {
        const id = await this.#bucketId(c, store, b.bucket, false);
        if (id !== undefined) {
          await c.query(`DELETE FROM ${T('quire_records')} WHERE bucket_id = $1`, [id]);
          await c.query(`DELETE FROM ${T('quire_unique')} WHERE bucket_id = $1`, [id]);
          await c.query(`DELETE FROM ${T('quire_refs')} WHERE store = $1 AND bucket = $2`, [store, b.bucket]);
          if (b.drop === true) {
            await c.query(`DELETE FROM ${T('quire_history')} WHERE bucket_id = $1`, [id]);
            await c.query(`DELETE FROM ${T('quire_buckets')} WHERE id = $1`, [id]);
            this.#ids.delete(`${store}\0${b.bucket}`);
            this.#unique.delete(`${store}\0${b.bucket}`);
            this.#refs.delete(`${store}\0${b.bucket}`);
          }
        }
      }
      if (b.definition !== undefined || b.autoincrement !== undefined) {
        const id = (await this.#bucketId(c, store, b.bucket, true))!;
        if (b.definition !== undefined) {
          const prev = await c.query<{ definition: string | null }>(
            `SELECT definition FROM ${T('quire_buckets')} WHERE id = $1 FOR UPDATE`,
            [id],
          );
          const before = prev.rows[0]?.definition;
          const specs = uniqueSpecs(b.definition);
          await c.query(`UPDATE ${T('quire_buckets')} SET definition = $1 WHERE id = $2`, [
            JSON.stringify(b.definition),
            id,
          ]);
          this.#unique.set(`${store}\0${b.bucket}`, specs);
          const oldSpecs = uniqueSpecs(before == null ? undefined : (JSON.parse(before) as StoredDefinition));
          if (JSON.stringify(oldSpecs) !== JSON.stringify(specs)) await this.#rebuildUnique(c, id, specs);
          const refs = refSpecs(b.definition);
          this.#refs.set(`${store}\0${b.bucket}`, refs);
          const oldRefs = refSpecs(before == null ? undefined : (JSON.parse(before) as StoredDefinition));
          if (JSON.stringify(oldRefs) !== JSON.stringify(refs))
            await this.#rebuildRefs(c, store, id, b.bucket, refs);
        }
        // Counters only move up: another instance may have moved it further.
        if (b.autoincrement !== undefined)
          await c.query(`UPDATE ${T('quire_buckets')} SET counter = GREATEST(counter, $1) WHERE id = $2`, [
            b.autoincrement,
            id,
          ]);
      }
    }
    // Record writes, per bucket, each with its version check.
    const conflicts: ConflictingWrite[] = [];
    const byBucket = new Map<string, CommitUnit['records'][number][]>();
    for (const w of unit.records) {
      let list = byBucket.get(w.bucket);
      if (list === undefined) byBucket.set(w.bucket, (list = []));
      list.push(w);
    }
    const written = new Map<string, Set<string>>();
    await this.#knowSpecs(c, store, [...byBucket.keys()]);
    for (const [bucket, writes] of byBucket) {
      const id = (await this.#bucketId(c, store, bucket, true))!;
      written.set(bucket, await this.#writeRecords(c, store, bucket, id, writes, conflicts));
    }
    if (conflicts.length === 0) await this.#writeRefs(c, store, byBucket, written, conflicts);
    if (conflicts.length > 0) throw new CommitConflictError(conflicts);
    // Global seqs, taken last: the row lock on the store's counter is held to COMMIT,
    // so seqs follow commit order.
    const local = new Set<number>();
    for (const w of unit.records) local.add(w.seq);
    for (const h of unit.history ?? []) local.add(h.seq);
    for (const f of unit.feed ?? []) local.add(f.seq);
    // Keep this instance's numbers where they are free (a single instance keeps exactly its own
    // seqs, gaps for non-persistent changes included); move them up past what others took.
    const locked = await c.query<{ last_seq: string }>(
      `SELECT last_seq FROM ${T('quire_stores')} WHERE name = $1 FOR UPDATE`,
      [store],
    );
    if (locked.rows.length === 0)
      throw new StorageError('commit', `Store "${store}" is not registered in ${this.location}`);
    let g = Number(locked.rows[0]!.last_seq);
    const global = new Map<number, number>();
    for (const s of [...local].sort((a, b) => a - b)) global.set(s, (g = Math.max(g + 1, s)));
    const last = Math.max(g, unit.lastSeq);
    // Definitions defined, changed or dropped: other instances read them again.
    const defs = unit.buckets.some((b) => b.drop === true || b.definition !== undefined) ? 1 : 0;
    await c.query(
      `UPDATE ${T('quire_stores')} SET last_seq = $2, def_version = def_version + $3 WHERE name = $1`,
      [store, last, defs],
    );
    const at = Date.now();
    if (unit.records.length > 0) {
      const cols: unknown[][] = [[], [], [], [], [], []];
      for (const w of unit.records) {
        cols[0]!.push(global.get(w.seq));
        cols[1]!.push(w.bucket);
        cols[2]!.push(w.key);
        cols[3]!.push(w.op);
        cols[4]!.push(w.version);
        cols[5]!.push(w.data ?? null);
      }
      await c.query(
        `INSERT INTO ${T('quire_log')} (store, seq, bucket, key, op, version, data, origin, at, txn)
         SELECT $1, s, b, k, o, v, d, $8, $9, $10
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) AS w(s, b, k, o, v, d)`,
        [store, ...cols, this.instanceId, at, last],
      );
    }
    if (unit.history !== undefined && unit.history.length > 0)
      await this.#writeHistory(c, store, unit, global);
    if (unit.feed !== undefined && unit.feed.length > 0) {
      const cols: unknown[][] = [[], [], [], [], [], [], []];
      for (const f of unit.feed) {
        cols[0]!.push(global.get(f.seq));
        cols[1]!.push(f.bucket);
        cols[2]!.push(f.key);
        cols[3]!.push(f.op);
        cols[4]!.push(f.version);
        cols[5]!.push(f.at);
        cols[6]!.push(f.actor);
      }
      await c.query(
        `INSERT INTO ${T('quire_feed')} (store, seq, bucket, key, op, version, at, actor)
         SELECT $1, s, b, k, o, v, a, ac
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[]) AS w(s, b, k, o, v, a, ac)`,
        [store, ...cols],
      );
    }
    // Pruning the feed is once-only work: the leader's (see Follower); the others leave it.
    if (unit.feedPruneTo !== undefined && unit.feedPruneTo > 0 && this.isLeader(store)) {
      const keep = last - (unit.lastSeq - unit.feedPruneTo);
      await c.query(`DELETE FROM ${T('quire_feed')} WHERE store = $1 AND seq <= $2`, [store, keep]);
    }
    await c.query(
      `INSERT INTO ${T('quire_instances')} (id, last_commit, at) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_commit = excluded.last_commit, at = excluded.at`,
      [this.instanceId, attempt, at],
    );
    await c.query('SELECT pg_notify($1, $2)', [this.channel(store), String(last)]);
  }

  async #writeRecords(
    c: PgClient,
    store: string,
    bucket: string,
    id: number,
    writes: CommitUnit['records'][number][],
    conflicts: ConflictingWrite[],
  ): Promise<Set<string>> {
    const T = (n: string) => this.t(n);
    // Writes whose base is unknown (older managers) are applied unconditionally.
    const fresh: typeof writes = [];
    const changed: typeof writes = [];
    const deleted: typeof writes = [];
    const blind: typeof writes = [];
    for (const w of writes) {
      if (w.base === undefined) blind.push(w);
      else if (w.op === 'delete') {
        if (w.base > 0) deleted.push(w);
      } else if (w.base === 0) fresh.push(w);
      else changed.push(w);
    }
    const specs = this.#unique.get(`${store}\0${bucket}`) ?? [];
    const written = new Set<string>();
    if (deleted.length > 0) {
      const r = await c.query<{ key: string }>(
        `DELETE FROM ${T('quire_records')} r USING unnest($2::text[], $3::bigint[]) AS w(k, b)
         WHERE r.bucket_id = $1 AND r.key = w.k AND r.version = w.b RETURNING r.key`,
        [id, deleted.map((w) => w.key), deleted.map((w) => w.base)],
      );
      for (const x of r.rows) written.add(x.key);
      for (const w of deleted) if (!written.has(w.key)) conflicts.push(conflictOf(w, 'version'));
    }
    if (changed.length > 0) {
      const r = await c.query<{ key: string }>(
        `UPDATE ${T('quire_records')} r
         SET version = w.v, data = w.d, ord = CASE WHEN w.o = 'insert' THEN nextval('${this.schema}.quire_ord') ELSE r.ord END
         FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]) WITH ORDINALITY AS w(k, b, v, d, o, i)
         WHERE r.bucket_id = $1 AND r.key = w.k AND r.version = w.b RETURNING r.key`,
        [
          id,
          changed.map((w) => w.key),
          changed.map((w) => w.base),
          changed.map((w) => w.version),
          changed.map((w) => w.data),
          changed.map((w) => w.op),
        ],
      );
      const ok = new Set(r.rows.map((x) => x.key));
      for (const w of changed) if (!ok.has(w.key)) conflicts.push(conflictOf(w, 'version'));
      for (const k of ok) written.add(k);
    }
    if (fresh.length > 0) {
      const sorted = [...fresh].sort((a, b) => a.ord - b.ord);
      const r = await c.query<{ key: string }>(
        `INSERT INTO ${T('quire_records')} (bucket_id, key, ord, version, data)
         SELECT $1, w.k, nextval('${this.schema}.quire_ord'), w.v, w.d
         FROM unnest($2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS w(k, v, d, i) ORDER BY w.i
         ON CONFLICT (bucket_id, key) DO NOTHING RETURNING key`,
        [id, sorted.map((w) => w.key), sorted.map((w) => w.version), sorted.map((w) => w.data)],
      );
      const ok = new Set(r.rows.map((x) => x.key));
      for (const w of fresh) if (!ok.has(w.key)) conflicts.push(conflictOf(w, 'exists'));
      for (const k of ok) written.add(k);
    }
    for (const w of blind) {
      if (w.op === 'delete')
        await c.query(`DELETE FROM ${T('quire_records')} WHERE bucket_id = $1 AND key = $2`, [id, w.key]);
      else
        await c.query(
          `INSERT INTO ${T('quire_records')} (bucket_id, key, ord, version, data) VALUES ($1, $2, nextval('${this.schema}.quire_ord'), $3, $4)
           ON CONFLICT (bucket_id, key) DO UPDATE SET version = excluded.version, data = excluded.data${w.op === 'insert' ? ', ord = excluded.ord' : ''}`,
          [id, w.key, w.version, w.data],
        );
      written.add(w.key);
    }
    if (specs.length > 0 && written.size > 0)
      await this.#writeUnique(c, bucket, id, specs, writes, written, conflicts);
    return written;
  }

  /** Unique and reference specs of buckets this adapter has not loaded (written through it all the same). */
  async #knowSpecs(c: PgClient, store: string, buckets: string[]): Promise<void> {
    const missing = buckets.filter((b) => !this.#refs.has(`${store}\0${b}`));
    if (missing.length === 0) return;
    const r = await c.query<{ name: string; definition: string | null }>(
      `SELECT name, definition FROM ${this.t('quire_buckets')} WHERE store = $1 AND name = ANY($2::text[])`,
      [store, missing],
    );
    for (const row of r.rows) {
      const def = row.definition === null ? undefined : (JSON.parse(row.definition) as StoredDefinition);
      this.#unique.set(`${store}\0${row.name}`, uniqueSpecs(def));
      this.#refs.set(`${store}\0${row.name}`, refSpecs(def));
    }
  }

  /**
   * Keep quire_refs in step with the written records, then hold the
   * references in the database: every reference written must point at a
   * stored record (locked FOR KEY SHARE, so a concurrent delete waits for
   * this commit or has already removed it), and nothing may still point at
   * a deleted record. A referrer this instance did not know of (another
   * instance wrote it) refuses the delete: with `restrict` the writer gets
   * ReferentialIntegrityError; with `cascade`/`set null` a conflict, and
   * the refreshed copy holds the referrer, so a retry covers it.
   */
  async #writeRefs(
    c: PgClient,
    store: string,
    byBucket: Map<string, CommitUnit['records'][number][]>,
    written: Map<string, Set<string>>,
    conflicts: ConflictingWrite[],
  ): Promise<void> {
    const T = (n: string) => this.t(n);
    const out: {
      source: string[];
      key: string[];
      field: string[];
      target: string[];
      tkey: string[];
      del: string[];
    } = { source: [], key: [], field: [], target: [], tkey: [], del: [] };
    const deleted: { bucket: string[]; key: string[] } = { bucket: [], key: [] };
    for (const [bucket, writes] of byBucket) {
      const done = written.get(bucket)!;
      const specs = this.#refs.get(`${store}\0${bucket}`) ?? [];
      const keys: string[] = [];
      for (const w of writes) {
        if (!done.has(w.key)) continue;
        if (w.op === 'delete') {
          deleted.bucket.push(bucket);
          deleted.key.push(w.key);
        }
        if (specs.length === 0) continue;
        keys.push(w.key);
        if (w.op === 'delete' || w.data === undefined) continue;
        for (const [spec, tkey] of refEntries(specs, JSON.parse(w.data) as Record<string, unknown>)) {
          out.source.push(bucket);
          out.key.push(w.key);
          out.field.push(spec.field);
          out.target.push(spec.target);
          out.tkey.push(tkey);
          out.del.push(spec.onDelete);
        }
      }
      if (keys.length > 0)
        await c.query(
          `DELETE FROM ${T('quire_refs')} WHERE store = $1 AND bucket = $2 AND key = ANY($3::text[])`,
          [store, bucket, keys],
        );
    }
    if (out.source.length > 0) {
      await c.query(
        `INSERT INTO ${T('quire_refs')} (store, bucket, key, field, target, target_key, on_delete)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
        [store, out.source, out.key, out.field, out.target, out.tkey, out.del],
      );
      const found = await c.query<{ t: string; k: string }>(
        `SELECT b.name AS t, r.key AS k FROM ${T('quire_records')} r
         JOIN ${T('quire_buckets')} b ON b.id = r.bucket_id
         JOIN (SELECT DISTINCT * FROM unnest($2::text[], $3::text[])) AS w(t, k) ON b.store = $1 AND b.name = w.t AND r.key = w.k
         FOR KEY SHARE OF r`,
        [store, out.target, out.tkey],
      );
      const present = new Set(found.rows.map((x) => `${x.t}\0${x.k}`));
      for (let i = 0; i < out.source.length; i++) {
        if (present.has(`${out.target[i]}\0${out.tkey[i]}`)) continue;
        const reference = {
          source: out.source[i]!,
          sourceKey: out.key[i]!,
          field: out.field[i]!,
          target: out.target[i]!,
          targetKey: out.tkey[i]!,
          onDelete: out.del[i] as RefSpec['onDelete'],
        };
        conflicts.push({
          bucket: reference.source,
          key: reference.sourceKey,
          reason: 'reference',
          reference,
        });
        // The target is gone: refresh this instance's copy of it too.
        conflicts.push({
          bucket: reference.target,
          key: reference.targetKey,
          reason: 'reference',
          reference,
        });
      }
    }
    if (deleted.bucket.length > 0) {
      const r = await c.query<Record<string, string>>(
        `SELECT f.bucket, f.key, f.field, f.target, f.target_key, f.on_delete FROM ${T('quire_refs')} f
         JOIN unnest($2::text[], $3::text[]) AS d(b, k) ON f.store = $1 AND f.target = d.b AND f.target_key = d.k`,
        [store, deleted.bucket, deleted.key],
      );
      for (const x of r.rows) {
        const reference = {
          source: x.bucket!,
          sourceKey: x.key!,
          field: x.field!,
          target: x.target!,
          targetKey: x.target_key!,
          onDelete: x.on_delete as RefSpec['onDelete'],
        };
        conflicts.push({
          bucket: reference.target,
          key: reference.targetKey,
          reason: 'reference',
          reference,
        });
        // The referrer this instance did not know of: the refresh brings it in.
        conflicts.push({
          bucket: reference.source,
          key: reference.sourceKey,
          reason: 'reference',
          reference,
        });
      }
    }
  }

  /** The references of a bucket changed: recompute its quire_refs rows from the stored records. */
  async #rebuildRefs(
    c: PgClient,
    store: string,
    id: number,
    bucket: string,
    specs: RefSpec[],
  ): Promise<void> {
    const T = (n: string) => this.t(n);
    await c.query(`DELETE FROM ${T('quire_refs')} WHERE store = $1 AND bucket = $2`, [store, bucket]);
    if (specs.length === 0) return;
    const rows = await c.query<{ key: string; data: string }>(
      `SELECT key, data FROM ${T('quire_records')} WHERE bucket_id = $1`,
      [id],
    );
    const cols: string[][] = [[], [], [], [], []];
    for (const r of rows.rows)
      for (const [spec, tkey] of refEntries(specs, JSON.parse(r.data))) {
        cols[0]!.push(r.key);
        cols[1]!.push(spec.field);
        cols[2]!.push(spec.target);
        cols[3]!.push(tkey);
        cols[4]!.push(spec.onDelete);
      }
    if (cols[0]!.length > 0)
      await c.query(
        `INSERT INTO ${T('quire_refs')} (store, bucket, key, field, target, target_key, on_delete)
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
        [store, bucket, ...cols],
      );
  }

  /** Keep quire_unique in step with the written records; a value another record holds is a conflict. */
  async #writeUnique(
    c: PgClient,
    bucket: string,
    id: number,
    specs: UniqueSpec[],
    writes: CommitUnit['records'][number][],
    written: Set<string>,
    conflicts: ConflictingWrite[],
  ): Promise<void> {
    const T = (n: string) => this.t(n);
    const keys = writes.filter((w) => written.has(w.key)).map((w) => w.key);
    await c.query(`DELETE FROM ${T('quire_unique')} WHERE bucket_id = $1 AND key = ANY($2::text[])`, [
      id,
      keys,
    ]);
    const names: string[] = [];
    const values: string[] = [];
    const owners: string[] = [];
    for (const w of writes) {
      if (w.op === 'delete' || w.data === undefined || !written.has(w.key)) continue;
      for (const [name, value] of uniqueEntries(specs, JSON.parse(w.data) as Record<string, unknown>)) {
        names.push(name);
        values.push(value);
        owners.push(w.key);
      }
    }
    if (names.length === 0) return;
    const r = await c.query<{ key: string }>(
      `INSERT INTO ${T('quire_unique')} (bucket_id, name, value, key)
       SELECT $1, n, v, k FROM unnest($2::text[], $3::text[], $4::text[]) AS w(n, v, k)
       ON CONFLICT (bucket_id, name, value) DO NOTHING RETURNING key, name, value`,
      [id, names, values, owners],
    );
    if (r.rows.length === names.length) return;
    const ok = new Set(
      r.rows.map((x) => `${(x as { name?: string }).name}\0${(x as { value?: string }).value}`),
    );
    for (let i = 0; i < names.length; i++) {
      if (ok.has(`${names[i]}\0${values[i]}`)) continue;
      const w = writes.find((x) => x.key === owners[i])!;
      conflicts.push({ ...conflictOf(w, 'unique'), field: names[i], value: values[i] });
    }
    void bucket;
  }

  /** The unique indexes of a bucket changed: recompute its quire_unique rows from the stored records. */
  async #rebuildUnique(c: PgClient, id: number, specs: UniqueSpec[]): Promise<void> {
    const T = (n: string) => this.t(n);
    await c.query(`DELETE FROM ${T('quire_unique')} WHERE bucket_id = $1`, [id]);
    if (specs.length === 0) return;
    const rows = await c.query<{ key: string; data: string }>(
      `SELECT key, data FROM ${T('quire_records')} WHERE bucket_id = $1`,
      [id],
    );
    const cols: string[][] = [[], [], []];
    for (const r of rows.rows)
      for (const [name, value] of uniqueEntries(specs, JSON.parse(r.data))) {
        cols[0]!.push(name);
        cols[1]!.push(value);
        cols[2]!.push(r.key);
      }
    if (cols[0]!.length > 0)
      await c.query(
        `INSERT INTO ${T('quire_unique')} (bucket_id, name, value, key)
         SELECT $1, n, v, k FROM unnest($2::text[], $3::text[], $4::text[]) AS w(n, v, k)`,
        [id, ...cols],
      );
  }

  async #writeHistory(
    c: PgClient,
    store: string,
    unit: CommitUnit,
    global: Map<number, number>,
  ): Promise<void> {
    const T = (n: string) => this.t(n);
    const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
    const touched = new Map<string, Set<string>>();
    for (const h of unit.history!) {
      const id = (await this.#bucketId(c, store, h.bucket, true))!;
      cols[0]!.push(id);
      cols[1]!.push(h.key);
      cols[2]!.push(global.get(h.seq));
      cols[3]!.push(h.version);
      cols[4]!.push(h.op);
      cols[5]!.push(h.at);
      cols[6]!.push(h.actor);
      cols[7]!.push(h.data);
      let keys = touched.get(h.bucket);
      if (keys === undefined) touched.set(h.bucket, (keys = new Set()));
      keys.add(h.key);
    }
    cols.pop();
    await c.query(
      `INSERT INTO ${T('quire_history')} (bucket_id, key, seq, version, op, at, actor, data)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::text[])`,
      cols,
    );
    for (const rule of unit.retention ?? []) {
      const keys = touched.get(rule.bucket);
      if (keys === undefined) continue;
      const id = (await this.#bucketId(c, store, rule.bucket, true))!;
      if (rule.maxVersions !== undefined)
        await c.query(
          `DELETE FROM ${T('quire_history')} h USING (
             SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY key ORDER BY seq DESC) AS n
                             FROM ${T('quire_history')} WHERE bucket_id = $1 AND key = ANY($2::text[])) x
             WHERE n > $3) old WHERE h.id = old.id`,
          [id, [...keys], rule.maxVersions],
        );
      if (rule.before !== undefined) {
        // Sweeping every key's old versions is once-only work: the leader's.
        if (rule.sweep === true && this.isLeader(store))
          await c.query(`DELETE FROM ${T('quire_history')} WHERE bucket_id = $1 AND at < $2`, [
            id,
            rule.before,
          ]);
        else
          await c.query(
            `DELETE FROM ${T('quire_history')} WHERE bucket_id = $1 AND key = ANY($2::text[]) AND at < $3`,
            [id, [...keys], rule.before],
          );
      }
    }
  }

  async readHistory(store: string, bucket: string, key: string, f: HistoryFilter): Promise<HistoryWrite[]> {
    const pool = await this.pool();
    const r = await pool.query<Record<string, string | null>>(
      `SELECT h.key, h.seq, h.version, h.op, h.at, h.actor, h.data
       FROM ${this.t('quire_history')} h JOIN ${this.t('quire_buckets')} b ON b.id = h.bucket_id
       WHERE b.store = $1 AND b.name = $2 AND h.key = $3 AND h.at >= $4 AND h.at <= $5 AND ($6::bigint IS NULL OR h.version = $6)
       ORDER BY h.seq DESC LIMIT $7`,
      [
        store,
        bucket,
        key,
        Number.isFinite(f.since) ? f.since : Number.MIN_SAFE_INTEGER,
        Number.isFinite(f.until) ? f.until : Number.MAX_SAFE_INTEGER,
        f.version ?? null,
        Number.isFinite(f.limit) ? f.limit : null,
      ],
    );
    return r.rows.map((x) => ({
      bucket,
      key: x.key!,
      seq: Number(x.seq),
      version: Number(x.version),
      op: x.op as HistoryWrite['op'],
      at: Number(x.at),
      actor: x.actor,
      data: x.data,
    }));
  }

  async readChanges(store: string, since: number, limit: number): Promise<FeedWrite[]> {
    const pool = await this.pool();
    const r = await pool.query<Record<string, string | null>>(
      `SELECT seq, bucket, key, op, version, at, actor FROM ${this.t('quire_feed')}
       WHERE store = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [store, since, Number.isFinite(limit) ? limit : null],
    );
    return r.rows.map(feedRow);
  }

  /**
   * Record writes (of every instance) after `since`, oldest first, in whole
   * commits: at least `limit` rows unless fewer exist, never half a commit.
   */
  async readLog(store: string, since: number, limit: number): Promise<LogEntry[]> {
    return (await this.readLogAfter(store, since, limit)).rows;
  }

  /**
   * readLog, and the log's floor (positions up to it are pruned) read in the
   * same statement, so the floor says whether `rows` miss anything.
   */
  async readLogAfter(
    store: string,
    since: number,
    limit: number,
  ): Promise<{ floor: number; defVersion: number; rows: LogEntry[] }> {
    const pool = await this.pool();
    const r = await pool.query<Record<string, string | null>>(
      `SELECT s.log_floor, s.def_version, l.* FROM ${this.t('quire_stores')} s LEFT JOIN LATERAL (
         SELECT seq, bucket, key, op, version, data, origin, at FROM ${this.t('quire_log')}
         WHERE store = $1 AND seq > $2 AND txn <= (
           SELECT max(txn) FROM (SELECT txn FROM ${this.t('quire_log')} WHERE store = $1 AND seq > $2 ORDER BY seq LIMIT $3) x)
         ORDER BY seq) l ON true
       WHERE s.name = $1`,
      [store, since, limit],
    );
    const floor = Number(r.rows[0]?.log_floor ?? 0);
    const defVersion = Number(r.rows[0]?.def_version ?? 0);
    const rows = r.rows.filter((x) => x.seq !== null);
    return {
      floor,
      defVersion,
      rows: rows.map((x) => ({
        seq: Number(x.seq),
        bucket: x.bucket!,
        key: x.key!,
        op: x.op as LogEntry['op'],
        version: Number(x.version),
        data: x.data,
        origin: x.origin!,
        at: Number(x.at),
      })),
    };
  }

  /**
   * Leader's once-only upkeep: cut quire_log back to its last `logKeep`
   * positions. The floor moves in the same transaction as the delete, so a
   * reader sees either both or neither.
   */
  async pruneLog(store: string): Promise<number> {
    await this.pool();
    return this.#tx(async (c) => {
      const s = await c.query<{ last_seq: string; log_floor: string }>(
        `SELECT last_seq, log_floor FROM ${this.t('quire_stores')} WHERE name = $1`,
        [store],
      );
      const row = s.rows[0];
      if (row === undefined) return 0;
      const floor = Number(row.last_seq) - this.#logKeep;
      // In steps of a tenth of what is kept: pruning is not done on every poll.
      if (floor - Number(row.log_floor) < Math.max(1, Math.floor(this.#logKeep / 10))) return 0;
      const d = await c.query(`DELETE FROM ${this.t('quire_log')} WHERE store = $1 AND seq <= $2`, [
        store,
        floor,
      ]);
      await c.query(
        `UPDATE ${this.t('quire_stores')} SET log_floor = GREATEST(log_floor, $2) WHERE name = $1`,
        [store, floor],
      );
      return d.rowCount ?? 0;
    });
  }

  /** The stored definitions of a store's buckets (JSON text; null: none stored yet). */
  async readDefinitions(store: string): Promise<Map<string, string | null>> {
    const pool = await this.pool();
    const r = await pool.query<{ name: string; definition: string | null }>(
      `SELECT name, definition FROM ${this.t('quire_buckets')} WHERE store = $1`,
      [store],
    );
    return new Map(r.rows.map((x) => [x.name, x.definition]));
  }

  /** Every record of the buckets this adapter loaded for a store, as of one snapshot (a lagging instance's reload). */
  async snapshot(store: string): Promise<RemoteSnapshot> {
    await this.pool();
    const names = [...this.#loadedAt.keys()]
      .filter((k) => k.startsWith(`${store}\0`))
      .map((k) => k.slice(store.length + 1));
    try {
      return await this.#tx(async (c) => {
        const s = await c.query<{ last_seq: string }>(
          `SELECT last_seq FROM ${this.t('quire_stores')} WHERE name = $1`,
          [store],
        );
        const seq = Number(s.rows[0]?.last_seq ?? 0);
        const buckets = new Map<string, Array<readonly [string, string]>>();
        for (const name of names) {
          const r = await (c as unknown as ArrayQuery).query({
            text: `SELECT r.key, r.data FROM ${this.t('quire_records')} r JOIN ${this.t('quire_buckets')} b ON b.id = r.bucket_id
                   WHERE b.store = $1 AND b.name = $2 ORDER BY r.ord`,
            values: [store, name],
            rowMode: 'array',
          });
          buckets.set(name, r.rows as Array<[string, string]>);
          this.#loadedAt.set(`${store}\0${name}`, seq);
        }
        return { seq, at: Date.now(), buckets };
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (e) {
      throw toStorageError('load', e, this.location);
    }
  }

  /** The stored state of some records (deleted or never stored: `data` null), as of one snapshot. */
  async readRecords(
    store: string,
    keys: ReadonlyArray<{ bucket: string; key: string }>,
  ): Promise<RemoteWrite[]> {
    await this.pool();
    return this.#tx(async (c) => {
      const s = await c.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${this.t('quire_stores')} WHERE name = $1`,
        [store],
      );
      const seq = Number(s.rows[0]?.last_seq ?? 0);
      const r = await c.query<{ bucket: string; key: string; data: string }>(
        `SELECT w.b AS bucket, w.k AS key, r.data
         FROM unnest($2::text[], $3::text[]) AS w(b, k)
         JOIN ${this.t('quire_buckets')} b ON b.store = $1 AND b.name = w.b
         JOIN ${this.t('quire_records')} r ON r.bucket_id = b.id AND r.key = w.k`,
        [store, keys.map((k) => k.bucket), keys.map((k) => k.key)],
      );
      const found = new Map(r.rows.map((x) => [`${x.bucket}\0${x.key}`, x.data]));
      const at = Date.now();
      return keys.map((k) => ({
        bucket: k.bucket,
        key: k.key,
        data: found.get(`${k.bucket}\0${k.key}`) ?? null,
        seq,
        at,
      }));
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  // ── Following other instances ───────────────────────────────────

  follow(store: string, deliver: (writes: RemoteWrite[]) => void, options: FollowOptions = {}): void {
    if (this.#followers.has(store)) return;
    const f = new Follower(this, store, this.#openedAt.get(store) ?? 0, deliver, {
      resync: options.resync,
      definitions: options.definitions,
      // A read-only opener (the inspector) must not hold the lock that once-only work needs.
      leaderLock: options.readOnly === true ? undefined : lockId(`leader\0${this.schema}\0${store}`),
      pollMs: this.#pollMs,
      onError: (e) => this.#onError(e),
      listen: () => this.#listenClient(),
    });
    this.#followers.set(store, f);
    f.start();
  }

  /** Where following a store stands: the last log position applied, and snapshot reloads so far. */
  following(store: string): { position: number; resyncs: number } | undefined {
    const f = this.#followers.get(store);
    return f === undefined ? undefined : { position: f.position, resyncs: f.resyncs };
  }

  /** Whether this instance holds the store's leader lock (it purges expired records). */
  isLeader(store: string): boolean {
    return this.#followers.get(store)?.leader ?? false;
  }

  /** @internal Decide what of a batch of log rows to hand up; `undefined`: stop before this row (a bucket is loading). */
  admit(store: string, row: LogEntry): 'apply' | 'skip' | 'wait' {
    const k = `${store}\0${row.bucket}`;
    if (this.#pendingLoads.has(k)) return 'wait';
    if (row.origin === this.instanceId) return 'skip';
    const loaded = this.#loadedAt.get(k);
    if (loaded === undefined || row.seq <= loaded) return 'skip';
    return 'apply';
  }

  /** @internal Resolves when no bucket is being loaded. */
  loadsSettled(): Promise<void> {
    if (this.#pendingLoads.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#loadWaiters.push(resolve));
  }

  async #listenClient(): Promise<ListenClient> {
    const c = this.#connection as { connectionString?: string; pool?: PgPool };
    if (c.pool !== undefined) {
      const client = await c.pool.connect();
      let released = false;
      return {
        client,
        close: async () => {
          if (released) return;
          released = true;
          client.release(true);
        },
      };
    }
    const pg = await loadDriver(this.#driver);
    const client = new pg.Client({
      connectionString: c.connectionString,
      connectionTimeoutMillis: 5000,
      application_name: `quire-listen-${this.instanceId.slice(0, 8)}`,
    });
    client.on('error', () => {}); // reported through 'end' by the follower
    await client.connect();
    return { client, close: () => client.end().catch(() => {}) };
  }

  /** @internal Every stored history and feed row of a store (backupTo, copy). */
  async dumpLog(store: string): Promise<{ history: HistoryWrite[]; feed: FeedWrite[] }> {
    const pool = await this.pool();
    const h = await pool.query<Record<string, string | null>>(
      `SELECT b.name AS bucket, h.key, h.seq, h.version, h.op, h.at, h.actor, h.data
       FROM ${this.t('quire_history')} h JOIN ${this.t('quire_buckets')} b ON b.id = h.bucket_id
       WHERE b.store = $1 ORDER BY h.seq`,
      [store],
    );
    const f = await pool.query<Record<string, string | null>>(
      `SELECT seq, bucket, key, op, version, at, actor FROM ${this.t('quire_feed')} WHERE store = $1 ORDER BY seq`,
      [store],
    );
    return {
      history: h.rows.map((x) => ({
        bucket: x.bucket!,
        key: x.key!,
        seq: Number(x.seq),
        version: Number(x.version),
        op: x.op as HistoryWrite['op'],
        at: Number(x.at),
        actor: x.actor,
        data: x.data,
      })),
      feed: f.rows.map(feedRow),
    };
  }

  async close(store?: string): Promise<void> {
    for (const [name, f] of this.#followers)
      if (store === undefined || name === store) {
        this.#followers.delete(name);
        await f.stop();
      }
    if (store !== undefined) {
      this.#stores.delete(store);
      if (this.#stores.size > 0) return;
    }
    const pool = this.#pool;
    const own = this.#ownPool;
    this.#pool = undefined;
    this.#ready = undefined;
    this.#ownPool = false;
    this.#ids.clear();
    if (pool !== undefined && own) await pool.end().catch(() => {});
  }

  // ── noex snapshot shape (key/value area; bucket keys show the incremental data) ──

  async save(key: string, data: PersistedState): Promise<void> {
    const pool = await this.pool();
    await pool.query(
      `INSERT INTO ${this.t('quire_kv')} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [key, JSON.stringify(data)],
    );
  }

  async load<T = unknown>(key: string): Promise<PersistedState<T> | undefined> {
    const pool = await this.pool();
    const r = await pool.query<{ value: string }>(`SELECT value FROM ${this.t('quire_kv')} WHERE key = $1`, [
      key,
    ]);
    if (r.rows.length > 0) return JSON.parse(r.rows[0]!.value) as PersistedState<T>;
    const bk = parseBucketKey(key);
    if (bk === undefined) return undefined;
    return snapshotView(bk.store, await this.loadBucket(bk.store, bk.bucket)) as
      | PersistedState<T>
      | undefined;
  }

  async delete(key: string): Promise<boolean> {
    const pool = await this.pool();
    const r = await pool.query(`DELETE FROM ${this.t('quire_kv')} WHERE key = $1`, [key]);
    return (r.rowCount ?? 0) > 0;
  }

  async exists(key: string): Promise<boolean> {
    return (await this.load(key)) !== undefined;
  }

  async listKeys(prefix = ''): Promise<string[]> {
    const pool = await this.pool();
    const kv = await pool.query<{ key: string }>(`SELECT key FROM ${this.t('quire_kv')}`);
    const buckets = await pool.query<{ store: string; name: string }>(
      `SELECT store, name FROM ${this.t('quire_buckets')}`,
    );
    const keys = new Set([
      ...kv.rows.map((r) => r.key),
      ...buckets.rows.map((b) => bucketKey(b.store, b.name)),
    ]);
    return [...keys].filter((k) => k.startsWith(prefix)).sort();
  }
}

interface ArrayQuery {
  query(config: { text: string; values: unknown[]; rowMode: 'array' }): Promise<{ rows: unknown[][] }>;
}

const EMPTY: unknown[] = [];
/** Errors thrown by the COMMIT statement itself. */
const duringCommit = new WeakSet<object>();

function feedRow(x: Record<string, string | null>): FeedWrite {
  return {
    seq: Number(x.seq),
    bucket: x.bucket!,
    key: x.key!,
    op: x.op as FeedWrite['op'],
    version: Number(x.version),
    at: Number(x.at),
    actor: x.actor,
  };
}

/**
 * `unit` minus what `committed` (an earlier attempt whose outcome was unknown,
 * found committed) already wrote. `unit` holds it again because a failed flush
 * is put back and merged with newer writes.
 */
function withoutCommitted(unit: CommitUnit, committed: CommitUnit): CommitUnit {
  const done = new Map(committed.records.map((w) => [`${w.bucket}\0${w.key}`, w]));
  const records: CommitUnit['records'][number][] = [];
  for (const w of unit.records) {
    const d = done.get(`${w.bucket}\0${w.key}`);
    if (d === undefined) records.push(w);
    else if (d.seq !== w.seq) records.push({ ...w, base: d.op === 'delete' ? 0 : d.version });
  }
  const seqs = new Set([...(committed.history ?? []), ...(committed.feed ?? [])].map((r) => r.seq));
  const sameOps = new Set(committed.buckets.map((b) => JSON.stringify(b)));
  return {
    ...unit,
    buckets: unit.buckets.filter((b) => !sameOps.has(JSON.stringify(b))),
    records,
    history: unit.history?.filter((h) => !seqs.has(h.seq)),
    feed: unit.feed?.filter((f) => !seqs.has(f.seq)),
  };
}

function conflictOf(w: CommitUnit['records'][number], reason: ConflictingWrite['reason']): ConflictingWrite {
  return { bucket: w.bucket, key: w.key, reason };
}

function migration(from: number, t: (name: string) => string): string {
  switch (from) {
    case 0:
      return `
        CREATE TABLE IF NOT EXISTS ${t('quire_stores')} (name text PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS ${t('quire_buckets')} (
          id bigserial PRIMARY KEY, store text NOT NULL, name text NOT NULL, definition text,
          counter bigint NOT NULL DEFAULT 0, UNIQUE (store, name));
        CREATE SEQUENCE IF NOT EXISTS ${t('quire_ord')};
        CREATE TABLE IF NOT EXISTS ${t('quire_records')} (
          bucket_id bigint NOT NULL, key text NOT NULL, ord bigint NOT NULL, version bigint NOT NULL,
          data text NOT NULL, PRIMARY KEY (bucket_id, key));
        CREATE INDEX IF NOT EXISTS quire_records_ord ON ${t('quire_records')} (bucket_id, ord);
        CREATE TABLE IF NOT EXISTS ${t('quire_history')} (
          id bigserial PRIMARY KEY, bucket_id bigint NOT NULL, key text NOT NULL, seq bigint NOT NULL,
          version bigint NOT NULL, op text NOT NULL, at bigint NOT NULL, actor text, data text);
        CREATE INDEX IF NOT EXISTS quire_history_key ON ${t('quire_history')} (bucket_id, key, seq);
        CREATE INDEX IF NOT EXISTS quire_history_at ON ${t('quire_history')} (bucket_id, at);
        CREATE TABLE IF NOT EXISTS ${t('quire_feed')} (
          store text NOT NULL, seq bigint NOT NULL, bucket text NOT NULL, key text NOT NULL, op text NOT NULL,
          version bigint NOT NULL, at bigint NOT NULL, actor text, PRIMARY KEY (store, seq));
        CREATE TABLE IF NOT EXISTS ${t('quire_log')} (
          store text NOT NULL, seq bigint NOT NULL, bucket text NOT NULL, key text NOT NULL, op text NOT NULL,
          version bigint NOT NULL, data text, origin text NOT NULL, at bigint NOT NULL, txn bigint NOT NULL,
          PRIMARY KEY (store, seq));
        CREATE INDEX IF NOT EXISTS quire_log_at ON ${t('quire_log')} (store, at);
        CREATE TABLE IF NOT EXISTS ${t('quire_unique')} (
          bucket_id bigint NOT NULL, name text NOT NULL, value text NOT NULL, key text NOT NULL,
          PRIMARY KEY (bucket_id, name, value));
        CREATE INDEX IF NOT EXISTS quire_unique_key ON ${t('quire_unique')} (bucket_id, key);
        CREATE TABLE IF NOT EXISTS ${t('quire_kv')} (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE IF NOT EXISTS ${t('quire_instances')} (id text PRIMARY KEY, last_commit bigint NOT NULL, at bigint NOT NULL);
      `;
    case 1:
      return `
        CREATE TABLE IF NOT EXISTS ${t('quire_refs')} (
          store text NOT NULL, bucket text NOT NULL, key text NOT NULL, field text NOT NULL,
          target text NOT NULL, target_key text NOT NULL, on_delete text NOT NULL,
          PRIMARY KEY (store, bucket, key, field));
        ALTER TABLE ${t('quire_stores')} ADD COLUMN IF NOT EXISTS log_floor bigint NOT NULL DEFAULT 0;
        ALTER TABLE ${t('quire_stores')} ADD COLUMN IF NOT EXISTS def_version bigint NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS quire_refs_target ON ${t('quire_refs')} (store, target, target_key);
      `;
    default:
      throw new StorageError('open', `No storage migration from version ${from}`);
  }
}

/** A 64-bit advisory lock id from text (FNV-1a, as a signed bigint string). */
export function lockId(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(text, 'utf8')) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, h).toString();
}

function fnv(text: string): string {
  return (BigInt(lockId(text)) & 0xffffffffffffn).toString(36);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
