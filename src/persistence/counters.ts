// Autoincrement values on a database shared by several instances: each
// instance takes blocks of values from the bucket's counter row in the
// database (reserveCounter), so no two instances ever hand out the same one.
// Blocks grow while they are used up quickly, and the next one is fetched
// while half of the current one is left, so inserts rarely wait.
import type { CounterReservation } from '../engine/index.js';

const FIRST_BLOCK = 32;
const MAX_BLOCK = 65_536;

export class CounterBlocks implements CounterReservation {
  readonly #reserve: (count: number) => Promise<{ from: number; to: number }>;
  /** Reserved ranges not used up yet, oldest first: [next, last]. */
  readonly #blocks: Array<[number, number]> = [];
  #left = 0;
  #size = FIRST_BLOCK;
  #filling: Promise<void> | undefined;
  #failed = false;

  constructor(reserve: (count: number) => Promise<{ from: number; to: number }>) {
    this.#reserve = reserve;
  }

  take(): number | undefined {
    const b = this.#blocks[0];
    if (b === undefined) return undefined;
    const v = b[0]++;
    if (b[0] > b[1]) this.#blocks.shift();
    this.#left--;
    if (this.#left < this.#size / 2 && !this.#failed) void this.#fill(0).catch(() => {});
    return v;
  }

  ensure(n: number): Promise<void> | undefined {
    if (this.#left >= n) return undefined;
    return this.#fill(n);
  }

  async #fill(n: number): Promise<void> {
    while (this.#left < Math.max(n, 1) || (n === 0 && this.#left < this.#size / 2)) {
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
          this.#left += to - from + 1;
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
