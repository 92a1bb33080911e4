// MemoryLog: version history and change feed held in memory. The store uses
// it for buckets whose history is not kept by storage (no persistence,
// `persistent: false`, snapshot adapters); MemoryAdapter and FileAdapter use
// it as their in-memory copy of the stored log (with JSON text as data).
//
// History: bucket → key → rows in commit (seq) order. Feed: one array in
// seq order, trimmed from the front.
import type { HistoryFilter } from '../engine/index.js';
import type { FeedRow, LogRow, RetentionRule } from './types.js';

export class MemoryLog<D = unknown> {
  readonly #history = new Map<string, Map<unknown, LogRow<D>[]>>();
  #feed: FeedRow[] = [];
  #feedStart = 0;

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
    this.#feed.push(row);
  }

  /** Forget feed rows with `seq <= upTo`. */
  pruneFeed(upTo: number): void {
    const feed = this.#feed;
    let i = this.#feedStart;
    while (i < feed.length && feed[i]!.seq <= upTo) i++;
    this.#feedStart = i;
    if (i > 1024 && i * 2 > feed.length) {
      this.#feed = feed.slice(i);
      this.#feedStart = 0;
    }
  }

  dropBucket(bucket: string): void {
    this.#history.delete(bucket);
  }

  /** Add `offset` to every sequence number (storage opened late and had seqs of its own). */
  shift(offset: number): void {
    const up = <T extends { seq: number }>(r: T): T => ({ ...r, seq: r.seq + offset });
    for (const byKey of this.#history.values())
      for (const [k, rows] of byKey) byKey.set(k, rows.map(up as (r: LogRow<D>) => LogRow<D>));
    this.#feed = this.#feed.slice(this.#feedStart).map(up as (r: FeedRow) => FeedRow);
    this.#feedStart = 0;
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
    const feed = this.#feed;
    let lo = this.#feedStart;
    let hi = feed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (feed[mid]!.seq <= since) lo = mid + 1;
      else hi = mid;
    }
    return feed.slice(lo, Math.min(feed.length, lo + limit));
  }

  /** Every history row: bucket by bucket, key by key, oldest first. */
  *historyRows(): IterableIterator<LogRow<D>> {
    for (const byKey of this.#history.values()) for (const rows of byKey.values()) yield* rows;
  }

  feedRows(): FeedRow[] {
    return this.#feed.slice(this.#feedStart);
  }

  get historySize(): number {
    let n = 0;
    for (const byKey of this.#history.values()) for (const rows of byKey.values()) n += rows.length;
    return n;
  }
}
