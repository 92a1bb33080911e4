// Small helpers shared by the views: formatting, routes, diffs, filters.

export interface FieldDef {
  readonly type: string;
  readonly required?: boolean;
  readonly unique?: boolean;
  readonly enum?: readonly unknown[];
  readonly format?: string;
  readonly min?: number;
  readonly max?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly default?: unknown;
  readonly generated?: string;
  readonly ref?: string;
  readonly onDelete?: string;
  readonly validate?: unknown;
}

export interface BucketInfo {
  readonly name: string;
  readonly count: number;
  readonly key: string | string[];
  readonly schema: Record<string, FieldDef>;
  readonly indexes: unknown[];
  readonly history: boolean | Record<string, unknown>;
  readonly ttl: number | string | null;
  readonly maxSize: number | null;
  readonly etsType: string;
  readonly persistent: boolean;
  readonly validate: boolean;
  readonly bytes: number | null;
  readonly writable: boolean;
}

export interface ServerInfo {
  readonly store: string;
  readonly readOnly: boolean;
  readonly auth: boolean;
  readonly identity: string | null;
  readonly admin: boolean;
}

export type Rec = Record<string, unknown>;

export const META_FIELDS = ['_version', '_createdAt', '_updatedAt', '_expiresAt'];

export function keyFields(b: BucketInfo): string[] {
  return typeof b.key === 'string' ? [b.key] : [...b.key];
}

export function keyOf(b: BucketInfo, r: Rec): unknown {
  return typeof b.key === 'string' ? r[b.key] : b.key.map((f) => r[f]);
}

export function sameKey(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ── Routes ──

export type Route =
  | { readonly view: 'buckets' }
  | { readonly view: 'records'; readonly bucket: string }
  | { readonly view: 'record'; readonly bucket: string; readonly key: unknown }
  | { readonly view: 'changes' }
  | { readonly view: 'store' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'b' && parts[1] !== undefined && parts[1] !== '') {
    if (parts[2] === 'r' && parts[3] !== undefined) {
      let key: unknown = parts[3];
      try {
        key = JSON.parse(parts[3]);
      } catch {
        /* a plain string key */
      }
      return { view: 'record', bucket: parts[1], key };
    }
    return { view: 'records', bucket: parts[1] };
  }
  if (parts[0] === 'changes') return { view: 'changes' };
  if (parts[0] === 'store') return { view: 'store' };
  return { view: 'buckets' };
}

export function bucketHref(bucket: string): string {
  return `#/b/${encodeURIComponent(bucket)}`;
}

export function recordHref(bucket: string, key: unknown): string {
  return `#/b/${encodeURIComponent(bucket)}/r/${encodeURIComponent(JSON.stringify(key))}`;
}

