// Errors of import and export.
import { QuireError } from '../errors/index.js';

/** A format other than json, ndjson or yaml was asked for (or could not be told from a file name). */
export class UnknownFormatError extends QuireError {
  override readonly code = 'UNKNOWN_FORMAT';
  readonly format: unknown;
  constructor(format: unknown, message?: string) {
    super(message ?? `Unknown format ${JSON.stringify(format)}: use "json", "ndjson" or "yaml"`);
    this.format = format;
  }
}

/**
 * An import failed and imported nothing. `location` says where in the input
 * (`line 17`, `records[3]`, `records[3] (line 12)`); `cause` is the
 * underlying error (a ValidationError, a JSON/YAML syntax error, a
 * UniqueConstraintError …).
 */
export class ImportError extends QuireError {
  override readonly code = 'IMPORT_FAILED';
  readonly bucket: string;
  readonly location: string | undefined;
  /** 1-based line in the input, when known. */
  readonly line: number | undefined;
  /** 0-based index of the record in the input, when known. */
  readonly index: number | undefined;
  constructor(
    bucket: string,
    where: { location?: string; line?: number; index?: number } | undefined,
    problem: string,
    cause?: unknown,
  ) {
    const location = where?.location;
    super(
      `Cannot import into bucket "${bucket}": ${location !== undefined ? `${location}: ` : ''}${problem}`,
    );
    this.bucket = bucket;
    this.location = location;
    this.line = where?.line;
    this.index = where?.index;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** An export could not be written; a file target is left untouched. */
export class ExportError extends QuireError {
  override readonly code = 'EXPORT_FAILED';
  readonly bucket: string;
  constructor(bucket: string, problem: string, cause?: unknown) {
    super(`Cannot export bucket "${bucket}": ${problem}`);
    this.bucket = bucket;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}
