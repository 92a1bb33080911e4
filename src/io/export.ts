// bucket.export(): a consistent snapshot of the bucket (taken in one step;
// records are immutable, so later writes do not show up in it) written record
// by record — to a file (through a temporary file renamed into place, so a
// failed export never leaves half a file), to a writable stream (respecting
// backpressure), or returned as text.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { StoreCore, StoreRecord } from '../engine/index.js';
import { InvalidArgumentError, isPlainObject } from '../engine/index.js';
import { ExportError } from './errors.js';
import { checkFormat } from './read.js';
import type { DataFormat, ExportOptions, ExportResult } from './types.js';

type Rec = Record<string, unknown>;

const META = ['_version', '_createdAt', '_updatedAt', '_expiresAt'] as const;

/** Serialises records one at a time: a prefix, one piece per record, a suffix. */
function writer(format: DataFormat): {
  head: string;
  item(r: Rec, first: boolean): string;
  tail(n: number): string;
} {
  switch (format) {
    case 'json':
      return {
        head: '[',
        item: (r, first) => `${first ? '\n' : ',\n'}  ${JSON.stringify(r)}`,
        tail: (n) => (n === 0 ? ']\n' : '\n]\n'),
      };
    case 'ndjson':
      return { head: '', item: (r) => `${JSON.stringify(r)}\n`, tail: () => '' };
    case 'yaml':
      // A YAML list written item by item: each item is the one-element list of that record.
      return { head: '', item: (r) => stringify([toPlain(r)]), tail: (n) => (n === 0 ? '[]\n' : '') };
  }
}

/** What JSON would make of a value (Dates become ISO strings, undefined fields disappear), for YAML. */
function toPlain(r: Rec): unknown {
  return JSON.parse(JSON.stringify(r));
}

/** @internal Implementation of `BucketHandle.export`. */
export async function exportRecords(
  core: StoreCore,
  bucket: string,
  format: DataFormat,
  options: ExportOptions = {},
): Promise<ExportResult & { data?: string }> {
  const fmt = checkFormat(format);
  if (!isPlainObject(options as unknown))
    throw new InvalidArgumentError(
      'export',
      'options',
      'expected {to?, filter?, metadata?, onProgress?, progressEvery?}',
    );
  const { to, filter, onProgress } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new InvalidArgumentError(
      'export',
      'onProgress',
      'expected a function ({processed, total}) => void',
    );
  const every = options.progressEvery ?? 1000;
  if (!(Number.isInteger(every) && every > 0))
    throw new InvalidArgumentError('export', 'progressEvery', 'expected a positive integer');
  let b = core.require(bucket);
  if (b.loading !== undefined) await b.loading;
  b = core.require(bucket);
  if (filter !== undefined && !isPlainObject(filter as unknown))
    throw new InvalidArgumentError('export', 'filter', 'expected a filter object');
  // The snapshot: one synchronous read.
  const records: StoreRecord[] = filter === undefined ? b.all() : b.select(filter);
  const withMeta = options.metadata ?? true;
  const w = writer(fmt);
  const total = records.length;

  const pieces = function* (): Generator<string> {
    if (w.head !== '') yield w.head;
    for (let i = 0; i < total; i++) {
      let r = records[i] as Rec;
      if (!withMeta) {
        r = { ...r };
        for (const m of META) delete r[m];
      }
      yield w.item(r, i === 0);
      if (onProgress !== undefined && (i + 1) % every === 0) onProgress({ processed: i + 1, total });
    }
    yield w.tail(total);
  };

  if (to === undefined) {
    let data = '';
    for (const p of pieces()) data += p;
    onProgress?.({ processed: total, total });
    return { format: fmt, exported: total, data };
  }
  if (typeof to === 'string' || to instanceof URL) {
    const path = typeof to === 'string' ? to : fileURLToPath(to);
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    try {
      // The write stream retries short writes and fails on ENOSPC; fsync before the rename so a
      // crash never leaves a renamed but empty file, and fsync the directory after it.
      await pipeline(Readable.from(batched(pieces())), createWriteStream(tmp));
      await syncPath(tmp);
      await rename(tmp, path);
      await syncPath(dirname(path)).catch(() => {
        /* some platforms cannot fsync a directory */
      });
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new ExportError(bucket, `cannot write "${path}": ${(e as Error).message}`, e);
    }
  } else if (
    to !== null &&
    typeof to === 'object' &&
    typeof (to as NodeJS.WritableStream).write === 'function'
  ) {
    try {
      await writeAll(to as NodeJS.WritableStream, pieces());
    } catch (e) {
      throw new ExportError(bucket, `cannot write to the stream: ${(e as Error).message}`, e);
    }
  } else {
    throw new InvalidArgumentError('export', 'to', 'expected a file path, a file URL or a writable stream');
  }
  onProgress?.({ processed: total, total });
  return { format: fmt, exported: total };
}

async function syncPath(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Pieces joined into chunks of ~64 KB. */
function* batched(pieces: Iterable<string>): Generator<string> {
  let buf = '';
  for (const p of pieces) {
    buf += p;
    if (buf.length >= 65_536) {
      yield buf;
      buf = '';
    }
  }
  if (buf !== '') yield buf;
}

/** Write pieces in chunks of ~64 KB, waiting for 'drain' when the stream asks to. */
async function writeAll(out: NodeJS.WritableStream, pieces: Iterable<string>): Promise<void> {
  let failure: Error | undefined;
  const onError = (e: Error) => {
    failure ??= e;
  };
  out.on('error', onError);
  try {
    for (const chunk of batched(pieces)) {
      if (failure !== undefined) throw failure;
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), once(out, 'error')]);
    }
    if (failure !== undefined) throw failure;
  } finally {
    out.off('error', onError);
  }
}
