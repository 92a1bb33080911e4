// Restores of large buckets read their rows on a second thread.
//
// A restore is reading rows from SQLite, checking each row's checksum,
// parsing its JSON and indexing the record. Reading and checking need
// nothing of the main thread, so for a bucket larger than one chunk a
// worker reads and checks the rows on a connection of its own while the
// main thread parses and indexes the chunks it has already. A chunk whose
// rows all pass their checksum comes as one JSON array text: one buffer
// passed between threads (transferred, not copied), cut into arrays of
// about 48 KiB that the main thread parses one at a time. SQLite joins the
// chunk's rows itself and each row's checksum is checked over its bytes in
// the joined buffer, so the worker makes no string per row (on two cores
// its time is taken from the main thread's garbage collection helpers).
//
// The worker is started when the adapter opens a file large enough to hold
// such a bucket, so that it has booted by the time defineBucket asks for
// rows; it serves the restores of every bucket, one at a time, and ends
// when it has been idle for a while or the adapter closes.
//
// The restore stays synchronous (it runs inside defineBucket): the main
// thread blocks on a shared counter (Atomics.wait) and takes each chunk with
// receiveMessageOnPort. While the worker starts the main thread reads on by
// itself, then hands the worker the position to go on from. A worker that
// cannot start, fails, dies or stops answering leaves the rest to the main
// thread, so a restore never depends on the thread.
import * as path from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/**
 * Rows of a bucket in `ord` order: their positions and either their JSON
 * texts (with the indexes whose checksum failed) or, when every row passed,
 * JSON array texts of them all (`texts`, holding `counts` rows each). The
 * last chunk of a bucket is empty; when the worker read it, it carries the
 * key index's row count (`indexed`) from the same snapshot.
 */
export interface RowChunk {
  readonly ords: ArrayLike<number>;
  readonly data?: readonly string[];
  readonly bad?: readonly number[] | undefined;
  readonly texts?: readonly string[];
  readonly counts?: readonly number[];
  readonly indexed?: number;
}

/** A chunk as the worker posts it: JSON array texts as UTF-8 bytes (a transferred buffer) and where each ends. */
interface PostedChunk extends RowChunk {
  readonly bytes?: ArrayBuffer;
  readonly ends?: readonly number[];
  readonly error?: { message: string; code?: string };
}

/**
 * The JSON array texts of a checked joined chunk (checkJoinedRows): one
 * string per piece, each small enough for V8's regular heap pages (a string
 * on large-object pages costs fresh pages, and their faults, every time).
 */
export function joinedTexts(bytes: Buffer, ends: readonly number[]): string[] {
  const texts = new Array<string>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    texts[i] = bytes.toString('utf8', start, ends[i]);
    start = ends[i]!;
  }
  return texts;
}

/**
 * A chunk of a bucket's rows as one query result row: their positions,
 * checksums and byte lengths (JSON arrays), how many of them are text, and
 * their texts joined as one JSON array (a BLOB: UTF-8 bytes), separated by
 * ', ' (two bytes: checkJoinedRows cuts the array in pieces there).
 * Parameters: bucket id, read the rows after this position, at most this many.
 */
export const JOINED_ROWS_SQL =
  "SELECT json_group_array(ord), json_group_array(crc), json_group_array(octet_length(data)), sum(typeof(data) = 'text'), " +
  "CAST('[' || group_concat(data, ', ') || ']' AS BLOB) " +
  'FROM (SELECT ord, data, crc FROM quire_records WHERE bucket_id = ? AND ord > ? ORDER BY ord LIMIT ?)';

/** A joined chunk is cut into JSON arrays of about this many bytes (a string below 128 KiB stays on V8's regular pages). */
export const JOINED_PIECE_BYTES = 48 * 1024;

/**
 * A JOINED_ROWS_SQL result, checked: each row is text, positions rise past
 * `after`, the lengths add up to the joined text, and each row's checksum
 * matches its bytes in it. Undefined when any of that fails, or there are
 * no rows: the caller reads the rows one by one (to say which is damaged).
 * The joined array is cut in place into arrays of about `pieceBytes` each
 * (a separator ', ' becomes '][') ending at `ends`, holding `counts` rows.
 * Self-contained: the reader thread runs its source text as well.
 */
