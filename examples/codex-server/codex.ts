// An editor back end on Quire: codices (documents made from
// templates) in a durable store, served as JSON-RPC methods.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FieldDefinition,
  InvalidArgumentError,
  RecordNotFoundError,
  SQLiteAdapter,
  Store,
  ValidationError,
  type ValidationIssue,
} from 'quiredb';
import type { QuireServer } from 'quiredb/server';

/** A template: `<workspace>/templates/<id>.json`. Its fields use Quire's field definitions. */
export interface Template {
  readonly id: string;
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldDefinition>>;
}

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

export function loadTemplates(workspace: string): Map<string, Template> {
  const dir = join(workspace, 'templates');
  const out = new Map<string, Template>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const t = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<Template>;
    const id = t.id ?? f.slice(0, -5);
    out.set(id, { id, name: t.name ?? id, fields: t.fields ?? {} });
  }
  return out;
}

/** Check `content.fields` against a template (type, required, enum, min/max, lengths). */
function checkFields(template: Template, fields: Record<string, unknown>): void {
  const issues: ValidationIssue[] = [];
  for (const [name, def] of Object.entries(template.fields)) {
    const v = fields[name];
    const field = `content.fields.${name}`;
    if (v === undefined || v === null) {
      if (def.required === true) issues.push({ field, message: 'Field is required', code: 'required' });
      continue;
    }
    const type = Array.isArray(v) ? 'array' : typeof v;
    if (type !== def.type) {
      issues.push({ field, message: `Expected ${def.type}, got ${type}`, code: 'type' });
      continue;
    }
    if (def.enum !== undefined && !def.enum.includes(v))
      issues.push({ field, message: `Must be one of: ${def.enum.join(', ')}`, code: 'enum' });
    if (typeof v === 'number') {
      if (def.min !== undefined && v < def.min)
        issues.push({ field, message: `Minimum is ${def.min}`, code: 'min' });
      if (def.max !== undefined && v > def.max)
        issues.push({ field, message: `Maximum is ${def.max}`, code: 'max' });
    }
    if (typeof v === 'string') {
      if (def.minLength !== undefined && v.length < def.minLength)
        issues.push({ field, message: `Minimum length is ${def.minLength}`, code: 'minLength' });
      if (def.maxLength !== undefined && v.length > def.maxLength)
        issues.push({ field, message: `Maximum length is ${def.maxLength}`, code: 'maxLength' });
    }
  }
  if (issues.length > 0) throw new ValidationError('codices', issues);
}

function initialFields(template: Template | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(template?.fields ?? {})) {
    if (def.default !== undefined)
      fields[name] = typeof def.default === 'function' ? def.default() : def.default;
  }
  return fields;
}

function bad(argument: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('codex', argument, message);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Open the workspace's store: `<workspace>/.quire/codex.db`, strict durability. */
export async function openCodexStore(workspace: string): Promise<Store> {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(workspace, '.quire'), { recursive: true });
  const store = await Store.start({
    name: 'codex',
    persistence: { adapter: new SQLiteAdapter(join(workspace, '.quire', 'codex.db')), durability: 'strict' },
  });
  await store.defineBucket('codices', CODICES);
  return store;
}

/** Register the editor's methods on a server serving `store`. */
export function registerCodexMethods(
  server: QuireServer,
  store: Store,
  templates: Map<string, Template>,
): void {
  const codices = store.bucket('codices');

  const template = (id: unknown): Template | undefined => {
    if (id === undefined || id === null) return undefined;
    if (typeof id !== 'string') throw bad('template_id', 'expected a string');
    const t = templates.get(id);
    if (t === undefined)
      throw bad(
        'template_id',
        `unknown template "${id}" (known: ${[...templates.keys()].join(', ') || 'none'})`,
      );
    return t;
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
    const t = template(params.template_id);
    if (params.metadata !== undefined && !isObj(params.metadata)) throw bad('metadata', 'expected an object');
    await checkRefs(params.references);
    const record: Record<string, unknown> = {
      title: params.title,
      content: { fields: initialFields(t) },
    };
    if (t !== undefined) record.template_id = t.id;
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
    if (params.template_id !== undefined) changes.template_id = template(params.template_id)?.id;
    if (params.metadata !== undefined) {
      if (!isObj(params.metadata)) throw bad('metadata', 'expected an object');
      changes.metadata = { ...(current.metadata as object), ...params.metadata };
    }
    for (const k of ['project', 'tags'] as const) if (params[k] !== undefined) changes[k] = params[k];
    if (params.references !== undefined) {
      await checkRefs(params.references, id);
      changes.references = params.references;
    }
    if (params.content !== undefined) {
      if (!isObj(params.content)) throw bad('content', 'expected an object');
      const fields = params.content.fields;
      if (fields !== undefined && !isObj(fields)) throw bad('content.fields', 'expected an object');
      changes.content = {
        ...(current.content as object),
        ...params.content,
        fields: { ...((current.content as { fields?: object }).fields ?? {}), ...(fields ?? {}) },
      };
    }
    const t = template((changes.template_id ?? current.template_id) as string | undefined);
    if (t !== undefined)
      checkFields(t, ((changes.content ?? current.content) as { fields: Record<string, unknown> }).fields);
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
    [...templates.values()].map((t) => ({ id: t.id, name: t.name, fields: Object.keys(t.fields) })),
  );
}
