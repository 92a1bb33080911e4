// Opening a store for the CLI: where it is (--db FILE, --workspace DIR →
// DIR/.quire/store.db, or --pg URL for PostgreSQL), which store inside it
// (--name, or the only one there), and which buckets (stored definitions,
// plus those of a YAML/JSON schema file).
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { type IncrementalAdapter, SQLiteAdapter, StorageLockedError, Store } from '../index.js';
import { postgresStorageReport, type StorageReporter, sqliteStorageReport } from '../inspector/index.js';
import type { PostgresAdapter } from '../postgres/index.js';
import { type BucketDefinition, compileDefinition } from '../store/index.js';
import { CliError, EXIT } from './errors.js';
import {
  type PgLocation,
  parsePgUrl,
  postgresAdapter,
  probePostgres,
  readOnlyView,
  redact,
} from './postgres.js';

export { CliError, EXIT } from './errors.js';

export interface Location {
  readonly db?: string;
  readonly workspace?: string;
  /** A PostgreSQL store: `postgres://user@host:port/db[?schema=NAME][&connect_timeout=SECONDS]`. */
  readonly pg?: string;
}

/** Where a store is: an SQLite file, or a schema of a PostgreSQL database. */
export type StoreTarget =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly pg: PgLocation };

const ONE_STORE = 'give one store: --db FILE, --workspace DIR or --pg URL';

/**
 * The store the options name: exactly one of --db, --workspace and --pg
 * (both or none is a usage error). SQLite paths are checked as in `databasePath`.
 */
export function storeTarget(loc: Location, options: { create: boolean }): StoreTarget {
  const given = [loc.db, loc.workspace, loc.pg].filter((v) => v !== undefined).length;
  if (given === 0) throw new CliError('which store? give --db FILE, --workspace DIR or --pg URL', EXIT.USAGE);
  if (loc.pg !== undefined) {
    if (given > 1) throw new CliError(`${ONE_STORE}, not several`, EXIT.USAGE);
    return { kind: 'postgres', pg: parsePgUrl(loc.pg) };
  }
  return { kind: 'sqlite', path: databasePath(loc, options) };
}

const MISSING_HINT = '(use --create to make a new one)';

/**
 * The database file of `--db FILE` or `--workspace DIR`. A missing file is an
 * error unless `create` is set (a typo must not make a new, empty store);
 * nothing is created here: the caller creates the store once its inputs are valid.
 */
export function databasePath(loc: Location, options: { create: boolean }): string {
  if (loc.pg !== undefined) {
    if (loc.db !== undefined || loc.workspace !== undefined)
      throw new CliError(`${ONE_STORE}, not several`, EXIT.USAGE);
    throw new CliError(
      'this command works on SQLite store files: give --db FILE or --workspace DIR',
      EXIT.USAGE,
    );
  }
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
  readonly kind: 'sqlite' | 'postgres';
  readonly adapter: SQLiteAdapter | PostgresAdapter;
  /** Where the store is, for messages: the file, or the PostgreSQL URL with its password masked and the schema. */
  readonly path: string;
  readonly name: string;
  /** Buckets defined from stored definitions (not in the schema file). */
  readonly storedBuckets: string[];
  /** This command created the store (file). */
  readonly created: boolean;
  /** Sizes on disk, for `stats` and the inspector. */
  readonly storageReport: StorageReporter;
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
  const target = storeTarget(options, { create: options.create === true && !readOnly });
  const schema = options.schema !== undefined ? readSchemaFile(options.schema) : {};
  if (target.kind === 'postgres') return openPostgres(target.pg, options, schema);
  const path = target.path;
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
  const opened = await startStore({
    options,
    adapter,
    storageAdapter: adapter,
    name,
    schema,
    definitions,
    errorOf: (e) => cliErrorOf(e, path),
    removeCreated,
  });
  return {
    ...opened,
    kind: 'sqlite',
    adapter,
    path,
    name,
    created,
    storageReport: sqliteStorageReport(adapter, name),
  };
}

