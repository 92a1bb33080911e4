// What tests read from child processes they start (servers, CLI commands,
// crash fixtures): the text so far, a pattern awaited, lines as they come,
// the exit code.
import type { ChildProcess } from 'node:child_process';

type Stream = 'stdout' | 'stderr';

export interface ChildOutput {
  /** Text written to the stream so far ('' for a stream that is not piped). */
  text(stream: Stream): string;
  /** Resolves with the exit code once the child has exited (its output may still be arriving). */
  readonly exited: Promise<number | null>;
  /** Resolves with the exit code once the child has exited and its streams are read to their end. */
  readonly closed: Promise<number | null>;
  /**
   * The first match of `pattern` in the stream's text (so far or to come);
   * rejects with the child's stderr when it exits before.
   */
  match(stream: Stream, pattern: RegExp): Promise<RegExpExecArray>;
  /** Calls `fn` with each complete line the stream writes from now on. */
  onLine(stream: Stream, fn: (line: string) => void): void;
}

/** Collect a child's piped stdout and stderr from now on. */
export function watchOutput(child: ChildProcess): ChildOutput {
  const text = { stdout: '', stderr: '' };
  const listeners = { stdout: [] as Array<() => void>, stderr: [] as Array<() => void> };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.on('data', (d: Buffer | string) => {
      text[stream] += d;
      for (const l of [...listeners[stream]]) l();
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
  const closed = new Promise<number | null>((resolve) => {
    if (
      child.exitCode !== null &&
      child.stdout?.readableEnded !== false &&
      child.stderr?.readableEnded !== false
    )
      resolve(child.exitCode);
    else child.on('close', (code) => resolve(code));
  });
  return {
    text: (stream) => text[stream],
    exited,
    closed,
    match(stream, pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text[stream]);
          if (m === null) return false;
          listeners[stream] = listeners[stream].filter((l) => l !== check);
          resolve(m);
          return true;
        };
        if (check()) return;
        listeners[stream].push(check);
        void exited.then((code) => {
          if (!check()) reject(new Error(`exited with ${code} before ${pattern}: ${text.stderr}`));
        });
      });
    },
    onLine(stream, fn) {
      let from = text[stream].length;
      listeners[stream].push(() => {
        const t = text[stream];
        for (let nl = t.indexOf('\n', from); nl >= 0; nl = t.indexOf('\n', from)) {
          fn(t.slice(from, nl));
          from = nl + 1;
        }
      });
    },
  };
}

/** Exit code and everything the child wrote, once it has exited. */
export async function runToEnd(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out = watchOutput(child);
  const code = await out.closed;
  return { code, stdout: out.text('stdout'), stderr: out.text('stderr') };
}
