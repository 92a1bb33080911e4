// The synchronous core. Every write, from a single insert to a cascade or a
// multi-bucket transaction, is staged in a WriteSet (nothing changes yet),
// checked as a whole against the final state (versions, primary keys,
// unique indexes, references), and only then applied in one step that
// cannot fail. Applying yields one ChangeBatch: the single path through
// which events, reactive queries, persistence and history learn of changes.
import type { BucketState } from './bucket-state.js';
import {
  BucketNotDefinedError,
  DuplicateKeyError,
  RecordNotFoundError,
  ReferentialIntegrityError,
  TransactionConflictError,
  UniqueConstraintError,
} from './errors.js';
import type { KeyId } from './indexes.js';
import type { StoreRecord, WriteAuthorizer } from './types.js';
import { commitTime, encodeTuple } from './values.js';

type Rec = Record<string, unknown>;

export type ChangeOp = 'insert' | 'update' | 'delete';

/** One applied change of one record. */
export interface Change {
  readonly bucket: string;
  readonly op: ChangeOp;
  /** The key as users see it (value, or array for composite keys). */
  readonly key: unknown;
  readonly keyId: KeyId;
  /** The record before the change (update, delete). */
  readonly oldRecord: StoreRecord | undefined;
  /** The record after the change (insert, update). */
  readonly newRecord: StoreRecord | undefined;
  /** `_version` after the change (the deleted version for deletes). */
  readonly version: number;
  /** The store's sequence number of this change (monotonic, never reused); assigned by StoreCore.dispatch. */
  readonly seq: number;
}

/** Everything one commit changed, in order; what durable storage writes as one transaction. */
export interface ChangeBatch {
  readonly changes: readonly Change[];
  /** Autoincrement counters that moved, by bucket. */
  readonly counters: ReadonlyMap<string, number>;
  readonly actor: string | undefined;
  /** Commit time (ms). */
  readonly at: number;
  /** Committed by another instance of a shared database: already stored, and numbered (`seq`). */
  readonly remote?: boolean;
}

interface Staged {
  readonly bucket: BucketState;
  readonly keyId: KeyId;
  /** The committed record this change was based on (undefined: did not exist). */
  readonly base: StoreRecord | undefined;
  next: StoreRecord | undefined;
}

/** Reverse reference index: which records point at a target record. */
export class RefIndex {
  // target bucket → target key → "sourceBucket\0field" → source keys
  readonly #byTarget = new Map<string, Map<KeyId, Map<string, Set<KeyId>>>>();

  holders(target: string, keyId: KeyId): Map<string, Set<KeyId>> | undefined {
    return this.#byTarget.get(target)?.get(keyId);
  }

  track(source: BucketState, keyId: KeyId, previous: Rec | undefined, next: Rec | undefined): void {
    for (const ref of source.def.refs) {
      const before = previous !== undefined ? refKeyId(previous[ref.field]) : undefined;
      const after = next !== undefined ? refKeyId(next[ref.field]) : undefined;
      if (before === after) continue;
      const slot = `${source.name}\0${ref.field}`;
      if (before !== undefined) {
        const byKey = this.#byTarget.get(ref.target);
        const holders = byKey?.get(before);
        const set = holders?.get(slot);
        if (set?.delete(keyId) && set.size === 0) {
          holders!.delete(slot);
          if (holders!.size === 0) byKey!.delete(before);
        }
      }
      if (after !== undefined) {
        let byKey = this.#byTarget.get(ref.target);
        if (byKey === undefined) this.#byTarget.set(ref.target, (byKey = new Map()));
        let holders = byKey.get(after);
        if (holders === undefined) byKey.set(after, (holders = new Map()));
        let set = holders.get(slot);
        if (set === undefined) holders.set(slot, (set = new Set()));
        set.add(keyId);
      }
    }
  }

  /** Forget every reference held by records of `source` (bucket dropped or rebuilt). */
  dropSource(source: string): void {
    const prefix = `${source}\0`;
    for (const byKey of this.#byTarget.values()) {
      for (const [k, holders] of byKey) {
        for (const slot of holders.keys()) if (slot.startsWith(prefix)) holders.delete(slot);
        if (holders.size === 0) byKey.delete(k);
      }
    }
  }
}

