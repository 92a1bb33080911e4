// `quire migrate`: bring the stored bucket definitions to those of a schema
// file. A change the stored records allow (a new field with a default or
// optional, a new index, a new bucket …) is applied as is; one they do not
// (a type change, a required field without a default, a new key …) needs
// migrations from a file. Everything — the migrations not yet applied and
// the new definitions — runs as one migration of the project's runner, so it
// all lands in one storage transaction, or nothing does. `--dry-run` does
// the same on the store opened read-only (in memory only) and reports.
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DuplicateKeyError,
  MIGRATIONS_BUCKET,
  type Migration,
  ReadOnlyStorageError,
  runMigrations,
  type Store,
  UniqueConstraintError,
  ValidationError,
} from '../index.js';
import {
  type BucketDefinition,
  compileDefinition,
  diffDefinitions,
  type StoreRecord,
  sameDefinition,
  serializeDefinition,
  stableJson,
} from '../store/index.js';
import { CliError, EXIT, type OpenOptions, openStore, readSchemaFile } from './open.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const info = (line: string) => process.stderr.write(`${line}\n`);

/** The key fields of a definition, in order. */
export const keyFields = (def: BucketDefinition): string[] =>
  typeof def.key === 'string' ? [def.key] : [...def.key];
const keyText = (def: BucketDefinition, r: Record<string, unknown>): string => {
  const k = keyFields(def).map((f) => r[f]);
  return JSON.stringify(k.length === 1 ? k[0] : k);
};

/** The migrations a file exports: `migrations`, or its default export (a list or one migration). */
async function loadMigrations(file: string): Promise<Migration[]> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`migration file not found: ${path}`, EXIT.USAGE);
  const ext = extname(path).toLowerCase();
  let mod: Record<string, any>;
  try {
    if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
      // tsx is optional: only TypeScript migration files need it.
      const spec = 'tsx/esm/api';
      let api: { tsImport(specifier: string, parent: string): Promise<Record<string, any>> };
      try {
        api = await import(spec);
      } catch {
        throw new CliError(
          `${path}: a TypeScript migration file needs tsx (npm install --save-dev tsx); or give a .js file`,
          EXIT.USAGE,
        );
      }
      mod = await api.tsImport(pathToFileURL(path).href, import.meta.url);
    } else if (ext === '.js' || ext === '.mjs' || ext === '.cjs') {
      mod = await import(pathToFileURL(path).href);
    } else throw new CliError(`migration file ${path}: expected .js, .mjs, .cjs, .ts or .mts`, EXIT.USAGE);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot load migration file ${path}: ${(e as Error).message}`, EXIT.USAGE);
  }
  // A TypeScript file compiled as CommonJS puts its exports under `default`.
  const found = mod.migrations ?? mod.default?.migrations ?? mod.default?.default ?? mod.default;
  const list: unknown[] = Array.isArray(found) ? found : found !== undefined ? [found] : [];
  if (list.length === 0)
    throw new CliError(
      `migration file ${path} exports no migrations: export \`migrations\` (or a default export), a list of {version, name, up}`,
      EXIT.USAGE,
    );
  const versions = new Set<number>();
  list.forEach((m, i) => {
    const { version, name, up } = (m ?? {}) as Partial<Migration>;
    const where = `migration file ${path}, entry ${i + 1}`;
    if (!Number.isInteger(version) || (version as number) < 1)
      throw new CliError(`${where}: version must be a positive integer, got ${String(version)}`, EXIT.USAGE);
    if (versions.has(version!)) throw new CliError(`${where}: duplicate version ${version}`, EXIT.USAGE);
    if (typeof name !== 'string' || name === '')
      throw new CliError(`${where}: needs a non-empty name`, EXIT.USAGE);
    if (typeof up !== 'function') throw new CliError(`${where}: needs an up(ctx) function`, EXIT.USAGE);
    versions.add(version!);
  });
  return list as Migration[];
}

/** A migration of the file that failed: which one, and what it threw. */
class MigrationFailed extends Error {
  constructor(
    readonly migration: Migration,
    readonly error: unknown,
  ) {
    super(
      `migration ${migration.version} ("${migration.name}") failed: ${(error as Error)?.message ?? error}`,
    );
  }
}

/** Definitions the stored records do not allow: every bucket's problems, collected before anything is kept. */
class Incompatible extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/**
 * Give bucket `name` the definition `def`, when its records allow it: new
 * fields with a default are filled in, then every record must be valid under
 * `def` (and unique values stay unique). Otherwise the bucket is left as it
 * is and the reasons go to `problems`.
 */
