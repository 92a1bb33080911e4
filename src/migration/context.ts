// The migration context: schema operations, each building the bucket's next
// definition and (when records change) a transform, applied through
// `store.replaceDefinition`, which builds the new bucket state completely
// before swapping it in. Every rebuilt record is validated against the new
// definition. The runner wraps a whole migration in a schema session, so a
// failure in any later step puts everything back.

import { BucketNotDefinedError } from '../errors/index.js';
import type {
  BucketDefinition,
  FieldDefinition,
  FieldType,
  IndexSpec,
  SchemaDefinition,
  Store,
  StoreRecord,
} from '../store/index.js';
import { InvalidArgumentError, isPlainObject } from '../store/index.js';
import { MigrationStepError } from './errors.js';
import type { MigrationBucketHandle, MigrationContext } from './types.js';

type Rec = Record<string, unknown>;

const META = ['_version', '_createdAt', '_updatedAt', '_expiresAt'] as const;

/** @internal */
export class MigrationContextImpl implements MigrationContext {
  readonly #store: Store;
  readonly #label: string;
  readonly #pending = new Set<Promise<unknown>>();
  #closed = false;

  constructor(store: Store, label: string) {
    this.#store = store;
    this.#label = label;
  }

  bucket(name: string): MigrationBucketHandle {
    if (typeof name !== 'string' || name === '')
      throw new InvalidArgumentError('migration bucket', 'name', 'expected a non-empty string');
    return new MigrationBucketHandleImpl(this, this.#store, name);
  }

  createBucket(name: string, definition: BucketDefinition): Promise<void> {
    return this.run(async () => {
      await this.#store.defineBucket(name, definition);
    });
  }

  dropBucket(name: string): Promise<void> {
    return this.run(async () => {
      await this.#store.dropBucket(name);
    });
  }

  /** @internal Run one step, remembering it until it settles (so the runner can wait for unawaited steps). */
  run(step: () => Promise<void> | void): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new InvalidArgumentError(
          'migration',
          'context',
          `the context of ${this.#label} was used after that migration ended`,
        ),
      );
    }
    const p = (async () => step())();
    this.#pending.add(p);
    p.then(
      () => this.#pending.delete(p),
      () => this.#pending.delete(p),
    );
    return p;
  }

  /** @internal Wait for steps still running; the first failure among them (if any). */
  async settle(): Promise<{ error: unknown } | undefined> {
    let failure: { error: unknown } | undefined;
    while (this.#pending.size > 0) {
      const results = await Promise.allSettled([...this.#pending]);
      for (const r of results)
        if (r.status === 'rejected' && failure === undefined) failure = { error: r.reason };
    }
    return failure;
  }

  /** @internal */
  close(): void {
    this.#closed = true;
  }
}

class MigrationBucketHandleImpl implements MigrationBucketHandle {
  readonly #ctx: MigrationContextImpl;
  readonly #store: Store;
  readonly #name: string;

  constructor(ctx: MigrationContextImpl, store: Store, name: string) {
    this.#ctx = ctx;
    this.#store = store;
    this.#name = name;
  }

  addField(name: string, definition: FieldDefinition, defaultValue?: unknown): Promise<void> {
    return this.#step(async (def) => {
      checkFieldName('addField', name);
      if (Object.hasOwn(def.schema, name))
        this.#fail(name, `Field "${name}" already exists in bucket "${this.#name}"`);
      const schema: SchemaDefinition = { ...def.schema, [name]: definition };
      const fallback = defaultValue !== undefined ? () => defaultValue : defaultOf(definition);
      this.#replace(with_(def, { schema }), (r) => {
        if (fallback === undefined || r[name] !== undefined) return r;
        return Object.assign({}, r, { [name]: fallback() });
      });
    });
  }

  removeField(name: string): Promise<void> {
    return this.#step(async (def) => {
      if (!Object.hasOwn(def.schema, name))
        this.#fail(name, `Field "${name}" does not exist in bucket "${this.#name}"`);
      if (keyFields(def).includes(name))
        this.#fail(name, `Cannot remove key field "${name}" from bucket "${this.#name}"`);
      const { [name]: _removed, ...schema } = def.schema;
      const indexes = (def.indexes ?? []).filter((ix) => !indexFields(ix).includes(name));
      this.#replace(with_(def, { schema, indexes }), (r) => {
        if (!Object.hasOwn(r, name)) return r;
        const { [name]: _gone, ...rest } = r;
        return rest;
      });
    });
  }

  renameField(oldName: string, newName: string): Promise<void> {
    return this.#step(async (def) => {
      checkFieldName('renameField', newName);
      if (!Object.hasOwn(def.schema, oldName))
        this.#fail(oldName, `Field "${oldName}" does not exist in bucket "${this.#name}"`);
      if (keyFields(def).includes(oldName))
        this.#fail(oldName, `Cannot rename key field "${oldName}" in bucket "${this.#name}"`);
      if (Object.hasOwn(def.schema, newName))
        this.#fail(newName, `Field "${newName}" already exists in bucket "${this.#name}"`);
      // Keep the field's position in the schema.
      const schema: Record<string, FieldDefinition> = {};
      for (const [f, fd] of Object.entries(def.schema)) schema[f === oldName ? newName : f] = fd;
      const indexes = (def.indexes ?? []).map((ix) => renameInIndex(ix, oldName, newName));
      this.#replace(with_(def, { schema, indexes }), (r) => {
        if (!Object.hasOwn(r, oldName)) return r;
        const out: Rec = {};
        for (const [k, v] of Object.entries(r)) out[k === oldName ? newName : k] = v;
        return out;
      });
    });
  }

  changeFieldType(name: string, newType: FieldType, transform: (value: unknown) => unknown): Promise<void> {
    return this.#step(async (def) => {
      if (!Object.hasOwn(def.schema, name))
        this.#fail(name, `Field "${name}" does not exist in bucket "${this.#name}"`);
      if (keyFields(def).includes(name))
        this.#fail(name, `Cannot change type of key field "${name}" in bucket "${this.#name}"`);
      if (typeof transform !== 'function')
        throw new InvalidArgumentError(
          'changeFieldType',
          'transform',
          'expected a function (value) => newValue',
        );
      const schema: SchemaDefinition = { ...def.schema, [name]: { ...def.schema[name]!, type: newType } };
      this.#replace(with_(def, { schema }), (r) => {
        const v = r[name];
        if (v === undefined || v === null) return r;
        return Object.assign({}, r, { [name]: transform(copy(v)) });
      });
    });
  }

  addIndex(field: IndexSpec): Promise<void> {
    return this.#step(async () => {
      await this.#store.updateBucket(this.#name, { addIndexes: [field] });
    });
  }

  removeIndex(field: IndexSpec): Promise<void> {
    return this.#step(async (def) => {
      const indexes = def.indexes ?? [];
      const remaining = indexes.filter((ix) => !sameIndex(ix, field));
      if (remaining.length === indexes.length) {
        const label = typeof field === 'string' ? field : JSON.stringify(field);
        this.#fail(
          typeof field === 'string' ? field : undefined,
          `Index on field "${label}" does not exist in bucket "${this.#name}"`,
        );
      }
      this.#replace(with_(def, { indexes: remaining }), undefined);
    });
  }

  transformAll(fn: (record: Rec) => Rec): Promise<void> {
    return this.#step(async (def) => {
      if (typeof fn !== 'function')
        throw new InvalidArgumentError('transformAll', 'fn', 'expected a function (record) => record');
      this.#replace(def, (r) => {
        const out = fn(copy(r) as Rec);
        if (!isPlainObject(out)) {
          this.#fail(
            undefined,
            `transformAll in bucket "${this.#name}" returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out} instead of a record (for key ${JSON.stringify(keyOf(def, r))})`,
          );
        }
        // Metadata the function left out is kept.
        let result = out as Rec;
        for (const m of META)
          if (result[m] === undefined && r[m] !== undefined)
            result = Object.assign({}, result, { [m]: r[m] });
        return result;
      });
    });
  }

  #step(fn: (def: BucketDefinition) => Promise<void>): Promise<void> {
    return this.#ctx.run(async () => {
      // noex-store's wording for a step on a missing bucket: 'Bucket "x" does not exist'.
      if (!this.#store.hasBucket(this.#name))
        throw new BucketNotDefinedError(this.#name, `Bucket "${this.#name}" does not exist`);
      // Waits for a restore in progress.
      await this.#store.bucket(this.#name).count();
      await fn(this.#store.getBucketSchema(this.#name)!);
    });
  }

  /** Swap in the new definition; records go through `perRecord` and are all validated. */
  #replace(next: BucketDefinition, perRecord: ((r: Rec) => Rec) | undefined): void {
    this.#store.replaceDefinition(
      this.#name,
      next,
      perRecord === undefined
        ? undefined
        : (records: StoreRecord[]) => records.map((r) => perRecord(r as Rec)),
    );
  }

  #fail(field: string | undefined, message: string): never {
    throw new MigrationStepError(this.#name, field, message);
  }
}

