// Stored keys are `JSON.stringify(keyId)`: encodeKey writes plain strings
// without calling it, and must give exactly the same text for every key.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKey, encodeKey } from '../../src/persistence/codec.js';

describe('encodeKey', () => {
  it('is JSON.stringify for any string or number key, and decodes back', () => {
    const key = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme' }),
      fc.stringMatching(/^[\u0000-\u0040"\\\u2028\ud800-\udfff]*$/),
      fc.uuid(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    fc.assert(
      fc.property(key, (k) => {
        expect(encodeKey(k)).toBe(JSON.stringify(k));
        expect(decodeKey(encodeKey(k))).toEqual(JSON.parse(JSON.stringify(k)));
      }),
      { numRuns: 5000 },
    );
  });
});
