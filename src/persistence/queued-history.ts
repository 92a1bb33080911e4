// The history versions waiting for a flush, column by column. Queuing a
// version allocates no object that outlives the flush but its JSON (encoded
// at once, so that a caller changing a returned record later cannot change
// its history), and that only briefly: every CHUNK_VERSIONS JSON texts are
// joined into one string. The numbers, and the record, bucket and actor as
// small indexes, go into typed arrays. Tens of thousands of versions
// queued between two debounced flushes would otherwise be as many objects
// and strings kept alive until the flush, which the garbage collector
// copies and promotes, and copies again to the writer thread. `columns()`
// hands them to a writer (views, or compact copies for many); `rows()` and
// `versionsOf()` build HistoryWrite rows for adapters and reads.
import type { KeyId } from '../engine/index.js';
import { encodeKey } from './codec.js';
import type { CommitUnit, HistoryWrite } from './types.js';

/** Op codes of the `op` column. */
const OPS = ['update', 'insert', 'delete'] as const;

/** JSON texts joined into one string (a chunk), and characters past which a chunk is cut. */
const CHUNK_VERSIONS = 64;
const CHUNK_CHARS = 16_384;

/**
 * Queued versions as arrays of numbers and few strings (cheap to copy to a thread), in queue order.
 * Per version: its record (index into `buckets`/`keys`), seq, version, op code (`OPS`), at,
 * actor (index into `actors`), and where its JSON is: `chars` characters (-1: none) from
 * `offset` in `chunks[chunk]`.
 */
export interface HistoryColumns {
  readonly length: number;
  /** Per record: its bucket and its key as stored (encoded). A record may have no version left. */
  readonly buckets: readonly string[];
  readonly keys: readonly string[];
  readonly actors: ReadonlyArray<string | null>;
  readonly record: ArrayLike<number>;
  readonly seq: ArrayLike<number>;
  readonly version: ArrayLike<number>;
  readonly op: ArrayLike<number>;
  readonly at: ArrayLike<number>;
  readonly actor: ArrayLike<number>;
  readonly chunk: ArrayLike<number>;
  readonly offset: ArrayLike<number>;
  readonly chars: ArrayLike<number>;
  readonly chunks: readonly string[];
}

/** Versions a queue makes room for first (it doubles); 8 doubles stay inside V8's heap. */
const START_VERSIONS = 8;
const NO_INTS = new Int32Array(0);
const NO_DOUBLES = new Float64Array(0);

export class QueuedHistory {
  #n = 0;
  // Typed columns of #size slots, grown by doubling (empty and shared until the first push):
  // appending to nine plain arrays cost ~0.13 µs more a version (measured side by side).
  #size = 0;
  #record = NO_INTS;
  #seq = NO_DOUBLES;
  #version = NO_DOUBLES;
  #op = NO_INTS;
  #at = NO_DOUBLES;
  #actor = NO_INTS;
  #chunk = NO_INTS;
  #offset = NO_INTS;
  #chars = NO_INTS;
  #chunks: string[] = [];
  /** JSON texts of the chunk being filled (it becomes chunks[chunks.length]). */
  #pending: string[] = [];
  #pendingChars = 0;
  /** Records by bucket, then by the engine's key value (or by the stored key, for rows). */
  readonly #records = new Map<string, Map<KeyId, number>>();
  #lastBucket: string | undefined;
  #lastRecords: Map<KeyId, number> | undefined;
  #recordBucket: string[] = [];
  #recordKey: KeyId[] = [];
  /** Stored keys per record, encoded when first needed. */
  #recordText: Array<string | undefined> = [];
  #actors: Array<string | null> = [];
  #actorIndex = new Map<string | null, number>();
  #lastActor: string | null | undefined;
  #lastActorIndex = -1;
  /** Per record, its versions' positions (built by versionsOf up to #indexed; dropped when versions are removed). */
  #byRecord: number[][] | undefined;
  #indexed = 0;

  get length(): number {
    return this.#n;
  }

