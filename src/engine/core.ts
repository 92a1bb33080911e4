// StoreCore: the buckets, the reference index and the commit pipeline that
// every write goes through. After a WriteSet is applied, its ChangeBatch is
// handed, in commit order, to each commit listener (durable storage,
// history, reactive queries) and then published as bucket events.
import type { EventBus } from '../events/index.js';
import type { BucketState } from './bucket-state.js';
import {
  BucketNotDefinedError,
  DuplicateKeyError,
  RecordNotFoundError,
  StoreStoppedError,
} from './errors.js';
import type { KeyId } from './indexes.js';
import type { StoreRecord, WriteAuthorizer } from './types.js';
import { commitTime, DEFAULT_MAX_NESTING_DEPTH } from './values.js';
import {
  type ChangeBatch,
  changeOf,
  checkUniqueOne,
  type EngineHost,
  NO_AUTOINCREMENT,
  NO_COUNTERS,
  RefIndex,
  WriteSet,
} from './write-set.js';

type Rec = Record<string, unknown>;

/**
 * Receives every committed batch synchronously, in order. May return a
 * promise that settles when the batch is durable (strict mode); it must
 * never throw: failures are the listener's to report.
 */
export type CommitListener = (batch: ChangeBatch) => Promise<void> | undefined | void;

/** How bucket handles read version history (set by the Store; see src/history). */
export interface HistoryReader {
  /** Entries of one record, newest first, with the bucket's retention applied. */
  read(bucket: BucketState, keyId: KeyId, filter: HistoryFilter): Promise<HistoryEntryRow[]>;
}

/** A normalised history query: `since`/`until` are inclusive commit times (ms). */
export interface HistoryFilter {
  readonly limit: number;
  readonly since: number;
  readonly until: number;
  /** Only entries of this `_version`. */
  readonly version?: number;
}

/** One stored version of a record. */
export interface HistoryEntryRow {
  readonly version: number;
  readonly op: 'insert' | 'update' | 'delete';
  readonly record: Record<string, unknown> | undefined;
  readonly at: number;
  readonly actor: string | undefined;
  readonly seq: number;
}

/**
 * The store's buckets by name. `generation` changes whenever a bucket is
 * defined, replaced or dropped, so handles can keep the state they looked
 * up and re-check it with one comparison.
 */
export class BucketRegistry extends Map<string, BucketState> {
  generation = 0;
  override set(name: string, state: BucketState): this {
    this.generation++;
    return super.set(name, state);
  }
  override delete(name: string): boolean {
    this.generation++;
    return super.delete(name);
  }
  override clear(): void {
    this.generation++;
    super.clear();
  }
}

export class StoreCore implements EngineHost {
  readonly name: string;
  readonly buckets = new BucketRegistry();
  readonly refs = new RefIndex();
  readonly events: EventBus;
  readonly #listeners: CommitListener[] = [];
  stopped = false;
  /** The last sequence number handed out (one counter per store: every change gets the next). */
  seq = 0;
  /** Version history reads; set by the Store. */
  history: HistoryReader | undefined;
  /** Deepest nesting of objects/arrays a record may hold; set by the Store. */
  maxNestingDepth = DEFAULT_MAX_NESTING_DEPTH;

  constructor(name: string, events: EventBus) {
    this.name = name;
    this.events = events;
  }

  bucketState(name: string): BucketState | undefined {
    return this.buckets.get(name);
  }

  /** The bucket, or BucketNotDefinedError; StoreStoppedError after stop(). */
  require(name: string): BucketState {
    const b = this.buckets.get(name);
    if (b === undefined) {
      if (this.stopped) throw new StoreStoppedError(this.name);
      throw new BucketNotDefinedError(name);
    }
    return b;
  }