/** The internal key of a reference value (the target's key), or undefined for null. */
export function refKeyId(value: unknown): KeyId | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (Array.isArray(value)) return encodeTuple(value);
  return undefined;
}

export interface EngineHost {
  /** A bucket by name, or undefined. */
  bucketState(name: string): BucketState | undefined;
  readonly refs: RefIndex;
  /** Deepest nesting of objects/arrays a record may hold (store option `maxNestingDepth`). */
  readonly maxNestingDepth: number;
}

export class WriteSet {
  readonly #host: EngineHost;
  /**
   * The only staged change while there is just one (most writes): a single
   * insert or update allocates no maps. A second change moves it into #many.
   */
  #one: Staged | undefined;
  /** Bucket → key → staged change, once more than one change is staged. */
  #many: Map<BucketState, Map<KeyId, Staged>> | undefined;
  /** Staged changes in staging order, once more than one is staged. */
  #order: Staged[] | undefined;
  #counters: Map<BucketState, number> | undefined;
  /** Transactions take autoincrement values from the bucket at once (no collisions between them). */
  readonly #reserveCounters: boolean;
  /** Transactions report stale reads as TransactionConflictError. */
  readonly #transactional: boolean;
  readonly now: number;

  constructor(host: EngineHost, transactional = false, now = commitTime()) {
    this.#host = host;
    this.#transactional = transactional;
    this.#reserveCounters = transactional;
    this.now = now;
  }

  get isEmpty(): boolean {
    return this.#one === undefined && this.#order === undefined;
  }

  #find(b: BucketState, keyId: KeyId): Staged | undefined {
    if (this.#many !== undefined) return this.#many.get(b)?.get(keyId);
    const one = this.#one;
    return one !== undefined && one.bucket === b && one.keyId === keyId ? one : undefined;
  }

