// `quiredb/postgres`: the store on PostgreSQL, shared by many instances.

export {
  CommitConflictError,
  CommitOutcomeUnknownError,
  CommitTimeoutError,
  type ConflictingWrite,
  DatabaseUnreachableError,
} from '../persistence/index.js';
export {
  type LogEntry,
  POSTGRES_SCHEMA_VERSION,
  PostgresAdapter,
  type PostgresAdapterOptions,
  type PostgresConnection,
} from './adapter.js';
export { type PgClient, type PgPool, PostgresDriverMissingError } from './driver.js';