  /** Queue a version; `json` is the record as JSON, null for a delete. `text`: the key as stored, when known. */
  push(
    bucket: string,
    key: KeyId,
    seq: number,
    version: number,
    op: HistoryWrite['op'],
    at: number,
    actor: string | null,
    json: string | null,
    text?: string,
  ): void {
    const i = this.#n;
    if (i === this.#size) this.#grow();
    this.#record[i] = this.#recordOf(bucket, key, text);
    this.#seq[i] = seq;
    this.#version[i] = version;
    this.#op[i] = op === 'update' ? 0 : op === 'insert' ? 1 : 2;
    this.#at[i] = at;
    this.#actor[i] = this.#actorOf(actor);
    this.#chunk[i] = this.#chunks.length;
    if (json === null) {
      this.#offset[i] = 0;
      this.#chars[i] = -1;
    } else {
      this.#offset[i] = this.#pendingChars;
      this.#chars[i] = json.length;
      this.#pending.push(json);
      this.#pendingChars += json.length;
      if (this.#pending.length >= CHUNK_VERSIONS || this.#pendingChars >= CHUNK_CHARS) this.#seal();
    }
    this.#n = i + 1;
  }

  #grow(): void {
    const size = Math.max(START_VERSIONS, this.#size * 2);
    const ints = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    const doubles = (a: Float64Array) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.#record = ints(this.#record);
    this.#seq = doubles(this.#seq);
    this.#version = doubles(this.#version);
    this.#op = ints(this.#op);
    this.#at = doubles(this.#at);
    this.#actor = ints(this.#actor);
    this.#chunk = ints(this.#chunk);
    this.#offset = ints(this.#offset);
    this.#chars = ints(this.#chars);
    this.#size = size;
  }

  /** The chunk being filled joined (one string instead of many, for the garbage collector). */
  #seal(): void {
    if (this.#pending.length === 0) return;
    this.#chunks.push(this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join(''));
    this.#pending = [];
    this.#pendingChars = 0;
  }

  /** History rows (HistoryWrite) as a queue. */
  static of(rows: readonly HistoryWrite[]): QueuedHistory {
    const q = new QueuedHistory();
    for (const h of rows) q.push(h.bucket, h.key, h.seq, h.version, h.op, h.at, h.actor, h.data, h.key);
    return q;
  }

  #recordOf(bucket: string, key: KeyId, text: string | undefined): number {
    let m = this.#lastRecords;
    if (bucket !== this.#lastBucket || m === undefined) {
      m = this.#records.get(bucket);
      if (m === undefined) this.#records.set(bucket, (m = new Map()));
      this.#lastBucket = bucket;
      this.#lastRecords = m;
    }
    let r = m.get(key);
    if (r === undefined) {
      r = this.#recordBucket.length;
      m.set(key, r);
      this.#recordBucket.push(bucket);
      this.#recordKey.push(key);
      this.#recordText.push(text);
    }
    return r;
  }

  #actorOf(actor: string | null): number {
    if (actor === this.#lastActor) return this.#lastActorIndex;
    let a = this.#actorIndex.get(actor);
    if (a === undefined) {
      a = this.#actors.length;
      this.#actors.push(actor);
      this.#actorIndex.set(actor, a);
    }
    this.#lastActor = actor;
    this.#lastActorIndex = a;
    return a;
  }

  #keyText(r: number): string {
    let t = this.#recordText[r];
    if (t === undefined) this.#recordText[r] = t = encodeKey(this.#recordKey[r]!);
    return t;
  }

