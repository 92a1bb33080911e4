// Periodic TTL purge. setTimeout chaining (not setInterval) so that a slow
// purge never overlaps the next; the timer is unref'd so it never keeps a
// process alive on its own.

export class TtlManager {
  readonly #intervalMs: number;
  readonly #purge: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(intervalMs: number, purge: () => number) {
    this.#intervalMs = intervalMs;
    this.#purge = purge;
  }

  get enabled(): boolean {
    return this.#running;
  }

  get checkIntervalMs(): number {
    return this.#intervalMs;
  }

  start(): void {
    if (this.#running || this.#intervalMs <= 0) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      try {
        this.#purge();
      } finally {
        this.#schedule();
      }
    }, this.#intervalMs);
    this.#timer.unref();
  }
}
