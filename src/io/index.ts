// Import and export of bucket records (P-9): JSON, NDJSON and YAML.
export { ExportError, ImportError, UnknownFormatError } from './errors.js';
export { exportRecords } from './export.js';
export { importRecords } from './import.js';
export type {
  DataFormat,
  ExportOptions,
  ExportProgress,
  ExportResult,
  ImportOptions,
  ImportProgress,
  ImportResult,
  ImportSource,
} from './types.js';