  /** Staged changes in staging order. */
  #staged(): readonly Staged[] {
    return this.#order ?? (this.#one !== undefined ? [this.#one] : NOTHING_STAGED);
  }

  /** Staged changes by bucket. */
  #byBucket(): Map<BucketState, Map<KeyId, Staged>> {
    if (this.#many !== undefined) return this.#many;
    const one = this.#one;
    return one === undefined ? new Map() : new Map([[one.bucket, new Map([[one.keyId, one]])]]);
  }

  /** The record as this write set sees it: staged if touched, else committed. */
  read(b: BucketState, keyId: KeyId): StoreRecord | undefined {
    const s = this.#find(b, keyId);
    return s !== undefined ? s.next : b.records.get(keyId);
  }

  /** Staged records of a bucket (for overlay reads). */
  stagedOf(b: BucketState): Iterable<Staged> {
    if (this.#many !== undefined) return this.#many.get(b)?.values() ?? NOTHING_STAGED;
    return this.#one?.bucket === b ? [this.#one] : NOTHING_STAGED;
  }

  isStaged(b: BucketState, keyId: KeyId): boolean {
    return this.#find(b, keyId) !== undefined;
  }

  /**
   * Stage `next` for a key: `staged` is its staged change (from #find), if
   * any; otherwise `base` is its committed record.
   */
  #stage(
    b: BucketState,
    keyId: KeyId,
    staged: Staged | undefined,
    base: StoreRecord | undefined,
    next: StoreRecord | undefined,
  ): void {
    if (staged !== undefined) {
      staged.next = next;
      return;
    }
    const fresh: Staged = { bucket: b, keyId, base, next };
    if (this.#one === undefined && this.#many === undefined) {
      this.#one = fresh;
      return;
    }
    let many = this.#many;
    let order = this.#order;
    if (many === undefined || order === undefined) {
      const one = this.#one!;
      this.#many = many = new Map([[one.bucket, new Map([[one.keyId, one]])]]);
      this.#order = order = [one];
      this.#one = undefined;
    }
    let byKey = many.get(b);
    if (byKey === undefined) many.set(b, (byKey = new Map()));
    byKey.set(keyId, fresh);
    order.push(fresh);
  }

  #nextCounter(b: BucketState): number {
    const counters = (this.#counters ??= new Map());
    const reserved = b.counterReservation?.take(counters.get(b) ?? b.autoincrement);
    if (reserved !== undefined) {
      if (this.#reserveCounters && reserved > b.autoincrement) b.autoincrement = reserved;
      if (reserved > (counters.get(b) ?? b.autoincrement)) counters.set(b, reserved);
      return reserved;
    }
    if (this.#reserveCounters) {
      const v = ++b.autoincrement;
      counters.set(b, v);
      return v;
    }
    const v = (counters.get(b) ?? b.autoincrement) + 1;
    counters.set(b, v);
    return v;
  }

  /** An explicit value for an autoincrement field moves the counter up, so later generated ids do not collide. */
  #seeCounter(b: BucketState, value: unknown): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return;
    const counters = (this.#counters ??= new Map());
    if (this.#reserveCounters) {
      if (value > b.autoincrement) b.autoincrement = value;
      counters.set(b, b.autoincrement);
      return;
    }
    if (value > (counters.get(b) ?? b.autoincrement)) counters.set(b, value);
  }

  insert(b: BucketState, data: Rec): StoreRecord {
    if (b.def.hasAutoincrement)
      for (const f of b.def.validator.autoincrementFields) if (data[f] != null) this.#seeCounter(b, data[f]);
    const record = b.def.validator.prepareInsert(
      data,
      b.def.hasAutoincrement ? () => this.#nextCounter(b) : NO_AUTOINCREMENT,
      this.now,
      this.#host.maxNestingDepth,
    );
    if (b.def.ttlMs !== undefined && record._expiresAt === undefined) {
      record._expiresAt = (record._createdAt as number) + b.def.ttlMs;
    }
    const keyId = b.keyIdOf(record);
    const staged = this.#find(b, keyId);
    const current = staged !== undefined ? staged.next : b.records.get(keyId);
    if (current !== undefined) throw new DuplicateKeyError(b.name, b.publicKeyOf(record));
    // Re-inserting a key this write set deleted replaces the record: versions keep counting.
    const replaced = staged?.base;
    if (replaced !== undefined) record._version = replaced._version + 1;
    this.#stage(b, keyId, staged, undefined, record as StoreRecord);
    return record as StoreRecord;
  }

  update(b: BucketState, keyId: KeyId, changes: Rec, publicKey: unknown): StoreRecord {
    const staged = this.#find(b, keyId);
    const existing = staged !== undefined ? staged.next : b.records.get(keyId);
    if (existing === undefined) throw new RecordNotFoundError(b.name, publicKey);
    const next = b.def.validator.prepareUpdate(
      existing,
      changes,
      this.now,
      this.#host.maxNestingDepth,
      b.recordsValid,
    ) as StoreRecord;
    this.#stage(b, keyId, staged, existing, next);
    return next;
  }

  /** Stage a delete with its referential actions (restrict, cascade, set null). */
  delete(b: BucketState, keyId: KeyId, visited = new Set<string>()): StoreRecord | undefined {
    const existing = this.read(b, keyId);
    if (existing === undefined) return undefined;
    const id = `${b.name}\0${typeof keyId}\0${keyId}`;
    if (visited.has(id)) return existing;
    visited.add(id);
    for (const h of this.#referrers(b, keyId)) {
      // An earlier action of this loop (a cascade) may have removed or re-pointed the referrer.
      const current = this.read(h.source, h.sourceKeyId);
      if (current === undefined || refKeyId(current[h.field]) !== keyId) continue;
      switch (h.onDelete) {
        case 'restrict':
          // Judged on the final state in validate(): a referrer removed by this same
          // delete (a cascade, or the record itself) does not block it, whatever the order.
          break;
        case 'cascade':
          this.delete(h.source, h.sourceKeyId, visited);
          break;
        case 'set_null':
          this.update(h.source, h.sourceKeyId, { [h.field]: null }, h.source.publicKeyOf(current));
          break;
      }
    }
    // A cycle may have removed it already through a cascade.
    const staged = this.#find(b, keyId);
    const current = staged !== undefined ? staged.next : b.records.get(keyId);
    if (current !== undefined) this.#stage(b, keyId, staged, current, undefined);
    return existing;
  }

  /** Records that, in this write set's view, reference (b, keyId). */
  #referrers(b: BucketState, keyId: KeyId): Referrer[] {
    const out: Referrer[] = [];
    const seen = new Set<string>();
    const consider = (
      source: BucketState,
      sourceKeyId: KeyId,
      field: string,
      onDelete: Referrer['onDelete'],
    ) => {
      const id = `${source.name}\0${field}\0${typeof sourceKeyId}\0${sourceKeyId}`;
      if (seen.has(id)) return;
      const rec = this.read(source, sourceKeyId);
      if (rec === undefined || refKeyId(rec[field]) !== keyId) return;
      seen.add(id);
      out.push({ source, sourceKeyId, field, onDelete });
    };
    const holders = this.#host.refs.holders(b.name, keyId);
    if (holders !== undefined) {
      for (const [slot, keys] of holders) {
        const sep = slot.indexOf('\0');
        const source = this.#host.bucketState(slot.slice(0, sep));
        if (source === undefined) continue;
        const field = slot.slice(sep + 1);
        const ref = source.def.refs.find((r) => r.field === field);
        if (ref === undefined) continue;
        for (const k of [...keys]) consider(source, k, field, ref.onDelete);
      }
    }
    // Staged records (inserted or re-pointed in this write set).
    for (const [source, byKey] of this.#byBucket()) {
      for (const ref of source.def.refs) {
        if (ref.target !== b.name) continue;
        for (const s of byKey.values()) {
          if (s.next !== undefined) consider(source, s.keyId, ref.field, ref.onDelete);
        }
      }
    }
    return out;
  }

  /** Evict the oldest records of buckets over their maxSize (noex-store: oldest by `_createdAt`). */
  #evict(): void {
    const groups = this.#byBucket();
    let over: BucketState[] | undefined;
    for (const b of groups.keys()) if (b.def.maxSize !== undefined) (over ??= []).push(b);
    if (over === undefined) return;
    // noex-store evicts before a single insert (deleted events first) and after a bulk insert.
    const single = this.#order === undefined ? this.#one : undefined;
    for (const b of over) {
      const byKey = groups.get(b)!;
      const max = b.def.maxSize!;
      let size = b.records.size;
      for (const s of byKey.values()) size += (s.next !== undefined ? 1 : 0) - (s.base !== undefined ? 1 : 0);
      if (size <= max) continue;
      const victims: KeyId[] = [];
      for (const k of b.records.keys()) {
        if (victims.length >= size - max) break;
        if (!byKey.has(k)) victims.push(k);
      }
      if (victims.length < size - max) {
        for (const s of byKey.values()) {
          if (victims.length >= size - max) break;
          if (s.base === undefined && s.next !== undefined) victims.push(s.keyId);
        }
      }
      for (const k of victims) this.delete(b, k);
    }
    const order = this.#order;
    if (single !== undefined && order !== undefined && order.length > 1 && order[0] === single) {
      order.push(order.shift()!);
    }
  }

  /** The committed record must still be the one the change was based on. */
  #checkBase(s: Staged): void {
    const current = s.bucket.records.get(s.keyId);
    if (s.base === undefined ? current === undefined : current === s.base) return;
    const key = s.bucket.publicKeyOf((s.next ?? s.base ?? current)!);
    if (!this.#transactional) throw new DuplicateKeyError(s.bucket.name, key);
    throw new TransactionConflictError(
      s.bucket.name,
      key,
      s.base === undefined
        ? `Record with key "${String(key)}" already exists`
        : current === undefined
          ? `Record with key "${String(key)}" was deleted`
          : `Version mismatch: expected ${s.base._version}, got ${current._version}`,
    );
  }

  /**
   * The common case, one inserted or updated record in a bucket without
   * references or size limit, checked without building the per-bucket maps.
   * (A delete may be restricted by references into the bucket.) False: use
   * the general checks.
   */
  #validateOne(authorize: WriteAuthorizer | undefined): boolean {
    const s = this.#one;
    if (s === undefined || s.next === undefined || this.#many !== undefined || authorize !== undefined)
      return false;
    const b = s.bucket;
    if (b.def.maxSize !== undefined || b.def.refs.length > 0 || this.#host.bucketState(b.name) !== b)
      return false;
    this.#checkBase(s);
    checkUniqueOne(b, s.keyId, s.base, s.next);
    return true;
  }

  /**
   * Check the final state: every touched record is as it was read, keys are
   * free, unique indexes hold, references resolve. Throws; changes nothing.
   */
  validate(authorize?: WriteAuthorizer): void {
    if (this.#validateOne(authorize)) return;
    // A transaction may have staged writes on a bucket that was dropped or
    // redefined (updateBucket, migration) before it committed: applying them
    // to the replaced state would lose them silently.
    for (const [b, byKey] of this.#byBucket()) {
      const current = this.#host.bucketState(b.name);
      if (current === b) continue;
      if (current === undefined) throw new BucketNotDefinedError(b.name);
      let rec: StoreRecord | undefined;
      for (const s of byKey.values()) if ((rec = s.next ?? s.base) !== undefined) break;
      throw new TransactionConflictError(
        b.name,
        rec === undefined ? undefined : b.publicKeyOf(rec),
        `Bucket "${b.name}" was redefined while the transaction was open`,
      );
    }
    this.#evict();
    // Permissions are judged on the whole staged set (cascades included) and
    // before any check whose outcome depends on records the caller may not see.
    if (authorize !== undefined) this.#authorize(authorize);
    for (const s of this.#staged()) this.#checkBase(s);
    for (const [b, byKey] of this.#byBucket()) {
      this.#checkUnique(b, byKey);
      this.#checkRefs(b, byKey, authorize);
    }
  }

  #authorize(authorize: WriteAuthorizer): void {
    const groups = this.#byBucket();
    for (const [b, byKey] of groups) {
      let changed = false;
      for (const s of byKey.values()) {
        if (s.base === undefined && s.next === undefined) continue;
        changed = true;
        break;
      }
      if (changed) authorize('write', b.name);
    }
    let targets: Set<string> | undefined;
    for (const [b, byKey] of groups) {
      for (const ref of b.def.refs) {
        if (targets?.has(ref.target)) continue;
        for (const s of byKey.values()) {
          if (s.next === undefined) continue;
          const target = refKeyId(s.next[ref.field]);
          if (target === undefined) continue;
          if (s.base !== undefined && refKeyId(s.base[ref.field]) === target) continue;
          (targets ??= new Set()).add(ref.target);
          break;
        }
      }
    }
    if (targets !== undefined) for (const t of targets) authorize('read', t);
  }

  #checkUnique(b: BucketState, byKey: Map<KeyId, Staged>): void {
    for (const ix of b.uniqueIndexes) {
      const claimed = new Map<unknown, KeyId>();
      for (const s of byKey.values()) {
        if (s.next === undefined) continue;
        const v = ix.valueOf(s.next);
        if (v === undefined) continue;
        const other = claimed.get(v);
        if (other !== undefined && other !== s.keyId) throw uniqueError(b, ix.def.fields, s.next);
        claimed.set(v, s.keyId);
        const owner = ix.owner(v);
        if (owner !== undefined && owner !== s.keyId && !byKey.has(owner))
          throw uniqueError(b, ix.def.fields, s.next);
      }
    }
  }

  #checkRefs(b: BucketState, byKey: Map<KeyId, Staged>, authorize: WriteAuthorizer | undefined): void {
    // Outgoing: a changed reference must point at a record that exists in the final state.
    for (const ref of b.def.refs) {
      for (const s of byKey.values()) {
        if (s.next === undefined) continue;
        const v = s.next[ref.field];
        const target = refKeyId(v);
        if (target === undefined) continue;
        if (s.base !== undefined && refKeyId(s.base[ref.field]) === target) continue;
        const tb = this.#host.bucketState(ref.target);
        if (tb === undefined || this.read(tb, target) === undefined) {
          throw new ReferentialIntegrityError(
            `Foreign key violation in bucket "${b.name}": field "${ref.field}" references bucket "${ref.target}" with key "${String(v)}", but no such record exists`,
            b.name,
            ref.field,
            ref.target,
            v,
          );
        }
      }
    }
    // Incoming: nothing may still point at a deleted record.
    for (const s of byKey.values()) {
      if (s.next !== undefined || s.base === undefined) continue;
      const rs = this.#referrers(b, s.keyId);
      if (rs.length > 0) {
        // The error names the referrer: only for a caller who may read its bucket.
        authorize?.('read', rs[0]!.source.name);
        throw restrictError(b, s.base, rs[0]!.source, rs[0]!.field, rs[0]!.sourceKeyId);
      }
    }
  }

  /** Apply the checked changes. Must follow a successful `validate()` in the same tick. */
  apply(actor: string | undefined): ChangeBatch {
    const changes: Change[] = [];
    const order = this.#order;
    if (order === undefined) {
      if (this.#one !== undefined) this.#applyStaged(this.#one, changes);
    } else for (let i = 0; i < order.length; i++) this.#applyStaged(order[i]!, changes);
    let counters = NO_COUNTERS;
    if (this.#counters !== undefined && this.#counters.size > 0) {
      const moved = new Map<string, number>();
      for (const [b, v] of this.#counters) {
        if (v > b.autoincrement) b.autoincrement = v;
        moved.set(b.name, b.autoincrement);
      }
      counters = moved;
    }
    return { changes, counters, actor, at: this.now };
  }

  #applyStaged(s: Staged, changes: Change[]): void {
    const { bucket: b, keyId, base, next } = s;
    if (base === undefined && next === undefined) return;
    if (next !== undefined) b.put(keyId, base, next);
    else b.remove(keyId, base!);
    if (b.def.refs.length > 0) this.#host.refs.track(b, keyId, base, next);
    changes.push(changeOf(b, keyId, base, next));
  }
}

