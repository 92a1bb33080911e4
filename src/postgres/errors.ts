// Errors of the PostgreSQL adapter (an unreachable database is persistence's StorageUnavailableError).
import { StorageError } from '../persistence/index.js';

/** One record write the database refused. */
export interface ConflictingWrite {
  readonly bucket: string;
  /** The record key's text encoding (JSON of the internal key). */
  readonly key: string;
  /**
   * `version`: another instance changed or deleted the record since this copy;
   * `exists`: another instance inserted the key; `unique`: another record holds the value.
   */
  readonly reason: 'version' | 'exists' | 'unique';
  /** Unique index name and the value's JSON (reason `unique`). */
  readonly field?: string;
  readonly value?: string;
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
