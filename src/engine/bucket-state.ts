// One bucket's in-memory state: records by key plus every index, and the
// read side (query planning and execution). Mutation happens only through
// `put`/`remove`, called by the engine after all checks passed, so indexes
// always move together with the records.
import type { CompiledBucket } from './definition.js';
import {
  DuplicateKeyError,
  InvalidArgumentError,
  InvalidFilterError,
  UniqueConstraintError,
} from './errors.js';
import { compileFilter, isFilterOperators } from './filter.js';
import { createIndex, HashIndex, type Index, type KeyId, type RangeBound, SortedIndex } from './indexes.js';
import type { StoreRecord, WhereFilter, WhereOptions } from './types.js';
import { compareValues, encodeTuple, isObjectArg, isPlainObject } from './values.js';

type Rec = Record<string, unknown>;

/**
 * Where generated autoincrement values come from on a database shared by
 * several instances: blocks reserved there, so two instances never hand out
 * the same value. `take(after)` gives the first reserved value above the
 * counter `after` (undefined when none is left: the local counter is used);
 * the counter itself marks what is used, so a write that fails gives its
 * value back as it does without a reservation. `ensure(n, after)` resolves
 * once `n` values above `after` are reserved (the async write paths wait for
 * it before staging inserts).
 */
export interface CounterReservation {
  take(after: number): number | undefined;
  ensure(n: number, after: number): Promise<void> | undefined;
}

export class BucketState {
  readonly def: CompiledBucket;
  readonly records = new Map<KeyId, StoreRecord>();
  readonly indexes: Array<HashIndex | SortedIndex>;
  readonly uniqueIndexes: Index[];
  /** Sorted on `_expiresAt` for TTL buckets, so purging does not scan. */
  readonly expiry: SortedIndex | undefined;
  autoincrement = 0;
  /** Shared databases: reserved autoincrement values (see CounterReservation). */
  counterReservation: CounterReservation | undefined;
  /**
   * A single insert or update here stages nothing but its own record: no
   * references to follow, no maxSize to evict for, no autoincrement counter
   * (StoreCore.insertLone / updateLone apply).
   */
  readonly writesAlone: boolean;
  /**
   * Every record here was written by this bucket's validator (insert,
   * update), so each passes it: an update then checks only what it changes
   * (SchemaValidator.prepareUpdate). Cleared by anything that puts records
   * here without it: loading stored records, changes from other instances.
   */
  recordsValid = true;
  /** Set while stored records are still loading; operations wait for it. */
  loading: Promise<void> | undefined;
  #keyOrder: KeyId[] | undefined;
  readonly #singleKey: string | undefined;
  /**
   * Insertion sequence per key ('set' buckets with indexes): index-served
   * results are put back into bucket order, so an index never changes what
   * a query returns, only how fast.
   */
  #seq: Map<KeyId, number> | undefined;
  #nextSeq = 0;
  /** Set by #plan: its candidates already come in bucket order (no re-ordering needed). */
  #planInOrder = false;
  /** Set by #plan: the candidates' records, when the index hands them out (no lookup per key). */
  #planRecords: Iterable<StoreRecord> | undefined;
  /**
   * Built lazily, on the first index-served query: restoring a bucket does
   * not pay for it; except with a sorted index (#eagerSeq), whose entries
   * carry the sequence.
   */
  readonly #wantsSeq: boolean;
  readonly #eagerSeq: boolean;

