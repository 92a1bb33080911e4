// `quiredb/client` in Node: typed JSON-RPC clients for a Quire server over
// HTTP, WebSocket (with automatic reconnect) and a child process's stdio.
// Browsers get browser.ts instead (package.json's "browser" condition): the
// same API over fetch and the browser's WebSocket, without stdio.
export type {
  EventNotification,
  HistoryEntry,
  MethodName,
  MethodSpec,
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
  type CallArgs,
  type CallableMethod,
  type CallResult,
  CallTimeoutError,
  ConnectionError,
  type DefaultMethods,
  type EventSubscription,
  jsonEqual,
  type MethodMap,
  type OpenMethods,
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
export { PostingClient } from './posting.js';
export { ReconnectingClient } from './reconnecting.js';
export { StdioClient, type StdioClientOptions, spawnStdio } from './stdio.js';
export {
  connectWebSocket,
  type ReconnectOptions,
  WebSocketClient,
  type WebSocketClientOptions,
} from './websocket.js';
