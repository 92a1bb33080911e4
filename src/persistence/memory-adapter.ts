// MemoryAdapter: keeps the data in the adapter instance (as JSON, so a
// restore behaves like one from disk). A new Store started with the same
// instance sees the data of the previous one; nothing survives the process.
import type { HistoryFilter } from '../engine/index.js';
import { bucketKey, parseBucketKey, snapshotView } from './codec.js';
import {
  applyUnit,
  bucketFromImage,
  newStoredLog,
  readStoredChanges,
  readStoredHistory,
  type StoreImage,
} from './log.js';
import type {
  AdapterContext,
  CommitUnit,
  FeedWrite,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  StoredBucket,
} from './types.js';

type MemStore = StoreImage;

export class MemoryAdapter implements IncrementalAdapter {
  readonly readOnly = false;
  readonly #stores = new Map<string, MemStore>();
  readonly #kv = new Map<string, string>();

  #store(name: string): MemStore {
    let s = this.#stores.get(name);
    if (s === undefined)
      this.#stores.set(name, (s = { lastSeq: 0, buckets: new Map(), log: newStoredLog() }));
    return s;
  }

  open(store: string, _context: AdapterContext): { lastSeq: number } {
    return { lastSeq: this.#store(store).lastSeq };
  }

  loadBucket(store: string, bucket: string): StoredBucket | undefined {
    return bucketFromImage(this.#stores.get(store)?.buckets.get(bucket));
  }

  listBuckets(store: string): string[] {
    return [...(this.#stores.get(store)?.buckets.keys() ?? [])];
  }

  commit(store: string, unit: CommitUnit): void {
    applyUnit(this.#store(store), unit);
  }

  readHistory(store: string, bucket: string, key: string, filter: HistoryFilter): HistoryWrite[] {
    return readStoredHistory(this.#stores.get(store)?.log, bucket, key, filter);
  }

  readChanges(store: string, since: number, limit: number): FeedWrite[] {
    return readStoredChanges(this.#stores.get(store)?.log, since, limit);
  }

  /** @internal Every stored history and feed row of a store (for backupTo). */
  dumpLog(store: string): { history: HistoryWrite[]; feed: FeedWrite[] } {
    const log = this.#stores.get(store)?.log;
    return {
      history: [...(log?.historyRows() ?? [])] as HistoryWrite[],
      feed: (log?.feedRows() ?? []) as FeedWrite[],
    };
  }

  close(_store: string): void {
    /* data stays in the instance */
  }

  // ── noex snapshot shape ──

  async save(key: string, data: PersistedState): Promise<void> {
    this.#kv.set(key, JSON.stringify(data));
  }

  async load<T = unknown>(key: string): Promise<PersistedState<T> | undefined> {
    const v = this.#kv.get(key);
    if (v !== undefined) return JSON.parse(v) as PersistedState<T>;
    const bk = parseBucketKey(key);
    if (bk === undefined) return undefined;
    return snapshotView(bk.store, this.loadBucket(bk.store, bk.bucket)) as PersistedState<T> | undefined;
  }

  async delete(key: string): Promise<boolean> {
    return this.#kv.delete(key);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.load(key)) !== undefined;
  }

  async listKeys(prefix = ''): Promise<string[]> {
    const keys = new Set(this.#kv.keys());
    for (const [store, s] of this.#stores) for (const b of s.buckets.keys()) keys.add(bucketKey(store, b));
    return [...keys].filter((k) => k.startsWith(prefix)).sort();
  }
}
