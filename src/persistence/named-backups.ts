// Named backups in noex-store's layout: one `<store>:backup:<name>` value
// through the adapter's key/value side, holding every persistent bucket.
import type { BackupInfo, BucketState, StoreRecord } from '../engine/index.js';
import type { PersistedState, StorageAdapter } from './types.js';

type BackupBuckets = Record<string, { records: Array<[unknown, StoreRecord]>; autoincrementCounter: number }>;

export class NamedBackups {
  readonly #kv: StorageAdapter;
  readonly #store: string;

  constructor(kv: StorageAdapter, store: string) {
    this.#kv = kv;
    this.#store = store;
  }

  #key(name: string): string {
    return `${this.#store}:backup:${name}`;
  }

  async create(name: string, buckets: Map<string, BucketState>): Promise<BackupInfo> {
    const out: BackupBuckets = {};
    let totalRecords = 0;
    for (const [n, b] of buckets) {
      if (!b.def.persistent) continue;
      out[n] = {
        records: [...b.records.values()].map((r) => [b.publicKeyOf(r), r]),
        autoincrementCounter: b.autoincrement,
      };
      totalRecords += b.size;
    }
    const createdAt = Date.now();
    const meta = { name, createdAt, bucketNames: Object.keys(out), totalRecords };
    await this.#kv.save(this.#key(name), {
      state: { meta, buckets: out },
      metadata: { persistedAt: createdAt, serverId: this.#store, schemaVersion: 1 },
    });
    return { id: name, ...meta };
  }

  async list(): Promise<BackupInfo[]> {
    const out: BackupInfo[] = [];
    for (const key of await this.#kv.listKeys(`${this.#store}:backup:`)) {
      const p = (await this.#kv.load(key)) as PersistedState<{ meta: Omit<BackupInfo, 'id'> }> | undefined;
      if (p?.state?.meta !== undefined) out.push({ id: p.state.meta.name, ...p.state.meta });
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async load(
    name: string,
  ): Promise<Record<string, { records: StoreRecord[]; autoincrement: number }> | undefined> {
    const p = (await this.#kv.load(this.#key(name))) as
      | PersistedState<{ buckets: BackupBuckets }>
      | undefined;
    if (p?.state?.buckets === undefined) return undefined;
    const out: Record<string, { records: StoreRecord[]; autoincrement: number }> = {};
    for (const [b, v] of Object.entries(p.state.buckets))
      out[b] = { records: v.records.map((x) => x[1]), autoincrement: v.autoincrementCounter };
    return out;
  }

  delete(name: string): Promise<boolean> {
    return this.#kv.delete(this.#key(name));
  }
}
