// Records as a text table that fits a terminal: `quire query --format table`.
// Columns keep their natural width when they fit; otherwise the widest ones
// shrink (cells cut with an ellipsis) down to a floor, and when even the
// floors do not fit, columns are left out from the right (the key columns
// last). Widths count terminal cells: East Asian wide characters and emoji
// take two, combining marks none.

export interface TableColumn {
  readonly name: string;
  /** Key columns are the last to be left out. */
  readonly key?: boolean;
}

export interface Table {
  /** The lines to print (header, rule, one per record); empty for no records. */
  readonly lines: string[];
  /** Columns that did not fit and were left out. */
  readonly hidden: string[];
}

const SEPARATOR = '  ';
/** A shrunk column keeps at least this many cells (or its natural width, when smaller). */
const FLOOR = 6;

/** Cells a code point takes in a terminal. */
function cellsOf(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfe0f) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  )
    return 2;
  return 1;
}

/** Terminal cells `text` takes. */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += cellsOf(ch.codePointAt(0)!);
  return w;
}

/** `text` in at most `width` cells: cut with an ellipsis when longer. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of text) {
    const c = cellsOf(ch.codePointAt(0)!);
    if (w + c > width - 1) break;
    out += ch;
    w += c;
  }
  return `${out}…`;
}

/** A value as one line of text: strings as they are (control characters as spaces), the rest as JSON. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters would break the row
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

function pad(text: string, width: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? fill + text : text + fill;
}

/**
 * Widths that fit `available` cells: natural widths when they fit, else the
 * largest cap C such that every column at min(natural, max(C, floor)) fits.
 */
function fitWidths(natural: number[], floors: number[], available: number): number[] | undefined {
  const total = (cap: number) =>
    natural.reduce((sum, n, i) => sum + Math.min(n, Math.max(cap, floors[i]!)), 0);
  if (total(Number.POSITIVE_INFINITY) <= available) return natural;
  if (total(0) > available) return undefined;
  let lo = 0;
  let hi = Math.max(...natural);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (total(mid) <= available) lo = mid;
    else hi = mid - 1;
  }
  const widths = natural.map((n, i) => Math.min(n, Math.max(lo, floors[i]!)));
  // Hand the cells left over by the cap to the columns that were cut, left to right.
  let spare = available - widths.reduce((a, b) => a + b, 0);
  for (let i = 0; i < widths.length && spare > 0; i++) {
    const more = Math.min(spare, natural[i]! - widths[i]!);
    widths[i]! += more;
    spare -= more;
  }
  return widths;
}

/** Render `rows` (one cell per column) into at most `width` cells per line. */
export function renderTable(
  columns: readonly TableColumn[],
  rows: readonly unknown[][],
  width: number,
): Table {
  if (rows.length === 0) return { lines: [], hidden: [] };
  const texts = rows.map((r) => r.map(cellText));
  const numeric = columns.map((_, c) =>
    rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === 'number'),
  );
  let shown = columns.map((_, i) => i);
  const hidden: number[] = [];
  for (;;) {
    const natural = shown.map((c) =>
      Math.max(displayWidth(columns[c]!.name), ...texts.map((t) => displayWidth(t[c]!))),
    );
    const floors = natural.map((n) => Math.min(n, FLOOR));
    const available = width - SEPARATOR.length * (shown.length - 1);
    const widths = fitWidths(natural, floors, available);
    if (widths !== undefined || shown.length === 1) {
      const w = widths ?? [Math.max(1, width)];
      const line = (cells: string[]) =>
        cells
          .map((text, i) => pad(truncate(text, w[i]!), w[i]!, numeric[shown[i]!]!))
          .join(SEPARATOR)
          .trimEnd();
      const lines = [
        line(shown.map((c) => columns[c]!.name)),
        w.map((n) => '-'.repeat(n)).join(SEPARATOR),
        ...texts.map((t) => line(shown.map((c) => t[c]!))),
      ];
      return { lines, hidden: hidden.sort((a, b) => a - b).map((c) => columns[c]!.name) };
    }
    // Leave out the rightmost column that is not a key column (a key column only when nothing else is left).
    let drop = -1;
    for (let i = shown.length - 1; i >= 0; i--)
      if (columns[shown[i]!]!.key !== true) {
        drop = i;
        break;
      }
    if (drop < 0) drop = shown.length - 1;
    hidden.push(shown[drop]!);
    shown = shown.filter((_, i) => i !== drop);
  }
}