// ── Helpers ─────────────────────────────────────────────────────────

/** The definition with some parts replaced (everything else, e.g. `validate` and `history`, kept). */
function with_(
  def: BucketDefinition,
  parts: { schema?: SchemaDefinition; indexes?: readonly IndexSpec[] },
): BucketDefinition {
  const next: Record<string, unknown> = { ...def };
  if (parts.schema !== undefined) next.schema = parts.schema;
  if (parts.indexes !== undefined) {
    if (parts.indexes.length > 0) next.indexes = parts.indexes;
    else delete next.indexes;
  }
  return next as unknown as BucketDefinition;
}

function keyFields(def: BucketDefinition): readonly string[] {
  return typeof def.key === 'string' ? [def.key] : def.key;
}

function keyOf(def: BucketDefinition, r: Rec): unknown {
  const k = keyFields(def);
  return k.length === 1 ? r[k[0]!] : k.map((f) => r[f]);
}

function indexFields(ix: IndexSpec): readonly string[] {
  if (typeof ix === 'string') return [ix];
  if (Array.isArray(ix)) return ix as readonly string[];
  const f = (ix as { fields: string | readonly string[] }).fields;
  return typeof f === 'string' ? [f] : f;
}

function renameInIndex(ix: IndexSpec, from: string, to: string): IndexSpec {
  const r = (f: string) => (f === from ? to : f);
  if (typeof ix === 'string') return r(ix);
  if (Array.isArray(ix)) return (ix as readonly string[]).map(r);
  const o = ix as Exclude<IndexSpec, string | readonly string[]>;
  return { ...o, fields: typeof o.fields === 'string' ? r(o.fields) : o.fields.map(r) };
}

/** `removeIndex('email')` matches `'email'`, `['email']`, `{fields: 'email', …}` and an index named `email`. */
function sameIndex(ix: IndexSpec, wanted: IndexSpec): boolean {
  if (JSON.stringify(ix) === JSON.stringify(wanted)) return true;
  if (typeof wanted === 'string' && typeof ix === 'object' && !Array.isArray(ix)) {
    const o = ix as { name?: string };
    if (o.name === wanted) return true;
  }
  const a = indexFields(ix);
  const b = indexFields(wanted);
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

function defaultOf(fd: FieldDefinition): (() => unknown) | undefined {
  if (!isPlainObject(fd) || fd.default === undefined) return undefined;
  const d = fd.default;
  return typeof d === 'function' ? (d as () => unknown) : () => copy(d);
}

function checkFieldName(op: string, name: unknown): void {
  if (typeof name !== 'string' || name === '')
    throw new InvalidArgumentError(
      op,
      'name',
      `expected a non-empty field name, got ${JSON.stringify(name)}`,
    );
}

/** A deep copy, so a transform that mutates its argument cannot touch the stored record. */
function copy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  try {
    return structuredClone(v);
  } catch {
    return Array.isArray(v) ? [...v] : { ...(v as Rec) };
  }
}