export function checkJoinedRows(
  r: readonly unknown[] | undefined,
  after: number,
  crc32: (bytes: Uint8Array) => number,
  pieceBytes: number,
): { ords: Float64Array; bytes: Buffer; ends: number[]; counts: number[] } | undefined {
  if (r === undefined) return undefined;
  const ords = JSON.parse(r[0] as string) as number[];
  const n = ords.length;
  const bytes = r[4];
  if (n === 0 || r[3] !== n || !Buffer.isBuffer(bytes)) return undefined;
  const crcs = JSON.parse(r[1] as string) as unknown[];
  const lengths = JSON.parse(r[2] as string) as number[];
  const size = bytes.length;
  const ends: number[] = [];
  const counts: number[] = [];
  let at = 1; // past '['
  let start = 0; // of the current piece
  let rows = 0; // in the current piece
  let previous = after;
  for (let i = 0; i < n; i++) {
    const ord = ords[i]!;
    if (!(ord > previous)) return undefined;
    previous = ord;
    const end = at + lengths[i]!;
    if (!(end < size) || crcs[i] !== crc32(bytes.subarray(at, end))) return undefined;
    rows++;
    if (i === n - 1)
      at = end + 1; // past the closing ']'
    else {
      if (!(end + 1 < size) || bytes[end] !== 44 || bytes[end + 1] !== 32) return undefined; // ', '
      if (end + 1 - start >= pieceBytes) {
        bytes[end] = 93; // ']' ends this piece
        bytes[end + 1] = 91; // '[' starts the next
        ends.push(end + 1);
        counts.push(rows);
        start = end + 1;
        rows = 0;
      }
      at = end + 2;
    }
  }
  if (at !== size) return undefined;
  ends.push(size);
  counts.push(rows);
  return { ords: Float64Array.from(ords), bytes, ends, counts };
}

/** How many chunks the worker may read ahead of the main thread (bounds the memory held in messages). */
const READ_AHEAD = 8;
/** With no chunk for this long, the worker is taken as dead and the main thread reads on (ms). */
const STALL_MS = 15_000;
/** How long close() waits for the worker to close its connection (ms). */
const CLOSE_WAIT_MS = 5_000;

// Slots of the shared state.
const PHASE = 0; // 0 (starting) → READY (connection open, serving requests) | STOP; FAILED
const PRODUCED = 1; // chunks posted
const CONSUMED = 2; // chunks taken by the main thread
const CLOSED = 3; // 1 once the worker's connection is closed (or was never opened), or the worker ended
const REQUESTS = 4; // buckets asked for; the worker serves request n once this passes n - 1
const READY = 1;
const STOP = 3;
const FAILED = 4;

export interface RowReaderOptions {
  readonly file: string;
  readonly lib: string;
  /** better-sqlite3's compiled addon, when known: the worker loads it directly instead of searching for it. */
  readonly addon?: string | undefined;
  readonly chunkRows: number;
}

/** A worker reading buckets' rows, chunk by chunk, from the positions the main thread gives it. */
export class RowReaderThread {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #state = new Int32Array(new SharedArrayBuffer(20));
  /** The request: [bucket id, read the rows after this position]. */
  readonly #request = new Float64Array(new SharedArrayBuffer(16));
  #taken = 0;
  #requests = 0;
  /** A bucket is being read (go() was called and its last chunk not taken yet). */
  #busy = false;
  #done = false;

  readonly #onChunk: () => void;

