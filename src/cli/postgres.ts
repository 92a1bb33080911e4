// `--pg URL` for the CLI: the one place that reads a PostgreSQL location
// (`postgres://user@host:port/db?schema=NAME&connect_timeout=SECONDS`), masks
// its password in every message, looks at what the database holds without
// changing anything, and opens a PostgresAdapter on it (read-only when asked).
import { type IncrementalAdapter, ReadOnlyStorageError } from '../index.js';
import { PostgresAdapter, PostgresDriverMissingError } from '../postgres/index.js';
import { CliError, EXIT } from './errors.js';

/** How long a command waits for an unreachable database by default (`?connect_timeout=` overrides it). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface PgLocation {
  /** The connection string handed to the driver (without the CLI's own parameters). */
  readonly connectionString: string;
  /** PostgreSQL schema holding the store's tables. */
  readonly schema: string;
  readonly connectTimeoutMs: number;
  /** The URL with its password masked, for messages. */
  readonly label: string;
}

/** Passwords seen in `--pg` URLs: `redact` removes them from any text before it is printed. */
const secrets = new Set<string>();

/**
 * `text` with every password of a `--pg` URL given to this process replaced
 * by `***`: a second line of defence behind the masked URLs in messages (a
 * driver message quoting a URL). Passwords shorter than 4 characters are left
 * alone, as replacing them would garble every message.
 */
export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** The URL with its password (if any) replaced by `***`. */
export function maskUrl(url: URL): string {
  if (url.password === '') return url.toString();
  const u = new URL(url.toString());
  u.password = '***';
  return u.toString().replace('%2A%2A%2A', '***');
}

/** Read a `--pg` value: postgres:// or postgresql:// with optional `schema` and `connect_timeout` (seconds). */
export function parsePgUrl(text: string, option = '--pg'): PgLocation {
  if (!/^postgres(ql)?:\/\//i.test(text))
    throw new CliError(`${option} expects a postgres://user@host:port/database URL`, EXIT.USAGE);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not echoed: the text may hold a password.
    throw new CliError(`${option}: not a valid postgres:// URL`, EXIT.USAGE);
  }
  if (url.password !== '') {
    secrets.add(url.password);
    try {
      secrets.add(decodeURIComponent(url.password));
    } catch {
      /* kept as written */
    }
  }
  const schema = url.searchParams.get('schema') ?? 'public';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(schema))
    throw new CliError(
      `${option}: schema must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), got ${JSON.stringify(schema)}`,
      EXIT.USAGE,
    );
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  const timeout = url.searchParams.get('connect_timeout');
  if (timeout !== null) {
    const seconds = Number(timeout);
    if (timeout === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600)
      throw new CliError(`${option}: connect_timeout must be a number of seconds from 0 to 3600`, EXIT.USAGE);
    connectTimeoutMs = Math.round(seconds * 1000);
  }
  url.searchParams.delete('schema');
  url.searchParams.delete('connect_timeout');
  return { connectionString: url.toString(), schema, connectTimeoutMs, label: maskUrl(url) };
}

/** Connection-level failures worth waiting out (server down, starting, network). */
function isConnectionFailure(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (
    typeof code === 'string' &&
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|57P0[1-3]|08\w{3})$/.test(
      code,
    )
  )
    return true;
  return /timeout|Connection terminated|connection.*(closed|ended)/i.test((e as Error)?.message ?? '');
}

interface PgClientLike {
  connect(): Promise<unknown>;
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (e: Error) => void): unknown;
}

async function loadPg(): Promise<{ Client: new (config: Record<string, unknown>) => PgClientLike }> {
  try {
    const mod = (await import('pg')) as { default?: unknown };
    return (mod.default ?? mod) as { Client: new (config: Record<string, unknown>) => PgClientLike };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw new CliError(new PostgresDriverMissingError(e).message, EXIT.FAILED);
    throw e;
  }
}

/** What a PostgreSQL schema holds, read without creating or changing anything. */
export interface PgContents {
  /** Quire's tables are in the schema. */
  readonly initialized: boolean;
  /** Store name → its buckets (in creation order) with their stored definitions; stores with at least one bucket. */
  readonly stores: ReadonlyMap<string, ReadonlyMap<string, Record<string, unknown> | undefined>>;
}

/**
 * Connect (retrying connection failures until `connectTimeoutMs`) and read
 * which stores and buckets the schema holds. An unreachable database is a
 * CliError naming the masked URL and how long it waited.
 */
export async function probePostgres(loc: PgLocation): Promise<PgContents> {
  const pg = await loadPg();
  const until = Date.now() + loc.connectTimeoutMs;
  for (let attempt = 0; ; attempt++) {
    const left = Math.max(1, until - Date.now());
    const client = new pg.Client({
      connectionString: loc.connectionString,
      connectionTimeoutMillis: Math.min(left, 5000),
    });
    client.on('error', () => {}); // a connection dropping later is the next query's error
    try {
      await client.connect();
      const t = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
        `"${loc.schema}".quire_buckets`,
      ]);
      const stores = new Map<string, Map<string, Record<string, unknown> | undefined>>();
      if (t.rows[0]?.t === null || t.rows[0]?.t === undefined) return { initialized: false, stores };
      const rows = await client.query<{ store: string; name: string; definition: string | null }>(
        `SELECT store, name, definition FROM "${loc.schema}".quire_buckets ORDER BY store, id`,
      );
      for (const r of rows.rows) {
        const buckets = stores.get(r.store) ?? new Map();
        let def: Record<string, unknown> | undefined;
        try {
          def = r.definition === null ? undefined : JSON.parse(r.definition).definition;
        } catch {
          def = undefined; // `quire check` names it
        }
        buckets.set(r.name, def);
        stores.set(r.store, buckets);
      }
      return { initialized: true, stores };
    } catch (e) {
      if (!isConnectionFailure(e))
        // A database name that does not exist is a typo in the URL, like a missing store file.
        throw new CliError(
          `PostgreSQL at ${loc.label}: ${redact((e as Error).message)}`,
          (e as { code?: unknown }).code === '3D000' ? EXIT.USAGE : EXIT.FAILED,
        );
      if (Date.now() >= until)
        throw new CliError(
          `PostgreSQL at ${loc.label} is unreachable (gave up after ${loc.connectTimeoutMs} ms; ?connect_timeout=SECONDS changes the wait): ${redact((e as Error).message)}`,
          EXIT.FAILED,
        );
      await new Promise((r) =>
        setTimeout(r, Math.min(1000, 50 * 2 ** attempt, Math.max(0, until - Date.now()))),
      );
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** A PostgresAdapter on the location. */
export function postgresAdapter(loc: PgLocation): PostgresAdapter {
  return new PostgresAdapter(
    { connectionString: loc.connectionString },
    { schema: loc.schema, connectTimeoutMs: loc.connectTimeoutMs },
  );
}

/**
 * The adapter seen read-only: `readOnly` is true, so the store queues no
 * writes, and `commit` refuses. Everything else (loading, following other
 * instances' commits, history and feed reads) is the adapter's own.
 */
export function readOnlyView(adapter: PostgresAdapter): IncrementalAdapter {
  return new Proxy(adapter, {
    get(target, prop) {
      if (prop === 'readOnly') return true;
      if (prop === 'commit') return () => Promise.reject(new ReadOnlyStorageError(target.location));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as unknown as IncrementalAdapter;
}
