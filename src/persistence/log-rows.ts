// SQLite's quire_history and quire_feed rows (schema version 4), built from
// a CommitUnit and read back. A record changed several times in one unit
// gets one packed history row for those versions (up to
// HISTORY_VERSIONS_PER_ROW): `packed` lists them, oldest first, as [seq,
// version, op, at, actor, length of the record JSON or -1 for none], `data`
// is their record JSON concatenated, the row's seq, version, op, at and
// actor are the newest version's and first_at the oldest's. A unit's feed
// entries go in packed feed rows of up to FEED_ENTRIES_PER_ROW entries
// [seq, bucket, key, op, version, at, actor] (key as stored JSON), the
// row's own columns being its newest entry's. A single version or entry is
// a plain row, as every row was before version 4.
import type Database from 'better-sqlite3';
import { StorageCorruptError } from './errors.js';
import type { CommitUnit, FeedWrite, HistoryWrite } from './types.js';

/** Versions per packed history row: a reader of the newest versions parses at most this many more. */
export const HISTORY_VERSIONS_PER_ROW = 256;

/** Feed entries per packed feed row: a reader of the newest changes parses at most this many more. */
export const FEED_ENTRIES_PER_ROW = 256;

/** The history rows of one bucket in a unit, as flat values (the writer prefixes the bucket id). */
export interface BucketHistoryRows {
  readonly bucket: string;
  /** The records (keys) written. */
  readonly keys: string[];
  /** 7 values per plain row: key, seq, version, op, at, actor, data. */
  readonly plain: unknown[];
  /** 10 values per packed row: key, seq, version, op, at, actor, data, packed, first_at, versions. */
  readonly packed: unknown[];
}

/** The history rows of a unit; versions past a bucket's `maxVersions` are not written at all. */
export function historyRows(
  history: readonly HistoryWrite[],
  retention: CommitUnit['retention'],
): BucketHistoryRows[] {
  const byBucket = new Map<string, Map<string, HistoryWrite[]>>();
  for (const h of history) {
    let byKey = byBucket.get(h.bucket);
    if (byKey === undefined) byBucket.set(h.bucket, (byKey = new Map()));
    const versions = byKey.get(h.key);
    if (versions === undefined) byKey.set(h.key, [h]);
    else versions.push(h);
  }
  const out: BucketHistoryRows[] = [];
  for (const [bucket, byKey] of byBucket) {
    const keep = retention?.find((r) => r.bucket === bucket)?.maxVersions;
    const rows: BucketHistoryRows = { bucket, keys: [...byKey.keys()], plain: [], packed: [] };
    for (const [key, all] of byKey) {
      const from = keep !== undefined && all.length > keep ? all.length - keep : 0;
      if (all.length - from === 1) {
        const v = all[from]!;
        rows.plain.push(key, v.seq, v.version, v.op, v.at, v.actor, v.data);
        continue;
      }
      for (let start = from; start < all.length; start += HISTORY_VERSIONS_PER_ROW)
        packHistory(key, all, start, Math.min(all.length, start + HISTORY_VERSIONS_PER_ROW), rows.packed);
    }
    out.push(rows);
  }
  return out;
}

function packHistory(
  key: string,
  versions: readonly HistoryWrite[],
  start: number,
  end: number,
  out: unknown[],
): void {
  let head = '[';
  let data = '';
  let actor: string | null | undefined;
  let actorJson = 'null';
  for (let i = start; i < end; i++) {
    const v = versions[i]!;
    if (v.actor !== actor) {
      actor = v.actor;
      actorJson = actor === null ? 'null' : JSON.stringify(actor);
    }
    const d = v.data;
    head += `${i === start ? '' : ','}[${v.seq},${v.version},"${v.op}",${v.at},${actorJson},${d === null ? -1 : d.length}]`;
    if (d !== null) data += d;
  }
  const last = versions[end - 1]!;
  out.push(
    key,
    last.seq,
    last.version,
    last.op,
    last.at,
    last.actor,
    data,
    `${head}]`,
    versions[start]!.at,
    end - start,
  );
}