  constructor(o: RowReaderOptions, onChunk: () => void) {
    this.#onChunk = onChunk;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new Worker(READER_SOURCE, {
      eval: true,
      workerData: {
        ...o,
        file: path.resolve(o.file),
        port: port2,
        state: this.#state,
        request: this.#request,
        readAhead: READ_AHEAD,
        pieceBytes: JOINED_PIECE_BYTES,
      },
      transferList: [port2],
      // Plain CommonJS: no loaders of the main thread (they would only slow its start).
      execArgv: [],
    });
    this.#worker.unref();
    // Errors surface through the shared state (FAILED, CLOSED) or a stall; the event loop may not run meanwhile.
    this.#worker.on('error', () => {});
  }

  /** True while the worker's connection is open and it waits for a bucket to read. */
  get ready(): boolean {
    return !this.#done && !this.#busy && Atomics.load(this.#state, PHASE) === READY;
  }

  /** True when the worker could not open the file, or ended: the main thread goes on alone. */
  get failed(): boolean {
    return (
      this.#done || Atomics.load(this.#state, PHASE) === FAILED || Atomics.load(this.#state, CLOSED) === 1
    );
  }

  /** Start reading the rows of bucket `bucketId` after `ord` (only when `ready`). */
  go(bucketId: number, ord: number): void {
    this.#request[0] = bucketId;
    this.#request[1] = ord;
    this.#busy = true;
    Atomics.store(this.#state, REQUESTS, ++this.#requests);
    Atomics.notify(this.#state, REQUESTS);
  }

  /**
   * The next chunk of the bucket asked for (an empty one at its end),
   * blocking until the worker has it. Throws what the read failed with;
   * returns undefined when the worker failed, ended or stalled (the caller
   * reads on from its last position; the thread is closed then).
   */
  next(): RowChunk | undefined {
    if (this.#done || !this.#busy) return undefined;
    let waitedSince = 0;
    for (;;) {
      const produced = Atomics.load(this.#state, PRODUCED);
      const m = receiveMessageOnPort(this.#port)?.message as PostedChunk | undefined;
      if (m !== undefined) {
        Atomics.store(this.#state, CONSUMED, ++this.#taken);
        Atomics.notify(this.#state, CONSUMED);
        if (m.error !== undefined) {
          this.close();
          throw Object.assign(new Error(m.error.message), { code: m.error.code });
        }
        if (m.ords.length === 0) this.#busy = false;
        else this.#onChunk();
        if (m.bytes !== undefined && m.ends !== undefined)
          return { ords: m.ords, texts: joinedTexts(Buffer.from(m.bytes), m.ends), counts: m.counts! };
        return m;
      }
      // Checked after the port: a chunk posted before the worker ended is still taken.
      if (this.failed) {
        this.close();
        return undefined;
      }
      const now = Date.now();
      if (waitedSince === 0) waitedSince = now;
      else if (now - waitedSince > STALL_MS) {
        this.close();
        return undefined;
      }
      Atomics.wait(this.#state, PRODUCED, produced, 100);
    }
  }

  /**
   * Stop the worker and end it, once it has closed its connection (waited
   * for, briefly: a store stopped right after a restore must be the last
   * connection, so that SQLite removes the WAL).
   */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    Atomics.store(this.#state, PHASE, STOP);
    Atomics.notify(this.#state, PHASE);
    Atomics.notify(this.#state, CONSUMED);
    Atomics.notify(this.#state, REQUESTS);
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while (Atomics.load(this.#state, CLOSED) === 0 && Date.now() < deadline)
      Atomics.wait(this.#state, CLOSED, 0, Math.max(1, deadline - Date.now()));
    this.#port.close();
    void this.#worker.terminate();
  }
}

/**
 * The worker's program. Each bucket asked for is read in one read
 * transaction (one snapshot), its rows' checksums checked, and each chunk
 * posted as positions (a transferred Float64Array) with one JSON array text
 * of its rows as UTF-8 bytes (a transferred buffer). SQLite joins the rows
 * (one query per chunk, which also lists each row's position, checksum and
 * byte length); the checksum of each row is taken over its bytes in the
 * joined text. A chunk that does not check out that way (a checksum fails,
 * a row is not text, the lengths do not add up) is read again row by row in
 * the same transaction and posted as before: the texts, and the indexes
 * whose checksum failed.
 */
const READER_SOURCE = `
  'use strict';
  const { workerData: o } = require('node:worker_threads');
  const zlib = require('node:zlib');
  const state = o.state;
  const errorOf = (e) => ({ message: String((e && e.message) || e), code: typeof (e && e.code) === 'string' ? e.code : undefined });
  let db;
  const closeDb = () => {
    try { db && db.close(); } catch {}
    db = undefined;
    Atomics.store(state, ${CLOSED}, 1);
    Atomics.notify(state, ${CLOSED});
    Atomics.notify(state, ${PRODUCED});
  };
  // Ending by process.exit() or an uncaught error: the main thread must not wait for chunks.
  process.on('exit', closeDb);
  try {
    const Database = require(o.lib);
    const options = { readonly: true, fileMustExist: true };
    // The addon by its path: better-sqlite3 would otherwise search for it, on every start.
    if (o.addon) options.nativeBinding = o.addon;
    db = new Database(o.file, options);
  } catch {
    // compareExchange: a STOP the main thread set meanwhile stays.
    Atomics.compareExchange(state, ${PHASE}, 0, ${FAILED});
    Atomics.notify(state, ${PHASE});
  }
  const post = (m, transfer) => {
    o.port.postMessage(m, transfer);
    Atomics.add(state, ${PRODUCED}, 1);
    Atomics.notify(state, ${PRODUCED});
  };
  // TEST ONLY (test/persistence/reader-thread.test.ts): QUIRE_TEST_READER_THREAD_EXIT=n ends the
  // thread the way a crash would (process.exit), after it has posted n chunks.
  const exitAfter = Number(process.env.QUIRE_TEST_READER_THREAD_EXIT || 0);
  const stopped = () => Atomics.load(state, ${PHASE}) === ${STOP};
  if (db !== undefined && Atomics.compareExchange(state, ${PHASE}, 0, ${READY}) === 0) {
    Atomics.notify(state, ${PHASE});
    let scan;
    let joinedScan;
    let countRows;
    let served = 0;
    let sent = 0;
    const checkJoinedRows = ${checkJoinedRows.toString()};
    const crc32 = zlib.crc32;
    for (;;) {
      while (!stopped() && Atomics.load(state, ${REQUESTS}) === served) Atomics.wait(state, ${REQUESTS}, served);
      if (stopped()) break;
      served++;
      const bucketId = o.request[0];
      let after = o.request[1];
      try {
        // Prepared at the first request: the main thread may still be upgrading the schema before.
        scan ??= db
          .prepare('SELECT ord, data, crc FROM quire_records WHERE bucket_id = ? AND ord > ? ORDER BY ord LIMIT ?')
          .raw();
        joinedScan ??= db.prepare(${JSON.stringify(JOINED_ROWS_SQL)}).raw();
        countRows ??= db
          .prepare('SELECT count(*) FROM quire_records INDEXED BY quire_records_key WHERE bucket_id = ?')
          .pluck();
        db.exec('BEGIN');
        for (;;) {
          for (;;) {
            const taken = Atomics.load(state, ${CONSUMED});
            if (sent - taken < o.readAhead || stopped()) break;
            Atomics.wait(state, ${CONSUMED}, taken, 100);
          }
          if (stopped()) break;
          const joined = checkJoinedRows(joinedScan.get(bucketId, after, o.chunkRows), after, crc32, o.pieceBytes);
          if (joined !== undefined) {
            const { ords, bytes, ends, counts } = joined;
            after = ords[ords.length - 1]; // before the transfer detaches ords
            // A buffer of its own is transferred; one sharing memory is copied first.
            const own = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : Buffer.from(bytes);
            post({ ords, bytes: own.buffer, ends, counts }, [ords.buffer, own.buffer]);
            sent++;
            if (exitAfter > 0 && sent >= exitAfter) process.exit(70);
            continue;
          }
          const rows = scan.all(bucketId, after, o.chunkRows);
          const n = rows.length;
          const ords = new Float64Array(n);
          const data = new Array(n);
          let bad;
          for (let i = 0; i < n; i++) {
            const r = rows[i];
            ords[i] = r[0];
            data[i] = r[1];
            if (r[2] !== zlib.crc32(r[1])) (bad || (bad = [])).push(i);
          }
          if (n > 0) after = ords[n - 1]; // before the transfer detaches ords
          if (n === 0) post({ ords, indexed: countRows.get(bucketId) }, [ords.buffer]);
          else if (bad === undefined) post({ ords, texts: ['[' + data.join(',') + ']'], counts: [n] }, [ords.buffer]);
          else post({ ords, data, bad }, [ords.buffer]);
          sent++;
          if (exitAfter > 0 && sent >= exitAfter) process.exit(70);
          if (n === 0) break;
        }
        db.exec('COMMIT');
      } catch (e) {
        try { if (db.inTransaction) db.exec('ROLLBACK'); } catch {}
        post({ error: errorOf(e) });
        sent++;
        break;
      }
    }
  }
  closeDb();
`;
