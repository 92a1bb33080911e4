// SQLite's quire_history and quire_feed rows (schema version 4), built from
// a CommitUnit and read back. A record changed several times in one unit
// gets one packed history row for those versions (up to
// HISTORY_VERSIONS_PER_ROW): `packed` lists them, oldest first, as [seq,
// version, op, at, actor, length of the record JSON or -1 for none], `data`
// is their record JSON concatenated, the row's seq, version, op, at and
// actor are the newest version's and first_at the oldest's. A unit's feed
// entries go in packed feed rows, the row's own columns being its newest
// entry's. A single version or entry is a plain row, as every row was
// before version 4.
//
// Packed feed rows, schema version 5 (version 4 rows are still read): a
// flat JSON list `[1, seq, at, bucket, actor, entries…]` where each entry
// is `code, key, version` followed by what changed from the entry before
// (the header's values stand for the entry before the first): the seq step
// when it is not 1, the `at` step when not 0, the bucket, the actor, as
// `code`'s bits say. A commit of 32 updates by one actor is then ~10 bytes
// an entry (version 4 spent ~55: `[seq, bucket, key, op, version, at,
// actor]`), and rows are cut at FEED_ROW_CHARS, well inside a page: a strict
// commit appends a few hundred bytes to the last page of quire_feed instead
// of a row of ~2 KB with an overflow page (which version 4's WITHOUT ROWID
// table also copied into its interior pages).
import { StorageCorruptError } from './errors.js';
import type { HistoryColumns } from './queued-history.js';
import type { CommitUnit, FeedWrite, HistoryWrite } from './types.js';

/** Versions per packed history row: a reader of the newest versions parses at most this many more. */
export const HISTORY_VERSIONS_PER_ROW = 256;

/** Feed entries per packed feed row: a reader of the newest changes parses at most this many more. */
export const FEED_ENTRIES_PER_ROW = 256;

/** Characters of entries after which a packed feed row is cut (see above). */
export const FEED_ROW_CHARS = 700;

/** First value of a version 5 packed feed row (a version 4 row starts with an entry list). */
const FEED_FORMAT = 1;
/** Entry code bits: the op (two bits), then which values follow the entry's key and version. */
const FEED_OPS = ['update', 'insert', 'delete'] as const;
const FEED_SEQ_STEP = 4;
const FEED_AT_STEP = 8;
const FEED_BUCKET = 16;
const FEED_ACTOR = 32;

/** Takes the history rows of a unit one at a time. `packed` is undefined for a row of one version. */
export type HistoryRowSink = (
  bucket: string,
  key: string,
  seq: number,
  version: number,
  op: string,
  at: number,
  actor: string | null,
  data: string | null,
  packed: string | undefined,
  firstAt: number,
  versions: number,
) => void;

/**
 * The history rows of a unit's queued versions, handed to `row` bucket by bucket (buckets in the
 * order of their first version): first its rows of one version, then its packed rows, records in
 * the order of their first version. Versions past a bucket's `maxVersions` are not written at
 * all. Returns the keys written per bucket. Rows are handed over as they are made, so that few
 * are alive at a time.
 *
 * Runs on the writer thread too (sqlite-writer.ts puts its source there): it uses nothing but
 * its arguments and HISTORY_VERSIONS_PER_ROW.
 */
