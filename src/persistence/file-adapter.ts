// FileAdapter: a directory holding, per store, an atomic snapshot plus a
// checksummed append-only journal (P-3).
//
//   <store>.journal   frames: [u32 length][u32 crc32][JSON commit unit], each
//                     commit appended and fdatasync'ed before it is acknowledged
//   <store>.snapshot  the whole store, NDJSON: a header line, one line per
//                     record (`["bucket","key"]\t<record JSON>`), an end line;
//                     written to a temp file, fsync'ed, renamed, directory fsync'ed
//   <store>.lock      single-writer lock (pid, host)
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
import { ReadOnlyStorageError, StorageCorruptionError, StorageError, toStorageError } from './errors.js';
import { WriterLock } from './lock.js';
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
    this.dir = dir;
    this.readOnly = options.readOnly === true;
    this.#compactAfter = compact;
  }

  #files(store: string) {
    const base = path.join(this.dir, encodeURIComponent(store));
    return { base, snapshot: `${base}.snapshot`, journal: `${base}.journal`, lock: `${base}.lock` };
  }

  open(store: string, context: AdapterContext): { lastSeq: number } {
    const existing = this.#stores.get(store);
    if (existing !== undefined) return { lastSeq: existing.lastSeq };
    const files = this.#files(store);
    let lock: WriterLock | undefined;
    try {
      if (!this.readOnly) {
        fs.mkdirSync(this.dir, { recursive: true });
        lock = new WriterLock(files.lock);
        lock.acquire(files.base);
      }
      const s: FileStore = {
        name: store,
        base: files.base,
        lastSeq: 0,
        buckets: new Map(),
        log: newStoredLog(),
        fd: undefined,
        journalSize: 0,
        lock,
        context,
      };
      this.#readSnapshot(s, files.snapshot);
      this.#replayJournal(s, files.journal);
      if (!this.readOnly) {
        s.fd = fs.openSync(files.journal, 'a');
        fsyncDir(this.dir);
      }
      this.#stores.set(store, s);
      return { lastSeq: s.lastSeq };
    } catch (e) {
      lock?.release();
      throw toStorageError('open', e, files.base);
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
      // An atomically written snapshot is damaged only by outside causes. Keep it aside, report, go on.
      s.buckets = new Map();
      s.log = newStoredLog();
      const aside = `${file}.corrupt-${Date.now()}`;
      if (!this.readOnly) fs.renameSync(file, aside);
      s.context.onError(
        new StorageCorruptionError(
          file,
          `Snapshot "${file}" is unreadable (${(e as Error).message}); ${this.readOnly ? 'ignored' : `moved to "${aside}"`}, continuing from the journal`,
          undefined,
          e,
        ),
      );
    }
  }

  #replayJournal(s: FileStore, file: string): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    let pos = 0;
    let problem: string | undefined;
    while (pos < buf.length) {
      if (buf.length - pos < FRAME_HEADER) {
        problem = 'incomplete frame header';
        break;
      }
      const len = buf.readUInt32BE(pos);
      const sum = buf.readUInt32BE(pos + 4);
      if (len === 0 || len > MAX_FRAME) {
        problem = `invalid frame length ${len}`;
        break;
      }
      if (pos + FRAME_HEADER + len > buf.length) {
        problem = `frame of ${len} bytes is cut short`;
        break;
      }
      const payload = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len);
      if (crc32(payload) !== sum) {
        problem = 'checksum mismatch';
        break;
      }
      let unit: CommitUnit;
      try {
        unit = JSON.parse(payload.toString('utf8')) as CommitUnit;
      } catch {
        problem = 'unparsable frame';
        break;
      }
      if (unit.lastSeq > s.lastSeq) applyUnit(s, unit);
      pos += FRAME_HEADER + len;
    }
    s.journalSize = pos;
    if (problem !== undefined) {
      const cut = buf.length - pos;
      if (!this.readOnly) fs.truncateSync(file, pos);
      s.context.onError(
        new StorageCorruptionError(
          file,
          `Journal "${file}" has a torn or corrupt tail at byte ${pos} (${problem}); ${cut} bytes ${this.readOnly ? 'ignored' : 'cut off'}. Commits before it are intact.`,
          pos,
        ),
      );
    }
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
      let off = 0;
      while (off < frame.length) off += fs.writeSync(s.fd, frame, off, frame.length - off);
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
    if (this.#compactAfter > 0 && s.journalSize > this.#compactAfter) {
      try {
        this.#compact(s);
      } catch (e) {
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

  #compact(s: FileStore): void {
    const file = `${s.base}.snapshot`;
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      const chunks: string[] = [];
      let size = 0;
      const out = (text: string) => {
        chunks.push(text);
        size += text.length;
        if (size > 1 << 20) flush();
      };
      const flush = () => {
        if (chunks.length === 0) return;
        fs.writeSync(fd, chunks.join(''));
        chunks.length = 0;
        size = 0;
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
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(this.dir);
    if (s.fd !== undefined) {
      fs.ftruncateSync(s.fd, 0);
      fs.fsyncSync(s.fd);
    }
    s.journalSize = 0;
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
    fs.mkdirSync(path.join(this.dir, 'kv'), { recursive: true });
    writeAtomic(this.#kvFile(key), JSON.stringify(data));
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

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some platforms cannot fsync a directory */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}
