// The inspector's server side: serving the built page, and the storage
// sizes an SQLite store reports to it. The page itself (ui/) is a separate
// browser program, bundled by scripts/build-inspector.mjs.
export { type AssetHandler, inspectorAssets, inspectorDirectory, pageNotBuilt } from './assets.js';
export {
  type PostgresLike,
  postgresStorageReport,
  type SQLiteLike,
  type StorageReport,
  type StorageReporter,
  sqliteStorageReport,
} from './storage-report.js';
