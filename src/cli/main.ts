// The `quire` command line (P-11): serve, inspect, import, export, backup, restore,
// history, stats, check, checkpoint, copy. Each takes its store as --db FILE,
// --workspace DIR or --pg URL (open.ts). Results go to stdout, messages and
// progress to stderr; exit codes are listed in errors.ts (EXIT).
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import {
  copyStore,
  type IncrementalAdapter,
  InvalidArgumentError as InvalidArgument,
  restoreFromBackup,
  SQLiteAdapter,
  StorageCorruptionError,
  StorageLockedError,
  ValidationError,
} from '../index.js';
import { inspectorDirectory } from '../inspector/index.js';
import type { DataFormat } from '../io/index.js';
import type { PostgresAdapter } from '../postgres/index.js';
import { type AuthOptions, InsecureBindError, QuireServer, type ServerOptions } from '../server/index.js';
import { compileDefinition } from '../store/index.js';
import { addDataCommands } from './data.js';
import {
  CliError,
  cliErrorOf,
  EXIT,
  lockedMessage,
  type OpenOptions,
  openStore,
  storeNames,
  storeTarget,
} from './open.js';
import { type PgLocation, parsePgUrl, postgresAdapter, probePostgres, redact } from './postgres.js';
import { progressBar } from './progress.js';
import { addTypesCommand } from './types.js';

const VERSION = '0.1.0';

/** An adapter for `quire copy`: postgres:// URLs (with ?schema=, ?connect_timeout=) or SQLite files. */
async function copyEndpoint(
  target: string,
  role: 'from' | 'to',
): Promise<{ adapter: IncrementalAdapter; label: string; stores: () => string[] }> {
  if (/^postgres(ql)?:\/\//i.test(target)) {
    const pg = parsePgUrl(target, `--${role}`);
    // Reached (within its connect timeout) before anything is copied; the source must hold a store.
    const contents = await probePostgres(pg);
    const label = `${pg.label} (schema "${pg.schema}")`;
    if (role === 'from' && contents.stores.size === 0)
      throw new CliError(`no Quire store in ${label}`, EXIT.USAGE);
    return { adapter: postgresAdapter(pg), label, stores: () => [...contents.stores.keys()] };
  }
  const path = resolve(target);
  if (role === 'from' && !existsSync(path)) throw new CliError(`no such store file: ${path}`, EXIT.USAGE);
  const adapter = new SQLiteAdapter(path, { readOnly: role === 'from' });
  return { adapter, label: path, stores: () => storeNames(adapter) };
}

async function copyCmd(o: { from: string; to: string; name?: string }): Promise<void> {
  const source = await copyEndpoint(o.from, 'from');
  const target = await copyEndpoint(o.to, 'to');
  const from = source.adapter;
  const to = target.adapter;
  let name = o.name;
  if (name === undefined) {
    const names = source.stores();
    if (names.length > 1)
      throw new CliError(
        `${source.label} holds several stores (${names.join(', ')}); choose one with --name`,
        EXIT.USAGE,
      );
    name = names[0];
  }
  name ??= 'quire';
  const bar = progressBar('copy', { unit: 'records' });
  try {
    const r = await copyStore(from, to, name, {
      onProgress: (p) => bar.update(p.done, p.total),
    });
    bar.stop();
    info(
      `copied store "${name}": ${r.buckets} buckets, ${r.records} records, ${r.history} history entries, ${r.feed} feed entries (verified)`,
    );
  } catch (e) {
    bar.stop();
    if (e instanceof InvalidArgument) throw new CliError(e.message, EXIT.USAGE);
    throw e;
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const info = (line: string) => process.stderr.write(`${line}\n`);

function int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `${name} must be an integer >= ${min}`
          : `${name} must be an integer from ${min} to ${max}`,
      );
    return n;
  };
}

/** The store options every store-opening command takes; pass them on with `loc(opts)`. */
export function location(cmd: Command): Command {
  return cmd
    .option('--db <file>', 'SQLite store file')
    .option('--workspace <dir>', 'workspace directory (store in <dir>/.quire/store.db)')
    .option(
      '--pg <url>',
      'PostgreSQL store: postgres://user@host:port/db[?schema=NAME][&connect_timeout=SECONDS] (password: PGPASSWORD)',
    )
    .option('--name <store>', 'store name inside the file or schema (default: the only one, or "quire")');
}

function formatOf(explicit: string | undefined, file: string | undefined): DataFormat {
  const f = explicit ?? (file !== undefined ? extname(file).slice(1).toLowerCase() : 'json');
  const map: Record<string, DataFormat> = {
    json: 'json',
    ndjson: 'ndjson',
    jsonl: 'ndjson',
    yaml: 'yaml',
    yml: 'yaml',
  };
  const format = map[f];
  if (format === undefined) throw new CliError(`unknown format "${f}" (json, ndjson, yaml)`, EXIT.USAGE);
  return format;
}

