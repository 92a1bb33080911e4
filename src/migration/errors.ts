// Errors of the migration runner. Messages follow @hamicek/noex-store 0.2
// word for word where it had one (programs match on them).
import { QuireError } from '../errors/index.js';

/** The list given to runMigrations is malformed (version, name, duplicate, missing `up`). */
export class InvalidMigrationError extends QuireError {
  override readonly code = 'INVALID_MIGRATION';
  /** The offending version as given (may be anything for a bad version). */
  readonly version: unknown;
  constructor(version: unknown, message: string) {
    super(message);
    this.version = version;
  }
}

/**
 * A migration step cannot be applied: the field does not exist or already
 * exists, it is (part of) the key, the index does not exist, a transform
 * returned something that is not a record.
 */
export class MigrationStepError extends QuireError {
  override readonly code = 'INVALID_MIGRATION_STEP';
  readonly bucket: string;
  readonly field: string | undefined;
  constructor(bucket: string, field: string | undefined, message: string) {
    super(message);
    this.bucket = bucket;
    this.field = field;
  }
}
