// Public types of migrations (shapes of @hamicek/noex-store 0.2; Quire widens
// `addIndex`/`removeIndex` to its index specs).
import type { BucketDefinition, FieldDefinition, FieldType, IndexSpec } from '../store/index.js';

export interface Migration {
  /** Positive integer; migrations run in ascending order, each at most once per store. */
  readonly version: number;
  /** Non-empty; recorded with the version in the `_migrations` bucket. */
  readonly name: string;
  readonly up: (ctx: MigrationContext) => Promise<void>;
  /** Kept for noex-store compatibility; runMigrations never calls it. */
  readonly down?: (ctx: MigrationContext) => Promise<void>;
}

export interface MigrationContext {
  /** Schema operations on an existing bucket. */
  bucket(name: string): MigrationBucketHandle;
  createBucket(name: string, definition: BucketDefinition): Promise<void>;
  dropBucket(name: string): Promise<void>;
}

export interface MigrationBucketHandle {
  /**
   * Add a field to the schema. Records that lack it get `defaultValue`, or
   * else the field's own `default`; every record must then be valid.
   */
  addField(name: string, definition: FieldDefinition, defaultValue?: unknown): Promise<void>;
  /** Remove a field from the schema and from every record (and the indexes that use it). */
  removeField(name: string): Promise<void>;
  /** Rename a field in the schema, the indexes and every record. */
  renameField(oldName: string, newName: string): Promise<void>;
  /** Change a field's type; `transform` converts every non-null value. */
  changeFieldType(name: string, newType: FieldType, transform: (value: unknown) => unknown): Promise<void>;
  addIndex(field: IndexSpec): Promise<void>;
  removeIndex(field: IndexSpec): Promise<void>;
  /** Replace every record by `fn(record)` (it receives a copy; metadata it omits is kept). */
  transformAll(fn: (record: Record<string, unknown>) => Record<string, unknown>): Promise<void>;
}

export interface MigrationResult {
  /** How many migrations this call applied. */
  readonly applied: number;
  /** The highest applied version (0 when none). */
  readonly currentVersion: number;
}
