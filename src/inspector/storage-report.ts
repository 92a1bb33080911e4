// Sizes of an SQLite store for the inspector: the file, its write-ahead log,
// and the stored bytes of each bucket (record rows plus history rows). The
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
