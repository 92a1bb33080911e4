// A schema session makes a group of bucket-level changes (define, drop,
// replace definition / rewrite records) atomic. Migrations use it: each
// migration runs in one session.
//
// While a session is open, changes apply to the live store at once (so code
// inside a migration sees the buckets it created and the fields it added),
// but durable storage does not hear of them yet: bucket replacements and
// drops are held, and write batches that touch a held bucket are not
// forwarded (the bucket is rewritten in full at commit). Writes to other
// buckets reach storage as usual.
//
// - commit(): storage hears every held change in one go, so they land in one
//   storage transaction (the persistence manager queues them into one unit);
//   reactive queries re-run for rebuilt buckets and end for dropped ones.
// - rollback(): every bucket is put back as it was when the session began
//   (the same state objects when they were not written in place, or a copy
//   rebuilt from the records captured at the start), buckets defined during
//   the session are removed, and storage is told to restore the buckets whose
//   in-session writes already reached it.

import type { Change, ChangeBatch, KeyId, StoreCore, StoreRecord } from '../engine/index.js';
import { BucketState } from '../engine/index.js';
import type { StoreStorage } from '../persistence/index.js';

interface Original {
  readonly state: BucketState;
  /** The records in map (insertion) order, captured when the session began. */
  readonly records: readonly [KeyId, StoreRecord][];
  readonly autoincrement: number;
}

/** @internal What a session needs from the store. */
export interface SchemaSessionHost {
  readonly core: StoreCore;
  readonly storage: StoreStorage | undefined;
  /** Reactive queries: re-run for changed buckets, end for dropped ones. */
  onChanges(changes: readonly Change[]): void;
  dropQueries(bucket: string): void;
  /** Forget cached read handles of a bucket whose state object was swapped. */
  forget(bucket: string): void;
  /** The session is over (committed or rolled back). */
  end(): void;
}

/** @internal */
export class SchemaSession {
  readonly #host: SchemaSessionHost;
  readonly #order: string[];
  readonly #before = new Map<string, Original>();
  /** Buckets whose storage notifications are held: name → records need a full rewrite. */
  readonly #held = new Map<string, boolean>();
  /** Buckets defined during the session → record count right after their restore from storage. */
  readonly #created = new Map<string, number | undefined>();
  /** Buckets dropped during the session (restores of a re-created bucket skip storage). */
  readonly #dropped = new Set<string>();
  /** Original state objects that ordinary writes changed in place. */
  readonly #inPlace = new Set<string>();
  /** Of those, the ones whose writes were forwarded to storage. */
  readonly #forwarded = new Set<string>();
  #open = true;
  readonly #unlisten: () => void;

