// Typed errors of the storage layer. Adapter failures during writes are
// never thrown into the caller's write: they reach `persistence.onError`
// wrapped in a StorageError. The errors thrown to callers are the ones a
// caller can act on: a store locked by another process, a stored bucket
// definition that does not match the code, bad constructor arguments.
import { QuireError } from '../errors/index.js';

/** A storage operation failed (I/O error, full disk, unreadable file …). `cause` holds the original error. */
export class StorageError extends QuireError {
  override readonly code: string = 'STORAGE_ERROR';
  /** What was being done: `open`, `load`, `commit`, `close`, `checkpoint`, `compact` … */
  readonly operation: string;
  /** File or database the failure is about, when known. */
  readonly path: string | undefined;
  constructor(operation: string, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message);
    this.operation = operation;
    this.path = options.path;
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** When the holder took the lock (ms since epoch). */
  readonly since: number;
}

/** Another live process holds the store open for writing (P-4). */
export class StorageLockedError extends StorageError {
  override readonly code = 'STORAGE_LOCKED';
  readonly holder: LockHolder;
  constructor(path: string, holder: LockHolder) {
    super(
      'open',
      `Storage "${path}" is locked for writing by process ${holder.pid} on host "${holder.host}" (since ${new Date(holder.since).toISOString()}); stop that process, or open it read-only ({readOnly: true})`,
      { path },
    );
    this.holder = holder;
  }
}

/**
 * Storage cannot be used at all (a database unreachable within its connect
 * timeout, a missing driver): the store does not start, unlike failures it
 * can ride out by serving from memory.
 */
export class DatabaseUnreachableError extends StorageError {
  override readonly code: string = 'DATABASE_UNREACHABLE';
  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super('open', message, options);
  }
}

/**
 * A strict write was not committed within the adapter's commit timeout (the
 * database is unreachable or does not answer). It was rolled back: nothing of
 * it is stored, and the store's memory no longer holds it.
 */
export class CommitTimeoutError extends StorageError {
  override readonly code: string = 'COMMIT_TIMEOUT';
  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super('commit', message, options);
  }
}

/**
 * A strict write was sent to the database, but the connection broke (or the
 * commit timeout passed) before the answer came: it may or may not be
 * committed. It is kept in memory and in the queue; once the database is
 * back, the store finds out and writes it if it was not (failures go to
 * `onError`).
 */
export class CommitOutcomeUnknownError extends CommitTimeoutError {
  override readonly code = 'COMMIT_OUTCOME_UNKNOWN';
}

/** One record write the database refused. */
export interface ConflictingWrite {
  readonly bucket: string;
  /** The record key's text encoding (JSON of the internal key). */
  readonly key: string;
  /**
   * `version`: another instance changed or deleted the record since this copy;
   * `exists`: another instance inserted the key; `unique`: another record holds the value;
   * `reference`: a record being deleted is still referenced, or a reference points at a
   * record that is gone (`reference` says which).
   */
  readonly reason: 'version' | 'exists' | 'unique' | 'reference';
  /** Unique index name and the value's JSON (reason `unique`). */
  readonly field?: string;
  readonly value?: string;
  /** Reason `reference`: the referring record (bucket, key text, field) and the record it points at. */
  readonly reference?: {
    readonly source: string;
    readonly sourceKey: string;
    readonly field: string;
    readonly target: string;
    readonly targetKey: string;
    readonly onDelete: 'restrict' | 'cascade' | 'set_null';
  };
}

/**
 * A commit was refused because it was based on stale copies (another instance
 * committed first) or claims a unique value another record holds. Nothing of
 * the commit was written.
 */
export class CommitConflictError extends StorageError {
  override readonly code = 'COMMIT_CONFLICT';
  readonly conflicts: readonly ConflictingWrite[];
  constructor(conflicts: readonly ConflictingWrite[]) {
    const first = conflicts[0]!;
    super(
      'commit',
      `Commit refused by the database: ${conflicts.length} write(s) conflict with another instance's (first: bucket "${first.bucket}", key ${first.key}, ${first.reason}${first.field !== undefined ? ` on ${first.field}` : ''})`,
    );
    this.conflicts = conflicts;
  }
}

/** A write was attempted through an adapter opened read-only. */
export class ReadOnlyStorageError extends StorageError {
  override readonly code = 'STORAGE_READ_ONLY';
  constructor(path: string) {
    super('commit', `Storage "${path}" is opened read-only; changes stay in memory only`, { path });
  }
}

/**
 * Stored data is damaged or could not be read completely: a row whose
 * checksum does not match, a damaged page, rows missing from a scan, an
 * unparsable record, a torn or corrupt journal, an unreadable snapshot.
 * Loading refuses such data instead of starting with part of it; nothing on
 * disk is changed. `bucket` names the bucket (when the damage is in one) and
 * `lost` says what could not be read.
 */
