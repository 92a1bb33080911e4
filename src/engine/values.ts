// Value helpers shared by schema, filters, indexes and reactive queries.
import { randomBytes, randomUUID } from 'node:crypto';

const { getPrototypeOf, keys: objectKeys } = Object;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Structural equality for plain data (objects, arrays, Dates, RegExps, NaN). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp && b instanceof RegExp) return a.source === b.source && a.flags === b.flags;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = objectKeys(a);
    if (ka.length !== objectKeys(b).length) return false;
    for (const k of ka) if (!Object.hasOwn(b, k) || !deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

function typeRank(v: unknown): number {
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
    default:
      return v instanceof Date ? 2 : 4;
  }
}

/**
 * Total order over non-null values used by sorted indexes and sorting:
 * booleans < numbers and Dates < strings < anything else (by JSON text).
 */
export function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 2) {
    const na = a instanceof Date ? a.getTime() : Number(a);
    const nb = b instanceof Date ? b.getTime() : Number(b);
    return na < nb ? -1 : na > nb ? 1 : 0;
  }
  if (ra === 1) return (a ? 1 : 0) - (b ? 1 : 0);
  const sa = JSON.stringify(a) ?? '';
  const sb = JSON.stringify(b) ?? '';
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * Encode a tuple of values into a string that is equal for equal tuples
 * and distinct for distinct ones (type-tagged), for use as a Map key.
 */
export function encodeTuple(values: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += '\u0001';
    out += encodeValue(values[i]);
  }
  return out;
}

function encodeValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return `s${v}`;
    case 'number':
      return `n${v}`;
    case 'boolean':
      return v ? 'T' : 'F';
    case 'undefined':
      return 'u';
    default:
      if (v === null) return 'z';
      if (v instanceof Date) return `d${v.getTime()}`;
      return `j${JSON.stringify(v)}`;
  }
}

let lastCommitTime = 0;

/**
 * `Date.now()` for commit timestamps, returning the number it returned last
 * while the millisecond has not changed: records written in the same
 * millisecond then point at one boxed number instead of each holding its
 * own (see SchemaValidator.prepareInsert).
 */
export function commitTime(): number {
  const t = Date.now();
  if (t !== lastCommitTime) lastCommitTime = t;
  return lastCommitTime;
}

export function generateUuid(): string {
  return randomUUID();
}

export function generateCuid(): string {
  return `c${randomBytes(16).toString('hex')}`;
}

const ISO_DATE_RE =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?$/;

/**
 * The email format, as the pattern /^[^\s@]+@[^\s@]+\.[^\s@]+$/ (noex-store's)
 * matches it, in one pass without the regular expression engine (checked on
 * every write of such a field): exactly one "@" with something before it, no
 * white space, and a "." in the part after the "@" with something on both
 * sides of it.
 */
export function isValidEmail(value: string): boolean {
  const at = value.indexOf('@');
  if (at <= 0) return false;
  const n = value.length;
  let dot = false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x40) {
      if (i !== at) return false;
    } else if (c === 0x2e) {
      if (i > at + 1 && i < n - 1) dot = true;
    } else if (c <= 0x20 ? c === 0x20 || (c >= 0x09 && c <= 0x0d) : c >= 0xa0 && isUnicodeSpace(c)) {
      return false;
    }
  }
  return dot;
}

/** The white space of regular expressions' \s above U+0080. */
function isUnicodeSpace(c: number): boolean {
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

export function isValidUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

export function isValidIsoDate(value: string): boolean {
  if (!ISO_DATE_RE.test(value)) return false;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) return false;
  // Date silently rolls Feb 30 over to Mar 1; require the date part to survive.
  const y = parsed.getUTCFullYear();
  const m = String(parsed.getUTCMonth() + 1).padStart(2, '0');
  const d = String(parsed.getUTCDate()).padStart(2, '0');
  return value.slice(0, 10) === `${y}-${m}-${d}`;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  return typeof value;
}

/** Same test as isPlainObject, without narrowing the argument's type. */
export function isObjectArg(value: unknown): boolean {
  return isPlainObject(value);
}

/** Nesting depth of objects and arrays inside a record (store option `maxNestingDepth`). */
export const DEFAULT_MAX_NESTING_DEPTH = 64;

export interface StorableIssue {
  readonly field: string;
  readonly message: string;
  readonly code: 'unstorable' | 'non_finite' | 'depth' | 'circular' | 'proto_key';
}

/**
 * Whether every value inside `record` can be stored and read back as it is:
 * strings, finite numbers, booleans, null, valid Dates, plain objects and
 * arrays, nested at most `maxDepth` levels. Rejected: BigInt, functions,
 * symbols, NaN/Infinity, other objects (Map, Set, class instances, objects
 * with `toJSON`), `undefined` inside arrays, sparse arrays, circular
 * references and `__proto__` keys. `undefined` as a field value is allowed
 * (it means "no value"). One pass; no allocation unless the record nests.
 * Returns the first problem found, or undefined.
 */
