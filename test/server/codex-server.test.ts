// End to end: the codex-server example as the editor uses it — a child
// process on stdio with a workspace — killed with SIGKILL and restarted:
// every acknowledged change is there.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcError, type StdioClient, spawnStdio } from '../../src/client/index.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/codex-server/', import.meta.url));

interface Codex {
  id: string;
  title: string;
  template_id: string | null;
  project: string;
  content: { fields: Record<string, unknown> };
  tags: string[];
  references: string[];
  metadata: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
}

let workspace: string;
beforeAll(() => {
  workspace = mkdtempSync(join(tmpdir(), 'quire-codex-'));
  cpSync(join(EXAMPLE, 'templates'), join(workspace, 'templates'), { recursive: true });
});
afterAll(() => {
  rmSync(workspace, { recursive: true, force: true });
});

const start = () =>
  spawnStdio(
    process.execPath, // The package's own source (the quiredb-source export condition), not a possibly stale dist/.
    ['--conditions=quiredb-source', '--import', 'tsx', join(EXAMPLE, 'server.ts'), '--workspace', workspace],
    {
      stderr: 'pipe',
    },
  );

/** The error a call fails with (data typed loosely for assertions). */
async function failure(p: Promise<unknown>): Promise<RpcError & { data: any }> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e) => e,
  );
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

