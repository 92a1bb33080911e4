// FileAdapter: a directory holding, per store, an atomic snapshot plus a
// checksummed append-only journal (P-3).
//
//   <store>.journal   frames: [u32 length][u32 crc32][JSON commit unit], each
//                     commit appended and fdatasync'ed before it is acknowledged
//   <store>.snapshot  the whole store, NDJSON: a header line, one line per
//                     record (`["bucket","key"]\t<record JSON>`), an end line;
//                     written to a temp file, fsync'ed, renamed, directory fsync'ed
//   <store>.lock      single-writer lock: holder (pid, host) + <store>.lock.os (OS lock)
//   kv/               noex snapshot keys (backups), one atomically written file each
//
// On open the snapshot is read and the journal replayed (units already in
// the snapshot are skipped, by sequence number). A torn or corrupt journal
// tail (a crash mid-append) is cut off and reported through onError; it is
// never a reason to refuse to start. When the journal outgrows
// `compactAfterBytes` a new snapshot is written and the journal emptied.
// The adapter keeps the stored records (as JSON strings) in memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { HistoryFilter } from '../engine/index.js';
import { InvalidArgumentError } from '../engine/index.js';
import { bucketKey, parseBucketKey, snapshotView } from './codec.js';
import {
  JournalDamagedError,
  ReadOnlyStorageError,
  type SkippedJournalRange,
  StorageCorruptionError,
  StorageError,
  StorageUnavailableError,
  toStorageError,
} from './errors.js';
import { fsyncDir, replaceFileDurably, writeFully } from './fsio.js';
import { WriterLock } from './lock.js';
import {
  applyUnit,
  bucketFromImage,
  newStoredLog,
  readStoredChanges,
  readStoredHistory,
  type StoreImage,
} from './log.js';
import { ensureDir, type OwnFiles } from './own-files.js';
import type {
  AdapterContext,
  CommitUnit,
  FeedWrite,
  HistoryWrite,
  IncrementalAdapter,
  PersistedState,
  StoredBucket,
  StoredDefinition,
} from './types.js';

export interface FileAdapterOptions {
  /** Open read-only: no lock, no repairs, writes fail with ReadOnlyStorageError. */
  readonly readOnly?: boolean;
  /** Journal size after which a new snapshot is written and the journal emptied. Default 4 MiB. */
  readonly compactAfterBytes?: number;
}

/** The image (history and feed as snapshot lines `H\t<row>` and `F\t<row>`) plus the journal. */
interface FileStore extends StoreImage {
  readonly name: string;
  readonly base: string;
  fd: number | undefined;
  journalSize: number;
  /** After a failed compaction: the journal size at which to try again. */
  compactRetryAt: number;
  lock: WriterLock | undefined;
  context: AdapterContext;
}