/** `openStore` on PostgreSQL: looks first (changing nothing), so a typo never makes a store. */
async function openPostgres(
  pg: PgLocation,
  options: OpenOptions,
  schema: Record<string, BucketDefinition>,
): Promise<OpenedStore> {
  const readOnly = options.readOnly === true;
  const where = `${pg.label} (schema "${pg.schema}")`;
  const contents = await probePostgres(pg);
  const names = [...contents.stores.keys()];
  let name: string;
  if (options.name !== undefined) name = options.name;
  else if (names.length <= 1) name = names[0] ?? 'quire';
  else
    throw new CliError(
      `${where} holds several stores (${names.join(', ')}); choose one with --name`,
      EXIT.USAGE,
    );
  const existing = contents.stores.get(name);
  const created = existing === undefined;
  if (created && (readOnly || options.create !== true))
    throw new CliError(
      names.length === 0
        ? `no Quire store in ${where}${readOnly ? '' : ` ${MISSING_HINT}`}`
        : `${where} has no store "${name}" (it has: ${names.join(', ')})${readOnly ? '' : ` ${MISSING_HINT}`}`,
      EXIT.USAGE,
    );
  const definitions = new Map<string, BucketDefinition>();
  for (const [b, def] of existing ?? [])
    if (def !== undefined) definitions.set(b, def as unknown as BucketDefinition);
  const adapter = postgresAdapter(pg);
  const errorOf = (e: unknown): unknown =>
    e instanceof CliError ? e : new CliError(redact((e as Error)?.message ?? String(e)), EXIT.FAILED);
  const opened = await startStore({
    options,
    adapter,
    storageAdapter: readOnly ? readOnlyView(adapter) : adapter,
    name,
    schema,
    definitions,
    errorOf,
    removeCreated: () => {},
    dropOnFailure: created && !readOnly,
  });
  return {
    ...opened,
    kind: 'postgres',
    adapter,
    path: where,
    name,
    created,
    storageReport: postgresStorageReport(adapter, name),
  };
}

/** Start the store on an opened adapter and define its buckets; on failure, close and clean up. */
async function startStore(o: {
  options: OpenOptions;
  adapter: { close(): unknown };
  storageAdapter: IncrementalAdapter;
  name: string;
  schema: Record<string, BucketDefinition>;
  definitions: ReadonlyMap<string, BucketDefinition>;
  errorOf: (e: unknown) => unknown;
  /** Remove what this command created (SQLite: the file), after the store stopped. */
  removeCreated: () => void;
  /**
   * The store is new in a shared database: on failure, drop the buckets this
   * command defined (through the store, so the adapter removes their rows).
   */
  dropOnFailure?: boolean;
}): Promise<Pick<OpenedStore, 'store' | 'storedBuckets' | 'close'>> {
  const readOnly = o.options.readOnly === true;
  let store: Store;
  try {
    store = await Store.start({
      name: o.name,
      ttlCheckIntervalMs: readOnly ? 0 : 1000,
      persistence: {
        adapter: o.storageAdapter,
        durability: o.options.durability ?? 'strict',
        onError: o.options.onError ?? ((e) => process.stderr.write(`quire: storage: ${redact(e.message)}\n`)),
      },
    });
  } catch (e) {
    await o.adapter.close();
    o.removeCreated();
    throw o.errorOf(e);
  }
  const fromStore: string[] = [];
  try {
    for (const [bucket, def] of Object.entries(o.schema)) {
      try {
        await store.defineBucket(bucket, def);
      } catch (e) {
        throw new CliError(`schema file: bucket "${bucket}": ${(e as Error).message}`, EXIT.USAGE);
      }
    }
    for (const [bucket, def] of o.definitions) {
      if (store.hasBucket(bucket)) continue;
      await store.defineBucket(bucket, def);
      fromStore.push(bucket);
    }
  } catch (e) {
    await dropCreated();
    await store.stop().catch(() => {});
    o.removeCreated();
    throw o.errorOf(e);
  }
  async function dropCreated(): Promise<void> {
    if (o.dropOnFailure !== true) return;
    for (const b of (await store.getStats()).buckets.names) await store.dropBucket(b).catch(() => {});
  }
  let closed: Promise<void> | undefined;
  const close = ({ failed }: { failed: boolean }): Promise<void> => {
    closed ??= (failed ? dropCreated() : Promise.resolve())
      .then(() => store.stop())
      .finally(() => {
        if (failed) o.removeCreated();
      });
    return closed;
  };
  return { store, storedBuckets: fromStore, close };
}
