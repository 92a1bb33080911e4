// The data commands of the real `quire` binary: get, query, schema, changes
// (--follow against another process's writes), restore-version and migrate
// (dry run, incompatible changes, failing and succeeding migration files),
// on real SQLite store files.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { type BucketDefinition, SQLiteAdapter, Store } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema } from '../persistence/helpers.js';
import { BIN, cliRunner, ENV, exited, runToEnd } from './run.js';

let dir: string;
const { start, quire, quireEnv } = cliRunner(() => dir);

const USERS: BucketDefinition = {
  key: 'id',
  history: true,
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    name: { type: 'string', required: true },
    email: { type: 'string' },
    age: { type: 'string' },
    bio: { type: 'string' },
  },
};
const TAGS: BucketDefinition = { key: 'tag', schema: { tag: { type: 'string' }, label: { type: 'string' } } };
const LINES: BucketDefinition = {
  key: ['order', 'line'],
  schema: { order: { type: 'number' }, line: { type: 'number' }, qty: { type: 'number', required: true } },
};

const open = (file: string) =>
  Store.start({
    name: 'shop',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });

/** The fixture store: users (number keys, history), tags (string keys), lines (composite keys). */
async function makeStore(file: string): Promise<void> {
  const store = await open(file);
  const users = await store.defineBucket('users', USERS);
  await store.defineBucket('tags', TAGS);
  await store.defineBucket('lines', LINES);
  await users.insert({ name: 'Ann', age: '36', email: 'ann@example.com', bio: 'x'.repeat(200) });
  await users.insert({ name: 'Bob', age: '41' });
  await users.insert({ name: 'Cid', age: '29' });
  await users.update(2, { email: 'bob@example.com' }, { actor: 'admin' });
  await store.bucket('tags').insert({ tag: '42', label: 'the string key "42"' });
  await store.bucket('lines').insert({ order: 7, line: 1, qty: 3 });
  await store.stop();
}

/** Every row of every table of an SQLite file: equal dumps mean nothing changed. */
function dump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    // Some tables have no rowid: rows in a fixed order by their text.
    const rows = (t: string) =>
      (db.prepare(`SELECT * FROM "${t}"`).all() as unknown[]).map((r) => JSON.stringify(r)).sort();
    return JSON.stringify(tables.map((t) => [t, rows(t)]));
  } finally {
    db.close();
  }
}

/** A fresh copy of the fixture store, for a test that changes it. */
function copy(name: string): string {
  const file = join(dir, name);
  copyFileSync(join(dir, 'shop.db'), file);
  return file;
}

