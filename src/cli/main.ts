// The `quire` command line (P-11): serve, import, export, backup, restore,
// history, stats, check, checkpoint. Results go to stdout, messages and
// progress to stderr; exit codes are listed in open.ts (EXIT).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
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
import type { DataFormat } from '../io/index.js';
import { PostgresAdapter } from '../postgres/index.js';
import { type AuthOptions, InsecureBindError, QuireServer, type ServerOptions } from '../server/index.js';
import { compileDefinition } from '../store/index.js';
import { CliError, cliErrorOf, databasePath, EXIT, type OpenOptions, openStore, storeNames } from './open.js';
import { progressBar } from './progress.js';

const VERSION = '0.1.0';

/** An adapter for `quire copy`: postgres:// URLs (with an optional ?schema=) or SQLite files. */
function copyEndpoint(target: string, role: 'from' | 'to'): IncrementalAdapter {
  if (/^postgres(ql)?:\/\//.test(target)) {
    const u = new URL(target);
    const schema = u.searchParams.get('schema') ?? undefined;
    u.searchParams.delete('schema');
    return new PostgresAdapter({ connectionString: u.toString() }, { schema, connectTimeoutMs: 5000 });
  }
  const path = resolve(target);
  if (role === 'from' && !existsSync(path)) throw new CliError(`no such store file: ${path}`, EXIT.USAGE);
  return new SQLiteAdapter(path, { readOnly: role === 'from' });
}