function parseKey(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function readAuthFile(file: string): AuthOptions {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`auth file not found: ${path}`, EXIT.USAGE);
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(`bad auth file ${path}: ${(e as Error).message}`, EXIT.USAGE);
  }
  const tokens = (doc as { tokens?: unknown })?.tokens;
  if (tokens === null || typeof tokens !== 'object' || Array.isArray(tokens))
    throw new CliError(
      `bad auth file ${path}: expected {tokens: {<token>: {identity, read?, write?, admin?}}}`,
      EXIT.USAGE,
    );
  let position = 0;
  for (const g of Object.values(tokens as Record<string, unknown>)) {
    position++;
    // Never print a token, not even part of it: name the entry by position.
    if (g === null || typeof g !== 'object' || typeof (g as { identity?: unknown }).identity !== 'string')
      throw new CliError(`bad auth file ${path}: token entry #${position} needs an "identity"`, EXIT.USAGE);
  }
  return { tokens: tokens as AuthOptions extends { tokens: infer T } ? T : never };
}

// ── Commands ─────────────────────────────────────────────────────────

async function serve(opts: Record<string, any>): Promise<void> {
  if (opts.ui === true && opts.http === undefined)
    throw new CliError('--ui serves the inspector over HTTP: give --http PORT as well', EXIT.USAGE);
  const stdio = opts.stdio === true || opts.http === undefined;
  if (opts.readOnly === true && opts.create === true)
    throw new CliError('--read-only and --create exclude each other', EXIT.USAGE);
  const auth = opts.auth !== undefined ? readAuthFile(opts.auth) : undefined;
  const readOnly = opts.readOnly === true;
  if (opts.ui === true) requirePage();
  const opened = await openStore({
    ...loc(opts),
    schema: opts.schema,
    durability: opts.durability,
    create: opts.create === true,
    readOnly,
  });
  const origins: string[] = opts.allowedOrigin ?? [];
  const serverOptions: ServerOptions = {
    store: opened.store,
    stopStoreOnClose: true,
    allowedOrigins: origins,
    insecure: opts.insecure === true,
    // On PostgreSQL there is no store file to put backups beside: only with --backup-dir.
    ...(opts.backupDir !== undefined || opened.kind === 'sqlite'
      ? { backupDir: resolve(opts.backupDir ?? `${opened.path}.backups`) }
      : {}),
    readOnly,
    ...(opts.ui === true ? { inspector: true, storageReport: opened.storageReport } : {}),
    ...(auth !== undefined ? { auth } : {}),
    ...(opts.maxRequestBytes !== undefined ? { maxRequestBytes: opts.maxRequestBytes } : {}),
    ...(opts.requestTimeout !== undefined ? { requestTimeoutMs: opts.requestTimeout } : {}),
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.rateLimit !== undefined ? { rateLimit: { requests: opts.rateLimit, intervalMs: 1000 } } : {}),
  };
  let server: QuireServer;
  try {
    server = new QuireServer(serverOptions);
  } catch (e) {
    await opened.store.stop();
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
  server.handleSignals();
  const buckets = (await opened.store.getStats()).buckets.names;
  if (opts.http !== undefined) {
    try {
      const a = await server.listen({ port: opts.http, host: opts.host });
      info(
        `quire: serving ${opened.path}${opts.readOnly === true ? ' read-only' : ''} (store "${opened.name}", buckets: ${buckets.join(', ') || 'none'})`,
      );
      info(`quire: HTTP ${a.url}  WebSocket ${a.wsUrl}  health http://${a.host}:${a.port}/health`);
      if (opts.ui === true) info(`quire: inspector ${a.url.slice(0, -'rpc'.length)}`);
    } catch (e) {
      await server.close();
      await opened.close({ failed: true });
      if (e instanceof InsecureBindError) throw new CliError(e.message, EXIT.USAGE);
      throw new CliError(`cannot listen on ${opts.host}:${opts.http}: ${(e as Error).message}`, EXIT.FAILED);
    }
  }
  if (stdio) {
    server.serveStdio({ closeOnEnd: false });
    info(`quire: serving ${opened.path} on stdio (store "${opened.name}")`);
    process.stdin.once('end', () => {
      void server.close().then(
        () => process.exit(EXIT.OK),
        () => process.exit(EXIT.FAILED),
      );
    });
  }
  // Runs until a signal (or the end of stdin).
  await new Promise<never>(() => {});
}

/** The page must have been built (dist/ui) before a command offers it. */
function requirePage(): void {
  if (inspectorDirectory() === undefined)
    throw new CliError(
      'the inspector page is not built: run "npm run build" (it writes dist/ui)',
      EXIT.FAILED,
    );
}