async function applyDefinition(store: Store, name: string, def: BucketDefinition, problems: string[]) {
  if (!store.hasBucket(name)) {
    await store.defineBucket(name, def);
    return;
  }
  const current = store.getBucketSchema(name)!;
  const stored = serializeDefinition(current);
  const next = serializeDefinition(def);
  if (sameDefinition(stored, next)) return;
  const diff = diffDefinitions(stored, next);
  const records = await store.bucket(name).all();
  const label = `bucket "${name}" (${diff.differences.join('; ')})`;
  if (diff.keyChanged !== undefined && records.length > 0) {
    problems.push(`${label}: the key cannot change while the bucket holds records (${records.length})`);
    return;
  }
  const fill = (r: StoreRecord): StoreRecord => {
    let filled = r;
    for (const f of diff.fill) {
      if (filled[f] !== undefined) continue;
      const d = def.schema[f]!.default;
      filled = Object.assign({}, filled, { [f]: typeof d === 'function' ? (d as () => unknown)() : d });
    }
    return filled;
  };
  const { validator } = compileDefinition(name, def);
  const failing: string[] = [];
  let failures = 0;
  for (const r of records) {
    try {
      validator.validate(fill(r));
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      failures++;
      if (failing.length < 3)
        failing.push(
          `record ${keyText(def, r)}: ${e.issues.map((i) => `${i.field}: ${i.message}`).join(', ')}`,
        );
    }
  }
  if (failures > 0) {
    problems.push(
      `${label}: ${failures} of ${records.length} stored records do not fit: ${failing.join('; ')}${failures > failing.length ? '; …' : ''}`,
    );
    return;
  }
  try {
    store.replaceDefinition(
      name,
      def,
      diff.fill.length > 0 ? (rs: StoreRecord[]) => rs.map(fill) : undefined,
    );
  } catch (e) {
    if (e instanceof UniqueConstraintError || e instanceof DuplicateKeyError) {
      problems.push(`${label}: ${e.message}`);
      return;
    }
    throw e;
  }
}

async function applyDefinitions(store: Store, targets: Record<string, BucketDefinition>): Promise<void> {
  const problems: string[] = [];
  for (const [name, def] of Object.entries(targets)) await applyDefinition(store, name, def, problems);
  if (problems.length > 0) throw new Incompatible(problems);
}

interface BucketSnapshot {
  readonly def: BucketDefinition;
  /** Key (JSON) → the record object itself: records are shared, so a rewritten one is a new object. */
  readonly records: Map<string, StoreRecord>;
}

async function snapshot(store: Store): Promise<Map<string, BucketSnapshot>> {
  const shot = new Map<string, BucketSnapshot>();
  for (const name of (await store.getStats()).buckets.names) {
    const def = store.getBucketSchema(name)!;
    const records = new Map<string, StoreRecord>();
    for (const r of await store.bucket(name).all()) records.set(keyText(def, r), r);
    shot.set(name, { def, records });
  }
  return shot;
}

/** What changed between two snapshots, one line per bucket that changed. */
function describeChanges(before: Map<string, BucketSnapshot>, after: Map<string, BucketSnapshot>): string[] {
  const lines: string[] = [];
  for (const [name, a] of after) {
    if (name === MIGRATIONS_BUCKET) continue;
    const b = before.get(name);
    if (b === undefined) {
      lines.push(`bucket "${name}": created${a.records.size > 0 ? ` with ${a.records.size} records` : ''}`);
      continue;
    }
    const diff = diffDefinitions(serializeDefinition(b.def), serializeDefinition(a.def));
    let changed = 0;
    for (const [k, r] of a.records) {
      const old = b.records.get(k);
      if (old === undefined || (old !== r && stableJson(old) !== stableJson(r))) changed++;
    }
    for (const k of b.records.keys()) if (!a.records.has(k)) changed++;
    if (diff.differences.length === 0 && changed === 0) continue;
    const parts = [...diff.differences];
    if (changed > 0) parts.push(`${changed} of ${Math.max(a.records.size, b.records.size)} records change`);
    lines.push(`bucket "${name}": ${parts.join('; ')}`);
  }
  for (const [name, b] of before)
    if (!after.has(name)) lines.push(`bucket "${name}": dropped (${b.records.size} records)`);
  return lines;
}

