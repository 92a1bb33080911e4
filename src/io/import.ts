// bucket.import(): every record of the input is validated and staged in one
// WriteSet as it is read; the set commits once at the end. So an import is
// all or nothing — in memory, for events and reactive queries, and on disk
// (one ChangeBatch is one storage transaction). A bad record anywhere means
// nothing is imported, and the error says where it is.
import type { StoreCore, StoreRecord, WriteSet } from '../engine/index.js';
import {
  DuplicateKeyError,
  InvalidArgumentError,
  isPlainObject,
  ReferentialIntegrityError,
  TransactionConflictError,
  UniqueConstraintError,
} from '../engine/index.js';
import { ImportError } from './errors.js';
import {
  checkFormat,
  classifySource,
  formatOfPath,
  readRecords,
  SourceReadError,
  type Where,
} from './read.js';
import type { DataFormat, ImportOptions, ImportResult, ImportSource } from './types.js';

type Rec = Record<string, unknown>;

const META = ['_version', '_createdAt', '_updatedAt', '_expiresAt'] as const;

/** @internal Implementation of `BucketHandle.import`. */
export async function importRecords(
  core: StoreCore,
  bucket: string,
  source: ImportSource,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const opts = checkOptions(options);
  let b = core.require(bucket);
  if (b.loading !== undefined) await b.loading;
  b = core.require(bucket);
  const src = classifySource(source);
  const format: DataFormat | 'records' =
    src.kind === 'records'
      ? 'records'
      : opts.format !== undefined
        ? checkFormat(opts.format)
        : src.kind === 'path'
          ? formatOfPath(src.path)
          : missingFormat();
  if (opts.onlyIfEmpty && b.size > 0) return { format, imported: 0, skipped: true };

  const fail = (where: Where | undefined, problem: string, cause?: unknown): never => {
    throw new ImportError(bucket, where, problem, cause);
  };
  const ws: WriteSet = core.writeSet(true);
  const staged: Array<{ record: StoreRecord; where: Where }> = [];
  const reader = readRecords(src, format);
  const every = opts.progressEvery ?? 1000;
  let processed = 0;
  try {
    for await (const item of reader.items) {
      if ('problem' in item) fail(item.where, item.problem, item.cause);
      const { where } = item as { record: Rec; where: Where };
      let input = (item as { record: Rec }).record;
      const keep = opts.metadata !== 'reset';
      if (!keep && META.some((m) => m in input)) {
        input = { ...input };
        for (const m of META) delete input[m];
      }
      let record: StoreRecord;
      try {
        record = stage(ws, b, input, opts.mode ?? 'insert', keep, where, fail);
      } catch (e) {
        if (e instanceof ImportError) throw e;
        fail(where, (e as Error).message, e);
      }
      staged.push({ record: record!, where });
      processed++;
      if (opts.onProgress !== undefined && processed % every === 0)
        opts.onProgress({ processed, total: reader.total() });
    }
  } catch (e) {
    if (e instanceof SourceReadError) {
      fail(
        undefined,
        src.kind === 'path'
          ? `cannot read "${src.path}": ${e.message}`
          : `cannot read the source: ${e.message}`,
        e.original,
      );
    }
    throw e;
  }
  opts.onProgress?.({ processed, total: reader.total() ?? processed });
  if (opts.onlyIfEmpty && core.require(bucket).size > 0) return { format, imported: 0, skipped: true };
  if (processed === 0) return { format, imported: 0, skipped: false };
  let wait: Promise<void> | undefined;
  try {
    wait = core.commit(ws, opts.actor, opts.authorize);
  } catch (e) {
    fail(locate(e, staged, b.def.keyFields), (e as Error).message, e);
  }
  if (wait !== undefined) await wait;
  return { format, imported: processed, skipped: false };
}

function missingFormat(): never {
  throw new InvalidArgumentError(
    'import',
    'format',
    'a stream or text source needs {format: "json" | "ndjson" | "yaml"}',
  );
}

