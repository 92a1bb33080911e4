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

export function generateUuid(): string {
  return randomUUID();
}

export function generateCuid(): string {
  return `c${randomBytes(16).toString('hex')}`;
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ISO_DATE_RE =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?$/;

export function isValidEmail(value: string): boolean {
  return EMAIL_RE.test(value);
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
