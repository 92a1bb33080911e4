import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BucketDefinition,
  ExportError,
  ImportError,
  type ImportProgress,
  InvalidArgumentError,
  QuireError,
  Store,
  UniqueConstraintError,
  UnknownFormatError,
  ValidationError,
} from '../../src/index.js';

let dir: string;
let store: Store;

const usersDef = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    name: { type: 'string', required: true, minLength: 1 },
    email: { type: 'string', format: 'email', unique: true },
    age: { type: 'number', min: 0 },
    tags: { type: 'array', items: { type: 'string' }, default: [] },
  },
  indexes: ['name'],
} as const satisfies BucketDefinition;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quire-io-'));
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('users', usersDef);
});

afterEach(async () => {
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
});

const users = () => store.bucket('users');
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const people = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `u${i + 1}`,
    name: `User ${i + 1}`,
    email: `u${i + 1}@example.com`,
    age: i,
  }));

async function expectNothingImported(): Promise<void> {
  expect(await users().count()).toBe(0);
  // The unique and secondary indexes are intact: inserting works and clashes are still caught.
  await users().insert({ id: 'x', name: 'X', email: 'x@example.com' });
  await expect(users().insert({ id: 'y', name: 'Y', email: 'x@example.com' })).rejects.toBeInstanceOf(
    UniqueConstraintError,
  );
  expect(await users().where({ name: 'X' })).toHaveLength(1);
}

describe('import: formats', () => {
  it('imports a JSON file (array of records)', async () => {
    const p = file('users.json', JSON.stringify(people(3)));
    expect(await users().import(p)).toEqual({ format: 'json', imported: 3, skipped: false });
    expect(await users().all()).toMatchObject(people(3));
    expect((await users().get('u1'))!.tags).toEqual([]); // defaults apply
  });

  it('imports an NDJSON file (one record per line; blank lines and CRLF are fine)', async () => {
    const lines = people(3).map((r) => JSON.stringify(r));
    const p = file('users.ndjson', `${lines[0]}\r\n\n${lines[1]}\n${lines[2]}`);
    expect(await users().import(p)).toEqual({ format: 'ndjson', imported: 3, skipped: false });
    expect((await users().all()).map((r) => r.id)).toEqual(['u1', 'u2', 'u3']);
  });

  it('imports a YAML file (a list of records)', async () => {
    const p = file(
      'users.yaml',
      `# seed data
- id: u1
  name: Ada
  email: ada@example.com
  tags: [admin, ops]
- id: u2
  name: "Bob"
  age: 41
`,
    );
    expect(await users().import(p)).toEqual({ format: 'yaml', imported: 2, skipped: false });
    expect(await users().get('u1')).toMatchObject({ name: 'Ada', tags: ['admin', 'ops'] });
    expect(await users().get('u2')).toMatchObject({ name: 'Bob', age: 41 });
  });

  it('accepts .jsonl and .yml, file URLs, {text}, streams and arrays of records', async () => {
    const [a, b, c, d, e, f] = people(6);
    await users().import(file('a.jsonl', JSON.stringify(a)));
    await users().import(pathToFileURL(file('b.yml', `- ${JSON.stringify(b)}\n`)));
    await users().import({ text: JSON.stringify([c]) }, { format: 'json' });
    await users().import(
      Readable.from([Buffer.from(JSON.stringify(d).slice(0, 10)), JSON.stringify(d).slice(10)]),
      {
        format: 'ndjson',
      },
    );
    const pt = new PassThrough();
    pt.end(`- id: ${e!.id}\n  name: ${e!.name}\n`);
    await users().import(pt, { format: 'yaml' });
    expect(await users().import([f!])).toEqual({ format: 'records', imported: 1, skipped: false });
    expect((await users().all()).map((r) => r.id)).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
  });

  it('an NDJSON line split across stream chunks (and a multi-byte character) is read whole', async () => {
    const text = `${JSON.stringify({ id: 'ž1', name: 'Žofie' })}\n${JSON.stringify({ id: 'z2', name: 'Zoë' })}\n`;
    const bytes = Buffer.from(text);
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
    await users().import(Readable.from(chunks), { format: 'ndjson' });
    expect((await users().all()).map((r) => r.name)).toEqual(['Žofie', 'Zoë']);
  });

  it('an empty input imports nothing', async () => {
    expect(await users().import(file('e.ndjson', ''))).toEqual({
      format: 'ndjson',
      imported: 0,
      skipped: false,
    });
    expect(await users().import(file('e.json', '[]'))).toMatchObject({ imported: 0 });
    expect(await users().import(file('e.yaml', ''))).toMatchObject({ imported: 0 });
  });
});