export async function migrateCmd(opts: Record<string, any>, location: OpenOptions): Promise<void> {
  if (opts.schema === undefined && opts.migration === undefined)
    throw new CliError('give --schema FILE (the definitions wanted), --migration FILE, or both', EXIT.USAGE);
  // Both files are read and checked before the store is opened.
  const targets = opts.schema !== undefined ? readSchemaFile(opts.schema) : {};
  const migrations = opts.migration !== undefined ? await loadMigrations(opts.migration) : [];
  const dryRun = opts.dryRun === true;
  const opened = await openStore({
    ...location,
    readOnly: dryRun,
    durability: 'strict',
    // A dry run changes the store in memory only; its storage refuses, as it should.
    ...(dryRun
      ? {
          onError: (e: Error) => {
            if (!(e instanceof ReadOnlyStorageError)) info(`quire: storage: ${e.message}`);
          },
        }
      : {}),
  });
  const store = opened.store;
  try {
    const before = await snapshot(store);
    const applied = new Set(
      [...(before.get(MIGRATIONS_BUCKET)?.records.values() ?? [])].map((r) => r.version as number),
    );
    const pending = migrations.filter((m) => !applied.has(m.version)).sort((a, b) => a.version - b.version);
    try {
      if (pending.length > 0) await runAsOneMigration(store, pending, targets);
      else await runDefinitionsOnly(store, targets);
    } catch (e) {
      // The runner defines its `_migrations` bucket before it starts: a store that had none gets none.
      if (!before.has(MIGRATIONS_BUCKET) && store.hasBucket(MIGRATIONS_BUCKET)) {
        if ((await store.bucket(MIGRATIONS_BUCKET).count()) === 0) await store.dropBucket(MIGRATIONS_BUCKET);
      }
      if (e instanceof Incompatible) {
        const hint =
          migrations.length === 0
            ? 'write a migration that changes the stored records (see docs/migrations.md) and run again with --migration FILE'
            : pending.length === 0
              ? `the migration file has no migration left to apply (applied: ${[...applied].sort((a, b) => a - b).join(', ')}); add one with a new version`
              : 'after the migrations, the stored records still do not fit these definitions';
        throw new CliError(
          `the schema file asks for changes the stored records do not allow; nothing was changed:\n  ${e.problems.join('\n  ')}\n${hint}`,
          EXIT.USAGE,
        );
      }
      if (e instanceof MigrationFailed) throw new CliError(`${e.message}; nothing was changed`, EXIT.FAILED);
      throw e;
    }
    const after = await snapshot(store);
    const changes = describeChanges(before, after);
    const kept =
      opts.schema === undefined
        ? []
        : [...before.keys()]
            .filter((name) => name !== MIGRATIONS_BUCKET && !Object.hasOwn(targets, name))
            .map((name) => `bucket "${name}": not in the schema file, left as it is`);
    for (const m of pending)
      out(`migration ${m.version} ("${m.name}"): ${dryRun ? 'would be applied' : 'applied'}`);
    for (const line of [...changes, ...kept]) out(line);
    if (pending.length === 0 && changes.length === 0) {
      info(`nothing to change: the stored definitions already match ${opts.schema ?? 'the migrations'}`);
      return;
    }
    if (dryRun) info('dry run: nothing was changed (the lines above say what would change)');
    else {
      await store.flush();
      info(`migrated ${opened.path}`);
    }
  } finally {
    await store.stop();
  }
}

/**
 * The pending migrations and then the new definitions, as one migration of
 * the runner (one schema session, one storage transaction). The runner
 * records the last version; the earlier ones are recorded here, inside it.
 */
async function runAsOneMigration(
  store: Store,
  pending: readonly Migration[],
  targets: Record<string, BucketDefinition>,
): Promise<void> {
  const last = pending[pending.length - 1]!;
  const all: Migration = {
    version: last.version,
    name: last.name,
    up: async (ctx) => {
      for (const m of pending) {
        try {
          await m.up(ctx);
        } catch (e) {
          throw new MigrationFailed(m, e);
        }
      }
      await applyDefinitions(store, targets);
      // Recorded last, so a failure before consumes no sequence numbers.
      for (const m of pending)
        if (m !== last)
          await store
            .bucket(MIGRATIONS_BUCKET)
            .insert({ version: m.version, name: m.name, appliedAt: Date.now() });
    },
  };
  try {
    await runMigrations(store, [all]);
  } catch (e) {
    // A step `up` started without awaiting it fails after `up` returned.
    if (e instanceof MigrationFailed || e instanceof Incompatible) throw e;
    throw new MigrationFailed(last, e);
  }
}

/** Only new definitions: one schema session, so they all land together or none does. */
async function runDefinitionsOnly(store: Store, targets: Record<string, BucketDefinition>): Promise<void> {
  if (Object.keys(targets).length === 0) return;
  const session = store.beginSchemaSession();
  try {
    await applyDefinitions(store, targets);
  } catch (e) {
    await session.rollback();
    throw e;
  }
  await session.commit();
}
