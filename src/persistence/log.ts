// The in-memory image of a stored store, shared by MemoryAdapter and
// FileAdapter (which replays its journal into one): records as JSON rows in
// insertion order, plus history and change feed in a MemoryLog. SQLite does
// the same in SQL.
import { MemoryLog } from '../history/index.js';
import type { CommitUnit, FeedWrite, HistoryWrite, StoredBucket, StoredDefinition } from './types.js';

export interface BucketImage {
  definition: StoredDefinition | undefined;
  autoincrement: number;
  /** key → record JSON, in insertion order (Map order). */
  records: Map<string, string>;
}

export interface StoreImage {
  lastSeq: number;
  buckets: Map<string, BucketImage>;
  /** History rows and change feed. */
  log: StoredLog;
}

/** A stored bucket of an image, records parsed lazily in insertion order. */
export function bucketFromImage(b: BucketImage | undefined): StoredBucket | undefined {
  if (b === undefined) return undefined;
  const rows = [...b.records.values()];
  return {
    definition: b.definition,
    autoincrement: b.autoincrement,
    records: {
      *[Symbol.iterator]() {
        for (const r of rows) yield JSON.parse(r);
      },
    },
  };
}

/** Apply a CommitUnit to an image (the adapters make it durable their own way). */
export function applyUnit(s: StoreImage, unit: CommitUnit): void {
  const bucket = (name: string) => {
    let b = s.buckets.get(name);
    if (b === undefined)
      s.buckets.set(name, (b = { definition: undefined, autoincrement: 0, records: new Map() }));
    return b;
  };
  for (const w of unit.buckets) {
    if (w.drop === true) s.buckets.delete(w.bucket);
    else if (w.clear === true) s.buckets.get(w.bucket)?.records.clear();
    if (w.definition !== undefined) bucket(w.bucket).definition = w.definition;
    if (w.autoincrement !== undefined) bucket(w.bucket).autoincrement = w.autoincrement;
  }
  for (const w of unit.records) {
    const b = bucket(w.bucket);
    if (w.op === 'delete') b.records.delete(w.key);
    else {
      // An insert moves to the end of the insertion order.
      if (w.op === 'insert') b.records.delete(w.key);
      b.records.set(w.key, w.data!);
    }
  }
  applyLog(s.log, unit);
  if (unit.lastSeq > s.lastSeq) s.lastSeq = unit.lastSeq;
}

export type StoredLog = MemoryLog<string>;

export function newStoredLog(): StoredLog {
  return new MemoryLog<string>();
}

export function applyLog(log: StoredLog, unit: CommitUnit): void {
  for (const b of unit.buckets) if (b.drop === true) log.dropBucket(b.bucket);
  const history = unit.history;
  if (history !== undefined && history.length > 0) {
    const touched = new Map<string, Set<string>>();
    for (const r of history) {
      log.addHistory(r);
      let keys = touched.get(r.bucket);
      if (keys === undefined) touched.set(r.bucket, (keys = new Set()));
      keys.add(r.key);
    }
    for (const rule of unit.retention ?? []) {
      const keys = touched.get(rule.bucket);
      if (keys !== undefined) log.retain(rule, keys);
      if (rule.sweep === true && rule.before !== undefined) log.sweep(rule.bucket, rule.before);
    }
  }
  if (unit.feed !== undefined) for (const f of unit.feed) log.addFeed(f);
  if (unit.feedPruneTo !== undefined) log.pruneFeed(unit.feedPruneTo);
}

export const readStoredHistory = (
  log: StoredLog | undefined,
  bucket: string,
  key: string,
  filter: Parameters<StoredLog['readHistory']>[2],
): HistoryWrite[] => (log?.readHistory(bucket, key, filter) ?? []) as HistoryWrite[];

export const readStoredChanges = (log: StoredLog | undefined, since: number, limit: number): FeedWrite[] =>
  (log?.readChanges(since, limit) ?? []) as FeedWrite[];
