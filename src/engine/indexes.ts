// Secondary indexes. A HashIndex maps values to keys (equality, $in); a
// SortedIndex keeps (values…, key) entries ordered (ranges, prefixes, sort).
// Unique indexes of either kind also keep value → owner for constraint checks.
// Records whose indexed field is null/undefined are not constrained.
import type { IndexDef } from './definition.js';
import { type Cursor, SortedList } from './sorted-list.js';
import { compareValues, encodeTuple } from './values.js';

export type KeyId = string | number;
type Rec = Record<string, unknown>;

export interface Index {
  readonly def: IndexDef;
  /** The value this record has under the index (a Map key), or undefined if it is not indexed. */
  valueOf(record: Rec): unknown;
  add(keyId: KeyId, record: Rec): void;
  remove(keyId: KeyId, record: Rec): void;
  /** Unique indexes: the key currently holding `value` (from `valueOf`). */
  owner(value: unknown): KeyId | undefined;
  /**
   * Restore path: index `records` (with their `keys`, same positions) in
   * one call, into an empty index, after the bucket's map received them.
   * Returns the first record whose value an earlier one already holds
   * (unique indexes; the index is then invalid and the caller discards
   * the bucket), else undefined.
   */
  bulkLoad(keys: readonly KeyId[], records: readonly Rec[]): Rec | undefined;
  /**
   * True while every key was added by an insert, in insertion order, so a
   * lookup returns keys in bucket order ('set' buckets). Cleared when an
   * update moves a key to another value; reset by clear().
   */
  inBucketOrder: boolean;
  /** Whether the indexed fields are identical (===) in both records, so nothing moves. */
  unchanged(a: Rec, b: Rec): boolean;
  /** The record of `keyId` was replaced by `next` with the same indexed values (indexes holding records swap it). */
  replaced(keyId: KeyId, previous: Rec, next: Rec): void;
  clear(): void;
}

function sameFields(fields: readonly string[], a: Rec, b: Rec): boolean {
  for (let i = 0; i < fields.length; i++) if (a[fields[i]!] !== b[fields[i]!]) return false;
  return true;
}

/** Records by key: the bucket's map, which hash indexes read when a value gains a second key. */
export type RecordsByKey = ReadonlyMap<KeyId, Rec>;

/** The bucket's key of a record (hash indexes holding records find keys through it). */
export type KeyOf = (record: Rec) => KeyId;

/**
 * The records of one value of a non-unique hash index, once several keys
 * hold it: a plain array in the order the keys came, so adding is a push
 * and a query copies the array. An update that keeps the value does not
 * look for its entry (that would need a position per key): it only counts
 * the entry as stale, and the array is refreshed from the bucket's map
 * before it is read again, or by a write once stale entries outnumber live
 * ones (removed keys: the array's length stays bounded) or after about four
 * updates per key (updates keep at most one superseded record per key alive).
 */
class ValueGroup {
  /** Records in the order their keys came; stale ones are refreshed before reads. A key whose record was not stored yet appears as its KeyId. */
  entries: Array<Rec | KeyId>;
  /** Keys holding the value. */
  live: number;
  /** Entries that may not be current: records since replaced or removed, unresolved keys. */
  stale: number;
  /** A key was removed since the last refresh: it may appear twice (removed, then added again). */
  removed = false;
  /**
   * Keys updated in place since the last refresh, while nothing was
   * removed: a read puts just their current records in (see #patch).
   */
  updated: KeyId[] | undefined;
  /** Entries taken out by removes since the last read (each moves the array's tail). */
  splices = 0;

  constructor(entries: Array<Rec | KeyId>, stale: number) {
    this.entries = entries;
    this.live = entries.length;
    this.stale = stale;
  }
}

/**
 * One group kept for the life of the process, so the hidden class of
 * ValueGroups lives on: V8 holds it weakly, and when every group is gone
 * (each store stopped, a new one not yet past its first records) it drops
 * it and throws away the code optimised for it (HashIndex.add, inlined in
 * every insert), costing the next store's first inserts a recompile.
 */
export const VALUE_GROUP_ANCHOR: object = new ValueGroup([{}], 0);