/**
 * The store `quire inspect` looks at: an SQLite file (the argument, --db or
 * --workspace), or a PostgreSQL database (--pg URL).
 */
async function openInspected(
  file: string | undefined,
  opts: Record<string, any>,
  readOnly: boolean,
): Promise<{ store: ServerOptions['store']; label: string; storageReport?: ServerOptions['storageReport'] }> {
  const given = [file, opts.db, opts.workspace, opts.pg].filter((v) => v !== undefined).length;
  if (given === 0)
    throw new CliError('which store? give FILE, --db FILE, --workspace DIR or --pg URL', EXIT.USAGE);
  if (given > 1)
    throw new CliError('give one store: FILE, --db FILE, --workspace DIR or --pg URL', EXIT.USAGE);
  const opened = await openStore({
    ...loc(opts),
    db: file ?? opts.db,
    readOnly,
    create: false,
  });
  return {
    store: opened.store,
    label: `${opened.path} (store "${opened.name}")`,
    storageReport: opened.storageReport,
  };
}

async function inspectCmd(file: string | undefined, opts: Record<string, any>): Promise<void> {
  const readOnly = opts.write !== true;
  requirePage();
  const auth = opts.auth !== undefined ? readAuthFile(opts.auth) : undefined;
  const target = await openInspected(file, opts, readOnly);
  const server = new QuireServer({
    store: target.store,
    stopStoreOnClose: true,
    readOnly,
    inspector: true,
    ...(target.storageReport !== undefined ? { storageReport: target.storageReport } : {}),
    ...(auth !== undefined ? { auth } : {}),
  });
  server.handleSignals();
  let address: { host: string; port: number; url: string };
  try {
    address = await server.listen({ port: opts.port ?? 0, host: opts.host });
  } catch (e) {
    await server.close();
    throw new CliError(
      `cannot listen on ${opts.host}:${opts.port ?? 0}: ${(e as Error).message}`,
      EXIT.FAILED,
    );
  }
  info(`quire: inspecting ${target.label}${readOnly ? ', read-only (--write allows edits)' : ', writable'}`);
  out(address.url.slice(0, -'rpc'.length));
  await new Promise<never>(() => {});
}

async function importCmd(file: string, opts: Record<string, any>): Promise<void> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`input file not found: ${path}`, EXIT.USAGE);
  const format = formatOf(opts.format, path);
  const opened = await openStore({
    ...loc(opts),
    schema: opts.schema,
    create: opts.create === true,
    durability: 'debounced',
  });
  let failed = true;
  // NDJSON is read as a stream: progress is bytes read of the file's size (the
  // record count is unknown until the end). JSON and YAML are parsed whole
  // first, so their record total is known.
  const stream = format === 'ndjson';
  const bar = progressBar(`importing ${opts.bucket}`, { unit: stream ? 'bytes' : 'records' });
  try {
    if (!opened.store.hasBucket(opts.bucket))
      throw new CliError(`bucket "${opts.bucket}" is not defined (define it with --schema FILE)`, EXIT.USAGE);
    const size = statSync(path).size;
    let bytes = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        bar.update(bytes, size);
        yield chunk;
      }
    }
    const r = await opened.store.bucket(opts.bucket).import(stream ? counted() : path, {
      format,
      mode: opts.upsert === true ? 'upsert' : 'insert',
      onlyIfEmpty: opts.ifEmpty === true,
      ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
      ...(stream
        ? {}
        : {
            onProgress: (p: { processed: number; total?: number }) =>
              bar.update(p.processed, p.total ?? p.processed),
          }),
    });
    bar.stop();
    await opened.store.flush();
    out(
      r.skipped
        ? `skipped: bucket "${opts.bucket}" is not empty`
        : `imported ${r.imported} records into "${opts.bucket}"`,
    );
    failed = false;
  } catch (e) {
    bar.stop();
    if (e instanceof ValidationError || (e as { name?: string }).name === 'ImportError')
      throw new CliError(`import failed, nothing was imported: ${(e as Error).message}`, EXIT.USAGE);
    throw e;
  } finally {
    // A store this command created is removed again when the import fails.
    await opened.close({ failed });
  }
}

