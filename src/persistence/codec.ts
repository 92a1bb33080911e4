// Encodings shared by the adapters and the manager: record keys, stored
// definitions and the comparison of a stored definition with a new one.
import type { BucketDefinition, KeyId, StoreRecord } from '../engine/index.js';
import type { PersistedState, StoredBucket, StoredDefinition } from './types.js';

/** Stable text form of an internal key: 1 and "1" differ. */
export function encodeKey(keyId: KeyId): string {
  if (typeof keyId === 'string' && plainJsonString(keyId)) return `"${keyId}"`;
  return JSON.stringify(keyId);
}

/** A character JSON.stringify may not write as it is: a quote, backslash, control character or surrogate. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON escapes
const NOT_PLAIN_JSON = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** Whether JSON.stringify would write `s` between quotes unchanged (a compiled regex: ~3× a loop over the characters). */
function plainJsonString(s: string): boolean {
  return !NOT_PLAIN_JSON.test(s);
}

export function decodeKey(key: string): KeyId {
  return JSON.parse(key) as KeyId;
}

/** The storable part of a definition; functions are dropped and their paths recorded. */
export function serializeDefinition(def: BucketDefinition): StoredDefinition {
  const functions: string[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'function') {
      functions.push(path);
      return undefined;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`) ?? null);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const w = walk(x, path === '' ? k : `${path}.${k}`);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  };
  return { definition: walk(def, '') as Record<string, unknown>, functions };
}

/** Deterministic JSON (sorted object keys), for comparing definitions. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function sameDefinition(a: StoredDefinition, b: StoredDefinition): boolean {
  return (
    stableJson(a.definition) === stableJson(b.definition) &&
    stableJson([...a.functions].sort()) === stableJson([...b.functions].sort())
  );
}

export interface DefinitionDiff {
  /** The key fields changed: stored records cannot be re-keyed automatically. */
  readonly keyChanged: string | undefined;
  /** Human-readable differences, stored → new. */
  readonly differences: string[];
  /** New fields that have a default: filled into stored records that lack them. */
  readonly fill: string[];
}

type Schema = Record<string, Record<string, unknown>>;

const keyList = (k: unknown): string[] => (Array.isArray(k) ? k.map(String) : [String(k)]);

/** What differs between a stored definition and a new one (both in stored form). */
export function diffDefinitions(stored: StoredDefinition, next: StoredDefinition): DefinitionDiff {
  const a = stored.definition;
  const b = next.definition;
  const differences: string[] = [];
  const fill: string[] = [];
  let keyChanged: string | undefined;
  const ka = keyList(a.key);
  const kb = keyList(b.key);
  if (ka.join('\0') !== kb.join('\0')) {
    keyChanged = `key changed from [${ka.join(', ')}] to [${kb.join(', ')}]`;
    differences.push(keyChanged);
  }
  const sa = (a.schema ?? {}) as Schema;
  const sb = (b.schema ?? {}) as Schema;
  const hasFn = (defn: StoredDefinition, path: string) => defn.functions.includes(path);
  for (const [field, fb] of Object.entries(sb)) {
    const fa = sa[field];
    const hasDefault = fb.default !== undefined || hasFn(next, `schema.${field}.default`);
    if (fa === undefined) {
      if (hasDefault) {
        fill.push(field);
        differences.push(`field "${field}" added with a default`);
      } else if (fb.required === true && fb.generated === undefined) {
        differences.push(`field "${field}" added as required without a default`);
      } else differences.push(`field "${field}" added`);
      continue;
    }
    const props = new Set([...Object.keys(fa), ...Object.keys(fb)]);
    for (const p of props) {
      const va = stableJson(fa[p]);
      const vb = stableJson(fb[p]);
      if (va === vb) continue;
      if (p === 'type') differences.push(`field "${field}": type changed from ${fa.type} to ${fb.type}`);
      else if (p === 'required' && fb.required === true)
        differences.push(`field "${field}" became required${hasDefault ? '' : ' without a default'}`);
      else if (p === 'unique' && fb.unique === true) differences.push(`field "${field}" became unique`);
      else differences.push(`field "${field}": ${p} changed from ${va ?? 'unset'} to ${vb ?? 'unset'}`);
    }
  }
  for (const field of Object.keys(sa)) {
    if (!Object.hasOwn(sb, field))
      differences.push(`field "${field}" removed from the schema (its stored values are kept)`);
  }
  for (const opt of ['indexes', 'etsType', 'ttl', 'maxSize', 'history', 'persistent']) {
    if (stableJson(a[opt]) !== stableJson(b[opt]))
      differences.push(
        `${opt} changed from ${stableJson(a[opt]) ?? 'unset'} to ${stableJson(b[opt]) ?? 'unset'}`,
      );
  }
  const fnA = [...stored.functions].sort().join(',');
  const fnB = [...next.functions].sort().join(',');
  if (fnA !== fnB) differences.push(`functions changed from [${fnA}] to [${fnB}]`);
  return { keyChanged, differences, fill };
}

/** Builds the noex snapshot key of a bucket. */
export function bucketKey(store: string, bucket: string): string {
  return `${store}:bucket:${bucket}`;
}

/** Parses `<store>:bucket:<name>`. */
export function parseBucketKey(key: string): { store: string; bucket: string } | undefined {
  const i = key.indexOf(':bucket:');
  if (i < 0) return undefined;
  return { store: key.slice(0, i), bucket: key.slice(i + ':bucket:'.length) };
}

/** A stored bucket in noex's snapshot value shape. */
export function snapshotView(store: string, b: StoredBucket | undefined): PersistedState | undefined {
  if (b === undefined) return undefined;
  const records: Array<[unknown, StoreRecord]> = [];
  const keyField = b.definition?.definition.key;
  for (const r of b.records) {
    const key =
      typeof keyField === 'string'
        ? r[keyField]
        : Array.isArray(keyField)
          ? keyField.map((f) => r[f])
          : undefined;
    records.push([key, r]);
  }
  return {
    state: { records, autoincrementCounter: b.autoincrement },
    metadata: { persistedAt: Date.now(), serverId: store, schemaVersion: 1 },
  };
}
