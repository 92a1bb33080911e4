// `--pg URL` on the real `quire` binary against the throwaway PostgreSQL
// cluster: usage errors, an unreachable database (password masked), the data
// commands, backup and restore, check, two `serve --pg` instances sharing one
// database over HTTP, and `inspect --pg` (read-only by default).
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectHttp, RpcError } from '../../src/client/index.js';
import { buildPage, CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../inspector/fixture.js';
import { pgSchema, tempDir, waitFor } from '../persistence/helpers.js';
import { freePort } from '../postgres/cluster.js';
import { runQuire, startQuire, stopQuire } from './run.js';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  buildPage();
  dir = tempDir('quire-cli-pg-');
  writeFileSync(
    join(dir, 'schema.yaml'),
    [
      'buckets:',
      '  users:',
      '    key: id',
      '    history: true',
      '    schema:',
      '      id: { type: string }',
      '      name: { type: string, required: true }',
      '      role: { type: string, enum: [admin, user], default: user }',
      '    indexes: [role]',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'users.json'),
    JSON.stringify([
      { id: 'a', name: 'Ann' },
      { id: 'b', name: 'Bob', role: 'admin' },
    ]),
  );
  writeFileSync(join(dir, 'more.ndjson'), '{"id":"a","name":"Ann B."}\n{"id":"c","name":"Cid"}\n');
  writeFileSync(join(dir, 'bad.ndjson'), '{"id":"e","name":"Eve"}\n{"id":"f","role":"boss"}\n');
});

afterAll(async () => {
  await Promise.all(children.map(stopQuire));
});

const quire = (...args: string[]) => runQuire(dir, args);

/** A long-running command, stopped at the end of the file if a test does not stop it. */
async function running(pattern: RegExp, ...args: string[]) {
  const r = await startQuire(dir, pattern, args);
  children.push(r.child);
  return r;
}

const stop = stopQuire;

/** A URL of the test cluster on a schema of its own. */
function pgUrl(schema = pgSchema()): string {
  return `${inject('pgUrl')}?schema=${schema}`;
}

