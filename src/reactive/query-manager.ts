// Reactive queries. A subscription remembers its last result and what it
// read; after a commit, every subscription whose dependencies the commit
// touched is re-run once (however many records changed), and its callback
// fires only if the result differs by deep equality.
import type { Change, DeclarativeQueryConfig, QueryFn, QueryInfo, ReadFilter } from '../engine/index.js';
import {
  deepEqual,
  InvalidArgumentError,
  QueryAlreadyDefinedError,
  QueryNotDefinedError,
} from '../engine/index.js';
import { type Dependencies, type ReadableBucket, TrackingContext } from './query-context.js';

interface QueryDef {
  readonly name: string;
  readonly fn: QueryFn;
  readonly type: 'programmatic' | 'declarative';
  readonly config?: DeclarativeQueryConfig;
}

interface Subscription {
  readonly id: number;
  readonly query: string;
  readonly params: unknown;
  readonly callback: (result: any) => void;
  readonly readFilter: ReadFilter | undefined;
  lastResult: unknown;
  deps: Dependencies;
  /** A re-run is queued and has not started: further changes need no extra run. */
  queued: boolean;
  running: Promise<void> | undefined;
}

export class QueryManager {
  readonly #queries = new Map<string, QueryDef>();
  readonly #subs = new Map<number, Subscription>();
  readonly #byBucket = new Map<string, Set<Subscription>>();
  readonly #byRecord = new Map<string, Map<unknown, Set<Subscription>>>();
  readonly #pending = new Set<Promise<void>>();
  /** Runs in progress: a commit touching what a run already read makes its result stale. */
  readonly #inFlight = new Set<{ readonly deps: Dependencies; stale: boolean }>();
  readonly #access: (name: string) => ReadableBucket;
  readonly #onCallbackError: (error: unknown) => void;
  #nextId = 0;

  constructor(
    access: (name: string) => ReadableBucket,
    onCallbackError: (error: unknown) => void = () => {},
  ) {
    this.#access = access;
    this.#onCallbackError = onCallbackError;
  }

  get queryCount(): number {
    return this.#queries.size;
  }

  get subscriptionCount(): number {
    return this.#subs.size;
  }

  define(name: string, fn: QueryFn, config?: DeclarativeQueryConfig): void {
    if (typeof name !== 'string' || name === '')
      throw new InvalidArgumentError('defineQuery', 'name', 'expected a non-empty string');
    if (typeof fn !== 'function')
      throw new InvalidArgumentError('defineQuery', 'fn', 'expected an async function (ctx, params)');
    if (this.#queries.has(name)) throw new QueryAlreadyDefinedError(name);
    this.#queries.set(
      name,
      config !== undefined ? { name, fn, type: 'declarative', config } : { name, fn, type: 'programmatic' },
    );
  }