async function exportCmd(opts: Record<string, any>): Promise<void> {
  const format = formatOf(opts.format, opts.out);
  let filter: Record<string, unknown> | undefined;
  if (opts.filter !== undefined) {
    try {
      filter = JSON.parse(opts.filter);
    } catch (e) {
      throw new CliError(`--filter must be JSON: ${(e as Error).message}`, EXIT.USAGE);
    }
  }
  const opened = await openStore({ ...loc(opts), readOnly: true });
  const bar = progressBar(`exporting ${opts.bucket}`, {
    enabled: opts.out !== undefined && process.stderr.isTTY === true,
  });
  try {
    if (!opened.store.hasBucket(opts.bucket))
      throw new CliError(`bucket "${opts.bucket}" not found in ${opened.path}`, EXIT.USAGE);
    const options = {
      ...(filter !== undefined ? { filter } : {}),
      metadata: opts.metadata !== false,
      onProgress: (p: { processed: number; total: number }) => bar.update(p.processed, p.total),
    };
    const b = opened.store.bucket(opts.bucket);
    if (filter !== undefined) {
      // A bad filter is bad usage (exit 2), checked before anything is written.
      try {
        await b.count(filter);
      } catch (e) {
        throw new CliError(`bad --filter: ${(e as Error).message}`, EXIT.USAGE);
      }
    }
    if (opts.out !== undefined) {
      const r = await b.export(format, { ...options, to: resolve(opts.out) });
      bar.stop();
      info(`exported ${r.exported} records from "${opts.bucket}" to ${resolve(opts.out)}`);
    } else {
      const r = await b.export(format, options);
      process.stdout.write(r.data);
    }
  } finally {
    bar.stop();
    await opened.store.stop();
  }
}

async function backupCmd(opts: Record<string, any>): Promise<void> {
  const where = storeTarget(loc(opts), { create: false });
  const target = resolve(opts.out);
  if (existsSync(target) && opts.force !== true)
    throw new CliError(`${target} exists (use --force to overwrite)`, EXIT.USAGE);
  if (where.kind === 'postgres') return backupPostgres(opts, target);
  const path = where.path;
  // An online, consistent copy through SQLite's backup API; works while a server writes.
  const adapter = new SQLiteAdapter(path, { readOnly: true });
  const bar = progressBar('backup', { unit: 'pages' });
  try {
    const r = await adapter.database.backup(target, {
      progress: ({ totalPages, remainingPages }) => {
        bar.update(totalPages - remainingPages, totalPages);
        return 1000;
      },
    });
    bar.stop();
    out(`backup of ${path} written to ${target} (${r.totalPages} pages)`);
  } catch (e) {
    throw cliErrorOf(e, path);
  } finally {
    bar.stop();
    adapter.close();
  }
}

/**
 * `quire backup --pg`: the store (one store of the schema: --name) as an
 * SQLite backup file, through `store.backupTo` (a consistent cut of what the
 * store holds, with its history and change feed); `quire restore` reads it.
 */
async function backupPostgres(opts: Record<string, any>, target: string): Promise<void> {
  const opened = await openStore({ ...loc(opts), readOnly: true });
  try {
    const r = await opened.store.backupTo(target, { overwrite: opts.force === true });
    out(`backup of ${opened.path} (store "${opened.name}") written to ${target} (${r.bytes} bytes)`);
  } finally {
    await opened.close({ failed: false });
  }
}

/**
 * `quire restore --pg`: the stores of an SQLite backup file (or the one named
 * by --name) copied into the PostgreSQL schema, verified by counting. A store
 * the schema already holds is not replaced in place (other instances may be
 * using it, and there is no writer lock to rule that out): restore into a new
 * schema and point the instances at it.
 */
async function restorePostgres(from: string, pg: PgLocation, opts: Record<string, any>): Promise<void> {
  const where = `${pg.label} (schema "${pg.schema}")`;
  let names: string[];
  {
    const probe = new SQLiteAdapter(from, { readOnly: true });
    try {
      const integrity = probe.integrityCheck();
      if (integrity !== 'ok') throw new CliError(`not a usable backup: ${from}: ${integrity}`, EXIT.USAGE);
      names = storeNames(probe);
    } catch (e) {
      const err = cliErrorOf(e, from);
      throw err instanceof CliError
        ? err
        : new CliError(`not a usable backup: ${(e as Error).message}`, EXIT.USAGE);
    } finally {
      probe.close();
    }
  }
  if (names.length === 0) throw new CliError(`not a usable backup: ${from} holds no Quire store`, EXIT.USAGE);
  if (opts.name !== undefined) {
    if (!names.includes(opts.name))
      throw new CliError(`${from} has no store "${opts.name}" (it has: ${names.join(', ')})`, EXIT.USAGE);
    names = [opts.name];
  }
  const contents = await probePostgres(pg);
  const present = names.filter((n) => contents.stores.has(n));
  if (present.length > 0)
    throw new CliError(
      `${where} already holds store ${present.map((n) => `"${n}"`).join(', ')}; a PostgreSQL store is not replaced in place${opts.force === true ? ' (not even with --force)' : ''}: restore into an empty schema (?schema=NEW) and point the instances at it`,
      EXIT.USAGE,
    );
  for (const name of names) {
    const bar = progressBar(`restoring ${name}`, { unit: 'records' });
    try {
      const r = await copyStore(new SQLiteAdapter(from, { readOnly: true }), postgresAdapter(pg), name, {
        onProgress: (p) => bar.update(p.done, p.total),
      });
      bar.stop();
      out(
        `restored store "${name}" into ${where} from ${from}: ${r.buckets} buckets, ${r.records} records, ${r.history} history entries (verified)`,
      );
    } finally {
      bar.stop();
    }
  }
}

