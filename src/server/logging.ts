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

/**
 * A Logger writing JSON lines at `min` and above to `destination` (default:
 * stderr, in one synchronous write per event-loop turn, see stderrLines).
 */
export function jsonLogger(min: LogLevel, destination?: { write(line: string): unknown }): Logger {
  const stream: DestinationStream =
    destination !== undefined ? { write: (line: string) => void destination.write(line) } : stderrLines();
  const log = pino(
    {
      level: min,
      base: { name: 'quire' },
      timestamp: isoTime,
      // "level":"warn" rather than pino's numbers: readable without pino's tools.
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  const flush = destination === undefined ? flushStderr : undefined;
  return (level, message, fields) => {
    if (fields === undefined) log[level](message);
    else log[level](fields, message);
    // Warnings and failures go out at once (a process may be about to die).
    if (flush !== undefined && (level === 'warn' || level === 'error')) flush();
  };
}

let isoMs = Number.NaN;
let isoField = '';

/** pino's ISO `time` field, formatted once per millisecond (a busy server logs many lines in one). */
function isoTime(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoField;
}

let stderr: ReturnType<typeof pino.destination> | undefined;
let pending = '';
let scheduled = false;

/**
 * stderr for log lines: the lines of one event-loop turn (a busy server
 * answers many requests in one) go out in one synchronous write when the
 * turn ends, instead of one write system call per line. Whatever is still
 * pending is written when the process exits.
 */
function stderrLines(): DestinationStream {
  if (stderr === undefined) {
    stderr = pino.destination({ dest: 2, sync: true });
    process.on('exit', flushStderr);
  }
  return { write: queueLine };
}

function queueLine(line: string): void {
  pending += line;
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushStderr);
  }
}

function flushStderr(): void {
  scheduled = false;
  if (pending === '') return;
  const text = pending;
  pending = '';
  stderr!.write(text);
}
