// The commit pipeline: committed ChangeBatches → queue → one CommitUnit per
// flush, i.e. one atomic storage transaction. A store transaction is one
// ChangeBatch, so it always lands in a single unit: all or nothing on disk.
//
// - debounced (default): a flush runs `debounceMs` after the first queued
//   change; a crash loses at most that window.
// - strict: a write's promise resolves only once its unit is committed and
//   fsynced (the adapter makes it survive a power loss). Writes queue and
//   the flush runs on setImmediate, so concurrent writers share one commit
//   and one fsync (group commit).
// - process: as strict, but the commit only has to reach the OS (survives a
//   process crash, not a power loss); `strict` below covers both.
//
// Failures never reach the writer: they go to `onError` as StorageError,
// the queue is kept (nothing is dropped), and the flush is retried with
// exponential backoff (50 ms … 5 s) until storage comes back; meanwhile the
// store keeps serving from memory. In strict mode the write's promise stays
// pending until its unit is committed — it settles only when storage works
// again, or rejects when the store is stopped before that.
import type { Change, ChangeBatch, CommitObservation, StoreRecord } from '../engine/index.js';
import { bucketKey, decodeKey, encodeKey } from './codec.js';
import { type BatchMark, conflictError, dropRolledBack, splitConflict } from './conflicts.js';
import {
  CommitConflictError,
  CommitOutcomeUnknownError,
  CommitTimeoutError,
  ReadOnlyStorageError,
  StorageError,
  toStorageError,
} from './errors.js';
import { type LostRecord, PendingWrites } from './pending.js';
import type { QueuedHistory } from './queued-history.js';
import { LogRetention } from './retention.js';
import { saveSnapshotBucket } from './snapshot.js';
import type { StorageHost } from './store-storage.js';
import type {
  CommitUnit,
  FeedWrite,
  IncrementalAdapter,
  RecordWrite,
  StorageAdapter,
  UnitStream,
} from './types.js';

const MAX_BACKOFF_MS = 5_000;

/**
 * Debounced stores: queued changes past which a flush starts once its timer is overdue (the
 * event loop has not run to fire it), and a flush under way is checked on again every
 * EARLY_FLUSH_POLL more. A loop of writes that never yields to the event loop then still writes
 * as it goes, in parallel on the writer thread, instead of holding every change until it ends.
 */
export const EARLY_FLUSH_CHANGES = 65_536;
const EARLY_FLUSH_POLL = 1_024;

/**
 * A flush of at least twice this many records is handed to an adapter that can take it in parts
 * (IncrementalAdapter.openUnit) this many at a time, the event loop running in between: storage
 * writes the first records while the rest are encoded, and the loop is never held for the whole
 * unit (about 10 ms a part for records of a few hundred bytes).
 */
export const STREAM_PART_RECORDS = 4_096;

/** Encode `taken`'s records part by part into `stream`, pausing after each; the whole unit. */
async function streamRecords(
  taken: PendingWrites,
  lastSeq: number,
  stream: UnitStream,
  pause: () => Promise<void>,
): Promise<{ unit: CommitUnit; lost: LostRecord[] }> {
  const lost: LostRecord[] = [];
  const records: RecordWrite[] = [];
  for (const part of taken.recordWrites(STREAM_PART_RECORDS, lost)) {
    stream.add(part);
    for (let i = 0; i < part.length; i++) records.push(part[i]!);
    await pause();
  }
  return { unit: taken.unitOf(records, lastSeq), lost };
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
  /** The batch this strict writer waits for (to fail only it when one of its records cannot be stored). */
  readonly batch: ChangeBatch;
  /** Its batch was in a commit whose connection broke during COMMIT: it may be stored. */
  uncertain?: boolean;
}

export interface CommitQueueOptions {
  readonly store: string;
  /** Exactly one of the two is set. */
  readonly incremental: IncrementalAdapter | undefined;
  readonly snapshot: StorageAdapter | undefined;
  readonly strict: boolean;
  readonly debounceMs: number;
  /** Opens the incremental adapter (once); throws its error. Undefined once it is open (no await per flush). */
  readonly open: () => Promise<void> | undefined;
  readonly report: (e: unknown, operation?: string) => void;
  /** Told about every successful commit: how long it took and how many batches (writes) it carried. */
  readonly committed?: (commit: CommitObservation) => void;
}

