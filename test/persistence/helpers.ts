// Shared helpers for the persistence tests: temp directories, adapter
// factories, and a wrapper that makes a real adapter fail on demand (to
// simulate a full disk or a vanished volume without mocking SQLite).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, expect, inject } from 'vitest';
import type { BucketDefinition, CommitUnit, IncrementalAdapter } from '../../src/index.js';
import { FileAdapter, MemoryAdapter, SQLiteAdapter, Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'quire-persist-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The one number `sql` selects from an SQLite file, read on a read-only connection of its own. */
export function storedNumber(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Record rows stored in an SQLite file (all buckets). */
export function storedRows(file: string): number {
  return storedNumber(file, 'SELECT count(*) FROM quire_records');
}

/**
 * A debounced store "d" on `adapter` whose writer thread runs: bucket "b" ({id: number, v: string},
 * as `definition`) gets 100 records in a first large unit, which commits on the main thread and
 * starts the thread. Storage errors go to `errors`.
 */
export async function storeWithThread(
  adapter: SQLiteAdapter,
  errors: Error[],
  definition: BucketDefinition,
  debounceMs = 60_000,
): Promise<Store> {
  const s = await Store.start({
    name: 'd',
    ttlCheckIntervalMs: 0,
    persistence: { adapter, debounceMs, onError: (e) => errors.push(e) },
  });
  const b = await s.defineBucket('b', definition);
  await b.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: i, v: 'first' })));
  await s.flush();
  expect(adapter.writerThreadCommits).toBe(0);
  return s;
}

/** SQLite's integrity check of a store file ('ok' when sound), on a read-only adapter of its own. */
export function integrity(file: string): string {
  const ro = new SQLiteAdapter(file, { readOnly: true });
  try {
    return ro.integrityCheck();
  } finally {
    ro.close();
  }
}

/** Adapter kinds under test; `make` returns the adapter to use for the next store on the same data. */
export function adapterKinds(): Array<{ kind: string; make: () => () => IncrementalAdapter }> {
  return [
    {
      kind: 'SQLiteAdapter',
      make: () => {
        const file = path.join(tempDir(), 'store.db');
        return () => new SQLiteAdapter(file);
      },
    },
    {
      kind: 'FileAdapter',
      make: () => {
        const dir = path.join(tempDir(), 'files');
        return () => new FileAdapter(dir);
      },
    },
    {
      kind: 'MemoryAdapter',
      make: () => {
        const a = new MemoryAdapter();
        return () => a;
      },
    },
    {
      kind: 'PostgresAdapter',
      make: () => {
        const schema = pgSchema();
        return () => new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema });
      },
    },
  ];
}

/** Durable storage on one backend, for the suites that run on SQLite and on PostgreSQL alike. */
export interface BackendStorage {
  /** A new adapter on this storage (one per store start). */
  adapter(): IncrementalAdapter;
  /** Run a read-only SQL query on the stored tables (plain SQL both dialects understand). */
  query(sql: string): Promise<Array<Record<string, unknown>>>;
}

export interface Backend {
  readonly kind: 'SQLite' | 'PostgreSQL';
  fresh(): BackendStorage;
}

/** The database backends: every suite parametrised with these runs against both, so they cannot drift. */
export function backends(): Backend[] {
  return [
    {
      kind: 'SQLite',
      fresh: () => {
        const file = path.join(tempDir(), 'store.db');
        return {
          adapter: () => new SQLiteAdapter(file),
          query: async (sql) => {
            const db = new Database(file, { readonly: true });
            try {
              return db.prepare(sql).all() as Array<Record<string, unknown>>;
            } finally {
              db.close();
            }
          },
        };
      },
    },
    {
      kind: 'PostgreSQL',
      fresh: () => {
        const schema = pgSchema();
        const url = inject('pgUrl');
        return {
          adapter: () => new PostgresAdapter({ connectionString: url }, { schema }),
          query: async (sql) => {
            const c = new pg.Client({ connectionString: url });
            await c.connect();
            try {
              await c.query(`SET search_path TO "${schema}"`);
              return (await c.query(sql)).rows;
            } finally {
              await c.end();
            }
          },
        };
      },
    },
  ];
}

let schemas = 0;
/** A fresh schema name in the test cluster's database (each test's data apart). */
export function pgSchema(): string {
  return `t${process.pid}_${++schemas}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Wraps a real adapter; while `failing` is set, commits (and opens) throw like a full disk. */
export class FlakyAdapter implements IncrementalAdapter {
  failing = false;
  commits: CommitUnit[] = [];
  readonly inner: IncrementalAdapter;
  constructor(inner: IncrementalAdapter) {
    this.inner = inner;
  }
  get readOnly() {
    return this.inner.readOnly;
  }
  #fail(): void {
    if (this.failing) {
      const e = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
      e.code = 'ENOSPC';
      throw e;
    }
  }
  open(store: string, ctx: Parameters<IncrementalAdapter['open']>[1]) {
    return this.inner.open(store, ctx);
  }
  loadBucket(store: string, bucket: string) {
    return this.inner.loadBucket(store, bucket);
  }
  async commit(store: string, unit: CommitUnit) {
    this.#fail();
    await this.inner.commit(store, unit);
    this.commits.push(unit);
  }
  listBuckets(store: string) {
    return this.inner.listBuckets(store);
  }
  close(store: string) {
    return this.inner.close(store);
  }
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const userDef = {
  key: 'id',
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    email: { type: 'string', unique: true },
    role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
    age: { type: 'number' },
  },
  indexes: ['role', { fields: 'age', sorted: true }],
} as const;
