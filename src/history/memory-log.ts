// MemoryLog: version history and change feed held in memory. The store uses
// it for buckets whose history is not kept by storage (no persistence,
// `persistent: false`, snapshot adapters); MemoryAdapter and FileAdapter use
// it as their in-memory copy of the stored log (with JSON text as data).
//
// History: bucket → key → rows in commit (seq) order. Feed: a ring of rows
// in seq order, trimmed from the front, each row's fields held in place (an
// in-memory store adds one per write: no object per row).
import type { HistoryFilter } from '../engine/index.js';
import type { FeedRow, HistoryOp, LogRow, RetentionRule } from './types.js';

/** Slots per feed row in the ring: seq, bucket, key, op, version, at, actor. */
const FEED_STRIDE = 7;
/** Rows the ring holds before it first grows. */
const FEED_START_ROWS = 64;

export class MemoryLog<D = unknown> {
  readonly #history = new Map<string, Map<unknown, LogRow<D>[]>>();
  /** Feed rows, FEED_STRIDE slots each, oldest at #feedHead, wrapping around. */
  #feed: unknown[] = new Array(FEED_START_ROWS * FEED_STRIDE);
  /** Row index of the oldest row. */
  #feedHead = 0;
  #feedCount = 0;

  // ── Writes ───────────────────────────────────────────────────────

  addHistory(row: LogRow<D>): void {
    let byKey = this.#history.get(row.bucket);
    if (byKey === undefined) this.#history.set(row.bucket, (byKey = new Map()));
    const rows = byKey.get(row.key);
    if (rows === undefined) byKey.set(row.key, [row]);
    else rows.push(row);
  }

  /** Apply a bucket's retention to some of its keys (those just written). */
  retain(rule: RetentionRule, keys: Iterable<unknown>): void {
    const byKey = this.#history.get(rule.bucket);
    if (byKey === undefined) return;
    for (const k of keys) {
      const rows = byKey.get(k);
      if (rows === undefined) continue;
      let drop = 0;
      if (rule.maxVersions !== undefined && rows.length > rule.maxVersions)
        drop = rows.length - rule.maxVersions;
      if (rule.before !== undefined) while (drop < rows.length && rows[drop]!.at < rule.before) drop++;
      if (drop === rows.length) byKey.delete(k);
      else if (drop > 0) rows.splice(0, drop);
    }
  }

  /** Drop every entry of a bucket committed before `before` (all keys). */
  sweep(bucket: string, before: number): void {
    const byKey = this.#history.get(bucket);
    if (byKey !== undefined) this.retain({ bucket, before }, [...byKey.keys()]);
  }

  addFeed(row: FeedRow): void {
    this.addFeedRow(row.seq, row.bucket, row.key, row.op, row.version, row.at, row.actor);
  }

  /** addFeed without the row object (rows are kept as their fields). */
  addFeedRow(
    seq: number,
    bucket: string,
    key: unknown,
    op: HistoryOp,
    version: number,
    at: number,
    actor: string | null,
  ): void {
    let feed = this.#feed;
    let rows = feed.length / FEED_STRIDE;
    if (this.#feedCount === rows) feed = this.#resizeFeed((rows *= 2));
    let row = this.#feedHead + this.#feedCount++;
    if (row >= rows) row -= rows;
    const i = row * FEED_STRIDE;
    feed[i] = seq;
    feed[i + 1] = bucket;
    feed[i + 2] = key;
    feed[i + 3] = op;
    feed[i + 4] = version;
    feed[i + 5] = at;
    feed[i + 6] = actor;
  }

  /** Forget feed rows with `seq <= upTo`. */
  pruneFeed(upTo: number): void {
    const feed = this.#feed;
    const rows = feed.length / FEED_STRIDE;
    let head = this.#feedHead;
    let count = this.#feedCount;
    while (count > 0 && (feed[head * FEED_STRIDE] as number) <= upTo) {
      // A dropped row lets go of its key.
      feed[head * FEED_STRIDE + 2] = undefined;
      if (++head === rows) head = 0;
      count--;
    }
    this.#feedHead = count === 0 ? 0 : head;
    this.#feedCount = count;
    // A large batch grew the ring: give the room back once it is mostly empty.
    if (rows > FEED_START_ROWS && count * 4 < rows) this.#resizeFeed(Math.max(FEED_START_ROWS, count * 2));
  }

  /** Move the rows, oldest first, into a ring of `rows` rows. */
  #resizeFeed(rows: number): unknown[] {
    const next: unknown[] = new Array(rows * FEED_STRIDE);
    const feed = this.#feed;
    const n = this.#feedCount * FEED_STRIDE;
    let from = this.#feedHead * FEED_STRIDE;
    for (let i = 0; i < n; i++) {
      if (from === feed.length) from = 0;
      next[i] = feed[from++];
    }
    this.#feed = next;
    this.#feedHead = 0;
    return next;
  }

