// Restore: fill a freshly defined bucket from storage, after checking the
// stored definition against the new one. An unchanged definition loads as
// is; a changed one loads only when every stored record satisfies it (new
// fields get their defaults, written back); otherwise SchemaMismatchError
// names the differences and nothing changes.
import {
  type BucketState,
  DuplicateKeyError,
  type KeyId,
  type StoreRecord,
  UniqueConstraintError,
  ValidationError,
} from '../engine/index.js';
import { diffDefinitions, sameDefinition, serializeDefinition } from './codec.js';
import { SchemaMismatchError, StorageError } from './errors.js';
import type { StoredBucket, StoredDefinition } from './types.js';

const MIGRATION_HINT =
  'Nothing was changed. To migrate, define the bucket with its stored definition (error.storedDefinition) and change it with runMigrations (addField, removeField, renameField, changeFieldType, transformAll), or fix the stored records first.';

/** What a restore needs from the persistence manager. */
export interface RestoreSource {
  load(bucket: string): Promise<StoredBucket | undefined>;
  report(e: StorageError): void;
  /** Queue the bucket's (new) definition for storage. */
  storeDefinition(bucket: string, definition: StoredDefinition): void;
  /** Queue a stored record that was filled with defaults of new fields. */
  rewrite(bucket: string, keyId: KeyId, record: StoreRecord): void;
}

export async function restoreBucket(state: BucketState, source: RestoreSource): Promise<void> {
  const name = state.name;
  const current = serializeDefinition(state.def.definition);
  let stored: StoredBucket | undefined;
  try {
    stored = await source.load(name);
  } catch (e) {
    source.report(
      new StorageError(
        'load',
        `Loading bucket "${name}" failed, so it starts empty: ${(e as Error).message}`,
        {
          cause: e,
        },
      ),
    );
    return;
  }
  if (stored === undefined) {
    source.storeDefinition(name, current);
    return;
  }
  const storedDef = stored.definition;
  if (storedDef === undefined || sameDefinition(storedDef, current)) {
    try {
      state.load(stored.records);
    } catch (e) {
      if (e instanceof StorageError) {
        state.clear();
        source.report(
          new StorageError('load', `Loading bucket "${name}" failed, so it starts empty: ${e.message}`, {
            cause: e,
          }),
        );
        return;
      }
      throw e;
    }
    state.autoincrement = Math.max(state.autoincrement, stored.autoincrement);
    if (storedDef === undefined) source.storeDefinition(name, current);
    return;
  }
  // The definition changed: the stored data must satisfy the new one.
  const diff = diffDefinitions(storedDef, current);
  const records = [...stored.records];
  if (diff.keyChanged !== undefined && records.length > 0)
    throw new SchemaMismatchError(name, diff.differences, storedDef.definition, MIGRATION_HINT);
  const problems: string[] = [];
  let failing = 0;
  const filled: StoreRecord[] = [];
  const schema = state.def.definition.schema;
  for (const r of records) {
    let changed = false;
    for (const f of diff.fill) {
      if (r[f] !== undefined) continue;
      const d = schema[f]!.default;
      (r as Record<string, unknown>)[f] = typeof d === 'function' ? (d as () => unknown)() : d;
      changed = true;
    }
    if (changed) filled.push(r);
    try {
      state.def.validator.validate(r);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      failing++;
      if (problems.length < 5)
        problems.push(
          `stored record "${String(state.publicKeyOf(r))}" fails: ${e.issues.map((i) => `${i.field}: ${i.message}`).join(', ')}`,
        );
    }
  }
  if (failing > 0) {
    if (failing > problems.length) problems.push(`${failing - problems.length} more records fail`);
    throw new SchemaMismatchError(
      name,
      [...diff.differences, ...problems],
      storedDef.definition,
      MIGRATION_HINT,
    );
  }
  try {
    state.load(records);
  } catch (e) {
    if (e instanceof UniqueConstraintError || e instanceof DuplicateKeyError)
      throw new SchemaMismatchError(
        name,
        [...diff.differences, `stored records conflict: ${e.message}`],
        storedDef.definition,
        MIGRATION_HINT,
      );
    throw e;
  }
  state.autoincrement = Math.max(state.autoincrement, stored.autoincrement);
  source.storeDefinition(name, current);
  for (const r of filled) source.rewrite(name, state.keyIdOf(r), r);
}