export function historyRows(
  h: HistoryColumns,
  retention: CommitUnit['retention'],
  row: HistoryRowSink,
): Array<{ bucket: string; keys: string[] }> {
  const n = h.length;
  const record = h.record;
  // Each record's versions in queue order, record after record (counting sort). Plain arrays:
  // a typed array past 64 bytes costs an allocation outside the heap, much for a small unit.
  const count = new Array<number>(h.keys.length).fill(0);
  const byBucket = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const r = record[i]!;
    if (count[r]!++ > 0) continue;
    const bucket = h.buckets[r]!;
    const records = byBucket.get(bucket);
    if (records === undefined) byBucket.set(bucket, [r]);
    else records.push(r);
  }
  const first = new Array<number>(h.keys.length).fill(0);
  let end = 0;
  for (const records of byBucket.values())
    for (const r of records) {
      first[r] = end;
      end += count[r]!;
    }
  const next = first.slice();
  const versions = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) versions[next[record[i]!]!++] = i;
  const ops = ['update', 'insert', 'delete'];
  const actorJson = h.actors.map((a) => (a === null ? 'null' : JSON.stringify(a)));
  // `at` as text, once per distinct time: V8 converts a timestamp (not a small integer) anew
  // each time, the most costly part of a packed row's head otherwise.
  const atTexts = new Map<number, string>();
  const json = (v: number): string => h.chunks[h.chunk[v]!]!.slice(h.offset[v]!, h.offset[v]! + h.chars[v]!);
  // A small function with one loop: optimised within a unit (a loop of a large function that
  // runs once per unit mostly runs unoptimised, and boxes every number it touches).
  const pack = (bucket: string, key: string, start: number, stop: number): void => {
    // packed: [seq, version, op, at, actor, length of the JSON or -1] per version, oldest first
    const head = new Array<string>(stop - start);
    const data = new Array<string>(stop - start);
    for (let j = start; j < stop; j++) {
      const v = versions[j]!;
      const at = h.at[v]!;
      let atText = atTexts.get(at);
      if (atText === undefined) atTexts.set(at, (atText = `${at}`));
      // Joined at the end: one flat string (`+=` would keep a tree of pieces alive until the row is written).
      head[j - start] =
        `[${h.seq[v]},${h.version[v]},"${ops[h.op[v]!]}",${atText},${actorJson[h.actor[v]!]},${h.chars[v]}]`;
      data[j - start] = h.chars[v]! < 0 ? '' : json(v);
    }
    const last = versions[stop - 1]!;
    row(
      bucket,
      key,
      h.seq[last]!,
      h.version[last]!,
      ops[h.op[last]!]!,
      h.at[last]!,
      h.actors[h.actor[last]!]!,
      data.join(''),
      `[${head.join(',')}]`,
      h.at[versions[start]!]!,
      stop - start,
    );
  };
  const written: Array<{ bucket: string; keys: string[] }> = [];
  for (const [bucket, records] of byBucket) {
    const keep = retention?.find((x) => x.bucket === bucket)?.maxVersions;
    const from = (r: number) => first[r]! + (keep !== undefined && count[r]! > keep ? count[r]! - keep : 0);
    const keys = new Array<string>(records.length);
    for (let k = 0; k < records.length; k++) {
      const r = records[k]!;
      keys[k] = h.keys[r]!;
      if (first[r]! + count[r]! - from(r) !== 1) continue;
      const v = versions[from(r)]!;
      row(
        bucket,
        keys[k]!,
        h.seq[v]!,
        h.version[v]!,
        ops[h.op[v]!]!,
        h.at[v]!,
        h.actors[h.actor[v]!]!,
        h.chars[v]! < 0 ? null : json(v),
        undefined,
        h.at[v]!,
        1,
      );
    }
    for (const r of records) {
      const to = first[r]! + count[r]!;
      const start = from(r);
      if (to - start === 1) continue;
      for (let at = start; at < to; at += HISTORY_VERSIONS_PER_ROW)
        pack(bucket, h.keys[r]!, at, Math.min(to, at + HISTORY_VERSIONS_PER_ROW));
    }
    written.push({ bucket, keys });
  }
  return written;
}

/**
 * Feed rows of `feed[from..]` as flat values (the writer prefixes the store):
 * 7 per plain row (seq, bucket, key, op, version, at, actor), 8 per packed row (the same, then packed).
 */
