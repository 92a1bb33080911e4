// Commits a shared database refused (CommitConflictError: another instance
// committed first, or holds a unique value). Which writes go, which stay:
// every batch that touched a refused record is rolled back whole (a store
// transaction is all or nothing), and so is every batch sharing a record
// with a rolled-back one (their queued writes were folded together). The
// rest of the flush is committed again at once. The writers of rolled-back
// batches get the conflict; the store's copies of their records are
// refreshed from the database.
import {
  type BucketState,
  ReferentialIntegrityError,
  TransactionConflictError,
  UniqueConstraintError,
} from '../engine/index.js';
import { decodeKey, encodeKey } from './codec.js';
import type { ConflictingWrite } from './errors.js';
import type { PendingWrites } from './pending.js';

/** The persistent part of one ChangeBatch while it waits for its commit (shared databases only). */
export interface BatchMark {
  /** `bucket\0key` of every record it wrote. */
  readonly keys: Set<string>;
  readonly seqs: Set<number>;
  /** Strict mode: the writer waiting for the commit. */
  waiter?: { resolve(): void; reject(e: Error): void };
}

export interface ConflictOutcome {
  readonly rolledBack: BatchMark[];
  readonly kept: BatchMark[];
  /** `bucket\0key` of every record to refresh from the database. */
  readonly keys: Set<string>;
}

export function splitConflict(
  conflicts: readonly ConflictingWrite[],
  marks: readonly BatchMark[],
): ConflictOutcome {
  const keys = new Set(conflicts.map((c) => `${c.bucket}\0${c.key}`));
  const rolledBack = new Set<BatchMark>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const m of marks) {
      if (rolledBack.has(m)) continue;
      let hit = false;
      for (const k of m.keys)
        if (keys.has(k)) {
          hit = true;
          break;
        }
      if (!hit) continue;
      rolledBack.add(m);
      for (const k of m.keys) keys.add(k);
      changed = true;
    }
  }
  return { rolledBack: [...rolledBack], kept: marks.filter((m) => !rolledBack.has(m)), keys };
}

/** Remove the rolled-back writes from a taken flush (what is left is committed again). */
export function dropRolledBack(taken: PendingWrites, outcome: ConflictOutcome): void {
  const seqs = new Set<number>();
  for (const m of outcome.rolledBack) for (const s of m.seqs) seqs.add(s);
  for (const [bucket, m] of taken.records) {
    for (const keyId of [...m.keys()])
      if (outcome.keys.has(`${bucket}\0${encodeKey(keyId)}`)) m.delete(keyId);
    if (m.size === 0) taken.records.delete(bucket);
  }
  taken.history.drop(seqs);
  taken.feed.drop(seqs);
}

/** The error a rolled-back batch's writer gets: the conflict on one of its records. */
export function conflictError(
  conflicts: readonly ConflictingWrite[],
  mark: BatchMark,
  bucketState: (name: string) => BucketState | undefined,
): Error {
  const c = conflicts.find((x) => mark.keys.has(`${x.bucket}\0${x.key}`)) ?? conflicts[0]!;
  const state = bucketState(c.bucket);
  const keyId = decodeKey(c.key);
  const local = state?.records.get(keyId);
  const key = local !== undefined && state !== undefined ? state.publicKeyOf(local) : keyId;
  const own = mark.keys.has(`${c.bucket}\0${c.key}`);
  if (c.reason === 'unique' && own)
    return new UniqueConstraintError(
      c.bucket,
      c.field ?? '?',
      c.value === undefined ? undefined : JSON.parse(c.value),
    );
  const ref = c.reference;
  if (c.reason === 'reference' && own && ref !== undefined) {
    const targetKey = decodeKey(ref.targetKey);
    if (c.bucket === ref.source && c.key === ref.sourceKey)
      return new ReferentialIntegrityError(
        `Foreign key violation in bucket "${ref.source}": field "${ref.field}" references bucket "${ref.target}" with key "${String(targetKey)}", but another instance deleted that record`,
        ref.source,
        ref.field,
        ref.target,
        targetKey,
      );
    if (ref.onDelete === 'restrict')
      return new ReferentialIntegrityError(
        `Cannot delete from bucket "${ref.target}" (key "${String(key)}"): referenced by bucket "${ref.source}" (key "${String(decodeKey(ref.sourceKey))}") via field "${ref.field}", written by another instance`,
        ref.source,
        ref.field,
        ref.target,
        key,
      );
    return new TransactionConflictError(
      c.bucket,
      key,
      `another instance added a record of bucket "${ref.source}" referencing it (onDelete ${ref.onDelete}); this copy now holds it, retry`,
    );
  }
  const why = !own
    ? 'rolled back with a write another instance made conflicting'
    : c.reason === 'exists'
      ? `another instance inserted key "${String(key)}" first`
      : c.reason === 'unique'
        ? `value of ${c.field} is taken`
        : 'another instance changed or deleted the record since this copy was read';
  return new TransactionConflictError(c.bucket, key, why);
}
