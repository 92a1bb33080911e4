// `quiredb/client`: typed JSON-RPC clients for a Quire server over HTTP,
// WebSocket (with automatic reconnect) and a child process's stdio.
export type {
  EventNotification,
  HistoryEntry,
  MethodName,
  ParamsOf,
  QueryNotification,
  QuireMethods,
  ResultOf,
  RpcErrorData,
  RpcErrorObject,
  TransactionOperation,
} from '../server/index.js';
export {
  type BatchCall,
  type BatchResult,
  CallTimeoutError,
  ConnectionError,
  type EventSubscription,
  jsonEqual,
  type QuerySubscription,
  QuireClient,
  RemoteBucket,
  ResubscribeError,
  RpcError,
  StreamClient,
  type StreamClientOptions,
  type SubscribeOptions,
  type WriteOpts,
} from './client.js';
export { connectHttp, HttpClient, type HttpClientOptions } from './http.js';
export { StdioClient, type StdioClientOptions, spawnStdio } from './stdio.js';
export {
  connectWebSocket,
  type ReconnectOptions,
  WebSocketClient,
  type WebSocketClientOptions,
} from './websocket.js';
