// Declarative queries: a config object turned into a query function, with
// noex-store's `{{ params.x }}` interpolation, null-last sorting and projection.
import type { DeclarativeQueryConfig, QueryFn, StoreRecord, WhereFilter } from '../engine/index.js';
import { aggregate, groupRecords, sortRecords } from '../engine/index.js';

const PARAM_RE = /^\{\{\s*params\.(\w+)\s*\}\}$/;

function interpolate(value: unknown, params: Record<string, unknown> | undefined): unknown {
  if (typeof value === 'string') {
    const m = PARAM_RE.exec(value);
    return m !== null ? params?.[m[1]!] : value;
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, params));
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, params);
    return out;
  }
  return value;
}

export function createDeclarativeQuery(config: DeclarativeQueryConfig): QueryFn {
  return async (ctx, params) => {
    const bucket = ctx.bucket(config.bucket);
    const filter =
      config.filter !== undefined
        ? (interpolate(config.filter, params as Record<string, unknown>) as WhereFilter)
        : undefined;
    let records: Record<string, unknown>[] =
      filter !== undefined && Object.keys(filter).length > 0
        ? await bucket.where(filter)
        : await bucket.all();
    const agg = config.aggregate;
    if (agg !== undefined) {
      if (agg.groupBy !== undefined) {
        const fields = typeof agg.groupBy === 'string' ? [agg.groupBy] : [...agg.groupBy];
        return groupRecords(records, fields, agg);
      }
      return aggregate(records, agg.function, agg.field);
    }
    if (config.sort !== undefined) records = sortRecords(records, Object.entries(config.sort));
    if (config.offset !== undefined && config.offset > 0) records = records.slice(config.offset);
    if (config.limit !== undefined) records = records.slice(0, config.limit);
    if (config.fields !== undefined && config.fields.length > 0) {
      const fields = config.fields;
      records = records.map((r) => {
        const out: Record<string, unknown> = {};
        for (const f of fields) if (f in r) out[f] = r[f];
        return out;
      });
    }
    return records as StoreRecord[];
  };
}
