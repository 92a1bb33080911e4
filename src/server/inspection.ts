// Methods for looking at a store from the outside (the inspector page uses
// them; any client may): what the server is, bucket definitions with counts
// and sizes, storage sizes, write activity, the recent change feed, and what
// deleting a record would also change. Each checks the caller's permissions
// for everything it reveals.
import type { StorageReport, StorageReporter } from '../inspector/index.js';
import type { BucketDefinition, Store, StoreRecord } from '../store/index.js';
import type { ActivityMonitor } from './activity.js';
import type { Dispatcher, MethodContext } from './dispatcher.js';
import { invalidParams } from './errors.js';

export interface InspectionOptions {
  readonly readOnly: boolean;
  readonly auth: boolean;
  readonly storageReport: StorageReporter | undefined;
  readonly activity: ActivityMonitor;
}

/** One record that deleting another would change. */
export interface DeleteEffect {
  readonly bucket: string;
  /** Absent when the caller may not read `bucket`. */
  readonly key?: unknown;
  readonly field: string;
  /** `delete` (cascade), `set_null`, or `restrict` (the delete will be refused). */
  readonly action: 'delete' | 'set_null' | 'restrict';
}

type P = Record<string, unknown>;

const MAX_EFFECTS = 500;

function obj(params: unknown): P {
  return params === undefined ? {} : (params as P);
}

function bucketName(p: P): string {
  const v = p.bucket;
  if (typeof v !== 'string' || v === '') throw invalidParams('"bucket" must be a non-empty string');
  return v;
}

function limitOf(p: P, fallback: number, max: number): number {
  const v = p.limit;
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max)
    throw invalidParams(`"limit" must be an integer from 1 to ${max}`);
  return v;
}

/** A definition as JSON: functions (computed defaults, validators) become markers. */
function definitionJson(def: BucketDefinition): P {
  return JSON.parse(JSON.stringify(def, (_k, v) => (typeof v === 'function' ? '(function)' : v))) as P;
}

function keyOf(def: BucketDefinition, r: StoreRecord): unknown {
  return typeof def.key === 'string' ? r[def.key] : (def.key as readonly string[]).map((f) => r[f]);
}

