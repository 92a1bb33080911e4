// store.transaction(): writes of every bucket are staged in one WriteSet.
// Reads see the transaction's own writes; nobody else sees anything until
// commit, where every touched record's version is checked and all
// constraints are checked against the final state before anything changes.
// The commit is one ChangeBatch, hence one storage transaction.
import type {
  BucketName,
  BucketState,
  FilterFor,
  InsertOf,
  RecordOf,
  SchemaTypes,
  StoreCore,
  StoreRecord,
  UntypedSchema,
  WhereFilter,
  WriteOptions,
  WriteSet,
} from '../engine/index.js';
import { compileFilter, InvalidArgumentError, isPlainObject } from '../engine/index.js';

type Rec = Record<string, unknown>;

/** A transaction; `S` types `bucket(name)` on a typed store. */
export class TransactionContext<S extends SchemaTypes = UntypedSchema> {
  readonly #core: StoreCore;
  readonly #ws: WriteSet;
  readonly #handles = new Map<string, TransactionBucketHandle<any, any>>();
  #done = false;

  constructor(core: StoreCore) {
    this.#core = core;
    this.#ws = core.writeSet(true);
  }

  /** A transactional handle on a bucket (cached per name). */
  async bucket<N extends BucketName<S>>(
    name: N,
  ): Promise<TransactionBucketHandle<RecordOf<S, N>, InsertOf<S, N>>> {
    this.#check();
    let h = this.#handles.get(name);
    if (h === undefined) {
      const b = this.#core.require(name);
      if (b.loading !== undefined) await b.loading;
      h = new TransactionBucketHandle<any, any>(this.#core.require(name), this.#ws, () => this.#check());
      this.#handles.set(name, h);
    }
    return h as TransactionBucketHandle<RecordOf<S, N>, InsertOf<S, N>>;
  }

  #check(): void {
    if (this.#done) throw new Error('Transaction already committed');
  }

  /** @internal */
  commit(options?: WriteOptions): Promise<void> | undefined {
    this.#check();
    this.#done = true;
    if (this.#ws.isEmpty) return undefined;
    const actor = options?.actor;
    if (actor !== undefined && typeof actor !== 'string') {
      throw new InvalidArgumentError('transaction', 'options.actor', 'expected a string');
    }
    const authorize = options?.authorize;
    if (authorize !== undefined && typeof authorize !== 'function')
      throw new InvalidArgumentError('transaction', 'options.authorize', 'expected a function');
    return this.#core.commit(this.#ws, actor, authorize);
  }

  /** @internal Marks the transaction finished without committing. */
  abandon(): void {
    this.#done = true;
  }
}

/** A bucket inside a transaction; `R` is the record type, `I` what `insert` accepts. */
export class TransactionBucketHandle<R extends Rec = Rec, I extends Rec = Rec> {
  readonly #b: BucketState;
  readonly #ws: WriteSet;
  readonly #check: () => void;

  constructor(b: BucketState, ws: WriteSet, check: () => void) {
    this.#b = b;
    this.#ws = ws;
    this.#check = check;
  }

  get name(): string {
    return this.#b.name;
  }

  async insert(data: I): Promise<StoreRecord<R>> {
    this.#check();
    checkRecord('insert', data);
    if (this.#b.counterReservation !== undefined)
      await this.#b.counterReservation.ensure(1, this.#b.autoincrement);
    return this.#ws.insert(this.#b, data) as StoreRecord<R>;
  }

  async update(key: unknown, changes: Partial<R>): Promise<StoreRecord<R>> {
    this.#check();
    const keyId = this.#b.toKeyId(key, 'update');
    checkRecord('update', changes);
    return this.#ws.update(this.#b, keyId, changes as Rec, key) as StoreRecord<R>;
  }

  async delete(key: unknown): Promise<void> {
    this.#check();
    this.#ws.delete(this.#b, this.#b.toKeyId(key, 'delete'));
  }

  async insertMany(data: readonly I[]): Promise<StoreRecord<R>[]> {
    this.#check();
    if (!Array.isArray(data)) throw new InvalidArgumentError('insertMany', 'records', 'expected an array');
    for (const d of data) checkRecord('insertMany', d);
    if (this.#b.counterReservation !== undefined)
      await this.#b.counterReservation.ensure(data.length, this.#b.autoincrement);
    return data.map((d) => this.#ws.insert(this.#b, d)) as StoreRecord<R>[];
  }

  async updateMany(filter: FilterFor<R>, changes: Partial<R>): Promise<number> {
    this.#check();
    checkRecord('updateMany', changes);
    const b = this.#b;
    const matching = this.#where(filter as WhereFilter);
    for (const r of matching) this.#ws.update(b, b.keyIdOf(r), changes as Rec, b.publicKeyOf(r));
    return matching.length;
  }

  async deleteMany(filter: FilterFor<R>): Promise<number> {
    this.#check();
    const b = this.#b;
    const matching = this.#where(filter as WhereFilter);
    const visited = new Set<string>();
    for (const r of matching) this.#ws.delete(b, b.keyIdOf(r), visited);
    return matching.length;
  }

  async upsert(input: I): Promise<StoreRecord<R>> {
    this.#check();
    checkRecord('upsert', input);
    if (this.#b.counterReservation !== undefined)
      await this.#b.counterReservation.ensure(1, this.#b.autoincrement);
    const data = input as Rec;
    const b = this.#b;
    if (b.def.keyFields.every((f) => data[f] !== undefined && data[f] !== null)) {
      const keyId = b.keyIdOf(data);
      if (this.#ws.read(b, keyId) !== undefined)
        return this.#ws.update(b, keyId, data, b.publicKeyOf(data)) as StoreRecord<R>;
    }
    return this.#ws.insert(b, data) as StoreRecord<R>;
  }

  async get(key: unknown): Promise<StoreRecord<R> | undefined> {
    return this.#ws.read(this.#b, this.#b.toKeyId(key, 'get')) as StoreRecord<R> | undefined;
  }

  async all(): Promise<StoreRecord<R>[]> {
    return this.#where(undefined) as StoreRecord<R>[];
  }

  async where(filter: FilterFor<R>): Promise<StoreRecord<R>[]> {
    return this.#where(filter as WhereFilter) as StoreRecord<R>[];
  }

  async findOne(filter: FilterFor<R>): Promise<StoreRecord<R> | undefined> {
    return this.#where(filter as WhereFilter)[0] as StoreRecord<R> | undefined;
  }

  async count(filter?: FilterFor<R>): Promise<number> {
    return this.#where(filter as WhereFilter | undefined).length;
  }

  /** Committed matches with this transaction's writes laid over them. */
  #where(filter: WhereFilter | undefined): StoreRecord[] {
    if (filter !== undefined && !isPlainObject(filter)) {
      throw new InvalidArgumentError('where', 'filter', 'expected a filter object');
    }
    const b = this.#b;
    const ws = this.#ws;
    const pred = filter === undefined ? undefined : compileFilter(filter);
    const out: StoreRecord[] = [];
    const emitted = new Set<unknown>();
    for (const r of filter === undefined ? b.all() : b.select(filter)) {
      const k = b.keyIdOf(r);
      if (ws.isStaged(b, k)) {
        const next = ws.read(b, k);
        if (next !== undefined && (pred === undefined || pred(next))) out.push(next);
        emitted.add(k);
      } else out.push(r);
    }
    for (const s of ws.stagedOf(b)) {
      if (s.next === undefined || emitted.has(s.keyId)) continue;
      if (pred === undefined || pred(s.next)) out.push(s.next);
    }
    return out;
  }
}

function checkRecord(op: string, data: unknown): void {
  if (!isPlainObject(data)) throw new InvalidArgumentError(op, 'record', 'expected a plain object');
}
