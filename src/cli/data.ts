// Data commands of `quire`: get, query, schema, changes [--follow],
// restore-version and migrate. The read-only ones open the store without its
// writer lock, so they work next to a running server; restore-version and
// migrate take the lock (exit 3 when another process holds it).
import { type Command, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import {
  HistoryNotEnabledError,
  type IncrementalAdapter,
  InvalidArgumentError as InvalidArgument,
  InvalidFilterError,
  type Store,
  ValidationError,
  VersionNotFoundError,
} from '../index.js';
import type { BucketDefinition, SortSpec, WhereFilter } from '../store/index.js';
import { keyFields, migrateCmd } from './migrate.js';
import { CliError, EXIT, type OpenOptions, openStore } from './open.js';
import { renderTable } from './table.js';

/** What the data commands take from main.ts: the store options every command has. */
export interface LocationHelpers {
  /** Adds the options that say which store to open (--db, --workspace, --name …). */
  location(cmd: Command): Command;
  /** Those options, from a command's parsed options, for openStore. */
  loc(opts: Record<string, any>): OpenOptions;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const info = (line: string) => process.stderr.write(`${line}\n`);

/** Fields every record carries besides its schema fields. */
const METADATA = ['_version', '_createdAt', '_updatedAt', '_expiresAt'];

/** A commander parser for integers >= `min`. */
function intFrom(min: number, name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

/** The bucket's definition, or exit 2 naming the buckets there are. */
async function requireBucket(store: Store, bucket: string): Promise<BucketDefinition> {
  if (!store.hasBucket(bucket)) {
    const names = (await store.getStats()).buckets.names;
    throw new CliError(
      `bucket "${bucket}" not found (buckets: ${names.length > 0 ? names.join(', ') : 'none'})`,
      EXIT.USAGE,
    );
  }
  return store.getBucketSchema(bucket)!;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** One key field's value from its text, by the field's type. */
function keyPart(text: string, field: string, def: BucketDefinition, bucket: string): unknown {
  const type = def.schema[field]?.type;
  if (type === 'number') {
    if (!NUMBER.test(text.trim()))
      throw new CliError(
        `key "${text}" is not a number (the key field "${field}" of bucket "${bucket}" is a number)`,
        EXIT.USAGE,
      );
    return Number(text);
  }
  if (type === 'boolean') {
    if (text !== 'true' && text !== 'false')
      throw new CliError(
        `key "${text}" is not true or false (the key field "${field}" of bucket "${bucket}" is a boolean)`,
        EXIT.USAGE,
      );
    return text === 'true';
  }
  return text;
}

/**
 * A key given on the command line, as the bucket's key type wants it: `42`
 * is the number 42 for a number key and the string "42" for a string key;
 * a composite key is a JSON array (`'["o1",2]'`).
 */
export function parseKeyFor(def: BucketDefinition, bucket: string, text: string): unknown {
  const fields = keyFields(def);
  if (fields.length === 1) return keyPart(text, fields[0]!, def, bucket);
  let parts: unknown;
  try {
    parts = JSON.parse(text);
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== fields.length)
    throw new CliError(
      `bucket "${bucket}" has a composite key [${fields.join(', ')}]: give the key as a JSON array of ${fields.length} values, e.g. '${JSON.stringify(fields.map((f) => (def.schema[f]?.type === 'number' ? 1 : 'x')))}'`,
      EXIT.USAGE,
    );
  return parts.map((p, i) => (typeof p === 'string' ? keyPart(p, fields[i]!, def, bucket) : p));
}

function printRecord(record: unknown, format: string): void {
  if (format === 'yaml') process.stdout.write(YAML.stringify(record));
  else out(JSON.stringify(record, null, 2));
}

// ── get ──────────────────────────────────────────────────────────────

async function getCmd(bucket: string, keyText: string, opts: Record<string, any>, h: LocationHelpers) {
  const opened = await openStore({ ...h.loc(opts), readOnly: true });
  try {
    const def = await requireBucket(opened.store, bucket);
    const key = parseKeyFor(def, bucket, keyText);
    const record = await opened.store.bucket(bucket).get(key);
    if (record === undefined)
      throw new CliError(`no record with key ${JSON.stringify(key)} in bucket "${bucket}"`, EXIT.FAILED);
    printRecord(record, opts.format);
  } finally {
    await opened.store.stop();
  }
}

// ── query ────────────────────────────────────────────────────────────

/** Every field name in a filter must be a field of the bucket (the engine lets unknown ones match nothing). */
function checkFilterFields(filter: unknown, fields: ReadonlySet<string>, bucket: string, path = ''): void {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return;
  for (const [key, value] of Object.entries(filter)) {
    const here = path === '' ? key : `${path}.${key}`;
    if (key === '$and' || key === '$or') {
      if (Array.isArray(value))
        value.forEach((f, i) => {
          checkFilterFields(f, fields, bucket, `${here}[${i}]`);
        });
      continue;
    }
    if (key.startsWith('$')) continue;
    if (!fields.has(key))
      throw new CliError(
        `bad --filter: unknown field "${key}" at ${here} (fields of bucket "${bucket}": ${[...fields].join(', ')})`,
        EXIT.USAGE,
      );
  }
}

function parseFilter(text: string): WhereFilter {
  let filter: unknown;
  try {
    filter = JSON.parse(text);
  } catch (e) {
    throw new CliError(`bad --filter: not JSON (${(e as Error).message}): ${text}`, EXIT.USAGE);
  }
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter))
    throw new CliError(
      `bad --filter: expected a JSON object such as '{"role":"admin"}', got ${JSON.stringify(filter)}`,
      EXIT.USAGE,
    );
  return filter as WhereFilter;
}

/** `--sort age:desc,name` → {age: 'desc', name: 'asc'}; every field must exist. */
function parseSort(text: string, fields: ReadonlySet<string>, bucket: string): SortSpec {
  const sort: Record<string, 'asc' | 'desc'> = {};
  for (const part of text.split(',')) {
    const [field = '', direction = 'asc', ...rest] = part.trim().split(':');
    if (field === '' || rest.length > 0 || (direction !== 'asc' && direction !== 'desc'))
      throw new CliError(`bad --sort "${part}": expected FIELD or FIELD:asc or FIELD:desc`, EXIT.USAGE);
    if (!fields.has(field))
      throw new CliError(
        `bad --sort: unknown field "${field}" (fields of bucket "${bucket}": ${[...fields].join(', ')})`,
        EXIT.USAGE,
      );
    sort[field] = direction;
  }
  return sort;
}

/** Columns for a table: key fields, schema fields, other fields records have; metadata on request; never an empty one. */
function tableColumns(def: BucketDefinition, records: readonly Record<string, unknown>[], metadata: boolean) {
  const keys = keyFields(def);
  const names = [...keys, ...Object.keys(def.schema).filter((f) => !keys.includes(f))];
  const seen = new Set(names);
  for (const r of records)
    for (const f of Object.keys(r))
      if (!seen.has(f) && !METADATA.includes(f)) {
        seen.add(f);
        names.push(f);
      }
  if (metadata) names.push(...METADATA);
  return names
    .filter((f) => keys.includes(f) || records.some((r) => r[f] !== undefined && r[f] !== null))
    .map((name) => ({ name, key: keys.includes(name) }));
}

/** Cells a table may use: the terminal's width, else $COLUMNS, else 80. */
function terminalWidth(): number {
  if (process.stdout.isTTY === true && process.stdout.columns > 0) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : 80;
}

async function queryCmd(bucket: string, opts: Record<string, any>, h: LocationHelpers) {
  const filter = opts.filter !== undefined ? parseFilter(opts.filter) : undefined;
  const opened = await openStore({ ...h.loc(opts), readOnly: true });
  try {
    const def = await requireBucket(opened.store, bucket);
    const fields = new Set([...Object.keys(def.schema), ...METADATA]);
    if (filter !== undefined) checkFilterFields(filter, fields, bucket);
    const sort = opts.sort !== undefined ? parseSort(opts.sort, fields, bucket) : undefined;
    const b = opened.store.bucket(bucket);
    let records: Record<string, unknown>[];
    let total: number;
    try {
      records = await b.where(filter ?? {}, {
        ...(sort !== undefined ? { sort } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      });
      total = await b.count(filter);
    } catch (e) {
      if (e instanceof InvalidFilterError) throw new CliError(`bad --filter: ${e.message}`, EXIT.USAGE);
      throw e;
    }
    switch (opts.format) {
      case 'json':
        out(JSON.stringify(records, null, 2));
        break;
      case 'ndjson':
        for (const r of records) out(JSON.stringify(r));
        break;
      case 'yaml':
        process.stdout.write(YAML.stringify(records));
        break;
      default: {
        const columns = tableColumns(def, records, opts.metadata === true);
        const table = renderTable(
          columns,
          records.map((r) => columns.map((c) => r[c.name])),
          terminalWidth(),
        );
        for (const line of table.lines) out(line);
        if (table.hidden.length > 0)
          info(`(columns left out to fit the width: ${table.hidden.join(', ')}; --format json shows all)`);
      }
    }
    info(
      records.length < total
        ? `${records.length} of ${total} records`
        : `${total} record${total === 1 ? '' : 's'}`,
    );
  } finally {
    await opened.store.stop();
  }
}

// ── schema ───────────────────────────────────────────────────────────

async function schemaCmd(bucket: string | undefined, opts: Record<string, any>, h: LocationHelpers) {
  const opened = await openStore({ ...h.loc(opts), readOnly: true });
  try {
    const names = bucket !== undefined ? [bucket] : (await opened.store.getStats()).buckets.names;
    const buckets: Record<string, BucketDefinition> = {};
    for (const name of names) buckets[name] = await requireBucket(opened.store, name);
    // The shape of a schema file: the output can be edited and given to `quire migrate --schema`.
    const doc = { buckets };
    if (opts.format === 'json') out(JSON.stringify(doc, null, 2));
    else process.stdout.write(YAML.stringify(doc));
  } finally {
    await opened.store.stop();
  }
}

// ── changes ──────────────────────────────────────────────────────────

interface FeedLine {
  seq: number;
  bucket: string;
  key: unknown;
  op: string;
  version: number;
  at: number;
  actor: string | null;
}

/**
 * Print the change feed from `--since`, then (with --follow) poll the
 * database for changes other processes commit, until SIGINT or SIGTERM.
 * The feed is read from storage itself: this process's copy of the store is
 * read-only and does not see other processes' writes.
 */
async function changesCmd(opts: Record<string, any>, h: LocationHelpers) {
  const opened = await openStore({ ...h.loc(opts), readOnly: true });
  const adapter: IncrementalAdapter = opened.adapter;
  const readChanges = adapter.readChanges?.bind(adapter);
  if (readChanges === undefined) {
    await opened.store.stop();
    throw new CliError('this storage keeps no change feed', EXIT.FAILED);
  }
  let since: number = opts.since ?? 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A reader that went away (`| head`) ends the command quietly.
  process.stdout.on('error', stop);
  const PAGE = 1000;
  const drain = async () => {
    for (;;) {
      const rows = await readChanges(opened.name, since, PAGE);
      let text = '';
      for (const r of rows) {
        const line: FeedLine = {
          seq: r.seq,
          bucket: r.bucket,
          key: JSON.parse(r.key),
          op: r.op,
          version: r.version,
          at: r.at,
          actor: r.actor ?? null,
        };
        text += `${JSON.stringify(line)}\n`;
        since = r.seq;
      }
      if (text !== '' && !stopped) process.stdout.write(text);
      if (rows.length < PAGE || stopped) return;
    }
  };
  try {
    await drain();
    while (opts.follow === true && !stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.interval);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!stopped) await drain();
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await opened.store.stop();
  }
}

// ── restore-version ──────────────────────────────────────────────────

async function restoreVersionCmd(
  bucket: string,
  keyText: string,
  version: number,
  opts: Record<string, any>,
  h: LocationHelpers,
) {
  const opened = await openStore({ ...h.loc(opts), durability: 'strict' });
  let failed = true;
  try {
    const def = await requireBucket(opened.store, bucket);
    const key = parseKeyFor(def, bucket, keyText);
    let record: Record<string, unknown>;
    try {
      record = await opened.store
        .bucket(bucket)
        .restoreVersion(key, version, opts.actor !== undefined ? { actor: opts.actor } : {});
    } catch (e) {
      if (e instanceof VersionNotFoundError || e instanceof HistoryNotEnabledError)
        throw new CliError(e.message, EXIT.FAILED);
      if (e instanceof ValidationError)
        throw new CliError(`version ${version} no longer fits the bucket's definition: ${e.message}`);
      if (e instanceof InvalidArgument) throw new CliError(e.message, EXIT.USAGE);
      throw e;
    }
    await opened.store.flush();
    printRecord(record, opts.format);
    info(
      `restored version ${version} of ${JSON.stringify(key)} in "${bucket}" as version ${String(record._version)}`,
    );
    failed = false;
  } finally {
    await opened.close({ failed });
  }
}

// ── Registration ─────────────────────────────────────────────────────

const EXIT_CODES = (extra: string) =>
  `\nExit codes: 0 ok, ${extra}2 bad usage or input (unknown bucket, bad key, filter or option), 3 store locked.`;

/** Adds get, query, schema, changes, restore-version and migrate to the program. */
export function addDataCommands(program: Command, h: LocationHelpers): void {
  h.location(
    program
      .command('get')
      .description('print one record')
      .argument('<bucket>', 'bucket')
      .argument('<key>', 'key: 42 is a number for a number key; a composite key as JSON: \'["o1",2]\''),
  )
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'yaml']).default('json'))
    .addHelpText('after', EXIT_CODES('1 no record with that key, '))
    .action((bucket, key, opts) => getCmd(bucket, key, opts, h));

  h.location(
    program
      .command('query')
      .description('records of a bucket, filtered and sorted; a table that fits the terminal by default')
      .argument('<bucket>', 'bucket'),
  )
    .option('--filter <json>', 'filter, e.g. \'{"role":"admin","age":{"$gte":18}}\'')
    .option('--sort <field[:desc]>', 'sort by fields, e.g. age:desc,name (ascending unless :desc)')
    .option('--limit <n>', 'at most n records', intFrom(1, '--limit'))
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json', 'ndjson', 'yaml'])
        .default('table'),
    )
    .option('--metadata', 'table: show _version, _createdAt, _updatedAt, _expiresAt too')
    .addHelpText(
      'after',
      `${EXIT_CODES('')}\nTables fit the terminal width (or $COLUMNS, or 80 when output is not a terminal): long cells end in "…", and columns that do not fit are left out (named on stderr).`,
    )
    .action((bucket, opts) => queryCmd(bucket, opts, h));

  h.location(
    program
      .command('schema')
      .description('stored bucket definitions, as a schema file (usable with migrate --schema)')
      .argument('[bucket]', 'only this bucket'),
  )
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addHelpText('after', EXIT_CODES(''))
    .action((bucket, opts) => schemaCmd(bucket, opts, h));

  h.location(
    program
      .command('changes')
      .description("the store's change feed as NDJSON, oldest first; --follow keeps printing new changes"),
  )
    .option(
      '--since <seq>',
      'changes after this sequence number (default 0: the oldest kept)',
      intFrom(0, '--since'),
    )
    .option('--follow', 'keep printing changes as other processes commit them, until Ctrl-C or SIGTERM')
    .option(
      '--interval <ms>',
      'with --follow: how often to look for new changes',
      intFrom(1, '--interval'),
      250,
    )
    .addHelpText('after', EXIT_CODES(''))
    .action((opts) => changesCmd(opts, h));

  h.location(
    program
      .command('restore-version')
      .description("write an earlier version of a record (from the bucket's history) as its newest version")
      .argument('<bucket>', 'bucket (defined with history)')
      .argument('<key>', 'key, as for get')
      .argument('<version>', 'the version to restore', intFrom(1, 'version')),
  )
    .option('--actor <name>', 'recorded as the actor of the write (history)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'yaml']).default('json'))
    .addHelpText('after', EXIT_CODES('1 the history does not hold that version or the bucket keeps none, '))
    .action((bucket, key, version, opts) => restoreVersionCmd(bucket, key, version, opts, h));

  h.location(
    program
      .command('migrate')
      .description(
        'bring stored definitions to those of a schema file; incompatible changes need a migration file',
      ),
  )
    .option('--schema <file>', 'the bucket definitions wanted (YAML or JSON, as for serve)')
    .option(
      '--migration <file>',
      'migrations (.js/.mjs, or .ts with tsx installed) exporting `migrations` (or default): [{version, name, up}]',
    )
    .option('--dry-run', 'print what would change and change nothing (works while a server runs)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 a migration failed (nothing was changed), 2 bad usage or input (a change the stored records do not allow without --migration, a bad schema or migration file; nothing was changed), 3 store locked.',
    )
    .action((opts) => migrateCmd(opts, h.loc(opts)));
}
