// What both entries of `quiredb/client` (Node: index.ts, browsers:
// browser.ts) export: the transport-independent client and the protocol types.
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
export { PostingClient } from './posting.js';
export { ReconnectingClient, type ReconnectOptions, type WebSocketClientOptions } from './reconnecting.js';