  /**
   * The queue as columns: views of its own (valid until it changes), or for many versions
   * compact copies, which a copy to the writer thread takes in one piece.
   */
  columns(): HistoryColumns {
    this.#seal();
    const n = this.#n;
    const many = n >= 256;
    // Many: compact copies (a copy to the writer thread takes each in one piece); few: views.
    const ints = (a: Int32Array) => (many ? a.slice(0, n) : a.subarray(0, n));
    const doubles = (a: Float64Array) => (many ? a.slice(0, n) : a.subarray(0, n));
    const keys = new Array<string>(this.#recordKey.length);
    for (let r = 0; r < keys.length; r++) keys[r] = this.#keyText(r);
    return {
      length: n,
      buckets: this.#recordBucket,
      keys,
      actors: this.#actors,
      record: ints(this.#record),
      seq: doubles(this.#seq),
      version: doubles(this.#version),
      op: ints(this.#op),
      at: doubles(this.#at),
      actor: ints(this.#actor),
      chunk: ints(this.#chunk),
      offset: ints(this.#offset),
      chars: ints(this.#chars),
      chunks: this.#chunks,
    };
  }

  /** Every queued version as a row, in queue order. */
  rows(): HistoryWrite[] {
    this.#seal();
    const out = new Array<HistoryWrite>(this.#n);
    for (let i = 0; i < this.#n; i++) out[i] = this.#row(i);
    return out;
  }

  /** The queued versions of one record, in queue order. */
  versionsOf(bucket: string, key: KeyId): HistoryWrite[] {
    const r = this.#records.get(bucket)?.get(key);
    const out: HistoryWrite[] = [];
    if (r === undefined) return out;
    this.#seal();
    // Versions queued since the last read join the index: a read costs the record's versions, not
    // the queue's (a debounced store may hold tens of thousands).
    const byRecord = (this.#byRecord ??= []);
    for (let i = this.#indexed; i < this.#n; i++) {
      const at = byRecord[this.#record[i]!];
      if (at === undefined) byRecord[this.#record[i]!] = [i];
      else at.push(i);
    }
    this.#indexed = this.#n;
    for (const i of byRecord[r] ?? []) out.push(this.#row(i));
    return out;
  }

  #row(i: number): HistoryWrite {
    const r = this.#record[i]!;
    return {
      bucket: this.#recordBucket[r]!,
      key: this.#keyText(r),
      seq: this.#seq[i]!,
      version: this.#version[i]!,
      op: OPS[this.#op[i]!]!,
      at: this.#at[i]!,
      actor: this.#actors[this.#actor[i]!]!,
      data: this.#json(i),
    };
  }

  #json(i: number): string | null {
    const chars = this.#chars[i]!;
    if (chars < 0) return null;
    const offset = this.#offset[i]!;
    return this.#chunks[this.#chunk[i]!]!.slice(offset, offset + chars);
  }

  /** The buckets of the queued versions, in order of their first version. */
  buckets(): string[] {
    const out: string[] = [];
    let last: string | undefined;
    for (let i = 0; i < this.#n; i++) {
      const b = this.#recordBucket[this.#record[i]!]!;
      if (b !== last && !out.includes(b)) out.push(b);
      last = b;
    }
    return out;
  }

  /** Versions of these buckets are dropped (the bucket was dropped). */
  dropBucket(bucket: string): void {
    const r = this.#records.get(bucket);
    if (r === undefined) return;
    this.#keep((i) => this.#recordBucket[this.#record[i]!] !== bucket);
  }

  /** Drop the versions of these seqs. */
  drop(seqs: ReadonlySet<number>): void {
    this.#keep((i) => !seqs.has(this.#seq[i]!));
  }

  /** Add `offset` to every seq. */
  shift(offset: number): void {
    for (let i = 0; i < this.#n; i++) this.#seq[i]! += offset;
  }

  /** Versions of `newer` after these (a failed flush's versions go back in front of those queued meanwhile). */
  append(newer: QueuedHistory): this {
    newer.#seal();
    for (let i = 0; i < newer.#n; i++) {
      const r = newer.#record[i]!;
      this.push(
        newer.#recordBucket[r]!,
        newer.#recordKey[r]!,
        newer.#seq[i]!,
        newer.#version[i]!,
        OPS[newer.#op[i]!]!,
        newer.#at[i]!,
        newer.#actors[newer.#actor[i]!]!,
        newer.#json(i),
        newer.#recordText[r],
      );
    }
    return this;
  }

  /** Keep the versions `keep` says (their JSON stays where it is in its chunk). */
  #keep(keep: (i: number) => boolean): void {
    this.#byRecord = undefined;
    this.#indexed = 0;
    let n = 0;
    for (let i = 0; i < this.#n; i++) {
      if (!keep(i)) continue;
      if (n !== i) {
        this.#record[n] = this.#record[i]!;
        this.#seq[n] = this.#seq[i]!;
        this.#version[n] = this.#version[i]!;
        this.#op[n] = this.#op[i]!;
        this.#at[n] = this.#at[i]!;
        this.#actor[n] = this.#actor[i]!;
        this.#chunk[n] = this.#chunk[i]!;
        this.#offset[n] = this.#offset[i]!;
        this.#chars[n] = this.#chars[i]!;
      }
      n++;
    }
    this.#n = n;
  }
}

/** Where a CommitUnit built from a queue carries it (SQLiteAdapter writes its columns). */
const QUEUED = Symbol('quire.queuedHistory');

/**
 * A unit's `history` as rows built from the queue on first use (adapters that take rows), and
 * the queue itself for `queuedHistoryOf` (not enumerable: a copy of the unit does not carry it).
 */
export function withQueuedHistory<U extends { history?: CommitUnit['history'] }>(
  unit: U,
  queue: QueuedHistory,
): U {
  let rows: HistoryWrite[] | undefined;
  Object.defineProperty(unit, 'history', {
    get: () => (rows ??= queue.rows()),
    enumerable: true,
    configurable: true,
  });
  Object.defineProperty(unit, QUEUED, { value: queue });
  return unit;
}

/** The queue a unit's history was built from, if it was and its rows were not replaced. */
export function queuedHistoryOf(unit: CommitUnit): QueuedHistory | undefined {
  return (unit as { [QUEUED]?: QueuedHistory })[QUEUED];
}