  /** The feed row at position `n` (0: the oldest kept). */
  #feedRow(n: number): FeedRow {
    const feed = this.#feed;
    let row = this.#feedHead + n;
    const rows = feed.length / FEED_STRIDE;
    if (row >= rows) row -= rows;
    const i = row * FEED_STRIDE;
    return {
      seq: feed[i] as number,
      bucket: feed[i + 1] as string,
      key: feed[i + 2],
      op: feed[i + 3] as HistoryOp,
      version: feed[i + 4] as number,
      at: feed[i + 5] as number,
      actor: feed[i + 6] as string | null,
    };
  }

  /** The seq of the feed row at position `n`. */
  #feedSeq(n: number): number {
    let row = this.#feedHead + n;
    const rows = this.#feed.length / FEED_STRIDE;
    if (row >= rows) row -= rows;
    return this.#feed[row * FEED_STRIDE] as number;
  }

  dropBucket(bucket: string): void {
    this.#history.delete(bucket);
  }

  /** Add `offset` to every sequence number (storage opened late and had seqs of its own). */
  shift(offset: number): void {
    const up = <T extends { seq: number }>(r: T): T => ({ ...r, seq: r.seq + offset });
    for (const byKey of this.#history.values())
      for (const [k, rows] of byKey) byKey.set(k, rows.map(up as (r: LogRow<D>) => LogRow<D>));
    const feed = this.#feed;
    for (let n = 0; n < this.#feedCount; n++) {
      let i = (this.#feedHead + n) * FEED_STRIDE;
      if (i >= feed.length) i -= feed.length;
      feed[i] = (feed[i] as number) + offset;
    }
  }

  // ── Reads ────────────────────────────────────────────────────────

  /** Entries of one key, newest first. */
  readHistory(bucket: string, key: unknown, f: HistoryFilter): LogRow<D>[] {
    const rows = this.#history.get(bucket)?.get(key);
    const out: LogRow<D>[] = [];
    if (rows === undefined) return out;
    for (let i = rows.length - 1; i >= 0 && out.length < f.limit; i--) {
      const r = rows[i]!;
      if (r.at < f.since || r.at > f.until) continue;
      if (f.version !== undefined && r.version !== f.version) continue;
      out.push(r);
    }
    return out;
  }

  /** Feed rows with `seq > since`, oldest first. */
  readChanges(since: number, limit: number): FeedRow[] {
    let lo = 0;
    let hi = this.#feedCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#feedSeq(mid) <= since) lo = mid + 1;
      else hi = mid;
    }
    const out: FeedRow[] = [];
    const end = Math.min(this.#feedCount, lo + limit);
    for (let n = lo; n < end; n++) out.push(this.#feedRow(n));
    return out;
  }

  /** Every history row: bucket by bucket, key by key, oldest first. */
  *historyRows(): IterableIterator<LogRow<D>> {
    for (const byKey of this.#history.values()) for (const rows of byKey.values()) yield* rows;
  }

  feedRows(): FeedRow[] {
    const out: FeedRow[] = [];
    for (let n = 0; n < this.#feedCount; n++) out.push(this.#feedRow(n));
    return out;
  }

  get historySize(): number {
    let n = 0;
    for (const byKey of this.#history.values()) for (const rows of byKey.values()) n += rows.length;
    return n;
  }
}
