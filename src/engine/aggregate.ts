// Aggregations with noex-store semantics: non-numbers are skipped, avg of
// nothing is 0, min/max of nothing is undefined (0 inside groupBy).
import type { AggregateFunction, GroupByResult } from './types.js';

type Rec = Record<string, unknown>;

export function sumOf(records: readonly Rec[], field: string): number {
  let total = 0;
  for (const r of records) {
    const v = r[field];
    if (typeof v === 'number') total += v;
  }
  return total;
}

export function avgOf(records: readonly Rec[], field: string): number {
  let total = 0;
  let n = 0;
  for (const r of records) {
    const v = r[field];
    if (typeof v === 'number') {
      total += v;
      n++;
    }
  }
  return n === 0 ? 0 : total / n;
}

export function minOf(records: readonly Rec[], field: string): number | undefined {
  let min: number | undefined;
  for (const r of records) {
    const v = r[field];
    if (typeof v === 'number' && (min === undefined || v < min)) min = v;
  }
  return min;
}

export function maxOf(records: readonly Rec[], field: string): number | undefined {
  let max: number | undefined;
  for (const r of records) {
    const v = r[field];
    if (typeof v === 'number' && (max === undefined || v > max)) max = v;
  }
  return max;
}

export function aggregate(
  records: readonly Rec[],
  fn: AggregateFunction,
  field: string | undefined,
): number | undefined {
  switch (fn) {
    case 'count':
      return records.length;
    case 'sum':
      return sumOf(records, field!);
    case 'avg':
      return avgOf(records, field!);
    case 'min':
      return minOf(records, field!);
    case 'max':
      return maxOf(records, field!);
  }
}

export function groupRecords(
  records: readonly Rec[],
  fields: readonly string[],
  agg: { function: AggregateFunction; field?: string | undefined },
): GroupByResult[] {
  const groups = new Map<string, Rec[]>();
  for (const r of records) {
    let k = '';
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) k += '\0';
      k += String(r[fields[i]!] ?? 'null');
    }
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = []));
    g.push(r);
  }
  const out: GroupByResult[] = [];
  for (const g of groups.values()) {
    const key: Record<string, unknown> = {};
    for (const f of fields) key[f] = g[0]![f];
    out.push({ key, value: aggregate(g, agg.function, agg.field) ?? 0 });
  }
  return out;
}
