// Tables for `quire query`: widths in terminal cells (wide characters take
// two), cells cut with an ellipsis, columns shrunk and then left out so that
// every line fits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cellText, displayWidth, renderTable, truncate } from '../../src/cli/table.js';

describe('query tables', () => {
  it('counts terminal cells: wide characters two, combining marks none', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('漢字')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('🙂')).toBe(2);
  });

  it('cuts with an ellipsis, never splitting a wide character past the width', () => {
    expect(truncate('abcdef', 6)).toBe('abcdef');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('漢字漢字', 4)).toBe('漢…');
    expect(displayWidth(truncate('漢字漢字', 4))).toBe(3);
    expect(truncate('abc', 0)).toBe('');
  });

  it('cells: strings as they are, control characters as spaces, other values as JSON, null empty', () => {
    expect(cellText('a\nb\tc')).toBe('a b c');
    expect(cellText({ a: [1, 2] })).toBe('{"a":[1,2]}');
    expect(cellText(null)).toBe('');
    expect(cellText(undefined)).toBe('');
    expect(cellText(true)).toBe('true');
  });

  it('natural widths when they fit; numbers right-aligned', () => {
    const t = renderTable(
      [{ name: 'id', key: true }, { name: 'name' }],
      [
        [1, 'Ann'],
        [10, 'Bob'],
      ],
      80,
    );
    expect(t.lines).toEqual(['id  name', '--  ----', ' 1  Ann', '10  Bob']);
    expect(t.hidden).toEqual([]);
  });

  it('every line fits any width; key columns are the last left out', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '漢', '🙂', ' ') });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.array(text, { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 3, max: 120 }),
        (n, rows, width) => {
          const columns = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, key: i === 0 }));
          const t = renderTable(
            columns,
            rows.map((r) => r.slice(0, n)),
            width,
          );
          for (const line of t.lines) expect(displayWidth(line)).toBeLessThanOrEqual(width);
          if (t.hidden.length > 0) expect(t.hidden).not.toContain('c0');
          // The columns shown and the columns hidden are all the columns.
          const header = t.lines[0]!.split(/\s+/).filter((h) => h !== '');
          expect(header.length + t.hidden.length).toBe(n);
        },
      ),
    );
  });
});