  constructor(def: CompiledBucket) {
    this.def = def;
    this.#wantsSeq = def.indexes.length > 0 && !def.orderedByKey;
    // Sorted indexes order ties by insertion: the sequence is kept from the first record on.
    this.#eagerSeq = this.#wantsSeq && def.indexes.some((ix) => ix.sorted);
    if (this.#eagerSeq) this.#seq = new Map();
    const seqOf = this.#eagerSeq ? (k: KeyId) => this.#seqOfKey(k) : undefined;
    this.indexes = def.indexes.map((ix) => createIndex(ix, this.records, (r) => this.keyIdOf(r), seqOf));
    this.uniqueIndexes = this.indexes.filter((i) => i.def.unique);
    this.#singleKey = def.compositeKey ? undefined : def.keyFields[0];
    this.writesAlone = def.refs.length === 0 && def.maxSize === undefined && !def.hasAutoincrement;
    this.expiry =
      def.ttlMs !== undefined
        ? new SortedIndex({ name: '_expiresAt', fields: ['_expiresAt'], unique: false, sorted: true })
        : undefined;
  }

  get name(): string {
    return this.def.name;
  }

  get size(): number {
    return this.records.size;
  }

  // ── Keys ──────────────────────────────────────────────────────────

  /** The internal map key of a record. */
  keyIdOf(record: Rec): KeyId {
    if (this.#singleKey !== undefined) return record[this.#singleKey] as KeyId;
    return encodeTuple(this.def.keyFields.map((f) => record[f]));
  }

  /** The key as users see it: the value, or an array of values for composite keys. */
  publicKeyOf(record: Rec): unknown {
    if (this.#singleKey !== undefined) return record[this.#singleKey];
    return this.def.keyFields.map((f) => record[f]);
  }

  /**
   * The internal key for a user-supplied key: a value, or for composite
   * keys an array of values or an object holding the key fields.
   */
  toKeyId(key: unknown, operation: string): KeyId {
    if (this.#singleKey !== undefined) {
      if (typeof key === 'string' || (typeof key === 'number' && !Number.isNaN(key))) return key;
      throw new InvalidArgumentError(
        operation,
        'key',
        `bucket "${this.name}" expects a string or number key (field "${this.#singleKey}"), got ${describeKey(key)}`,
      );
    }
    const fields = this.def.keyFields;
    let values: unknown[] | undefined;
    if (Array.isArray(key) && key.length === fields.length) values = key;
    else if (isPlainObject(key)) values = fields.map((f) => key[f]);
    if (values === undefined || values.some((v) => typeof v !== 'string' && typeof v !== 'number')) {
      throw new InvalidArgumentError(
        operation,
        'key',
        `bucket "${this.name}" has the composite key [${fields.join(', ')}]; pass an array of ${fields.length} values or an object with those fields, got ${describeKey(key)}`,
      );
    }
    return encodeTuple(values);
  }

  // ── Mutation (infallible; callers have checked every constraint) ──

  put(keyId: KeyId, previous: StoreRecord | undefined, next: StoreRecord): void {
    this.records.set(keyId, next);
    if (previous === undefined) {
      this.#keyOrder = undefined;
      if (this.#seq !== undefined) this.#seq.set(keyId, ++this.#nextSeq);
      for (const ix of this.indexes) ix.add(keyId, next);
      this.expiry?.add(keyId, next);
      return;
    }
    for (const ix of this.indexes) {
      if (ix.unchanged(previous, next)) {
        ix.replaced(keyId, previous, next);
        continue;
      }
      ix.remove(keyId, previous);
      ix.add(keyId, next);
      // The key now sits last under its new value, out of insertion order.
      ix.inBucketOrder = false;
    }
    if (this.expiry !== undefined && previous._expiresAt !== next._expiresAt) {
      this.expiry.remove(keyId, previous);
      this.expiry.add(keyId, next);
    }
  }

  remove(keyId: KeyId, previous: StoreRecord): void {
    for (const ix of this.indexes) ix.remove(keyId, previous);
    this.expiry?.remove(keyId, previous);
    this.records.delete(keyId);
    this.#seq?.delete(keyId);
    this.#keyOrder = undefined;
  }

  /**
   * Fill an empty bucket from stored or rebuilt records (no events, no
   * version bumps). Throws UniqueConstraintError/DuplicateKeyError before
   * changing anything if the records break a key or unique index.
   */
  load(records: Iterable<StoreRecord>, bucketLabel = this.name): void {
    if (this.records.size === 0) {
      this.loadBulk([Array.isArray(records) ? (records as StoreRecord[]) : [...records]], bucketLabel);
      return;
    }
    const list = Array.isArray(records) ? (records as StoreRecord[]) : [...records];
    this.#loadChecked(list, bucketLabel);
    if (list.length > 0) this.recordsValid = false;
  }

  /**
   * Restore path for an empty bucket, records given a chunk at a time (as
   * storage reads them): the key map in one pass, then each index built in
   * one call over all records (a sorted index by one sort). Records are
   * taken as they are (stored records were validated when written). Records
   * stored out of creation order are put in creation order first. On a
   * duplicate key or unique value the bucket is emptied again and
   * DuplicateKeyError/UniqueConstraintError thrown.
   */
  loadBulk(chunks: Iterable<readonly StoreRecord[]>, bucketLabel = this.name): void {
    const recs = this.records;
    // Hash indexes take each chunk while its records are still in the CPU cache; sorted ones sort once at the end.
    const hashed = this.indexes.filter((ix) => ix instanceof HashIndex);
    const sorted = this.indexes.filter((ix) => !(ix instanceof HashIndex));
    let inOrder = true;
    let prev = Number.NEGATIVE_INFINITY;
    try {
      const single = this.#singleKey;
      for (const chunk of chunks) {
        const keys: KeyId[] = new Array(chunk.length);
        for (let i = 0; i < chunk.length; i++) {
          const r = chunk[i]!;
          const created = r._createdAt;
          if (typeof created === 'number' && created >= prev) prev = created;
          else inOrder = false;
          const k = single !== undefined ? (r[single] as KeyId) : this.keyIdOf(r);
          const size = recs.size;
          recs.set(k, r);
          if (recs.size === size) throw new DuplicateKeyError(bucketLabel, this.publicKeyOf(r));
          keys[i] = k;
        }
        if (inOrder) for (const ix of hashed) bulkIndex(ix, keys, chunk, bucketLabel);
      }
      let list: StoreRecord[] | undefined;
      let keys: KeyId[] | undefined;
      if (!inOrder) {
        // The map's order is bucket order (oldest first, as maxSize eviction expects): rebuild it.
        // The map holds every record in load order (keeping the chunks as well would only hold on to more memory).
        list = byCreation([...recs.values()]);
        keys = list.map((r) => this.keyIdOf(r));
        recs.clear();
        for (let i = 0; i < list.length; i++) recs.set(keys[i]!, list[i]!);
        for (const ix of hashed) {
          ix.clear();
          bulkIndex(ix, keys, list, bucketLabel);
        }
      }
      if (sorted.length > 0 || this.expiry !== undefined) {
        list ??= [...recs.values()];
        keys ??= [...recs.keys()];
        // Sorted indexes order ties by insertion: number the keys in bucket order first.
        if (this.#eagerSeq) {
          const seq = this.#seq!;
          for (let i = 0; i < keys.length; i++) seq.set(keys[i]!, ++this.#nextSeq);
        }
        for (const ix of sorted) bulkIndex(ix, keys, list, bucketLabel);
        this.expiry?.bulkLoad(keys, list);
      }
      this.#keyOrder = undefined;
      if (recs.size > 0) this.recordsValid = false;
    } catch (e) {
      this.clear();
      throw e;
    }
  }

  #loadChecked(records: StoreRecord[], bucketLabel: string): void {
    const list = byCreation(records);
    const keys = new Set<KeyId>();
    const claimed = this.uniqueIndexes.map(() => new Set<unknown>());
    for (const r of list) {
      const k = this.keyIdOf(r);
      if (keys.has(k) || this.records.has(k)) throw new DuplicateKeyError(bucketLabel, this.publicKeyOf(r));
      keys.add(k);
      for (let i = 0; i < this.uniqueIndexes.length; i++) {
        const ix = this.uniqueIndexes[i]!;
        const v = ix.valueOf(r);
        if (v === undefined) continue;
        if (claimed[i]!.has(v) || ix.owner(v) !== undefined) {
          const f = ix.def.fields;
          throw new UniqueConstraintError(bucketLabel, f.join(', '), f.length === 1 ? r[f[0]!] : v);
        }
        claimed[i]!.add(v);
      }
    }
    for (const r of list) this.put(this.keyIdOf(r), undefined, r);
  }

  clear(): void {
    this.records.clear();
    for (const ix of this.indexes) ix.clear();
    this.expiry?.clear();
    this.recordsValid = true;
    this.#seq = this.#eagerSeq ? new Map() : undefined;
    this.#nextSeq = 0;
    this.#keyOrder = undefined;
  }

  /**
   * A key's insertion sequence number, for sorted indexes. A key the
   * sequence does not know yet (a restore path filling the indexes as it
   * goes) is numbered now: records are indexed in bucket order.
   */
  #seqOfKey(keyId: KeyId): number {
    const seq = this.#seq!;
    let n = seq.get(keyId);
    if (n === undefined) seq.set(keyId, (n = ++this.#nextSeq));
    return n;
  }

  /** Insertion rank per key ('set' buckets with indexes), built on first use. */
  #seqMap(): Map<KeyId, number> | undefined {
    if (this.#wantsSeq && this.#seq === undefined) {
      const built = new Map<KeyId, number>();
      for (const k of this.records.keys()) built.set(k, ++this.#nextSeq);
      this.#seq = built;
    }
    return this.#seq;
  }

  /** Compares two present keys by bucket order (insertion order, or key order for ordered_set). */
  #bucketOrder(): (a: KeyId, b: KeyId) => number {
    const seq = this.#seqMap();
    if (seq !== undefined) return (a, b) => seq.get(a)! - seq.get(b)!;
    return this.#keyOrderCompare();
  }

  /** Key order: by value, field by field for composite keys. */
  #keyOrderCompare(): (a: KeyId, b: KeyId) => number {
    if (!this.def.compositeKey) return compareKeyValues;
    const recs = this.records;
    const fields = this.def.keyFields;
    return (a, b) => {
      const ra = recs.get(a)!;
      const rb = recs.get(b)!;
      for (const f of fields) {
        const c = compareKeyValues(ra[f], rb[f]);
        if (c !== 0) return c;
      }
      return 0;
    };
  }

  // ── Ordered access ────────────────────────────────────────────────

  /** Keys in bucket order: insertion order, or key order for ordered_set. */
  orderedKeys(): KeyId[] {
    if (!this.def.orderedByKey) return [...this.records.keys()];
    if (this.#keyOrder === undefined) {
      const keys = [...this.records.keys()];
      keys.sort(this.#keyOrderCompare());
      this.#keyOrder = keys;
    }
    return this.#keyOrder;
  }

  all(): StoreRecord[] {
    if (!this.def.orderedByKey) return [...this.records.values()];
    return this.orderedKeys().map((k) => this.records.get(k)!);
  }

  /** Records in bucket order, optionally only those matching `filter` (no index: order matters). */
  ordered(filter?: WhereFilter): StoreRecord[] {
    const all = this.all();
    if (filter === undefined) return all;
    const pred = compileFilter(filter);
    return all.filter((r) => pred(r));
  }

  first(n: number, filter?: WhereFilter): StoreRecord[] {
    checkCount('first', n);
    if (filter === undefined && !this.def.orderedByKey) {
      const out: StoreRecord[] = [];
      for (const r of this.records.values()) {
        if (out.length >= n) break;
        out.push(r);
      }
      return out;
    }
    return this.ordered(filter).slice(0, n);
  }

  last(n: number, filter?: WhereFilter): StoreRecord[] {
    checkCount('last', n);
    if (n === 0) return [];
    return this.ordered(filter).slice(-n);
  }

  paginate(options: { after?: unknown; limit: number }, filter?: WhereFilter) {
    if (!isPlainObject(options))
      throw new InvalidArgumentError('paginate', 'options', 'expected {after?, limit}');
    checkCount('paginate', options.limit);
    const records = this.ordered(filter);
    let start = 0;
    if (options.after !== undefined) {
      const after = this.toKeyId(options.after, 'paginate');
      const i = records.findIndex((r) => this.keyIdOf(r) === after);
      start = i === -1 ? records.length : i + 1;
    }
    const page = records.slice(start, start + options.limit);
    const last = page[page.length - 1];
    return {
      records: page,
      hasMore: start + options.limit < records.length,
      nextCursor: last !== undefined ? this.publicKeyOf(last) : undefined,
    };
  }

  // ── Queries ───────────────────────────────────────────────────────

  /** Records matching `filter`, using the best index; sorted, offset and limited per options. */
  select(filter: WhereFilter | undefined, options?: WhereOptions): StoreRecord[] {
    const opts = checkOptions(options);
    const compiled = filter === undefined ? undefined : compileFilter(filter);
    // `{}` matches every record: no predicate to call a million times, no plan.
    const matchesAll = filter === undefined || Object.keys(filter).length === 0;
    const pred = matchesAll ? undefined : compiled;
    const sortEntries = opts.sort !== undefined ? Object.entries(opts.sort) : undefined;
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;

    // One page of an unfiltered, unsorted bucket in insertion order: walk to it, copy only the page.
    if (matchesAll && (sortEntries === undefined || sortEntries.length === 0) && !this.def.orderedByKey) {
      const out: StoreRecord[] = [];
      if (limit === 0) return out;
      let skipped = 0;
      for (const r of this.records.values()) {
        if (skipped < offset) {
          skipped++;
          continue;
        }
        out.push(r);
        if (out.length >= limit) break;
      }
      return out;
    }

    // Equality on the leading fields of a sorted index whose next field is the sort
    // field: walk just that part of the index, in sort order, and stop early.
    if (sortEntries !== undefined && sortEntries.length === 1 && !matchesAll) {
      const [field, dir] = sortEntries[0]!;
      const walk = this.#prefixWalk(filter!, field, dir === 'desc', offset);
      if (walk !== undefined)
        return this.#sortedWalk(
          walk.keys,
          field,
          walk.skipped > 0 ? undefined : pred,
          offset - walk.skipped,
          limit,
          walk.tiesInOrder,
        );
    }

    const candidates = matchesAll ? undefined : this.#plan(filter!);

    // A sort on one field with a sorted index and no narrower plan: walk the index, stop early.
    if (sortEntries !== undefined && sortEntries.length === 1 && candidates === undefined) {
      const [field, dir] = sortEntries[0]!;
      const ix = this.#sortedIndexFor(field);
      if (ix !== undefined) {
        const desc = dir === 'desc';
        if (!ix.tiesInOrderFor(0)) return this.#sortedWalk(ix.scan(desc), field, pred, offset, limit, false);
        // No filter: an offset is passed over in the index without reading the records.
        const walk = pred === undefined && offset > 0 ? ix.skipInOrder([], desc, offset) : undefined;
        if (walk === undefined) return this.#sortedWalk(ix.scan(desc), field, pred, offset, limit, true);
        return this.#sortedWalk(walk.keys, field, pred, offset - walk.skipped, limit, true);
      }
    }

    let result: StoreRecord[] | undefined;
    if (candidates !== undefined) {
      const seq = this.#planInOrder ? undefined : this.#seqMap();
      if (this.#planInOrder) {
        const unsorted = sortEntries === undefined || sortEntries.length === 0;
        // Unsorted: offset and limit apply while walking (no copy of rows that are cut anyway).
        const skip = unsorted ? offset : 0;
        const max = unsorted ? limit : Number.POSITIVE_INFINITY;
        const out: StoreRecord[] = [];
        let skipped = 0;
        const recs = this.#planRecords;
        // The index's records are exactly the matches: copy them in one step.
        if (recs !== undefined && skip === 0 && max === Number.POSITIVE_INFINITY && this.#exactPlan(filter!))
          result = Array.from(recs);
        else if (max > 0) {
          if (recs !== undefined) {
            for (const r of recs) {
              if (pred !== undefined && !pred(r)) continue;
              if (skipped < skip) skipped++;
              else if (out.push(r) >= max) break;
            }
          } else {
            for (const k of candidates) {
              const r = this.records.get(k);
              if (r === undefined || (pred !== undefined && !pred(r))) continue;
              if (skipped < skip) skipped++;
              else if (out.push(r) >= max) break;
            }
          }
        }
        if (result === undefined) result = out;
        if (unsorted) return result;
      } else if (seq !== undefined) {
        // Index order need not be bucket order: put it back, so an index never changes
        // results. Candidates usually arrive in order already (one rank lookup each).
        const out: StoreRecord[] = [];
        const ranks: number[] = [];
        let sorted = true;
        let last = -1;
        for (const k of candidates) {
          const r = this.records.get(k);
          if (r === undefined || (pred !== undefined && !pred(r))) continue;
          const rank = seq.get(k)!;
          if (rank < last) sorted = false;
          last = rank;
          out.push(r);
          ranks.push(rank);
        }
        if (sorted) result = out;
        else if (out.length * 2 > this.records.size) result = this.#scan(pred);
        else {
          const order = ranks.map((_, i) => i).sort((a, b) => ranks[a]! - ranks[b]!);
          result = order.map((i) => out[i]!);
        }
      } else {
        const keys: KeyId[] = [];
        for (const k of candidates) {
          const r = this.records.get(k);
          if (r !== undefined && (pred === undefined || pred(r))) keys.push(k);
        }
        if (keys.length > 1) {
          const order = this.#bucketOrder();
          let sorted = true;
          for (let i = 1; i < keys.length && sorted; i++) sorted = order(keys[i - 1]!, keys[i]!) < 0;
          if (!sorted) {
            if (keys.length * Math.log2(keys.length) > this.records.size) {
              keys.length = 0;
              result = this.#scan(pred);
            } else keys.sort(order);
          }
        }
        result ??= keys.map((k) => this.records.get(k)!);
      }
    } else {
      result = this.#scan(pred);
    }
    if (sortEntries !== undefined && sortEntries.length > 0) result = sortRecords(result, sortEntries);
    if (offset > 0 || limit < result.length) result = result.slice(offset, offset + limit);
    return result;
  }

  /**
   * Records for keys that arrive in order of `field`, filtered, offset and
   * limited. Records with equal values (a tie group) are emitted in bucket
   * order, as the stable sort of a full scan would; the walk stops as soon
   * as the page is full. With `tiesInOrder` the keys come so already
   * (except records without a value, last): no group is collected and sorted.
   */
  #sortedWalk(
    keys: Iterable<KeyId>,
    field: string,
    pred: ((r: StoreRecord) => boolean) | undefined,
    offset: number,
    limit: number,
    tiesInOrder: boolean,
  ): StoreRecord[] {
    const out: StoreRecord[] = [];
    if (limit === 0) return out;
    let order: ((a: KeyId, b: KeyId) => number) | undefined;
    let skipped = 0;
    let group: KeyId[] = [];
    let groupValue: unknown;
    const flush = (): boolean => {
      if (group.length > 1) group.sort((order ??= this.#bucketOrder()));
      for (const k of group) {
        if (skipped < offset) {
          skipped++;
          continue;
        }
        out.push(this.records.get(k)!);
        if (out.length >= limit) return true;
      }
      group = [];
      return false;
    };
    for (const k of keys) {
      const r = this.records.get(k)!;
      if (pred !== undefined && !pred(r)) continue;
      const v = r[field] ?? null;
      if (tiesInOrder && v !== null) {
        if (skipped < offset) skipped++;
        else if (out.push(r) >= limit) return out;
        continue;
      }
      if (group.length > 0 && v !== groupValue && flush()) return out;
      groupValue = v;
      group.push(k);
    }
    flush();
    return out;
  }

  /**
   * Keys of the records matching the filter's equalities on the leading
   * fields of a sorted index whose next field is `field`, in order of
   * `field`; undefined when no sorted index fits.
   */
  #prefixWalk(
    filter: WhereFilter,
    field: string,
    descending: boolean,
    offset: number,
  ): { keys: Iterable<KeyId>; tiesInOrder: boolean; skipped: number } | undefined {
    const type = this.def.definition.schema[field]?.type;
    if (type !== 'number' && type !== 'string') return undefined;
    for (const ix of this.indexes) {
      if (!(ix instanceof SortedIndex)) continue;
      const fields = ix.def.fields;
      const m = fields.indexOf(field);
      if (m < 1) continue;
      const prefix: unknown[] = [];
      for (let i = 0; i < m; i++) {
        const v = equalityOf(filter[fields[i]!]);
        if (v === undefined) break;
        prefix.push(v);
      }
      if (prefix.length !== m) continue;
      const tiesInOrder = ix.tiesInOrderFor(m);
      // The filter is just the prefix's equalities: every entry under the prefix matches,
      // so an offset is passed over in the index (the caller then needs no predicate).
      if (tiesInOrder && offset > 0 && Object.keys(filter).length === m)
        return { ...ix.skipInOrder(prefix, descending, offset), tiesInOrder };
      return { keys: ix.prefixScan(prefix, descending), tiesInOrder, skipped: 0 };
    }
    return undefined;
  }

  /**
   * Whether the filter is one equality that the hash index chosen by #plan
   * answers exactly (the records it holds for the value are the matches):
   * one field, a string, finite number or boolean. Dates are indexed under
   * a "\u0000date:" string, so such strings are excluded.
   */
  #exactPlan(filter: WhereFilter): boolean {
    let field: string | undefined;
    for (const f in filter) {
      if (field !== undefined) return false;
      field = f;
    }
    if (field === undefined) return false;
    const v = equalityOf(filter[field]);
    if (typeof v === 'string' ? v.startsWith('\u0000') : v === undefined) return false;
    for (const ix of this.indexes)
      if (
        ix instanceof HashIndex &&
        ix.def.fields.length === 1 &&
        ix.def.fields[0] === field &&
        !ix.def.unique
      )
        return true;
    return false;
  }

  /** Full scan in bucket order. */
  #scan(pred: ((r: StoreRecord) => boolean) | undefined): StoreRecord[] {
    if (pred === undefined) return this.all();
    const result: StoreRecord[] = [];
    if (this.def.orderedByKey) {
      for (const k of this.orderedKeys()) {
        const r = this.records.get(k)!;
        if (pred(r)) result.push(r);
      }
    } else {
      for (const r of this.records.values()) if (pred(r)) result.push(r);
    }
    return result;
  }

  findOne(filter: WhereFilter): StoreRecord | undefined {
    const pred = compileFilter(filter);
    const candidates = this.#plan(filter);
    if (candidates !== undefined && this.#planInOrder) {
      if (this.#planRecords !== undefined) {
        for (const r of this.#planRecords) if (pred(r)) return r;
        return undefined;
      }
      for (const k of candidates) {
        const r = this.records.get(k);
        if (r !== undefined && pred(r)) return r;
      }
      return undefined;
    }
    if (candidates !== undefined) {
      // The first match in bucket order, as a full scan would find it.
      const order = this.#bucketOrder();
      let best: KeyId | undefined;
      for (const k of candidates) {
        const r = this.records.get(k);
        if (r !== undefined && pred(r) && (best === undefined || order(k, best) < 0)) best = k;
      }
      return best === undefined ? undefined : this.records.get(best);
    }
    if (this.def.orderedByKey) {
      for (const k of this.orderedKeys()) {
        const r = this.records.get(k)!;
        if (pred(r)) return r;
      }
      return undefined;
    }
    for (const r of this.records.values()) if (pred(r)) return r;
    return undefined;
  }

  count(filter: WhereFilter | undefined): number {
    if (filter === undefined) return this.records.size;
    const pred = compileFilter(filter);
    const candidates = this.#plan(filter);
    let n = 0;
    if (candidates !== undefined && this.#planRecords !== undefined) {
      for (const r of this.#planRecords) if (pred(r)) n++;
      return n;
    }
    if (candidates !== undefined) {
      for (const k of candidates) {
        const r = this.records.get(k);
        if (r !== undefined && pred(r)) n++;
      }
      return n;
    }
    for (const r of this.records.values()) if (pred(r)) n++;
    return n;
  }

  #sortedIndexFor(field: string): SortedIndex | undefined {
    const type = this.def.definition.schema[field]?.type;
    if (type !== 'number' && type !== 'string') return undefined;
    for (const ix of this.indexes) {
      if (ix instanceof SortedIndex && ix.def.fields[0] === field) return ix;
    }
    return undefined;
  }

  /**
   * Candidate keys for a filter from the most selective usable index, or
   * undefined for a full scan. Candidates are always re-checked against
   * the whole filter, so a plan only has to be a superset.
   */
  #plan(filter: WhereFilter): Iterable<KeyId> | undefined {
    this.#planInOrder = false;
    this.#planRecords = undefined;
    const eq = new Map<string, unknown>();
    const ranges = new Map<string, { lower?: RangeBound; upper?: RangeBound }>();
    const ins = new Map<string, readonly unknown[]>();
    for (const field of Object.keys(filter)) {
      if (field.startsWith('$')) continue;
      const cond = filter[field];
      if (!isFilterOperators(cond)) {
        // null/undefined are not in any index (equality with them means "is null" / "is missing").
        if (cond != null && typeof cond !== 'object') eq.set(field, cond);
        continue;
      }
      const c = cond as Record<string, unknown>;
      if (c.$eq != null && typeof c.$eq !== 'object') eq.set(field, c.$eq);
      if (Array.isArray(c.$in) && c.$in.every((x) => x != null && typeof x !== 'object'))
        ins.set(field, c.$in);
      const r: { lower?: RangeBound; upper?: RangeBound } = {};
      if (c.$gt !== undefined) r.lower = { value: c.$gt, inclusive: false };
      if (c.$gte !== undefined) r.lower = { value: c.$gte, inclusive: true };
      if (c.$lt !== undefined) r.upper = { value: c.$lt, inclusive: false };
      if (c.$lte !== undefined) r.upper = { value: c.$lte, inclusive: true };
      if (Array.isArray(c.$between) && c.$between.length === 2) {
        r.lower = { value: c.$between[0], inclusive: true };
        r.upper = { value: c.$between[1], inclusive: true };
      }
      if (
        typeof c.$startsWith === 'string' &&
        c.$startsWith !== '' &&
        r.lower === undefined &&
        r.upper === undefined
      ) {
        const p = c.$startsWith;
        r.lower = { value: p, inclusive: true };
        const last = p.charCodeAt(p.length - 1);
        if (last < 0xffff)
          r.upper = { value: p.slice(0, -1) + String.fromCharCode(last + 1), inclusive: false };
      }
      if (r.lower !== undefined || r.upper !== undefined) ranges.set(field, r);
    }
    if (eq.size === 0 && ranges.size === 0 && ins.size === 0) return undefined;

    // Primary key equality: at most one record.
    const keyFields = this.def.keyFields;
    if (keyFields.every((f) => eq.has(f))) {
      const values = keyFields.map((f) => eq.get(f));
      if (values.every((v) => typeof v === 'string' || typeof v === 'number')) {
        return [this.#singleKey !== undefined ? (values[0] as KeyId) : encodeTuple(values)];
      }
      return [];
    }

    let best: Iterable<KeyId> | undefined;
    let bestCost = Number.POSITIVE_INFINITY;
    for (const ix of this.indexes) {
      const fields = ix.def.fields;
      if (ix instanceof HashIndex) {
        if (fields.every((f) => eq.has(f))) {
          const v = ix.valueFor(fields.map((f) => eq.get(f)));
          const cost = ix.estimate(v);
          if (cost < bestCost) {
            best = ix.lookup(v);
            bestCost = cost;
            this.#planInOrder = ix.inBucketOrder && !this.def.orderedByKey;
            this.#planRecords = ix.recordsOf(v) as Iterable<StoreRecord> | undefined;
          }
        } else if (fields.length === 1 && ins.has(fields[0]!)) {
          const values = ins.get(fields[0]!)!;
          let cost = 0;
          for (const v of values) cost += ix.estimate(v);
          if (cost < bestCost) {
            best = unionLookup(ix, values);
            bestCost = cost;
            this.#planInOrder = false;
            this.#planRecords = undefined;
          }
        }
        continue;
      }
      // Sorted index: equality on a prefix, then optionally a range on the next field.
      const prefix: unknown[] = [];
      while (prefix.length < fields.length && eq.has(fields[prefix.length]!))
        prefix.push(eq.get(fields[prefix.length]!));
      const next = fields[prefix.length];
      const range = next !== undefined ? ranges.get(next) : undefined;
      const usableRange = range !== undefined && this.#rangeUsable(next!, range);
      if (prefix.length === 0 && !usableRange) continue;
      if (prefix.some((v) => v === null || v === undefined)) return [];
      // Cost: an equality prefix or range is assumed to narrow well; prefer hash equality on ties.
      const cost = ix.size / (prefix.length > 0 ? 10 ** prefix.length : 4) + (usableRange ? 0 : 1);
      if (cost < bestCost) {
        best = ix.range(prefix, usableRange ? range.lower : undefined, usableRange ? range.upper : undefined);
        bestCost = cost;
        this.#planInOrder = false;
        this.#planRecords = undefined;
      }
    }
    return best;
  }

  /** A range is served by a sorted index only when bound types match the field's schema type. */
  #rangeUsable(field: string, range: { lower?: RangeBound; upper?: RangeBound }): boolean {
    const type = this.def.definition.schema[field]?.type;
    if (type !== 'number' && type !== 'string') return false;
    const ok = (b: RangeBound | undefined) => b === undefined || typeof b.value === type;
    return ok(range.lower) && ok(range.upper);
  }
}

function* unionLookup(ix: HashIndex, values: readonly unknown[]): Iterable<KeyId> {
  const seen = new Set<unknown>();
  for (const v of values) {
    if (seen.has(v)) continue;
    seen.add(v);
    yield* ix.lookup(ix.valueFor([v]));
  }
}

/** The value a filter condition fixes by equality (a string, number or boolean), or undefined. */
function equalityOf(cond: unknown): unknown {
  if (cond === null || cond === undefined) return undefined;
  if (typeof cond !== 'object') return typeof cond === 'number' && Number.isNaN(cond) ? undefined : cond;
  if (!isFilterOperators(cond)) return undefined;
  const v = (cond as Record<string, unknown>).$eq;
  return v === null || typeof v === 'object' || (typeof v === 'number' && Number.isNaN(v)) ? undefined : v;
}

function compareKeyValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

function describeKey(key: unknown): string {
  if (key === null) return 'null';
  if (Array.isArray(key)) return `an array of ${key.length}`;
  if (typeof key === 'number') return String(key);
  return typeof key;
}

function checkOptions(options: WhereOptions | undefined): WhereOptions {
  if (options === undefined) return {};
  if (!isObjectArg(options))
    throw new InvalidArgumentError('where', 'options', 'expected {sort?, limit?, offset?}');
  const { sort, limit, offset } = options;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new InvalidArgumentError(
      'where',
      'options.limit',
      `expected a non-negative integer, got ${String(limit)}`,
    );
  }
  if (offset !== undefined && !(Number.isInteger(offset) && offset >= 0)) {
    throw new InvalidArgumentError(
      'where',
      'options.offset',
      `expected a non-negative integer, got ${String(offset)}`,
    );
  }
  if (sort !== undefined) {
    if (!isPlainObject(sort)) throw new InvalidFilterError('sort', 'expected {field: "asc" | "desc"}');
    for (const [f, d] of Object.entries(sort)) {
      if (d !== 'asc' && d !== 'desc')
        throw new InvalidFilterError(`sort.${f}`, `expected "asc" or "desc", got ${String(d)}`);
    }
  }
  return options;
}

/** Stable multi-field sort; null/undefined last in either direction (noex-store rule). */
export function sortRecords<R extends Rec>(records: R[], entries: ReadonlyArray<[string, string]>): R[] {
  return [...records].sort((a, b) => {
    for (const [field, direction] of entries) {
      const av = a[field];
      const bv = b[field];
      if (av === bv) continue;
      if (av == null) return bv == null ? 0 : 1;
      if (bv == null) return -1;
      const c =
        typeof av === typeof bv && (typeof av === 'number' || typeof av === 'string')
          ? av < (bv as typeof av)
            ? -1
            : av > (bv as typeof av)
              ? 1
              : 0
          : compareValues(av, bv);
      if (c !== 0) return direction === 'desc' ? -c : c;
    }
    return 0;
  });
}

function checkCount(operation: string, n: unknown): void {
  if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
    throw new InvalidArgumentError(
      operation,
      operation === 'paginate' ? 'limit' : 'n',
      `expected a non-negative integer, got ${String(n)}`,
    );
  }
}

/** Index records in bulk (BucketState.loadBulk); a value held twice in a unique index throws. */
function bulkIndex(
  ix: Index,
  keys: readonly KeyId[],
  records: readonly StoreRecord[],
  bucketLabel: string,
): void {
  const clash = ix.bulkLoad(keys, records);
  if (clash === undefined) return;
  const f = ix.def.fields;
  throw new UniqueConstraintError(
    bucketLabel,
    f.join(', '),
    f.length === 1 ? clash[f[0]!] : ix.valueOf(clash),
  );
}

/**
 * Records in `_createdAt` order (stable). The records map keeps insertion
 * order, which maxSize eviction relies on as "oldest first"; stored or
 * rebuilt records (key-ordered buckets, storage order) may arrive otherwise.
 */
function byCreation(list: StoreRecord[]): StoreRecord[] {
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1]!._createdAt;
    const b = list[i]!._createdAt;
    if (typeof a !== 'number' || typeof b !== 'number') return list;
    if (a > b) return [...list].sort((x, y) => (x._createdAt ?? 0) - (y._createdAt ?? 0));
  }
  return list;
}
