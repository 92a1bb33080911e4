// `quiredb/client` in a browser (chosen by package.json's "browser" export
// condition): the Node client's API over `fetch` and the browser's
// WebSocket, with no Node module. No stdio client: a page spawns no process.
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
export { connectWebSocket, WebSocketClient } from './browser-websocket.js';
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
export { connectHttp, HttpClient, type HttpClientOptions } from './fetch-http.js';
export { PostingClient } from './posting.js';
export { ReconnectingClient, type ReconnectOptions, type WebSocketClientOptions } from './reconnecting.js';
