// The email format check is written out by hand (no regular expression per
// write): it must accept exactly what noex-store's pattern accepts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidEmail } from '../../src/engine/values.js';

const PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
// Characters that matter to the pattern, every kind of white space among them.
const CHARS = [
  'a',
  'b',
  'Z',
  '0',
  '-',
  '_',
  '+',
  '.',
  '@',
  ' ',
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2005',
  '\u200a',
  '\u200b',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
  '\u0085',
  '\u180e',
  'é',
  '\ud83d',
  '\ude00',
];

describe('email format', () => {
  it('agrees with the pattern on any string', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...CHARS), { maxLength: 14 }), (chars) => {
        const s = chars.join('');
        expect(isValidEmail(s), JSON.stringify(s)).toBe(PATTERN.test(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('agrees with the pattern on address-shaped strings (local@domain.tld, pieces from any characters)', () => {
    const piece = fc.array(fc.constantFrom(...CHARS), { maxLength: 5 }).map((c) => c.join(''));
    fc.assert(
      fc.property(piece, piece, piece, (local, domain, tld) => {
        const s = `${local}@${domain}.${tld}`;
        expect(isValidEmail(s), JSON.stringify(s)).toBe(PATTERN.test(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('agrees with the pattern on typical addresses and near misses', () => {
    const cases = [
      'user1@example.com',
      'a@b.c',
      'a@b.',
      'a@.c',
      '@b.c',
      'a@bc',
      'a@b..c',
      'a@.b.c',
      'a.b@c.d',
      'a@b@c.d',
      'a b@c.d',
      'a@b.c ',
      ' a@b.c',
      'a@b.c\n',
      'ab@c.d.',
      'a@b.c.',
      '',
      '@',
      '.',
      'a@b\u00a0.c',
    ];
    for (const s of cases) expect(isValidEmail(s), JSON.stringify(s)).toBe(PATTERN.test(s));
  });
});
