// Restores of large SQLite buckets read and checksum rows on a worker thread
// while the main thread parses and indexes. What a store loads that way must
// equal what it loads on the main thread alone, and damage the worker finds
// must be reported exactly as the main thread reports it.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, StorageCorruptError, Store } from '../../src/index.js';
import {
  checkJoinedRows,
  JOINED_ROWS_SQL,
  joinedTexts,
  RowReaderThread,
} from '../../src/persistence/sqlite-reader.js';
import { tempDir } from './helpers.js';

const def = {
  key: 'id',
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    email: { type: 'string', unique: true },
    role: { type: 'string' },
    note: { type: 'string' },
  },
  indexes: ['role'],
} as const;

const crc32 = (zlib as unknown as { crc32: (d: string | Uint8Array) => number }).crc32;
const require = createRequire(import.meta.url);
const N = 60_000; // about 15 restore chunks: the worker is up long before the end

async function makeStore(file: string): Promise<void> {
  const s = await Store.start({ name: 'r', persistence: { adapter: new SQLiteAdapter(file) } });
  const b = await s.defineBucket('people', def);
  for (let i = 0; i < N; i += 10_000)
    await b.insertMany(
      Array.from({ length: 10_000 }, (_, j) => ({
        email: `p${i + j}@x.io`,
        role: ['a', 'b', 'c'][(i + j) % 3]!,
        note: `note-${i + j}-end`,
      })),
    );
  await b.update(17, { role: 'z' });
  await b.delete(18);
  await s.stop();
}

/** On a busy machine the main thread could read every chunk before the worker is up: wait for a started one. */
async function workerUp(adapter: SQLiteAdapter): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (adapter.readerThreadsStarted > 0 && !adapter.readerThreadReady && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
}

async function load(file: string, readerThread: boolean) {
  const adapter = new SQLiteAdapter(file, { readerThread });
  const store = await Store.start({ name: 'r', persistence: { adapter } });
  await workerUp(adapter);
  const error = await store.defineBucket('people', def).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { adapter, store, error };
}

/** Rewrite the row of key `id` through `change`; `fixCrc` keeps its checksum matching. */
function damage(file: string, id: number, change: (data: string) => string, fixCrc: boolean): void {
  const db = new Database(file);
  const data = db.prepare('SELECT data FROM quire_records WHERE key = ?').pluck().get(String(id)) as string;
  const next = change(data);
  if (fixCrc)
    db.prepare('UPDATE quire_records SET data = ?, crc = ? WHERE key = ?').run(next, crc32(next), String(id));
  else db.prepare('UPDATE quire_records SET data = ? WHERE key = ?').run(next, String(id));
  db.close();
}

