// `quiredb/server`: serve a Store over JSON-RPC 2.0 (stdio, HTTP, WebSocket).

export {
  postgresStorageReport,
  type StorageReport,
  type StorageReporter,
  sqliteStorageReport,
} from '../inspector/index.js';
export type { ActivityReport } from './activity.js';
export type {
  BucketDescription,
  HistoryEntry,
  MethodName,
  MethodSpec,
  ParamsOf,
  QuireMethods,
  ResultOf,
  TransactionOperation,
} from './api.js';
export { type Access, type AuthOptions, Identity, type TokenGrant } from './auth.js';
export type { Handler, MethodContext, MethodOptions, RateLimit, Session, Transport } from './dispatcher.js';
export { RpcError } from './errors.js';
export type { DeleteEffect } from './inspection.js';
export * from './protocol.js';
export {
  createServer,
  InsecureBindError,
  type ListenAddress,
  type ListenOptions,
  type Logger,
  type LogLevel,
  QuireServer,
  type ServerOptions,
  type StdioServeOptions,
} from './server.js';
