// A throwaway PostgreSQL 15 cluster for tests and benchmarks, from the Debian
// binaries: initdb + pg_ctl into a temp directory (as the `postgres` user when
// running as root: initdb refuses root), a random free port on 127.0.0.1,
// trust auth. `stop()` stops the server and removes the directory. A detached
// watchdog does the same if the process that started the cluster dies first
// (a crashed test worker must not leave a server behind).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const PG_BIN = process.env.QUIRE_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  readonly port: number;
  readonly dir: string;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  /** URL of another database of this cluster. */
  urlOf(database: string): string;
  /** Create a database (no-op if it exists) and return its URL. */
  createDatabase(name: string): string;
  /** Stop the server (`fast`: disconnect clients and shut down cleanly; `immediate`: like a crash). */
  stopServer(mode?: 'fast' | 'immediate'): void;
  /** Start the server again on the same port and data. */
  startServer(): void;
  /** Stop the server and remove everything. Safe to call twice. */
  stop(): void;
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function run(bin: string, args: string[]): string {
  const file = path.join(PG_BIN, bin);
  const cmd = asRoot ? 'runuser' : file;
  const argv = asRoot ? ['-u', 'postgres', '--', file, ...args] : args;
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function postgresAvailable(): boolean {
  return fs.existsSync(path.join(PG_BIN, 'initdb'));
}

/** Start a fresh cluster. Throws with the server log when it does not come up. */
export async function startCluster(options: { settings?: Record<string, string> } = {}): Promise<PgCluster> {
  if (!postgresAvailable())
    throw new Error(
      `PostgreSQL binaries not found in ${PG_BIN} (apt-get install postgresql, or set QUIRE_PG_BIN)`,
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-pg-'));
  fs.chmodSync(dir, 0o755);
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  let watchdog: ChildProcess | undefined;
  let stopped = false;
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    max_connections: '200',
    shared_buffers: '64MB',
    fsync: 'on',
    ...options.settings,
  };
  const opts = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
  const startServer = () => {
    try {
      run('pg_ctl', ['-D', data, '-o', opts, '-w', '-t', '30', '-l', log, 'start']);
    } catch (e) {
      const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`PostgreSQL did not start on port ${port}: ${(e as Error).message}\n${text}`);
    }
  };
  const stopServer = (mode: 'fast' | 'immediate' = 'fast') => {
    try {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
    } catch {
      /* not running */
    }
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopServer('immediate');
    fs.rmSync(dir, { recursive: true, force: true });
    watchdog?.kill('SIGKILL');
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '-N']);
    startServer();
  } catch (e) {
    stop();
    throw e;
  }
  // The watchdog outlives a killed parent and cleans up; a normal stop() kills it.
  const ctl = path.join(PG_BIN, 'pg_ctl');
  const stopCmd = asRoot
    ? `runuser -u postgres -- ${ctl} -D ${data} -m immediate -w stop`
    : `${ctl} -D ${data} -m immediate -w stop`;
  watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCmd} >/dev/null 2>&1; rm -rf ${dir}`,
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  const urlOf = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  return {
    port,
    dir,
    url: urlOf('postgres'),
    urlOf,
    createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const exists = run('psql', [
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-tAc',
        `SELECT 1 FROM pg_database WHERE datname = '${name}'`,
      ]);
      if (exists.trim() !== '1') run('createdb', ['-h', dir, '-p', String(port), '-U', 'postgres', name]);
      return urlOf(name);
    },
    stopServer,
    startServer,
    stop,
  };
}
