// Imports with durable storage: an import is one storage transaction; after
// a restart the records (with their metadata) are there, and a failed import
// left nothing on disk.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BucketDefinition, ImportError, type IncrementalAdapter, Store } from '../../src/index.js';
import { type BackendStorage, backends } from '../persistence/helpers.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-io-durable-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const def = {
  key: 'id',
  schema: { id: { type: 'number', required: true }, name: { type: 'string', required: true } },
} as const satisfies BucketDefinition;

let storage: BackendStorage;

const open = (strict: boolean) =>
  Store.start({
    name: 'io',
    ttlCheckIntervalMs: 0,
    persistence: {
      adapter: storage.adapter() as IncrementalAdapter,
      durability: strict ? 'strict' : 'debounced',
    },
  });

describe.each(
  backends().flatMap((backend) => [false, true].map((strict) => ({ backend, strict, kind: backend.kind }))),
)('durable import on $kind (strict: $strict)', ({ backend, strict }) => {
  it('imported records and their metadata survive a restart; a failed import leaves nothing', async () => {
    storage = backend.fresh();
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ id: i, name: `n${i}`, _version: 3, _createdAt: 1_000 + i, _updatedAt: 2_000 + i }),
    );
    writeFileSync(join(dir, 'ok.ndjson'), lines.join('\n'));
    lines[500] = JSON.stringify({ id: 5000, name: 7 });
    writeFileSync(join(dir, 'bad.ndjson'), lines.join('\n'));

    let store = await open(strict);
    await store.defineBucket('things', def);
    await store.defineBucket('other', def);
    await expect(store.bucket('other').import(join(dir, 'bad.ndjson'))).rejects.toBeInstanceOf(ImportError);
    expect(await store.bucket('things').import(join(dir, 'ok.ndjson'))).toMatchObject({ imported: 1000 });
    await store.stop();

    store = await open(strict);
    const things = await store.defineBucket('things', def);
    const other = await store.defineBucket('other', def);
    expect(await things.count()).toBe(1000);
    expect(await things.get(999)).toMatchObject({
      name: 'n999',
      _version: 3,
      _createdAt: 1_999,
      _updatedAt: 2_999,
    });
    expect(await other.count()).toBe(0);
    // Imported skipped on the next start.
    expect(await things.import(join(dir, 'ok.ndjson'), { onlyIfEmpty: true })).toMatchObject({
      skipped: true,
    });
    await store.stop();
  });
});
