// Unique and compound-unique indexes as rows of quire_unique, so the database
// holds them across instances: (bucket, index, value) is the primary key, and
// a record claiming a value another record holds fails the commit.
import type { StoredDefinition } from '../persistence/index.js';

export interface UniqueSpec {
  readonly name: string;
  readonly fields: readonly string[];
}

/** The unique indexes of a stored definition (field `unique: true` and `indexes` with `unique`). */
export function uniqueSpecs(stored: StoredDefinition | undefined): UniqueSpec[] {
  if (stored === undefined) return [];
  const def = stored.definition as {
    schema?: Record<string, { unique?: unknown }>;
    indexes?: unknown[];
  };
  const out = new Map<string, UniqueSpec>();
  for (const spec of def.indexes ?? []) {
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) continue;
    const s = spec as { fields?: unknown; unique?: unknown };
    if (s.unique !== true) continue;
    const fields =
      typeof s.fields === 'string' ? [s.fields] : Array.isArray(s.fields) ? s.fields.map(String) : [];
    if (fields.length > 0) out.set(fields.join('+'), { name: fields.join('+'), fields });
  }
  for (const [field, fd] of Object.entries(def.schema ?? {}))
    if (fd !== null && typeof fd === 'object' && fd.unique === true)
      out.set(field, { name: field, fields: [field] });
  return [...out.values()];
}

/** The (index, value) pairs a record claims; records with a missing or null field claim nothing for that index. */
export function uniqueEntries(
  specs: readonly UniqueSpec[],
  record: Record<string, unknown>,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const s of specs) {
    const values: unknown[] = [];
    let missing = false;
    for (const f of s.fields) {
      const v = record[f];
      if (v === undefined || v === null) {
        missing = true;
        break;
      }
      values.push(v);
    }
    if (!missing) out.push([s.name, JSON.stringify(values.length === 1 ? values[0] : values)]);
  }
  return out;
}
