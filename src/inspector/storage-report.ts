// Sizes of a store for the inspector: for SQLite the file, its write-ahead
// log and the stored bytes of each bucket (record rows plus history rows);
// for PostgreSQL the size of Quire's tables and the same per-bucket sums. The
// per-bucket sums scan the tables, so they are cached for a while.
import { existsSync, statSync } from 'node:fs';

/** Sizes of a store's durable storage, as its opener knows them. */
export interface StorageReport {
  /** `sqlite`, `file`, `postgres` … */
  readonly kind: string;
  /** Where it is (a file path, a database name); shown to administrators only. */
  readonly location?: string;
  /** Bytes on disk of the store's main file (or database). */
  readonly bytes: number;
  /** Bytes in the write-ahead log not yet checkpointed. */
  readonly walBytes?: number;
  /** Stored bytes per bucket (records and their history). */
  readonly buckets?: Readonly<Record<string, number>>;
}

export type StorageReporter = () => StorageReport | Promise<StorageReport>;

/** What the report needs of an SQLiteAdapter. */
export interface SQLiteLike {
  readonly path: string;
  readonly database: {
    prepare(sql: string): { all(...params: unknown[]): unknown[] };
  };
}

function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/** A `storageReport` for QuireServer: sizes of `store` in the SQLite file of `adapter`. */
export function sqliteStorageReport(
  adapter: SQLiteLike,
  store: string,
  options: { cacheMs?: number } = {},
): () => StorageReport {
  const cacheMs = options.cacheMs ?? 60_000;
  let cached: { at: number; buckets: Record<string, number> } | undefined;
  const perBucket = (): Record<string, number> => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return cached.buckets;
    const db = adapter.database;
    const buckets: Record<string, number> = {};
    const rows = db
      .prepare(
        `SELECT b.name AS name,
           (SELECT COALESCE(SUM(LENGTH(r.data) + LENGTH(r.key)), 0) FROM quire_records r WHERE r.bucket_id = b.id) +
           (SELECT COALESCE(SUM(LENGTH(COALESCE(h.data, '')) + LENGTH(h.key)), 0) FROM quire_history h WHERE h.bucket_id = b.id)
           AS bytes
         FROM quire_buckets b WHERE b.store = ?`,
      )
      .all(store) as Array<{ name: string; bytes: number }>;
    for (const r of rows) buckets[r.name] = r.bytes;
    cached = { at: Date.now(), buckets };
    return buckets;
  };
  return () => {
    let buckets: Record<string, number> | undefined;
    try {
      buckets = adapter.path === ':memory:' ? undefined : perBucket();
    } catch {
      buckets = undefined; // an older file without history tables, or a closing database
    }
    return {
      kind: 'sqlite',
      location: adapter.path,
      bytes: sizeOf(adapter.path),
      walBytes: sizeOf(`${adapter.path}-wal`),
      ...(buckets !== undefined ? { buckets } : {}),
    };
  };
}

/** What the report needs of a PostgresAdapter. */
export interface PostgresLike {
  /** The PostgreSQL schema holding the store's tables. */
  readonly schema: string;
  /** Where the database is, without the password. */
  readonly location: string;
  pool(): Promise<{
    query(sql: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  }>;
}

/**
 * A `storageReport` for QuireServer on PostgreSQL: `bytes` is the size of
 * Quire's tables in the schema with their indexes and TOAST
 * (`pg_total_relation_size`), shared by every store of the schema; per bucket
 * the stored bytes of its records and history rows (cached like the SQLite
 * report's). PostgreSQL's write-ahead log belongs to the whole server, so
 * there is no `walBytes`.
 */
export function postgresStorageReport(
  adapter: PostgresLike,
  store: string,
  options: { cacheMs?: number } = {},
): () => Promise<StorageReport> {
  const cacheMs = options.cacheMs ?? 60_000;
  let cached: { at: number; buckets: Record<string, number> } | undefined;
  const q = (name: string) => `"${adapter.schema}".${name}`;
  return async () => {
    const pool = await adapter.pool();
    const size = await pool.query(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname LIKE 'quire\\_%'`,
      [adapter.schema],
    );
    let buckets: Record<string, number> | undefined = cached?.buckets;
    if (cached === undefined || Date.now() - cached.at >= cacheMs) {
      try {
        const rows = await pool.query(
          `SELECT b.name AS name,
             (SELECT COALESCE(SUM(octet_length(r.data) + octet_length(r.key)), 0) FROM ${q('quire_records')} r WHERE r.bucket_id = b.id) +
             (SELECT COALESCE(SUM(octet_length(COALESCE(h.data, '')) + octet_length(h.key)), 0) FROM ${q('quire_history')} h WHERE h.bucket_id = b.id)
             AS bytes
           FROM ${q('quire_buckets')} b WHERE b.store = $1`,
          [store],
        );
        buckets = {};
        for (const r of rows.rows) buckets[String(r.name)] = Number(r.bytes);
        cached = { at: Date.now(), buckets };
      } catch {
        buckets = undefined; // tables of another layout version
      }
    }
    return {
      kind: 'postgres',
      location: adapter.location,
      bytes: Number(size.rows[0]?.bytes ?? 0),
      ...(buckets !== undefined ? { buckets } : {}),
    };
  };
}