async function copyCmd(o: { from: string; to: string; name?: string }): Promise<void> {
  const from = copyEndpoint(o.from, 'from');
  const to = copyEndpoint(o.to, 'to');
  let name = o.name;
  if (name === undefined) {
    const names =
      from instanceof PostgresAdapter ? await from.listStores() : storeNames(from as SQLiteAdapter);
    if (names.length > 1)
      throw new CliError(
        `${o.from} holds several stores (${names.join(', ')}); choose one with --name`,
        EXIT.USAGE,
      );
    name = names[0];
  }
  name ??= 'quire';
  const bar = progressBar('copy');
  let copied = 0;
  let last = '';
  let lastDone = 0;
  try {
    const r = await copyStore(from, to, name, {
      onProgress: (p) => {
        if (p.bucket !== last) {
          last = p.bucket;
          lastDone = 0;
        }
        copied += p.done - lastDone;
        lastDone = p.done;
        bar.update(copied);
      },
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

function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function location(cmd: Command): Command {
  return cmd
    .option('--db <file>', 'SQLite store file')
    .option('--workspace <dir>', 'workspace directory (store in <dir>/.quire/store.db)')
    .option('--name <store>', 'store name inside the file (default: the only one, or "quire")');
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
  if (opts.ui === true) throw new CliError('--ui is not available yet (SPEC P-13)', EXIT.USAGE);
  const stdio = opts.stdio === true || opts.http === undefined;
  const auth = opts.auth !== undefined ? readAuthFile(opts.auth) : undefined;
  const opened = await openStore({
    db: opts.db,
    workspace: opts.workspace,
    name: opts.name,
    schema: opts.schema,
    durability: opts.durability,
    create: true,
  });
  const origins: string[] = opts.allowedOrigin ?? [];
  const serverOptions: ServerOptions = {
    store: opened.store,
    stopStoreOnClose: true,
    allowedOrigins: origins,
    insecure: opts.insecure === true,
    backupDir: resolve(opts.backupDir ?? `${opened.path}.backups`),
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
        `quire: serving ${opened.path} (store "${opened.name}", buckets: ${buckets.join(', ') || 'none'})`,
      );
      info(`quire: HTTP ${a.url}  WebSocket ${a.wsUrl}  health http://${a.host}:${a.port}/health`);
    } catch (e) {
      await server.close();
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

async function importCmd(file: string, opts: Record<string, any>): Promise<void> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`input file not found: ${path}`, EXIT.USAGE);
  const format = formatOf(opts.format, path);
  const opened = await openStore({
    ...loc(opts),
    schema: opts.schema,
    create: true,
    durability: 'debounced',
  });
  const bar = progressBar(`importing ${opts.bucket}`);
  try {
    if (!opened.store.hasBucket(opts.bucket))
      throw new CliError(`bucket "${opts.bucket}" is not defined (define it with --schema FILE)`, EXIT.USAGE);
    const r = await opened.store.bucket(opts.bucket).import(path, {
      format,
      mode: opts.upsert === true ? 'upsert' : 'insert',
      onlyIfEmpty: opts.ifEmpty === true,
      ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
      onProgress: (p) => bar.update(p.processed, p.total),
    });
    bar.stop();
    await opened.store.flush();
    out(
      r.skipped
        ? `skipped: bucket "${opts.bucket}" is not empty`
        : `imported ${r.imported} records into "${opts.bucket}"`,
    );
  } catch (e) {
    bar.stop();
    if (e instanceof ValidationError || (e as { name?: string }).name === 'ImportError')
      throw new CliError(`import failed, nothing was imported: ${(e as Error).message}`, EXIT.USAGE);
    throw e;
  } finally {
    await opened.store.stop();
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
  const bar = progressBar(
    `exporting ${opts.bucket}`,
    opts.out !== undefined && process.stderr.isTTY === true,
  );
  try {
    if (!opened.store.hasBucket(opts.bucket))
      throw new CliError(`bucket "${opts.bucket}" not found in ${opened.path}`, EXIT.USAGE);
    const options = {
      ...(filter !== undefined ? { filter } : {}),
      metadata: opts.metadata !== false,
      onProgress: (p: { processed: number; total: number }) => bar.update(p.processed, p.total),
    };
    const b = opened.store.bucket(opts.bucket);
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
  const path = databasePath(loc(opts), { create: false });
  const target = resolve(opts.out);
  if (existsSync(target) && opts.force !== true)
    throw new CliError(`${target} exists (use --force to overwrite)`, EXIT.USAGE);
  // An online, consistent copy through SQLite's backup API; works while a server writes.
  const adapter = new SQLiteAdapter(path, { readOnly: true });
  const bar = progressBar('backup');
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

async function restoreCmd(opts: Record<string, any>): Promise<void> {
  const from = resolve(opts.from);
  if (!existsSync(from)) throw new CliError(`backup file not found: ${from}`, EXIT.USAGE);
  const path = databasePath(loc(opts), { create: true });
  // Checks the backup (integrity, Quire tables, storage version), takes the
  // store's writer lock, and swaps the file in atomically.
  try {
    await restoreFromBackup(from, path, { overwrite: opts.force === true });
  } catch (e) {
    if (e instanceof StorageLockedError) throw new CliError(e.message, EXIT.LOCKED);
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

async function checkCmd(opts: Record<string, any>): Promise<void> {
  const path = databasePath(loc(opts), { create: false });
  const adapter = new SQLiteAdapter(path, { readOnly: true });
  const problems: string[] = [];
  let records = 0;
  try {
    const integrity = adapter.integrityCheck();
    if (integrity !== 'ok') problems.push(`SQLite integrity: ${integrity}`);
    const names = opts.name !== undefined ? [opts.name as string] : storeNames(adapter);
    for (const store of names) {
      for (const bucket of adapter.listBuckets(store)) {
        const stored = adapter.loadBucket(store, bucket);
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
        const bar = progressBar(`checking ${bucket}`);
        try {
          for (const r of stored.records) {
            records++;
            if (validate !== undefined) {
              try {
                validate(r);
              } catch (e) {
                if (problems.length < 100) problems.push(`${store}/${bucket}: ${(e as Error).message}`);
              }
            }
            if (records % 10_000 === 0) bar.update(records);
          }
        } catch (e) {
          problems.push(`${store}/${bucket}: ${(e as Error).message}`);
        } finally {
          bar.stop();
        }
      }
    }
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

async function checkpointCmd(opts: Record<string, any>): Promise<void> {
  const path = databasePath(loc(opts), { create: false });
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

function loc(opts: Record<string, any>): Pick<OpenOptions, 'db' | 'workspace' | 'name'> {
  return { db: opts.db, workspace: opts.workspace, name: opts.name };
}

// ── Program ──────────────────────────────────────────────────────────

export function program(): Command {
  const p = new Command('quire')
    .description('Serve, import, export, back up and inspect a Quire store.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failed (e.g. check found problems), 2 bad usage or input, 3 store locked by another process.',
    )
    .exitOverride();

  location(
    p.command('serve').description('serve the store over JSON-RPC (stdio by default, or HTTP + WebSocket)'),
  )
    .option('--schema <file>', 'bucket definitions (YAML or JSON)')
    .option('--stdio', 'newline-delimited JSON-RPC on stdin/stdout (default when --http is not given)')
    .option(
      '--http <port>',
      'listen for HTTP (POST /rpc, GET /health) and WebSocket on this port (0 = any)',
      int('--http'),
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
      'where the "backupTo" method writes backups, by file name (default <db>.backups/)',
    )
    .option(
      '--auth <file>',
      'bearer tokens and permissions (YAML/JSON: {tokens: {<token>: {identity, read, write, admin}}})',
    )
    .addOption(
      new Option('--durability <mode>', 'when a write is acknowledged')
        .choices(['strict', 'debounced'])
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
    .option('--ui', 'web inspector (not available yet)')
    .action(serve);

  location(
    p
      .command('import')
      .description('import records into a bucket, all or nothing')
      .argument('<file>', 'JSON, NDJSON or YAML file'),
  )
    .requiredOption('--bucket <name>', 'target bucket')
    .option('--schema <file>', 'bucket definitions (YAML or JSON), for a bucket not yet stored')
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
      .description('online, consistent backup of the store file (works while a server runs)'),
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
      .description('replace the store content with a backup (the store must not be in use)'),
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

  location(p.command('stats').description('buckets, record and index counts, file sizes'))
    .option('--json', 'JSON output')
    .action(statsCmd);

  location(
    p.command('check').description('integrity check: SQLite pages, every record readable and valid'),
  ).action(checkCmd);

  location(p.command('checkpoint').description('checkpoint the write-ahead log into the store file')).action(
    checkpointCmd,
  );

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
    if (e instanceof CliError) {
      info(`quire: ${e.message}`);
      return e.exitCode;
    }
    info(`quire: ${(e as Error)?.message ?? String(e)}`);
    return EXIT.FAILED;
  }
}
