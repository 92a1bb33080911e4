// Restore: fill a freshly defined bucket from storage, after checking the
// stored definition against the new one. An unchanged definition loads as
// is; a changed one loads only when every stored record satisfies it (new
// fields get their defaults, written back); otherwise SchemaMismatchError
// names the differences and nothing changes.
//
// Loading is all or nothing: stored data that cannot be read completely
// (damaged rows, rows missing from a scan, an unreadable file) rejects with
// a typed error naming the bucket, and the store does not define the
// bucket, so no write can replace rows that were never loaded.
import {
  type BucketState,
  DuplicateKeyError,
  type KeyId,
  type StoreRecord,
  UniqueConstraintError,
  ValidationError,
} from '../engine/index.js';
import { diffDefinitions, sameDefinition, serializeDefinition } from './codec.js';
import {
  SchemaMismatchError,
  StorageCorruptError,
  StorageError,
  StorageUnavailableError,
  toStorageError,
} from './errors.js';
import type { StoredBucket, StoredDefinition } from './types.js';

const MIGRATION_HINT =
  'Nothing was changed. To migrate, define the bucket with its stored definition (error.storedDefinition) and change it with runMigrations (addField, removeField, renameField, changeFieldType, transformAll), or fix the stored records first.';

/** What a restore needs from the persistence manager. */
export interface RestoreSource {
  load(bucket: string): Promise<StoredBucket | undefined>;
  /** The storage file or directory, for messages. */
  readonly where: string;
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
    // Storage holds nothing yet and cannot be created now: the bucket starts empty, as it is stored.
    if (e instanceof StorageUnavailableError) {
      source.report(e);
      return;
    }
    throw loadFailure(name, e, source.where);
  }
  if (stored === undefined) {
    source.storeDefinition(name, current);
    return;
  }
  const storedDef = stored.definition;
  // Failures of the stored rows themselves (not of the records they hold) become typed load errors.
  const wrap = (e: unknown) => loadFailure(name, e, source.where);
  if (storedDef === undefined || sameDefinition(storedDef, current)) {
    try {
      state.loadBulk(readAll(stored.chunks ?? inChunks(stored.records), wrap));
    } catch (e) {
      state.clear();
      throw e;
    }
    state.autoincrement = Math.max(state.autoincrement, stored.autoincrement);
    if (storedDef === undefined) source.storeDefinition(name, current);
    return;
  }
  // The definition changed: the stored data must satisfy the new one.
  const diff = diffDefinitions(storedDef, current);
  const records = [...readAll(stored.records, wrap)];
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

/** Why a bucket could not be loaded, as a typed error naming the bucket (StorageCorruptError for damaged data). */
function loadFailure(name: string, e: unknown, where: string): StorageError {
  const tail = 'The bucket is not defined and nothing was changed, so its stored data is not written over.';
  if (e instanceof StorageCorruptError && e.bucket === name) return e;
  if (
    e instanceof StorageCorruptError ||
    ((!(e instanceof StorageError) || e.code === 'STORAGE_ERROR') && isCorruption(e))
  )
    return new StorageCorruptError(
      e instanceof StorageError ? (e.path ?? where) : where,
      `Stored data of bucket "${name}" is damaged: ${(e as Error).message}. ${tail}`,
      e instanceof StorageCorruptError ? e.offset : undefined,
      e,
      { bucket: name, lost: e instanceof StorageCorruptError ? e.lost : undefined },
    );
  const err = toStorageError('load', e, where);
  return new StorageError('load', `Loading bucket "${name}" failed: ${err.message}. ${tail}`, {
    path: err.path,
    cause: e,
  });
}

/** Errors of the stored bytes themselves (SQLite's damaged pages, unparsable JSON), as opposed to I/O. */
export function isCorruption(e: unknown): boolean {
  if (e instanceof SyntaxError) return true;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB'))
    return true;
  // A StorageError wrapping one of those.
  return e instanceof StorageError && e.cause !== undefined && e.cause !== e && isCorruption(e.cause);
}

/** Rows a restore hands to the engine at a time when the adapter streams single records. */
const RESTORE_CHUNK = 4096;

/** Stored records in chunks, for BucketState.loadBulk. */
function* inChunks(records: Iterable<StoreRecord>): Generator<StoreRecord[]> {
  let chunk: StoreRecord[] = [];
  for (const r of records) {
    if (chunk.push(r) === RESTORE_CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** Iterate stored records (or chunks); an error thrown by the iteration itself goes through `wrap`. */
function* readAll<T>(records: Iterable<T>, wrap: (e: unknown) => Error): Generator<T> {
  let it: Iterator<T>;
  try {
    it = records[Symbol.iterator]();
  } catch (e) {
    throw wrap(e);
  }
  for (;;) {
    let r: IteratorResult<T>;
    try {
      r = it.next();
    } catch (e) {
      throw wrap(e);
    }
    if (r.done === true) return;
    yield r.value;
  }
}