export class StorageCorruptError extends StorageError {
  override readonly code = 'STORAGE_CORRUPT';
  /** Byte offset of the damage, when known. */
  readonly offset: number | undefined;
  /** The bucket whose stored data is damaged, when the damage is in one. */
  readonly bucket: string | undefined;
  /** What could not be read (e.g. "2 of 200 records: checksum mismatch"), when known. */
  readonly lost: string | undefined;
  constructor(
    path: string,
    message: string,
    offset?: number,
    cause?: unknown,
    details: { bucket?: string; lost?: string } = {},
  ) {
    super('load', message, { path, cause });
    this.offset = offset;
    this.bucket = details.bucket;
    this.lost = details.lost;
  }
}

/** The earlier name of StorageCorruptError (same class). */
export const StorageCorruptionError = StorageCorruptError;
export type StorageCorruptionError = StorageCorruptError;

/**
 * Storage cannot be reached now and holds nothing yet (its file or
 * directory does not exist and cannot be created: an unwritable or missing
 * location). The store serves from memory and creates storage on a later
 * flush. Any other failure to open existing storage is thrown by
 * `Store.start`, so data that could not be read is never written over.
 */
export class StorageUnavailableError extends StorageError {
  override readonly code = 'STORAGE_UNAVAILABLE';
}

/** One damaged stretch of a FileAdapter journal that was skipped on load. */
export interface SkippedJournalRange {
  /** Byte offsets in the journal as it was: [from, to). */
  readonly from: number;
  readonly to: number;
  /** Why the frame at `from` was rejected: checksum mismatch, invalid length, cut short … */
  readonly reason: string;
  /** Frames lost in the range: 1 when the damaged frame's length was intact, otherwise unknown. */
  readonly frames: number | undefined;
  /** Bucket and key of each record the skipped frame wrote, when its payload could still be read. */
  readonly records: ReadonlyArray<{ readonly bucket: string; readonly key: string; readonly op: string }>;
}

/**
 * A FileAdapter journal had damaged frames. Valid frames after the damage
 * were recovered; `skipped` says exactly what was not, `copy` is where the
 * journal as it was has been kept.
 */
export class JournalDamagedError extends StorageCorruptionError {
  readonly skipped: readonly SkippedJournalRange[];
  /** Frames after the first damaged range that were recovered. */
  readonly recoveredFrames: number;
  /** Copy of the journal as it was before it was cut or rewritten (undefined for read-only opens). */
  readonly copy: string | undefined;
  constructor(
    path: string,
    message: string,
    skipped: readonly SkippedJournalRange[],
    recoveredFrames: number,
    copy: string | undefined,
  ) {
    super(path, message, skipped[0]?.from);
    this.skipped = skipped;
    this.recoveredFrames = recoveredFrames;
    this.copy = copy;
  }
}

/**
 * The bucket definition given to `defineBucket` does not fit the stored
 * definition and data (P-5). Nothing was changed; `differences` lists what
 * differs and `storedDefinition` is the stored (JSON) definition, which can
 * be used to define the bucket and then migrate it with `runMigrations`.
 */
export class SchemaMismatchError extends QuireError {
  override readonly code = 'SCHEMA_MISMATCH';
  readonly bucket: string;
  readonly differences: readonly string[];
  readonly storedDefinition: Record<string, unknown>;
  constructor(
    bucket: string,
    differences: readonly string[],
    storedDefinition: Record<string, unknown>,
    hint: string,
  ) {
    super(
      `Stored definition of bucket "${bucket}" is incompatible with the new one: ${differences.join('; ')}. ${hint}`,
    );
    this.bucket = bucket;
    this.differences = differences;
    this.storedDefinition = storedDefinition;
  }
}

/** Wrap anything thrown by an adapter in a StorageError (typed errors pass through). */
/** What an SQLite code means for someone reading the message, where SQLite's own words do not say. */
const SQLITE_HINTS: Record<string, string> = {
  // SQLite sizes the `-shm` file when it opens a WAL database: a full disk fails there first.
  SQLITE_IOERR_SHMSIZE:
    'no room to create the shared-memory (-shm) file next to the store: is the disk full?',
};

export function toStorageError(operation: string, e: unknown, path?: string): StorageError {
  if (e instanceof StorageError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown })?.code;
  const hint = typeof code === 'string' && Object.hasOwn(SQLITE_HINTS, code) ? `; ${SQLITE_HINTS[code]}` : '';
  return new StorageError(
    operation,
    `Storage ${operation} failed${path !== undefined ? ` for "${path}"` : ''}: ${msg}${typeof code === 'string' && !msg.includes(code) ? ` (${code})` : ''}${hint}`,
    { path, cause: e },
  );
}
