// References between buckets held by the database across instances: a
// delete on instance A and an insert on instance B that points at the
// deleted record, each valid in its own instance's memory, race to the
// database; exactly one of them commits, and no record is ever left
// pointing at nothing (restrict), or the delete's retry takes B's record
// with it (cascade).
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ReferentialIntegrityError, Store, TransactionConflictError } from '../../src/index.js';
import { CommitConflictError, PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, waitFor } from '../persistence/helpers.js';

const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => {});
});

const authors = { key: 'id', schema: { id: { type: 'string' } } } as const;
const booksOf = (onDelete: 'restrict' | 'cascade' | 'set_null') =>
  ({
    key: 'id',
    schema: { id: { type: 'string' }, author: { type: 'string', ref: 'authors', onDelete } },
  }) as const;

async function instance(schema: string, onDelete: 'restrict' | 'cascade' | 'set_null') {
  const store = await Store.start({
    name: 'app',
    persistence: {
      adapter: new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema }),
      durability: 'strict',
    },
  });
  open.push(store);
  return {
    store,
    authors: await store.defineBucket('authors', authors),
    books: await store.defineBucket('books', booksOf(onDelete)),
  };
}

async function sql(text: string): Promise<any[]> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

/** Books in the database whose author is not stored. */
async function dangling(schema: string): Promise<string[]> {
  const rows = await sql(
    `SELECT r.data FROM "${schema}".quire_records r JOIN "${schema}".quire_buckets b ON b.id = r.bucket_id WHERE b.name = 'books'`,
  );
  const stored = new Set(
    (
      await sql(
        `SELECT r.key FROM "${schema}".quire_records r JOIN "${schema}".quire_buckets b ON b.id = r.bucket_id WHERE b.name = 'authors'`,
      )
    ).map((x) => JSON.parse(x.key)),
  );
  return rows
    .map((x) => JSON.parse(x.data))
    .filter((b) => b.author != null && !stored.has(b.author))
    .map((b) => b.id);
}

