// noex-style snapshot adapters: a bucket is saved and loaded whole under
// `<store>:bucket:<name>`, in noex-store's layout.
import type { BucketState, StoreRecord } from '../engine/index.js';
import { bucketKey, serializeDefinition } from './codec.js';
import { StorageCorruptError } from './errors.js';
import type { PersistedState, StorageAdapter, StoredBucket, StoredDefinition } from './types.js';

export async function loadSnapshotBucket(
  adapter: StorageAdapter,
  store: string,
  name: string,
): Promise<StoredBucket | undefined> {
  const p = (await adapter.load(bucketKey(store, name))) as
    | PersistedState<{ records?: unknown; autoincrementCounter?: number; definition?: StoredDefinition }>
    | undefined;
  if (p === undefined || p === null) return undefined;
  const st = p.state;
  if (st === null || typeof st !== 'object' || !Array.isArray(st.records))
    throw new StorageCorruptError(
      String(
        (adapter as { path?: unknown; dir?: unknown }).path ??
          (adapter as { dir?: unknown }).dir ??
          'storage',
      ),
      `Snapshot of bucket "${name}" has no records array`,
      undefined,
      undefined,
      { bucket: name, lost: 'every record of the bucket' },
    );
  const pairs = st.records as unknown[];
  return {
    definition: st.definition,
    autoincrement: typeof st.autoincrementCounter === 'number' ? st.autoincrementCounter : 0,
    records: pairs.map((x) => (Array.isArray(x) ? x[1] : x) as StoreRecord),
  };
}

export async function saveSnapshotBucket(
  adapter: StorageAdapter,
  store: string,
  state: BucketState,
): Promise<void> {
  const records: Array<[unknown, StoreRecord]> = [];
  for (const r of state.records.values()) records.push([state.publicKeyOf(r), r]);
  await adapter.save(bucketKey(store, state.name), {
    state: {
      records,
      autoincrementCounter: state.autoincrement,
      definition: serializeDefinition(state.def.definition),
    },
    metadata: { persistedAt: Date.now(), serverId: store, schemaVersion: 1 },
  });
}
