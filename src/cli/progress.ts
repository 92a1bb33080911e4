// Progress bars for long work, on stderr, only when stderr is a terminal
// (scripts and logs get the final summary line only). The total is always
// known: bytes of the file's size for streamed input, records of a counted
// bucket otherwise; a bar never grows its total as it goes.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Default: stderr is a terminal. */
  readonly enabled?: boolean;
  /** What is counted, shown after the figures. */
  readonly unit?: 'bytes' | 'records' | 'pages';
}

export function progressBar(label: string, options: ProgressOptions = {}): Progress {
  const enabled = options.enabled ?? process.stderr.isTTY === true;
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total}${options.unit !== undefined ? ` ${options.unit}` : ''}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(Math.max(total, 1), done);
        started = true;
      } else {
        if (total !== bar.getTotal()) bar.setTotal(Math.max(total, 1));
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
