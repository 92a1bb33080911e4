// Writes per second over the last minutes, for the inspector's store view.
// Sampled from the change feed once per interval: the difference between the
// newest sequence numbers of two samples is the number of changes between
// them, exact even when the feed keeps fewer entries than were written.
// Reading the feed costs nothing per write (unlike listening to events).
import type { Store } from '../store/index.js';

export interface ActivityReport {
  /** Length of one sample in ms. */
  readonly intervalMs: number;
  /** Changes per sample, oldest first; the last one ended at `at`. */
  readonly samples: number[];
  readonly at: number;
  /** Changes seen since sampling began. */
  readonly total: number;
}

const PAGE = 1000;

export class ActivityMonitor {
  readonly intervalMs: number;
  readonly #store: Store;
  readonly #keep: number;
  readonly #samples: number[] = [];
  #lastSeq: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #total = 0;
  #at = Date.now();

  constructor(store: Store, options: { intervalMs?: number; windowMs?: number } = {}) {
    this.#store = store;
    this.intervalMs = options.intervalMs ?? 1000;
    this.#keep = Math.max(1, Math.round((options.windowMs ?? 300_000) / this.intervalMs));
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sampling (idempotent). */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  report(): ActivityReport {
    return { intervalMs: this.intervalMs, samples: [...this.#samples], at: this.#at, total: this.#total };
  }

  async #newestSeq(): Promise<number | undefined> {
    let since = this.#lastSeq ?? 0;
    let newest = this.#lastSeq;
    for (;;) {
      const page = await this.#store.changes({ since, limit: PAGE });
      if (page.length === 0) return newest;
      newest = page[page.length - 1]!.seq;
      since = newest;
      if (page.length < PAGE) return newest;
    }
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const newest = await this.#newestSeq();
      const first = this.#lastSeq === undefined;
      const count = first || newest === undefined ? 0 : newest - this.#lastSeq!;
      if (newest !== undefined) this.#lastSeq = newest;
      else if (first) this.#lastSeq = 0;
      if (!first) {
        this.#samples.push(count);
        if (this.#samples.length > this.#keep) this.#samples.shift();
        this.#total += count;
        this.#at = Date.now();
      }
    } catch {
      // The store stopped (or its storage failed): nothing more to sample.
      this.stop();
    } finally {
      this.#busy = false;
    }
  }
}