/** The Change of one applied record (every change has this one shape). */
export function changeOf(
  b: BucketState,
  keyId: KeyId,
  base: StoreRecord | undefined,
  next: StoreRecord | undefined,
): Change {
  const rec = (next ?? base)!;
  return {
    bucket: b.name,
    op: base === undefined ? 'insert' : next === undefined ? 'delete' : 'update',
    key: b.publicKeyOf(rec),
    keyId,
    oldRecord: base,
    newRecord: next,
    version: rec._version,
    seq: 0,
  };
}

/**
 * Unique indexes of one record written alone, against the committed state:
 * `next` replaces `base` (undefined: an insert) under `keyId`.
 */
export function checkUniqueOne(
  b: BucketState,
  keyId: KeyId,
  base: StoreRecord | undefined,
  next: StoreRecord,
): void {
  const unique = b.uniqueIndexes;
  for (let i = 0; i < unique.length; i++) {
    const ix = unique[i]!;
    // Unchanged values stay with their owner, this record.
    if (base !== undefined && ix.unchanged(base, next)) continue;
    const v = ix.valueOf(next);
    if (v === undefined) continue;
    const owner = ix.owner(v);
    if (owner !== undefined && owner !== keyId) throw uniqueError(b, ix.def.fields, next);
  }
}

export const NO_COUNTERS: ReadonlyMap<string, number> = new Map();
const NOTHING_STAGED: readonly Staged[] = [];
/** Buckets without autoincrement fields never ask for a value. */
export const NO_AUTOINCREMENT = (): number => 0;

interface Referrer {
  readonly source: BucketState;
  readonly sourceKeyId: KeyId;
  readonly field: string;
  readonly onDelete: 'restrict' | 'cascade' | 'set_null';
}

function restrictError(b: BucketState, target: Rec, source: BucketState, field: string, sourceKeyId: KeyId) {
  const key = b.publicKeyOf(target);
  return new ReferentialIntegrityError(
    `Cannot delete from bucket "${b.name}" (key "${String(key)}"): referenced by bucket "${source.name}" (key "${String(sourceKeyId)}") via field "${field}"`,
    source.name,
    field,
    b.name,
    key,
  );
}

function uniqueError(b: BucketState, fields: readonly string[], record: Rec) {
  const value = fields.length === 1 ? record[fields[0]!] : fields.map((f) => record[f]);
  return new UniqueConstraintError(
    b.name,
    fields.join(', '),
    fields.length === 1 ? value : JSON.stringify(value),
  );
}