async function restoreCmd(opts: Record<string, any>): Promise<void> {
  const from = resolve(opts.from);
  if (!existsSync(from)) throw new CliError(`backup file not found: ${from}`, EXIT.USAGE);
  // Restoring makes the store from the backup, so the target may be new (no --create needed).
  const where = storeTarget(loc(opts), { create: true });
  if (where.kind === 'postgres') return restorePostgres(from, where.pg, opts);
  const path = where.path;
  const madeDir = !existsSync(dirname(path));
  if (madeDir) mkdirSync(dirname(path), { recursive: true });
  // Checks the backup (integrity, Quire tables, storage version), takes the
  // store's writer lock, and swaps the file in atomically.
  try {
    await restoreFromBackup(from, path, { overwrite: opts.force === true });
  } catch (e) {
    if (madeDir) rmSync(dirname(path), { recursive: true, force: true });
    if (e instanceof StorageLockedError) throw new CliError(lockedMessage(e), EXIT.LOCKED);
    if (e instanceof StorageCorruptionError)
      throw new CliError(`not a usable backup: ${e.message}`, EXIT.USAGE);
    if (e instanceof InvalidArgument && /exists/.test(e.message))
      throw new CliError(`${path} exists; restoring replaces its content (use --force)`, EXIT.USAGE);
    throw cliErrorOf(e, path);
  }
  out(`restored ${path} from ${from}`);
}

async function historyCmd(opts: Record<string, any>): Promise<void> {
  const opened = await openStore({ ...loc(opts), readOnly: true });
  try {
    if (!opened.store.hasBucket(opts.bucket))
      throw new CliError(`bucket "${opts.bucket}" not found`, EXIT.USAGE);
    const b = opened.store.bucket(opts.bucket) as unknown as {
      history?: (key: unknown, o: object) => Promise<unknown[]>;
    };
    if (typeof b.history !== 'function')
      throw new CliError('history is not available in this version of quire', EXIT.FAILED);
    const entries = await b.history(
      parseKey(opts.key),
      opts.limit !== undefined ? { limit: opts.limit } : {},
    );
    if (entries.length === 0)
      throw new CliError(`no history for key ${opts.key} in bucket "${opts.bucket}"`, EXIT.FAILED);
    if (opts.json === true) out(JSON.stringify(entries, null, 2));
    else
      for (const e of entries as Array<Record<string, unknown>>) {
        out(
          `v${e.version}  ${String(e.op).padEnd(6)}  ${new Date(e.at as number).toISOString()}  ${e.actor ?? '-'}  ${JSON.stringify(e.record)}`,
        );
      }
  } finally {
    await opened.store.stop();
  }
}

async function statsCmd(opts: Record<string, any>): Promise<void> {
  const opened = await openStore({ ...loc(opts), readOnly: true });
  try {
    const stats = await opened.store.getStats();
    if (opened.kind === 'postgres') {
      // Bytes of Quire's tables in the schema (every store of the schema), with indexes and TOAST.
      const report = await opened.storageReport();
      if (opts.json === true) {
        out(JSON.stringify({ postgres: opened.path, bytes: report.bytes, ...stats }, null, 2));
        return;
      }
      out(`store   ${stats.name}  (${opened.path}, ${report.bytes} bytes in Quire's tables)`);
      out(`buckets ${stats.buckets.count}, records ${stats.records.total}, indexes ${stats.indexes.total}`);
      for (const n of stats.buckets.names)
        out(
          `  ${n.padEnd(24)} ${String(stats.records.perBucket[n] ?? 0).padStart(10)} records  ${stats.indexes.perBucket[n] ?? 0} indexes  ${report.buckets?.[n] ?? 0} bytes`,
        );
      return;
    }
    const size = statSync(opened.path).size;
    const wal = existsSync(`${opened.path}-wal`) ? statSync(`${opened.path}-wal`).size : 0;
    if (opts.json === true) {
      out(JSON.stringify({ file: opened.path, bytes: size, walBytes: wal, ...stats }, null, 2));
      return;
    }
    out(`store   ${stats.name}  (${opened.path}, ${size} bytes, WAL ${wal} bytes)`);
    out(`buckets ${stats.buckets.count}, records ${stats.records.total}, indexes ${stats.indexes.total}`);
    for (const n of stats.buckets.names)
      out(
        `  ${n.padEnd(24)} ${String(stats.records.perBucket[n] ?? 0).padStart(10)} records  ${stats.indexes.perBucket[n] ?? 0} indexes`,
      );
  } finally {
    await opened.store.stop();
  }
}

