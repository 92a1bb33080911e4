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

/**
 * The feed rows of queued changes, column by column: queuing one costs a few
 * array pushes, and rows the feed stops promising before their flush are
 * dropped without an object or key JSON ever made for them. `rows()` builds
 * FeedWrite rows for a flush or a read.
 */
export class QueuedFeed {
  #seq: number[] = [];
  #bucket: string[] = [];
  /** Public keys, encoded to JSON when rows are built. */
  #key: unknown[] = [];
  #op: FeedWrite['op'][] = [];
  #version: number[] = [];
  #at: number[] = [];
  #actor: Array<string | null> = [];

  get length(): number {
    return this.#seq.length;
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
    this.#seq.push(seq);
    this.#bucket.push(bucket);
    this.#key.push(key);
    this.#op.push(op);
    this.#version.push(version);
    this.#at.push(at);
    this.#actor.push(actor);
  }

  /**
   * Drop rows the feed no longer promises (`seq <= seq - limit`) once they are many:
   * a long debounce window then holds about `limit` rows, not one per change.
   */
  trim(seq: number, limit: number): void {
    // Compacting copies the `limit` rows kept: done rarely, that is a fraction of a copy per change.
    if (this.#seq.length < 4 * limit + 4096) return;
    const drop = firstSeqAbove(this.#seq, seq - limit);
    if (drop > 0) this.#keep((_, i) => i >= drop);
  }

  /** Rows with `seq > since`, oldest first. */
  rows(since = Number.NEGATIVE_INFINITY): FeedWrite[] {
    const from = firstSeqAbove(this.#seq, since);
    const out: FeedWrite[] = new Array(this.#seq.length - from);
    for (let i = from; i < this.#seq.length; i++)
      out[i - from] = {
        seq: this.#seq[i]!,
        bucket: this.#bucket[i]!,
        key: JSON.stringify(this.#key[i]),
        op: this.#op[i]!,
        version: this.#version[i]!,
        at: this.#at[i]!,
        actor: this.#actor[i]!,
      };
    return out;
  }

  /** Rows of `newer` after these (a failed flush's rows go back in front of those queued meanwhile). */
  append(newer: QueuedFeed): this {
    this.#seq.push(...newer.#seq);
    this.#bucket.push(...newer.#bucket);
    this.#key.push(...newer.#key);
    this.#op.push(...newer.#op);
    this.#version.push(...newer.#version);
    this.#at.push(...newer.#at);
    this.#actor.push(...newer.#actor);
    return this;
  }

  /** Add `offset` to every seq. */
  shift(offset: number): void {
    for (let i = 0; i < this.#seq.length; i++) this.#seq[i]! += offset;
  }

  /** Drop the rows of these seqs. */
  drop(seqs: ReadonlySet<number>): void {
    this.#keep((seq) => !seqs.has(seq));
  }

  #keep(keep: (seq: number, i: number) => boolean): void {
    const s = this.#seq;
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      if (!keep(s[i]!, i)) continue;
      s[n] = s[i]!;
      this.#bucket[n] = this.#bucket[i]!;
      this.#key[n] = this.#key[i];
      this.#op[n] = this.#op[i]!;
      this.#version[n] = this.#version[i]!;
      this.#at[n] = this.#at[i]!;
      this.#actor[n] = this.#actor[i]!;
      n++;
    }
    for (const column of [s, this.#bucket, this.#key, this.#op, this.#version, this.#at, this.#actor])
      column.length = n;
  }
}

function firstSeqAbove(seqs: readonly number[], seq: number): number {
  return firstIndexAbove(seqs.length, (i) => seqs[i]!, seq);
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
