export { InvalidMigrationError, MigrationStepError } from './errors.js';
export { MIGRATIONS_BUCKET, runMigrations } from './runner.js';
export type { Migration, MigrationBucketHandle, MigrationContext, MigrationResult } from './types.js';
