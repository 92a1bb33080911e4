// Client for a server running as a child process, speaking newline-delimited
// JSON-RPC on its stdin/stdout.
import { type ChildProcess, spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { SchemaTypes, UntypedSchema } from '../store/index.js';
import {
  ConnectionError,
  type DefaultMethods,
  type MethodMap,
  StreamClient,
  type StreamClientOptions,
} from './client.js';

export interface StdioClientOptions extends StreamClientOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The child's stderr: inherited (default), piped (see `stderrText`) or ignored. */
  readonly stderr?: 'inherit' | 'pipe' | 'ignore';
  /** Wait until the server answers `ping` before resolving. Default true. */
  readonly waitReady?: boolean;
}

export class StdioClient<
  S extends SchemaTypes = UntypedSchema,
  A extends MethodMap = DefaultMethods<S>,
> extends StreamClient<S, A> {
  readonly process: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #gone: ConnectionError | undefined;

  private constructor(child: ChildProcess, options: StdioClientOptions) {
    super(options);
    this.process = child;
    const decoder = new StringDecoder('utf8');
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += decoder.write(chunk);
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line !== '') this.receive(line);
        nl = buffer.indexOf('\n');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-64 * 1024);
    });
    child.stdin!.on('error', () => {
      /* the child exited; reported through 'exit' */
    });
    this.#exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.#gone = new ConnectionError(`could not start the server process: ${e.message}`);
        this.failPending(this.#gone, true);
        resolve({ code: null, signal: null });
      });
      child.on('exit', (code, signal) => {
        const tail = this.#stderr.trim().split('\n').slice(-5).join('\n');
        this.#gone ??= new ConnectionError(
          `the server process exited (${signal ?? `code ${code}`})${tail !== '' ? `: ${tail}` : ''}`,
        );
        this.failPending(this.#gone, true);
        resolve({ code, signal });
      });
    });
  }

  static async spawn(
    command: string,
    args: readonly string[] = [],
    options: StdioClientOptions = {},
  ): Promise<StdioClient> {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', options.stderr ?? 'inherit'],
    });
    const c = new StdioClient(child, options);
    if (options.waitReady !== false) {
      try {
        await c.call('ping');
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
    }
    return c;
  }

  /** The last 64 KB of the child's stderr (with `stderr: 'pipe'`). */
  get stderrText(): string {
    return this.#stderr;
  }

  /** Resolves when the child has exited. */
  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }

  protected send(text: string, onWrite?: () => void): void {
    if (this.#gone !== undefined) throw this.#gone;
    const stdin = this.process.stdin!;
    if (!stdin.writable) throw new ConnectionError('the server process no longer reads its input');
    onWrite?.();
    stdin.write(`${text}\n`);
  }

  /** Send a raw line (tests: malformed input). */
  sendRaw(text: string): void {
    this.process.stdin!.write(text);
  }

  /** Kill the child with a signal (default SIGTERM) and wait for it to exit. */
  async kill(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return this.#exited;
  }

  /**
   * Close the child's stdin (the server finishes its requests, flushes and
   * exits) and wait for it; SIGTERM after `timeoutMs` (default 5000), SIGKILL after twice that.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.stdin!.end();
    const t1 = setTimeout(() => this.process.kill('SIGTERM'), timeoutMs);
    const t2 = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs * 2);
    await this.#exited;
    clearTimeout(t1);
    clearTimeout(t2);
  }
}

/** Start `command args…` as a child process and talk JSON-RPC to it over stdio. */
export function spawnStdio<S extends SchemaTypes = UntypedSchema, A extends MethodMap = DefaultMethods<S>>(
  command: string,
  args?: readonly string[],
  options?: StdioClientOptions,
): Promise<StdioClient<S, A>> {
  return StdioClient.spawn(command, args, options) as Promise<StdioClient<any, any>>;
}