export function findUnstorable(record: Record<string, unknown>, maxDepth: number): StorableIssue | undefined {
  // The common case pays for one allocation-free pass; only a failing record
  // is walked again to say where and why (with cycle detection and paths).
  if (objectOk(record, 1, maxDepth)) return undefined;
  return (
    walkObject(record, '', 1, maxDepth, undefined) ?? {
      field: '(record)',
      message: 'the record cannot be stored',
      code: 'unstorable',
    }
  );
}

/**
 * Whether an object or array found as a field of a record can be stored
 * (findUnstorable's rules for that one value; a Date counts as valid only).
 */
export function fieldObjectStorable(o: object, maxDepth: number): boolean {
  return containerOk(o, 1, maxDepth);
}

/** Fast check, same rules as walkValue; cycles end at the depth limit. */
function objectOk(obj: Record<string, unknown>, depth: number, maxDepth: number): boolean {
  for (const k in obj) {
    if (k === '__proto__') return false;
    const v = obj[k];
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'undefined':
        continue;
      case 'number':
        if (v - v === 0) continue;
        return false;
      case 'object':
        if (v === null || containerOk(v, depth, maxDepth)) continue;
        return false;
      default:
        return false;
    }
  }
  return true;
}

function containerOk(o: object, depth: number, maxDepth: number): boolean {
  if (o instanceof Date) return !Number.isNaN(o.getTime());
  if (depth > maxDepth) return false;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      if (!(i in o)) return false;
      const x: unknown = o[i];
      switch (typeof x) {
        case 'string':
        case 'boolean':
          continue;
        case 'number':
          if (x - x === 0) continue;
          return false;
        case 'object':
          if (x === null || containerOk(x, depth + 1, maxDepth)) continue;
          return false;
        default:
          return false;
      }
    }
    return true;
  }
  return isPlainObject(o) && objectOk(o, depth + 1, maxDepth);
}

function walkObject(
  obj: Record<string, unknown>,
  prefix: string,
  depth: number,
  maxDepth: number,
  ancestors: object[] | undefined,
): StorableIssue | undefined {
  for (const k in obj) {
    if (k === '__proto__')
      return {
        field: prefix === '' ? k : `${prefix}.${k}`,
        message: '"__proto__" cannot be a field name',
        code: 'proto_key',
      };
    const v = obj[k];
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'undefined':
        continue;
      case 'number':
        if (v - v === 0) continue; // finite
        break;
      case 'object':
        if (v === null) continue;
    }
    const issue = walkValue(v, prefix === '' ? k : `${prefix}.${k}`, depth, maxDepth, ancestors, obj);
    if (issue !== undefined) return issue;
  }
  return undefined;
}

function walkValue(
  v: unknown,
  field: string,
  depth: number,
  maxDepth: number,
  ancestors: object[] | undefined,
  parent: object,
): StorableIssue | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return v - v === 0
        ? undefined
        : { field, message: `${String(v)} cannot be stored (only finite numbers)`, code: 'non_finite' };
    case 'undefined':
      return { field, message: 'undefined inside an array cannot be stored (use null)', code: 'unstorable' };
    case 'bigint':
    case 'symbol':
    case 'function':
      return { field, message: `a ${typeof v} cannot be stored`, code: 'unstorable' };
  }
  if (v === null) return undefined;
  const o = v as object;
  if (o instanceof Date)
    return Number.isNaN(o.getTime())
      ? { field, message: 'an invalid Date cannot be stored', code: 'unstorable' }
      : undefined;
  const isArray = Array.isArray(o);
  if (!isArray && !isPlainObject(o))
    return {
      field,
      message: `a ${o.constructor?.name ?? 'non-plain object'} cannot be stored (only plain objects, arrays, Dates and primitives)`,
      code: 'unstorable',
    };
  if (depth > maxDepth) return { field, message: `nested deeper than ${maxDepth} levels`, code: 'depth' };
  const chain = ancestors ?? [parent];
  if (chain.includes(o)) return { field, message: 'a circular reference cannot be stored', code: 'circular' };
  chain.push(o);
  let issue: StorableIssue | undefined;
  if (isArray) {
    const a = o as unknown[];
    for (let i = 0; i < a.length; i++) {
      if (!(i in a)) {
        issue = {
          field: `${field}[${i}]`,
          message: 'an array hole cannot be stored (use null)',
          code: 'unstorable',
        };
        break;
      }
      issue = walkValue(a[i], `${field}[${i}]`, depth + 1, maxDepth, chain, o);
      if (issue !== undefined) break;
    }
  } else issue = walkObject(o as Record<string, unknown>, field, depth + 1, maxDepth, chain);
  chain.pop();
  return issue;
}
