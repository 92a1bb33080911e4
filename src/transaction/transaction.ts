// store.transaction(): writes of every bucket are staged in one WriteSet.
// Reads see the transaction's own writes; nobody else sees anything until
// commit, where every touched record's version is checked and all
// constraints are checked against the final state before anything changes.
// The commit is one ChangeBatch, hence one storage transaction.
import type {
  BucketState,
  StoreCore,
  StoreRecord,
  WhereFilter,
  WriteOptions,
  WriteSet,
} from '../engine/index.js';
import { compileFilter, InvalidArgumentError, isPlainObject } from '../engine/index.js';

type Rec = Record<string, unknown>;

export class TransactionContext {
  readonly #core: StoreCore;
  readonly #ws: WriteSet;
  readonly #handles = new Map<string, TransactionBucketHandle>();
  #done = false;

  constructor(core: StoreCore) {
    this.#core = core;
    this.#ws = core.writeSet(true);
  }

  /** A transactional handle on a bucket (cached per name). */
  async bucket(name: string): Promise<TransactionBucketHandle> {
    this.#check();
    let h = this.#handles.get(name);
    if (h === undefined) {
      const b = this.#core.require(name);
      if (b.loading !== undefined) await b.loading;
      h = new TransactionBucketHandle(this.#core.require(name), this.#ws, () => this.#check());
      this.#handles.set(name, h);
    }
    return h;
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

export class TransactionBucketHandle {
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

  async insert(data: Rec): Promise<StoreRecord> {
    this.#check();
    checkRecord('insert', data);
    return this.#ws.insert(this.#b, data);
  }

  async update(key: unknown, changes: Rec): Promise<StoreRecord> {
    this.#check();
    const keyId = this.#b.toKeyId(key, 'update');
    checkRecord('update', changes);
    return this.#ws.update(this.#b, keyId, changes, key);
  }

  async delete(key: unknown): Promise<void> {
    this.#check();
    this.#ws.delete(this.#b, this.#b.toKeyId(key, 'delete'));
  }

  async insertMany(data: Rec[]): Promise<StoreRecord[]> {
    this.#check();
    if (!Array.isArray(data)) throw new InvalidArgumentError('insertMany', 'records', 'expected an array');
    for (const d of data) checkRecord('insertMany', d);
    return data.map((d) => this.#ws.insert(this.#b, d));
  }

  async updateMany(filter: WhereFilter, changes: Rec): Promise<number> {
    this.#check();
    checkRecord('updateMany', changes);
    const b = this.#b;
    const matching = this.#where(filter);
    for (const r of matching) this.#ws.update(b, b.keyIdOf(r), changes, b.publicKeyOf(r));
    return matching.length;
  }

  async deleteMany(filter: WhereFilter): Promise<number> {
    this.#check();
    const b = this.#b;
    const matching = this.#where(filter);
    const visited = new Set<string>();
    for (const r of matching) this.#ws.delete(b, b.keyIdOf(r), visited);
    return matching.length;
  }

  async upsert(data: Rec): Promise<StoreRecord> {
    this.#check();
    checkRecord('upsert', data);
    const b = this.#b;
    if (b.def.keyFields.every((f) => data[f] !== undefined && data[f] !== null)) {
      const keyId = b.keyIdOf(data);
      if (this.#ws.read(b, keyId) !== undefined) return this.#ws.update(b, keyId, data, b.publicKeyOf(data));
    }
    return this.#ws.insert(b, data);
  }

  async get(key: unknown): Promise<StoreRecord | undefined> {
    return this.#ws.read(this.#b, this.#b.toKeyId(key, 'get'));
  }

  async all(): Promise<StoreRecord[]> {
    return this.#where(undefined);
  }

  async where(filter: WhereFilter): Promise<StoreRecord[]> {
    return this.#where(filter);
  }

  async findOne(filter: WhereFilter): Promise<StoreRecord | undefined> {
    return this.#where(filter)[0];
  }

  async count(filter?: WhereFilter): Promise<number> {
    return this.#where(filter).length;
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