/** What `check` reads of a database: SQLiteAdapter and PostgresAdapter alike. */
interface Checked {
  listBuckets(store: string): string[] | Promise<string[]>;
  loadBucket(
    store: string,
    bucket: string,
  ): ReturnType<SQLiteAdapter['loadBucket']> | ReturnType<PostgresAdapter['loadBucket']>;
}

/** Every stored bucket of `stores`: its definition compiles, every record reads and validates. */
async function checkBuckets(
  adapter: Checked,
  stores: readonly string[],
  recordCount: (store: string, bucket: string, loaded: unknown) => number,
  problems: string[],
): Promise<number> {
  let records = 0;
  for (const store of stores) {
    for (const bucket of await adapter.listBuckets(store)) {
      let stored: Awaited<ReturnType<Checked['loadBucket']>>;
      try {
        stored = await adapter.loadBucket(store, bucket);
      } catch (e) {
        problems.push(`${store}/${bucket}: ${redact((e as Error).message)}`);
        continue;
      }
      if (stored === undefined) continue;
      let validate: ((r: unknown) => void) | undefined;
      if (stored.definition !== undefined) {
        try {
          const compiled = compileDefinition(bucket, stored.definition.definition as never);
          validate = (r) => compiled.validator.validate(r as never);
        } catch (e) {
          problems.push(`${store}/${bucket}: stored definition is invalid: ${(e as Error).message}`);
        }
      } else problems.push(`${store}/${bucket}: no stored definition`);
      const total = recordCount(store, bucket, stored.records);
      const bar = progressBar(`checking ${bucket}`, { unit: 'records' });
      let done = 0;
      try {
        for (const r of stored.records) {
          records++;
          done++;
          if (validate !== undefined) {
            try {
              validate(r);
            } catch (e) {
              if (problems.length < 100) problems.push(`${store}/${bucket}: ${(e as Error).message}`);
            }
          }
          if (done % 1000 === 0) bar.update(done, total);
        }
        bar.update(done, Math.max(total, done));
      } catch (e) {
        problems.push(`${store}/${bucket}: ${redact((e as Error).message)}`);
      } finally {
        bar.stop();
      }
    }
  }
  return records;
}

async function checkCmd(opts: Record<string, any>): Promise<void> {
  const where = storeTarget(loc(opts), { create: false });
  if (where.kind === 'postgres') return checkPostgres(where.pg, opts);
  const path = where.path;
  const adapter = new SQLiteAdapter(path, { readOnly: true });
  const problems: string[] = [];
  let records = 0;
  try {
    const integrity = adapter.integrityCheck();
    if (integrity !== 'ok') problems.push(`SQLite integrity: ${integrity}`);
    const names = opts.name !== undefined ? [opts.name as string] : storeNames(adapter);
    records = await checkBuckets(adapter, names, (s, b) => adapter.recordCount(s, b), problems);
  } catch (e) {
    throw cliErrorOf(e, path);
  } finally {
    adapter.close();
  }
  if (problems.length > 0) {
    for (const p of problems) out(`problem: ${p}`);
    throw new CliError(`check found ${problems.length} problem(s) in ${path}`, EXIT.FAILED);
  }
  out(`ok: ${path} (${records} records checked)`);
}

/**
 * `quire check --pg`: every row of the store(s) is read and checked — each
 * stored definition compiles, each record parses and satisfies its
 * definition, each history and feed row is readable (history data parses).
 * PostgreSQL guards its own pages (data checksums, when the cluster has them).
 */
async function checkPostgres(pg: PgLocation, opts: Record<string, any>): Promise<void> {
  const where = `${pg.label} (schema "${pg.schema}")`;
  const contents = await probePostgres(pg);
  const all = [...contents.stores.keys()];
  if (opts.name !== undefined && !contents.stores.has(opts.name))
    throw new CliError(
      `${where} has no store "${opts.name}" (it has: ${all.join(', ') || 'none'})`,
      EXIT.USAGE,
    );
  const names: string[] = opts.name !== undefined ? [opts.name] : all;
  if (names.length === 0) throw new CliError(`no Quire store in ${where}`, EXIT.USAGE);
  const adapter = postgresAdapter(pg);
  const problems: string[] = [];
  let records = 0;
  let logRows = 0;
  let checksums = 'unknown';
  try {
    // Page checksums are PostgreSQL's own (initdb --data-checksums); say whether the cluster has them.
    const setting = await (await adapter.pool()).query<{ data_checksums: string }>('SHOW data_checksums');
    checksums = setting.rows[0]?.data_checksums ?? checksums;
    records = await checkBuckets(
      adapter,
      names,
      (_s, _b, loaded) => (Array.isArray(loaded) ? loaded.length : 0),
      problems,
    );
    for (const store of names) {
      try {
        const log = await adapter.dumpLog(store);
        logRows += log.history.length + log.feed.length;
        for (const h of log.history) {
          if (h.data === null || h.data === undefined) continue;
          try {
            JSON.parse(h.data);
          } catch {
            if (problems.length < 100)
              problems.push(`${store}/${h.bucket}: history of key ${h.key} (seq ${h.seq}) does not parse`);
          }
        }
      } catch (e) {
        problems.push(`${store}: history and change feed unreadable: ${redact((e as Error).message)}`);
      }
    }
  } catch (e) {
    throw new CliError(redact((e as Error).message), EXIT.FAILED);
  } finally {
    await adapter.close();
  }
  if (problems.length > 0) {
    for (const p of problems) out(`problem: ${p}`);
    throw new CliError(`check found ${problems.length} problem(s) in ${where}`, EXIT.FAILED);
  }
  out(
    `ok: ${where} (${records} records, ${logRows} history and feed rows checked; PostgreSQL data checksums: ${checksums})`,
  );
}