  constructor(host: SchemaSessionHost) {
    this.#host = host;
    this.#unlisten = host.core.addCommitListener((batch) => this.#observe(batch));
    this.#order = [...host.core.buckets.keys()];
    for (const [name, state] of host.core.buckets) {
      this.#before.set(name, {
        state,
        records: [...state.records.entries()],
        autoincrement: state.autoincrement,
      });
    }
  }

  get open(): boolean {
    return this.#open;
  }

  /** Hold storage notifications of `bucket` until commit (its records are rewritten then). */
  hold(bucket: string): void {
    this.#held.set(bucket, true);
  }

  // ── Hooks called by the Store ─────────────────────────────────────

  /** A bucket was defined. */
  defined(name: string): void {
    this.#created.set(name, undefined);
    this.#held.set(name, true);
  }

  /** Whether storage notifications of `bucket` are held until commit. */
  holds(bucket: string): boolean {
    return this.#held.has(bucket);
  }

  /** Its stored records were restored (count known). */
  restored(state: BucketState): void {
    if (this.#created.has(state.name)) this.#created.set(state.name, state.size);
  }

  /** Whether a bucket of this name was dropped in this session (a re-definition must not restore old data). */
  wasDropped(name: string): boolean {
    return this.#dropped.has(name);
  }

  /** A bucket was removed from the store. */
  droppedBucket(name: string): void {
    this.#dropped.add(name);
    this.#held.set(name, true);
  }

  /** A bucket's state was swapped (new definition, maybe new records). */
  replaced(name: string, rewritten: boolean): void {
    this.#held.set(name, (this.#held.get(name) ?? false) || rewritten);
  }

  /** Every committed batch: note original states written in place (rollback rebuilds them). */
  #observe(batch: ChangeBatch): void {
    const core = this.#host.core;
    for (const c of batch.changes) {
      if (this.#inPlace.has(c.bucket)) continue;
      const orig = this.#before.get(c.bucket);
      if (orig !== undefined && core.buckets.get(c.bucket) === orig.state) this.#inPlace.add(c.bucket);
    }
  }

  /**
   * A committed batch on its way to storage: changes of held buckets stay
   * back (those buckets are rewritten at commit), the rest goes on.
   */
  filter(batch: ChangeBatch, toStorage: (batch: ChangeBatch) => Promise<void> | undefined) {
    let keep: Change[] | undefined;
    const changes = batch.changes;
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const held = this.#held.has(c.bucket);
      if (!held && this.#before.has(c.bucket)) this.#forwarded.add(c.bucket);
      if (held) {
        this.#held.set(c.bucket, true);
        if (keep === undefined) keep = changes.slice(0, i) as Change[];
      } else keep?.push(c);
    }
    let counters = batch.counters;
    for (const b of counters.keys()) {
      if (!this.#held.has(b)) continue;
      counters = new Map([...counters].filter(([n]) => !this.#held.has(n)));
      break;
    }
    if (keep === undefined && counters === batch.counters) return toStorage(batch);
    const rest = { ...batch, changes: keep ?? batch.changes, counters };
    if (rest.changes.length === 0 && rest.counters.size === 0) return undefined;
    return toStorage(rest);
  }

  // ── End ───────────────────────────────────────────────────────────

  /** Make everything durable and visible to reactive queries. Returns once storage has the changes queued. */
  commit(): Promise<unknown> {
    this.#close();
    const { core, storage } = this.#host;
    const waits: Array<Promise<unknown>> = [];
    const queryChanges: Change[] = [];
    for (const [name, rewritten] of this.#held) {
      const orig = this.#before.get(name);
      const now = core.buckets.get(name);
      if (now === undefined) {
        if (orig !== undefined || this.#created.has(name)) this.#host.dropQueries(name);
        if (storage !== undefined && (orig?.state.def.persistent || this.#created.has(name)))
          waits.push(Promise.resolve(storage.dropBucket(name)));
        continue;
      }
      const wasDropped = this.#dropped.has(name);
      if (storage !== undefined) {
        if (wasDropped && !now.def.persistent) waits.push(Promise.resolve(storage.dropBucket(name)));
        else if (now.def.persistent) storage.bucketReplaced(now, rewritten || wasDropped);
        else if (orig?.state.def.persistent) waits.push(Promise.resolve(storage.dropBucket(name)));
      }
      if (now !== orig?.state) collectChanges(name, orig?.state, now, queryChanges);
    }
    if (queryChanges.length > 0) this.#host.onChanges(queryChanges);
    return Promise.all(waits);
  }

  /** Put every bucket back as it was when the session began. */
  rollback(): Promise<unknown> {
    this.#close();
    const { core, storage } = this.#host;
    const waits: Array<Promise<unknown>> = [];
    const queryChanges: Change[] = [];
    const current = new Map(core.buckets);
    core.buckets.clear();
    for (const name of this.#order) {
      const orig = this.#before.get(name)!;
      let state = orig.state;
      if (this.#inPlace.has(name)) {
        // Ordinary writes changed the original object: rebuild it from the captured records.
        state = new BucketState(orig.state.def);
        state.counterReservation = orig.state.counterReservation;
        state.recordsValid = orig.state.recordsValid;
        for (const [k, r] of orig.records) state.put(k, undefined, r);
      }
      state.autoincrement = orig.autoincrement;
      core.buckets.set(name, state);
      const was = current.get(name);
      if (was !== state) {
        this.#host.forget(name);
        core.refs.dropSource(name);
        if (state.def.refs.length > 0)
          for (const [k, r] of state.records) core.refs.track(state, k, undefined, r);
        if (was !== undefined) collectChanges(name, was, state, queryChanges);
      }
      if (storage !== undefined && this.#forwarded.has(name) && state.def.persistent)
        storage.bucketReplaced(state, true);
    }
    for (const [name, state] of current) {
      if (this.#before.has(name)) continue;
      // Defined during the session: remove it again.
      core.refs.dropSource(name);
      this.#host.forget(name);
      this.#host.dropQueries(name);
      // Storage never heard of a bucket the session defined (its definition was held); a bucket that
      // had nothing stored under that name is dropped anyway, in case an adapter kept its name.
      const restoredCount = this.#created.get(name);
      if (storage !== undefined && state.def.persistent && restoredCount === 0 && !this.#dropped.has(name))
        waits.push(Promise.resolve(storage.dropBucket(name)));
    }
    if (queryChanges.length > 0) this.#host.onChanges(queryChanges);
    return Promise.all(waits);
  }

  #close(): void {
    if (!this.#open) throw new Error('Schema session already ended');
    this.#open = false;
    this.#unlisten();
    this.#host.end();
  }
}

/** Changes that make reactive queries over `name` re-run: every key of either state. */
function collectChanges(
  name: string,
  before: BucketState | undefined,
  after: BucketState,
  out: Change[],
): void {
  const push = (keyId: KeyId, r: StoreRecord, other: BucketState | undefined) => {
    const o = other?.records.get(keyId);
    out.push({
      bucket: name,
      op: 'update',
      key: keyId,
      keyId,
      oldRecord: o,
      newRecord: r,
      version: r._version,
      seq: 0,
    });
  };
  for (const [k, r] of after.records) push(k, r, before);
  if (before !== undefined) for (const [k, r] of before.records) if (!after.records.has(k)) push(k, r, after);
  // A bucket-level dependency needs one change even when the bucket is empty.
  if (after.records.size === 0 && (before === undefined || before.records.size === 0))
    out.push({
      bucket: name,
      op: 'update',
      key: undefined,
      keyId: '',
      oldRecord: undefined,
      newRecord: undefined,
      version: 0,
      seq: 0,
    });
}