export function feedRows(feed: readonly FeedWrite[], from: number): { plain: unknown[]; packed: unknown[] } {
  const plain: unknown[] = [];
  const packed: unknown[] = [];
  let bucketJson = '';
  let bucketOf: string | undefined;
  const bucketText = (b: string): string => {
    if (b !== bucketOf) {
      bucketOf = b;
      bucketJson = JSON.stringify(b);
    }
    return bucketJson;
  };
  for (let start = from; start < feed.length; ) {
    const first = feed[start]!;
    let seq = first.seq - 1;
    let at = first.at;
    let bucket = first.bucket;
    let actor = first.actor;
    let text = `[${FEED_FORMAT},${seq},${at},${bucketText(bucket)},${actor === null ? 'null' : JSON.stringify(actor)}`;
    const cut = text.length + FEED_ROW_CHARS;
    const end = Math.min(feed.length, start + FEED_ENTRIES_PER_ROW);
    let i = start;
    for (; i < end && text.length < cut; i++) {
      const f = feed[i]!;
      let code: number = f.op === 'update' ? 0 : f.op === 'insert' ? 1 : 2;
      let more = '';
      if (f.seq !== seq + 1) {
        code |= FEED_SEQ_STEP;
        more += `,${f.seq - seq}`;
      }
      if (f.at !== at) {
        code |= FEED_AT_STEP;
        more += `,${f.at - at}`;
      }
      if (f.bucket !== bucket) {
        code |= FEED_BUCKET;
        more += `,${bucketText(f.bucket)}`;
        bucket = f.bucket;
      }
      if (f.actor !== actor) {
        code |= FEED_ACTOR;
        more += `,${f.actor === null ? 'null' : JSON.stringify(f.actor)}`;
        actor = f.actor;
      }
      text += `,${code},${f.key},${f.version}${more}`;
      seq = f.seq;
      at = f.at;
    }
    const last = feed[i - 1]!;
    const row = [last.seq, last.bucket, last.key, last.op, last.version, last.at, last.actor];
    if (i - start === 1) plain.push(...row);
    else packed.push(...row, `${text}]`);
    start = i;
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

/** Feed entries with `seq > since` of stored rows (in seq order), oldest first, packed rows unpacked. */
export function readFeedRows(
  file: string,
  rows: Iterable<FeedWrite & { packed: string | null }>,
  since: number,
  limit: number,
): FeedWrite[] {
  const out: FeedWrite[] = [];
  if (!(limit > 0)) return out;
  for (const r of rows) {
    if (r.packed === null) {
      const { packed: _, ...row } = r;
      out.push(row);
    } else unpackFeed(file, r.seq, r.packed, since, limit, out);
    if (out.length >= limit) break;
  }
  return out;
}

/** The entries of a packed feed row with `seq > since` onto `out`, up to `limit` in all. */
function unpackFeed(
  file: string,
  rowSeq: number,
  text: string,
  since: number,
  limit: number,
  out: FeedWrite[],
) {
  const what = `change feed at seq ${rowSeq}`;
  const e = parsePacked(file, text, what);
  if (Array.isArray(e[0])) {
    // Version 4: a list of [seq, bucket, key, op, version, at, actor].
    for (const [seq, bucket, key, op, version, at, actor] of e as Array<
      [number, string, unknown, FeedWrite['op'], number, number, string | null]
    >)
      if (seq > since && out.length < limit)
        out.push({ seq, bucket, key: JSON.stringify(key), op, version, at, actor });
    return;
  }
  if (e[0] !== FEED_FORMAT) throw damagedRow(file, what, 'unknown layout');
  let seq = e[1] as number;
  let at = e[2] as number;
  let bucket = e[3] as string;
  let actor = e[4] as string | null;
  let i = 5;
  while (i < e.length) {
    const code = e[i] as number;
    const key = e[i + 1];
    const version = e[i + 2] as number;
    i += 3;
    seq += code & FEED_SEQ_STEP ? (e[i++] as number) : 1;
    if (code & FEED_AT_STEP) at += e[i++] as number;
    if (code & FEED_BUCKET) bucket = e[i++] as string;
    if (code & FEED_ACTOR) actor = e[i++] as string | null;
    const op = FEED_OPS[code & 3];
    if (i > e.length || op === undefined || typeof seq !== 'number' || typeof bucket !== 'string') break;
    if (seq > since && out.length < limit)
      out.push({ seq, bucket, key: JSON.stringify(key), op, version, at, actor });
  }
  // The newest entry is the row's: anything else means the text was changed.
  if (i !== e.length || seq !== rowSeq) throw damagedRow(file, what, 'its entries do not end at its seq');
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
  throw damagedRow(file, what, entries instanceof Error ? entries.message : 'not a list', bucket, entries);
}

function damagedRow(
  file: string,
  what: string,
  why: string,
  bucket?: string,
  cause?: unknown,
): StorageCorruptError {
  return new StorageCorruptError(
    file,
    `Stored ${what} in "${file}" is damaged (${why})`,
    undefined,
    cause instanceof Error ? cause : undefined,
    { bucket, lost: what },
  );
}