async function checkpointCmd(opts: Record<string, any>): Promise<void> {
  const where = storeTarget(loc(opts), { create: false });
  if (where.kind === 'postgres')
    throw new CliError(
      'checkpoint is for SQLite store files (it moves the write-ahead log into the file); it does not apply to PostgreSQL, which checkpoints on its own',
      EXIT.USAGE,
    );
  const path = where.path;
  const wal = `${path}-wal`;
  const before = existsSync(wal) ? statSync(wal).size : 0;
  let adapter: SQLiteAdapter;
  try {
    adapter = new SQLiteAdapter(path);
    adapter.database;
  } catch (e) {
    const err = cliErrorOf(e, path);
    if (err instanceof CliError && err.exitCode === EXIT.LOCKED)
      throw new CliError(
        `${err.message}\n(a running server checkpoints on its own; or call its "checkpoint" method)`,
        EXIT.LOCKED,
      );
    throw err;
  }
  try {
    adapter.checkpoint('TRUNCATE');
  } finally {
    adapter.close();
  }
  const after = existsSync(wal) ? statSync(wal).size : 0;
  out(`checkpoint done: WAL ${before} → ${after} bytes`);
}

/** The store options of `location()`, for `openStore`, `storeTarget` and `databasePath`. */
export function loc(opts: Record<string, any>): Pick<OpenOptions, 'db' | 'workspace' | 'pg' | 'name'> {
  return { db: opts.db, workspace: opts.workspace, pg: opts.pg, name: opts.name };
}

// ── Program ──────────────────────────────────────────────────────────

