// Mapping of thrown errors to JSON-RPC error objects.
//
//   -32602 Invalid params  the request's params are wrong: server-side param
//                          checks, and the Quire errors that say the input was
//                          bad (VALIDATION, INVALID_ARGUMENT, INVALID_FILTER,
//                          INVALID_DEFINITION)
//   -32601 Method not found unknown method, or NOT_SUPPORTED (a feature this
//                          store or this transport does not have)
//   -32000 Store error     every other Quire error (UNIQUE_CONSTRAINT,
//                          TRANSACTION_CONFLICT, BUCKET_NOT_DEFINED …)
//   -32603 Internal error  anything that is not a Quire error (a bug)
//
// `data.code` is always the stable string code; Quire errors add their
// fields (bucket, key, field, value, issues …).
import { QuireError } from '../store/index.js';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  type RpcErrorData,
  type RpcErrorObject,
  STORE_ERROR,
} from './protocol.js';

/** An error a method handler throws to answer with a specific JSON-RPC error. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: RpcErrorData;
  constructor(code: number, message: string, data: RpcErrorData) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(INVALID_PARAMS, `Invalid params: ${message}`, { code: 'INVALID_PARAMS' });
}

export function notSupported(what: string): RpcError {
  return new RpcError(METHOD_NOT_FOUND, `Not supported: ${what}`, { code: 'NOT_SUPPORTED' });
}

const PARAM_CODES = new Set([
  'VALIDATION',
  'INVALID_ARGUMENT',
  'INVALID_FILTER',
  'INVALID_DEFINITION',
  'UNKNOWN_FORMAT',
]);

export function toRpcError(e: unknown): RpcErrorObject {
  if (e instanceof RpcError) return { code: e.code, message: e.message, data: e.data };
  if (e instanceof QuireError) {
    const data: Record<string, unknown> = { code: e.code };
    for (const [k, v] of Object.entries(e)) {
      if (k === 'code' || k === 'name' || typeof v === 'function') continue;
      data[k] = v;
    }
    // A wrapping error (IMPORT_FAILED …) carries its cause's code and issues.
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof QuireError) {
      const c = toRpcError(cause);
      data.cause = { message: c.message, ...c.data };
    }
    return {
      code: PARAM_CODES.has(e.code) ? INVALID_PARAMS : STORE_ERROR,
      message: e.message,
      data: data as RpcErrorData,
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: INTERNAL_ERROR, message: `Internal error: ${message}`, data: { code: 'INTERNAL' } };
}
