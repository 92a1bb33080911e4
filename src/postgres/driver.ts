// The PostgreSQL driver (`pg`) is an optional peer dependency: it is loaded
// with a dynamic import the first time an adapter opens, so `quiredb` works
// without it and a missing driver is a clear, typed error. Only the small
// part of its API Quire uses is typed here, so the package's types do not
// depend on @types/pg either.
import { DatabaseUnreachableError } from '../persistence/index.js';

export interface PgQueryResult<R = Record<string, any>> {
  readonly rows: R[];
  readonly rowCount: number | null;
}

export interface PgClient {
  query<R = Record<string, any>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  release(error?: Error | boolean): void;
  on(event: 'notification', listener: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  removeAllListeners(event?: string): unknown;
  removeListener(event: 'error', listener: (e: Error) => void): unknown;
}

/** A `pg.Pool` (or anything with the same shape). */
export interface PgPool {
  connect(): Promise<PgClient>;
  query<R = Record<string, any>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  end(): Promise<void>;
  on(event: 'error', listener: (e: Error) => void): unknown;
}

/** A standalone `pg.Client` (for LISTEN): connect/end instead of release. */
export interface PgStandaloneClient {
  connect(): Promise<unknown>;
  query<R = Record<string, any>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  end(): Promise<void>;
  on(event: 'notification', listener: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

export interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPool;
  Client: new (config: Record<string, unknown>) => PgStandaloneClient;
}

/** The `pg` package is not installed: PostgresAdapter cannot connect. */
export class PostgresDriverMissingError extends DatabaseUnreachableError {
  override readonly code = 'POSTGRES_DRIVER_MISSING';
  constructor(cause: unknown) {
    super(
      'PostgresAdapter needs the PostgreSQL driver package "pg", which is not installed: run `npm install pg`',
      { cause },
    );
  }
}

let loaded: Promise<PgModule> | undefined;

/** Load `pg` once (the name can be overridden for tests of the missing-driver error). */
export function loadDriver(name = 'pg'): Promise<PgModule> {
  if (name !== 'pg') return importDriver(name);
  loaded ??= importDriver(name);
  return loaded;
}

async function importDriver(name: string): Promise<PgModule> {
  let mod: { default?: PgModule } & Partial<PgModule>;
  try {
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    if (name === 'pg') loaded = undefined;
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw new PostgresDriverMissingError(e);
    throw e;
  }
  return (mod.default ?? mod) as PgModule;
}