describe('SQLite restore with a reader thread', () => {
  it('loads exactly what a main-thread restore loads: records, bucket order, index lookups', async () => {
    const file = path.join(tempDir(), 'big.db');
    await makeStore(file);

    const main = await load(file, false);
    expect(main.error).toBeUndefined();
    expect(main.adapter.readerThreadChunks).toBe(0);
    const b0 = main.store.bucket('people');
    const expected = {
      all: await b0.all(),
      role: await b0.where({ role: 'z' }),
      email: await b0.where({ email: 'p59999@x.io' }),
    };
    await main.store.stop();

    // Stopped right after a threaded restore: the worker's connection is closed by then, so the
    // main connection is the last one and SQLite removes the WAL and shared-memory files.
    const quick = await load(file, true);
    expect(quick.error).toBeUndefined();
    expect(quick.adapter.readerThreadChunks).toBeGreaterThan(0);
    await quick.store.stop();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);

    const threaded = await load(file, true);
    expect(threaded.error).toBeUndefined();
    expect(threaded.adapter.readerThreadChunks).toBeGreaterThan(0);
    const b1 = threaded.store.bucket('people');
    const all = await b1.all();
    expect(all.length).toBe(N - 1);
    expect(all).toEqual(expected.all);
    expect(all.map((r) => r.id)).toEqual(expected.all.map((r) => r.id));
    expect(await b1.where({ role: 'z' })).toEqual(expected.role);
    expect(await b1.where({ email: 'p59999@x.io' })).toEqual(expected.email);
    // the store goes on writing after a threaded restore
    const added = await b1.insert({ email: 'new@x.io', role: 'a' });
    expect(added.id).toBe(N + 1);
    await threaded.store.stop();
    const again = await load(file, true);
    expect(await again.store.bucket('people').count()).toBe(N);
    await again.store.stop();
  });

  const late = N - 7; // read by the worker, not by the main thread
  it.each([
    {
      kind: 'a changed byte (checksum fails)',
      fixCrc: false,
      change: (d: string) => d.replace(`note-${late - 1}-end`, `note-${late - 1}-END`),
    },
    { kind: 'broken JSON with a matching checksum', fixCrc: true, change: (d: string) => d.slice(0, -2) },
    // Valid JSON once a chunk's rows are joined into one array, but not a row of its own.
    {
      kind: 'two records in one row with a matching checksum',
      fixCrc: true,
      change: (d: string) => `${d},${d}`,
    },
    // In the first chunk, which the main thread reads (and joins) itself.
    {
      kind: 'an early row of two records with a matching checksum',
      fixCrc: true,
      change: (d: string) => `${d},${d}`,
      id: 5,
    },
    {
      kind: 'an early changed byte (checksum fails)',
      fixCrc: false,
      change: (d: string) => d.replace('note-4-end', 'note-4-END'),
      id: 5,
    },
    // In the second chunk, which the main thread reads right before handing over to the worker.
    {
      kind: 'a changed byte in the chunk read before the handover',
      fixCrc: false,
      change: (d: string) => d.replace('note-4999-end', 'note-4999-END'),
      id: 5000,
    },
    // Valid JSON once the joined text is cut in pieces at ', ': the row's own bytes must hold one record.
    {
      kind: "a row ending in '], [' with a matching checksum",
      fixCrc: true,
      change: (d: string) => `[${d}], [${d}]`,
    },
  ])(
    'a damaged row, $kind, is refused as the main thread alone refuses it',
    async ({ fixCrc, change, id }) => {
      const file = path.join(tempDir(), 'late.db');
      await makeStore(file);
      const at = id ?? late;
      damage(file, at, change, fixCrc);
      const bytes = fs.readFileSync(file);

      const threaded = await load(file, true);
      expect(threaded.adapter.readerThreadChunks).toBeGreaterThan(0);
      expect(threaded.error).toBeInstanceOf(StorageCorruptError);
      const e = threaded.error as StorageCorruptError;
      expect(e.code).toBe('STORAGE_CORRUPT');
      expect(e.bucket).toBe('people');
      expect(e.lost).toBe(`1 of ${N - 1} records`);
      expect(e.message).toContain(`keys ${at})`);
      expect(threaded.store.hasBucket('people')).toBe(false);
      await threaded.store.stop();
      expect(fs.existsSync(`${file}-wal`)).toBe(false);

      const main = await load(file, false);
      expect((main.error as Error).message).toBe(e.message);
      await main.store.stop();
      expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    },
  );

  it('rows stored as BLOBs (not text) are read row by row, by either thread, and load as text rows do', async () => {
    const file = path.join(tempDir(), 'blobs.db');
    await makeStore(file);
    const main = await load(file, false);
    const expected = await main.store.bucket('people').all();
    await main.store.stop();
    // One row in the main thread's first chunk, one in the worker's part: same bytes and checksums, as BLOBs.
    const db = new Database(file);
    db.prepare("UPDATE quire_records SET data = CAST(data AS BLOB) WHERE key IN ('5', ?)").run(String(late));
    expect(db.prepare("SELECT count(*) FROM quire_records WHERE typeof(data) = 'blob'").pluck().get()).toBe(
      2,
    );
    db.close();
    for (const readerThread of [true, false]) {
      const loaded = await load(file, readerThread);
      expect(loaded.error).toBeUndefined();
      if (readerThread) expect(loaded.adapter.readerThreadChunks).toBeGreaterThan(0);
      expect(await loaded.store.bucket('people').all()).toEqual(expected);
      await loaded.store.stop();
    }
  });

  it('the worker posts a chunk whose rows pass as JSON array pieces, and a chunk with a failed checksum row by row', async () => {
    const file = path.join(tempDir(), 'pieces.db');
    await makeStore(file);
    damage(file, 4100, (d) => d.replace('note-4099-end', 'note-4099-END'), false); // in the second chunk
    const db = new Database(file, { readonly: true });
    const bucketId = db.prepare("SELECT id FROM quire_buckets WHERE name = 'people'").pluck().get() as number;
    const rows = db
      .prepare('SELECT ord, data FROM quire_records WHERE bucket_id = ? ORDER BY ord LIMIT 8192')
      .raw()
      .all(bucketId) as Array<[number, string]>;
    db.close();
    const reader = new RowReaderThread(
      { file, lib: require.resolve('better-sqlite3'), chunkRows: 4096 },
      () => {},
    );
    try {
      const wait = new Int32Array(new SharedArrayBuffer(4));
      const deadline = Date.now() + 20_000;
      while (!reader.ready && !reader.failed && Date.now() < deadline) Atomics.wait(wait, 0, 0, 5);
      expect(reader.ready).toBe(true);
      reader.go(bucketId, Number.MIN_SAFE_INTEGER);

      const first = reader.next()!;
      expect(Array.from(first.ords)).toEqual(rows.slice(0, 4096).map((r) => r[0]));
      expect(first.data).toBeUndefined();
      // Cut in pieces well below 128 KiB, each a JSON array of whole rows.
      expect(first.texts!.length).toBeGreaterThan(1);
      expect(first.counts!.reduce((a, b) => a + b, 0)).toBe(4096);
      for (const t of first.texts!) expect(t.length).toBeLessThan(64 * 1024);
      expect(first.texts!.flatMap((t) => JSON.parse(t) as unknown[])).toEqual(
        rows.slice(0, 4096).map((r) => JSON.parse(r[1])),
      );

      const second = reader.next()!;
      expect(second.texts).toBeUndefined();
      expect(second.data).toEqual(rows.slice(4096, 8192).map((r) => r[1]));
      expect(second.bad).toEqual([rows.slice(4096).findIndex((r) => r[1].includes('note-4099-END'))]);
    } finally {
      reader.close();
    }
  });

  it('checkJoinedRows: pieces of whole rows (multi-byte text too); undefined for a failed checksum, a row not text, a missing checksum, no rows', () => {
    const db = new Database(':memory:');
    db.exec(
      'CREATE TABLE quire_records (bucket_id INTEGER, ord INTEGER, data TEXT, crc INTEGER, PRIMARY KEY (bucket_id, ord))',
    );
    const put = db.prepare('INSERT INTO quire_records VALUES (1, ?, ?, ?)');
    const texts = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ i, s: `ř, ž ${'€'.repeat(i)}, [x]` }),
    );
    for (let i = 0; i < texts.length; i++) put.run(i * 2 + 1, texts[i]!, crc32(texts[i]!));
    const joined = db.prepare(JOINED_ROWS_SQL).raw();
    const check = (after: number, limit: number) =>
      checkJoinedRows(
        joined.get(1, after, limit) as unknown[],
        after,
        crc32 as (b: Uint8Array) => number,
        200,
      );

    const all = check(0, 100)!;
    expect(Array.from(all.ords)).toEqual(texts.map((_, i) => i * 2 + 1));
    expect(all.counts.length).toBeGreaterThan(3);
    const pieces = joinedTexts(all.bytes, all.ends);
    expect(pieces.map((p) => (JSON.parse(p) as unknown[]).length)).toEqual(all.counts);
    expect(pieces.flatMap((p) => JSON.parse(p) as unknown[])).toEqual(texts.map((t) => JSON.parse(t)));
    // after a position, at most `limit` rows
    expect(Array.from(check(10, 3)!.ords)).toEqual([11, 13, 15]);
    expect(check(1000, 10)).toBeUndefined();

    db.prepare('UPDATE quire_records SET crc = crc + 1 WHERE ord = 21').run();
    expect(check(0, 100)).toBeUndefined();
    expect(check(21, 100)).toBeDefined();
    db.prepare('UPDATE quire_records SET crc = NULL WHERE ord = 21').run();
    expect(check(0, 100)).toBeUndefined();
    db.prepare('UPDATE quire_records SET crc = ? WHERE ord = 21').run(crc32(texts[10]!));
    expect(check(0, 100)).toBeDefined();
    db.prepare('UPDATE quire_records SET data = CAST(data AS BLOB) WHERE ord = 21').run();
    expect(check(0, 100)).toBeUndefined();
    db.close();
  });

  it('a worker that cannot open the file reports failure; the restore path then reads on alone', () => {
    const lib = require.resolve('better-sqlite3');
    const reader = new RowReaderThread(
      { file: path.join(tempDir(), 'missing.db'), lib, chunkRows: 16 },
      () => {},
    );
    const wait = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + 20_000;
    while (!reader.failed && !reader.ready && Date.now() < deadline) Atomics.wait(wait, 0, 0, 5);
    expect(reader.failed).toBe(true);
    expect(reader.ready).toBe(false);
    expect(reader.next()).toBeUndefined();
    reader.close();
  });

  it('opening a large file starts the worker before any restore; it serves every bucket, then stop() leaves no WAL', async () => {
    const file = path.join(tempDir(), 'early.db');
    await makeStore(file);
    // a second large bucket in the same file
    const s0 = await Store.start({ name: 'r', persistence: { adapter: new SQLiteAdapter(file) } });
    const other = await s0.defineBucket('others', def);
    await other.insertMany(Array.from({ length: 20_000 }, (_, i) => ({ email: `o${i}@x.io`, role: 'b' })));
    await s0.stop();

    const adapter = new SQLiteAdapter(file);
    const store = await Store.start({ name: 'r', persistence: { adapter } });
    expect(adapter.readerThreadsStarted).toBe(1);
    expect(adapter.readerThreadChunks).toBe(0);
    await workerUp(adapter);
    const people = await store.defineBucket('people', def);
    const afterPeople = adapter.readerThreadChunks;
    expect(afterPeople).toBeGreaterThan(0);
    const others = await store.defineBucket('others', def);
    expect(adapter.readerThreadChunks).toBeGreaterThan(afterPeople);
    expect(adapter.readerThreadsStarted).toBe(1);
    expect(await people.count()).toBe(N - 1);
    expect(await others.count()).toBe(20_000);
    expect(await others.where({ email: 'o19999@x.io' })).toHaveLength(1);
    await store.stop();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);

    // Stopped before any restore, while the worker may still be starting: its connection is closed first.
    const bytes = fs.readFileSync(file);
    const unused = new SQLiteAdapter(file);
    const quick = await Store.start({ name: 'r', persistence: { adapter: unused } });
    expect(unused.readerThreadsStarted).toBe(1);
    await quick.stop();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    expect(fs.existsSync(`${file}-shm`)).toBe(false);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  });

  it.each([1, 3])(
    'a worker that dies after %i chunks mid-restore leaves the rest to the main thread: the same records, nothing changed on disk',
    async (chunks) => {
      const file = path.join(tempDir(), `dies-${chunks}.db`);
      await makeStore(file);
      const main = await load(file, false);
      const expected = await main.store.bucket('people').all();
      await main.store.stop();
      const bytes = fs.readFileSync(file);

      // TEST ONLY switch of the worker (sqlite-reader.ts): process.exit after posting that many chunks.
      process.env.QUIRE_TEST_READER_THREAD_EXIT = String(chunks);
      let threaded: Awaited<ReturnType<typeof load>>;
      try {
        threaded = await load(file, true);
      } finally {
        delete process.env.QUIRE_TEST_READER_THREAD_EXIT;
      }
      expect(threaded.error).toBeUndefined();
      expect(threaded.adapter.readerThreadsStarted).toBe(1);
      // Chunks it posted before it died are used; the rest is read here.
      expect(threaded.adapter.readerThreadChunks).toBe(chunks);
      const b = threaded.store.bucket('people');
      expect(await b.all()).toEqual(expected);
      expect(await b.where({ email: 'p59999@x.io' })).toHaveLength(1);
      await threaded.store.stop();
      expect(fs.existsSync(`${file}-wal`)).toBe(false);
      expect(fs.readFileSync(file).equals(bytes)).toBe(true);

      // The next store starts a worker of its own and restores with it.
      const again = await load(file, true);
      expect(again.error).toBeUndefined();
      expect(again.adapter.readerThreadChunks).toBeGreaterThan(0);
      expect(await again.store.bucket('people').count()).toBe(N - 1);
      await again.store.stop();
    },
  );

  it('a bucket of one chunk or less starts no worker', async () => {
    const file = path.join(tempDir(), 'small.db');
    const s = await Store.start({ name: 'r', persistence: { adapter: new SQLiteAdapter(file) } });
    await s
      .defineBucket('people', def)
      .then((b) =>
        b.insertMany(Array.from({ length: 4000 }, (_, i) => ({ email: `s${i}@x.io`, role: 'a' }))),
      );
    await s.stop();
    const { adapter, store, error } = await load(file, true);
    expect(error).toBeUndefined();
    expect(await store.bucket('people').count()).toBe(4000);
    expect(adapter.readerThreadChunks).toBe(0);
    await store.stop();
  });
});