const FRAME_HEADER = 8;
const MAX_FRAME = 1 << 30;
const crc32: (data: Uint8Array) => number = (zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32;

export class FileAdapter implements IncrementalAdapter {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly #compactAfter: number;
  readonly #stores = new Map<string, FileStore>();

  constructor(dir: string, options: FileAdapterOptions = {}) {
    if (typeof dir !== 'string' || dir === '')
      throw new InvalidArgumentError('FileAdapter', 'dir', 'expected a non-empty directory path');
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('FileAdapter', 'options', 'expected {readOnly?, compactAfterBytes?}');
    const compact = options.compactAfterBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(compact) || compact < 0)
      throw new InvalidArgumentError(
        'FileAdapter',
        'compactAfterBytes',
        `expected an integer >= 0, got ${String(compact)}`,
      );
    // Resolved by the kernel when it exists: path.join would fold `/proc/self/cwd/..` as text.
    let real = dir;
    try {
      real = fs.realpathSync.native(dir);
    } catch {
      /* made on open */
    }
    this.dir = real;
    this.readOnly = options.readOnly === true;
    this.#compactAfter = compact;
  }

  #files(store: string) {
    const base = path.join(this.dir, encodeURIComponent(store));
    return { base, snapshot: `${base}.snapshot`, journal: `${base}.journal` };
  }

  open(store: string, context: AdapterContext): { lastSeq: number } {
    const existing = this.#stores.get(store);
    if (existing !== undefined) return { lastSeq: existing.lastSeq };
    const files = this.#files(store);
    // Nothing stored yet: failing to create storage now is retried later; failing to read data is fatal.
    const absent = !fs.existsSync(files.snapshot) && !fs.existsSync(files.journal);
    let lock: WriterLock | undefined;
    try {
      if (!this.readOnly) {
        ensureDir(this.dir);
        lock = new WriterLock(files.base);
        lock.acquire();
      }
      const s: FileStore = {
        name: store,
        base: files.base,
        lastSeq: 0,
        buckets: new Map(),
        log: newStoredLog(),
        fd: undefined,
        journalSize: 0,
        compactRetryAt: 0,
        lock,
        context,
      };
      this.#readSnapshot(s, files.snapshot);
      const { rewrite } = this.#replayJournal(s, files.journal);
      if (!this.readOnly) {
        // A snapshot half written when the previous process died: never renamed, so never used.
        fs.rmSync(`${files.snapshot}.tmp`, { force: true });
        s.fd = fs.openSync(files.journal, 'a');
        fsyncDir(this.dir);
        if (rewrite) {
          // Damage inside the journal: write what was recovered as a new snapshot and empty the
          // journal, so the damaged bytes are not met again. If that fails the journal stays as it
          // is (the next open skips the same damage) and new frames are appended after it.
          try {
            this.#compact(s);
          } catch (e) {
            s.context.onError(toStorageError('compact', e, files.snapshot));
          }
        }
      }
      this.#stores.set(store, s);
      return { lastSeq: s.lastSeq };
    } catch (e) {
      lock?.release();
      const err = toStorageError('open', e, files.base);
      if (absent && err.code === 'STORAGE_ERROR')
        throw new StorageUnavailableError('open', `${err.message} (nothing is stored there yet)`, {
          path: files.base,
          cause: e,
        });
      throw err;
    }
  }

  #readSnapshot(s: FileStore, file: string): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      let pos = 0;
      const line = (): string | undefined => {
        if (pos >= buf.length) return undefined;
        let end = buf.indexOf(10, pos);
        if (end < 0) end = buf.length;
        const l = buf.toString('utf8', pos, end);
        pos = end + 1;
        return l;
      };
      const header = JSON.parse(line() ?? '') as {
        format: string;
        lastSeq: number;
        buckets: Array<{ name: string; definition?: StoredDefinition; autoincrement: number }>;
      };
      if (header.format !== 'quire-snapshot') throw new Error('not a Quire snapshot');
      const log = newStoredLog();
      let logRows = 0;
      for (const b of header.buckets)
        s.buckets.set(b.name, {
          definition: b.definition,
          autoincrement: b.autoincrement,
          records: new Map(),
        });
      let count = 0;
      for (let l = line(); l !== undefined; l = line()) {
        const tab = l.indexOf('\t');
        if (tab < 0) {
          const end = JSON.parse(l) as { end: number; log?: number };
          if (end.end !== count) throw new Error(`expected ${end.end} records, found ${count}`);
          if ((end.log ?? 0) !== logRows) throw new Error(`expected ${end.log} log rows, found ${logRows}`);
          s.lastSeq = header.lastSeq;
          s.log = log;
          return;
        }
        if (tab === 1 && (l[0] === 'H' || l[0] === 'F')) {
          const row = JSON.parse(l.slice(2));
          if (l[0] === 'H') log.addHistory(row as HistoryWrite);
          else log.addFeed(row as FeedWrite);
          logRows++;
          continue;
        }
        const [bucket, key] = JSON.parse(l.slice(0, tab)) as [string, string];
        s.buckets.get(bucket)!.records.set(key, l.slice(tab + 1));
        count++;
      }
      throw new Error('snapshot has no end line');
    } catch (e) {
      // An atomically written snapshot is damaged only by outside causes. Starting from the journal
      // alone would lose every record the snapshot holds: refuse, and leave the file as it is.
      throw new StorageCorruptionError(
        file,
        `Snapshot "${file}" is unreadable (${(e as Error).message}); the store did not start and nothing was changed. Restore a backup or repair the snapshot`,
        undefined,
        e,
        { lost: 'every record in the snapshot' },
      );
    }
  }

  /**
   * Replay the journal. A frame that fails its checks does not end the
   * replay: the scan resynchronises on the next valid frame (length,
   * checksum and JSON all intact) and goes on, so one damaged frame costs
   * that frame only. Damage that runs to the end of the file is a torn tail
   * (a crash mid-append) and is cut off. Anything cut or skipped is kept in
   * a copy of the journal and reported with its byte range and, when the
   * damaged frame can still be read, the records it wrote. Returns whether
   * the journal should be rewritten (damage before its end).
   */
  #replayJournal(s: FileStore, file: string): { rewrite: boolean } {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rewrite: false };
      throw e;
    }
    const skipped: SkippedJournalRange[] = [];
    let recovered = 0;
    let pos = 0;
    let end = buf.length; // where the journal's last valid frame ends
    while (pos < buf.length) {
      const frame = readFrame(buf, pos);
      if (frame.unit !== undefined) {
        if (skipped.length > 0) recovered++;
        if (frame.unit.lastSeq > s.lastSeq) applyUnit(s, frame.unit);
        pos = frame.next;
        continue;
      }
      let next = pos + 1;
      while (next < buf.length && readFrame(buf, next).unit === undefined) next++;
      skipped.push({
        from: pos,
        to: next,
        reason: frame.problem,
        frames: frame.lengthIntact && frame.next === next ? 1 : undefined,
        records: frame.lengthIntact ? recordsOf(buf.subarray(pos + FRAME_HEADER, frame.next)) : [],
      });
      if (next >= buf.length) end = pos;
      pos = next;
    }
    s.journalSize = end;
    if (skipped.length === 0) return { rewrite: false };
    const tail = end < buf.length;
    const middle = skipped.length - (tail ? 1 : 0);
    let copy: string | undefined;
    let copyFailed: string | undefined;
    if (!this.readOnly) {
      try {
        copy = `${file}.corrupt-${Date.now()}`;
        replaceFileDurably(copy, (write) => write(buf));
        if (tail) fs.truncateSync(file, end);
      } catch (e) {
        // No room for the copy (full disk …): cut nothing, rewrite nothing; still start. A torn
        // tail (never acknowledged) is cut by the next append.
        copy = undefined;
        copyFailed = (e as Error).message;
      }
    }
    const ranges = skipped.map((r) => {
      const what =
        r.frames === 1
          ? '1 frame'
          : r === skipped.at(-1) && tail
            ? 'an incomplete frame'
            : 'frames of unknown number';
      const keys =
        r.records.length === 0
          ? ''
          : `, records ${r.records
              .slice(0, 20)
              .map((w) => `${w.bucket}/${w.key} (${w.op})`)
              .join(', ')}${r.records.length > 20 ? ` and ${r.records.length - 20} more` : ''}`;
      return `bytes ${r.from}-${r.to} (${r.reason}; ${what}${keys})`;
    });
    const kept = this.readOnly
      ? 'nothing changed (read-only)'
      : copy === undefined
        ? `no copy could be kept (${copyFailed}), so the journal file was left as it is`
        : `the journal as it was is kept in "${copy}"`;
    const message =
      middle === 0
        ? `Journal "${file}" has a torn or corrupt tail at byte ${end}: ${ranges[0]} ${copy === undefined ? 'ignored' : 'cut off'}; every frame before it was applied; ${kept}`
        : `Journal "${file}" has ${skipped.length} damaged range(s), skipped: ${ranges.join('; ')}. ${recovered} valid frame(s) after the damage were recovered and applied; ${kept}`;
    s.context.onError(new JournalDamagedError(file, message, skipped, recovered, copy));
    return { rewrite: middle > 0 && copy !== undefined };
  }

  #require(store: string): FileStore {
    const s = this.#stores.get(store);
    if (s === undefined)
      throw new StorageError('commit', `Store "${store}" is not open in FileAdapter "${this.dir}"`, {
        path: this.dir,
      });
    return s;
  }

  loadBucket(store: string, bucket: string): StoredBucket | undefined {
    return bucketFromImage(this.#require(store).buckets.get(bucket));
  }

  listBuckets(store: string): string[] {
    return [...this.#require(store).buckets.keys()];
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

  commit(store: string, unit: CommitUnit): void {
    if (this.readOnly) throw new ReadOnlyStorageError(this.dir);
    const s = this.#require(store);
    const file = `${s.base}.journal`;
    try {
      if (s.fd === undefined) s.fd = fs.openSync(file, 'a');
      // A previous failed append may have left bytes behind: cut back to the last good frame.
      if (fs.fstatSync(s.fd).size !== s.journalSize) fs.ftruncateSync(s.fd, s.journalSize);
      const payload = Buffer.from(JSON.stringify(unit), 'utf8');
      const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
      frame.writeUInt32BE(payload.length, 0);
      frame.writeUInt32BE(crc32(payload), 4);
      payload.copy(frame, FRAME_HEADER);
      writeFully(s.fd, frame);
      fs.fdatasyncSync(s.fd);
      s.journalSize += frame.length;
    } catch (e) {
      try {
        if (s.fd !== undefined) fs.ftruncateSync(s.fd, s.journalSize);
      } catch {
        /* retried before the next append */
      }
      throw toStorageError('commit', e, file);
    }
    applyUnit(s, unit);
    if (this.#compactAfter > 0 && s.journalSize > Math.max(this.#compactAfter, s.compactRetryAt)) {
      try {
        this.#compact(s);
      } catch (e) {
        // The journal still holds everything. Try again once it has grown by half the threshold
        // (not on every commit: a full disk would make each commit write a doomed snapshot).
        s.compactRetryAt = s.journalSize + Math.ceil(this.#compactAfter / 2);
        s.context.onError(toStorageError('compact', e, `${s.base}.snapshot`));
      }
    }
  }

  /** Write a snapshot of every open store and empty their journals. */
  checkpoint(): void {
    if (this.readOnly) return;
    for (const s of this.#stores.values()) {
      try {
        this.#compact(s);
      } catch (e) {
        throw toStorageError('checkpoint', e, `${s.base}.snapshot`);
      }
    }
  }

  /**
   * Write a new snapshot, then empty the journal. The snapshot goes to a
   * temporary file (every byte written, fsync'ed), is renamed into place and
   * the directory fsync'ed; only then is the journal emptied. A failure at
   * any step (full disk, I/O error) leaves the previous snapshot and the
   * journal untouched, so everything acknowledged is still readable.
   */
  #compact(s: FileStore): void {
    replaceFileDurably(`${s.base}.snapshot`, (write) => {
      const chunks: string[] = [];
      let size = 0;
      const flush = () => {
        if (chunks.length === 0) return;
        write(chunks.join(''));
        chunks.length = 0;
        size = 0;
      };
      const out = (text: string) => {
        chunks.push(text);
        size += text.length;
        if (size > 1 << 20) flush();
      };
      const buckets = [...s.buckets].map(([name, b]) => ({
        name,
        definition: b.definition,
        autoincrement: b.autoincrement,
      }));
      out(`${JSON.stringify({ format: 'quire-snapshot', version: 2, lastSeq: s.lastSeq, buckets })}\n`);
      let count = 0;
      for (const [name, b] of s.buckets) {
        for (const [key, data] of b.records) {
          out(`${JSON.stringify([name, key])}\t${data}\n`);
          count++;
        }
      }
      let logRows = 0;
      for (const row of s.log.historyRows()) {
        out(`H\t${JSON.stringify(row)}\n`);
        logRows++;
      }
      for (const row of s.log.feedRows()) {
        out(`F\t${JSON.stringify(row)}\n`);
        logRows++;
      }
      out(`${JSON.stringify({ end: count, log: logRows })}\n`);
      flush();
    });
    // The snapshot now holds every unit in the journal (replay skips them by seq): safe to empty it.
    if (s.fd !== undefined) {
      fs.ftruncateSync(s.fd, 0);
      fs.fsyncSync(s.fd);
    }
    s.journalSize = 0;
    s.compactRetryAt = 0;
  }

  ownFiles(store: string): OwnFiles {
    const f = this.#files(store);
    // Every entry of the directory (snapshots, journals, locks and their temporary files) and of kv/.
    return {
      files: [f.snapshot, f.journal, `${f.base}.lock`, `${f.base}.lock.os`],
      dirs: [this.dir, path.join(this.dir, 'kv')],
    };
  }

  close(store: string): void {
    const s = this.#stores.get(store);
    if (s === undefined) return;
    this.#stores.delete(store);
    try {
      if (s.fd !== undefined) fs.closeSync(s.fd);
    } finally {
      s.lock?.release();
    }
  }

  // ── noex snapshot shape ──

  #kvFile(key: string): string {
    return path.join(this.dir, 'kv', `${encodeURIComponent(key)}.json`);
  }

  async save(key: string, data: PersistedState): Promise<void> {
    if (this.readOnly) throw new ReadOnlyStorageError(this.dir);
    const file = this.#kvFile(key);
    try {
      fs.mkdirSync(path.join(this.dir, 'kv'), { recursive: true });
      replaceFileDurably(file, (write) => write(JSON.stringify(data)));
    } catch (e) {
      throw toStorageError('save', e, file);
    }
  }

  async load<T = unknown>(key: string): Promise<PersistedState<T> | undefined> {
    try {
      return JSON.parse(fs.readFileSync(this.#kvFile(key), 'utf8')) as PersistedState<T>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toStorageError('load', e, this.#kvFile(key));
    }
    const bk = parseBucketKey(key);
    if (bk === undefined || !this.#stores.has(bk.store)) return undefined;
    return snapshotView(bk.store, this.loadBucket(bk.store, bk.bucket)) as PersistedState<T> | undefined;
  }

  async delete(key: string): Promise<boolean> {
    if (this.readOnly) throw new ReadOnlyStorageError(this.dir);
    try {
      fs.unlinkSync(this.#kvFile(key));
      return true;
    } catch {
      return false;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.load(key)) !== undefined;
  }

  async listKeys(prefix = ''): Promise<string[]> {
    const keys = new Set<string>();
    try {
      for (const f of fs.readdirSync(path.join(this.dir, 'kv')))
        if (f.endsWith('.json')) keys.add(decodeURIComponent(f.slice(0, -5)));
    } catch {
      /* no kv directory yet */
    }
    for (const [store, s] of this.#stores) for (const b of s.buckets.keys()) keys.add(bucketKey(store, b));
    return [...keys].filter((k) => k.startsWith(prefix)).sort();
  }
}

type FrameRead =
  | { unit: CommitUnit; next: number }
  | { unit?: undefined; problem: string; lengthIntact: boolean; next: number };

/** Read the frame at `pos`: its unit when length, checksum and JSON are all intact. */
function readFrame(buf: Buffer, pos: number): FrameRead {
  if (buf.length - pos < FRAME_HEADER)
    return { problem: 'incomplete frame header', lengthIntact: false, next: buf.length };
  const len = buf.readUInt32BE(pos);
  if (len < 2 || len > MAX_FRAME)
    return { problem: `invalid frame length ${len}`, lengthIntact: false, next: pos + 1 };
  const next = pos + FRAME_HEADER + len;
  if (next > buf.length)
    return { problem: `frame of ${len} bytes is cut short`, lengthIntact: false, next: buf.length };
  // A unit is a JSON object: a cheap test that rejects most positions while resynchronising.
  if (buf[pos + FRAME_HEADER] !== 0x7b || buf[next - 1] !== 0x7d)
    return { problem: 'not a JSON frame', lengthIntact: true, next };
  const payload = buf.subarray(pos + FRAME_HEADER, next);
  if (crc32(payload) !== buf.readUInt32BE(pos + 4))
    return { problem: 'checksum mismatch', lengthIntact: true, next };
  try {
    const unit = JSON.parse(payload.toString('utf8')) as CommitUnit;
    if (typeof unit?.lastSeq === 'number' && Array.isArray(unit.records) && Array.isArray(unit.buckets))
      return { unit, next };
  } catch {
    /* below */
  }
  return { problem: 'unparsable frame', lengthIntact: true, next };
}

/** The records a damaged frame wrote, when its payload still parses (best effort). */
function recordsOf(payload: Buffer): SkippedJournalRange['records'] {
  try {
    const unit = JSON.parse(payload.toString('utf8')) as CommitUnit;
    return unit.records.map((w) => ({ bucket: String(w.bucket), key: String(w.key), op: String(w.op) }));
  } catch {
    return [];
  }
}
