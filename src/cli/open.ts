// Opening a store for the CLI: where the database is (--db FILE or
// --workspace DIR → DIR/.quire/store.db), which store inside it (--name, or
// the only one there), and which buckets (stored definitions, plus those of
// a YAML/JSON schema file).
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { SQLiteAdapter, StorageLockedError, Store } from '../index.js';
import { type BucketDefinition, compileDefinition } from '../store/index.js';

/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** The operation failed (a problem found by `check`, a runtime error). */
  FAILED: 1,
  /** Bad usage or bad input: unknown option, missing file, invalid schema or data file. */
  USAGE: 2,
  /** The store is locked for writing by another process. */
  LOCKED: 3,
} as const;

/** An error the CLI reports as one clear line and an exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.FAILED) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export interface Location {
  readonly db?: string;
  readonly workspace?: string;
}

const MISSING_HINT = '(use --create to make a new one)';

/**
 * The database file of `--db FILE` or `--workspace DIR`. A missing file is an
 * error unless `create` is set (a typo must not make a new, empty store);
 * nothing is created here: the caller creates the store once its inputs are valid.
 */
export function databasePath(loc: Location, options: { create: boolean }): string {
  if (loc.db !== undefined && loc.workspace !== undefined)
    throw new CliError('give either --db FILE or --workspace DIR, not both', EXIT.USAGE);
  if (loc.db === undefined && loc.workspace === undefined)
    throw new CliError('which store? give --db FILE or --workspace DIR', EXIT.USAGE);
  if (loc.workspace !== undefined) {
    const ws = resolve(loc.workspace);
    if (!existsSync(ws) || !statSync(ws).isDirectory())
      throw new CliError(`workspace directory not found: ${ws}`, EXIT.USAGE);
    const file = join(ws, '.quire', 'store.db');
    if (!options.create && !existsSync(file))
      throw new CliError(
        `no Quire store in workspace ${ws} (${file} does not exist) ${MISSING_HINT}`,
        EXIT.USAGE,
      );
    return file;
  }
  const file = resolve(loc.db!);
  if (!options.create && !existsSync(file))
    throw new CliError(`store file not found: ${file} ${MISSING_HINT}`, EXIT.USAGE);
  if (options.create && !existsSync(dirname(file)))
    throw new CliError(`directory of the store file does not exist: ${dirname(file)}`, EXIT.USAGE);
  return file;
}

/**
 * Make room for a new store file (the workspace's .quire folder) and return
 * how to remove everything this made, for a command that fails after creating it.
 */
function prepareNewStore(path: string): () => void {
  const dir = dirname(path);
  const madeDir = !existsSync(dir);
  if (madeDir) mkdirSync(dir, { recursive: true });
  return () => {
    for (const f of [
      path,
      `${path}-wal`,
      `${path}-shm`,
      `${path}-journal`,
      `${path}.lock`,
      `${path}.lock.os`,
    ])
      rmSync(f, { force: true });
    if (madeDir) rmSync(dir, { recursive: true, force: true });
  };
}

/** Bucket definitions of a schema file: `{buckets: {name: definition}}` or `{name: definition}`, YAML or JSON. */
export function readSchemaFile(file: string): Record<string, BucketDefinition> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`schema file not found: ${path}`, EXIT.USAGE);
  const text = readFileSync(path, 'utf8');
  let doc: unknown;
  try {
    doc = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new CliError(`bad schema file ${path}: ${(e as Error).message}`, EXIT.USAGE);
  }
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(doc))
    throw new CliError(`bad schema file ${path}: expected a map of bucket definitions`, EXIT.USAGE);
  const buckets = isObj(doc.buckets) ? doc.buckets : doc;
  for (const [name, def] of Object.entries(buckets)) {
    if (!isObj(def) || def.key === undefined || !isObj(def.schema))
      throw new CliError(`bad schema file ${path}: bucket "${name}" needs "key" and "schema"`, EXIT.USAGE);
    // Checked before any store is opened or created: a bad schema leaves nothing behind.
    try {
      compileDefinition(name, def as unknown as BucketDefinition);
    } catch (e) {
      throw new CliError(`schema file: bucket "${name}": ${(e as Error).message}`, EXIT.USAGE);
    }
  }
  return buckets as Record<string, BucketDefinition>;
}

export interface OpenOptions extends Location {
  readonly name?: string;
  readonly schema?: string;
  readonly readOnly?: boolean;
  readonly durability?: 'strict' | 'process' | 'debounced';
  /** Create the database if it does not exist (`--create`). */
  readonly create?: boolean;
  readonly onError?: (e: Error) => void;
}

