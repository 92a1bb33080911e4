// Running the real `quire` binary (bin/quire.js on the TypeScript sources) as
// a child process, for the CLI tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
const ENV = { ...process.env, QUIRE_CLI_SOURCE: '1' };

export interface QuireResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(cwd: string, args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a command to its end in `cwd`. */
export function runQuire(cwd: string, args: readonly string[]): Promise<QuireResult> {
  return new Promise((resolve) => {
    const child = start(cwd, args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Start a long-running command (serve, inspect); resolves with the first
 * match of `pattern` in its output, rejects when it exits before.
 */
export function startQuire(
  cwd: string,
  pattern: RegExp,
  args: readonly string[],
): Promise<{ match: RegExpExecArray; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = start(cwd, args);
    let text = '';
    const look = (d: Buffer) => {
      text += d;
      const m = pattern.exec(text);
      if (m) resolve({ match: m, child });
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${text}`)));
  });
}

/** SIGTERM, and wait for the exit. */
export async function stopQuire(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await done;
}
