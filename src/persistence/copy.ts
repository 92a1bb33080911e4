// copyStore: a store's definitions, records, counters, history and change
// feed from one incremental adapter to another (SQLite ↔ PostgreSQL, or
// SQLite → SQLite), in chunks so memory stays bounded by a chunk plus one
// bucket's stored text, and verified by counting what the target holds.
import { encodeTuple, InvalidArgumentError } from '../engine/index.js';
import { encodeKey } from './codec.js';
import { StorageError } from './errors.js';
import type { CommitUnit, IncrementalAdapter, RecordWrite } from './types.js';

export interface CopyProgress {
  readonly bucket: string;
  readonly done: number;
  readonly total: number;
}

export interface CopyResult {
  readonly buckets: number;
  readonly records: number;
  readonly history: number;
  readonly feed: number;
}

const CHUNK = 5000;

export async function copyStore(
  from: IncrementalAdapter,
  to: IncrementalAdapter,
  store: string,
  options: { onProgress?: (p: CopyProgress) => void } = {},
): Promise<CopyResult> {
  const problems: Error[] = [];
  const ctx = { onError: (e: Error) => problems.push(e) };
  const { lastSeq } = await from.open(store, ctx);
  await to.open(store, ctx);
  try {
    if ((await to.listBuckets(store)).length > 0)
      throw new InvalidArgumentError(
        'copyStore',
        'to',
        `the target already holds store "${store}"; copy into an empty one`,
      );
    const buckets = await from.listBuckets(store);
    if (buckets.length === 0)
      throw new InvalidArgumentError('copyStore', 'from', `the source holds no store "${store}"`);
    // History and feed first: their seqs are kept as they are.
    const log = (await from.dumpLog?.(store)) ?? { history: [], feed: [] };
    for (let i = 0; i < Math.max(log.history.length, log.feed.length); i += CHUNK)
      await to.commit(store, {
        buckets: [],
        records: [],
        lastSeq,
        history: log.history.slice(i, i + CHUNK),
        feed: log.feed.slice(i, i + CHUNK),
      });
    let seq = lastSeq;
    let records = 0;
    const counts = new Map<string, number>();
    for (const name of buckets) {
      const stored = await from.loadBucket(store, name);
      if (stored === undefined) continue;
      const keyOf = keyReader(stored.definition?.definition.key);
      // Adapters that load into an array give a real total; a stream reports what it has done.
      const total = Array.isArray(stored.records) ? stored.records.length : undefined;
      let chunk: RecordWrite[] = [];
      let done = 0;
      let first = true;
      const flush = async () => {
        const unit: CommitUnit = {
          buckets: first
            ? [{ bucket: name, definition: stored.definition, autoincrement: stored.autoincrement }]
            : [],
          records: chunk,
          lastSeq: seq,
        };
        await to.commit(store, unit);
        first = false;
        done += chunk.length;
        chunk = [];
        options.onProgress?.({ bucket: name, done, total: total ?? done });
      };
      for (const r of stored.records) {
        seq++;
        chunk.push({
          bucket: name,
          key: encodeKey(keyOf(r) as string | number),
          op: 'insert',
          seq,
          ord: seq,
          version: r._version as number,
          base: 0,
          data: JSON.stringify(r),
        });
        if (chunk.length >= CHUNK) await flush();
      }
      if (chunk.length > 0 || first) await flush();
      counts.set(name, done);
      records += done;
    }
    // Verify: the target holds every bucket with as many records as were read.
    for (const [name, n] of counts) {
      const b = await to.loadBucket(store, name);
      let m = 0;
      for (const _ of b?.records ?? []) m++;
      if (m !== n)
        throw new StorageError('copy', `bucket "${name}": copied ${n} records but the target holds ${m}`);
    }
    if (problems.length > 0) throw problems[0];
    return { buckets: counts.size, records, history: log.history.length, feed: log.feed.length };
  } finally {
    await from.close(store);
    await to.close(store);
  }
}

/** The internal key of a stored record (composite keys as their tuple encoding). */
function keyReader(key: unknown): (r: Record<string, unknown>) => unknown {
  if (Array.isArray(key)) {
    const fields = key as string[];
    return (r) => encodeTuple(fields.map((f) => r[f]));
  }
  const field = String(key ?? 'id');
  return (r) => r[field];
}