/** Stale entries a group may hold beyond its live count before a write refreshes it. */
const STALE_SLACK = 32;
/** Removes a group takes out of its array at once between two reads (see remove). */
const SPLICES_PER_READ = 64;
/** In-place updates per live entry after which a write refreshes the group (see replaced). */
const UPDATES_PER_REFRESH = 4;

export class HashIndex implements Index {
  readonly def: IndexDef;
  inBucketOrder = true;
  readonly #field: string | undefined;
  readonly #fields: readonly string[];
  readonly #owners: Map<unknown, KeyId> | undefined;
  /**
   * Value → the one key holding it, or once several do, their records (a
   * ValueGroup). Most values of wide indexes have one key; values shared by
   * many records serve `where` without a lookup per record.
   */
  readonly #members: Map<unknown, KeyId | ValueGroup> | undefined;
  readonly #records: RecordsByKey;
  readonly #keyOf: KeyOf;

  constructor(def: IndexDef, records: RecordsByKey = new Map(), keyOf: KeyOf = keyOfUnknown) {
    this.def = def;
    this.#records = records;
    this.#keyOf = keyOf;
    this.#fields = def.fields;
    this.#field = def.fields.length === 1 ? def.fields[0] : undefined;
    if (def.unique) this.#owners = new Map();
    else this.#members = new Map();
  }