async function sql(schema: string, text: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    await c.query(`SET search_path TO "${schema}"`);
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

/** A store with users a and b (imported through the CLI). */
async function filledStore(): Promise<{ schema: string; url: string }> {
  const schema = pgSchema();
  const url = pgUrl(schema);
  const r = await quire(
    'import',
    'users.json',
    '--pg',
    url,
    '--bucket',
    'users',
    '--schema',
    'schema.yaml',
    '--create',
  );
  expect(r.stderr).toBe('');
  expect(r.stdout).toContain('imported 2 records into "users"');
  expect(r.code).toBe(0);
  return { schema, url };
}

// Every test starts several CLI processes on the TypeScript sources (tsx): slow on a loaded machine.
describe('quire --pg', { timeout: 180_000 }, () => {
  it('usage errors: --db with --pg, a URL that is not postgres://, a bad schema name, checkpoint, a missing store', async () => {
    const url = pgUrl();
    const [both, wsBoth, inspectBoth, typesBoth, notPg, badSchema, checkpoint, missing, missingWrite, noDb] =
      await Promise.all([
        quire('stats', '--db', 'x.db', '--pg', url),
        quire('serve', '--workspace', '.', '--pg', url, '--http', '0'),
        quire('inspect', 'x.db', '--pg', url),
        quire('types', '--db', 'x.db', '--pg', url),
        quire('export', '--pg', 'mysql://localhost/db', '--bucket', 'users'),
        quire('stats', '--pg', `${inject('pgUrl')}?schema=no-such;drop`),
        quire('checkpoint', '--pg', url),
        quire('export', '--pg', url, '--bucket', 'users'),
        quire('serve', '--pg', url, '--http', '0'),
        quire('stats', '--pg', inject('pgUrl').replace(/\/postgres$/, '/no_such_db')),
      ]);
    for (const r of [
      both,
      wsBoth,
      inspectBoth,
      typesBoth,
      notPg,
      badSchema,
      checkpoint,
      missing,
      missingWrite,
    ])
      expect(r.code, r.stderr).toBe(2);
    expect(both.stderr).toMatch(/give one store: --db FILE, --workspace DIR or --pg URL, not several/);
    expect(wsBoth.stderr).toMatch(/not several/);
    expect(inspectBoth.stderr).toMatch(/give one store/);
    expect(typesBoth.stderr).toMatch(/give either --schema FILE or --db FILE \(or --pg URL\)/);
    expect(notPg.stderr).toMatch(/--pg expects a postgres:\/\/user@host:port\/database URL/);
    expect(badSchema.stderr).toMatch(/schema must be an SQL identifier/);
    expect(checkpoint.stderr).toMatch(/does not apply to PostgreSQL/);
    // A typo in the URL never makes a new store: read-only commands and serve without --create refuse.
    expect(missing.stderr).toMatch(
      /no Quire store in postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres \(schema "t/,
    );
    expect(missingWrite.stderr).toMatch(/no Quire store in .*\(use --create to make a new one\)/);
    expect(noDb.stderr).toMatch(/database "no_such_db" does not exist/);
    const schema = /\?schema=(\w+)/.exec(url)![1]!;
    expect(await sql('public', `SELECT 1 FROM pg_namespace WHERE nspname = '${schema}'`)).toEqual([]);
  });

  it('an unreachable database: a clear error after the bounded wait, exit 1, the password never shown', async () => {
    const port = await freePort(); // nothing listens there
    const url = `postgres://app:s3cr3t-pw@127.0.0.1:${port}/appdb?schema=app&connect_timeout=3`;
    const [stats, serve, inspect, copy] = await Promise.all([
      quire('stats', '--pg', url),
      quire('serve', '--pg', url, '--http', '0'),
      quire('inspect', '--pg', url),
      quire('copy', '--from', url, '--to', join(dir, 'copy.db')),
    ]);
    for (const r of [stats, serve, inspect, copy]) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `PostgreSQL at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/appdb is unreachable \\(gave up after 3000 ms`,
        ),
      );
      // The refused connection is named; on a loaded machine the driver's own
      // connect timer can fire first, which is named instead.
      expect(r.stderr).toMatch(/ECONNREFUSED|timeout expired/);
      expect(r.stderr + r.stdout).not.toContain('s3cr3t');
    }
    expect(existsSync(join(dir, 'copy.db'))).toBe(false);
  });

  it('import, export, stats, history, types and check on a PostgreSQL store', async () => {
    const { schema, url } = await filledStore();
    const upsert = await quire(
      'import',
      'more.ndjson',
      '--pg',
      url,
      '--bucket',
      'users',
      '--upsert',
      '--actor',
      'cli',
    );
    expect(upsert.code, upsert.stderr).toBe(0);
    const [json, ndjson, stats, statsJson, history, types, check] = await Promise.all([
      quire('export', '--pg', url, '--bucket', 'users', '--no-metadata'),
      quire('export', '--pg', url, '--bucket', 'users', '--format', 'ndjson', '--filter', '{"role":"admin"}'),
      quire('stats', '--pg', url),
      quire('stats', '--pg', url, '--json'),
      quire('history', '--pg', url, '--bucket', 'users', '--key', 'a'),
      quire('types', '--pg', url),
      quire('check', '--pg', url),
    ]);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: 'a', name: 'Ann B.', role: 'user' },
      { id: 'b', name: 'Bob', role: 'admin' },
      { id: 'c', name: 'Cid', role: 'user' },
    ]);
    expect(
      ndjson.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['b']);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(
      new RegExp(
        `store {3}quire {2}\\(postgres://postgres@127\\.0\\.0\\.1:\\d+/postgres \\(schema "${schema}"\\), \\d+ bytes in Quire's tables\\)`,
      ),
    );
    expect(stats.stdout).toMatch(/users +3 records {2}1 indexes {2}\d+ bytes/);
    const s = JSON.parse(statsJson.stdout);
    expect(s.records.total).toBe(3);
    expect(s.bytes).toBeGreaterThan(0);
    // What PostgreSQL says about the schema's tables.
    const [size] = await sql(
      schema,
      `SELECT SUM(pg_total_relation_size(c.oid))::bigint AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = '${schema}' AND c.relkind = 'r' AND c.relname LIKE 'quire%'`,
    );
    expect(s.bytes).toBe(Number(size!.b));
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/^v2 {2}update .* cli {2}\{"id":"a","name":"Ann B\."/m);
    expect(history.stdout).toMatch(/^v1 {2}insert /m);
    expect(types.stdout).toMatch(/role\??: "admin" \| "user"/);
    expect(types.stdout).toContain('users: BucketTypes<UsersRecord, UsersInsert>');
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      new RegExp(
        `^ok: .*\\(schema "${schema}"\\) \\(3 records, \\d+ history and feed rows checked; PostgreSQL data checksums: off\\)`,
      ),
    );

    // A row damaged behind Quire's back: check names it and fails.
    await sql(schema, `UPDATE quire_records SET data = '{"id":"c","name":42' WHERE key = '"c"'`);
    await sql(
      schema,
      `UPDATE quire_records SET data = '{"id":"b","name":"Bob","role":"boss","_version":1}' WHERE key = '"b"'`,
    );
    const bad = await quire('check', '--pg', url);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/problem: quire\/users: .*role/);
    expect(bad.stdout).toMatch(/problem: quire\/users: .*(corrupt|parse|JSON)/i);
    expect(bad.stderr).toMatch(/check found 2 problem\(s\)/);
  });

  it('the data commands take --pg too: get, query, schema, changes, restore-version', async () => {
    const { url } = await filledStore();
    const [get, query, schema, changes] = await Promise.all([
      quire('get', 'users', 'a', '--pg', url),
      quire('query', 'users', '--pg', url, '--filter', '{"role":"admin"}', '--format', 'ndjson'),
      quire('schema', 'users', '--pg', url),
      quire('changes', '--pg', url),
    ]);
    expect(JSON.parse(get.stdout)).toMatchObject({ id: 'a', name: 'Ann', _version: 1 });
    expect(
      query.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['b']);
    expect(schema.stdout).toMatch(/key: id/);
    expect(
      changes.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).key),
    ).toEqual(['a', 'b']);
    const restored = await quire('restore-version', 'users', 'b', '1', '--pg', url, '--actor', 'ops');
    expect(restored.code, restored.stderr).toBe(0);
    const history = await quire('history', '--pg', url, '--bucket', 'users', '--key', 'b');
    expect(history.stdout).toMatch(/^v2 {2}update .* ops /m);
  });

  it('a failed first import leaves no store behind; importing needs --create for a new store', async () => {
    const url = pgUrl();
    const [noCreate, badData] = await Promise.all([
      quire('import', 'users.json', '--pg', url, '--bucket', 'users', '--schema', 'schema.yaml'),
      quire('import', 'bad.ndjson', '--pg', url, '--bucket', 'users', '--schema', 'schema.yaml', '--create'),
    ]);
    expect(noCreate.code).toBe(2);
    expect(noCreate.stderr).toMatch(/use --create/);
    expect(badData.code).toBe(2);
    expect(badData.stderr).toMatch(/import failed, nothing was imported/);
    const after = await quire('stats', '--pg', url);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/no Quire store in/);
  });

  it('backup --pg writes an SQLite backup; restore --pg fills an empty schema and refuses a filled one', async () => {
    const { url } = await filledStore();
    const file = join(dir, `pg-${Date.now()}.bak`);
    const backup = await quire('backup', '--pg', url, '--out', file);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/backup of postgres:\/\/.* \(store "quire"\) written to .* \(\d+ bytes\)/);
    const again = await quire('backup', '--pg', url, '--out', file);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists \(use --force/);
    // The backup is an SQLite store file: the SQLite commands read it.
    const [checked, exported] = await Promise.all([
      quire('check', '--db', file),
      quire('export', '--db', file, '--bucket', 'users', '--no-metadata'),
    ]);
    expect(checked.stdout).toMatch(/^ok: .*\(2 records checked\)/);
    expect(JSON.parse(exported.stdout)).toHaveLength(2);

    const target = pgUrl();
    const restore = await quire('restore', '--pg', target, '--from', file);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(
      /restored store "quire" into .*: 1 buckets, 2 records, 2 history entries \(verified\)/,
    );
    const [back, history] = await Promise.all([
      quire('export', '--pg', target, '--bucket', 'users', '--no-metadata'),
      quire('history', '--pg', target, '--bucket', 'users', '--key', 'b'),
    ]);
    expect(JSON.parse(back.stdout)).toEqual([
      { id: 'a', name: 'Ann', role: 'user' },
      { id: 'b', name: 'Bob', role: 'admin' },
    ]);
    expect(history.stdout).toMatch(/^v1 {2}insert /m);
    const [over, forced, notBackup] = await Promise.all([
      quire('restore', '--pg', target, '--from', file),
      quire('restore', '--pg', target, '--from', file, '--force'),
      quire('restore', '--pg', pgUrl(), '--from', join(dir, 'users.json')),
    ]);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/already holds store "quire"; a PostgreSQL store is not replaced in place/);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toMatch(/not even with --force/);
    expect(notBackup.code).toBe(2);
    expect(notBackup.stderr).toMatch(/not (a usable backup|a Quire store)/);
  });

  it('two `serve --pg` instances on one database: a write through one is read through the other', async () => {
    const { url } = await filledStore();
    const [a, b] = await Promise.all([
      running(/HTTP (http:\/\/\S+)/, 'serve', '--pg', url, '--http', '0'),
      running(/inspector (http:\/\/\S+)/, 'serve', '--pg', url, '--http', '0', '--ui'),
    ]);
    const ca = connectHttp(a.match[1]!);
    const cb = connectHttp(`${b.match[1]!}rpc`);
    try {
      await ca.call('insert', { bucket: 'users', record: { id: 'z', name: 'Zoe' } });
      await waitFor(
        async () => (await cb.call('get', { bucket: 'users', key: 'z' })) !== null,
        'the write on B',
      );
      expect(await cb.call('get', { bucket: 'users', key: 'z' })).toMatchObject({ name: 'Zoe', _version: 1 });
      // And back: B updates, A reads it.
      await cb.call('update', { bucket: 'users', key: 'z', changes: { name: 'Zoe B.' } });
      await waitFor(
        async () => (await ca.call('get', { bucket: 'users', key: 'z' }))?.name === 'Zoe B.',
        'the update on A',
      );
      expect(await ca.call('count', { bucket: 'users' })).toBe(3);
      // The inspector of B shows the sizes of the PostgreSQL tables.
      const storage = (await cb.call('storageStats')) as { kind: string; bytes: number; location: string };
      expect(storage.kind).toBe('postgres');
      expect(storage.bytes).toBeGreaterThan(0);
      expect(storage.location).toMatch(/^postgres:\/\/127\.0\.0\.1:\d+\/postgres \(schema "t/);
      const [users] = (await cb.call('describeBuckets')) as Array<{ name: string; bytes: number }>;
      expect(users!.name).toBe('users');
      expect(users!.bytes).toBeGreaterThan(0);
      // Without --backup-dir a PostgreSQL server has no place for backup files.
      const refused = (await ca.call('backupTo', { file: 'x.db' }).catch((e) => e)) as RpcError;
      expect(refused).toBeInstanceOf(RpcError);
      expect(refused.message).toMatch(/no backup directory/);
    } finally {
      await ca.close();
      await cb.close();
      await Promise.all([stop(a.child), stop(b.child)]);
    }
  });

  it('inspect --pg is read-only by default and sees other instances’ writes; --write allows edits', async () => {
    const { url } = await filledStore();
    const ro = await running(/^(http:\/\/127\.0\.0\.1:\d+\/)$/m, 'inspect', '--pg', url);
    const writer = await running(/HTTP (http:\/\/\S+)/, 'serve', '--pg', url, '--http', '0');
    const c = connectHttp(`${ro.match[1]!}rpc`);
    const w = connectHttp(writer.match[1]!);
    try {
      expect(await c.call('serverInfo')).toMatchObject({ store: 'quire', readOnly: true });
      const refused = (await c
        .call('insert', { bucket: 'users', record: { id: 'n', name: 'No' } })
        .catch((e) => e)) as RpcError;
      expect(refused).toBeInstanceOf(RpcError);
      expect(refused.data?.code).toBe('READ_ONLY');
      expect(await c.call('count', { bucket: 'users' })).toBe(2);
      const storage = (await c.call('storageStats')) as { kind: string; bytes: number };
      expect(storage).toMatchObject({ kind: 'postgres' });
      expect(storage.bytes).toBeGreaterThan(0);
      // The page's Store view shows the size of the PostgreSQL tables (no write-ahead log of its own).
      requireChromium();
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      try {
        const page = await browser.newPage();
        await page.goto(`${ro.match[1]!}#/store`);
        await expect
          .poll(() => page.getByTestId('bytes').textContent(), { timeout: 15_000 })
          .toMatch(/[KM]B$/);
        expect(await page.getByTestId('wal').textContent()).toBe('—');
        await expect.poll(() => page.getByText(/^postgres:\/\/127\.0\.0\.1/).count()).toBe(1);
      } finally {
        await browser.close();
      }
      // A write through another instance reaches the read-only inspector.
      await w.call('insert', { bucket: 'users', record: { id: 'live', name: 'Live' } });
      await waitFor(
        async () => (await c.call('count', { bucket: 'users' })) === 3,
        'the write in the inspector',
      );
    } finally {
      await c.close();
      await w.close();
      await Promise.all([stop(ro.child), stop(writer.child)]);
    }
    // Nothing was written by the read-only inspector.
    const exported = await quire('export', '--pg', url, '--bucket', 'users', '--no-metadata');
    expect(JSON.parse(exported.stdout).map((r: { id: string }) => r.id)).toEqual(['a', 'b', 'live']);

    const rw = await running(/^(http:\/\/127\.0\.0\.1:\d+\/)$/m, 'inspect', '--pg', url, '--write');
    const e = connectHttp(`${rw.match[1]!}rpc`);
    try {
      expect(await e.call('serverInfo')).toMatchObject({ readOnly: false });
      await e.call('insert', { bucket: 'users', record: { id: 'ed', name: 'Edited' } });
    } finally {
      await e.close();
      await stop(rw.child);
    }
    const after = await quire('export', '--pg', url, '--bucket', 'users', '--no-metadata');
    expect(JSON.parse(after.stdout).map((r: { id: string }) => r.id)).toContain('ed');
  });
});
