// Autoincrement values on a database shared by several instances: each
// instance takes blocks of values from the bucket's counter row in the
// database (reserveCounter), so no two instances ever hand out the same one.
// Blocks grow while an instance keeps inserting, and the next one is fetched
// while half of the current one is left, so inserts rarely wait. The bucket's
// own counter says which reserved values are used (see CounterReservation).
import type { CounterReservation } from '../engine/index.js';

const FIRST_BLOCK = 32;
const MAX_BLOCK = 65_536;

export class CounterBlocks implements CounterReservation {
  readonly #reserve: (count: number) => Promise<{ from: number; to: number }>;
  /** Reserved ranges [first, last], ascending (later blocks are always higher). */
  readonly #blocks: Array<[number, number]> = [];
  #size = FIRST_BLOCK;
  #filling: Promise<void> | undefined;
  #failed = false;
  /** The end of the last block reserved (0: none yet). */
  reservedTo = 0;

  constructor(reserve: (count: number) => Promise<{ from: number; to: number }>) {
    this.#reserve = reserve;
  }

  /** Reserved values above `after`. */
  #left(after: number): number {
    while (this.#blocks.length > 0 && this.#blocks[0]![1] <= after) this.#blocks.shift();
    let n = 0;
    for (const [first, last] of this.#blocks) n += last - Math.max(first, after + 1) + 1;
    return n;
  }

  take(after: number): number | undefined {
    const left = this.#left(after);
    if (left - 1 < this.#size / 2 && !this.#failed) void this.#fill(0, after).catch(() => {});
    const b = this.#blocks[0];
    return b === undefined ? undefined : Math.max(b[0], after + 1);
  }

  /** Resolves once no reservation is in flight (before giving the unused rest back). */
  async idle(): Promise<void> {
    while (this.#filling !== undefined) await this.#filling.catch(() => {});
  }

  ensure(n: number, after: number): Promise<void> | undefined {
    if (this.#left(after) >= n) return undefined;
    return this.#fill(n, after);
  }

  /** Reserve until `n` values above `after` are there (n 0: one more block, in the background). */
  async #fill(n: number, after: number): Promise<void> {
    for (;;) {
      if (n > 0 && this.#left(after) >= n) return;
      if (this.#filling !== undefined) {
        await this.#filling;
        if (n === 0) return;
        continue;
      }
      const count = Math.max(this.#size, n);
      this.#filling = this.#reserve(count).then(
        ({ from, to }) => {
          this.#failed = false;
          this.#blocks.push([from, to]);
          if (to > this.reservedTo) this.reservedTo = to;
          // An instance that keeps inserting takes bigger blocks (fewer round trips).
          if (this.#size < MAX_BLOCK) this.#size *= 2;
        },
        (e) => {
          this.#failed = true;
          throw e;
        },
      );
      try {
        await this.#filling;
      } finally {
        this.#filling = undefined;
      }
      if (n === 0) return;
    }
  }
}
