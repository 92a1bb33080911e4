// Version history and the change feed (P-6): the face of src/history.
export { changesOptions, historyFilter, readHistory, restoreVersion } from './api.js';
export { HistoryNotEnabledError, VersionNotFoundError } from './errors.js';
export { MemoryLog } from './memory-log.js';
export { HistoryService, type HistoryStorage } from './service.js';
export type {
  ChangeFeedConfig,
  ChangeFeedEntry,
  ChangesOptions,
  FeedRow,
  HistoryEntry,
  HistoryOp,
  HistoryQuery,
  LogRow,
  RetentionRule,
} from './types.js';
