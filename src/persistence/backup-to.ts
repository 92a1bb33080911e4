// `store.backupTo(path)`: a consistent copy of the store in one SQLite file.
// Adapters with a native online copy (SQLiteAdapter: SQLite's backup API,
// commits go on while it copies) make it; for the others the buckets, their
// history and the change feed are captured in one synchronous step and
// written as a new SQLite store.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BucketState, InvalidArgumentError } from '../engine/index.js';
import { encodeKey, serializeDefinition } from './codec.js';
import { toStorageError } from './errors.js';
import { ownFileAt } from './own-files.js';
import { SQLiteAdapter } from './sqlite-adapter.js';
import type { BackupFileInfo, BackupToOptions } from './store-storage.js';
import type { BucketWrite, CommitUnit, IncrementalAdapter, RecordWrite } from './types.js';

export interface BackupSource {
  readonly store: string;
  readonly adapter: IncrementalAdapter | undefined;
  /** The highest sequence number known, read after the flush (the copy continues from it). */
  lastSeq(): number;
  /** Commit what is queued, so the copy holds it. */
  flush(): Promise<void>;
}

export async function backupTo(
  source: BackupSource,
  target: string,
  buckets: Map<string, BucketState>,
  options: BackupToOptions,
): Promise<BackupFileInfo> {
  const t0 = Date.now();
  if (fs.existsSync(target) && options.overwrite !== true)
    throw new InvalidArgumentError(
      'backupTo',
      'path',
      `"${target}" exists (pass {overwrite: true} to replace it)`,
    );
  const own = source.adapter?.ownFiles?.(source.store);
  const hit = own !== undefined ? ownFileAt(target, own) : undefined;
  if (hit !== undefined)
    throw new InvalidArgumentError(
      'backupTo',
      'path',
      `"${target}" is one of the store's own files (${hit}): cannot back up a database onto itself`,
    );
  await source.flush();
  const a = source.adapter;
  if (a?.backupTo !== undefined) {
    if (a.path !== undefined && path.resolve(a.path) === path.resolve(target))
      throw new InvalidArgumentError('backupTo', 'path', 'cannot back up a database onto itself');
    const r = await a.backupTo(target, {
      pagesPerStep: options.pagesPerStep,
      onProgress: options.onProgress,
    });
    return { path: target, bytes: r.bytes, durationMs: Date.now() - t0 };
  }
  // Capture everything synchronously: a consistent cut.
  const bw: BucketWrite[] = [];
  const records: RecordWrite[] = [];
  let ord = 0;
  for (const [name, b] of buckets) {
    if (!b.def.persistent) continue;
    bw.push({
      bucket: name,
      definition: serializeDefinition(b.def.definition),
      autoincrement: b.autoincrement,
    });
    for (const [k, r] of b.records) {
      ord++;
      records.push({
        bucket: name,
        key: encodeKey(k),
        op: 'insert',
        seq: ord,
        ord,
        version: r._version,
        data: JSON.stringify(r),
      });
    }
  }
  const dump = (await a?.dumpLog?.(source.store)) ?? { history: [], feed: [] };
  const unit: CommitUnit = {
    buckets: bw,
    records,
    lastSeq: Math.max(source.lastSeq(), ord),
    history: dump.history,
    feed: dump.feed,
  };
  const tmp = `${target}.tmp-${process.pid}`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
  const out = new SQLiteAdapter(tmp, { autoCheckpointPages: 0 });
  try {
    out.open(source.store, { onError: () => {} });
    out.commit(source.store, unit);
    out.database.pragma('wal_checkpoint(TRUNCATE)');
    out.database.pragma('journal_mode = DELETE');
  } catch (e) {
    out.close();
    for (const f of [tmp, `${tmp}.lock.os`]) fs.rmSync(f, { force: true });
    throw toStorageError('backup', e, target);
  }
  out.close();
  fs.rmSync(`${tmp}.lock.os`, { force: true }); // the private temporary file's writer lock
  fs.renameSync(tmp, target);
  return { path: target, bytes: fs.statSync(target).size, durationMs: Date.now() - t0 };
}