export function registerInspectionMethods(d: Dispatcher, store: Store, o: InspectionOptions): void {
  const canRead = (ctx: MethodContext, bucket: string) =>
    ctx.identity === undefined || ctx.identity.can('read', bucket);
  const canWrite = (ctx: MethodContext, bucket: string) =>
    !o.readOnly && (ctx.identity === undefined || ctx.identity.can('write', bucket));
  const storage = async (): Promise<StorageReport | undefined> => {
    if (o.storageReport === undefined) return undefined;
    try {
      return await o.storageReport();
    } catch {
      return undefined;
    }
  };

  d.register('serverInfo', (_params: unknown, ctx: MethodContext) => ({
    store: store.name,
    readOnly: o.readOnly,
    auth: o.auth,
    identity: ctx.identity?.name ?? null,
    /** May administer (backups); on a read-only server only the reading part of it. */
    admin: ctx.identity === undefined || ctx.identity.admin,
  }));

  d.register('describeBuckets', async (_params: unknown, ctx: MethodContext) => {
    const stats = await store.getStats();
    const report = await storage();
    const out: P[] = [];
    for (const name of stats.buckets.names) {
      if (!canRead(ctx, name)) continue;
      const def = store.getBucketSchema(name);
      if (def === undefined) continue;
      const json = definitionJson(def);
      out.push({
        name,
        count: stats.records.perBucket[name] ?? 0,
        key: json.key,
        schema: json.schema,
        indexes: json.indexes ?? [],
        history: json.history ?? false,
        ttl: json.ttl ?? null,
        maxSize: json.maxSize ?? null,
        etsType: json.etsType ?? 'set',
        persistent: stats.persistence.enabled && def.persistent !== false,
        validate: typeof def.validate === 'function',
        bytes: report?.buckets?.[name] ?? null,
        writable: canWrite(ctx, name),
      });
    }
    return out;
  });

  d.register('storageStats', async (_params: unknown, ctx: MethodContext) => {
    const stats = await store.getStats();
    const report = await storage();
    const perBucket: Record<string, number> = {};
    for (const name of stats.buckets.names)
      if (canRead(ctx, name)) perBucket[name] = stats.records.perBucket[name] ?? 0;
    const admin = ctx.identity === undefined || ctx.identity.admin;
    return {
      persistent: stats.persistence.enabled,
      kind: report?.kind ?? null,
      location: admin ? (report?.location ?? null) : null,
      bytes: report?.bytes ?? null,
      walBytes: report?.walBytes ?? null,
      records: perBucket,
      queries: stats.queries,
    };
  });

  d.register('storeActivity', (_params: unknown, ctx: MethodContext) => {
    // The write rate covers every bucket.
    ctx.authorize('read', '*');
    o.activity.start();
    return o.activity.report();
  });

  d.register('recentChanges', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const limit = limitOf(p, 100, 1000);
    const bucket = p.bucket === undefined ? undefined : bucketName(p);
    if (bucket !== undefined) ctx.authorize('read', bucket);
    const kept: unknown[] = [];
    let since = 0;
    for (;;) {
      const page = await store.changes({ since, limit: 1000 });
      for (const e of page) {
        if (bucket !== undefined ? e.bucket !== bucket : !canRead(ctx, e.bucket)) continue;
        kept.push(e);
        if (kept.length > limit) kept.shift();
      }
      if (page.length < 1000) break;
      since = page[page.length - 1]!.seq;
    }
    return kept;
  });

  d.register('previewDelete', async (params: unknown, ctx: MethodContext) => {
    const p = obj(params);
    const name = bucketName(p);
    ctx.authorize('read', name);
    if (p.key === undefined || p.key === null) throw invalidParams('"key" is required');
    const record = await store.bucket(name).get(p.key);
    if (record === undefined) return { exists: false, effects: [], truncated: false };
    // Which fields of which buckets point at each bucket, and what they do on delete.
    const referrers = new Map<string, Array<{ bucket: string; field: string; onDelete: string }>>();
    for (const source of (await store.getStats()).buckets.names) {
      const def = store.getBucketSchema(source);
      for (const [field, fd] of Object.entries(def?.schema ?? {})) {
        if (typeof fd.ref !== 'string') continue;
        const list = referrers.get(fd.ref) ?? [];
        list.push({ bucket: source, field, onDelete: fd.onDelete ?? 'restrict' });
        referrers.set(fd.ref, list);
      }
    }
    const effects: Array<DeleteEffect & { id: string }> = [];
    const seen = new Set<string>([`${name}\0${JSON.stringify(p.key)}`]);
    const queue: Array<[string, unknown]> = [[name, p.key]];
    let truncated = false;
    while (queue.length > 0 && !truncated) {
      const [target, key] = queue.shift()!;
      for (const ref of referrers.get(target) ?? []) {
        const sourceDef = store.getBucketSchema(ref.bucket)!;
        for (const r of await store.bucket(ref.bucket).where({ [ref.field]: key })) {
          const k = keyOf(sourceDef, r);
          const id = `${ref.bucket}\0${JSON.stringify(k)}`;
          if (ref.onDelete === 'cascade') {
            if (seen.has(id)) continue;
            seen.add(id);
            queue.push([ref.bucket, k]);
          }
          const action = ref.onDelete === 'cascade' ? 'delete' : (ref.onDelete as 'set_null' | 'restrict');
          effects.push({
            id,
            bucket: ref.bucket,
            field: ref.field,
            action,
            ...(canRead(ctx, ref.bucket) ? { key: k } : {}),
          });
          if (effects.length >= MAX_EFFECTS) {
            truncated = true;
            break;
          }
        }
        if (truncated) break;
      }
    }
    // A referrer that the cascade deletes as well does not block the delete.
    const out = effects
      .filter((e) => e.action !== 'restrict' || !seen.has(e.id))
      .map(({ id: _id, ...e }) => e as DeleteEffect);
    return { exists: true, effects: out, truncated };
  });
}
