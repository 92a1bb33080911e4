// Shared set-up of the server tests: the same store (buckets, queries, an
// application method) served in-process over HTTP/WebSocket and in a child
// process over stdio (stdio-server.ts).
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/index.js';
import { type ListenAddress, QuireServer, type ServerOptions } from '../../src/server/index.js';

export const STDIO_SERVER = fileURLToPath(new URL('./stdio-server.ts', import.meta.url));
export const TSX = ['--import', 'tsx'];

export async function prepareStore(store: Store): Promise<void> {
  await store.defineBucket('users', {
    key: 'id',
    schema: {
      id: { type: 'string', generated: 'uuid' },
      name: { type: 'string', required: true, minLength: 1 },
      email: { type: 'string', format: 'email', unique: true },
      role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
      age: { type: 'number', min: 0 },
    },
    indexes: ['role', { fields: 'age', sorted: true }],
  });
  await store.defineBucket('counters', {
    key: 'id',
    schema: { id: { type: 'string' }, value: { type: 'number', default: 0 } },
  });
  await store.defineBucket('secrets', {
    key: 'id',
    schema: { id: { type: 'string' }, text: { type: 'string' } },
  });
  store.defineDeclarativeQuery('admins', {
    bucket: 'users',
    filter: { role: 'admin' },
    sort: { name: 'asc' },
  });
  store.defineQuery('byRole', async (ctx, params: { role: string }) =>
    (await ctx.bucket('users').where({ role: params.role })).map((u) => u.name).sort(),
  );
}

/** Application methods registered on every test server. */
export function registerAppMethods(server: QuireServer): void {
  server.register('app.echo', (params) => params ?? null);
  server.register('app.slow', async (params: { ms: number }) => {
    await new Promise((r) => setTimeout(r, params.ms));
    return 'done';
  });
  server.register('app.fail', () => {
    throw new Error('boom');
  });
  server.register('app.whoami', (_p, ctx) => ctx.identity?.name ?? null);
  server.register('app.actor', (p, ctx) => ctx.actor(p) ?? null);
}

export interface Running {
  readonly store: Store;
  readonly server: QuireServer;
  readonly address: ListenAddress;
  stop(): Promise<void>;
}

/** An in-process store and server listening on 127.0.0.1 (port 0). */
export async function startHttp(options: Omit<ServerOptions, 'store'> = {}): Promise<Running> {
  const store = await Store.start({ ttlCheckIntervalMs: 0 });
  await prepareStore(store);
  const server = new QuireServer({ store, log: () => {}, ...options });
  registerAppMethods(server);
  const address = await server.listen();
  return {
    store,
    server,
    address,
    async stop() {
      await server.close();
      await store.stop();
    },
  };
}

/** Polls `cond` (notifications travel asynchronously); fails the test after 5 s. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
