// An editor back end on Quire: codices (documents made from
// templates) in a durable store, served as JSON-RPC methods.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  InvalidArgumentError,
  RecordNotFoundError,
  SQLiteAdapter,
  Store,
  ValidationError,
  type ValidationIssue,
} from 'quiredb';
import type { QuireServer } from 'quiredb/server';
import { fieldIssues, type Template, type TemplateRegistry } from './templates.js';

export type { Template } from './templates.js';

export const CODICES = {
  key: 'id',
  schema: {
    id: { type: 'string', generated: 'uuid' },
    title: { type: 'string', required: true, minLength: 1, maxLength: 500 },
    template_id: { type: 'string' },
    project: { type: 'string', default: 'default' },
    content: { type: 'object', default: () => ({ fields: {} }) },
    tags: { type: 'array', items: { type: 'string' }, default: () => [] },
    references: { type: 'array', items: { type: 'string' }, default: () => [] },
    metadata: { type: 'object', default: () => ({}) },
  },
  indexes: ['project', 'template_id'],
} as const;

type Row = Record<string, unknown> & { _version: number; _createdAt: number; _updatedAt: number };

/** The codex as the editor sees it: version and RFC 3339 timestamps. */
export function present(r: Row) {
  return {
    id: r.id,
    title: r.title,
    template_id: r.template_id ?? null,
    project: r.project,
    content: r.content,
    tags: r.tags,
    references: r.references,
    metadata: r.metadata,
    version: r._version,
    created_at: new Date(r._createdAt).toISOString(),
    updated_at: new Date(r._updatedAt).toISOString(),
  };
}

/**
 * Check `content.fields` against a template. `only`: check just these fields
 * (an update checks the fields it changes, so content it did not touch never
 * makes it fail, even if the template changed since).
 */
function checkFields(template: Template, fields: Record<string, unknown>, only?: ReadonlySet<string>): void {
  const issues: ValidationIssue[] = [];
  for (const [name, def] of Object.entries(template.fields)) {
    if (only !== undefined && !only.has(name)) continue;
    issues.push(...fieldIssues(name, def, fields[name]));
  }
  if (issues.length > 0) throw new ValidationError('codices', issues);
}

/** The template's defaults for fields the caller did not give. */
function withDefaults(
  template: Template | undefined,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(template?.fields ?? {})) {
    if (def.default !== undefined)
      out[name] = typeof def.default === 'function' ? def.default() : structuredClone(def.default);
  }
  return { ...out, ...fields };
}

