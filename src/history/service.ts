// HistoryService: where the store's version history and change feed live.
// Buckets whose changes durable storage keeps (persistent buckets of a store
// with an incremental adapter) have their history written by the
// persistence manager, in the same storage transaction as the change; it is
// read back from storage (plus what still waits in the write queue). Every
// other change (no persistence, `persistent: false`, snapshot adapters) is
// recorded here, in memory, as a commit listener.
import type {
  BucketState,
  ChangeBatch,
  HistoryEntryRow,
  HistoryFilter,
  HistoryReader,
  KeyId,
  StoreCore,
  StoreRecord,
} from '../engine/index.js';
import { MemoryLog } from './memory-log.js';
import type { ChangeFeedEntry, FeedRow, LogRow } from './types.js';

/** What the service needs from durable storage (the persistence manager). */
export interface HistoryStorage {
  readonly keepsHistory: boolean;
  readonly keepsFeed: boolean;
  readHistory(bucket: string, keyId: KeyId, f: HistoryFilter): Promise<readonly LogRow<string>[]>;
  readChanges(since: number, limit: number): Promise<readonly FeedRow[]>;
}

const AGE_SWEEP_MS = 60_000;

export class HistoryService implements HistoryReader {
  readonly #core: StoreCore;
  readonly #storage: HistoryStorage | undefined;
  readonly #feedLimit: number;
  readonly #memory = new MemoryLog<StoreRecord>();
  readonly #lastSweep = new Map<string, number>();

  constructor(core: StoreCore, storage: HistoryStorage | undefined, feedLimit: number) {
    this.#core = core;
    this.#storage = storage;
    this.#feedLimit = feedLimit;
  }

  get feedLimit(): number {
    return this.#feedLimit;
  }

  /** Whether storage keeps the history of this bucket (else it is kept here). */
  #stored(b: BucketState): boolean {
    return this.#storage?.keepsHistory === true && b.def.persistent;
  }

  /** Commit listener: record what storage does not. */
  onBatch(batch: ChangeBatch): void {
    const storage = this.#storage;
    const feed = this.#feedLimit > 0;
    const changes = batch.changes;
    let added = false;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const b = this.#core.bucketState(c.bucket);
      if (b === undefined) continue;
      const persisted = storage !== undefined && b.def.persistent;
      const h = b.def.history;
      if (h !== undefined && !(persisted && storage.keepsHistory)) {
        const o = c.oldRecord;
        const n = c.newRecord;
        // A restored backup rewrites unchanged records: no new version.
        if (
          o === undefined ||
          n === undefined ||
          o._version !== n._version ||
          o._updatedAt !== n._updatedAt
        ) {
          this.#memory.addHistory({
            bucket: c.bucket,
            key: c.keyId,
            seq: c.seq,
            version: c.version,
            op: c.op,
            at: batch.at,
            actor: batch.actor ?? null,
            data: n ?? null,
          });
          if (h.maxVersions !== undefined || h.maxAgeMs !== undefined) {
            const before = h.maxAgeMs !== undefined ? batch.at - h.maxAgeMs : undefined;
            this.#memory.retain({ bucket: c.bucket, maxVersions: h.maxVersions, before }, [c.keyId]);
            if (before !== undefined && batch.at - (this.#lastSweep.get(c.bucket) ?? 0) >= AGE_SWEEP_MS) {
              this.#lastSweep.set(c.bucket, batch.at);
              this.#memory.sweep(c.bucket, before);
            }
          }
        }
      }
      if (feed && !(persisted && storage.keepsFeed)) {
        this.#memory.addFeedRow(c.seq, c.bucket, c.key, c.op, c.version, batch.at, batch.actor ?? null);
        added = true;
      }
    }
    if (added) this.#memory.pruneFeed(this.#core.seq - this.#feedLimit);
  }

  /** History of one record, newest first (retention applied). */
  async read(b: BucketState, keyId: KeyId, filter: HistoryFilter): Promise<HistoryEntryRow[]> {
    const maxAge = b.def.history?.maxAgeMs;
    const maxVersions = b.def.history?.maxVersions;
    const f =
      maxAge !== undefined ? { ...filter, since: Math.max(filter.since, Date.now() - maxAge) } : filter;
    if (maxVersions !== undefined && maxVersions < f.limit) {
      // Entries still waiting for their flush are not pruned yet: keep the newest maxVersions, then filter.
      const newest = await this.#read(b, keyId, {
        limit: maxVersions,
        since: f.since,
        until: Number.POSITIVE_INFINITY,
      });
      return newest
        .filter((e) => e.at <= f.until && (f.version === undefined || e.version === f.version))
        .slice(0, f.limit);
    }
    return this.#read(b, keyId, f);
  }

  async #read(b: BucketState, keyId: KeyId, f: HistoryFilter): Promise<HistoryEntryRow[]> {
    if (this.#stored(b)) {
      const rows = await this.#storage!.readHistory(b.name, keyId, f);
      return rows.map((r) => ({
        version: r.version,
        op: r.op,
        record: r.data === null ? undefined : (JSON.parse(r.data) as StoreRecord),
        at: r.at,
        actor: r.actor ?? undefined,
        seq: r.seq,
      }));
    }
    return this.#memory.readHistory(b.name, keyId, f).map((r) => ({
      version: r.version,
      op: r.op,
      record: r.data ?? undefined,
      at: r.at,
      actor: r.actor ?? undefined,
      seq: r.seq,
    }));
  }

  /** The change feed: entries with `seq > since`, oldest first. */
  async changes(since: number, limit: number): Promise<ChangeFeedEntry[]> {
    if (this.#feedLimit === 0) return [];
    // Storage prunes in steps; the feed promises exactly the last feedLimit seqs.
    since = Math.max(since, this.#core.seq - this.#feedLimit);
    const stored = this.#storage?.keepsFeed === true ? await this.#storage.readChanges(since, limit) : [];
    const memory = this.#memory.readChanges(since, limit);
    const out: ChangeFeedEntry[] = [];
    let i = 0;
    let j = 0;
    while (out.length < limit && (i < stored.length || j < memory.length)) {
      const s = stored[i];
      const m = memory[j];
      if (m === undefined || (s !== undefined && s.seq < m.seq)) {
        out.push(entry(s!, JSON.parse(s!.key as string)));
        i++;
      } else {
        out.push(entry(m, m.key));
        j++;
      }
    }
    return out;
  }

  dropBucket(name: string): void {
    this.#memory.dropBucket(name);
  }

  /** Storage opened late with sequence numbers of its own: move ours above them. */
  shift(offset: number): void {
    this.#memory.shift(offset);
  }
}

function entry(r: FeedRow, key: unknown): ChangeFeedEntry {
  return {
    seq: r.seq,
    bucket: r.bucket,
    key,
    op: r.op,
    version: r.version,
    at: r.at,
    actor: r.actor ?? undefined,
  };
}
