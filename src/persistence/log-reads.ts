// History and change-feed reads: what the adapter has stored, merged with
// the rows of the flush under way and those still queued, so a read never
// misses a change that was already made.
import type { HistoryFilter, KeyId } from '../engine/index.js';
import { encodeKey } from './codec.js';
import type { QueuedHistory } from './queued-history.js';
import type { FeedWrite, HistoryWrite, IncrementalAdapter } from './types.js';

export interface LogSource {
  readonly store: string;
  readonly adapter: IncrementalAdapter | undefined;
  /** Open the adapter if it is not yet (errors are reported there); true when it is open. */
  ensureOpen(): Promise<boolean>;
  /** The rows not yet stored: in flight, then queued. */
  unstored(): { history: QueuedHistory; feed: readonly FeedWrite[] }[];
}

/** History rows of one record, newest first. */
export async function readHistory(
  source: LogSource,
  bucket: string,
  keyId: KeyId,
  f: HistoryFilter,
): Promise<HistoryWrite[]> {
  const a = source.adapter;
  if (a?.readHistory === undefined) return [];
  const key = encodeKey(keyId);
  const stored = (await source.ensureOpen()) ? await a.readHistory(source.store, bucket, key, f) : [];
  // Collected synchronously after the read: a row is either stored, in flight or queued.
  const pending: HistoryWrite[] = [];
  for (const { history } of source.unstored())
    for (const h of history.versionsOf(bucket, keyId))
      if (h.at >= f.since && h.at <= f.until && (f.version === undefined || h.version === f.version))
        pending.push(h);
  if (pending.length === 0) return stored;
  const bySeq = new Map<number, HistoryWrite>();
  for (const h of stored) bySeq.set(h.seq, h);
  for (const h of pending) bySeq.set(h.seq, h);
  return [...bySeq.values()].sort((x, y) => y.seq - x.seq).slice(0, f.limit);
}

/** Feed rows with `seq > since`, oldest first. */
export async function readChanges(source: LogSource, since: number, limit: number): Promise<FeedWrite[]> {
  const a = source.adapter;
  if (a?.readChanges === undefined) return [];
  const stored = (await source.ensureOpen()) ? await a.readChanges(source.store, since, limit) : [];
  const pending: FeedWrite[] = [];
  for (const { feed } of source.unstored()) for (const r of feed) if (r.seq > since) pending.push(r);
  if (pending.length === 0) return stored;
  const bySeq = new Map<number, FeedWrite>();
  for (const r of stored) bySeq.set(r.seq, r);
  for (const r of pending) bySeq.set(r.seq, r);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).slice(0, limit);
}
