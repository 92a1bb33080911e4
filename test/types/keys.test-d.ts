import { expectTypeOf, test } from 'vitest';
import type { InferRecord } from '../../src/index.js';

test('key fields are always present in inferred records, even when not marked required', () => {
  const def = {
    key: 'id',
    schema: { id: { type: 'string' }, note: { type: 'string' } },
  } as const;
  type R = InferRecord<typeof def>;
  expectTypeOf<R['id']>().toEqualTypeOf<string>();
  expectTypeOf<R>().toHaveProperty('id');
  // @ts-expect-error a record's key is never null or missing
  const bad: R = { note: 'x' };
  void bad;

  const composite = {
    key: ['ns', 'feature'],
    schema: { ns: { type: 'string' }, feature: { type: 'string' }, on: { type: 'boolean' } },
  } as const;
  type C = InferRecord<typeof composite>;
  expectTypeOf<C['ns']>().toEqualTypeOf<string>();
  expectTypeOf<C['feature']>().toEqualTypeOf<string>();
  expectTypeOf<C['on']>().toEqualTypeOf<boolean | null | undefined>();
});