/** Stage one record: insert (keeping its metadata when asked) or, in upsert mode, update an existing one. */
function stage(
  ws: WriteSet,
  b: Parameters<WriteSet['insert']>[0],
  input: Rec,
  mode: 'insert' | 'upsert',
  keep: boolean,
  where: Where,
  fail: (where: Where | undefined, problem: string, cause?: unknown) => never,
): StoreRecord {
  if (mode === 'upsert' && b.def.keyFields.every((f) => input[f] !== undefined && input[f] !== null)) {
    const keyId = b.keyIdOf(input);
    if (ws.read(b, keyId) !== undefined) return ws.update(b, keyId, input, b.publicKeyOf(input));
  }
  const record = ws.insert(b, input) as Rec;
  if (keep) {
    // `insert` assigned fresh metadata to the staged record (the object the write set holds, not yet
    // visible to anyone); put the imported values back.
    const v = input._version;
    if (v !== undefined) {
      if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1))
        fail(where, `_version must be a positive integer, got ${JSON.stringify(v)}`);
      record._version = v;
    }
    for (const m of ['_createdAt', '_updatedAt'] as const) {
      const t = input[m];
      if (t === undefined) continue;
      if (!(typeof t === 'number' && Number.isFinite(t) && t >= 0))
        fail(where, `${m} must be a timestamp in ms, got ${JSON.stringify(t)}`);
      record[m] = t;
    }
    if (input._updatedAt === undefined && input._createdAt !== undefined)
      record._updatedAt = record._createdAt;
  }
  return record as StoreRecord;
}

/** Which input record a commit-time failure (unique, reference, concurrent write) is about. */
function locate(
  e: unknown,
  staged: ReadonlyArray<{ record: StoreRecord; where: Where }>,
  keyFields: readonly string[],
): Where | undefined {
  const same = (a: unknown, b: unknown) => a === b || (a != null && b != null && String(a) === String(b));
  let match: ((r: Rec) => boolean) | undefined;
  if (e instanceof UniqueConstraintError) {
    const fields = e.field.split(', ');
    match =
      fields.length === 1
        ? (r) => same(r[fields[0]!], e.value)
        : (r) => same(JSON.stringify(fields.map((f) => r[f])), e.value);
  } else if (e instanceof ReferentialIntegrityError) {
    match = (r) => same(r[e.sourceField], e.targetKey);
  } else if (e instanceof DuplicateKeyError || e instanceof TransactionConflictError) {
    const key = e.key;
    match = (r) =>
      keyFields.length === 1
        ? same(r[keyFields[0]!], key)
        : Array.isArray(key) && keyFields.every((f, i) => same(r[f], key[i]));
  }
  if (match === undefined) return undefined;
  // For a unique clash inside the input, the later of the two records is the one that collides.
  let found: Where | undefined;
  for (const s of staged) if (match(s.record)) found = s.where;
  return found;
}

function checkOptions(options: ImportOptions): ImportOptions {
  if (!isPlainObject(options as unknown))
    throw new InvalidArgumentError(
      'import',
      'options',
      'expected {format?, onlyIfEmpty?, mode?, metadata?, onProgress?, progressEvery?, actor?}',
    );
  const o = options as ImportOptions;
  if (o.mode !== undefined && o.mode !== 'insert' && o.mode !== 'upsert')
    throw new InvalidArgumentError(
      'import',
      'mode',
      `expected "insert" or "upsert", got ${JSON.stringify(o.mode)}`,
    );
  if (o.metadata !== undefined && o.metadata !== 'keep' && o.metadata !== 'reset')
    throw new InvalidArgumentError(
      'import',
      'metadata',
      `expected "keep" or "reset", got ${JSON.stringify(o.metadata)}`,
    );
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new InvalidArgumentError(
      'import',
      'onProgress',
      'expected a function ({processed, total}) => void',
    );
  if (o.progressEvery !== undefined && !(Number.isInteger(o.progressEvery) && o.progressEvery > 0))
    throw new InvalidArgumentError('import', 'progressEvery', 'expected a positive integer');
  if (o.actor !== undefined && typeof o.actor !== 'string')
    throw new InvalidArgumentError('import', 'actor', 'expected a string');
  return o;
}
