// Read-only serving: the methods that change the store, its definitions or
// files on the server are refused before they run. Checked by the dispatcher
// for every request, so no client (the inspector page included) can write
// through a read-only server, whatever its permissions.
import { RpcError } from './errors.js';
import { FORBIDDEN } from './protocol.js';

/** Built-in methods that write; `transaction` writes unless every operation is a read. */
const WRITE_METHODS = new Set([
  'insert',
  'update',
  'delete',
  'upsert',
  'clear',
  'insertMany',
  'updateMany',
  'deleteMany',
  'import',
  'restoreVersion',
  'defineBucket',
  'dropBucket',
  'updateBucket',
  'defineQuery',
  'undefineQuery',
  'purgeTtl',
  'checkpoint',
  'createBackup',
  'backupTo',
  'restoreBackup',
  'deleteBackup',
]);

const READ_OPS = new Set(['get', 'all', 'where', 'findOne', 'count']);

export function readOnlyError(what: string): RpcError {
  return new RpcError(FORBIDDEN, `Read-only: this server does not accept writes (${what})`, {
    code: 'READ_ONLY',
  });
}

/** The refusal of `method` on a read-only server, or undefined when it only reads. */
export function readOnlyRefusal(method: string, params: unknown): RpcError | undefined {
  if (WRITE_METHODS.has(method)) return readOnlyError(`"${method}"`);
  if (method === 'transaction') {
    const ops = (params as { operations?: unknown } | undefined)?.operations;
    const writes =
      !Array.isArray(ops) || ops.some((o) => !READ_OPS.has((o as { op?: unknown } | null)?.op as string));
    if (writes) return readOnlyError('a transaction with write operations');
  }
  return undefined;
}
