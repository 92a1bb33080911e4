// References (`ref` fields) as rows of quire_refs, so the database knows who
// points at whom across instances: a commit deleting a record another
// instance's record still points at, or pointing at a record another
// instance deleted, is refused (see adapter.ts, #writeRefs).
import { refKeyId } from '../engine/index.js';
import type { StoredDefinition } from '../persistence/index.js';

export interface RefSpec {
  readonly field: string;
  readonly target: string;
  readonly onDelete: 'restrict' | 'cascade' | 'set_null';
}

/** The references of a stored definition (schema fields with `ref`). */
export function refSpecs(stored: StoredDefinition | undefined): RefSpec[] {
  if (stored === undefined) return [];
  const schema = (stored.definition as { schema?: Record<string, { ref?: unknown; onDelete?: unknown }> })
    .schema;
  const out: RefSpec[] = [];
  for (const [field, fd] of Object.entries(schema ?? {})) {
    if (fd === null || typeof fd !== 'object' || typeof fd.ref !== 'string') continue;
    const onDelete = fd.onDelete === 'cascade' || fd.onDelete === 'set_null' ? fd.onDelete : 'restrict';
    out.push({ field, target: fd.ref, onDelete });
  }
  return out;
}

/** The (spec, target key text) pairs a record points at; null or missing references point nowhere. */
export function refEntries(
  specs: readonly RefSpec[],
  record: Record<string, unknown>,
): Array<[RefSpec, string]> {
  const out: Array<[RefSpec, string]> = [];
  for (const s of specs) {
    const id = refKeyId(record[s.field]);
    if (id !== undefined) out.push([s, JSON.stringify(id)]);
  }
  return out;
}
