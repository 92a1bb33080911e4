// Restores of large buckets read their rows on a second thread.
//
// A restore is reading rows from SQLite, checking each row's checksum,
// parsing its JSON and indexing the record. Reading and checking take about
// 40% of it and need nothing of the main thread, so for a bucket larger
// than one chunk a worker reads and checks the rows on a connection of its
// own while the main thread parses and indexes the chunks it has already.
//
// The restore stays synchronous (it runs inside defineBucket): the main
// thread blocks on a shared counter (Atomics.wait) and takes each chunk with
// receiveMessageOnPort. While the worker starts (tens of milliseconds) the
// main thread reads on by itself, then hands the worker the position to go
// on from. A worker that cannot start, fails or stops answering leaves the
// rest to the main thread, so a restore never depends on the thread.
import * as path from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** Rows of a bucket in `ord` order: positions, JSON texts, and the indexes whose checksum failed. */
export interface RowChunk {
  readonly ords: ArrayLike<number>;
  readonly data: readonly string[];
  readonly bad: readonly number[] | undefined;
}

/** How many chunks the worker may read ahead of the main thread (bounds the memory held in messages). */
const READ_AHEAD = 8;
/** With no chunk for this long, the worker is taken as dead and the main thread reads on (ms). */
const STALL_MS = 15_000;
/** How long close() waits for the worker to close its connection (ms). */
const CLOSE_WAIT_MS = 5_000;

// Slots of the shared state.
const PHASE = 0; // 0 (starting) → READY (connection open) → GO (read from `after`) | STOP; FAILED
const PRODUCED = 1; // chunks posted
const CONSUMED = 2; // chunks taken by the main thread
const CLOSED = 3; // 1 once the worker's connection is closed (or was never opened)
const READY = 1;
const GO = 2;
const STOP = 3;
const FAILED = 4;

export interface RowReaderOptions {
  readonly file: string;
  readonly lib: string;
  readonly bucketId: number;
  readonly chunkRows: number;
}

/** A worker reading one bucket's rows, chunk by chunk, from the position the main thread gives it. */
export class RowReaderThread {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #state = new Int32Array(new SharedArrayBuffer(16));
  readonly #after = new Float64Array(new SharedArrayBuffer(8));
  #taken = 0;
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
        after: this.#after,
        readAhead: READ_AHEAD,
      },
      transferList: [port2],
      execArgv: [],
    });
    this.#worker.unref();
    // Errors surface through the shared state (FAILED) or a stall; the event loop may not run meanwhile.
    this.#worker.on('error', () => {});
  }

  /** True once the worker's connection is open and it waits for a position. */
  get ready(): boolean {
    return Atomics.load(this.#state, PHASE) === READY;
  }

  /** True when the worker could not open the file: the main thread goes on alone. */
  get failed(): boolean {
    return Atomics.load(this.#state, PHASE) === FAILED;
  }

  /** Start reading the rows after `ord`. */
  go(ord: number): void {
    this.#after[0] = ord;
    Atomics.store(this.#state, PHASE, GO);
    Atomics.notify(this.#state, PHASE);
  }

  /**
   * The next chunk (an empty one at the end), blocking until the worker has
   * it. Throws what the read failed with; returns undefined when the worker
   * failed or stalled (the caller reads on from its last position).
   */
  next(): RowChunk | undefined {
    if (this.#done) return undefined;
    let waitedSince = 0;
    for (;;) {
      const produced = Atomics.load(this.#state, PRODUCED);
      const m = receiveMessageOnPort(this.#port)?.message as
        | (RowChunk & { error?: { message: string; code?: string } })
        | undefined;
      if (m !== undefined) {
        Atomics.store(this.#state, CONSUMED, ++this.#taken);
        Atomics.notify(this.#state, CONSUMED);
        if (m.error !== undefined) {
          this.close();
          throw Object.assign(new Error(m.error.message), { code: m.error.code });
        }
        if (m.data.length === 0) this.close();
        else this.#onChunk();
        return m;
      }
      if (Atomics.load(this.#state, PHASE) === FAILED) {
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
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while (Atomics.load(this.#state, CLOSED) === 0 && Date.now() < deadline)
      Atomics.wait(this.#state, CLOSED, 0, Math.max(1, deadline - Date.now()));
    this.#port.close();
    void this.#worker.terminate();
  }
}

/**
 * The worker's program. Rows are read in one read transaction (one
 * snapshot), their checksums checked, and each chunk posted as positions
 * (a transferred Float64Array), texts and the indexes of failed rows.
 */
const READER_SOURCE = `
  'use strict';
  const { workerData: o } = require('node:worker_threads');
  const zlib = require('node:zlib');
  const state = o.state;
  const errorOf = (e) => ({ message: String((e && e.message) || e), code: typeof (e && e.code) === 'string' ? e.code : undefined });
  let db;
  try {
    const Database = require(o.lib);
    db = new Database(o.file, { readonly: true, fileMustExist: true });
  } catch {
    // compareExchange: a STOP the main thread set meanwhile stays.
    Atomics.compareExchange(state, ${PHASE}, 0, ${FAILED});
    Atomics.notify(state, ${PHASE});
  }
  if (db !== undefined) {
    if (Atomics.compareExchange(state, ${PHASE}, 0, ${READY}) === 0) {
      Atomics.notify(state, ${PHASE});
      while (Atomics.load(state, ${PHASE}) === ${READY}) Atomics.wait(state, ${PHASE}, ${READY});
    }
    const post = (m, transfer) => {
      o.port.postMessage(m, transfer);
      Atomics.add(state, ${PRODUCED}, 1);
      Atomics.notify(state, ${PRODUCED});
    };
    try {
      if (Atomics.load(state, ${PHASE}) === ${GO}) {
        const scan = db
          .prepare('SELECT ord, data, crc FROM quire_records WHERE bucket_id = ? AND ord > ? ORDER BY ord LIMIT ?')
          .raw();
        db.exec('BEGIN');
        let after = o.after[0];
        let sent = 0;
        for (;;) {
          for (;;) {
            const taken = Atomics.load(state, ${CONSUMED});
            if (sent - taken < o.readAhead || Atomics.load(state, ${PHASE}) !== ${GO}) break;
            Atomics.wait(state, ${CONSUMED}, taken, 100);
          }
          if (Atomics.load(state, ${PHASE}) !== ${GO}) break;
          const rows = scan.all(o.bucketId, after, o.chunkRows);
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
          post({ ords, data, bad }, [ords.buffer]);
          sent++;
          if (n === 0) break;
        }
      }
    } catch (e) {
      post({ error: errorOf(e) });
    }
    try { db.close(); } catch {}
  }
  Atomics.store(state, ${CLOSED}, 1);
  Atomics.notify(state, ${CLOSED});
`;
