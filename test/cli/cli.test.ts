// The `quire` binary, run as a real child process (bin/quire.js on the
// TypeScript source): commands, exit codes, messages, serving.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, connectWebSocket, spawnStdio } from '../../src/client/index.js';
import { BIN, cliRunner, ENV, exited, runToEnd } from './run.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-cli-'));
  writeFileSync(
    join(dir, 'schema.yaml'),
    [
      'buckets:',
      '  users:',
      '    key: id',
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
  writeFileSync(join(dir, 'more.ndjson'), '{"id":"c","name":"Cid"}\n{"id":"d","name":"Dan"}\n');
  writeFileSync(join(dir, 'bad.ndjson'), '{"id":"e","name":"Eve"}\n{"id":"f","role":"boss"}\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const { quire, serveHttp } = cliRunner(() => dir);

// Every test starts several CLI processes on the TypeScript sources (tsx): slow on a loaded machine.
describe('quire CLI', { timeout: 180_000 }, () => {
  it('--help everywhere; usage errors exit 2', async () => {
    const commands = [
      'serve',
      'import',
      'export',
      'backup',
      'restore',
      'history',
      'stats',
      'check',
      'checkpoint',
    ];
    const [top, version, unknown, missing, both, none, ...helps] = await Promise.all([
      quire('--help'),
      quire('--version'),
      quire('frobnicate'),
      quire('import', 'users.json', '--db', 'x.db'),
      quire('stats', '--db', 'x.db', '--workspace', '.'),
      quire('stats'),
      ...commands.map((c) => quire(c, '--help')),
    ]);
    expect(top!.code).toBe(0);
    for (const c of commands) expect(top!.stdout).toContain(c);
    expect(top!.stdout).toMatch(/Exit codes/);
    helps.forEach((r, i) => {
      expect(r.code, commands[i]).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: quire ${commands[i]}`));
    });
    expect(version!.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(unknown!.code).toBe(2);
    expect(missing!.code).toBe(2);
    expect(missing!.stderr).toMatch(/--bucket/);
    expect(both!.code).toBe(2);
    expect(none!.stderr).toMatch(/which store\? give --db FILE, --workspace DIR or --pg URL/);
  });

  it('clear messages for a missing store, a missing or bad schema file, a bad definition', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'buckets: {users: [');
    writeFileSync(join(dir, 'nokey.yaml'), 'users: {key: nope, schema: {id: {type: string}}}');
    writeFileSync(join(dir, 'notdb.db'), 'this is not sqlite at all, not even close to a header');
    writeFileSync(join(dir, 'auth.yaml'), 'tokens:\n  abc: {read: "*"}\n');
    const [nf, ns, bs, nk, notdb, badAuth] = await Promise.all([
      quire('stats', '--db', 'nope.db'),
      quire('serve', '--db', 's0.db', '--create', '--schema', 'missing.yaml'),
      quire('serve', '--db', 's1.db', '--create', '--schema', 'broken.yaml'),
      quire('serve', '--db', 's2.db', '--create', '--schema', 'nokey.yaml'),
      quire('stats', '--db', 'notdb.db'),
      quire('serve', '--db', 's3.db', '--create', '--auth', 'auth.yaml', '--http', '0'),
    ]);
    expect(nf!.code).toBe(2);
    expect(nf!.stderr).toMatch(/store file not found: .*nope\.db/);
    expect(ns!.code).toBe(2);
    expect(ns!.stderr).toMatch(/schema file not found/);
    expect(bs!.code).toBe(2);
    expect(bs!.stderr).toMatch(/bad schema file .*broken\.yaml/);
    expect(nk!.code).toBe(2);
    expect(nk!.stderr).toMatch(/bucket "users".*key field "nope" does not exist/i);
    expect(notdb!.code).toBe(2);
    expect(notdb!.stderr).toMatch(/not a Quire store/);
    expect(badAuth!.code).toBe(2);
    expect(badAuth!.stderr).toMatch(/bad auth file .*needs an "identity"/);
  });

  it('import (all or nothing), stats, export, check', async () => {
    const imp = await quire(
      'import',
      'users.json',
      '--db',
      'data.db',
      '--bucket',
      'users',
      '--schema',
      'schema.yaml',
      '--create',
    );
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(/imported 2 records into "users"/);
    // The definition is stored: later commands need no schema file.
    expect((await quire('import', 'more.ndjson', '--db', 'data.db', '--bucket', 'users')).code).toBe(0);
    const bad = await quire('import', 'bad.ndjson', '--db', 'data.db', '--bucket', 'users');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/nothing was imported.*line 2/);
    const skip = await quire('import', 'more.ndjson', '--db', 'data.db', '--bucket', 'users', '--if-empty');
    expect(skip.stdout).toMatch(/skipped/);

    const stats = await quire('stats', '--db', 'data.db', '--json');
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ records: { total: 4, perBucket: { users: 4 } } });
    expect((await quire('stats', '--db', 'data.db')).stdout).toMatch(/users\s+4 records/);

    const ex = await quire(
      'export',
      '--db',
      'data.db',
      '--bucket',
      'users',
      '--format',
      'ndjson',
      '--no-metadata',
    );
    expect(ex.code).toBe(0);
    expect(
      ex.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['a', 'b', 'c', 'd']);
    const filtered = await quire(
      'export',
      '--db',
      'data.db',
      '--bucket',
      'users',
      '--filter',
      '{"role":"admin"}',
      '--out',
      'admins.yaml',
    );
    expect(filtered.code).toBe(0);
    expect(filtered.stderr).toMatch(/exported 1 records/);
    expect((await quire('export', '--db', 'data.db', '--bucket', 'nope')).code).toBe(2);

    const check = await quire('check', '--db', 'data.db');
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/ok: .*\(4 records checked\)/);
  });

  it('check finds damaged records (exit 1)', async () => {
    expect(
      (
        await quire(
          'import',
          'users.json',
          '--db',
          'damaged.db',
          '--bucket',
          'users',
          '--schema',
          'schema.yaml',
          '--create',
        )
      ).code,
    ).toBe(0);
    const db = new Database(join(dir, 'damaged.db'));
    db.prepare('UPDATE quire_records SET data = \'{"id":"a","name":42,\' WHERE key = \'"a"\'').run();
    db.prepare(
      'UPDATE quire_records SET data = \'{"id":"b","name":7,"_version":1,"_createdAt":1,"_updatedAt":1}\' WHERE key = \'"b"\'',
    ).run();
    db.close();
    const r = await quire('check', '--db', 'damaged.db');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/problem: .*users/);
    expect(r.stderr).toMatch(/check found \d+ problem/);
  });

  it('history of a record, with the actors of its writes', async () => {
    writeFileSync(
      join(dir, 'hist.yaml'),
      'notes: {key: id, history: true, schema: {id: {type: string}, text: {type: string}}}\n',
    );
    writeFileSync(join(dir, 'note1.json'), '[{"id":"n1","text":"first"}]');
    writeFileSync(join(dir, 'note2.json'), '[{"id":"n1","text":"second"}]');
    const a = await quire(
      'import',
      'note1.json',
      '--db',
      'hist.db',
      '--bucket',
      'notes',
      '--schema',
      'hist.yaml',
      '--actor',
      'alice',
      '--create',
    );
    expect(a.code).toBe(0);
    expect(
      (
        await quire(
          'import',
          'note2.json',
          '--db',
          'hist.db',
          '--bucket',
          'notes',
          '--upsert',
          '--actor',
          'bob',
        )
      ).code,
    ).toBe(0);
    const [json, text, none] = await Promise.all([
      quire('history', '--db', 'hist.db', '--bucket', 'notes', '--key', 'n1', '--json'),
      quire('history', '--db', 'hist.db', '--bucket', 'notes', '--key', 'n1'),
      quire('history', '--db', 'data.db', '--bucket', 'users', '--key', 'a'),
    ]);
    expect(json!.code).toBe(0);
    const entries = JSON.parse(json!.stdout) as Array<{
      version: number;
      actor: string;
      record: { text: string };
    }>;
    expect(entries.map((e) => [e.version, e.actor, e.record.text])).toEqual(
      expect.arrayContaining([
        [1, 'alice', 'first'],
        [2, 'bob', 'second'],
      ]),
    );
    expect(text!.stdout).toMatch(/v2 +update .*bob/);
    expect(none!.code).toBe(1);
    expect(none!.stderr).toMatch(/keeps no history/);
  });

  it('serve --http: clients, online backup, lock errors, SIGTERM, restore', {
    timeout: 120_000,
  }, async () => {
    const s = await serveHttp('--db', 'served.db', '--schema', 'schema.yaml', '--create');
    const http = connectHttp(s.url);
    await http.bucket('users').insertMany([
      { id: 'x', name: 'Xi' },
      { id: 'y', name: 'Yo' },
    ]);
    const ws = await connectWebSocket(s.wsUrl, { reconnect: false });
    expect(await ws.bucket('users').count()).toBe(2);
    await ws.close();

    // A second writer is refused, naming the holder; read-only commands work meanwhile.
    const second = await quire('serve', '--db', 'served.db', '--http', '0');
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/locked for writing by process \d+/);
    // The way out the CLI offers is its own flag, not the library's option.
    expect(second.stderr).toMatch(/--read-only/);
    expect(second.stderr).not.toMatch(/readOnly: true/);
    // ... and that flag serves the store read-only while the writer runs.
    const ro = await serveHttp('--db', 'served.db', '--read-only');
    const roClient = connectHttp(ro.url);
    expect(await roClient.bucket('users').count()).toBe(2);
    const refused = await roClient
      .bucket('users')
      .insert({ id: 'r', name: 'Ro' })
      .catch((e) => e);
    expect(refused.data?.code).toBe('READ_ONLY');
    const refusedTx = await roClient
      .transaction([{ op: 'delete', bucket: 'users', key: 'x' }])
      .catch((e) => e);
    expect(refusedTx.data?.code).toBe('READ_ONLY');
    expect(await roClient.bucket('users').count()).toBe(2);
    ro.child.kill('SIGTERM');
    expect(await exited(ro.child)).toBe(0);
    expect((await quire('checkpoint', '--db', 'served.db')).code).toBe(3);
    expect(JSON.parse((await quire('stats', '--db', 'served.db', '--json')).stdout).records.total).toBe(2);
    const backup = await quire('backup', '--db', 'served.db', '--out', 'served.bak');
    expect(backup.code).toBe(0);
    expect((await quire('backup', '--db', 'served.db', '--out', 'served.bak')).code).toBe(2); // exists

    await http.bucket('users').insert({ id: 'z', name: 'Zed' });
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toBe(0);
    expect(JSON.parse((await quire('stats', '--db', 'served.db', '--json')).stdout).records.total).toBe(3);
    expect((await quire('checkpoint', '--db', 'served.db')).code).toBe(0);

    // Restore the online backup (taken before "z") into the store.
    expect((await quire('restore', '--db', 'served.db', '--from', 'served.bak')).code).toBe(2); // needs --force
    const restored = await quire('restore', '--db', 'served.db', '--from', 'served.bak', '--force');
    expect(restored.code).toBe(0);
    const ex = await quire('export', '--db', 'served.db', '--bucket', 'users', '--no-metadata');
    expect(JSON.parse(ex.stdout).map((r: { id: string }) => r.id)).toEqual(['x', 'y']);
    expect((await quire('check', '--db', 'served.db')).code).toBe(0);
    expect((await quire('restore', '--db', 'other.db', '--from', 'users.json')).code).toBe(2);
  });

  it('serve --stdio --workspace: acknowledged writes survive SIGKILL', async () => {
    const ws = join(dir, 'ws');
    rmSync(ws, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(ws);
    const args = [
      BIN,
      'serve',
      '--workspace',
      ws,
      '--schema',
      join(dir, 'schema.yaml'),
      '--stdio',
      '--create',
    ];
    const c1 = await spawnStdio(process.execPath, args, { env: ENV, stderr: 'pipe' });
    for (let i = 0; i < 20; i++) await c1.bucket('users').insert({ id: `k${i}`, name: `N${i}` });
    await c1.bucket('users').update('k3', { role: 'admin' });
    await c1.kill('SIGKILL');
    const c2 = await spawnStdio(process.execPath, [BIN, 'serve', '--workspace', ws, '--stdio'], {
      env: ENV,
      stderr: 'pipe',
    });
    expect(await c2.bucket('users').count()).toBe(20);
    expect((await c2.bucket('users').get('k3'))?.role).toBe('admin');
    await c2.close();
    expect((await c2.exited).code).toBe(0);
    expect((await quire('stats', '--workspace', ws)).stdout).toMatch(/users\s+20 records/);
  });

  it('a missing store file is an error unless --create; --create makes it', async () => {
    mkdirSync(join(dir, 'emptyws'), { recursive: true });
    const [serve, imp, stdioServe, ws] = await Promise.all([
      quire('serve', '--db', 'typo.db', '--http', '0'),
      quire('import', 'users.json', '--db', 'typo2.db', '--bucket', 'users', '--schema', 'schema.yaml'),
      quire('serve', '--db', 'typo3.db', '--stdio'),
      quire('serve', '--workspace', 'emptyws', '--stdio'),
    ]);
    for (const r of [serve, imp, stdioServe]) {
      expect(r!.code).toBe(2);
      expect(r!.stderr).toMatch(/store file not found: .*typo\d?\.db \(use --create to make a new one\)/);
    }
    expect(ws!.code).toBe(2);
    expect(ws!.stderr).toMatch(/use --create to make a new one/);
    for (const f of ['typo.db', 'typo2.db', 'typo3.db', 'emptyws/.quire'])
      expect(existsSync(join(dir, f))).toBe(false);

    const made = await quire(
      'import',
      'users.json',
      '--db',
      'created.db',
      '--bucket',
      'users',
      '--schema',
      'schema.yaml',
      '--create',
    );
    expect(made.code).toBe(0);
    expect(existsSync(join(dir, 'created.db'))).toBe(true);
    // --create on an existing store just opens it.
    expect(
      (await quire('import', 'more.ndjson', '--db', 'created.db', '--bucket', 'users', '--create')).code,
    ).toBe(0);
    expect(JSON.parse((await quire('stats', '--db', 'created.db', '--json')).stdout).records.total).toBe(4);
  });

  it('a command that fails leaves no store file behind', async () => {
    writeFileSync(
      join(dir, 'unknown-option.yaml'),
      'users: {key: id, colour: red, schema: {id: {type: string}}}',
    );
    writeFileSync(join(dir, 'bad-type.yaml'), 'users: {key: id, schema: {id: {type: strin}}}');
    mkdirSync(join(dir, 'failws'), { recursive: true });
    const [opt, type, undefinedBucket, badData, wsFail] = await Promise.all([
      quire('serve', '--db', 'f1.db', '--create', '--schema', 'unknown-option.yaml', '--http', '0'),
      quire(
        'import',
        'users.json',
        '--db',
        'f2.db',
        '--create',
        '--bucket',
        'users',
        '--schema',
        'bad-type.yaml',
      ),
      quire('import', 'users.json', '--db', 'f3.db', '--create', '--bucket', 'users'),
      quire(
        'import',
        'bad.ndjson',
        '--db',
        'f4.db',
        '--create',
        '--bucket',
        'users',
        '--schema',
        'schema.yaml',
      ),
      quire(
        'import',
        'users.json',
        '--workspace',
        'failws',
        '--create',
        '--bucket',
        'nope',
        '--schema',
        'schema.yaml',
      ),
    ]);
    expect(opt!.code).toBe(2);
    expect(opt!.stderr).toMatch(/bucket "users".*Unknown option "colour"/);
    expect(type!.code).toBe(2);
    expect(type!.stderr).toMatch(/Unknown type "strin"/);
    expect(undefinedBucket!.code).toBe(2);
    expect(undefinedBucket!.stderr).toMatch(/bucket "users" is not defined/);
    expect(badData!.code).toBe(2);
    expect(badData!.stderr).toMatch(/nothing was imported/);
    expect(wsFail!.code).toBe(2);
    const left = readdirSync(dir).filter((f) => /^f\d\.db/.test(f));
    expect(left).toEqual([]);
    expect(readdirSync(join(dir, 'failws'))).toEqual([]);
    // A failure on an existing store keeps the store.
    expect((await quire('import', 'bad.ndjson', '--db', 'created.db', '--bucket', 'users')).code).toBe(2);
    expect(JSON.parse((await quire('stats', '--db', 'created.db', '--json')).stdout).records.total).toBe(4);
  });

  it('exit codes: bad port and bad filter are usage errors (2); no history for a key is 1', async () => {
    const [port, filter, badJson, hist] = await Promise.all([
      quire('serve', '--db', 'created.db', '--http', '99999'),
      quire('export', '--db', 'created.db', '--bucket', 'users', '--filter', '{"name":{"$near":3}}'),
      quire('export', '--db', 'created.db', '--bucket', 'users', '--filter', '{nope'),
      quire('history', '--db', 'hist.db', '--bucket', 'notes', '--key', 'nope'),
    ]);
    expect(port!.code).toBe(2);
    expect(port!.stderr).toMatch(/--http must be an integer from 0 to 65535/);
    expect(filter!.code).toBe(2);
    expect(filter!.stderr).toMatch(/bad --filter/);
    expect(filter!.stdout).toBe('');
    expect(badJson!.code).toBe(2);
    expect(hist!.code).toBe(1);
    expect(hist!.stderr).toMatch(/no history for key nope/);
  });

  it('progress: bytes of the file size for NDJSON, real per-bucket totals for check; none without a terminal', {
    timeout: 120_000,
  }, async () => {
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) lines.push(JSON.stringify({ id: `p${i}`, name: `Name ${i}` }));
    writeFileSync(join(dir, 'big.ndjson'), `${lines.join('\n')}\n`);
    const size = statSync(join(dir, 'big.ndjson')).size;
    // `script` gives the command a terminal (stdout and stderr), as a user at a shell has.
    const inTerminal = (...args: string[]) => {
      const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
      return runToEnd(spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, env: ENV }));
    };
    const imp = await inTerminal(
      'import',
      'big.ndjson',
      '--db',
      'progress.db',
      '--create',
      '--bucket',
      'users',
      '--schema',
      'schema.yaml',
    );
    expect(imp.code).toBe(0);
    const totals = [...imp.stdout.matchAll(/(\d+)\/(\d+) bytes/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(totals.length).toBeGreaterThan(0);
    // The total is the file's size from the first frame on; the last frame is the whole file.
    for (const [, total] of totals) expect(total).toBe(size);
    expect(totals.at(-1)![0]).toBe(size);
    expect(imp.stdout).toMatch(/imported 30000 records/);

    const check = await inTerminal('check', '--db', 'progress.db');
    expect(check.code).toBe(0);
    const checked = [...check.stdout.matchAll(/checking users .*?(\d+)\/(\d+) records/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(checked.length).toBeGreaterThan(0);
    for (const [, total] of checked) expect(total).toBe(30_000);
    expect(checked.at(-1)![0]).toBe(30_000);

    // Not a terminal: no bars, only the summary lines.
    const plain = await quire('check', '--db', 'progress.db');
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toMatch(/^ok: .*\(30000 records checked\)\n$/);
    const plainImport = await quire(
      'import',
      'big.ndjson',
      '--db',
      'progress.db',
      '--bucket',
      'users',
      '--upsert',
    );
    expect(plainImport.code).toBe(0);
    expect(plainImport.stderr).toBe('');
  });
});
