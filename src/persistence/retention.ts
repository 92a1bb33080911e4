// History and feed rows ride in the CommitUnit of their changes, with the
// pruning that keeps them bounded: per bucket `maxVersions` / `maxAge`
// retention, and the change feed cut back to its size limit.

import { type QueuedHistory, withQueuedHistory } from './queued-history.js';
import type { StorageHost } from './store-storage.js';
import type { CommitUnit, FeedWrite } from './types.js';

/** How often (ms) a bucket's whole history is swept for entries past `maxAge`. */
const AGE_SWEEP_MS = 60_000;

export class LogRetention {
  readonly #lastSweep = new Map<string, number>();
  /** Where the stored change feed was last pruned to. */
  #feedPrunedTo = 0;

  /** Add history rows (with the retention of their buckets) and feed rows (with the feed's pruning) to a unit. */
  attach(
    unit: CommitUnit,
    history: QueuedHistory,
    feed: FeedWrite[],
    host: StorageHost | undefined,
    seq: number,
  ): CommitUnit {
    if (history.length === 0 && feed.length === 0) return unit;
    let retention: CommitUnit['retention'];
    if (history.length > 0) {
      const now = Date.now();
      const rules = [];
      for (const bucket of history.buckets()) {
        const cfg = host?.bucketState(bucket)?.def.history;
        if (cfg === undefined || (cfg.maxVersions === undefined && cfg.maxAgeMs === undefined)) continue;
        let sweep = false;
        if (cfg.maxAgeMs !== undefined && now - (this.#lastSweep.get(bucket) ?? 0) >= AGE_SWEEP_MS) {
          sweep = true;
          this.#lastSweep.set(bucket, now);
        }
        rules.push({
          bucket,
          maxVersions: cfg.maxVersions,
          before: cfg.maxAgeMs !== undefined ? now - cfg.maxAgeMs : undefined,
          sweep,
        });
      }
      if (rules.length > 0) retention = rules;
    }
    const limit = host?.feedLimit ?? 0;
    // Prune the stored feed in steps (a tenth of the limit at least), not on every flush:
    // the feed keeps at least the last `limit` entries, and a small commit stays small.
    let feedPruneTo: number | undefined;
    if (feed.length > 0 && limit > 0 && seq - limit - this.#feedPrunedTo >= Math.max(64, limit / 10)) {
      feedPruneTo = seq - limit;
      this.#feedPrunedTo = feedPruneTo;
    }
    // Field by field, every field of CommitUnit (the type says when one is missing): `{...unit,
    // history, …}` takes V8's slow path, 2–6 µs a call on Node 20, against ~0.1 µs.
    const out: { [K in keyof Required<CommitUnit>]: CommitUnit[K] } = {
      buckets: unit.buckets,
      records: unit.records,
      lastSeq: unit.lastSeq,
      history: undefined,
      retention,
      feed: feed.length > 0 ? feed : undefined,
      feedPruneTo,
    };
    // Rows are built only for an adapter that reads them (SQLite writes the queue's columns).
    return history.length > 0 ? withQueuedHistory(out, history) : out;
  }
}

/** Index of the first feed row with a seq above `seq` (rows are in seq order). */
export function firstAbove(feed: readonly FeedWrite[], seq: number): number {
  return firstIndexAbove(feed.length, (i) => feed[i]!.seq, seq);
}

/** Op codes of QueuedFeed's `op` column. */
const FEED_OPS: readonly FeedWrite['op'][] = ['update', 'insert', 'delete'];

/**
 * Rows a QueuedFeed makes room for first (it doubles up to its limit). A new one has no room:
 * a strict store builds one per commit, and a store without the change feed never pushes.
 * Eight: a Float64Array of up to 64 bytes stays inside V8's heap (no allocation outside it).
 */
const FEED_START_ROWS = 8;
const NO_DOUBLES = new Float64Array(0);
const NO_CODES = new Uint8Array(0);

/**
 * The feed rows of queued changes, column by column in a ring: queuing one
 * writes a few array slots, and once the ring holds the feed's limit the
 * newest row takes the oldest one's place. Rows the feed stops promising
 * before their flush are dropped without an object or key JSON ever made for
 * them, and a long debounce window holds at most `limit` rows, not one per
 * change. (Arrays that grew and were cut back per window cost ~0.4 µs a
 * change, most of a feed-on update's extra cost.) `rows()` builds FeedWrite
 * rows for a flush or a read.
 *
 * Keeping the newest `limit` rows keeps every promised one (`seq > seq -
 * limit`): at most `limit` seqs lie in that range.
 */
export class QueuedFeed {
  // Empty and shared until the first push (a column of no slots is never written).
  #seq = NO_DOUBLES;
  #version = NO_DOUBLES;
  #at = NO_DOUBLES;
  #op = NO_CODES;
  #bucket: string[] = [];
  /** Public keys, encoded to JSON when rows are built. */
  #key: unknown[] = [];
  #actor: Array<string | null> = [];
  /** Slot of the oldest row, and rows held. */
  #head = 0;
  #n = 0;
  /** Rows kept at most (the feed's limit, told by limitTo); until then the ring grows. */
  #limit = Number.POSITIVE_INFINITY;

  get length(): number {
    return this.#n;
  }