describe('import: bad input imports nothing and says where', () => {
  it('unknown format', async () => {
    const err = await users()
      .import({ text: '[]' }, { format: 'csv' as 'json' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(UnknownFormatError);
    expect(err).toBeInstanceOf(QuireError);
    expect(err.code).toBe('UNKNOWN_FORMAT');
    expect(err.message).toBe('Unknown format "csv": use "json", "ndjson" or "yaml"');
    await expect(users().import(file('data.txt', '[]'))).rejects.toThrow(
      /Cannot tell the format of ".*data\.txt" from its extension/,
    );
    await expect(users().import({ text: '[]' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(users().import(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a malformed NDJSON line: the error names the line', async () => {
    const lines = people(20).map((r) => JSON.stringify(r));
    lines[16] = '{"id": "u17", "name": }';
    const err = await users()
      .import(file('bad.ndjson', lines.join('\n')))
      .catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.code).toBe('IMPORT_FAILED');
    expect(err.message).toMatch(/^Cannot import into bucket "users": line 17: invalid JSON \(/);
    expect(err.line).toBe(17);
    expect(err.cause).toBeInstanceOf(SyntaxError);
    await expectNothingImported();
  });

  it('an NDJSON line that is not an object', async () => {
    const err = await users()
      .import({ text: `${JSON.stringify(people(1)[0])}\n[1, 2]\n` }, { format: 'ndjson' })
      .catch((e) => e);
    expect(err.message).toBe(
      'Cannot import into bucket "users": line 2: expected a record (an object), got a list',
    );
  });

  it('malformed YAML: the error names the line and column', async () => {
    const p = file('bad.yaml', '- id: u1\n  name: Ada\n- id: u2\n  name: [Bob\n- id: u3\n');
    const err = await users()
      .import(p)
      .catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.message).toMatch(/^Cannot import into bucket "users": line \d+, column \d+: invalid YAML \(/);
    expect(err.line).toBeGreaterThanOrEqual(4);
    await expectNothingImported();
  });

  it('YAML that is not a list, and a list item that is not a record', async () => {
    await expect(users().import({ text: 'id: u1\nname: Ada\n' }, { format: 'yaml' })).rejects.toThrow(
      'Cannot import into bucket "users": expected a YAML list of records, got an object',
    );
    await expect(
      users().import({ text: '- id: u1\n  name: A\n- just text\n' }, { format: 'yaml' }),
    ).rejects.toThrow(
      'Cannot import into bucket "users": records[1] (line 3): expected a record (an object), got string "just text"',
    );
  });

  it('malformed JSON names line and column; a non-array is rejected', async () => {
    const err = await users()
      .import({ text: '[\n  {"id": "u1", "name": "A"},\n  {"id": }\n]' }, { format: 'json' })
      .catch((e) => e);
    expect(err.message).toMatch(/^Cannot import into bucket "users": line 3, column \d+: invalid JSON/);
    await expect(users().import({ text: '{"id": "u1"}' }, { format: 'json' })).rejects.toThrow(
      'expected a JSON array of records, got an object',
    );
  });

  it('a record failing validation in the middle: nothing imported, indexes intact', async () => {
    const list = people(10);
    (list[3] as Record<string, unknown>).email = 'not-an-email';
    const err = await users()
      .import(file('users.json', JSON.stringify(list)))
      .catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.message).toMatch(
      /^Cannot import into bucket "users": records\[3\]: Validation failed for bucket "users": email: /,
    );
    expect(err.index).toBe(3);
    expect(err.cause).toBeInstanceOf(ValidationError);
    expect(err.cause.issues[0]).toMatchObject({ field: 'email', code: 'format' });
    await expectNothingImported();
  });

  it('a validation failure in NDJSON and YAML names the line', async () => {
    const lines = people(5).map((r) => JSON.stringify(r));
    lines[2] = JSON.stringify({ id: 'u3', name: '' });
    await expect(users().import(file('v.ndjson', lines.join('\n')))).rejects.toThrow(
      /^Cannot import into bucket "users": line 3: Validation failed for bucket "users": name: /,
    );
    await expect(
      users().import({ text: '- id: a\n  name: A\n- id: b\n  name: B\n  age: -5\n' }, { format: 'yaml' }),
    ).rejects.toThrow(/^Cannot import into bucket "users": records\[1\] \(line 3\): Validation failed/);
    await expectNothingImported();
  });

  it('duplicate keys inside the input and against existing records', async () => {
    const list = people(4);
    list[2] = { ...list[2]!, id: 'u1' };
    await expect(users().import(list)).rejects.toThrow(/records\[2\]: Duplicate key "u1"/);
    await users().insert({ id: 'u9', name: 'Nine' });
    await expect(
      users().import([
        { id: 'u8', name: 'E' },
        { id: 'u9', name: 'N' },
      ]),
    ).rejects.toThrow(/records\[1\]: Duplicate key "u9"/);
    expect(await users().count()).toBe(1);
  });

  it('a unique clash found at commit names the record', async () => {
    const list = people(5);
    list[4] = { ...list[4]!, email: 'u2@example.com' };
    const err = await users()
      .import(list)
      .catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.cause).toBeInstanceOf(UniqueConstraintError);
    expect(err.message).toMatch(
      /^Cannot import into bucket "users": records\[4\]: Unique constraint violation/,
    );
    await expectNothingImported();
  });

  it('a missing file is an ImportError naming the path', async () => {
    const p = join(dir, 'missing.ndjson');
    await expect(users().import(p)).rejects.toThrow(
      `Cannot import into bucket "users": cannot read "${p}": ENOENT`,
    );
    await expect(users().import(join(dir, 'missing.json'))).rejects.toBeInstanceOf(ImportError);
  });

  it('bad options', async () => {
    await expect(users().import([], { mode: 'merge' as 'insert' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(users().import([], { metadata: 'x' as 'keep' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(users().import([], { progressEvery: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(users().import([], null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => store.bucket('nope')).toThrow('Bucket "nope" is not defined');
  });
});

describe('import: options', () => {
  it('onlyIfEmpty imports into an empty bucket and skips a non-empty one without reading the source', async () => {
    const p = file('seed.yaml', '- id: u1\n  name: Ada\n');
    expect(await users().import(p, { onlyIfEmpty: true })).toEqual({
      format: 'yaml',
      imported: 1,
      skipped: false,
    });
    expect(await users().import(p, { onlyIfEmpty: true })).toEqual({
      format: 'yaml',
      imported: 0,
      skipped: true,
    });
    // Not even opened: a missing file is fine when the import is skipped.
    expect(await users().import(join(dir, 'missing.yaml'), { onlyIfEmpty: true })).toMatchObject({
      skipped: true,
    });
    expect(await users().count()).toBe(1);
  });

  it('progress is reported every progressEvery records and at the end', async () => {
    const calls: ImportProgress[] = [];
    await users().import(people(25), { onProgress: (p) => calls.push(p), progressEvery: 10 });
    expect(calls).toEqual([
      { processed: 10, total: 25 },
      { processed: 20, total: 25 },
      { processed: 25, total: 25 },
    ]);
    const ndjson: ImportProgress[] = [];
    await store.defineBucket('more', { key: 'id', schema: { id: { type: 'string', required: true } } });
    const text = Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `m${i}` })).join('\n');
    await store
      .bucket('more')
      .import(file('m.ndjson', text), { onProgress: (p) => ndjson.push(p), progressEvery: 2 });
    expect(ndjson).toEqual([{ processed: 2 }, { processed: 4 }, { processed: 5, total: 5 }]);
  });

  it('metadata: keep (default) keeps _version/_createdAt/_updatedAt; reset assigns fresh ones', async () => {
    const old = { id: 'u1', name: 'Ada', _version: 7, _createdAt: 1000, _updatedAt: 2000 };
    await users().import([old]);
    expect(await users().get('u1')).toMatchObject({ _version: 7, _createdAt: 1000, _updatedAt: 2000 });
    const updated = await users().update('u1', { name: 'Ada L.' });
    expect(updated._version).toBe(8);
    await users().import([{ ...old, id: 'u2' }], { metadata: 'reset' });
    const u2 = await users().get('u2');
    expect(u2!._version).toBe(1);
    expect(u2!._createdAt).toBeGreaterThan(2000);
    await expect(users().import([{ id: 'u3', name: 'C', _version: 0 }])).rejects.toThrow(
      'records[0]: _version must be a positive integer, got 0',
    );
  });

  it('mode upsert updates existing records and inserts new ones, all or nothing', async () => {
    await users().insertMany([
      { id: 'u1', name: 'Ada' },
      { id: 'u2', name: 'Bob' },
    ]);
    const r = await users().import(
      [
        { id: 'u2', name: 'Robert', age: 41 },
        { id: 'u3', name: 'Cy' },
      ],
      { mode: 'upsert' },
    );
    expect(r.imported).toBe(2);
    expect(await users().get('u2')).toMatchObject({ name: 'Robert', age: 41, _version: 2 });
    await expect(
      users().import(
        [
          { id: 'u1', name: 'Changed' },
          { id: 'u4', name: '' },
        ],
        { mode: 'upsert' },
      ),
    ).rejects.toThrow(/records\[1\]: Validation failed/);
    expect((await users().get('u1'))!.name).toBe('Ada');
  });

  it('an import is one commit: one event per record, one reactive re-run', async () => {
    let runs = 0;
    store.defineQuery('count', async (ctx) => {
      runs++;
      return (await ctx.bucket('users').all()).length;
    });
    const seen: number[] = [];
    await store.subscribe('count', (n: number) => seen.push(n));
    const events: string[] = [];
    await store.on('bucket.users.*', (e: { key: string }) => void events.push(e.key));
    await users().import(people(50));
    await store.settle();
    expect(seen).toEqual([50]);
    expect(runs).toBe(2);
    expect(events).toHaveLength(50);
  });
});

describe('export', () => {
  beforeEach(async () => {
    await users().insertMany(people(3));
  });

  it.each(['json', 'ndjson', 'yaml'] as const)(
    '%s round trip through a file keeps records and metadata',
    async (format) => {
      const p = join(dir, `out.${format}`);
      expect(await users().export(format, { to: p })).toEqual({ format, exported: 3 });
      expect(readdirSync(dir)).toEqual([`out.${format}`]); // no temporary file left behind
      const before = await users().all();
      await store.defineBucket('copy', usersDef);
      expect(await store.bucket('copy').import(p)).toMatchObject({ imported: 3 });
      expect(await store.bucket('copy').all()).toEqual(before);
    },
  );

  it('the file formats look as documented', async () => {
    const { data: json } = await users().export('json', { metadata: false, filter: { age: { $lt: 2 } } });
    expect(json).toBe(
      '[\n  {"id":"u1","name":"User 1","email":"u1@example.com","age":0,"tags":[]},\n  {"id":"u2","name":"User 2","email":"u2@example.com","age":1,"tags":[]}\n]\n',
    );
    const { data: ndjson } = await users().export('ndjson', { metadata: false });
    expect(ndjson.split('\n')).toHaveLength(4);
    expect(JSON.parse(ndjson.split('\n')[2]!)).toEqual({
      id: 'u3',
      name: 'User 3',
      email: 'u3@example.com',
      age: 2,
      tags: [],
    });
    const { data: yaml } = await users().export('yaml', { metadata: false, filter: { id: 'u1' } });
    expect(yaml).toBe('- id: u1\n  name: User 1\n  email: u1@example.com\n  age: 0\n  tags: []\n');
    expect((await users().export('json', { filter: { id: 'none' } })).data).toBe('[]\n');
    expect((await users().export('yaml', { filter: { id: 'none' } })).data).toBe('[]\n');
  });

  it('writes to a stream with backpressure and reports progress', async () => {
    await users().import(people(2000).slice(3));
    const chunks: string[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk, _enc, cb) {
        chunks.push(chunk.toString());
        setImmediate(cb);
      },
    });
    const progress: number[] = [];
    const r = await users().export('ndjson', {
      to: slow,
      onProgress: (p) => progress.push(p.processed),
      progressEvery: 500,
    });
    expect(r).toEqual({ format: 'ndjson', exported: 2000 });
    expect(progress).toEqual([500, 1000, 1500, 2000, 2000]);
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines).toHaveLength(2000);
    expect(JSON.parse(lines[1999]!).id).toBe('u2000');
  });

  it('a large NDJSON file imports from a path in one commit', async () => {
    const p = join(dir, 'big.ndjson');
    await store.defineBucket('big', {
      key: 'id',
      schema: { id: { type: 'number', required: true }, v: { type: 'string' } },
    });
    await store.bucket('big').import(Array.from({ length: 20_000 }, (_, i) => ({ id: i, v: `value-${i}` })));
    await store.bucket('big').export('ndjson', { to: p });
    await store.defineBucket('big2', {
      key: 'id',
      schema: { id: { type: 'number', required: true }, v: { type: 'string' } },
    });
    expect(await store.bucket('big2').import(p)).toMatchObject({ imported: 20_000 });
    expect(await store.bucket('big2').get(19_999)).toMatchObject({ v: 'value-19999' });
  });

  it('bad input: unknown format, bad target, unknown bucket; a failed file export leaves nothing', async () => {
    await expect(users().export('xml' as 'json')).rejects.toBeInstanceOf(UnknownFormatError);
    await expect(users().export('json', { to: 42 as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    const target = join(dir, 'no-such-dir', 'out.json');
    const err = await users()
      .export('json', { to: target })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect(err.message).toMatch(/^Cannot export bucket "users": cannot write ".*out\.json": ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
    const existing = file('keep.json', 'old');
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(new Error('disk full'));
      },
    });
    broken.on('error', () => {});
    await expect(users().export('ndjson', { to: broken })).rejects.toThrow(
      /cannot write to the stream: disk full/,
    );
    expect(readFileSync(existing, 'utf8')).toBe('old');
    expect(() => store.bucket('nope')).toThrow('Bucket "nope" is not defined');
  });
});
