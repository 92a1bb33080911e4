// The filter language: validation with a precise path for every mistake,
// compilation into a predicate, and the noex-compatible `matchesFilter`.
import { InvalidFilterError } from './errors.js';
import type { WhereFilter } from './types.js';
import { deepEqual, isPlainObject } from './values.js';

type Rec = Record<string, unknown>;
export type Predicate = (record: Rec) => boolean;

const OPERATORS = new Set([
  '$eq',
  '$neq',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$contains',
  '$startsWith',
  '$endsWith',
  '$exists',
  '$between',
]);

/** A plain object whose keys all start with `$` (noex-store's rule). */
export function isFilterOperators(value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => k.startsWith('$'));
}

function equals(a: unknown, b: unknown): boolean {
  return a === b || (typeof b === 'object' && b !== null && deepEqual(a, b));
}

/** How deep `$and`/`$or` and literal values may nest in a filter. */
export const MAX_FILTER_DEPTH = 64;

/**
 * Compile a filter into a predicate. Throws InvalidFilterError for unknown
 * operators, wrong operand types, malformed `$and`/`$or` and nesting deeper
 * than MAX_FILTER_DEPTH.
 */
export function compileFilter(filter: unknown, path = '', depth = 0): Predicate {
  if (!isPlainObject(filter)) {
    throw new InvalidFilterError(path || '(filter)', `expected an object, got ${describe(filter)}`);
  }
  if (depth > MAX_FILTER_DEPTH)
    throw new InvalidFilterError(path, `filters may nest at most ${MAX_FILTER_DEPTH} levels`);
  const parts: Predicate[] = [];
  for (const key of Object.keys(filter)) {
    const value = filter[key];
    const here = path ? `${path}.${key}` : key;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value))
        throw new InvalidFilterError(here, `expected an array of filters, got ${describe(value)}`);
      const subs = value.map((f, i) => compileFilter(f, `${here}[${i}]`, depth + 1));
      if (key === '$and') parts.push((r) => subs.every((p) => p(r)));
      else parts.push((r) => subs.some((p) => p(r)));
      continue;
    }
    if (key.startsWith('$')) {
      throw new InvalidFilterError(here, `unknown logical operator "${key}" (use $and or $or)`);
    }
    parts.push(compileField(key, value, here));
  }
  if (parts.length === 0) return () => true;
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 2) {
    const [a, b] = parts as [Predicate, Predicate];
    return (r) => a(r) && b(r);
  }
  return (r) => {
    for (const p of parts) if (!p(r)) return false;
    return true;
  };
}

/**
 * Reads a field of a record: own fields only. A record is a plain object, so
 * only names that Object.prototype has (constructor, toString, __proto__ …)
 * could resolve to something inherited; only those pay for the check.
 */
function fieldReader(field: string): (r: Rec) => unknown {
  if (!(field in Object.prototype)) return (r) => r[field];
  return (r) => (Object.hasOwn(r, field) ? r[field] : undefined);
}

/** Whether a literal value nests deeper than `limit` levels (cycles count as too deep). */
function tooDeep(v: unknown, limit: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (limit <= 0) return true;
  if (Array.isArray(v)) return v.some((x) => tooDeep(x, limit - 1));
  for (const k in v as Rec) if (tooDeep((v as Rec)[k], limit - 1)) return true;
  return false;
}

function compileField(field: string, cond: unknown, path: string): Predicate {
  if (tooDeep(cond, MAX_FILTER_DEPTH))
    throw new InvalidFilterError(path, `values may nest at most ${MAX_FILTER_DEPTH} levels`);
  const get = fieldReader(field);
  if (!isPlainObject(cond) || !Object.keys(cond).some((k) => k.startsWith('$'))) {
    if (typeof cond === 'object' && cond !== null) return (r) => equals(get(r), cond);
    if (field in Object.prototype) return (r) => get(r) === cond;
    return (r) => r[field] === cond;
  }
  const checks: Array<(v: unknown) => boolean> = [];
  for (const op of Object.keys(cond)) {
    const arg = cond[op];
    const at = `${path}.${op}`;
    if (!OPERATORS.has(op)) {
      throw new InvalidFilterError(
        at,
        op.startsWith('$')
          ? `unknown operator "${op}"; known: ${[...OPERATORS].join(' ')}`
          : `"${op}" mixed with operators; a condition is either a value or an object of operators`,
      );
    }
    if (arg === undefined) continue; // noex ignores undefined operands
    switch (op) {
      case '$eq':
        checks.push((v) => equals(v, arg));
        break;
      case '$neq':
        checks.push((v) => !equals(v, arg));
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        comparable(arg, at);
        const a = arg as number;
        if (op === '$gt') checks.push((v) => v != null && (v as number) > a);
        else if (op === '$gte') checks.push((v) => v != null && (v as number) >= a);
        else if (op === '$lt') checks.push((v) => v != null && (v as number) < a);
        else checks.push((v) => v != null && (v as number) <= a);
        break;
      }
      case '$in':
      case '$nin': {
        if (!Array.isArray(arg)) throw new InvalidFilterError(at, `expected an array, got ${describe(arg)}`);
        const hasObjects = arg.some((x) => typeof x === 'object' && x !== null);
        const set = new Set(arg);
        const has = hasObjects ? (v: unknown) => arg.some((x) => equals(v, x)) : (v: unknown) => set.has(v);
        checks.push(op === '$in' ? has : (v) => !has(v));
        break;
      }
      case '$contains': {
        const needle = typeof arg === 'string' ? arg.toLowerCase() : undefined;
        checks.push((v) => {
          if (typeof v === 'string') return needle !== undefined && v.toLowerCase().includes(needle);
          if (Array.isArray(v)) return v.some((x) => equals(x, arg));
          return false;
        });
        break;
      }
      case '$startsWith':
      case '$endsWith': {
        if (typeof arg !== 'string')
          throw new InvalidFilterError(at, `expected a string, got ${describe(arg)}`);
        checks.push(
          op === '$startsWith'
            ? (v) => typeof v === 'string' && v.startsWith(arg)
            : (v) => typeof v === 'string' && v.endsWith(arg),
        );
        break;
      }
      case '$exists':
        if (typeof arg !== 'boolean')
          throw new InvalidFilterError(at, `expected true or false, got ${describe(arg)}`);
        checks.push((v) => (v !== undefined && v !== null) === arg);
        break;
      case '$between': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          throw new InvalidFilterError(at, `expected [lower, upper], got ${describe(arg)}`);
        }
        comparable(arg[0], `${at}[0]`);
        comparable(arg[1], `${at}[1]`);
        const [lo, hi] = arg as [number, number];
        checks.push((v) => v != null && (v as number) >= lo && (v as number) <= hi);
        break;
      }
    }
  }
  const inherited = field in Object.prototype;
  if (checks.length === 1) {
    const c = checks[0]!;
    return inherited ? (r) => c(get(r)) : (r) => c(r[field]);
  }
  return (r) => {
    const v = inherited ? get(r) : r[field];
    for (const c of checks) if (!c(v)) return false;
    return true;
  };
}

function comparable(arg: unknown, at: string): void {
  if (typeof arg !== 'number' && typeof arg !== 'string' && !(arg instanceof Date)) {
    throw new InvalidFilterError(at, `expected a number, string or Date, got ${describe(arg)}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return typeof v;
}

/**
 * Whether a record satisfies a filter (noex-store export). Throws
 * InvalidFilterError for a malformed filter.
 */
export function matchesFilter(record: object, filter: WhereFilter): boolean {
  return compileFilter(filter)(record as Record<string, unknown>);
}
