// Tiny benchmark harness: time a function over n operations, repeat and keep
// the best run (least disturbed by GC and the other core), format tables.
import { performance } from 'node:perf_hooks';

export interface Measurement {
  readonly name: string;
  readonly opsPerSec: number;
  readonly nsPerOp: number;
}

/** Best-of-`repeats` timing of `fn` doing `ops` operations. `fn` may be async. */
export async function measure(
  name: string,
  ops: number,
  fn: () => unknown | Promise<unknown>,
  repeats = 5,
  setup?: () => unknown | Promise<unknown>,
): Promise<Measurement> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    if (setup !== undefined) await setup();
    const t0 = performance.now();
    const r = fn();
    if (r instanceof Promise) await r;
    const dt = performance.now() - t0;
    if (dt < best) best = dt;
  }
  return { name, opsPerSec: (ops / best) * 1000, nsPerOp: (best * 1e6) / ops };
}

/** Mean, p50, p99 and max (ms) of individually timed operations. */
export interface Latencies {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Latencies {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    mean: sum / n,
    p50: sorted[Math.floor(n * 0.5)]!,
    p99: sorted[Math.floor(n * 0.99)]!,
    max: sorted[n - 1]!,
  };
}

/** Times `op(i)` for `count` values of i from `from` (awaited when it returns a promise), each into `into` (ms). */
export async function timeEach(
  into: number[],
  from: number,
  count: number,
  op: (i: number) => unknown | Promise<unknown>,
): Promise<number[]> {
  for (let i = from; i < from + count; i++) {
    const t0 = performance.now();
    const r = op(i);
    if (r instanceof Promise) await r;
    into.push(performance.now() - t0);
  }
  return into;
}

/** Latencies of `count` individually timed operations. */
export async function latencies(
  count: number,
  op: (i: number) => unknown | Promise<unknown>,
): Promise<Latencies> {
  return summarize(await timeEach([], 0, count, op));
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => String(r[i]).length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join(
    '\n',
  );
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** A section of the results file. */
export interface BenchSection {
  readonly title: string;
  readonly markdown: string;
}