// ── Formatting ──

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatTime(ms: unknown): string {
  if (typeof ms !== 'number') return '—';
  const d = new Date(ms);
  const pad = (x: number, w = 2) => String(x).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatValue(v: unknown, max = 80): string {
  if (v === undefined) return '';
  if (v === null) return 'null';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function keyLabel(k: unknown): string {
  return typeof k === 'string' ? k : JSON.stringify(k);
}

/** Field constraints as short labels. */
export function constraints(f: FieldDef): string[] {
  const out: string[] = [];
  if (f.required === true) out.push('required');
  if (f.unique === true) out.push('unique');
  if (f.generated !== undefined) out.push(`generated: ${f.generated}`);
  if (f.default !== undefined) out.push(`default: ${formatValue(f.default, 30)}`);
  if (f.enum !== undefined) out.push(`one of ${f.enum.map((v) => formatValue(v, 20)).join(', ')}`);
  if (f.format !== undefined) out.push(`format: ${f.format}`);
  if (f.min !== undefined) out.push(`min ${f.min}`);
  if (f.max !== undefined) out.push(`max ${f.max}`);
  if (f.minLength !== undefined) out.push(`minLength ${f.minLength}`);
  if (f.maxLength !== undefined) out.push(`maxLength ${f.maxLength}`);
  if (f.pattern !== undefined) out.push(`pattern /${f.pattern}/`);
  if (f.ref !== undefined) out.push(`→ ${f.ref} (on delete: ${f.onDelete ?? 'restrict'})`);
  if (f.validate !== undefined) out.push('custom validator');
  return out;
}

export function indexLabel(ix: unknown): string {
  if (typeof ix === 'string') return ix;
  if (Array.isArray(ix)) return ix.join(' + ');
  const o = ix as { fields: string | string[]; unique?: boolean; sorted?: boolean; name?: string };
  const fields = Array.isArray(o.fields) ? o.fields.join(' + ') : o.fields;
  const tags = [o.sorted === true ? 'sorted' : '', o.unique === true ? 'unique' : ''].filter(Boolean);
  return `${o.name !== undefined ? `${o.name}: ` : ''}${fields}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}`;
}

/** Fields whose first-field sorted index lets the server sort without a full scan. */
export function sortableFields(b: BucketInfo): string[] {
  const out: string[] = [];
  for (const ix of b.indexes) {
    if (ix === null || typeof ix !== 'object' || Array.isArray(ix)) continue;
    const o = ix as { fields: string | string[]; sorted?: boolean };
    if (o.sorted !== true) continue;
    const first = Array.isArray(o.fields) ? o.fields[0] : o.fields;
    const type = first !== undefined ? b.schema[first]?.type : undefined;
    if (first !== undefined && (type === 'number' || type === 'string') && !out.includes(first))
      out.push(first);
  }
  return out;
}

export function historyLabel(h: BucketInfo['history']): string {
  if (h === false) return 'off';
  if (h === true) return 'on';
  const parts: string[] = [];
  if (h.maxVersions !== undefined) parts.push(`${h.maxVersions} versions`);
  if (h.maxAge !== undefined) parts.push(`max age ${String(h.maxAge)}`);
  return parts.length > 0 ? `on (${parts.join(', ')})` : 'on';
}

// ── Diff ──

export interface FieldDiff {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly status: 'added' | 'removed' | 'changed' | 'same';
}

export function diffRecords(a: Rec | undefined, b: Rec | undefined): FieldDiff[] {
  const fields = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  const out: FieldDiff[] = [];
  for (const field of fields) {
    const inA = a !== undefined && Object.hasOwn(a, field);
    const inB = b !== undefined && Object.hasOwn(b, field);
    const before = a?.[field];
    const after = b?.[field];
    const status = !inA ? 'added' : !inB ? 'removed' : sameKey(before, after) ? 'same' : 'changed';
    out.push({ field, before, after, status });
  }
  return out;
}

// ── Filter builder ──

export interface Condition {
  readonly id: number;
  field: string;
  op: string;
  value: string;
}

export const OPERATORS: ReadonlyArray<readonly [string, string]> = [
  ['$eq', '='],
  ['$neq', '≠'],
  ['$gt', '>'],
  ['$gte', '≥'],
  ['$lt', '<'],
  ['$lte', '≤'],
  ['$in', 'in (a, b, …)'],
  ['$nin', 'not in'],
  ['$contains', 'contains'],
  ['$startsWith', 'starts with'],
  ['$endsWith', 'ends with'],
  ['$between', 'between (a, b)'],
  ['$exists', 'exists (true/false)'],
];

/** A value typed in the builder, as the field's type expects it. */
export function parseInput(text: string, type: string | undefined): unknown {
  const t = text.trim();
  if (type === 'number') {
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : t;
  }
  if (type === 'boolean') return t === 'true' ? true : t === 'false' ? false : t;
  if (t === 'null') return null;
  return text;
}

/** Builder rows → a where filter (conditions on one field are merged). */
export function buildFilter(rows: readonly Condition[], schema: Record<string, FieldDef>): Rec {
  const filter: Record<string, Rec> = {};
  for (const r of rows) {
    if (r.field === '') continue;
    const type = schema[r.field]?.type ?? (META_FIELDS.includes(r.field) ? 'number' : undefined);
    let v: unknown;
    if (r.op === '$in' || r.op === '$nin' || r.op === '$between')
      v = r.value.split(',').map((s) => parseInput(s, type));
    else if (r.op === '$exists') v = r.value.trim() !== 'false';
    else v = parseInput(r.value, type);
    filter[r.field] = { ...(filter[r.field] ?? {}), [r.op]: v };
  }
  return filter;
}
