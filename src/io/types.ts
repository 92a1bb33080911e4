// Public types of import and export (P-9).
import type { WhereFilter, WriteAuthorizer } from '../engine/index.js';

export type DataFormat = 'json' | 'ndjson' | 'yaml';

export interface ImportProgress {
  /** Records read and staged so far. */
  readonly processed: number;
  /** Number of records in the input, when known before the end (JSON and YAML; not NDJSON). */
  readonly total?: number;
}

/**
 * Where records come from: a file path (or file URL), a readable stream, any
 * async iterable of text/bytes chunks, `{text}` with the content itself, or
 * an array of records.
 */
export type ImportSource =
  | string
  | URL
  | NodeJS.ReadableStream
  | AsyncIterable<string | Uint8Array>
  | { readonly text: string }
  | readonly Record<string, unknown>[];

export interface ImportOptions {
  /** Input format. Default: from the file extension (.json, .ndjson/.jsonl, .yaml/.yml); required for streams and text. */
  readonly format?: DataFormat;
  /** Import only if the bucket is empty; otherwise resolve `{skipped: true}` without reading the source. */
  readonly onlyIfEmpty?: boolean;
  /** `insert` (default): an existing key fails the import. `upsert`: existing records are updated. */
  readonly mode?: 'insert' | 'upsert';
  /**
   * `keep` (default): `_version`, `_createdAt`, `_updatedAt` and `_expiresAt`
   * found in inserted records are kept (an export/import round trip keeps
   * them); `reset`: they are ignored and assigned fresh.
   */
  readonly metadata?: 'keep' | 'reset';
  /** Called every `progressEvery` records and once at the end. */
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Records between progress calls. Default 1000. */
  readonly progressEvery?: number;
  /** Recorded as the actor of the writes. */
  readonly actor?: string;
  /** Permission check before anything changes (see WriteOptions.authorize). */
  readonly authorize?: WriteAuthorizer;
}

export interface ImportResult {
  readonly format: DataFormat | 'records';
  /** Records inserted or updated. */
  readonly imported: number;
  /** True when `onlyIfEmpty` found records and nothing was read. */
  readonly skipped: boolean;
}

export interface ExportProgress {
  readonly processed: number;
  readonly total: number;
}

export interface ExportOptions {
  /** A file path (written to a temporary file, then renamed into place) or a writable stream. */
  readonly to?: string | URL | NodeJS.WritableStream;
  /** Export only matching records. */
  readonly filter?: WhereFilter;
  /** Include `_version`, `_createdAt`, `_updatedAt`, `_expiresAt`. Default true. */
  readonly metadata?: boolean;
  readonly onProgress?: (progress: ExportProgress) => void;
  /** Records between progress calls. Default 1000. */
  readonly progressEvery?: number;
}

export interface ExportResult {
  readonly format: DataFormat;
  readonly exported: number;
}