  addCommitListener(listener: CommitListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  writeSet(transactional = false): WriteSet {
    return new WriteSet(this, transactional);
  }

  /**
   * Check and apply a write set, then notify. Throws (changing nothing) if
   * a check fails. Returns a promise when a listener asks to be waited for.
   */
  commit(ws: WriteSet, actor?: string, authorize?: WriteAuthorizer): Promise<void> | undefined {
    if (this.stopped) throw new StoreStoppedError(this.name);
    ws.validate(authorize);
    const batch = ws.apply(actor);
    if (batch.changes.length === 0 && batch.counters.size === 0) return undefined;
    return this.dispatch(batch);
  }

  /**
   * What the last insertLone/updateLone's listeners asked to be waited for
   * (strict durability), read by the caller right after the call.
   */
  loneWait: Promise<void> | undefined;

  /**
   * One insert on its own, outside a transaction, with no actor or
   * authorizer, into `b`, the bucket's current state, when `b.writesAlone`:
   * the checks, in their order, and the batch of staging it in a WriteSet
   * and committing that, without the WriteSet (nothing else can be staged
   * with it: no referential action, eviction or counter). Throws as that
   * path does, changing nothing; `loneWait` is set as commit() returns.
   */
  insertLone(b: BucketState, data: Rec): StoreRecord {
    const now = commitTime();
    const record = b.def.validator.prepareInsert(data, NO_AUTOINCREMENT, now, this.maxNestingDepth);
    const ttl = b.def.ttlMs;
    if (ttl !== undefined && record._expiresAt === undefined)
      record._expiresAt = (record._createdAt as number) + ttl;
    const next = record as StoreRecord;
    const keyId = b.keyIdOf(next);
    if (b.records.get(keyId) !== undefined) throw new DuplicateKeyError(b.name, b.publicKeyOf(next));
    this.#commitLone(b, keyId, undefined, next, now);
    return next;
  }

  /** One update on its own, as insertLone: `keyId` from `publicKey`, the key the caller gave. */
  updateLone(b: BucketState, keyId: KeyId, changes: Rec, publicKey: unknown): StoreRecord {
    const now = commitTime();
    const existing = b.records.get(keyId);
    if (existing === undefined) throw new RecordNotFoundError(b.name, publicKey);
    const next = b.def.validator.prepareUpdate(
      existing,
      changes,
      now,
      this.maxNestingDepth,
      b.recordsValid,
    ) as StoreRecord;
    this.#commitLone(b, keyId, existing, next, now);
    return next;
  }

  /** commit() of a WriteSet holding just this change (see WriteSet#validateOne and apply). */
  #commitLone(b: BucketState, keyId: KeyId, base: StoreRecord | undefined, next: StoreRecord, now: number) {
    if (this.stopped) throw new StoreStoppedError(this.name);
    checkUniqueOne(b, keyId, base, next);
    b.put(keyId, base, next);
    this.loneWait = undefined;
    this.loneWait = this.dispatch({
      changes: [changeOf(b, keyId, base, next)],
      counters: NO_COUNTERS,
      actor: undefined,
      at: now,
    });
  }

  /**
   * Hand an applied batch to listeners and event subscribers. `publish: false`
   * (restoring a backup) informs listeners but emits no bucket events, as noex-store.
   */
  dispatch(batch: ChangeBatch, publish = true): Promise<void> | undefined {
    const changes = batch.changes;
    if (batch.remote !== true)
      for (let i = 0; i < changes.length; i++) (changes[i] as { seq: number }).seq = ++this.seq;
    let wait: Promise<void> | undefined;
    for (const l of this.#listeners) {
      const p = l(batch);
      if (p !== undefined) wait = wait === undefined ? p : Promise.all([wait, p]).then(() => undefined);
    }
    const bus = this.events;
    if (publish && bus.hasSubscribers()) {
      for (const c of batch.changes) {
        if (c.op === 'insert') {
          bus.publish(`bucket.${c.bucket}.inserted`, {
            type: 'inserted',
            bucket: c.bucket,
            key: c.key,
            record: c.newRecord,
          });
        } else if (c.op === 'update') {
          bus.publish(`bucket.${c.bucket}.updated`, {
            type: 'updated',
            bucket: c.bucket,
            key: c.key,
            oldRecord: c.oldRecord,
            newRecord: c.newRecord,
          });
        } else {
          bus.publish(`bucket.${c.bucket}.deleted`, {
            type: 'deleted',
            bucket: c.bucket,
            key: c.key,
            record: c.oldRecord,
          });
        }
      }
    }
    return wait;
  }
}
