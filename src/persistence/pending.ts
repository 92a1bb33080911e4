// What waits for the next flush. Later changes of the same record fold into
// earlier ones (one RecordWrite per record per flush); history and feed rows
// are never folded. Snapshot adapters only need the names of dirty and
// dropped buckets.
import type { KeyId, StoreRecord } from '../engine/index.js';
import { encodeKey } from './codec.js';
import { QueuedHistory } from './queued-history.js';
import { QueuedFeed } from './retention.js';
import type { CommitUnit, RecordWrite, StoredDefinition } from './types.js';

export interface PendingRecord {
  op: 'insert' | 'update' | 'delete';
  seq: number;
  /** Insertion position (seq of the insert), for inserts. */
  ord: number;
  version: number;
  record: StoreRecord | undefined;
  /** `record` as JSON when it was encoded already (for its history row): a flush encodes each record once. */
  data: string | undefined;
  /** `_version` of the record before the first change folded in here (0: it did not exist). */
  base: number;
}

/** A record that could not be encoded: left out of its commit, reported, never retried. */
export interface LostRecord {
  readonly bucket: string;
  readonly key: string;
  readonly error: unknown;
}

export interface PendingBucket {
  bucket: string;
  drop?: boolean;
  clear?: boolean;
  definition?: StoredDefinition;
  autoincrement?: number;
}

export class PendingWrites {
  /** By bucket, then key (the engine's key value: its string is hashed once, not per change). */
  records = new Map<string, Map<KeyId, PendingRecord>>();
  buckets = new Map<string, PendingBucket>();
  history = new QueuedHistory();
  feed = new QueuedFeed();
  /** Snapshot adapters: buckets to save whole, buckets to delete. */
  dirty = new Set<string>();
  dropped = new Set<string>();

  isEmpty(): boolean {
    return (
      this.history.length === 0 &&
      this.feed.length === 0 &&
      this.records.size === 0 &&
      this.buckets.size === 0 &&
      this.dirty.size === 0 &&
      this.dropped.size === 0
    );
  }

  bucketOp(name: string): PendingBucket {
    let op = this.buckets.get(name);
    if (op === undefined) this.buckets.set(name, (op = { bucket: name }));
    return op;
  }

  /** Drop (remove everything) or clear (remove records) a bucket, in queue order. */
  resetOp(name: string, kind: 'drop' | 'clear'): PendingBucket {
    const prev = this.buckets.get(name);
    const op: PendingBucket =
      kind === 'drop'
        ? { bucket: name, drop: true, clear: true }
        : {
            bucket: name,
            drop: prev?.drop,
            clear: true,
            definition: prev?.definition,
            autoincrement: prev?.autoincrement,
          };
    this.buckets.set(name, op);
    this.records.delete(name);
    if (kind === 'drop') this.history.dropBucket(name);
    return op;
  }

  addRecord(
    bucket: string,
    key: KeyId,
    op: PendingRecord['op'],
    seq: number,
    version: number,
    record: StoreRecord | undefined,
    ord = seq,
    base = 0,
    data?: string,
  ): void {
    let m = this.records.get(bucket);
    if (m === undefined) this.records.set(bucket, (m = new Map()));
    const prev = m.get(key);
    if (prev !== undefined && op !== 'insert') {
      // Folded in place: an insert followed by updates stays an insert; position and base are kept.
      if (prev.op !== 'insert' || op === 'delete') prev.op = op;
      prev.seq = seq;
      prev.version = version;
      prev.record = record;
      prev.data = data;
      return;
    }
    // An insert moves to the end of the insertion order.
    if (op === 'insert') m.delete(key);
    m.set(key, { op, seq, ord, version, record, data, base: prev?.base ?? base });
  }

  /** Hand everything queued to a flush; this queue starts empty. */
  take(): PendingWrites {
    const taken = new PendingWrites();
    [taken.records, this.records] = [this.records, taken.records];
    [taken.buckets, this.buckets] = [this.buckets, taken.buckets];
    [taken.history, this.history] = [this.history, taken.history];
    [taken.feed, this.feed] = [this.feed, taken.feed];
    return taken;
  }

  /** A flush failed: put what it took back in front of anything queued meanwhile. */
  putBack(taken: PendingWrites): void {
    this.history = taken.history.append(this.history);
    this.feed = taken.feed.append(this.feed);
    const newer = { records: this.records, buckets: this.buckets };
    this.records = taken.records;
    this.buckets = taken.buckets;
    for (const op of newer.buckets.values()) {
      const merged =
        op.drop === true || op.clear === true
          ? this.resetOp(op.bucket, op.drop ? 'drop' : 'clear')
          : this.bucketOp(op.bucket);
      if (op.definition !== undefined) merged.definition = op.definition;
      if (op.autoincrement !== undefined) merged.autoincrement = op.autoincrement;
    }
    for (const [b, m] of newer.records)
      for (const [k, r] of m) this.addRecord(b, k, r.op, r.seq, r.version, r.record, r.ord, r.base, r.data);
  }

  /** Storage opened late and holds higher sequence numbers: move every queued one up by `offset`. */
  renumber(offset: number): void {
    for (const m of this.records.values())
      for (const r of m.values()) {
        r.seq += offset;
        r.ord += offset;
      }
    this.history.shift(offset);
    this.feed.shift(offset);
  }

  /** How many changes are queued (records, bucket operations, snapshot buckets). */
  size(): number {
    return this.buckets.size + this.dirty.size + this.dropped.size + this.recordCount();
  }

  clear(): void {
    this.history = new QueuedHistory();
    this.feed = new QueuedFeed();
    this.records = new Map();
    this.buckets = new Map();
    this.dirty = new Set();
    this.dropped = new Set();
  }

  /**
   * The record and bucket writes as a CommitUnit (history and feed are added
   * by LogRetention). Values are checked before they are applied, but a record
   * changed in place afterwards (records are shared with callers) may still
   * not encode: it is left out and returned in `lost`, so that it cannot hold
   * back the other records of the unit.
   */
  toUnit(lastSeq: number): { unit: CommitUnit; lost: LostRecord[] } {
    const lost: LostRecord[] = [];
    let records: RecordWrite[] = [];
    for (const part of this.recordWrites(Number.POSITIVE_INFINITY, lost)) records = part;
    return { unit: this.unitOf(records, lastSeq), lost };
  }

  /** The CommitUnit of these bucket writes and `records` (toUnit's, or every part of recordWrites). */
  unitOf(records: RecordWrite[], lastSeq: number): CommitUnit {
    return { buckets: [...this.buckets.values()], records, lastSeq };
  }

  /** Records queued (one per record written since the last flush). */
  recordCount(): number {
    let n = 0;
    for (const m of this.records.values()) n += m.size;
    return n;
  }

  /** toUnit's records, `size` at a time (the last part may be smaller); records that do not encode go to `lost`. */
  *recordWrites(size: number, lost: LostRecord[]): Generator<RecordWrite[]> {
    let out: RecordWrite[] = [];
    for (const [bucket, m] of this.records) {
      for (const [keyId, r] of m) {
        const key = encodeKey(keyId);
        let data = r.data;
        if (r.op !== 'delete' && data === undefined) {
          try {
            data = JSON.stringify(r.record);
          } catch (error) {
            lost.push({ bucket, key, error });
            continue;
          }
        }
        out.push({ bucket, key, op: r.op, seq: r.seq, ord: r.ord, version: r.version, base: r.base, data });
        if (out.length >= size) {
          yield out;
          out = [];
        }
      }
    }
    if (out.length > 0) yield out;
  }
}
