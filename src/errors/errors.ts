// Error classes. Class names, fields and message texts of the noex-store
// errors are kept verbatim: programs match on them.

/** Base class of every Quire error; `code` is stable and used by the server. */
export class QuireError extends Error {
  readonly code: string = 'QUIRE_ERROR';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class BucketAlreadyExistsError extends QuireError {
  override readonly code = 'BUCKET_ALREADY_EXISTS';
  readonly bucket: string;
  constructor(bucket: string) {
    super(`Bucket "${bucket}" already exists`);
    this.bucket = bucket;
  }
}

export class BucketNotDefinedError extends QuireError {
  override readonly code = 'BUCKET_NOT_DEFINED';
  readonly bucket: string;
  /** `message` differs only where noex-store worded it differently (a migration step: "does not exist"). */
  constructor(bucket: string, message = `Bucket "${bucket}" is not defined`) {
    super(message);
    this.bucket = bucket;
  }
}

export class UniqueConstraintError extends QuireError {
  override readonly code = 'UNIQUE_CONSTRAINT';
  readonly bucket: string;
  readonly field: string;
  readonly value: unknown;
  constructor(bucket: string, field: string, value: unknown) {
    super(
      `Unique constraint violation in bucket "${bucket}": field "${field}" already has value "${String(value)}"`,
    );
    this.bucket = bucket;
    this.field = field;
    this.value = value;
  }
}

export class TransactionConflictError extends QuireError {
  override readonly code = 'TRANSACTION_CONFLICT';
  readonly bucket: string;
  readonly key: unknown;
  readonly field: string | undefined;
  constructor(bucket: string, key: unknown, message: string, field?: string) {
    super(`Transaction conflict in bucket "${bucket}" for key "${String(key)}": ${message}`);
    this.bucket = bucket;
    this.key = key;
    this.field = field;
  }
}

export class PersistenceRequiredError extends QuireError {
  override readonly code = 'PERSISTENCE_REQUIRED';
  constructor(operation: string) {
    super(`Cannot ${operation}: persistence is not configured`);
  }
}

export class BackupNotFoundError extends QuireError {
  override readonly code = 'BACKUP_NOT_FOUND';
  readonly backup: string;
  constructor(backup: string) {
    super(`Backup "${backup}" not found`);
    this.backup = backup;
  }
}

export interface ValidationIssue {
  readonly field: string;
  readonly message: string;
  readonly code: string;
}

export class ValidationError extends QuireError {
  override readonly code = 'VALIDATION';
  readonly bucket: string;
  readonly issues: readonly ValidationIssue[];
  constructor(bucket: string, issues: readonly ValidationIssue[]) {
    super(
      `Validation failed for bucket "${bucket}": ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    );
    this.bucket = bucket;
    this.issues = issues;
  }
}

export class QueryAlreadyDefinedError extends QuireError {
  override readonly code = 'QUERY_ALREADY_DEFINED';
  readonly query: string;
  constructor(query: string) {
    super(`Query "${query}" is already defined`);
    this.query = query;
  }
}

export class QueryNotDefinedError extends QuireError {
  override readonly code = 'QUERY_NOT_DEFINED';
  readonly query: string;
  constructor(query: string) {
    super(`Query "${query}" is not defined`);
    this.query = query;
  }
}

export class ReferentialIntegrityError extends QuireError {
  override readonly code = 'REFERENTIAL_INTEGRITY';
  readonly sourceBucket: string;
  readonly sourceField: string;
  readonly targetBucket: string;
  readonly targetKey: unknown;
  constructor(
    message: string,
    sourceBucket: string,
    sourceField: string,
    targetBucket: string,
    targetKey: unknown,
  ) {
    super(message);
    this.sourceBucket = sourceBucket;
    this.sourceField = sourceField;
    this.targetBucket = targetBucket;
    this.targetKey = targetKey;
  }
}

/** A bucket definition (or update of one) is invalid. */
export class DefinitionError extends QuireError {
  override readonly code = 'INVALID_DEFINITION';
  readonly bucket: string;
  constructor(bucket: string, message: string) {
    super(message);
    this.bucket = bucket;
  }
}

/** A filter or query option is malformed: unknown operator, wrong operand type. */
export class InvalidFilterError extends QuireError {
  override readonly code = 'INVALID_FILTER';
  /** Where in the filter, e.g. `age.$in` or `$or[1].name`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`Invalid filter at "${path}": ${message}`);
    this.path = path;
  }
}

/** A public method was called with an argument of the wrong type or shape. */
export class InvalidArgumentError extends QuireError {
  override readonly code = 'INVALID_ARGUMENT';
  readonly argument: string;
  constructor(operation: string, argument: string, message: string) {
    super(`${operation}: invalid ${argument}: ${message}`);
    this.argument = argument;
  }
}

export class RecordNotFoundError extends QuireError {
  override readonly code = 'RECORD_NOT_FOUND';
  readonly bucket: string;
  readonly key: unknown;
  constructor(bucket: string, key: unknown) {
    super(`Record with key "${formatKey(key)}" not found in bucket "${bucket}"`);
    this.bucket = bucket;
    this.key = key;
  }
}

export class DuplicateKeyError extends QuireError {
  override readonly code = 'DUPLICATE_KEY';
  readonly bucket: string;
  readonly key: unknown;
  constructor(bucket: string, key: unknown, detail = 'a record with this key already exists') {
    super(`Duplicate key "${formatKey(key)}" in bucket "${bucket}": ${detail}`);
    this.bucket = bucket;
    this.key = key;
  }
}

/**
 * A synchronous read (`peek`, `peekWhere`, …) reached a bucket whose stored
 * records are still loading: await `defineBucket` first, or use the async reads.
 */
export class BucketLoadingError extends QuireError {
  override readonly code = 'BUCKET_LOADING';
  readonly bucket: string;
  constructor(bucket: string) {
    super(
      `Bucket "${bucket}" is still loading its stored records: await store.defineBucket() before reading it synchronously, or use the async reads`,
    );
    this.bucket = bucket;
  }
}

/** The store was stopped; no further operations are accepted. */
export class StoreStoppedError extends QuireError {
  override readonly code = 'STORE_STOPPED';
  constructor(store: string) {
    super(`Store "${store}" is stopped`);
  }
}

export function formatKey(key: unknown): string {
  return Array.isArray(key) ? key.map(String).join(', ') : String(key);
}
