// An ordered multiset in chunks of at most CHUNK entries: O(log n) search,
// O(√n)-ish insert and delete without the per-node allocations of a tree.
// Entries must be unique under the comparator (indexes append the key).

const CHUNK = 512;

export class SortedList<T> {
  readonly #cmp: (a: T, b: T) => number;
  #chunks: T[][] = [];
  #size = 0;

  constructor(cmp: (a: T, b: T) => number) {
    this.#cmp = cmp;
  }

  get size(): number {
    return this.#size;
  }

  clear(): void {
    this.#chunks = [];
    this.#size = 0;
  }

  /**
   * Fill an empty list with `entries` (reordered in place): one sort
   * instead of an insert per entry, for restores.
   */
  fill(entries: T[]): void {
    entries.sort(this.#cmp);
    const chunks: T[][] = [];
    for (let i = 0; i < entries.length; i += CHUNK) chunks.push(entries.slice(i, i + CHUNK));
    this.#chunks = chunks;
    this.#size = entries.length;
  }

  /** Index of the first chunk whose last entry is >= probe (by `cmp`). */
  #chunkFor(probe: unknown, cmp: (entry: T, probe: any) => number): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid]!;
      if (cmp(c[c.length - 1]!, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(entry: T): void {
    const chunks = this.#chunks;
    this.#size++;
    if (chunks.length === 0) {
      chunks.push([entry]);
      return;
    }
    let ci = this.#chunkFor(entry, this.#cmp);
    if (ci === chunks.length) ci--;
    const chunk = chunks[ci]!;
    const i = lowerBound(chunk, entry, this.#cmp);
    if (i === chunk.length) chunk.push(entry);
    else chunk.splice(i, 0, entry);
    if (chunk.length > CHUNK * 2) chunks.splice(ci + 1, 0, chunk.splice(CHUNK));
  }

  /** Removes the entry equal (cmp = 0) to `entry`; returns whether it was there. */
  delete(entry: T): boolean {
    const chunks = this.#chunks;
    const ci = this.#chunkFor(entry, this.#cmp);
    if (ci === chunks.length) return false;
    const chunk = chunks[ci]!;
    const i = lowerBound(chunk, entry, this.#cmp);
    if (i === chunk.length || this.#cmp(chunk[i]!, entry) !== 0) return false;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) chunks.splice(ci, 1);
    else if (chunk.length < CHUNK / 4 && ci + 1 < chunks.length && chunks[ci + 1]!.length < CHUNK) {
      chunks[ci] = chunk.concat(chunks[ci + 1]!);
      chunks.splice(ci + 1, 1);
    }
    return true;
  }

  /**
   * Position of the first entry for which `cmp(entry, probe) >= 0`
   * (or `> 0` when `after` is set).
   */
  seek(probe: unknown, cmp: (entry: T, probe: any) => number, after = false): Cursor {
    const chunks = this.#chunks;
    const test = after ? (e: T, p: unknown) => (cmp(e, p) <= 0 ? -1 : 1) : cmp;
    const ci = this.#chunkFor(probe, test);
    if (ci === chunks.length) return { c: ci, i: 0 };
    return { c: ci, i: lowerBound(chunks[ci]!, probe, test) };
  }

  /** The entry at `cursor`, or undefined at the end. */
  at(cursor: Cursor): T | undefined {
    return this.#chunks[cursor.c]?.[cursor.i];
  }

  /** The position `k` entries after `from` (the end when there are fewer): a step per chunk, not per entry. */
  advance(from: Cursor, k: number): Cursor {
    const chunks = this.#chunks;
    let c = from.c;
    let i = from.i + k;
    while (c < chunks.length && i >= chunks[c]!.length) {
      i -= chunks[c]!.length;
      c++;
    }
    return c < chunks.length ? { c, i } : { c: chunks.length, i: 0 };
  }

  /** Entries from `a` (inclusive) to `b` (exclusive), `a` not after `b`. */
  distance(a: Cursor, b: Cursor): number {
    const chunks = this.#chunks;
    if (a.c === b.c) return b.i - a.i;
    let n = chunks[a.c]!.length - a.i;
    for (let c = a.c + 1; c < b.c; c++) n += chunks[c]!.length;
    return n + b.i;
  }

  /** The entry just before `cursor` (a position from seek), or undefined at the start. */
  before(cursor: Cursor): T | undefined {
    const chunks = this.#chunks;
    if (cursor.i > 0) return chunks[cursor.c]?.[cursor.i - 1];
    const prev = chunks[cursor.c - 1];
    return prev === undefined ? undefined : prev[prev.length - 1];
  }

  /** Calls `fn` on entries from `from` upwards until it returns false (no generator overhead). */
  walkUp(from: Cursor | undefined, fn: (entry: T) => boolean): void {
    const chunks = this.#chunks;
    let i = from?.i ?? 0;
    for (let c = from?.c ?? 0; c < chunks.length; c++, i = 0) {
      const chunk = chunks[c]!;
      for (; i < chunk.length; i++) if (!fn(chunk[i]!)) return;
    }
  }

  /** Calls `fn` on entries before `before` (default end) downwards until it returns false. */
  walkDown(before: Cursor | undefined, fn: (entry: T) => boolean): void {
    const chunks = this.#chunks;
    let c = before?.c ?? chunks.length;
    let i = before?.i ?? 0;
    if (c >= chunks.length) {
      c = chunks.length - 1;
      i = c >= 0 ? chunks[c]!.length : 0;
    }
    for (; c >= 0; c--) {
      const chunk = chunks[c]!;
      if (i > chunk.length) i = chunk.length;
      for (i = i - 1; i >= 0; i--) if (!fn(chunk[i]!)) return;
      i = c > 0 ? chunks[c - 1]!.length : 0;
    }
  }

  /** Entries from `from` (inclusive, default start) in ascending order. */
  *ascending(from?: Cursor): IterableIterator<T> {
    const chunks = this.#chunks;
    let c = from?.c ?? 0;
    let i = from?.i ?? 0;
    for (; c < chunks.length; c++, i = 0) {
      const chunk = chunks[c]!;
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }

  /** Entries before `before` (exclusive, default end) in descending order. */
  *descending(before?: Cursor): IterableIterator<T> {
    const chunks = this.#chunks;
    let c = before?.c ?? chunks.length;
    let i = before?.i ?? 0;
    // Normalise "index 0 of chunk c" to "end of chunk c-1".
    if (i === 0) {
      c--;
      i = c >= 0 ? chunks[c]!.length : 0;
    }
    for (; c >= 0; c--, i = c >= 0 ? chunks[c]!.length : 0) {
      const chunk = chunks[c]!;
      for (i = i - 1; i >= 0; i--) yield chunk[i]!;
    }
  }
}

export interface Cursor {
  readonly c: number;
  readonly i: number;
}

function lowerBound<T>(arr: T[], probe: unknown, cmp: (e: T, p: any) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(arr[mid]!, probe) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
