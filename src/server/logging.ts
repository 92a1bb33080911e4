// The server's log: JSON lines (pino) on stderr, never stdout, which the
// stdio transport owns. One line per answered request at `info`; messages
// (warnings, failures) at their own level. A custom `Logger` function
// replaces the JSON lines entirely.
import { type DestinationStream, pino } from 'pino';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/**
 * Where the server's log goes. `fields` carries the structured part (for a
 * request line: method, bucket, outcome, durationMs, identity, transport);
 * plain messages have none.
 */
export type Logger = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Whether a line of `level` passes the threshold `min`. */
export function logs(min: LogLevel, level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(min);
}

/** A Logger writing JSON lines at `min` and above to `destination` (default: stderr, synchronously). */
export function jsonLogger(min: LogLevel, destination?: { write(line: string): unknown }): Logger {
  const stream: DestinationStream =
    destination !== undefined
      ? { write: (line: string) => void destination.write(line) }
      : pino.destination({ dest: 2, sync: true });
  const log = pino(
    {
      level: min,
      base: { name: 'quire' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"warn" rather than pino's numbers: readable without pino's tools.
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return (level, message, fields) => {
    if (fields === undefined) log[level](message);
    else log[level](fields, message);
  };
}
