import { QuireError } from '../errors/index.js';

/** `history()` / `restoreVersion()` on a bucket defined without `history`. */
export class HistoryNotEnabledError extends QuireError {
  override readonly code = 'HISTORY_NOT_ENABLED';
  readonly bucket: string;
  constructor(bucket: string, operation: string) {
    super(
      `Cannot ${operation}: bucket "${bucket}" keeps no history (define it with history: true or {maxVersions, maxAge})`,
    );
    this.bucket = bucket;
  }
}

/** `restoreVersion()` of a version (or a key) the history does not hold (never written, or pruned by retention). */
export class VersionNotFoundError extends QuireError {
  override readonly code = 'VERSION_NOT_FOUND';
  readonly bucket: string;
  readonly key: unknown;
  readonly version: number;
  constructor(bucket: string, key: unknown, version: number, known: readonly number[]) {
    super(
      known.length === 0
        ? `Cannot restore version ${version} of key "${String(key)}" in bucket "${bucket}": the key has no history`
        : `Version ${version} of key "${String(key)}" in bucket "${bucket}" is not in its history (kept versions: ${summarize(known)})`,
    );
    this.bucket = bucket;
    this.key = key;
    this.version = version;
  }
}

function summarize(versions: readonly number[]): string {
  const uniq = [...new Set(versions)].sort((a, b) => a - b);
  return uniq.length <= 10
    ? uniq.join(', ')
    : `${uniq.slice(0, 5).join(', ')} … ${uniq.slice(-3).join(', ')}`;
}