export function program(): Command {
  const p = new Command('quire')
    .description('Serve, import, export, back up, inspect, query and migrate a Quire store.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nEvery command that opens a store takes --db FILE, --workspace DIR or --pg URL (PostgreSQL).\nExit codes: 0 ok, 1 failed (check found problems, no history or no record for the key, a migration that threw, an unreachable database, a runtime error), 2 bad usage or input (unknown option, missing store, bad schema, filter or data file), 3 store locked by another process.',
    )
    .exitOverride();

  location(
    p.command('serve').description('serve the store over JSON-RPC (stdio by default, or HTTP + WebSocket)'),
  )
    .option('--schema <file>', 'bucket definitions (YAML or JSON)')
    .option('--create', 'make a new store when it does not exist (otherwise: exit 2)')
    .option(
      '--read-only',
      'open the store read-only: the server refuses every write (works while another process holds the store)',
    )
    .option('--stdio', 'newline-delimited JSON-RPC on stdin/stdout (default when --http is not given)')
    .option(
      '--http <port>',
      'listen for HTTP (POST /rpc, GET /health) and WebSocket on this port (0 = any)',
      int('--http', 0, 65535),
    )
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option(
      '--insecure',
      'allow a non-loopback --host without --auth (anyone who can reach it can read and write)',
    )
    .option(
      '--allowed-origin <origin>',
      'a browser origin allowed to call the server, with CORS (repeatable; default none)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--backup-dir <dir>',
      'where the "backupTo" method writes backups, by file name (default <db>.backups/; with --pg: none)',
    )
    .option(
      '--auth <file>',
      'bearer tokens and permissions (YAML/JSON: {tokens: {<token>: {identity, read, write, admin}}})',
    )
    .addOption(
      new Option('--durability <mode>', 'when a write is acknowledged')
        .choices(['strict', 'process', 'debounced'])
        .default('strict'),
    )
    .option(
      '--max-request-bytes <n>',
      'largest accepted message (default 10 MB)',
      int('--max-request-bytes', 1),
    )
    .option('--request-timeout <ms>', 'per-request timeout (default 30000)', int('--request-timeout'))
    .option('--max-connections <n>', 'open connections (default 1000)', int('--max-connections', 1))
    .option('--rate-limit <n>', 'requests per second per connection', int('--rate-limit', 1))
    .option('--ui', 'serve the inspector web page at / (needs --http)')
    .action(serve);

  p.command('inspect')
    .description('open the inspector web page on a store (read-only unless --write); prints its URL')
    .argument('[file]', 'SQLite store file')
    .option('--db <file>', 'SQLite store file')
    .option('--workspace <dir>', 'workspace directory (store in <dir>/.quire/store.db)')
    .option('--pg <url>', 'PostgreSQL store: postgres://user@host:port/db[?schema=NAME] (as for serve)')
    .option('--name <store>', 'store name inside the file or schema (default: the only one, or "quire")')
    .option('--write', 'allow edits (takes the writer lock of the store)')
    .option('--port <port>', 'port to listen on (default: any free port)', int('--port'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--auth <file>', 'bearer tokens and permissions (as for serve)')
    .action(inspectCmd);

  location(
    p
      .command('import')
      .description('import records into a bucket, all or nothing')
      .argument('<file>', 'JSON, NDJSON or YAML file'),
  )
    .requiredOption('--bucket <name>', 'target bucket')
    .option('--schema <file>', 'bucket definitions (YAML or JSON), for a bucket not yet stored')
    .option('--create', 'make a new store when it does not exist (otherwise: exit 2)')
    .addOption(
      new Option('--format <format>', 'input format (default: from the extension)').choices([
        'json',
        'ndjson',
        'jsonl',
        'yaml',
        'yml',
      ]),
    )
    .option('--upsert', 'update records whose key exists instead of failing')
    .option('--if-empty', 'import only when the bucket is empty')
    .option('--actor <name>', 'recorded as the actor of the writes (history)')
    .action(importCmd);

  location(p.command('export').description('export a bucket (to stdout or a file)'))
    .requiredOption('--bucket <name>', 'bucket to export')
    .option('--out <file>', 'output file (written atomically); default stdout')
    .addOption(
      new Option('--format <format>', 'output format (default: from --out, else json)').choices([
        'json',
        'ndjson',
        'jsonl',
        'yaml',
        'yml',
      ]),
    )
    .option('--filter <json>', 'export only matching records, e.g. \'{"role":"admin"}\'')
    .option('--no-metadata', 'leave out _version, _createdAt, _updatedAt, _expiresAt')
    .action(exportCmd);

  location(
    p
      .command('backup')
      .description(
        'online, consistent backup to an SQLite file (works while a server runs; --pg: one store)',
      ),
  )
    .requiredOption('--out <file>', 'backup file')
    .option('--force', 'overwrite an existing file')
    .action(backupCmd);

  p.command('copy')
    .description(
      'copy a store between SQLite files and PostgreSQL (postgres://…[?schema=NAME]) URLs, verified',
    )
    .requiredOption('--from <file|url>', 'source: SQLite store file or postgres:// URL')
    .requiredOption('--to <file|url>', 'target (must not hold the store yet): SQLite file or postgres:// URL')
    .option('--name <store>', 'store name (default: the only one in an SQLite source, or "quire")')
    .action(copyCmd);

  location(
    p
      .command('restore')
      .description(
        'replace the store content with a backup (the store must not be in use; --pg: into an empty schema)',
      ),
  )
    .requiredOption('--from <file>', 'backup file')
    .option('--force', 'replace an existing store')
    .action(restoreCmd);

  location(p.command('history').description("a record's version history"))
    .requiredOption('--bucket <name>', 'bucket')
    .requiredOption('--key <key>', 'record key (JSON for numbers or composite keys)')
    .option('--limit <n>', 'newest n versions', int('--limit', 1))
    .option('--json', 'JSON output')
    .action(historyCmd);

  location(p.command('stats').description('buckets, record and index counts, sizes on disk'))
    .option('--json', 'JSON output')
    .action(statsCmd);

  location(
    p
      .command('check')
      .description(
        'integrity check: every record readable and valid (SQLite: also its pages; PostgreSQL: also history and feed rows)',
      ),
  ).action(checkCmd);

  location(
    p
      .command('checkpoint')
      .description('checkpoint the write-ahead log into the SQLite store file (not for PostgreSQL)'),
  ).action(checkpointCmd);
  addTypesCommand(p);
  addDataCommands(p, { location, loc });

  return p;
}

/** Run the CLI; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const p = program();
  try {
    await p.parseAsync(argv as string[], { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0)
        return EXIT.OK;
      return EXIT.USAGE;
    }
    // A password of a --pg URL never reaches a message.
    if (e instanceof CliError) {
      info(`quire: ${redact(e.message)}`);
      return e.exitCode;
    }
    info(`quire: ${redact((e as Error)?.message ?? String(e))}`);
    return EXIT.FAILED;
  }
}
