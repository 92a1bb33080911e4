// Restores build a bucket's indexes in bulk after loading its records
// (several storage chunks for a large bucket). What a restarted store
// answers must equal what it answered before the restart: bucket order,
// sorted-index order with ties, unique and hash lookups, reactive queries,
// TTL expiry. Stored rows that break a unique index (checksums intact, so
// not bit rot but a bad edit) are refused with the typed error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store, UniqueConstraintError } from '../../src/index.js';
import { adapterKinds, tempDir } from './helpers.js';

const def = {
  key: 'id',
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    email: { type: 'string', unique: true },
    role: { type: 'string' },
    score: { type: 'number' },
  },
  indexes: ['role', { fields: 'score', sorted: true }, { fields: ['role', 'score'], sorted: true }],
  ttl: '1h',
} as const;

const N = 9_000; // more than two restore chunks

describe.each(adapterKinds())('$kind: a restart with bulk-built indexes', ({ make }) => {
  it('answers exactly as before: order, sorted ties, unique, hash lookups, reactive query, TTL', async () => {
    const adapter = make();
    const start = () =>
      Store.start({ name: 'bulk', ttlCheckIntervalMs: 0, persistence: { adapter: adapter() } });
    let s = await start();
    let b = await s.defineBucket('people', def);
    const rows = Array.from({ length: N }, (_, i) => ({
      email: `p${i}@x.io`,
      role: ['a', 'b', 'c'][i % 3]!,
      // few distinct scores: long runs of ties; some without a score (nulls sort last)
      ...(i % 11 === 0 ? {} : { score: i % 7 }),
      // a handful already expired: the first purge after the restart removes exactly these
      ...(i % 1000 === 5 ? { _expiresAt: Date.now() - 1 } : {}),
    }));
    for (let i = 0; i < N; i += 1500) await b.insertMany(rows.slice(i, i + 1500) as never);
    await b.update(17, { score: 3 }); // moves in the sorted indexes
    await b.delete(18);
    const queries = async () => ({
      all: await b.all(),
      byScore: await b.where({ score: { $gte: 2, $lte: 4 } }, { sort: { score: 'desc' }, limit: 50 }),
      roleScore: await b.where({ role: 'b' }, { sort: { score: 'asc' } }),
      lowest: await b.where({}, { sort: { score: 'asc' }, limit: 30 }),
      byRole: await b.where({ role: 'c' }),
      byEmail: await b.where({ email: 'p4242@x.io' }),
    });
    const before = await queries();
    await s.stop();

    s = await start();
    b = await s.defineBucket('people', def);
    const after = await queries();
    expect(after).toEqual(before);
    s.defineQuery('topB', async (ctx) =>
      (await ctx.bucket('people').where({ role: 'b', score: 6 })).map((r) => r.id),
    );
    const seen: unknown[] = [];
    await s.subscribe('topB', {}, (v) => {
      seen.push(v);
    });
    const topB = before.roleScore.filter((r) => r.score === 6).map((r) => r.id);
    expect(await s.runQuery('topB', {})).toEqual(topB);
    await expect(b.insert({ email: 'p4242@x.io', role: 'a' })).rejects.toBeInstanceOf(UniqueConstraintError);
    const added = await b.insert({ email: 'new@x.io', role: 'b', score: 6 });
    expect(added.id).toBe(N + 1);
    await s.settle();
    expect(seen.at(-1)).toEqual([...topB, N + 1]);
    const expired = before.all.filter((r) => (r._expiresAt as number) < Date.now()).length;
    expect(expired).toBe(9);
    expect(await s.purgeTtl()).toBe(expired);
    expect(await b.count()).toBe(N - 1 - expired + 1);
    await s.stop();
  });
});

describe('SQLite: stored rows that break a unique index', () => {
  it('are refused with UniqueConstraintError naming the value; the bucket stays undefined, rows untouched', async () => {
    const file = path.join(tempDir(), 'dup.db');
    let s = await Store.start({ name: 'bulk', persistence: { adapter: new SQLiteAdapter(file) } });
    const b = await s.defineBucket('people', def);
    for (let i = 0; i < N; i += 3000)
      await b.insertMany(
        Array.from({ length: 3000 }, (_, j) => ({ email: `p${i + j}@x.io`, role: 'a', score: j % 5 })),
      );
    await s.stop();
    // A late row (another restore chunk than the first holder) takes the email of an early one;
    // its checksum is rewritten too, so only the unique index can tell.
    const raw = new Database(file);
    const row = raw
      .prepare('SELECT bucket_id, key, data FROM quire_records WHERE data LIKE \'%"p8500@x.io"%\'')
      .get() as { bucket_id: number; key: string; data: string };
    const data = row.data.replace('"p8500@x.io"', '"p12@x.io"');
    raw
      .prepare('UPDATE quire_records SET data = ?, crc = ? WHERE bucket_id = ? AND key = ?')
      .run(data, (zlib as unknown as { crc32: (d: string) => number }).crc32(data), row.bucket_id, row.key);
    raw.close();
    const bytes = fs.readFileSync(file);

    s = await Store.start({ name: 'bulk', persistence: { adapter: new SQLiteAdapter(file) } });
    const error = await s.defineBucket('people', def).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UniqueConstraintError);
    expect((error as UniqueConstraintError).code).toBe('UNIQUE_CONSTRAINT');
    expect((error as UniqueConstraintError).field).toBe('email');
    expect((error as UniqueConstraintError).value).toBe('p12@x.io');
    expect(s.hasBucket('people')).toBe(false);
    await s.stop();
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT count(*) FROM quire_records').pluck().get()).toBe(N);
    expect(
      check.prepare('SELECT count(*) FROM quire_records WHERE data LIKE \'%"p12@x.io"%\'').pluck().get(),
    ).toBe(2);
    check.close();
    expect(fs.readFileSync(file).length).toBe(bytes.length);
  });
});
