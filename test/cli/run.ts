// Running the real `quire` binary (bin/quire.js on the TypeScript source) in
// tests: a command to its end, a long-running one as a child, `serve --http`.
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runToEnd, watchOutput } from '../child-output.js';

export { runToEnd };

export const BIN = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
export const ENV = { ...process.env, QUIRE_CLI_SOURCE: '1' };

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Resolves with the exit code once the child has exited. */
export const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r(child.exitCode);
    else child.on('exit', (code) => r(code));
  });

/** Commands run in the directory `cwd()` names (read when each command starts). */
export function cliRunner(cwd: () => string) {
  /** A `quire` child process with piped stdout and stderr (stdin ignored). */
  function start(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [BIN, ...args], {
      cwd: cwd(),
      env: { ...ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }) as unknown as ChildProcessWithoutNullStreams;
  }

  /** Run `quire …args` to its end, with `env` added to the environment. */
  function quireEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Result> {
    return runToEnd(start(args, env));
  }

  /** Run `quire …args` to its end. */
  const quire = (...args: string[]): Promise<Result> => quireEnv({}, ...args);

  /** `quire serve … --http 0`: resolves with the child and its URLs once it listens. */
  async function serveHttp(
    ...args: string[]
  ): Promise<{ child: ChildProcess; url: string; wsUrl: string; stderr: () => string }> {
    const child = start(['serve', ...args, '--http', '0']);
    const out = watchOutput(child);
    const m = await out.match('stderr', /HTTP (http:\/\/\S+)\s+WebSocket (ws:\/\/\S+)/);
    return { child, url: m[1]!, wsUrl: m[2]!, stderr: () => out.text('stderr') };
  }

  return { start, quire, quireEnv, serveHttp };
}

/** Run `quire …args` in `cwd` to its end. */
export const runQuire = (cwd: string, args: readonly string[]): Promise<Result> =>
  cliRunner(() => cwd).quire(...args);

/**
 * Start a long-running command (serve, inspect) in `cwd`; resolves with the
 * first match of `pattern` in its output, rejects when it exits before.
 */
export async function startQuire(
  cwd: string,
  pattern: RegExp,
  args: readonly string[],
): Promise<{ match: RegExpExecArray; child: ChildProcess }> {
  const child = cliRunner(() => cwd).start(args);
  const out = watchOutput(child);
  const match = await Promise.race([out.match('stdout', pattern), out.match('stderr', pattern)]);
  return { match, child };
}

/** SIGTERM, and wait for the exit. */
export async function stopQuire(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGTERM');
  await done;
}