export class CommitQueue {
  readonly pending = new PendingWrites();
  /** History and feed rows of the flush under way (reads merge them in). */
  inflight: { history: QueuedHistory; feed: FeedWrite[] } | undefined;
  host: StorageHost | undefined;
  /** The highest sequence number queued or stored (seqs come from the store: host.nextSeq, Change.seq). */
  seq = 0;
  closed = false;
  readonly #o: CommitQueueOptions;
  readonly #retention = new LogRetention();
  #waiters: Waiter[] = [];
  /** Shared databases: each queued batch's records, so a refused commit rolls back whole batches. */
  #marks: BatchMark[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When #timer is due (performance.now() time). */
  #timerDue = 0;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  /** Changes queued since the last flush took the queue (debounced stores). */
  #queuedChanges = 0;
  #nextEarlyFlush = EARLY_FLUSH_CHANGES;
  /** Ends the pause of a unit being sent in parts (#pauseStream). */
  #wakeStream: (() => void) | undefined;
  /** Acknowledged changes that could not be stored (records that did not encode, debounced writes dropped at close). */
  #lostWrites = 0;
  #flushing: Promise<void> | undefined;
  #readOnlyReported = false;
  /** Batches queued since the last flush began (the group size of the next commit). */
  #queuedBatches = 0;
  /** Why the last flush failed (until one succeeds): named when a strict write times out. */
  #lastError: { message: string; error: Error } | undefined;

  constructor(options: CommitQueueOptions) {
    this.#o = options;
  }

  /** A sequence number for a write that is not a store change (definition fill, rewrite). */
  nextSeq(): number {
    const seq = this.host !== undefined ? this.host.nextSeq() : this.seq + 1;
    if (seq > this.seq) this.seq = seq;
    return seq;
  }

  /** True (and reported once) when the adapter was opened read-only: nothing is queued then. */
  isReadOnly(): boolean {
    const a = this.#o.incremental;
    if (a?.readOnly !== true) return false;
    if (!this.#readOnlyReported) {
      this.#readOnlyReported = true;
      this.#o.report(new ReadOnlyStorageError(String(a.path ?? 'storage')));
    }
    return true;
  }

