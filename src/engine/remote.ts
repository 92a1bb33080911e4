// Changes another instance committed to a shared database, applied to this
// instance's memory through the same path as local writes: records and
// indexes (BucketState.put/remove), the reference index, then one
// ChangeBatch dispatched to reactive queries and bucket events. The batch is
// marked `remote`, so durable storage does not write it again.
import type { StoreCore } from './core.js';
import type { KeyId } from './indexes.js';
import type { StoreRecord } from './types.js';
import type { Change, ChangeBatch } from './write-set.js';

/** One record's state after a remote commit (the record, or undefined when it was deleted). */
export interface RemoteChange {
  readonly bucket: string;
  readonly keyId: KeyId;
  readonly record: StoreRecord | undefined;
  /** The record as stored (JSON), to recognise a copy that is already current. */
  readonly data: string | undefined;
  /** The global sequence number of the change. */
  readonly seq: number;
}

/**
 * Apply remote changes in order. Buckets not defined here (or still being
 * restored) are skipped: their state comes from storage when they load.
 * Changes that leave a record as it already is here emit nothing.
 */
export function applyRemote(core: StoreCore, remote: readonly RemoteChange[], at: number): void {
  if (core.stopped) return;
  const changes: Change[] = [];
  const refs = core.refs;
  let maxSeq = 0;
  for (const r of remote) {
    if (r.seq > maxSeq) maxSeq = r.seq;
    const b = core.bucketState(r.bucket);
    if (b === undefined || b.loading !== undefined || !b.def.persistent) continue;
    const base = b.records.get(r.keyId);
    const next = r.record;
    if (next === undefined) {
      if (base === undefined) continue;
      b.remove(r.keyId, base);
    } else {
      if (base !== undefined && r.data !== undefined && JSON.stringify(base) === r.data) continue;
      // Written by another instance: not checked by this bucket's validator.
      b.recordsValid = false;
      b.put(r.keyId, base, next);
    }
    if (b.def.refs.length > 0) refs.track(b, r.keyId, base, next);
    const rec = (next ?? base)!;
    changes.push({
      bucket: b.name,
      op: base === undefined ? 'insert' : next === undefined ? 'delete' : 'update',
      key: b.publicKeyOf(rec),
      keyId: r.keyId,
      oldRecord: base,
      newRecord: next,
      version: rec._version,
      seq: r.seq,
    });
  }
  if (maxSeq > core.seq) core.seq = maxSeq;
  if (changes.length === 0) return;
  const batch: ChangeBatch = { changes, counters: new Map(), actor: undefined, at, remote: true };
  void core.dispatch(batch);
}