function bad(argument: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('codex', argument, message);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Open the workspace's store: `<workspace>/.quire/codex.db`, strict durability. */
export async function openCodexStore(workspace: string): Promise<Store> {
  mkdirSync(join(workspace, '.quire'), { recursive: true });
  const store = await Store.start({
    name: 'codex',
    persistence: { adapter: new SQLiteAdapter(join(workspace, '.quire', 'codex.db')), durability: 'strict' },
  });
  await store.defineBucket('codices', CODICES);
  return store;
}

/**
 * Register the editor's methods on a server serving `store`. An unknown
 * `template_id` is stored as given, without field validation, and logged
 * (the editor decides which templates exist; a codex is never uncreatable).
 */
export function registerCodexMethods(
  server: QuireServer,
  store: Store,
  templates: TemplateRegistry,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): void {
  const codices = store.bucket('codices');

  const templateId = (id: unknown): string | undefined => {
    if (id === undefined || id === null) return undefined;
    if (typeof id !== 'string' || id === '') throw bad('template_id', 'expected a non-empty string');
    return id;
  };
  /** The template of an id, or undefined (with a warning) for an id no template has. */
  const templateOf = (id: string | undefined): Template | undefined => {
    if (id === undefined) return undefined;
    const t = templates.get(id);
    if (t === undefined)
      log(`codex-server: warning: unknown template "${id}": content.fields are not validated`);
    return t;
  };
  const fieldsOf = (content: unknown, argument: string): Record<string, unknown> | undefined => {
    if (content === undefined) return undefined;
    if (!isObj(content)) throw bad(argument, 'expected an object {fields?}');
    if (content.fields !== undefined && !isObj(content.fields))
      throw bad(`${argument}.fields`, 'expected an object');
    return (content.fields as Record<string, unknown> | undefined) ?? {};
  };
  const codexId = (p: Record<string, unknown>): string => {
    if (typeof p.codex_id !== 'string' || p.codex_id === '')
      throw bad('codex_id', 'expected a non-empty string');
    return p.codex_id;
  };
  const checkRefs = async (refs: unknown, self?: string): Promise<void> => {
    if (refs === undefined) return;
    if (!Array.isArray(refs) || refs.some((r) => typeof r !== 'string'))
      throw bad('references', 'expected a list of codex ids');
    for (const r of refs as string[]) {
      if (r === self) throw bad('references', 'a codex cannot reference itself');
      if ((await codices.get(r)) === undefined) throw bad('references', `no codex "${r}"`);
    }
  };

  server.register('create_codex', async (params: Record<string, unknown> = {}, ctx) => {
    const id = templateId(params.template_id);
    if (params.metadata !== undefined && !isObj(params.metadata)) throw bad('metadata', 'expected an object');
    const given = fieldsOf(params.content, 'content') ?? {};
    await checkRefs(params.references);
    const t = templateOf(id);
    const fields = withDefaults(t, given);
    // Create and update validate alike: the whole content of a new codex.
    if (t !== undefined) checkFields(t, fields);
    const record: Record<string, unknown> = {
      title: params.title,
      content: { ...(params.content as object | undefined), fields },
    };
    if (id !== undefined) record.template_id = id;
    for (const k of ['metadata', 'project', 'tags', 'references'] as const)
      if (params[k] !== undefined) record[k] = params[k];
    const r = await codices.insert(record, { actor: ctx.actor(params) });
    return r.id;
  });

  server.register('get_codex', async (params: Record<string, unknown> = {}) => {
    const id = codexId(params);
    const r = await codices.get(id);
    if (r === undefined) throw new RecordNotFoundError('codices', id);
    return present(r as Row);
  });

  server.register('update_codex', async (params: Record<string, unknown> = {}, ctx) => {
    const id = codexId(params);
    const current = (await codices.get(id)) as Row | undefined;
    if (current === undefined) throw new RecordNotFoundError('codices', id);
    const changes: Record<string, unknown> = {};
    if (params.title !== undefined) changes.title = params.title;
    if (params.template_id !== undefined) changes.template_id = templateId(params.template_id);
    if (params.metadata !== undefined) {
      if (!isObj(params.metadata)) throw bad('metadata', 'expected an object');
      changes.metadata = { ...(current.metadata as object), ...params.metadata };
    }
    for (const k of ['project', 'tags'] as const) if (params[k] !== undefined) changes[k] = params[k];
    if (params.references !== undefined) {
      await checkRefs(params.references, id);
      changes.references = params.references;
    }
    const given = fieldsOf(params.content, 'content');
    const currentFields = (current.content as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
    const switching = changes.template_id !== undefined && changes.template_id !== current.template_id;
    const t = templateOf((changes.template_id ?? current.template_id) as string | undefined);
    if (given !== undefined || switching) {
      // A new template brings its defaults for fields the codex does not have yet.
      const fields = { ...(switching ? withDefaults(t, currentFields) : currentFields), ...(given ?? {}) };
      changes.content = { ...(current.content as object), ...(params.content as object), fields };
      // Check what this update changes: the fields it sets, and all of them when the template changes.
      if (t !== undefined) checkFields(t, fields, switching ? undefined : new Set(Object.keys(given ?? {})));
    }
    // The version moves on every update, even when nothing else changed.
    const r = await codices.update(id, changes, { actor: ctx.actor(params) });
    return present(r as Row);
  });

  server.register('delete_codex', async (params: Record<string, unknown> = {}, ctx) => {
    const id = codexId(params);
    if ((await codices.get(id)) === undefined) throw new RecordNotFoundError('codices', id);
    // References to it from other codices are removed in the same transaction.
    await store.transaction(
      async (tx) => {
        const b = await tx.bucket('codices');
        for (const r of await b.where({ references: { $contains: id } }))
          await b.update(r.id, { references: (r.references as string[]).filter((x) => x !== id) });
        await b.delete(id);
      },
      { actor: ctx.actor(params) },
    );
    return true;
  });

  server.register('list_codices', async (params: Record<string, unknown> = {}) => {
    const filter: Record<string, unknown> = {};
    if (typeof params.project === 'string') filter.project = params.project;
    if (typeof params.template_id === 'string') filter.template_id = params.template_id;
    if (typeof params.tag === 'string') filter.tags = { $contains: params.tag };
    const rows = (await codices.where(filter, { sort: { _updatedAt: 'desc' } })) as Row[];
    return rows.map((r) => ({
      id: r.id,
      title: r.title,
      template_id: r.template_id ?? null,
      project: r.project,
      tags: r.tags,
      version: r._version,
      updated_at: new Date(r._updatedAt).toISOString(),
    }));
  });

  server.register('list_templates', () =>
    templates.all().map((t) => ({
      id: t.id,
      name: t.name,
      fields: Object.keys(t.fields),
      source: t.source,
    })),
  );
}
