// Shared helpers for the core tests: brute-force oracles that prove
// index-served queries return exactly what a full scan would.
import { expect } from 'vitest';
import { ValidationError } from '../../src/engine/errors.js';
import type { BucketHandle } from '../../src/index.js';

type Rec = Record<string, unknown>;

export function keysOf(records: readonly object[], key = 'id'): unknown[] {
  return records.map((r) => (r as Rec)[key]);
}

/** Records as comparable plain values, ordered by JSON (for set comparisons). */
export function asSet(records: readonly object[]): string[] {
  return records.map((r) => JSON.stringify(r)).sort();
}

function rangeMatch(v: unknown, lo: unknown, hi: unknown): boolean {
  return v != null && (v as number) >= (lo as number) && (v as number) <= (hi as number);
}

/**
 * Every equality, $in and range query on `fields`, asked through the bucket
 * (index-served where an index exists), returns exactly the full-scan answer.
 * Also checks count() and findOne() agree.
 */
export async function expectIndexesMatchData(bucket: BucketHandle<any, any>, fields: readonly string[]) {
  const all = (await bucket.all()) as Rec[];
  for (const field of fields) {
    const values: unknown[] = [
      ...new Set(all.map((r) => r[field]).filter((v) => v !== undefined && v !== null)),
    ];
    const probes = [...values, '__absent__', -123456, null];
    for (const v of probes) {
      const expected = all.filter((r) => r[field] === v);
      const got = (await bucket.where({ [field]: v })) as Rec[];
      expect(asSet(got), `where ${field} = ${String(v)}`).toEqual(asSet(expected));
      expect(await bucket.count({ [field]: v })).toBe(expected.length);
      const one = (await bucket.findOne({ [field]: v })) as Rec | undefined;
      if (expected.length === 0) expect(one).toBeUndefined();
      else expect(expected.map((r) => JSON.stringify(r))).toContain(JSON.stringify(one));
    }
    const inProbe = values.slice(0, 3);
    const expectedIn = all.filter((r) => inProbe.includes(r[field]));
    expect(asSet((await bucket.where({ [field]: { $in: inProbe } })) as Rec[])).toEqual(asSet(expectedIn));
    const sorted = [...values]
      .filter((v) => typeof v === 'number' || typeof v === 'string')
      .sort((a, b) => ((a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0));
    if (sorted.length >= 2) {
      const lo = sorted[Math.floor(sorted.length / 4)];
      const hi = sorted[Math.floor((sorted.length * 3) / 4)];
      if (typeof lo === typeof hi) {
        const expectedRange = all.filter(
          (r) => typeof r[field] === typeof lo && rangeMatch(r[field], lo, hi),
        );
        const gotRange = (await bucket.where({ [field]: { $gte: lo, $lte: hi } })) as Rec[];
        expect(asSet(gotRange), `range on ${field}`).toEqual(asSet(expectedRange));
        const gotBetween = (await bucket.where({ [field]: { $between: [lo, hi] } })) as Rec[];
        expect(asSet(gotBetween)).toEqual(asSet(expectedRange));
      }
    }
  }
}

/** Deep copy of a bucket's records in bucket order (to compare before/after a failure). */
export async function snapshot(bucket: BucketHandle<any, any>): Promise<Rec[]> {
  return structuredClone((await bucket.all()) as Rec[]);
}

/** Runs `fn`, expects it to reject with `errorClass`, and returns the error. */
export async function rejects<E extends Error>(
  fn: () => Promise<unknown> | unknown,
  errorClass: new (...args: any[]) => E,
): Promise<E> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${errorClass.name}`).toBeInstanceOf(errorClass);
  return caught as E;
}

/** What a validating call gave: its record, or the issues of its ValidationError. */
export function validationOutcome(run: () => Record<string, unknown>): unknown {
  try {
    return { record: run() };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return { issues: e.issues };
  }
}
