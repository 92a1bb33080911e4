// runMigrations: applies pending migrations in ascending version order and
// records each in the `_migrations` bucket ({version, name, appliedAt}), as
// @hamicek/noex-store 0.2 does. Quire adds atomicity: every migration runs in
// a schema session; if `up` (or any step it started) fails, every bucket is
// put back exactly as it was before that migration and the error propagates
// unchanged. The version is recorded in the same session, so on disk the
// migration and its record land together, or neither does.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AnyStore, BucketDefinition, Store } from '../store/index.js';
import { InvalidArgumentError } from '../store/index.js';
import { MigrationContextImpl } from './context.js';
import { InvalidMigrationError } from './errors.js';
import type { Migration, MigrationResult } from './types.js';

/** Name of the bucket that records applied migrations. */
export const MIGRATIONS_BUCKET = '_migrations';

const MIGRATIONS_DEFINITION = {
  key: 'version',
  schema: {
    version: { type: 'number', required: true },
    name: { type: 'string', required: true },
    appliedAt: { type: 'number', required: true },
  },
} as const satisfies BucketDefinition;

type AppliedRecord = {
  version: number;
  name: string;
  appliedAt: number;
};

/** Calls on the same store run one after another (a second call then finds the versions applied). */
const queues = new WeakMap<Store, Promise<unknown>>();
/** The store whose migration is running in the current async context (a nested call would wait for itself). */
const inside = new AsyncLocalStorage<Store>();

/**
 * Run the migrations not yet applied to `store`, in ascending version order.
 * Resolves with how many were applied and the highest applied version.
 */
export function runMigrations(
  anyStore: AnyStore,
  migrations: readonly Migration[],
): Promise<MigrationResult> {
  const store: Store = anyStore;
  if (inside.getStore() === store) {
    return Promise.reject(
      new InvalidArgumentError(
        'runMigrations',
        'store',
        'cannot run migrations from inside a migration of the same store',
      ),
    );
  }
  const previous = queues.get(store) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => migrate(store, migrations));
  queues.set(
    store,
    run.catch(() => {}),
  );
  return run;
}

async function migrate(store: Store, migrations: readonly Migration[]): Promise<MigrationResult> {
  validateMigrations(migrations);
  if (!store.hasBucket(MIGRATIONS_BUCKET)) await store.defineBucket(MIGRATIONS_BUCKET, MIGRATIONS_DEFINITION);
  const log = store.bucket<AppliedRecord>(MIGRATIONS_BUCKET);
  const applied = new Set((await log.all()).map((r) => r.version));
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  let count = 0;
  for (const m of sorted) {
    if (applied.has(m.version)) continue;
    await applyOne(store, m);
    applied.add(m.version);
    count++;
  }
  let currentVersion = 0;
  for (const r of await log.all()) if (r.version > currentVersion) currentVersion = r.version;
  return { applied: count, currentVersion };
}

async function applyOne(store: Store, m: Migration): Promise<void> {
  // The session captures every bucket as it is now: wait for restores in progress.
  for (const name of (await store.getStats()).buckets.names) await store.bucket(name).count();
  const session = store.beginSchemaSession();
  session.hold(MIGRATIONS_BUCKET);
  const ctx = new MigrationContextImpl(store, `migration ${m.version} ("${m.name}")`);
  let failure: { error: unknown } | undefined;
  try {
    await inside.run(store, () => m.up(ctx));
  } catch (e) {
    failure = { error: e };
  }
  // Steps `up` started without awaiting them still belong to this migration.
  const late = await ctx.settle();
  ctx.close();
  failure ??= late;
  if (failure === undefined) {
    try {
      await store
        .bucket<AppliedRecord>(MIGRATIONS_BUCKET)
        .insert({ version: m.version, name: m.name, appliedAt: Date.now() });
    } catch (e) {
      failure = { error: e };
    }
  }
  if (failure !== undefined) {
    await session.rollback().catch(() => {});
    throw failure.error;
  }
  await session.commit();
  // Make the migration durable now (a storage failure is reported through onError and retried).
  await store.flush().catch(() => {});
}

function validateMigrations(migrations: readonly Migration[]): void {
  if (!Array.isArray(migrations))
    throw new InvalidArgumentError('runMigrations', 'migrations', 'expected an array of {version, name, up}');
  const versions = new Set<number>();
  for (const m of migrations as readonly unknown[]) {
    if (m === null || typeof m !== 'object')
      throw new InvalidMigrationError(
        undefined,
        `Migration must be an object {version, name, up}, got ${String(m)}`,
      );
    const { version, name, up } = m as Partial<Migration>;
    if (!Number.isInteger(version) || (version as number) < 1)
      throw new InvalidMigrationError(
        version,
        `Migration version must be a positive integer, got ${String(version)}`,
      );
    if (versions.has(version!))
      throw new InvalidMigrationError(version, `Duplicate migration version: ${version}`);
    if (!name || typeof name !== 'string')
      throw new InvalidMigrationError(version, `Migration version ${version} must have a non-empty name`);
    if (typeof up !== 'function')
      throw new InvalidMigrationError(
        version,
        `Migration version ${version} ("${name}") must have an up function`,
      );
    versions.add(version!);
  }
}
