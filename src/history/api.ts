// The history operations behind BucketHandle.history / restoreVersion and
// Store.changes: argument checks, then the HistoryReader of the store.
import type { BucketState, HistoryFilter, StoreCore, StoreRecord, WriteAuthorizer } from '../engine/index.js';
import { InvalidArgumentError, isPlainObject, StoreStoppedError } from '../engine/index.js';
import { HistoryNotEnabledError, VersionNotFoundError } from './errors.js';
import type { ChangesOptions, HistoryEntry, HistoryQuery } from './types.js';

/** Fields a restored version does not bring back: the store maintains them. */
const META = new Set(['_version', '_createdAt', '_updatedAt', '_expiresAt']);

function time(op: string, name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v.getTime();
  if (typeof v === 'number' && !Number.isNaN(v)) return v;
  throw new InvalidArgumentError(
    op,
    `options.${name}`,
    `expected a time in ms or a Date, got ${describe(v)}`,
  );
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `"${v}"` : typeof v;
}

export function historyFilter(options: HistoryQuery | undefined): HistoryFilter {
  if (options === undefined) return { limit: Number.POSITIVE_INFINITY, since: -Infinity, until: Infinity };
  if (!isPlainObject(options))
    throw new InvalidArgumentError('history', 'options', 'expected {limit?, since?, until?}');
  for (const k of Object.keys(options))
    if (k !== 'limit' && k !== 'since' && k !== 'until')
      throw new InvalidArgumentError(
        'history',
        `options.${k}`,
        'unknown option (expected limit, since, until)',
      );
  const limit = options.limit as unknown;
  if (limit !== undefined && !(typeof limit === 'number' && Number.isInteger(limit) && limit > 0))
    throw new InvalidArgumentError(
      'history',
      'options.limit',
      `expected a positive integer, got ${describe(limit)}`,
    );
  const since = time('history', 'since', options.since) ?? -Infinity;
  const until = time('history', 'until', options.until) ?? Infinity;
  if (since > until)
    throw new InvalidArgumentError('history', 'options', `since (${since}) is after until (${until})`);
  return { limit: (limit as number | undefined) ?? Number.POSITIVE_INFINITY, since, until };
}

export function changesOptions(options: ChangesOptions | undefined): { since: number; limit: number } {
  if (options === undefined) return { since: 0, limit: 1000 };
  if (!isPlainObject(options))
    throw new InvalidArgumentError('changes', 'options', 'expected {since?, limit?}');
  for (const k of Object.keys(options))
    if (k !== 'since' && k !== 'limit')
      throw new InvalidArgumentError('changes', `options.${k}`, 'unknown option (expected since, limit)');
  const since = (options.since ?? 0) as number;
  const limit = (options.limit ?? 1000) as number;
  if (!(Number.isInteger(since) && since >= 0))
    throw new InvalidArgumentError(
      'changes',
      'options.since',
      `expected a sequence number >= 0, got ${describe(since)}`,
    );
  if (!(Number.isInteger(limit) && limit > 0))
    throw new InvalidArgumentError(
      'changes',
      'options.limit',
      `expected a positive integer, got ${describe(limit)}`,
    );
  return { since, limit };
}

async function historyState(core: StoreCore, name: string, operation: string): Promise<BucketState> {
  const b = core.require(name);
  if (b.loading !== undefined) await b.loading;
  const state = core.require(name);
  if (state.def.history === undefined) throw new HistoryNotEnabledError(name, operation);
  return state;
}

function reader(core: StoreCore) {
  if (core.history === undefined) throw new StoreStoppedError(core.name);
  return core.history;
}

/** `bucket.history(key, options)`. */
export async function readHistory(
  core: StoreCore,
  name: string,
  key: unknown,
  options: HistoryQuery | undefined,
): Promise<HistoryEntry[]> {
  const b = await historyState(core, name, 'read history');
  const filter = historyFilter(options);
  const keyId = b.toKeyId(key, 'history');
  return (await reader(core).read(b, keyId, filter)) as HistoryEntry[];
}

/**
 * `bucket.restoreVersion(key, version)`: write the content of that version as
 * a new version — an update when the record exists (fields the old version
 * did not have are removed), an insert when it was deleted (its `_version`
 * continues after the deleted one, `_createdAt` is the original).
 */
export async function restoreVersion(
  core: StoreCore,
  name: string,
  key: unknown,
  version: number,
  actor: string | undefined,
  authorize?: WriteAuthorizer,
): Promise<StoreRecord> {
  const b0 = await historyState(core, name, 'restore a version');
  if (!(Number.isInteger(version) && version > 0))
    throw new InvalidArgumentError(
      'restoreVersion',
      'version',
      `expected a positive integer, got ${describe(version)}`,
    );
  const keyId = b0.toKeyId(key, 'restoreVersion');
  const all = historyFilter(undefined);
  const [matches, latest] = await Promise.all([
    reader(core).read(b0, keyId, { ...all, version }),
    reader(core).read(b0, keyId, { ...all, limit: 1 }),
  ]);
  const entry = matches.find((e) => e.record !== undefined);
  if (entry === undefined) {
    const known = latest.length === 0 ? [] : (await reader(core).read(b0, keyId, all)).map((e) => e.version);
    throw new VersionNotFoundError(name, key, version, known);
  }
  // The bucket may have been dropped or redefined while history was read.
  const b = core.require(name);
  if (b.loading !== undefined) await b.loading;
  const old = entry.record!;
  const content: Record<string, unknown> = {};
  for (const k of Object.keys(old)) if (!META.has(k)) content[k] = old[k];
  const ws = core.writeSet();
  const current = b.records.get(keyId);
  let record: StoreRecord;
  if (current !== undefined) {
    const removed: string[] = [];
    for (const k of Object.keys(current))
      if (!META.has(k) && !Object.hasOwn(content, k)) {
        content[k] = undefined;
        removed.push(k);
      }
    record = ws.update(b, keyId, content, key);
    for (const k of removed) if (record[k] === undefined) delete (record as Record<string, unknown>)[k];
  } else {
    record = ws.insert(b, content);
    const last = Math.max(latest[0]?.version ?? 0, entry.version);
    const r = record as Record<string, unknown>;
    r._version = last + 1;
    if (typeof old._createdAt === 'number') r._createdAt = old._createdAt;
  }
  const wait = core.commit(ws, actor, authorize);
  if (wait !== undefined) await wait;
  return record;
}
