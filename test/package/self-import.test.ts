// Programs and tests import the package by name; inside this repository that
// resolves to the source through the `quiredb-source` export condition.

import { Store, ValidationError } from 'quiredb';
import { bridgeStoreToRules } from 'quiredb/bridge';
import { describe, expect, it } from 'vitest';

describe('importing the package by name', () => {
  it('gives the same classes as the source tree', async () => {
    const store = await Store.start();
    await store.defineBucket('t', { key: 'id', schema: { id: { type: 'string', required: true } } });
    await expect(store.bucket('t').insert({})).rejects.toBeInstanceOf(ValidationError);
    expect(typeof bridgeStoreToRules).toBe('function');
    await store.stop();
  });
});
