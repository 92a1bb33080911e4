// JSON-RPC 2.0 wire types and error codes shared by the server and the
// client. Types only, plus constants: the client imports this file without
// pulling in any server code.

export type RpcId = string | number | null;

export interface RpcRequest {
  readonly jsonrpc: '2.0';
  readonly method: string;
  readonly params?: unknown;
  /** Absent for a notification (no response is sent). */
  readonly id?: RpcId;
}

/** `data` of every error the server sends: a stable Quire code plus details. */
export interface RpcErrorData {
  /** Stable machine-readable code: the Quire error's `code` or a server code (`UNAUTHORIZED` …). */
  readonly code: string;
  /** Validation issues of a `VALIDATION` error. */
  readonly issues?: ReadonlyArray<{
    readonly field: string;
    readonly message: string;
    readonly code: string;
  }>;
  /** Index of the failing operation of a `transaction` call. */
  readonly operation?: number;
  readonly [detail: string]: unknown;
}

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: RpcErrorData;
}

export interface RpcSuccess {
  readonly jsonrpc: '2.0';
  readonly id: RpcId;
  readonly result: unknown;
}

export interface RpcFailure {
  readonly jsonrpc: '2.0';
  readonly id: RpcId;
  readonly error: RpcErrorObject;
}

export type RpcResponse = RpcSuccess | RpcFailure;

export interface RpcNotification {
  readonly jsonrpc: '2.0';
  readonly method: string;
  readonly params?: unknown;
}

/** Standard JSON-RPC 2.0 codes. */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** Server-defined codes (the -32000 … -32099 range reserved for implementations). */
/** A Quire error that is not about the request's shape: conflict, constraint, unknown record … */
export const STORE_ERROR = -32000;
export const UNAUTHORIZED = -32001;
export const FORBIDDEN = -32002;
export const RATE_LIMITED = -32003;
export const TIMEOUT = -32004;
export const SHUTTING_DOWN = -32005;

/** Server → client notification methods. */
export const NOTIFY_QUERY = 'subscription';
export const NOTIFY_EVENT = 'event';

/** `params` of a `subscription` notification: a reactive query's new result. */
export interface QueryNotification<R = unknown> {
  readonly subscription: string;
  readonly result: R;
}

/** `params` of an `event` notification: a bucket event matching a `subscribeEvents` pattern. */
export interface EventNotification<E = unknown> {
  readonly subscription: string;
  readonly topic: string;
  readonly event: E;
}