  push(
    seq: number,
    bucket: string,
    key: unknown,
    op: FeedWrite['op'],
    version: number,
    at: number,
    actor: string | null,
  ): void {
    // At the limit the oldest row goes first.
    if (this.#n >= this.#limit) this.#dropOldest(1);
    const size = this.#seq.length;
    if (this.#n === size)
      this.#resize(Math.min(Math.max(size * 2, FEED_START_ROWS), Math.max(this.#limit, size + 1)));
    const slot = this.#slot(this.#n++);
    this.#seq[slot] = seq;
    this.#version[slot] = version;
    this.#at[slot] = at;
    this.#op[slot] = op === 'update' ? 0 : op === 'insert' ? 1 : 2;
    this.#bucket[slot] = bucket;
    this.#key[slot] = key;
    this.#actor[slot] = actor;
  }

  /** Keep at most the newest `limit` rows, now and from now on (the feed promises no more). */
  limitTo(limit: number): void {
    if (limit === this.#limit) return;
    this.#limit = Math.max(1, limit);
    if (this.#n > this.#limit) this.#dropOldest(this.#n - this.#limit);
    if (this.#seq.length > 2 * Math.max(this.#n, FEED_START_ROWS) && this.#seq.length > this.#limit)
      this.#resize(Math.max(this.#n, FEED_START_ROWS));
  }

  /** Rows with `seq > since`, oldest first. */
  rows(since = Number.NEGATIVE_INFINITY): FeedWrite[] {
    const from = firstIndexAbove(this.#n, (i) => this.#seq[this.#slot(i)]!, since);
    const out: FeedWrite[] = new Array(this.#n - from);
    for (let i = from; i < this.#n; i++) {
      const s = this.#slot(i);
      out[i - from] = {
        seq: this.#seq[s]!,
        bucket: this.#bucket[s]!,
        key: JSON.stringify(this.#key[s]),
        op: FEED_OPS[this.#op[s]!]!,
        version: this.#version[s]!,
        at: this.#at[s]!,
        actor: this.#actor[s]!,
      };
    }
    return out;
  }

  /** Rows of `newer` after these (a failed flush's rows go back in front of those queued meanwhile). */
  append(newer: QueuedFeed): this {
    const limit = Math.min(this.#limit, newer.#limit);
    this.#limit = Number.POSITIVE_INFINITY;
    for (let i = 0; i < newer.#n; i++) {
      const s = newer.#slot(i);
      this.push(
        newer.#seq[s]!,
        newer.#bucket[s]!,
        newer.#key[s],
        FEED_OPS[newer.#op[s]!]!,
        newer.#version[s]!,
        newer.#at[s]!,
        newer.#actor[s]!,
      );
    }
    if (limit !== Number.POSITIVE_INFINITY) this.limitTo(limit);
    return this;
  }

  /** Add `offset` to every seq. */
  shift(offset: number): void {
    for (let i = 0; i < this.#n; i++) this.#seq[this.#slot(i)]! += offset;
  }

  /** Drop the rows of these seqs. */
  drop(seqs: ReadonlySet<number>): void {
    let n = 0;
    for (let i = 0; i < this.#n; i++) {
      const from = this.#slot(i);
      if (seqs.has(this.#seq[from]!)) continue;
      this.#move(from, this.#slot(n++));
    }
    this.#clearFrom(n);
  }

  #slot(i: number): number {
    const s = this.#head + i;
    return s < this.#seq.length ? s : s - this.#seq.length;
  }

  #move(from: number, to: number): void {
    if (from === to) return;
    this.#seq[to] = this.#seq[from]!;
    this.#version[to] = this.#version[from]!;
    this.#at[to] = this.#at[from]!;
    this.#op[to] = this.#op[from]!;
    this.#bucket[to] = this.#bucket[from]!;
    this.#key[to] = this.#key[from];
    this.#actor[to] = this.#actor[from]!;
  }

  /** Forget rows from the n-th on. */
  #clearFrom(n: number): void {
    this.#release(n, this.#n);
    this.#n = n;
  }

  #dropOldest(count: number): void {
    this.#release(0, count);
    this.#head = this.#slot(count);
    this.#n -= count;
  }

  /** Let go of the keys and actors of rows [from, to) (counted from the oldest). */
  #release(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const s = this.#slot(i);
      this.#key[s] = null;
      this.#actor[s] = null;
    }
  }

  /** Move the rows to new columns of `size` slots, oldest at slot 0. */
  #resize(size: number): void {
    const seq = new Float64Array(size);
    const version = new Float64Array(size);
    const at = new Float64Array(size);
    const op = new Uint8Array(size);
    const bucket: string[] = new Array(size).fill('');
    const key: unknown[] = new Array(size).fill(null);
    const actor: Array<string | null> = new Array(size).fill(null);
    for (let i = 0; i < this.#n; i++) {
      const s = this.#slot(i);
      seq[i] = this.#seq[s]!;
      version[i] = this.#version[s]!;
      at[i] = this.#at[s]!;
      op[i] = this.#op[s]!;
      bucket[i] = this.#bucket[s]!;
      key[i] = this.#key[s];
      actor[i] = this.#actor[s]!;
    }
    this.#seq = seq;
    this.#version = version;
    this.#at = at;
    this.#op = op;
    this.#bucket = bucket;
    this.#key = key;
    this.#actor = actor;
    this.#head = 0;
  }
}

/** Binary search over `n` items in seq order: the index of the first with a seq above `seq`. */
function firstIndexAbove(n: number, seqAt: (i: number) => number, seq: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqAt(mid) <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
