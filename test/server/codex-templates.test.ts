// The codex-server example on a fresh workspace, as the editor first meets
// it: built-in templates, template_id "character" with no templates folder,
// create with content, updates that touch only what they change, unknown and
// removed templates, bad template files, and templates reloaded on change.
// Every test talks to the real server process over stdio.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type RpcError, type StdioClient, spawnStdio } from '../../src/client/index.js';
import { until } from './fixture.js';

const SERVER = fileURLToPath(new URL('../../examples/codex-server/server.ts', import.meta.url));

interface Codex {
  id: string;
  title: string;
  template_id: string | null;
  content: { fields: Record<string, unknown> };
  version: number;
}

const open: Array<{ c: StdioClient; dir: string }> = [];
afterEach(async () => {
  for (const { c, dir } of open.splice(0)) {
    await c.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

async function fresh(setup?: (dir: string) => void): Promise<{ c: StdioClient; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-codex-fresh-'));
  setup?.(dir);
  const c = await spawnStdio(
    process.execPath,
    ['--conditions=quiredb-source', '--import', 'tsx', SERVER, '--workspace', dir],
    {
      stderr: 'pipe',
    },
  );
  open.push({ c, dir });
  return { c, dir };
}

async function failure(p: Promise<unknown>): Promise<RpcError & { data: any }> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e) => e,
  );
}

const writeTemplate = (dir: string, file: string, body: unknown) => {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'templates', file), typeof body === 'string' ? body : JSON.stringify(body));
};

const ids = async (c: StdioClient) =>
  ((await c.call('list_templates')) as Array<{ id: string }>).map((t) => t.id).sort();