/** Resolves once `check()` holds, looking again whenever `child` prints; rejects when it exits first. */
function until(child: ReturnType<typeof start>, check: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const look = () => {
      if (!check()) return;
      child.stdout.off('data', look);
      resolve();
    };
    child.stdout.on('data', look);
    child.on('exit', (code) => reject(new Error(`exited with ${code} before the expected output`)));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quire-data-'));
  await makeStore(join(dir, 'shop.db'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Every test starts several CLI processes on the TypeScript sources (tsx): slow on a loaded machine.
describe('quire data commands', { timeout: 240_000 }, () => {
  it('--help for every data command; listed in the top-level help', async () => {
    const commands = ['get', 'query', 'schema', 'changes', 'restore-version', 'migrate'];
    const [top, ...helps] = await Promise.all([quire('--help'), ...commands.map((c) => quire(c, '--help'))]);
    for (const c of commands) expect(top!.stdout).toContain(c);
    helps.forEach((r, i) => {
      expect(r.code, commands[i]).toBe(0);
      expect(r.stdout).toContain(`Usage: quire ${commands[i]}`);
      expect(r.stdout).toContain('--db <file>');
      expect(r.stdout).toMatch(/Exit codes: 0 ok/);
    });
  });

  it('get: the key is parsed by the key type; not found is exit 1, bad keys and buckets exit 2', async () => {
    const db = ['--db', 'shop.db'];
    const [num, str, composite, yaml, missing, notNumber, badComposite, noBucket] = await Promise.all([
      quire('get', 'users', '2', ...db),
      quire('get', 'tags', '42', ...db),
      quire('get', 'lines', '[7,1]', ...db),
      quire('get', 'users', '1', ...db, '--format', 'yaml'),
      quire('get', 'users', '99', ...db),
      quire('get', 'users', 'two', ...db),
      quire('get', 'lines', '7', ...db),
      quire('get', 'nope', '1', ...db),
    ]);
    expect(num!.code).toBe(0);
    expect(JSON.parse(num!.stdout)).toMatchObject({
      id: 2,
      name: 'Bob',
      email: 'bob@example.com',
      _version: 2,
    });
    expect(str!.code).toBe(0);
    expect(JSON.parse(str!.stdout)).toMatchObject({ tag: '42', label: 'the string key "42"' });
    expect(JSON.parse(composite!.stdout)).toMatchObject({ order: 7, line: 1, qty: 3 });
    expect(YAML.parse(yaml!.stdout)).toMatchObject({ id: 1, name: 'Ann' });
    expect(missing!.code).toBe(1);
    expect(missing!.stdout).toBe('');
    expect(missing!.stderr).toContain('no record with key 99 in bucket "users"');
    expect(notNumber!.code).toBe(2);
    expect(notNumber!.stderr).toContain('key "two" is not a number');
    expect(badComposite!.code).toBe(2);
    expect(badComposite!.stderr).toContain('composite key [order, line]');
    expect(noBucket!.code).toBe(2);
    expect(noBucket!.stderr).toContain('bucket "nope" not found (buckets: users, tags, lines)');
  });

  it('query: formats, filter, sort and limit; tables fit the width; bad filters exit 2 saying where', async () => {
    const db = ['--db', 'shop.db'];
    const [table, narrow, narrowest, json, ndjson, yaml, sorted] = await Promise.all([
      quire('query', 'users', ...db),
      quireEnv({ COLUMNS: '36' }, 'query', 'users', ...db),
      quireEnv({ COLUMNS: '20' }, 'query', 'users', ...db),
      quire('query', 'users', ...db, '--format', 'json', '--filter', '{"age":{"$gte":"30"}}'),
      quire('query', 'users', ...db, '--format', 'ndjson', '--sort', 'name:desc', '--limit', '2'),
      quire('query', 'lines', ...db, '--format', 'yaml'),
      quire('query', 'users', ...db, '--sort', 'age', '--format', 'json'),
    ]);
    // Not a terminal: 80 cells. The 200-character bio is cut with an ellipsis.
    expect(table!.code).toBe(0);
    const lines = table!.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^id\s+name\s+email\s+age\s+bio$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines[2]).toContain('…');
    expect(lines[2]).toMatch(/^ 1 {2}Ann/);
    expect(table!.stderr).toContain('3 records');
    // 36 cells: the widest columns shrink (email and bio cut), all still shown.
    const narrowLines = narrow!.stdout.trimEnd().split('\n');
    for (const l of narrowLines) expect(l.length).toBeLessThanOrEqual(36);
    expect(narrowLines[0]).toMatch(/^id\s+name\s+email\s+age\s+bio$/);
    expect(narrowLines[2]).toMatch(/^ 1 {2}Ann {3}ann@examp… {2}36 {3}x{8}…$/);
    expect(narrow!.stderr).not.toContain('left out');
    // 20 cells: columns that cannot fit are left out from the right, and named.
    const narrowestLines = narrowest!.stdout.trimEnd().split('\n');
    for (const l of narrowestLines) expect(l.length).toBeLessThanOrEqual(20);
    expect(narrowestLines[0]).toMatch(/^id\s+name\s+email$/);
    expect(narrowest!.stderr).toContain('columns left out to fit the width: age, bio');
    expect(JSON.parse(json!.stdout).map((r: { name: string }) => r.name)).toEqual(['Ann', 'Bob']);
    expect(
      ndjson!.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).name),
    ).toEqual(['Cid', 'Bob']);
    expect(ndjson!.stderr).toContain('2 of 3 records');
    expect(YAML.parse(yaml!.stdout)).toMatchObject([{ order: 7, line: 1, qty: 3 }]);
    expect(JSON.parse(sorted!.stdout).map((r: { age: string }) => r.age)).toEqual(['29', '36', '41']);

    const [notJson, unknownField, unknownOp, badSort, unknownSort, badLimit] = await Promise.all([
      quire('query', 'users', ...db, '--filter', '{"name":'),
      quire('query', 'users', ...db, '--filter', '{"$or":[{"name":"Ann"},{"nmae":"Bob"}]}'),
      quire('query', 'users', ...db, '--filter', '{"age":{"$gtx":1}}'),
      quire('query', 'users', ...db, '--sort', 'name:down'),
      quire('query', 'users', ...db, '--sort', 'height'),
      quire('query', 'users', ...db, '--limit', '0'),
    ]);
    for (const r of [notJson, unknownField, unknownOp, badSort, unknownSort, badLimit]) {
      expect(r!.code).toBe(2);
      expect(r!.stdout).toBe('');
    }
    expect(notJson!.stderr).toContain('bad --filter: not JSON');
    expect(unknownField!.stderr).toContain('unknown field "nmae" at $or[1].nmae');
    expect(unknownOp!.stderr).toContain('"age.$gtx": unknown operator "$gtx"');
    expect(badSort!.stderr).toContain('bad --sort "name:down"');
    expect(unknownSort!.stderr).toContain('unknown field "height"');
    expect(badLimit!.stderr).toContain('--limit must be an integer >= 1');
  });

  it("query on a terminal: the table fits the terminal's own width", async () => {
    // `script` gives the command a pseudo-terminal of 50 columns.
    const cmd = `stty cols 50 rows 20; '${process.execPath}' '${BIN}' query users --db shop.db`;
    const r = await runToEnd(
      spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, env: { ...ENV, COLUMNS: '' } }),
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.split(/\r?\n/).filter((l) => /^( \d|id|--)/.test(l));
    expect(lines).toHaveLength(5);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(50);
    expect(Math.max(...lines.map((l) => l.length))).toBeGreaterThan(40);
    expect(lines[2]).toContain('…');
  });

  it('schema: the stored definitions as a schema file (YAML or JSON) that migrate accepts unchanged', async () => {
    const file = copy('schema.db');
    const [all, one, json, unknown] = await Promise.all([
      quire('schema', '--db', file),
      quire('schema', 'lines', '--db', file),
      quire('schema', '--db', file, '--format', 'json'),
      quire('schema', 'nope', '--db', file),
    ]);
    expect(all!.code).toBe(0);
    expect(YAML.parse(all!.stdout)).toEqual({ buckets: { users: USERS, tags: TAGS, lines: LINES } });
    expect(YAML.parse(one!.stdout)).toEqual({ buckets: { lines: LINES } });
    expect(JSON.parse(json!.stdout)).toEqual(YAML.parse(all!.stdout));
    expect(unknown!.code).toBe(2);
    writeFileSync(join(dir, 'stored.yaml'), all!.stdout);
    const before = dump(file);
    const again = await quire('migrate', '--db', file, '--schema', 'stored.yaml');
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('nothing to change');
    expect(dump(file)).toBe(before);
  });

  it('changes: the feed as NDJSON; --follow prints what another process commits; ends on SIGTERM and SIGINT', async () => {
    const file = copy('feed.db');
    const all = await quire('changes', '--db', file);
    expect(all.code).toBe(0);
    const feed = all.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(feed.map((c) => `${c.bucket}/${JSON.stringify(c.key)} ${c.op} ${c.actor}`)).toEqual([
      'users/1 insert null',
      'users/2 insert null',
      'users/3 insert null',
      'users/2 update admin',
      'tags/"42" insert null',
      'lines/[7,1] insert null',
    ]);
    const since = await quire('changes', '--db', file, '--since', String(feed[3].seq));
    expect(since.stdout.trim().split('\n')).toHaveLength(2);

    // Another process holds the writer lock and writes; the followers read the file read-only.
    const writer = await open(file);
    try {
      await writer.defineBucket('users', USERS);
      await writer.defineBucket('tags', TAGS);
      const followers = [
        start(['changes', '--db', file, '--follow', '--interval', '50', '--since', String(feed[5].seq)]),
        start(['changes', '--db', file, '--follow', '--interval', '50']),
      ];
      const outputs = followers.map((f) => {
        const o = { text: '' };
        f.stdout.on('data', (d) => {
          o.text += d;
        });
        return o;
      });
      // The second follower has printed the backlog: it is running.
      await until(followers[1]!, () => outputs[1]!.text.split('\n').length > feed.length);
      await writer.bucket('tags').insert({ tag: 'live' }, { actor: 'writer' });
      await writer.bucket('users').delete(3);
      for (let i = 0; i < 2; i++)
        await until(followers[i]!, () => outputs[i]!.text.includes('"op":"delete"'));
      const seen = outputs[0]!.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(seen.map((c) => `${c.bucket}/${c.key} ${c.op} ${c.actor}`)).toEqual([
        'tags/live insert writer',
        'users/3 delete null',
      ]);
      expect(outputs[1]!.text.trim().split('\n')).toHaveLength(feed.length + 2);
      followers[0]!.kill('SIGTERM');
      followers[1]!.kill('SIGINT');
      expect(await Promise.all(followers.map(exited))).toEqual([0, 0]);
    } finally {
      await writer.stop();
    }
  });

  it('restore-version: an earlier version as the newest, with its actor; missing versions exit 1, a locked store 3', async () => {
    const file = copy('restore.db');
    const r = await quire('restore-version', 'users', '2', '1', '--db', file, '--actor', 'ops');
    expect(r.code).toBe(0);
    const restored = JSON.parse(r.stdout);
    expect(restored).toMatchObject({ id: 2, name: 'Bob', _version: 3 });
    expect(restored.email).toBeUndefined();
    expect(r.stderr).toContain('restored version 1 of 2 in "users" as version 3');
    const [got, history] = await Promise.all([
      quire('get', 'users', '2', '--db', file),
      quire('history', '--db', file, '--bucket', 'users', '--key', '2', '--json'),
    ]);
    // One at a time: each restore-version takes the writer lock, and two at
    // once would see each other's lock (exit 3) instead of their own outcome.
    const missing = await quire('restore-version', 'users', '2', '9', '--db', file);
    const noHistory = await quire('restore-version', 'tags', '42', '1', '--db', file);
    const badVersion = await quire('restore-version', 'users', '2', 'one', '--db', file);
    expect(JSON.parse(got!.stdout)).toMatchObject({ _version: 3 });
    expect(JSON.parse(got!.stdout).email).toBeUndefined();
    expect(JSON.parse(history!.stdout)[0]).toMatchObject({ version: 3, op: 'update', actor: 'ops' });
    expect(missing!.code).toBe(1);
    expect(missing!.stderr).toContain('Version 9 of key "2" in bucket "users" is not in its history');
    expect(noHistory!.code).toBe(1);
    expect(noHistory!.stderr).toContain('keeps no history');
    expect(badVersion!.code).toBe(2);

    const holder = await open(file);
    try {
      const before = dump(file);
      const locked = await quire('restore-version', 'users', '2', '2', '--db', file);
      expect(locked.code).toBe(3);
      expect(locked.stderr).toContain('is locked for writing');
      expect(dump(file)).toBe(before);
      // Reads work next to the writer.
      const read = await quire('get', 'users', '2', '--db', file);
      expect(read.code).toBe(0);
    } finally {
      await holder.stop();
    }
  });

  describe('migrate', () => {
    /** The fixture's definitions with `change` applied, as a schema file. */
    function schemaFile(name: string, change: (b: Record<string, any>) => void): string {
      const buckets: Record<string, any> = structuredClone({ users: USERS, tags: TAGS, lines: LINES });
      change(buckets);
      writeFileSync(join(dir, name), YAML.stringify({ buckets }));
      return name;
    }
    const compatible = () =>
      schemaFile('compatible.yaml', (b) => {
        b.users.schema.country = { type: 'string', default: 'CZ' };
        b.users.indexes = ['country'];
        b.notes = { key: 'id', schema: { id: { type: 'string' } } };
      });
    const ageAsNumber = () =>
      schemaFile('age-number.yaml', (b) => {
        b.users.schema.age = { type: 'number' };
      });

    it('a dry run prints what would change and changes nothing; the real run applies it', async () => {
      const file = copy('compatible.db');
      const before = dump(file);
      const dry = await quire('migrate', '--db', file, '--schema', compatible(), '--dry-run');
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('bucket "users": field "country" added with a default');
      expect(dry.stdout).toContain('3 of 3 records change');
      expect(dry.stdout).toContain('bucket "notes": created');
      expect(dry.stderr).toContain('dry run: nothing was changed');
      expect(dump(file)).toBe(before);

      const real = await quire('migrate', '--db', file, '--schema', 'compatible.yaml');
      expect(real.code).toBe(0);
      expect(real.stdout).toBe(dry.stdout);
      const [users, schema] = await Promise.all([
        quire('query', 'users', '--db', file, '--format', 'json', '--filter', '{"country":"CZ"}'),
        quire('schema', '--db', file),
      ]);
      expect(JSON.parse(users!.stdout)).toHaveLength(3);
      const stored = YAML.parse(schema!.stdout).buckets;
      expect(stored.users.indexes).toEqual(['country']);
      expect(stored.notes).toEqual({ key: 'id', schema: { id: { type: 'string' } } });
    });

    it('an incompatible change without --migration exits 2 and changes nothing', async () => {
      const file = copy('incompatible.db');
      const before = dump(file);
      // The compatible part (a new bucket) is not applied either: all or nothing.
      schemaFile('mixed.yaml', (b) => {
        b.users.schema.age = { type: 'number' };
        b.notes = { key: 'id', schema: { id: { type: 'string' } } };
      });
      const [r, dry] = await Promise.all([
        quire('migrate', '--db', file, '--schema', 'mixed.yaml'),
        quire('migrate', '--db', file, '--schema', 'mixed.yaml', '--dry-run'),
      ]);
      for (const x of [r, dry]) {
        expect(x.code).toBe(2);
        expect(x.stderr).toContain('nothing was changed');
        expect(x.stderr).toContain('field "age": type changed from string to number');
        expect(x.stderr).toContain('3 of 3 stored records do not fit: record 1: age:');
        expect(x.stderr).toContain('--migration FILE');
      }
      expect(dump(file)).toBe(before);
    });

    it('a migration file that throws leaves the store unchanged (exit 1), all migrations of the run or none', async () => {
      const file = copy('throws.db');
      const before = dump(file);
      writeFileSync(
        join(dir, 'throws.mjs'),
        `export const migrations = [
          { version: 1, name: 'age as number', up: async (ctx) => {
            await ctx.bucket('users').changeFieldType('age', 'number', (v) => Number(v));
          } },
          { version: 2, name: 'goes wrong', up: async (ctx) => {
            await ctx.createBucket('audit', { key: 'id', schema: { id: { type: 'string' } } });
            await ctx.bucket('users').renameField('bio', 'about');
            throw new Error('step three failed');
          } },
        ];`,
      );
      const r = await quire('migrate', '--db', file, '--schema', ageAsNumber(), '--migration', 'throws.mjs');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('migration 2 ("goes wrong") failed: step three failed; nothing was changed');
      expect(dump(file)).toBe(before);
    });

    it('killed in the middle of a migration: the stored data is as before; the next run applies it', async () => {
      const file = copy('killed.db');
      const marker = join(dir, 'killed.marker');
      writeFileSync(
        join(dir, 'slow.mjs'),
        `import { writeFileSync } from 'node:fs';
        export const migrations = [{ version: 1, name: 'age as number', up: async (ctx) => {
          await ctx.bucket('users').changeFieldType('age', 'number', (v) => Number(v));
          await ctx.createBucket('audit', { key: 'id', schema: { id: { type: 'string' } } });
          if (process.env.QUIRE_TEST_MARKER) {
            writeFileSync(process.env.QUIRE_TEST_MARKER, 'done');
            await new Promise((r) => setTimeout(r, 120_000));
          }
        } }];`,
      );
      /** What a user sees of the store: definitions (the runner's own bucket aside), records, the feed. */
      const view = async () => {
        const [schema, users, feed] = await Promise.all([
          quire('schema', '--db', file),
          quire('query', 'users', '--db', file, '--format', 'json'),
          quire('changes', '--db', file),
        ]);
        const buckets = YAML.parse(schema!.stdout).buckets;
        delete buckets._migrations;
        return { buckets, users: users!.stdout, feed: feed!.stdout };
      };
      const before = await view();
      const child = start(['migrate', '--db', file, '--schema', ageAsNumber(), '--migration', 'slow.mjs'], {
        QUIRE_TEST_MARKER: marker,
      });
      await new Promise<void>((resolve, reject) => {
        const look = setInterval(() => {
          if (existsSync(marker)) {
            clearInterval(look);
            resolve();
          }
        }, 50);
        child.on('exit', (code) => {
          clearInterval(look);
          reject(new Error(`migrate exited with ${code} before the marker`));
        });
      });
      child.kill('SIGKILL');
      await exited(child);
      expect(await view()).toEqual(before);
      const applied = await quire('query', '_migrations', '--db', file, '--format', 'json');
      expect(applied.code === 2 || JSON.parse(applied.stdout).length === 0).toBe(true);

      const again = await quire(
        'migrate',
        '--db',
        file,
        '--schema',
        'age-number.yaml',
        '--migration',
        'slow.mjs',
      );
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('bucket "audit": created');
      const users = await quire('query', 'users', '--db', file, '--format', 'json', '--sort', 'age');
      expect(JSON.parse(users.stdout).map((u: { age: number }) => u.age)).toEqual([29, 36, 41]);
    });

    it('a TypeScript migration file makes an incompatible change; a second run has nothing to do', async () => {
      const file = copy('ts.db');
      writeFileSync(
        join(dir, 'age.ts'),
        `import type { Migration } from 'quiredb';
export const migrations: Migration[] = [
  { version: 1, name: 'age as number', up: async (ctx) => {
    await ctx.bucket('users').changeFieldType('age', 'number', (v: unknown) => Number(v));
  } },
];
`,
      );
      const before = dump(file);
      const dry = await quire(
        'migrate',
        '--db',
        file,
        '--schema',
        ageAsNumber(),
        '--migration',
        'age.ts',
        '--dry-run',
      );
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('migration 1 ("age as number"): would be applied');
      expect(dump(file)).toBe(before);
      const r = await quire('migrate', '--db', file, '--schema', 'age-number.yaml', '--migration', 'age.ts');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('migration 1 ("age as number"): applied');
      expect(r.stdout).toContain(
        'bucket "users": field "age": type changed from string to number; 3 of 3 records change',
      );
      const [ages, applied, again] = await Promise.all([
        quire('query', 'users', '--db', file, '--format', 'json', '--sort', 'age'),
        quire('query', '_migrations', '--db', file, '--format', 'json'),
        quire('migrate', '--db', file, '--schema', 'age-number.yaml', '--migration', 'age.ts'),
      ]);
      expect(JSON.parse(ages!.stdout).map((u: { age: number }) => u.age)).toEqual([29, 36, 41]);
      expect(JSON.parse(applied!.stdout)).toMatchObject([{ version: 1, name: 'age as number' }]);
      expect(again!.code).toBe(0);
      expect(again!.stderr).toContain('nothing to change');
    });

    it('needs the writer lock (exit 3, nothing changed); a dry run works next to the writer', async () => {
      const file = copy('locked.db');
      const holder = await open(file);
      try {
        const before = dump(file);
        const [real, dry] = await Promise.all([
          quire('migrate', '--db', file, '--schema', compatible()),
          quire('migrate', '--db', file, '--schema', 'compatible.yaml', '--dry-run'),
        ]);
        expect(real.code).toBe(3);
        expect(real.stderr).toContain('is locked for writing');
        expect(dry.code).toBe(0);
        expect(dry.stdout).toContain('bucket "notes": created');
        expect(dump(file)).toBe(before);
      } finally {
        await holder.stop();
      }
    });

    it('bad migration files and missing options exit 2 before the store is touched', async () => {
      const file = copy('bad.db');
      const before = dump(file);
      writeFileSync(join(dir, 'empty.mjs'), 'export const other = 1;\n');
      writeFileSync(join(dir, 'noversion.mjs'), "export default [{ name: 'x', up: async () => {} }];\n");
      writeFileSync(join(dir, 'syntax.mjs'), 'export const migrations = [;\n');
      const results = await Promise.all([
        quire('migrate', '--db', file),
        quire('migrate', '--db', file, '--migration', 'missing.mjs'),
        quire('migrate', '--db', file, '--migration', 'empty.mjs'),
        quire('migrate', '--db', file, '--migration', 'noversion.mjs'),
        quire('migrate', '--db', file, '--migration', 'syntax.mjs'),
      ]);
      for (const r of results) expect(r.code).toBe(2);
      expect(results[0]!.stderr).toContain('give --schema FILE');
      expect(results[1]!.stderr).toContain('migration file not found');
      expect(results[2]!.stderr).toContain('exports no migrations');
      expect(results[3]!.stderr).toContain('entry 1: version must be a positive integer');
      expect(results[4]!.stderr).toContain('cannot load migration file');
      expect(dump(file)).toBe(before);
    });
  });

  it('on PostgreSQL (--pg): get, query, schema, changes --follow, restore-version, migrate', async () => {
    const schema = pgSchema();
    const url = `${inject('pgUrl')}?schema=${schema}`;
    const openPg = () =>
      Store.start({
        name: 'shop',
        ttlCheckIntervalMs: 0,
        persistence: {
          adapter: new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema }),
          durability: 'strict',
        },
      });
    // A serving instance stays up the whole time: PostgreSQL stores have no writer lock.
    const instance = await openPg();
    try {
      const users = await instance.defineBucket('users', USERS);
      await users.insert({ name: 'Ann', age: '36' });
      await users.update(1, { age: '37' }, { actor: 'admin' });
      const [got, table, stored] = await Promise.all([
        quire('get', 'users', '1', '--pg', url),
        quire('query', 'users', '--pg', url),
        quire('schema', '--pg', url),
      ]);
      expect(JSON.parse(got!.stdout)).toMatchObject({ id: 1, name: 'Ann', age: '37', _version: 2 });
      expect(table!.stdout).toMatch(/^id\s+name\s+age\n/);
      expect(YAML.parse(stored!.stdout)).toEqual({ buckets: { users: USERS } });

      const follower = start(['changes', '--pg', url, '--follow', '--interval', '50']);
      let text = '';
      follower.stdout.on('data', (d) => {
        text += d;
      });
      await until(follower, () => text.split('\n').length > 2);
      await users.insert({ name: 'Bob', age: '41' }, { actor: 'instance' });
      await until(follower, () => text.includes('"actor":"instance"'));
      expect(
        text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .map((c) => `${c.key} ${c.op} ${c.actor}`),
      ).toEqual(['1 insert null', '1 update admin', '2 insert instance']);
      follower.kill('SIGTERM');
      expect(await exited(follower)).toBe(0);

      const restored = await quire('restore-version', 'users', '1', '1', '--pg', url, '--actor', 'ops');
      expect(restored.code, restored.stderr).toBe(0);
      expect(JSON.parse(restored.stdout)).toMatchObject({ id: 1, age: '36', _version: 3 });
    } finally {
      await instance.stop();
    }
    writeFileSync(
      join(dir, 'pg-country.yaml'),
      YAML.stringify({
        buckets: {
          users: { ...USERS, schema: { ...USERS.schema, country: { type: 'string', default: 'CZ' } } },
        },
      }),
    );
    const dry = await quire('migrate', '--pg', url, '--schema', 'pg-country.yaml', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'bucket "users": field "country" added with a default; 2 of 2 records change',
    );
    const still = await quire('schema', '--pg', url);
    expect(YAML.parse(still.stdout)).toEqual({ buckets: { users: USERS } });
    const real = await quire('migrate', '--pg', url, '--schema', 'pg-country.yaml');
    expect(real.code, real.stderr).toBe(0);
    const after = await quire('query', 'users', '--pg', url, '--format', 'json');
    expect(JSON.parse(after.stdout).map((u: { country: string }) => u.country)).toEqual(['CZ', 'CZ']);
  });
});