export interface OpenedStore {
  readonly store: Store;
  readonly adapter: SQLiteAdapter;
  readonly path: string;
  readonly name: string;
  /** Buckets defined from stored definitions (not in the schema file). */
  readonly storedBuckets: string[];
  /** This command created the store file. */
  readonly created: boolean;
  /** Stop the store; when this command created it, remove what it created (a failed first command leaves nothing). */
  close(options: { failed: boolean }): Promise<void>;
}

/** Store names present in the database file. */
export function storeNames(adapter: SQLiteAdapter): string[] {
  const db = adapter.database;
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quire_buckets'").get();
  if (has === undefined) return [];
  return db.prepare('SELECT DISTINCT store FROM quire_buckets ORDER BY store').pluck().all() as string[];
}

/** The lock message with the CLI's way out (the library's names `{readOnly: true}`). */
export function lockedMessage(e: StorageLockedError): string {
  const h = e.holder;
  return `Storage "${e.path}" is locked for writing by process ${h.pid} on host "${h.host}" (since ${new Date(h.since).toISOString()}); stop that process, or use --read-only (quire serve --read-only; export, stats, history, backup and check only read)`;
}

/** Map storage errors to CLI errors with exit codes. */
export function cliErrorOf(e: unknown, path: string): unknown {
  if (e instanceof StorageLockedError) return new CliError(lockedMessage(e), EXIT.LOCKED);
  if (
    e instanceof Error &&
    /SQLITE_NOTADB|file is not a database/i.test(`${(e as { code?: string }).code} ${e.message}`)
  )
    return new CliError(`${path} is not a Quire store (not an SQLite database)`, EXIT.USAGE);
  return e;
}

/**
 * Open the store: the database (creating it when allowed), the store name,
 * every stored bucket, and the buckets of the schema file.
 */
export async function openStore(options: OpenOptions): Promise<OpenedStore> {
  const readOnly = options.readOnly === true;
  const path = databasePath(options, { create: options.create === true && !readOnly });
  const schema = options.schema !== undefined ? readSchemaFile(options.schema) : {};
  const created = !existsSync(path);
  const removeCreated = created ? prepareNewStore(path) : () => {};
  let adapter: SQLiteAdapter | undefined;
  let name: string;
  let stored: string[];
  try {
    adapter = new SQLiteAdapter(path, { readOnly });
    const names = storeNames(adapter);
    if (options.name !== undefined) name = options.name;
    else if (names.length <= 1) name = names[0] ?? 'quire';
    else
      throw new CliError(
        `${path} holds several stores (${names.join(', ')}); choose one with --name`,
        EXIT.USAGE,
      );
    if (options.name !== undefined && names.length > 0 && !names.includes(name) && readOnly)
      throw new CliError(`${path} has no store "${name}" (it has: ${names.join(', ')})`, EXIT.USAGE);
    stored = adapter.listBuckets(name);
  } catch (e) {
    adapter?.close();
    removeCreated();
    throw cliErrorOf(e, path);
  }
  const definitions = new Map<string, BucketDefinition>();
  for (const b of stored) {
    const def = adapter.loadBucket(name, b)?.definition?.definition;
    if (def !== undefined) definitions.set(b, def as unknown as BucketDefinition);
  }
  let store: Store;
  try {
    store = await Store.start({
      name,
      ttlCheckIntervalMs: readOnly ? 0 : 1000,
      persistence: {
        adapter,
        durability: options.durability ?? 'strict',
        onError: options.onError ?? ((e) => process.stderr.write(`quire: storage: ${e.message}\n`)),
      },
    });
  } catch (e) {
    adapter.close();
    removeCreated();
    throw cliErrorOf(e, path);
  }
  const fromStore: string[] = [];
  try {
    for (const [bucket, def] of Object.entries(schema)) {
      try {
        await store.defineBucket(bucket, def);
      } catch (e) {
        throw new CliError(`schema file: bucket "${bucket}": ${(e as Error).message}`, EXIT.USAGE);
      }
    }
    for (const [bucket, def] of definitions) {
      if (store.hasBucket(bucket)) continue;
      await store.defineBucket(bucket, def);
      fromStore.push(bucket);
    }
  } catch (e) {
    await store.stop().catch(() => {});
    removeCreated();
    throw e;
  }
  let closed: Promise<void> | undefined;
  const close = ({ failed }: { failed: boolean }): Promise<void> => {
    closed ??= store.stop().finally(() => {
      if (failed) removeCreated();
    });
    return closed;
  };
  return { store, adapter, path, name, storedBuckets: fromStore, created, close };
}
