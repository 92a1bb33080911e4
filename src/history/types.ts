// Public types of version history (P-6) and the change feed.
import type { StoreRecord } from '../engine/index.js';

export type HistoryOp = 'insert' | 'update' | 'delete';

/** One version of a record, as `bucket.history(key)` returns it (newest first). */
export interface HistoryEntry<R extends Record<string, unknown> = Record<string, unknown>> {
  /** `_version` of the record after this change (for a delete: the version that was deleted). */
  readonly version: number;
  readonly op: HistoryOp;
  /** The record after the change; `undefined` for a delete. */
  readonly record: StoreRecord<R> | undefined;
  /** Commit time (ms since the epoch). */
  readonly at: number;
  /** The `actor` the write was made with. */
  readonly actor: string | undefined;
  /** The change's sequence number in the store (see `store.changes()`). */
  readonly seq: number;
}

export interface HistoryQuery {
  /** At most this many entries (the newest). */
  readonly limit?: number;
  /** Only entries committed at or after this time (ms or Date). */
  readonly since?: number | Date;
  /** Only entries committed at or before this time (ms or Date). */
  readonly until?: number | Date;
}

/** One entry of the store's change feed (`store.changes()`), oldest first. */
export interface ChangeFeedEntry {
  readonly seq: number;
  readonly bucket: string;
  /** The record's key (an array for composite keys). */
  readonly key: unknown;
  readonly op: HistoryOp;
  /** `_version` after the change (for a delete: the version that was deleted). */
  readonly version: number;
  readonly at: number;
  readonly actor: string | undefined;
}

export interface ChangesOptions {
  /** Entries with a `seq` greater than this (default 0: from the oldest kept). */
  readonly since?: number;
  /** At most this many entries (default 1000). */
  readonly limit?: number;
}

/** `Store.start({changeFeed})`: how much of the change feed is kept. */
export interface ChangeFeedConfig {
  /** Keep the changes with the last `maxEntries` sequence numbers (default 10,000); 0 turns the feed off. */
  readonly maxEntries?: number;
}

/** A history row as the log tables keep it. `D`: the record (object in memory, JSON text in storage). */
export interface LogRow<D = unknown> {
  readonly bucket: string;
  /** Internal key (memory) or its stable text encoding (storage). */
  readonly key: unknown;
  readonly seq: number;
  readonly version: number;
  readonly op: HistoryOp;
  readonly at: number;
  readonly actor: string | null;
  readonly data: D | null;
}

/** A change feed row. `key` is the public key (memory) or its JSON text (storage). */
export interface FeedRow {
  readonly seq: number;
  readonly bucket: string;
  readonly key: unknown;
  readonly op: HistoryOp;
  readonly version: number;
  readonly at: number;
  readonly actor: string | null;
}

/** Retention of one bucket's history, applied to the keys a commit wrote. */
export interface RetentionRule {
  readonly bucket: string;
  readonly maxVersions?: number;
  /** Drop entries committed before this time (ms). */
  readonly before?: number;
  /** Apply `before` to every key of the bucket, not only to those just written (done now and then). */
  readonly sweep?: boolean;
}