  undefine(name: string): boolean {
    if (!this.#queries.has(name)) return false;
    for (const sub of [...this.#subs.values()]) if (sub.query === name) this.#remove(sub);
    this.#queries.delete(name);
    return true;
  }

  list(): QueryInfo[] {
    return [...this.#queries.values()].map((d) => this.#info(d));
  }

  info(name: string): QueryInfo | undefined {
    const d = this.#queries.get(name);
    return d === undefined ? undefined : this.#info(d);
  }

  #info(d: QueryDef): QueryInfo {
    let active = 0;
    for (const s of this.#subs.values()) if (s.query === d.name) active++;
    return d.config !== undefined
      ? { name: d.name, type: d.type, config: d.config, activeSubscriptions: active }
      : { name: d.name, type: d.type, activeSubscriptions: active };
  }

  async subscribe(
    name: string,
    paramsOrCallback: unknown,
    maybeCallback?: (result: any) => void,
    readFilter?: ReadFilter,
  ): Promise<() => void> {
    const hasParams = typeof paramsOrCallback !== 'function';
    const params = hasParams ? paramsOrCallback : undefined;
    const callback = (hasParams ? maybeCallback : paramsOrCallback) as (result: any) => void;
    if (typeof callback !== 'function')
      throw new InvalidArgumentError('subscribe', 'callback', 'expected a function');
    const def = this.#get(name);
    const ctx = new TrackingContext(this.#access, readFilter);
    const { result: initial, stale } = await this.#run(def.fn, ctx, params);
    const sub: Subscription = {
      id: ++this.#nextId,
      query: name,
      params,
      callback,
      readFilter,
      lastResult: initial,
      deps: ctx.deps,
      queued: false,
      running: undefined,
    };
    this.#subs.set(sub.id, sub);
    this.#index(sub);
    // A commit landed while the initial run was reading: re-run (the callback fires if the result moved).
    if (stale) this.#schedule(sub);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#remove(sub);
    };
  }

  async run(name: string, params?: unknown, readFilter?: ReadFilter): Promise<unknown> {
    const def = this.#get(name);
    return run(def.fn, new TrackingContext(this.#access, readFilter), params);
  }

  /** Called once per commit with all of its changes. */
  onChanges(changes: readonly Change[]): void {
    if (this.#inFlight.size === 0 && this.#subs.size === 0) return;
    for (const f of this.#inFlight) {
      if (f.stale) continue;
      for (const c of changes) {
        if (f.deps.buckets.has(c.bucket) || f.deps.records.get(c.bucket)?.has(c.keyId)) {
          f.stale = true;
          break;
        }
      }
    }
    if (this.#subs.size === 0) return;
    const affected = new Set<Subscription>();
    for (const c of changes) {
      const b = this.#byBucket.get(c.bucket);
      if (b !== undefined) for (const s of b) affected.add(s);
      const r = this.#byRecord.get(c.bucket)?.get(c.keyId);
      if (r !== undefined) for (const s of r) affected.add(s);
    }
    for (const sub of affected) this.#schedule(sub);
  }

  /** Subscriptions reading a dropped bucket end. */
  dropBucket(bucket: string): void {
    const subs = new Set<Subscription>(this.#byBucket.get(bucket));
    for (const set of this.#byRecord.get(bucket)?.values() ?? []) for (const s of set) subs.add(s);
    for (const s of subs) this.#remove(s);
  }

  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  destroy(): void {
    this.#subs.clear();
    this.#byBucket.clear();
    this.#byRecord.clear();
    this.#queries.clear();
  }

  #get(name: string): QueryDef {
    const def = this.#queries.get(name);
    if (def === undefined) throw new QueryNotDefinedError(name);
    return def;
  }

  async #run(
    fn: QueryFn,
    ctx: TrackingContext,
    params: unknown,
  ): Promise<{ result: unknown; stale: boolean }> {
    const flight = { deps: ctx.deps, stale: false };
    this.#inFlight.add(flight);
    try {
      const result = await run(fn, ctx, params);
      return { result, stale: flight.stale };
    } finally {
      this.#inFlight.delete(flight);
    }
  }

  #schedule(sub: Subscription): void {
    if (sub.queued) return;
    sub.queued = true;
    // Runs after the current run of this subscription (results stay in order).
    const previous = sub.running ?? Promise.resolve();
    const p = previous.then(() => this.#reevaluate(sub));
    sub.running = p;
    this.#pending.add(p);
    void p.finally(() => {
      this.#pending.delete(p);
      if (sub.running === p) sub.running = undefined;
    });
  }

  async #reevaluate(sub: Subscription): Promise<void> {
    sub.queued = false;
    if (!this.#subs.has(sub.id)) return;
    const def = this.#queries.get(sub.query);
    if (def === undefined) return;
    let result: unknown;
    let stale: boolean;
    let ctx: TrackingContext;
    try {
      ctx = new TrackingContext(this.#access, sub.readFilter);
      ({ result, stale } = await this.#run(def.fn, ctx, sub.params));
    } catch {
      return; // the subscription stays; a failing re-run skips the callback (noex-store behaviour)
    }
    if (!this.#subs.has(sub.id)) return;
    this.#unindex(sub);
    sub.deps = ctx.deps;
    this.#index(sub);
    if (stale) this.#schedule(sub);
    if (!deepEqual(sub.lastResult, result)) {
      sub.lastResult = result;
      try {
        sub.callback(result);
      } catch (e) {
        this.#onCallbackError(e);
      }
    }
  }

  #index(sub: Subscription): void {
    for (const b of sub.deps.buckets) {
      let set = this.#byBucket.get(b);
      if (set === undefined) this.#byBucket.set(b, (set = new Set()));
      set.add(sub);
    }
    for (const [b, keys] of sub.deps.records) {
      let byKey = this.#byRecord.get(b);
      if (byKey === undefined) this.#byRecord.set(b, (byKey = new Map()));
      for (const k of keys) {
        let set = byKey.get(k);
        if (set === undefined) byKey.set(k, (set = new Set()));
        set.add(sub);
      }
    }
  }

  #unindex(sub: Subscription): void {
    for (const b of sub.deps.buckets) {
      const set = this.#byBucket.get(b);
      if (set?.delete(sub) && set.size === 0) this.#byBucket.delete(b);
    }
    for (const [b, keys] of sub.deps.records) {
      const byKey = this.#byRecord.get(b);
      if (byKey === undefined) continue;
      for (const k of keys) {
        const set = byKey.get(k);
        if (set?.delete(sub) && set.size === 0) byKey.delete(k);
      }
      if (byKey.size === 0) this.#byRecord.delete(b);
    }
  }

  #remove(sub: Subscription): void {
    if (!this.#subs.delete(sub.id)) return;
    this.#unindex(sub);
  }
}

function run(fn: QueryFn, ctx: TrackingContext, params: unknown): Promise<unknown> {
  return params === undefined
    ? (fn as unknown as (c: TrackingContext) => Promise<unknown>)(ctx)
    : fn(ctx, params);
}
