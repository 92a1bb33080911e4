// Applying the history and change-feed part of a CommitUnit to an in-memory
// MemoryLog (MemoryAdapter, FileAdapter; SQLite does the same in SQL).
import { MemoryLog } from '../history/index.js';
import type { CommitUnit, FeedWrite, HistoryWrite } from './types.js';

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