describe('references across instances', () => {
  it('restrict: a delete on A racing an insert on B that points at it — exactly one commits, nothing dangles', async () => {
    const schema = pgSchema();
    const a = await instance(schema, 'restrict');
    const b = await instance(schema, 'restrict');
    const outcomes = { deleteWon: 0, insertWon: 0 };
    for (let i = 0; i < 12; i++) {
      const id = `au${i}`;
      await a.authors.insert({ id });
      await waitFor(async () => (await b.authors.get(id)) !== undefined, 'B sees the author');
      // Both are valid in their own instance's memory: only the database can decide.
      const [del, ins] = await Promise.allSettled([
        a.authors.delete(id),
        b.books.insert({ id: `bk${i}`, author: id }),
      ]);
      expect([del.status, ins.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
      const lost = del.status === 'rejected' ? del.reason : (ins as PromiseRejectedResult).reason;
      expect(lost).toBeInstanceOf(ReferentialIntegrityError);
      if (del.status === 'fulfilled') outcomes.deleteWon++;
      else outcomes.insertWon++;
      // Both instances end up with what the database holds.
      for (const n of [a, b])
        await waitFor(
          async () =>
            ((await n.authors.get(id)) === undefined) === (del.status === 'fulfilled') &&
            ((await n.books.get(`bk${i}`)) === undefined) === (ins.status === 'rejected'),
          'memory follows the database',
        );
    }
    expect(await dangling(schema)).toEqual([]);
    expect(outcomes.deleteWon + outcomes.insertWon).toBe(12);
  });

  it("cascade: a delete on A racing B's insert of a referrer is refused or wins; its retry removes B's record", async () => {
    const schema = pgSchema();
    const a = await instance(schema, 'cascade');
    const b = await instance(schema, 'cascade');
    let refused = 0; // how often B won the race (seen: 1–3 of 12)
    for (let i = 0; i < 12; i++) {
      const id = `au${i}`;
      await a.authors.insert({ id });
      await waitFor(async () => (await b.authors.get(id)) !== undefined, 'B sees the author');
      const [del, ins] = await Promise.allSettled([
        a.authors.delete(id),
        b.books.insert({ id: `bk${i}`, author: id }),
      ]);
      if (del.status === 'rejected') {
        // B's book committed first and A did not know it: A's copy now holds it, and the retry cascades.
        expect(del.reason).toBeInstanceOf(TransactionConflictError);
        expect(ins.status).toBe('fulfilled');
        expect(await a.books.get(`bk${i}`)).toBeDefined();
        refused++;
        await a.authors.delete(id);
      } else if (ins.status === 'rejected') expect(ins.reason).toBeInstanceOf(ReferentialIntegrityError);
      for (const n of [a, b])
        await waitFor(
          async () => (await n.authors.get(id)) === undefined && (await n.books.get(`bk${i}`)) === undefined,
          'author and book gone everywhere',
        );
    }
    expect(await dangling(schema)).toEqual([]);
    expect(await sql(`SELECT count(*)::int AS n FROM "${schema}".quire_refs`)).toEqual([{ n: 0 }]);
    void refused;
  });

  it('the database refuses a delete of a record another instance points at, and a reference to a record another instance deleted', async () => {
    const schema = pgSchema();
    const url = inject('pgUrl');
    const a = new PostgresAdapter({ connectionString: url }, { schema });
    const b = new PostgresAdapter({ connectionString: url }, { schema });
    await a.open('s', { onError: () => {} });
    await b.open('s', { onError: () => {} });
    const d = (x: unknown) => ({ definition: x as Record<string, unknown>, functions: [] });
    await a.commit('s', {
      buckets: [
        { bucket: 'authors', definition: d(authors) },
        { bucket: 'books', definition: d(booksOf('restrict')) },
      ],
      records: [
        {
          bucket: 'authors',
          key: '"x"',
          op: 'insert',
          seq: 1,
          ord: 1,
          version: 1,
          base: 0,
          data: '{"id":"x"}',
        },
        {
          bucket: 'authors',
          key: '"y"',
          op: 'insert',
          seq: 2,
          ord: 2,
          version: 1,
          base: 0,
          data: '{"id":"y"}',
        },
      ],
      lastSeq: 2,
    });
    // B points a book at x; A, not knowing it, deletes x.
    await b.commit('s', {
      buckets: [],
      records: [
        {
          bucket: 'books',
          key: '"b1"',
          op: 'insert',
          seq: 3,
          ord: 3,
          version: 1,
          base: 0,
          data: '{"id":"b1","author":"x"}',
        },
      ],
      lastSeq: 3,
    });
    const refused = await a
      .commit('s', {
        buckets: [],
        records: [
          {
            bucket: 'authors',
            key: '"x"',
            op: 'delete',
            seq: 4,
            ord: 1,
            version: 1,
            base: 1,
            data: undefined,
          },
        ],
        lastSeq: 4,
      })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(CommitConflictError);
    expect(refused.conflicts[0]).toMatchObject({
      bucket: 'authors',
      key: '"x"',
      reason: 'reference',
      reference: { source: 'books', sourceKey: '"b1"', field: 'author', onDelete: 'restrict' },
    });
    // A deletes y; B, not knowing it, points a book at y.
    await a.commit('s', {
      buckets: [],
      records: [
        { bucket: 'authors', key: '"y"', op: 'delete', seq: 5, ord: 2, version: 1, base: 1, data: undefined },
      ],
      lastSeq: 5,
    });
    const dangles = await b
      .commit('s', {
        buckets: [],
        records: [
          {
            bucket: 'books',
            key: '"b2"',
            op: 'insert',
            seq: 6,
            ord: 6,
            version: 1,
            base: 0,
            data: '{"id":"b2","author":"y"}',
          },
        ],
        lastSeq: 6,
      })
      .catch((e) => e);
    expect(dangles).toBeInstanceOf(CommitConflictError);
    expect(dangles.conflicts[0]).toMatchObject({ bucket: 'books', key: '"b2"', reason: 'reference' });
    // Nothing of the refused commits is stored.
    expect(await sql(`SELECT key FROM "${schema}".quire_records ORDER BY key`)).toEqual([
      { key: '"b1"' },
      { key: '"x"' },
    ]);
    await a.close('s');
    await b.close('s');
  });
});
