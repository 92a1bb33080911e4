// `quire inspect` and `quire serve --ui / --read-only`, run as real child
// processes on a real SQLite store.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, RpcError } from '../../src/client/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { buildPage } from '../inspector/fixture.js';
import { runQuire, startQuire } from './run.js';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  buildPage();
  dir = mkdtempSync(join(tmpdir(), 'quire-inspect-'));
  const store = await Store.start({
    name: 'notes',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(join(dir, 'notes.db')) },
  });
  await store.defineBucket('notes', {
    key: 'id',
    schema: { id: { type: 'string' }, text: { type: 'string' } },
  });
  await store.bucket('notes').insert({ id: 'n1', text: 'hello' });
  await store.stop();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.on('exit', r)))),
  );
  rmSync(dir, { recursive: true, force: true });
});

const quire = (...args: string[]) => runQuire(dir, args);

/** Starts a long-running command; resolves with the first match of `pattern` in its output. */
async function running(pattern: RegExp, ...args: string[]) {
  const r = await startQuire(dir, pattern, args);
  children.push(r.child);
  return r;
}

describe('quire inspect', () => {
  it('usage errors: no store, two stores, a file and --pg, --ui without --http', async () => {
    const [none, two, pg, ui] = await Promise.all([
      quire('inspect'),
      quire('inspect', 'notes.db', '--db', 'notes.db'),
      quire('inspect', 'notes.db', '--pg', 'postgres://localhost/x'),
      quire('serve', '--db', 'notes.db', '--ui'),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/which store\?/);
    expect(two.code).toBe(2);
    expect(pg.code).toBe(2);
    expect(pg.stderr).toMatch(/give one store: FILE, --db FILE, --workspace DIR or --pg URL/);
    expect(ui.code).toBe(2);
    expect(ui.stderr).toMatch(/--ui .* --http PORT/);
  });

  it('prints the URL of the page; read-only by default, --write allows edits', async () => {
    const ro = await running(/^(http:\/\/127\.0\.0\.1:\d+\/)$/m, 'inspect', 'notes.db');
    const url = ro.match[1]!;
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('ui/app.js');
    const c = connectHttp(`${url}rpc`);
    expect(await c.call('serverInfo')).toMatchObject({ store: 'notes', readOnly: true });
    const refused = await c.call('insert', { bucket: 'notes', record: { id: 'n2' } }).catch((e) => e);
    expect(refused).toBeInstanceOf(RpcError);
    expect((refused as RpcError).data?.code).toBe('READ_ONLY');
    await c.close();
    ro.child.kill('SIGTERM');
    await new Promise((r) => ro.child.on('exit', r));

    const rw = await running(/^(http:\/\/127\.0\.0\.1:\d+\/)$/m, 'inspect', '--db', 'notes.db', '--write');
    const w = connectHttp(`${rw.match[1]!}rpc`);
    expect(await w.call('serverInfo')).toMatchObject({ readOnly: false });
    await w.call('insert', { bucket: 'notes', record: { id: 'n2', text: 'written' } });
    expect(await w.call('count', { bucket: 'notes' })).toBe(2);
    await w.close();
    rw.child.kill('SIGTERM');
    await new Promise((r) => rw.child.on('exit', r));
  });

  it('quire serve --http --ui serves the page beside /rpc; --read-only refuses writes', async () => {
    const s = await running(
      /inspector (http:\/\/\S+)/,
      'serve',
      '--db',
      'notes.db',
      '--http',
      '0',
      '--ui',
      '--read-only',
    );
    const url = s.match[1]!;
    expect((await fetch(url)).headers.get('content-type')).toMatch(/text\/html/);
    const c = connectHttp(`${url}rpc`);
    expect(await c.call('count', { bucket: 'notes' })).toBe(2);
    expect(
      ((await c.call('delete', { bucket: 'notes', key: 'n1' }).catch((e) => e)) as RpcError).data?.code,
    ).toBe('READ_ONLY');
    await c.close();
  });
});