describe('codex-server on a fresh workspace', () => {
  it('has built-in templates: create_codex with template_id "character" works with no templates folder', async () => {
    const { c } = await fresh();
    expect(await ids(c)).toEqual(['character', 'location', 'note', 'scene']);
    const id = (await c.call('create_codex', { title: 'Ada', template_id: 'character' })) as string;
    const ada = (await c.call('get_codex', { codex_id: id })) as Codex;
    expect(ada).toMatchObject({ title: 'Ada', template_id: 'character', version: 1 });
    expect(ada.content.fields).toEqual({ role: 'supporting' });
    // The README's second request.
    const u = (await c.call('update_codex', {
      codex_id: id,
      content: { fields: { name: 'Ada Lovelace' } },
    })) as Codex;
    expect(u.content.fields).toEqual({ role: 'supporting', name: 'Ada Lovelace' });
    for (const t of ['scene', 'location', 'note'])
      expect(typeof (await c.call('create_codex', { title: t, template_id: t }))).toBe('string');
  });

  it('create_codex takes content, applies defaults and validates like update', async () => {
    const { c } = await fresh((dir) =>
      writeTemplate(dir, 'quest.json', {
        name: 'Quest',
        fields: {
          goal: { type: 'string', required: true },
          stakes: { type: 'string', enum: ['low', 'high'], default: 'low' },
        },
      }),
    );
    expect(await ids(c)).toContain('quest');
    // A required field is required on create as on update.
    const missing = await failure(c.call('create_codex', { title: 'Q', template_id: 'quest' }));
    expect(missing.data.code).toBe('VALIDATION');
    expect(missing.data.issues).toEqual([
      expect.objectContaining({ field: 'content.fields.goal', code: 'required' }),
    ]);
    const badEnum = await failure(
      c.call('create_codex', {
        title: 'Q',
        template_id: 'quest',
        content: { fields: { goal: 'x', stakes: 'mid' } },
      }),
    );
    expect(badEnum.data.issues.map((i: { code: string }) => i.code)).toEqual(['enum']);
    const id = (await c.call('create_codex', {
      title: 'Q',
      template_id: 'quest',
      content: { fields: { goal: 'find the map' } },
    })) as string;
    const q = (await c.call('get_codex', { codex_id: id })) as Codex;
    expect(q.content.fields).toEqual({ stakes: 'low', goal: 'find the map' });
    // Clearing a required field fails; other edits work.
    const cleared = await failure(
      c.call('update_codex', { codex_id: id, content: { fields: { goal: null } } }),
    );
    expect(cleared.data.code).toBe('VALIDATION');
    expect(((await c.call('update_codex', { codex_id: id, title: 'Quest 1' })) as Codex).version).toBe(2);
  });

  it('an update that does not touch content never fails on content it did not change', async () => {
    const { c, dir } = await fresh((d) =>
      writeTemplate(d, 'item.json', { fields: { weight: { type: 'number' } } }),
    );
    const id = (await c.call('create_codex', { title: 'Sword', template_id: 'item' })) as string;
    // The template later gets a required field the codex does not have.
    writeTemplate(dir, 'item.json', {
      fields: { weight: { type: 'number' }, material: { type: 'string', required: true } },
    });
    await until(() => c.stderrText.includes('templates reloaded'), 10_000);
    expect(((await c.call('update_codex', { codex_id: id, title: 'Blade' })) as Codex).title).toBe('Blade');
    expect(
      ((await c.call('update_codex', { codex_id: id, content: { fields: { weight: 3 } } })) as Codex).content
        .fields,
    ).toEqual({ weight: 3 });
    // A change to a field is still checked.
    const bad = await failure(c.call('update_codex', { codex_id: id, content: { fields: { weight: 'x' } } }));
    expect(bad.data.issues.map((i: { field: string }) => i.field)).toEqual(['content.fields.weight']);
  });

  it('an unknown template_id is stored as given, without validation, with a warning on stderr', async () => {
    const { c } = await fresh();
    const id = (await c.call('create_codex', {
      title: 'Smaug',
      template_id: 'dragon',
      content: { fields: { wingspan: 'huge' } },
    })) as string;
    const d = (await c.call('get_codex', { codex_id: id })) as Codex;
    expect(d.template_id).toBe('dragon');
    expect(d.content.fields).toEqual({ wingspan: 'huge' });
    expect(c.stderrText).toMatch(/warning: unknown template "dragon"/);
    expect(((await c.call('list_codices', { template_id: 'dragon' })) as unknown[]).length).toBe(1);
  });

  it('removing a template file leaves its codices editable; templates reload when the folder changes', async () => {
    const { c, dir } = await fresh((d) =>
      writeTemplate(d, 'spell.json', { name: 'Spell', fields: { mana: { type: 'number', required: true } } }),
    );
    const id = (await c.call('create_codex', {
      title: 'Fireball',
      template_id: 'spell',
      content: { fields: { mana: 5 } },
    })) as string;
    unlinkSync(join(dir, 'templates', 'spell.json'));
    await until(() => c.stderrText.includes('templates reloaded'), 10_000);
    await untilAsync(async () => !(await ids(c)).includes('spell'));
    const u = (await c.call('update_codex', {
      codex_id: id,
      title: 'Fireball II',
      content: { fields: { mana: 'lots' } },
    })) as Codex;
    expect(u).toMatchObject({ title: 'Fireball II', template_id: 'spell', version: 2 });

    // A new file is picked up without a restart, and so is an override of a built-in.
    writeTemplate(dir, 'weapon.json', { name: 'Weapon', fields: { damage: { type: 'number', min: 0 } } });
    writeTemplate(dir, 'note.json', { name: 'My note', fields: { body: { type: 'string', maxLength: 3 } } });
    await untilAsync(async () => (await ids(c)).includes('weapon'));
    const bad = await failure(
      c.call('create_codex', { title: 'Axe', template_id: 'weapon', content: { fields: { damage: -1 } } }),
    );
    expect(bad.data.issues[0].code).toBe('min');
    await untilAsync(async () =>
      ((await c.call('list_templates')) as Array<{ id: string; name: string }>).some(
        (t) => t.id === 'note' && t.name === 'My note',
      ),
    );
    const long = await failure(
      c.call('create_codex', { title: 'n', template_id: 'note', content: { fields: { body: 'long' } } }),
    );
    expect(long.data.issues[0].code).toBe('maxLength');
    // Removing the override brings the built-in back.
    unlinkSync(join(dir, 'templates', 'note.json'));
    await untilAsync(async () =>
      ((await c.call('list_templates')) as Array<{ id: string; name: string }>).some(
        (t) => t.id === 'note' && t.name === 'Note',
      ),
    );
  });

  it('a bad template file is skipped with an error naming the file and field; the server keeps running', async () => {
    const { c, dir } = await fresh((d) => {
      writeTemplate(d, 'broken.json', '{"name": "Broken", "fields": {');
      writeTemplate(d, 'typo.json', { name: 'Typo', fields: { title: { type: 'strin' } } });
      writeTemplate(d, 'option.json', { fields: { n: { type: 'number', minimum: 3 } } });
      writeTemplate(d, 'good.json', { name: 'Good', fields: { n: { type: 'number' } } });
    });
    expect(await ids(c)).toEqual(['character', 'good', 'location', 'note', 'scene']);
    const err = c.stderrText;
    expect(err).toMatch(/template file templates\/broken\.json: not valid JSON .*\(file skipped\)/);
    expect(err).toMatch(
      /template file templates\/typo\.json: fields\.title\.type: unknown type "strin" \(use string, number, boolean, object, array, date\)/,
    );
    expect(err).toMatch(/template file templates\/option\.json: fields\.n\.minimum: unknown option/);
    // Fixing a file while the server runs makes it usable.
    writeTemplate(dir, 'typo.json', { name: 'Typo', fields: { title: { type: 'string' } } });
    await untilAsync(async () => (await ids(c)).includes('typo'));
    // Breaking a file while the server runs: logged, skipped, the server goes on.
    writeTemplate(dir, 'good.json', '{ nope');
    await untilAsync(async () => !(await ids(c)).includes('good'));
    expect(c.stderrText).toMatch(/templates\/good\.json: not valid JSON/);
    expect(await c.call('ping')).toBe('pong');
  });
});

/** Poll an async condition (templates reload after a short delay). */
async function untilAsync(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