  /** The commit listener: queue a batch's persistent changes; in strict mode, wait for their commit. */
  onBatch(batch: ChangeBatch): Promise<void> | undefined {
    if (this.closed || batch.remote === true) return undefined;
    const host = this.host!;
    const q = this.pending;
    const snapshot = this.#o.snapshot !== undefined;
    const feed = host.feedLimit > 0 && this.#o.incremental !== undefined;
    const actor = batch.actor ?? null;
    const mark: BatchMark | undefined =
      this.#o.incremental?.readRecords !== undefined ? { keys: new Set(), seqs: new Set() } : undefined;
    let any = false;
    const changes: readonly Change[] = batch.changes;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const state = host.bucketState(c.bucket);
      if (state === undefined || !state.def.persistent) continue;
      any = true;
      const seq = c.seq;
      if (seq > this.seq) this.seq = seq;
      if (snapshot) {
        q.dirty.add(c.bucket);
        continue;
      }
      if (mark !== undefined) {
        mark.keys.add(`${c.bucket}\0${encodeKey(c.keyId)}`);
        mark.seqs.add(seq);
      }
      let data: string | null | undefined;
      if (state.def.history !== undefined && !unchanged(c)) {
        data = c.newRecord === undefined ? null : encodeHistory(c.newRecord);
        // A version that cannot be encoded is left out (its record is reported lost at the flush).
        if (data !== UNENCODABLE)
          q.history.push(c.bucket, c.keyId, seq, c.version, c.op, batch.at, actor, data);
      }
      // The history row's JSON is the record row's too: encoded once.
      q.addRecord(
        c.bucket,
        c.keyId,
        c.op,
        seq,
        c.version,
        c.newRecord,
        seq,
        c.oldRecord?._version ?? 0,
        typeof data === 'string' && data !== UNENCODABLE ? data : undefined,
      );
      if (feed) q.feed.push(seq, c.bucket, c.key, c.op, c.version, batch.at, actor);
    }
    if (feed) q.feed.limitTo(host.feedLimit);
    for (const [b, v] of batch.counters) {
      if (!host.isPersistent(b)) continue;
      any = true;
      if (snapshot) q.dirty.add(b);
      else q.bucketOp(b).autoincrement = v;
    }
    if (!any || this.isReadOnly()) {
      if (any) q.clear();
      return undefined;
    }
    this.#queuedBatches++;
    this.schedule();
    if (mark !== undefined) this.#marks.push(mark);
    if (!this.#o.strict) {
      this.#queuedChanges += changes.length;
      if (this.#queuedChanges >= this.#nextEarlyFlush) this.#flushEarly();
      return undefined;
    }
    const timeout = this.#o.incremental?.commitTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      let w: Waiter;
      if (timeout === undefined) w = { resolve, reject, batch };
      else {
        // A shared database that does not answer must not hold the writer: it is told within the bound.
        let timer: ReturnType<typeof setTimeout> | undefined;
        let settled = false;
        w = {
          resolve: () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve();
          },
          reject: (e) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(e);
          },
          batch,
        };
        timer = setTimeout(() => this.#expire(w, timeout), timeout);
      }
      this.#waiters.push(w);
      if (mark !== undefined) mark.waiter = w;
    });
  }

  hasPending(): boolean {
    return !this.pending.isEmpty() || this.#waiters.length > 0;
  }

  schedule(): void {
    if (this.closed) return;
    if (this.#retry !== undefined) return; // storage is failing: the retry timer flushes
    if (this.#o.strict) {
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined;
        void this.flushQuietly();
      });
    } else {
      if (this.#timer === undefined) {
        this.#timerDue = performance.now() + this.#o.debounceMs;
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          void this.flushQuietly();
        }, this.#o.debounceMs);
      }
    }
  }

  /**
   * Between two parts of a unit sent in parts: until the event loop has run (setImmediate), or,
   * in a loop of writes that never yields to it, until EARLY_FLUSH_POLL more changes are queued.
   */
  #pauseStream(): Promise<void> {
    this.#nextEarlyFlush = Math.min(this.#nextEarlyFlush, this.#queuedChanges + EARLY_FLUSH_POLL);
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearImmediate(immediate);
        if (this.#wakeStream === wake) this.#wakeStream = undefined;
        resolve();
      };
      const immediate = setImmediate(wake);
      this.#wakeStream = wake;
    });
  }

  #flushEarly(): void {
    this.#nextEarlyFlush = this.#queuedChanges + EARLY_FLUSH_POLL;
    if (this.closed || this.#retry !== undefined || this.#o.incremental === undefined) return;
    // Commits answered off the main thread settle now (their promises' callbacks run as microtasks),
    // and a unit being sent in parts goes on with its next part.
    if (this.#flushing !== undefined) {
      this.#wakeStream?.();
      this.#o.incremental.poll?.();
    }
    // Only once the timer is overdue, i.e. the event loop has not run since: one large write
    // (insertMany) still returns at once and is flushed by the timer.
    else if (this.#timer === undefined || performance.now() >= this.#timerDue) void this.flushQuietly();
  }

  async flushQuietly(): Promise<void> {
    try {
      await this.flush();
    } catch {
      /* reported through onError, retried */
    }
  }

  /** Commit everything queued now, as one storage transaction. Rejects with StorageError when that fails. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#flushing !== undefined) await this.#flushing.catch(() => {});
    if (!this.hasPending()) return;
    const batches = this.#queuedBatches;
    this.#queuedBatches = 0;
    const started = performance.now();
    const run = this.#o.snapshot !== undefined ? this.#flushSnapshot() : this.#flushIncremental();
    this.#flushing = run;
    try {
      await run;
      this.#o.committed?.({ durationMs: performance.now() - started, batches });
    } catch (e) {
      this.#queuedBatches += batches;
      throw e;
    } finally {
      this.#flushing = undefined;
    }
  }

  async #flushIncremental(): Promise<void> {
    const taken = this.pending.take();
    this.#queuedChanges = 0;
    this.#nextEarlyFlush = EARLY_FLUSH_CHANGES;
    const waiters = this.#waiters;
    const marks = this.#marks;
    this.#waiters = [];
    this.#marks = [];
    // Feed rows the feed no longer promises are not built (stored ones below are pruned in steps).
    const feedRows = taken.feed.rows(this.seq - (this.host?.feedLimit ?? 0));
    this.inflight = { history: taken.history, feed: feedRows };
    let lost: LostRecord[] = [];
    let stream: UnitStream | undefined;
    try {
      const opening = this.#o.open();
      if (opening !== undefined) await opening;
      // lastSeq: the store's counter, so seqs of in-memory changes are not handed out again after a restart.
      const seq = this.seq;
      const lastSeq = Math.max(seq, this.host?.currentSeq() ?? 0);
      const count = taken.recordCount();
      if (count >= 2 * STREAM_PART_RECORDS)
        stream = this.#o.incremental!.openUnit?.(this.#o.store, [...taken.buckets.values()], count);
      let built: { unit: CommitUnit; lost: LostRecord[] };
      if (stream === undefined) built = taken.toUnit(lastSeq);
      else built = await streamRecords(taken, lastSeq, stream, () => this.#pauseStream());
      lost = built.lost;
      const unit = this.#retention.attach(built.unit, taken.history, feedRows, this.host, seq);
      if (stream === undefined) await this.#o.incremental!.commit(this.#o.store, unit);
      else {
        const ending = stream.end(unit);
        stream = undefined;
        await ending;
      }
    } catch (e) {
      stream?.abort();
      this.inflight = undefined;
      if (e instanceof CommitConflictError) return this.#conflict(e, taken, waiters, marks);
      if (this.#o.incremental!.commitOutcomeUnknown?.(this.#o.store) === true)
        for (const w of waiters) w.uncertain = true;
      this.pending.putBack(taken);
      this.#waiters = [...waiters, ...this.#waiters];
      this.#marks = [...marks, ...this.#marks];
      throw this.#failed(e);
    }
    this.inflight = undefined;
    this.#succeeded(waiters, lost);
  }

  /** The database refused the flush: roll back the batches involved, refresh their records, commit the rest. */
  async #conflict(
    e: CommitConflictError,
    taken: PendingWrites,
    waiters: Waiter[],
    marks: BatchMark[],
  ): Promise<void> {
    const outcome = splitConflict(e.conflicts, marks);
    dropRolledBack(taken, outcome);
    this.pending.putBack(taken);
    const rejected = new Set<unknown>();
    for (const m of outcome.rolledBack) if (m.waiter !== undefined) rejected.add(m.waiter);
    this.#waiters = [...waiters.filter((w) => !rejected.has(w)), ...this.#waiters];
    this.#marks = [...outcome.kept, ...this.#marks];
    // Refresh first, so a writer that retries on the error works on the current record.
    const host = this.host;
    const adapter = this.#o.incremental!;
    try {
      const keys = [...outcome.keys].map((k) => {
        const i = k.indexOf('\0');
        return { bucket: k.slice(0, i), key: k.slice(i + 1) };
      });
      const current = await adapter.readRecords!(this.#o.store, keys);
      host?.applyRemote(
        current.map((w) => ({
          bucket: w.bucket,
          keyId: decodeKey(w.key),
          record: w.data === null ? undefined : (JSON.parse(w.data) as StoreRecord),
          data: w.data ?? undefined,
          seq: w.seq,
        })),
        Date.now(),
      );
    } catch (refresh) {
      this.#o.report(refresh, 'load');
    }
    const state = (name: string) => host?.bucketState(name);
    for (const m of outcome.rolledBack) {
      const err = conflictError(e.conflicts, m, state);
      if (m.waiter !== undefined) m.waiter.reject(err);
      else this.#o.report(err);
    }
    if (this.hasPending()) this.schedule();
  }

  /**
   * A strict writer's commit timeout passed. Queued and never possibly stored:
   * its batch (and every queued batch folded together with it) is rolled back
   * in memory and dropped from the queue, the writers get CommitTimeoutError.
   * Sent, or folded with a write that may be stored: it stays queued and the
   * writer gets CommitOutcomeUnknownError.
   */
  #expire(w: Waiter, timeout: number): void {
    const last = this.#lastError;
    const why = `the database did not commit it within ${timeout} ms${last !== undefined ? ` (${last.message})` : ''}`;
    const mark = this.#waiters.includes(w) ? this.#marks.find((m) => m.waiter === w) : undefined;
    const unknown = (cause: string) =>
      new CommitOutcomeUnknownError(
        `Write outcome unknown: ${why}; it ${cause}. It is kept and will be stored once the database is back (failures go to onError)`,
      );
    if (mark === undefined || w.uncertain === true) {
      // Told it is kept: it must never be rolled back with a later write.
      w.uncertain = true;
      w.reject(
        unknown(
          w.uncertain === true ? 'was being committed when the connection broke' : 'is being committed',
        ),
      );
      return;
    }
    const outcome = splitConflict(
      [...mark.keys].map((k) => {
        const i = k.indexOf('\0');
        return { bucket: k.slice(0, i), key: k.slice(i + 1), reason: 'version' as const };
      }),
      this.#marks,
    );
    if (outcome.rolledBack.some((m) => (m.waiter as Waiter | undefined)?.uncertain === true)) {
      w.uncertain = true;
      w.reject(unknown('is folded together with a write that may have been committed'));
      return;
    }
    dropRolledBack(this.pending, outcome);
    const gone = new Set(outcome.rolledBack);
    this.#marks = this.#marks.filter((m) => !gone.has(m));
    const waiters = new Set(outcome.rolledBack.map((m) => m.waiter));
    this.#waiters = this.#waiters.filter((x) => !waiters.has(x));
    this.#revert(outcome.rolledBack);
    for (const m of outcome.rolledBack)
      m.waiter?.reject(
        new CommitTimeoutError(
          m.waiter === w
            ? `Write not stored: ${why}. It was rolled back; retry it once the database is back`
            : `Write not stored: rolled back with an earlier write whose commit timed out (${why})`,
          { cause: last?.error },
        ),
      );
  }

  /** Undo rolled-back batches in memory: each record goes back to its state before the first of them. */
  #revert(marks: readonly BatchMark[]): void {
    const host = this.host;
    if (host === undefined) return;
    const first = new Map<
      string,
      { bucket: string; keyId: unknown; before: StoreRecord | undefined; after: StoreRecord | undefined }
    >();
    const changes = marks
      .flatMap((m) => (m.waiter as Waiter | undefined)?.batch.changes ?? [])
      .sort((a, b) => a.seq - b.seq);
    for (const c of changes) {
      const k = `${c.bucket}\0${encodeKey(c.keyId)}`;
      const f = first.get(k);
      if (f === undefined)
        first.set(k, { bucket: c.bucket, keyId: c.keyId, before: c.oldRecord, after: c.newRecord });
      else f.after = c.newRecord;
    }
    const out = [];
    for (const f of first.values()) {
      // Only where memory still holds what the rolled-back writes left (not a newer remote state).
      if (host.bucketState(f.bucket)?.records.get(f.keyId as never) !== f.after) continue;
      out.push({
        bucket: f.bucket,
        keyId: f.keyId as never,
        record: f.before,
        data: f.before === undefined ? undefined : JSON.stringify(f.before),
        seq: 0,
      });
    }
    if (out.length > 0) host.applyRemote(out, Date.now());
  }

  async #flushSnapshot(): Promise<void> {
    const adapter = this.#o.snapshot!;
    const q = this.pending;
    const { dirty, dropped } = q;
    const waiters = this.#waiters;
    q.dirty = new Set();
    q.dropped = new Set();
    this.#waiters = [];
    const done = new Set<string>();
    try {
      for (const name of dropped) {
        await adapter.delete(bucketKey(this.#o.store, name));
        done.add(`drop\0${name}`);
      }
      for (const name of dirty) {
        const state = this.host?.bucketState(name);
        if (state === undefined || !state.def.persistent) continue;
        await saveSnapshotBucket(adapter, this.#o.store, state);
        done.add(name);
      }
    } catch (e) {
      for (const n of dropped) if (!done.has(`drop\0${n}`)) q.dropped.add(n);
      for (const n of dirty) if (!done.has(n)) q.dirty.add(n);
      this.#waiters = [...waiters, ...this.#waiters];
      throw this.#failed(e);
    }
    this.#succeeded(waiters);
  }

  #failed(e: unknown): StorageError {
    const err = toStorageError('commit', e);
    this.#lastError = { message: err.message, error: err };
    this.#failures++;
    this.#o.report(err);
    if (!this.closed && this.#retry === undefined) {
      const delay = Math.min(MAX_BACKOFF_MS, 50 * 2 ** (this.#failures - 1));
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        void this.flushQuietly();
      }, delay);
    }
    return err;
  }

  #succeeded(waiters: Waiter[], lost: readonly LostRecord[] = []): void {
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    if (lost.length === 0) {
      for (const w of waiters) w.resolve();
    } else {
      // The rest of the unit is committed; these records never can be, so they are not retried.
      this.#lostWrites += lost.length;
      const errors = new Map<string, StorageError>();
      for (const l of lost) {
        const err = new StorageError(
          'commit',
          `Record ${l.key} of bucket "${l.bucket}" cannot be encoded and was not stored (it stays in memory only): ${(l.error as Error)?.message ?? String(l.error)}`,
          { cause: l.error },
        );
        errors.set(`${l.bucket}\0${l.key}`, err);
        this.#o.report(err);
      }
      for (const w of waiters) {
        let failed: StorageError | undefined;
        for (const c of w.batch.changes) {
          failed = errors.get(`${c.bucket}\0${encodeKey(c.keyId)}`);
          if (failed !== undefined) break;
        }
        if (failed !== undefined) w.reject(failed);
        else w.resolve();
      }
    }
    // Changes queued while this flush ran get their own.
    if (this.hasPending()) this.schedule();
  }

  /** Failed commit attempts in a row, and acknowledged changes that could not be stored. */
  get health(): { failures: number; lostWrites: number } {
    return { failures: this.#failures, lostWrites: this.#lostWrites };
  }

  /**
   * Stop timers; whatever is still queued (storage kept failing) is reported
   * lost and its writers rejected. Returns the error to raise from stop()
   * when acknowledged changes were lost: debounced writes dropped now, or
   * records that could not be encoded earlier. Strict writers whose changes
   * are dropped learn it from their own rejected promise.
   */
  close(): StorageError | undefined {
    this.closed = true;
    for (const t of [this.#timer, this.#retry]) if (t !== undefined) clearTimeout(t);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = this.#retry = this.#immediate = undefined;
    if (this.hasPending()) {
      const lost = new StorageError(
        'close',
        `Store "${this.#o.store}" stopped while storage was failing: its last unwritten changes were not persisted`,
      );
      this.#o.report(lost, 'close');
      for (const w of this.#waiters) w.reject(lost);
      this.#waiters = [];
      this.#marks = [];
      const acknowledged = !this.#o.strict;
      if (acknowledged) this.#lostWrites += Math.max(1, this.pending.size());
      this.pending.clear();
      if (acknowledged) return lost;
    }
    if (this.#lostWrites > 0)
      return new StorageError(
        'close',
        `Store "${this.#o.store}" stopped after ${this.#lostWrites} acknowledged change(s) could not be stored (see onError)`,
      );
    return undefined;
  }
}

const UNENCODABLE = '\u0000unencodable';

/** History data of a version; a version that cannot be encoded is marked and left out with its record. */
function encodeHistory(record: object): string {
  try {
    return JSON.stringify(record);
  } catch {
    return UNENCODABLE;
  }
}

/** A restored backup rewrites records with the same version: not a new version worth a history row. */
function unchanged(c: Change): boolean {
  const o = c.oldRecord;
  const n = c.newRecord;
  return o !== undefined && n !== undefined && o._version === n._version && o._updatedAt === n._updatedAt;
}
