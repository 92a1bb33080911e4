// Running a TypeScript script of a test under strace, every thread followed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * Run `script` (TypeScript, through tsx, from the repository root) under strace, tracing the
 * system calls `calls` (e.g. `pwrite64,write`) with strace's further `options` (`-s 16`,
 * `-e inject=…`), into the file `out`. Returns the script's output and the trace's lines.
 */
export function straceScript(
  script: string,
  calls: string,
  out: string,
  options: { strace?: string[]; env?: NodeJS.ProcessEnv } = {},
): { status: number | null; stdout: string; stderr: string; lines: string[] } {
  const r = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      ...(options.strace ?? []),
      '-e',
      `trace=${calls}`,
      '-o',
      out,
      process.execPath,
      '--import',
      'tsx',
      script,
    ],
    { cwd: root, encoding: 'utf8', timeout: 120_000, env: options.env ?? process.env },
  );
  const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines };
}