describe('codex-server example', () => {
  let c: StdioClient;

  it('starts on a fresh workspace (the store creates its own tables under .quire/)', async () => {
    c = await start();
    expect(existsSync(join(workspace, '.quire'))).toBe(true);
    expect(await c.call('list_codices')).toEqual([]);
    expect(((await c.call('list_templates')) as Array<{ id: string }>).map((t) => t.id).sort()).toEqual([
      'character',
      'location',
      'note',
      'scene',
    ]);
  });

  it('CRUD: ids, template defaults, versions, RFC 3339 timestamps, validation', async () => {
    const hero = (await c.call('create_codex', {
      title: 'Ada',
      template_id: 'character',
      metadata: { color: 'blue' },
    })) as string;
    expect(typeof hero).toBe('string');
    const got = (await c.call('get_codex', { codex_id: hero })) as Codex;
    expect(got).toMatchObject({
      id: hero,
      title: 'Ada',
      template_id: 'character',
      project: 'default',
      content: { fields: { role: 'supporting' } },
      tags: [],
      references: [],
      metadata: { color: 'blue' },
      version: 1,
    });
    expect(got.created_at).toMatch(RFC3339);
    expect(got.updated_at).toMatch(RFC3339);

    const u = (await c.call('update_codex', {
      codex_id: hero,
      content: { fields: { name: 'Ada Lovelace', age: 36 } },
      metadata: { size: 'L' },
    })) as Codex;
    expect(u.version).toBe(2);
    expect(u.content.fields).toEqual({ role: 'supporting', name: 'Ada Lovelace', age: 36 });
    expect(u.metadata).toEqual({ color: 'blue', size: 'L' });
    expect(((await c.call('update_codex', { codex_id: hero })) as Codex).version).toBe(3);

    const invalid = await failure(
      c.call('update_codex', { codex_id: hero, content: { fields: { age: -1, role: 'hero' } } }),
    );
    expect(invalid).toBeInstanceOf(RpcError);
    expect(invalid.data.code).toBe('VALIDATION');
    expect(invalid.data.issues.map((i: { code: string }) => i.code).sort()).toEqual(['enum', 'min']);
    expect(((await c.call('get_codex', { codex_id: hero })) as Codex).version).toBe(3);

    const noTitle = await failure(c.call('create_codex', { template_id: 'note' }));
    expect(noTitle.data).toMatchObject({ code: 'VALIDATION' });
    const badTemplate = await failure(c.call('create_codex', { title: 'x', template_id: 42 }));
    expect(badTemplate.data.code).toBe('INVALID_ARGUMENT');
    const missing = await failure(c.call('get_codex', { codex_id: 'nope' }));
    expect(missing.data.code).toBe('RECORD_NOT_FOUND');

    const scene = (await c.call('create_codex', {
      title: 'Opening',
      template_id: 'scene',
      tags: ['act1'],
      references: [hero],
    })) as string;
    expect(((await c.call('get_codex', { codex_id: scene })) as Codex).references).toEqual([hero]);
    const summaries = (await c.call('list_codices')) as Array<{
      id: string;
      version: number;
      updated_at: string;
    }>;
    expect(summaries.map((s) => s.id).sort()).toEqual([hero, scene].sort());
    expect(summaries.every((s) => RFC3339.test(s.updated_at))).toBe(true);
    expect(((await c.call('list_codices', { tag: 'act1' })) as unknown[]).length).toBe(1);

    // Deleting a codex removes references to it.
    expect(await c.call('delete_codex', { codex_id: hero })).toBe(true);
    expect(((await c.call('get_codex', { codex_id: scene })) as Codex).references).toEqual([]);
    expect((await failure(c.call('delete_codex', { codex_id: hero }))).data.code).toBe('RECORD_NOT_FOUND');
  });

  it('SIGKILL during a burst of writes: after a restart every acknowledged change is there', async () => {
    // Acknowledged state, recorded as replies arrive.
    const acked = new Map<string, { title: string; version: number; deleted?: boolean }>();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = (await c.call('create_codex', {
        title: `c${i}`,
        template_id: 'note',
        tags: [`t${i % 3}`],
      })) as string;
      ids.push(id);
      acked.set(id, { title: `c${i}`, version: 1 });
    }
    const toDelete = ids[9]!;
    await c.call('delete_codex', { codex_id: toDelete });
    acked.set(toDelete, { title: '', version: 0, deleted: true });

    // Fire many updates without waiting, then kill the process mid-stream.
    const inFlight: Promise<unknown>[] = [];
    let n = 0;
    const burst = setInterval(() => {
      for (let k = 0; k < 5; k++) {
        const id = ids[n % 9]!;
        const title = `edit-${n++}`;
        inFlight.push(
          c.call('update_codex', { codex_id: id, title, content: { fields: { body: title } } }).then(
            (r) => {
              const codex = r as Codex;
              const prev = acked.get(id)!;
              if (codex.version > prev.version) acked.set(id, { title: codex.title, version: codex.version });
            },
            () => {},
          ),
        );
      }
    }, 1);
    await new Promise((r) => setTimeout(r, 300));
    await c.kill('SIGKILL');
    clearInterval(burst);
    await Promise.all(inFlight);
    const acknowledged = [...acked.values()].filter((a) => !a.deleted && a.version > 1).length;
    expect(acknowledged).toBeGreaterThan(0);

    const again = await start();
    try {
      for (const [id, a] of acked) {
        const got = (await again.call('get_codex', { codex_id: id }).catch((e: RpcError) => e)) as
          | Codex
          | RpcError;
        if (a.deleted) {
          expect((got as RpcError).data?.code).toBe('RECORD_NOT_FOUND');
          continue;
        }
        const codex = got as Codex;
        // Every acknowledged version survived (later, unacknowledged ones may have too).
        expect(codex.version).toBeGreaterThanOrEqual(a.version);
        if (codex.version === a.version) expect(codex.title).toBe(a.title);
        expect(codex.content.fields.body).toBe(codex.version === 1 ? '' : codex.title);
      }
      // Still works after the crash.
      const id = ids[0]!;
      const before = ((await again.call('get_codex', { codex_id: id })) as Codex).version;
      expect(((await again.call('update_codex', { codex_id: id, title: 'after' })) as Codex).version).toBe(
        before + 1,
      );
    } finally {
      await again.close();
    }
    expect((await again.exited).code).toBe(0);
  });

  it('refuses a second server on the same workspace, naming the holder', async () => {
    const first = await start();
    const second = await start().catch((e) => e);
    expect(second).toBeInstanceOf(Error);
    expect(second.message).toMatch(/locked for writing by process/);
    await first.close();
  });
});
