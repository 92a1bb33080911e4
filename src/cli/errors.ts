// The CLI's exit codes and its one-line error.

/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** The operation failed (a problem found by `check`, a runtime error, an unreachable database). */
  FAILED: 1,
  /** Bad usage or bad input: unknown option, missing file, invalid schema or data file. */
  USAGE: 2,
  /** The store is locked for writing by another process. */
  LOCKED: 3,
} as const;

/** An error the CLI reports as one clear line and an exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.FAILED) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
