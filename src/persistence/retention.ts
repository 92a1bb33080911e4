// History and feed rows ride in the CommitUnit of their changes, with the
// pruning that keeps them bounded: per bucket `maxVersions` / `maxAge`
// retention, and the change feed cut back to its size limit.
import type { StorageHost } from './store-storage.js';
import type { CommitUnit, FeedWrite, HistoryWrite } from './types.js';

/** How often (ms) a bucket's whole history is swept for entries past `maxAge`. */
const AGE_SWEEP_MS = 60_000;

export class LogRetention {
  readonly #lastSweep = new Map<string, number>();
  /** Where the stored change feed was last pruned to. */
  #feedPrunedTo = 0;

  /** Add history rows (with the retention of their buckets) and feed rows (with the feed's pruning) to a unit. */
  attach(
    unit: CommitUnit,
    history: HistoryWrite[],
    feed: FeedWrite[],
    host: StorageHost | undefined,
    seq: number,
  ): CommitUnit {
    if (history.length === 0 && feed.length === 0) return unit;
    let retention: CommitUnit['retention'];
    if (history.length > 0) {
      const now = Date.now();
      const rules = [];
      const seen = new Set<string>();
      for (const h of history) {
        if (seen.has(h.bucket)) continue;
        seen.add(h.bucket);
        const cfg = host?.bucketState(h.bucket)?.def.history;
        if (cfg === undefined || (cfg.maxVersions === undefined && cfg.maxAgeMs === undefined)) continue;
        let sweep = false;
        if (cfg.maxAgeMs !== undefined && now - (this.#lastSweep.get(h.bucket) ?? 0) >= AGE_SWEEP_MS) {
          sweep = true;
          this.#lastSweep.set(h.bucket, now);
        }
        rules.push({
          bucket: h.bucket,
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
    return {
      ...unit,
      history: history.length > 0 ? history : undefined,
      retention,
      feed: feed.length > 0 ? feed : undefined,
      feedPruneTo,
    };
  }
}

/**
 * Drop queued feed rows the feed no longer promises (`seq <= seq - limit`) once they are many:
 * a long debounce window then holds about `limit` rows, not one per change.
 */
export function trimQueuedFeed(feed: FeedWrite[], seq: number, limit: number): void {
  if (feed.length < 2 * limit + 1024) return;
  const drop = firstAbove(feed, seq - limit);
  if (drop > 0) feed.splice(0, drop);
}

/** Index of the first feed row with a seq above `seq` (rows are in seq order). */
export function firstAbove(feed: readonly FeedWrite[], seq: number): number {
  let lo = 0;
  let hi = feed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (feed[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