/**
 * Feed rows of `feed[from..]` as flat values (the writer prefixes the store):
 * 7 per plain row (seq, bucket, key, op, version, at, actor), 8 per packed row (the same, then packed).
 */
export function feedRows(feed: readonly FeedWrite[], from: number): { plain: unknown[]; packed: unknown[] } {
  const plain: unknown[] = [];
  const packed: unknown[] = [];
  let bucket: string | undefined;
  let bucketJson = '';
  let actor: string | null | undefined;
  let actorJson = 'null';
  for (let start = from; start < feed.length; start += FEED_ENTRIES_PER_ROW) {
    const end = Math.min(feed.length, start + FEED_ENTRIES_PER_ROW);
    const last = feed[end - 1]!;
    const row = [last.seq, last.bucket, last.key, last.op, last.version, last.at, last.actor];
    if (end - start === 1) {
      plain.push(...row);
      continue;
    }
    let text = '[';
    for (let i = start; i < end; i++) {
      const f = feed[i]!;
      if (f.bucket !== bucket) {
        bucket = f.bucket;
        bucketJson = JSON.stringify(bucket);
      }
      if (f.actor !== actor) {
        actor = f.actor;
        actorJson = actor === null ? 'null' : JSON.stringify(actor);
      }
      text += `${i === start ? '' : ','}[${f.seq},${bucketJson},${f.key},"${f.op}",${f.version},${f.at},${actorJson}]`;
    }
    packed.push(...row, `${text}]`);
  }
  return { plain, packed };
}

/** A quire_history row as read: `packed` is null for a row that holds one version. */
export type StoredHistoryRow = Omit<HistoryWrite, 'bucket'> & { packed: string | null };

/** The versions of a packed history row, oldest first. */
export function unpackHistory(file: string, bucket: string, r: StoredHistoryRow): HistoryWrite[] {
  const entries = parsePacked(
    file,
    r.packed!,
    `history of key ${r.key} in bucket "${bucket}"`,
    bucket,
  ) as Array<[number, number, HistoryWrite['op'], number, string | null, number]>;
  const out: HistoryWrite[] = new Array(entries.length);
  const text = r.data ?? '';
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const [seq, version, op, time, actor, length] = entries[i]!;
    let data: string | null = null;
    if (length >= 0) {
      data = text.slice(at, at + length);
      at += length;
    }
    out[i] = { bucket, key: r.key, seq, version, op, at: time, actor, data };
  }
  return out;
}

/** Feed rows with `seq > since`, oldest first, packed rows unpacked (`read` selects store, seq > since by seq). */
export function readFeedRows(
  file: string,
  read: Database.Statement,
  store: string,
  since: number,
  limit: number,
): FeedWrite[] {
  const out: FeedWrite[] = [];
  if (!(limit > 0)) return out;
  for (const r of read.iterate(store, since) as IterableIterator<FeedWrite & { packed: string | null }>) {
    if (r.packed === null) {
      const { packed: _, ...row } = r;
      out.push(row);
    } else {
      const entries = parsePacked(file, r.packed, `change feed at seq ${r.seq}`) as Array<
        [number, string, unknown, FeedWrite['op'], number, number, string | null]
      >;
      for (const [seq, bucket, key, op, version, at, actor] of entries)
        if (seq > since && out.length < limit)
          out.push({ seq, bucket, key: JSON.stringify(key), op, version, at, actor });
    }
    if (out.length >= limit) break;
  }
  return out;
}

/** The entry list of a packed row; damaged text is a StorageCorruptError naming what it held. */
function parsePacked(file: string, text: string, what: string, bucket?: string): unknown[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (e) {
    entries = e;
  }
  if (Array.isArray(entries)) return entries;
  throw new StorageCorruptError(
    file,
    `Stored ${what} in "${file}" is damaged (${entries instanceof Error ? entries.message : 'not a list'})`,
    undefined,
    entries instanceof Error ? entries : undefined,
    { bucket, lost: what },
  );
}