  valueOf(record: Rec): unknown {
    if (this.#field !== undefined) {
      const v = record[this.#field];
      return v === null ? undefined : v instanceof Date ? dateValue(v) : v;
    }
    return compoundValue(record, this.#fields);
  }

  /** Value for a lookup from filter operands (one per field). */
  valueFor(values: readonly unknown[]): unknown {
    return this.#field !== undefined ? values[0] : encodeTuple(values);
  }

  add(keyId: KeyId, record: Rec): void {
    const v = this.valueOf(record);
    if (v === undefined) return;
    if (this.#owners !== undefined) {
      this.#owners.set(v, keyId);
      return;
    }
    const members = this.#members!;
    const cur = members.get(v);
    if (cur === undefined) members.set(v, keyId);
    else if (typeof cur === 'object') {
      cur.entries.push(record);
      cur.live++;
      // Keys removed and added again leave stale entries behind: bound them.
      if (cur.stale > cur.live + STALE_SLACK) this.#refresh(v, cur);
    } else if (cur !== keyId) {
      // The bucket's map holds the first key's record, except while a restore fills the index first.
      const first = this.#records.get(cur);
      members.set(v, new ValueGroup([first ?? cur, record], first === undefined ? 1 : 0));
    }
  }

  replaced(keyId: KeyId, previous: Rec, _next: Rec): void {
    if (this.#members === undefined) return;
    const v = this.valueOf(previous);
    const cur = this.#members.get(v);
    if (typeof cur !== 'object') return; // one key: read from the bucket's map
    // In-place updates never lengthen the array and keep at most one superseded
    // record per key alive: refreshing seldom (a lookup per entry) is enough.
    if (++cur.stale > UPDATES_PER_REFRESH * cur.live + STALE_SLACK) this.#refresh(v, cur);
    // Remember the key for #patch while a patch is still worth it (not past live/8 keys).
    else if (!cur.removed && (cur.updated?.length ?? 0) <= (cur.live >> 3) + STALE_SLACK)
      (cur.updated ??= []).push(keyId);
  }

  bulkLoad(keys: readonly KeyId[], records: readonly Rec[]): Rec | undefined {
    const owners = this.#owners;
    if (owners !== undefined) {
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        const v = this.valueOf(r);
        if (v === undefined) continue;
        const before = owners.size;
        owners.set(v, keys[i]!);
        if (owners.size === before) return r;
      }
      return undefined;
    }
    for (let i = 0; i < records.length; i++) this.add(keys[i]!, records[i]!);
    return undefined;
  }

  remove(keyId: KeyId, record: Rec): void {
    const v = this.valueOf(record);
    if (v === undefined) return;
    if (this.#owners !== undefined) {
      if (this.#owners.get(v) === keyId) this.#owners.delete(v);
      return;
    }
    const members = this.#members!;
    const cur = members.get(v);
    if (cur === undefined) return;
    if (typeof cur !== 'object') {
      if (cur === keyId) members.delete(v);
      return;
    }
    if (--cur.live === 0) {
      members.delete(v);
      return;
    }
    // While every entry is current, the record itself is in the array, found
    // by creation time: take it out at once (a few per read; bulk deletes
    // take the lazy path below).
    if (cur.stale === 0 && cur.splices < SPLICES_PER_READ) {
      const i = positionOf(cur.entries, record._createdAt, (e) => e === record);
      if (i >= 0) {
        cur.entries.splice(i, 1);
        cur.splices++;
        if (cur.live === 1) members.set(v, this.#keyOf(cur.entries[0] as Rec));
        return;
      }
    }
    cur.stale++;
    cur.removed = true;
    cur.updated = undefined;
    if (cur.live === 1 || cur.stale > cur.live + STALE_SLACK) {
      // The bucket's map may still hold the removed record (indexes go first).
      this.#refresh(v, cur, keyId);
      // Back to the compact form when one key is left.
      if (cur.entries.length === 1) members.set(v, this.#keyOf(cur.entries[0] as Rec));
    }
  }

  /**
   * Replace every entry by its key's current record, dropping keys gone
   * from the value; when a key was removed and added again, its last entry
   * is its place.
   */
  #refresh(value: unknown, group: ValueGroup, removing?: KeyId): void {
    const records = this.#records;
    const keyOf = this.#keyOf;
    const entries = group.entries;
    if (!group.removed) {
      // Every entry is a key still holding the value, at its place.
      let i = 0;
      for (; i < entries.length; i++) {
        const e = entries[i]!;
        const r = records.get(typeof e === 'object' ? keyOf(e) : e);
        if (r === undefined) break; // not as counted: take the general path
        entries[i] = r;
      }
      if (i === entries.length) {
        group.live = entries.length;
        group.stale = 0;
        group.updated = undefined;
        return;
      }
    }
    const seen = new Set<KeyId>();
    const kept: Rec[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      const k = typeof e === 'object' ? keyOf(e) : e;
      if (k === removing || seen.has(k)) continue;
      const r = records.get(k);
      if (r === undefined || !sameValueZero(this.valueOf(r), value)) continue;
      seen.add(k);
      kept.push(r);
    }
    kept.reverse();
    group.entries = kept;
    group.live = kept.length;
    group.stale = 0;
    group.removed = false;
    group.updated = undefined;
  }

  /** The group's entries, every one current. */
  #current(value: unknown, group: ValueGroup): readonly Rec[] {
    group.splices = 0;
    if (group.stale > 0 && !this.#patch(group)) this.#refresh(value, group);
    return group.entries as Rec[];
  }

  /**
   * A read after a few in-place updates (nothing removed): find each updated
   * key's entry by its creation time (entries of inserts come in creation
   * order; updates keep `_createdAt`) and put its current record there. False
   * when that does not apply or an entry is not where the search looks (a
   * clock that went back, a key that moved in): the caller refreshes all.
   */
  #patch(group: ValueGroup): boolean {
    const updated = group.updated;
    if (group.removed || updated === undefined || updated.length !== group.stale) return false;
    if (updated.length > (group.live >> 3) + STALE_SLACK) return false;
    const entries = group.entries;
    const records = this.#records;
    const keyOf = this.#keyOf;
    for (let u = 0; u < updated.length; u++) {
      const k = updated[u]!;
      const current = records.get(k);
      const t = current?._createdAt;
      if (typeof t !== 'number') return false;
      const i = positionOf(entries, t, (e) => keyOf(e) === k);
      if (i < 0) return false;
      entries[i] = current!;
    }
    group.updated = undefined;
    group.stale = 0;
    return true;
  }

  owner(value: unknown): KeyId | undefined {
    return this.#owners?.get(value);
  }

  unchanged(a: Rec, b: Rec): boolean {
    return sameFields(this.#fields, a, b);
  }

  /** Keys holding exactly `value` (as produced by `valueFor`). */
  lookup(value: unknown): Iterable<KeyId> {
    if (value === undefined || value === null) return EMPTY;
    if (this.#owners !== undefined) {
      const k = this.#owners.get(value);
      return k === undefined ? EMPTY : [k];
    }
    const cur = this.#members!.get(value);
    if (cur === undefined) return EMPTY;
    if (typeof cur !== 'object') return [cur];
    // Lazy: a plan that reads the records (recordsOf) never walks the keys.
    return keysOf(this.#current(value, cur), this.#keyOf);
  }

  /**
   * Records holding exactly `value`, in the order their keys came (bucket
   * order while `inBucketOrder`); undefined when the index cannot hand out
   * records directly (unique). The caller must not keep the result past a write.
   */
  recordsOf(value: unknown): Iterable<Rec> | undefined {
    if (this.#members === undefined) return undefined;
    if (value === undefined || value === null) return EMPTY_RECORDS;
    const cur = this.#members.get(value);
    if (cur === undefined) return EMPTY_RECORDS;
    if (typeof cur === 'object') return this.#current(value, cur);
    const r = this.#records.get(cur);
    return r === undefined ? EMPTY_RECORDS : [r];
  }

  /** Number of keys holding `value`, for choosing between indexes. */
  estimate(value: unknown): number {
    if (this.#owners !== undefined) return this.#owners.has(value) ? 1 : 0;
    const cur = this.#members!.get(value);
    return cur === undefined ? 0 : typeof cur === 'object' ? cur.live : 1;
  }

  clear(): void {
    this.#owners?.clear();
    this.#members?.clear();
    this.inBucketOrder = true;
  }
}

/**
 * The position of the entry created at `createdAt` that `matches`, found by
 * binary search (entries come in creation order while only inserts added
 * them); -1 when an entry has no creation time or none matches there.
 */
function positionOf(
  entries: ReadonlyArray<Rec | KeyId>,
  createdAt: unknown,
  matches: (e: Rec) => boolean,
): number {
  if (typeof createdAt !== 'number') return -1;
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid]!;
    const t = typeof e === 'object' ? e._createdAt : undefined;
    if (typeof t !== 'number') return -1;
    if (t < createdAt) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < entries.length; i++) {
    const e = entries[i] as Rec;
    if (e._createdAt !== createdAt) break;
    if (matches(e)) return i;
  }
  return -1;
}

function* keysOf(records: readonly Rec[], keyOf: KeyOf): IterableIterator<KeyId> {
  for (let i = 0; i < records.length; i++) yield keyOf(records[i]!);
}

function keyOfUnknown(): never {
  throw new Error("HashIndex: created without the bucket's keyOf");
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

const EMPTY: readonly KeyId[] = [];
const EMPTY_RECORDS: readonly Rec[] = [];

/** Dates are equal by time, not identity: a Map key that says so. */
function dateValue(d: Date): string {
  return `\u0000date:${d.getTime()}`;
}

function compoundValue(record: Rec, fields: readonly string[]): string | undefined {
  const values: unknown[] = [];
  for (const f of fields) {
    const v = record[f];
    if (v === undefined || v === null) return undefined;
    values.push(v);
  }
  return encodeTuple(values);
}

/** null/undefined sort after every value. */
function compareNullable(a: unknown, b: unknown): number {
  const an = a === undefined || a === null;
  const bn = b === undefined || b === null;
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  return compareValues(a, b);
}

/**
 * An entry is [v0, …, vn-1, keyId], or [v0, …, vn-1, keyId, seq] when the
 * index orders ties by insertion (see SortedIndex's `seqOf`).
 */
type Entry = unknown[];

/**
 * Entries handed out by the lazy walks of sorted indexes (prefixScan,
 * scan), for tests that check a limited query stops early.
 */
export const sortedWalkCounter = { entries: 0 };

export interface RangeBound {
  readonly value: unknown;
  readonly inclusive: boolean;
}

export class SortedIndex implements Index {
  readonly def: IndexDef;
  inBucketOrder = true;
  readonly #fields: readonly string[];
  readonly #n: number;
  readonly #list: SortedList<Entry>;
  /** Keys whose first indexed field is null/undefined: always last, in either direction. */
  readonly #nulls = new Set<KeyId>();
  readonly #owners: Map<unknown, KeyId> | undefined;
  readonly #seqOf: ((keyId: KeyId) => number) | undefined;
  /**
   * Entries with equal values are in insertion (bucket) order, by the
   * bucket's insertion sequence, rather than in key order: a sorted walk
   * then emits ties as a stable sort of the bucket would, without sorting
   * each tie group, and stops after `limit` entries.
   */
  readonly tiesInInsertionOrder: boolean;

  /** `seqOf`: the bucket's insertion sequence number of a key (ties are ordered by it). */
  constructor(def: IndexDef, seqOf?: (keyId: KeyId) => number) {
    this.def = def;
    this.#fields = def.fields;
    this.#n = def.fields.length;
    this.#seqOf = seqOf;
    this.tiesInInsertionOrder = seqOf !== undefined;
    const n = this.#n;
    this.#list = new SortedList<Entry>((a, b) => {
      for (let i = 0; i < n; i++) {
        const c = compareNullable(a[i], b[i]);
        if (c !== 0) return c;
      }
      // Sequence numbers are unique per key: they decide alone.
      if (seqOf !== undefined) return (a[n + 1] as number) - (b[n + 1] as number);
      return compareValues(a[n], b[n]);
    });
    if (def.unique) this.#owners = new Map();
  }

  get size(): number {
    return this.#list.size + this.#nulls.size;
  }

  valueOf(record: Rec): unknown {
    if (this.#n === 1) {
      const v = record[this.#fields[0]!];
      return v === null ? undefined : v instanceof Date ? dateValue(v) : v;
    }
    return compoundValue(record, this.#fields);
  }

  #entry(keyId: KeyId, record: Rec): Entry {
    const seqOf = this.#seqOf;
    const e: Entry = new Array(seqOf === undefined ? this.#n + 1 : this.#n + 2);
    for (let i = 0; i < this.#n; i++) e[i] = record[this.#fields[i]!];
    e[this.#n] = keyId;
    if (seqOf !== undefined) e[this.#n + 1] = seqOf(keyId);
    return e;
  }

  add(keyId: KeyId, record: Rec): void {
    const first = record[this.#fields[0]!];
    if (first === undefined || first === null) this.#nulls.add(keyId);
    else this.#list.add(this.#entry(keyId, record));
    if (this.#owners !== undefined) {
      const v = this.valueOf(record);
      if (v !== undefined) this.#owners.set(v, keyId);
    }
  }

  bulkLoad(keys: readonly KeyId[], records: readonly Rec[]): Rec | undefined {
    const owners = this.#owners;
    const field = this.#fields[0]!;
    const entries: Entry[] = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (owners !== undefined) {
        const v = this.valueOf(r);
        if (v !== undefined) {
          const before = owners.size;
          owners.set(v, keys[i]!);
          if (owners.size === before) return r;
        }
      }
      const first = r[field];
      if (first === undefined || first === null) this.#nulls.add(keys[i]!);
      else entries.push(this.#entry(keys[i]!, r));
    }
    this.#list.fill(entries);
    return undefined;
  }

  remove(keyId: KeyId, record: Rec): void {
    const first = record[this.#fields[0]!];
    if (first === undefined || first === null) this.#nulls.delete(keyId);
    else this.#list.delete(this.#entry(keyId, record));
    if (this.#owners !== undefined) {
      const v = this.valueOf(record);
      if (v !== undefined && this.#owners.get(v) === keyId) this.#owners.delete(v);
    }
  }

  owner(value: unknown): KeyId | undefined {
    return this.#owners?.get(value);
  }

  unchanged(a: Rec, b: Rec): boolean {
    return sameFields(this.#fields, a, b);
  }

  /** Entries hold keys, not records: nothing to swap. */
  replaced(): void {}

  clear(): void {
    this.#list.clear();
    this.#nulls.clear();
    this.#owners?.clear();
    this.inBucketOrder = true;
  }

  /**
   * Keys whose first `prefix.length` fields equal `prefix` and whose next
   * field lies within the bounds, in index order (or reversed).
   */
  range(
    prefix: readonly unknown[],
    lower: RangeBound | undefined,
    upper: RangeBound | undefined,
    descending = false,
  ): KeyId[] {
    const m = prefix.length;
    const n = this.#n;
    const out: KeyId[] = [];
    const cmp = comparePrefix;
    const lo = lower !== undefined ? [...prefix, lower.value] : m > 0 ? [...prefix] : undefined;
    const hi = upper !== undefined ? [...prefix, upper.value] : m > 0 ? [...prefix] : undefined;
    const loIncl = lower === undefined || lower.inclusive;
    const hiIncl = upper === undefined || upper.inclusive;
    // Entries with a null at the range position sort last but are not in any range.
    // Without bounds (a pure prefix lookup) they do belong to the result.
    const bounded = lower !== undefined || upper !== undefined;
    const checkTail = bounded && m < n;
    // One-field ranges over numbers or strings compare inline (the common, hot case).
    const simple = n === 1 && m === 0;
    const hv = upper?.value as number;
    const lv = lower?.value as number;
    if (!descending) {
      const start: Cursor | undefined = lo !== undefined ? this.#list.seek(lo, cmp, !loIncl) : undefined;
      this.#list.walkUp(start, (e) => {
        if (hi !== undefined) {
          if (simple && typeof e[0] === typeof hv) {
            if (hiIncl ? (e[0] as number) > hv : (e[0] as number) >= hv) return false;
          } else {
            const c = cmp(e, hi);
            if (c > 0 || (c === 0 && !hiIncl)) return false;
          }
        }
        if (!checkTail || (e[m] !== undefined && e[m] !== null)) out.push(e[n] as KeyId);
        return true;
      });
    } else {
      const end: Cursor | undefined = hi !== undefined ? this.#list.seek(hi, cmp, hiIncl) : undefined;
      this.#list.walkDown(end, (e) => {
        if (lo !== undefined) {
          if (simple && typeof e[0] === typeof lv) {
            if (loIncl ? (e[0] as number) < lv : (e[0] as number) <= lv) return false;
          } else {
            const c = cmp(e, lo);
            if (c < 0 || (c === 0 && !loIncl)) return false;
          }
        }
        if (!checkTail || (e[m] !== undefined && e[m] !== null)) out.push(e[n] as KeyId);
        return true;
      });
    }
    return out;
  }

  /**
   * Keys whose first `prefix.length` fields equal `prefix`, in order of the
   * next field, records with that field null or missing last in either
   * direction. Lazy: a caller that stops early touches only what it read.
   */
  *prefixScan(prefix: readonly unknown[], descending: boolean): IterableIterator<KeyId> {
    const m = prefix.length;
    const n = this.#n;
    if (descending && this.tiesInOrderFor(m)) {
      yield* this.#descendingTiesInOrder(prefix);
      return;
    }
    const cmp = comparePrefix;
    const from = this.#list.seek(prefix, cmp, descending);
    const it = descending ? this.#list.descending(from) : this.#list.ascending(from);
    let nulls: KeyId[] | undefined;
    for (const e of it) {
      if (cmp(e, prefix) !== 0) break;
      sortedWalkCounter.entries++;
      // Descending, the nulls of the next field come first in the index: they belong last.
      if (descending && (e[m] === undefined || e[m] === null)) (nulls ??= []).push(e[n] as KeyId);
      else yield e[n] as KeyId;
    }
    if (nulls !== undefined) yield* nulls;
  }

  /**
   * Whether a walk ordered by field `m` (after an equality prefix of `m`
   * fields) meets records with equal values in insertion order, in both
   * directions: ties are ordered by insertion and no field follows `m`.
   */
  tiesInOrderFor(m: number): boolean {
    return this.tiesInInsertionOrder && m === this.#n - 1;
  }

  /**
   * Keys under `prefix` by descending value of the last field, each group
   * of equal values in insertion order, nulls last (in insertion order).
   * Walks down group by group: finds where a group starts (a binary
   * search) and reads it upwards, so a caller that stops early touches
   * only what it read.
   */
  *#descendingTiesInOrder(prefix: readonly unknown[], partial?: PartialGroup): IterableIterator<KeyId> {
    const m = prefix.length;
    const n = this.#n;
    const list = this.#list;
    // Nulls of the last field sort after every value: [nullStart, end).
    const nullStart = list.seek([...prefix, null], comparePrefix);
    let hi = nullStart;
    if (partial !== undefined) {
      for (const e of list.ascending(partial.from)) {
        if (comparePrefix(e, partial.group) !== 0) break;
        sortedWalkCounter.entries++;
        yield e[n] as KeyId;
      }
      hi = partial.start;
    }
    for (;;) {
      const last = list.before(hi);
      if (last === undefined || comparePrefix(last, prefix) !== 0) break;
      const group = [...prefix, last[m]];
      const lo = list.seek(group, comparePrefix);
      for (const e of list.ascending(lo)) {
        if (comparePrefix(e, group) !== 0) break;
        sortedWalkCounter.entries++;
        yield e[n] as KeyId;
      }
      hi = lo;
    }
    for (const e of list.ascending(nullStart)) {
      if (comparePrefix(e, prefix) !== 0) break;
      sortedWalkCounter.entries++;
      yield e[n] as KeyId;
    }
  }

  /**
   * prefixScan (an empty prefix: scan) for an index with tiesInOrderFor
   * (prefix.length), starting after the first `skip` records that have a
   * value: passed over by counting through chunks, not read one by one (an
   * offset deep into a large bucket). `skipped`: how many were passed over.
   */
  skipInOrder(
    prefix: readonly unknown[],
    descending: boolean,
    skip: number,
  ): { keys: Iterable<KeyId>; skipped: number } {
    const m = prefix.length;
    const list = this.#list;
    const start = list.seek(prefix, comparePrefix);
    const nullStart = list.seek([...prefix, null], comparePrefix);
    const valued = list.distance(start, nullStart);
    const skipped = Math.min(skip, valued);
    if (!descending) return { keys: this.#ascendingFrom(list.advance(start, skipped), prefix), skipped };
    if (skipped === 0) return { keys: m === 0 ? this.scan(true) : this.prefixScan(prefix, true), skipped };
    // Output runs group by group downwards, each group upwards. The entry `skipped` places
    // before the end of the values lies in the group where the output resumes; of that group,
    // as many entries as lie from it to the group's end were passed over (from its start).
    const at = list.advance(start, valued - skipped);
    const group = [...prefix, list.at(at)![m]];
    const groupStart = list.seek(group, comparePrefix);
    const groupEnd = list.seek(group, comparePrefix, true);
    const partial: PartialGroup = {
      group,
      start: groupStart,
      from: list.advance(groupStart, list.distance(at, groupEnd)),
    };
    const keys = this.#descendingTiesInOrder(prefix, partial);
    return { keys: m === 0 ? this.#thenNulls(keys) : keys, skipped };
  }

  *#ascendingFrom(from: Cursor, prefix: readonly unknown[]): IterableIterator<KeyId> {
    const n = this.#n;
    for (const e of this.#list.ascending(from)) {
      if (comparePrefix(e, prefix) !== 0) break;
      sortedWalkCounter.entries++;
      yield e[n] as KeyId;
    }
    // One-field index: records without a value are kept apart.
    if (prefix.length === 0) yield* this.#nulls;
  }

  *#thenNulls(keys: Iterable<KeyId>): IterableIterator<KeyId> {
    yield* keys;
    yield* this.#nulls;
  }

  /** Every key in order of the first field; null-valued records last in both directions. */
  *scan(descending: boolean): IterableIterator<KeyId> {
    if (descending && this.tiesInOrderFor(0)) {
      yield* this.#descendingTiesInOrder([]);
      yield* this.#nulls;
      return;
    }
    const n = this.#n;
    const it = descending ? this.#list.descending() : this.#list.ascending();
    for (const e of it) {
      sortedWalkCounter.entries++;
      yield e[n] as KeyId;
    }
    yield* this.#nulls;
  }
}

/** Where a descending walk resumes inside a group of equal values (see skipInOrder). */
interface PartialGroup {
  /** The prefix and the group's value. */
  readonly group: readonly unknown[];
  /** The group's first entry. */
  readonly start: Cursor;
  /** The first entry still to hand out. */
  readonly from: Cursor;
}

/** Compares an entry with a partial tuple over the probe's length only. */
function comparePrefix(e: Entry, probe: readonly unknown[]): number {
  for (let i = 0; i < probe.length; i++) {
    const c = compareNullable(e[i], probe[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/** `keyOf`: for hash indexes; `seqOf`: for sorted indexes (see SortedIndex). */
export function createIndex(
  def: IndexDef,
  records?: RecordsByKey,
  keyOf?: KeyOf,
  seqOf?: (keyId: KeyId) => number,
): HashIndex | SortedIndex {
  return def.sorted ? new SortedIndex(def, seqOf) : new HashIndex(def, records, keyOf);
}
