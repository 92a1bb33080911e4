// Codex templates: the built-in ones shipped next to this file (templates/),
// which every workspace has, and the workspace's own
// `<workspace>/templates/*.json`, which override built-ins of the same id or
// add new ones. A file that cannot be used is skipped with one log line
// naming the file and the field; the server keeps running. The workspace
// folder is watched, so edits take effect without a restart.
import { existsSync, type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FieldDefinition } from 'quiredb';

/** A template: `{id, name, fields}`; `fields` use Quire's field definitions (a JSON subset). */
export interface Template {
  readonly id: string;
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldDefinition>>;
  /** Where it comes from: `built-in`, or the workspace file's path. */
  readonly source: string;
}

export const BUILTIN_DIR = fileURLToPath(new URL('./templates/', import.meta.url));

const TYPES = ['string', 'number', 'boolean', 'object', 'array', 'date'] as const;
/** The field options a template file may use, and what each must be. */
const OPTIONS: Record<string, (v: unknown) => string | undefined> = {
  type: () => undefined, // checked first, on its own
  required: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'),
  enum: (v) => (Array.isArray(v) && v.length > 0 ? undefined : 'must be a non-empty list'),
  min: (v) => (typeof v === 'number' ? undefined : 'must be a number'),
  max: (v) => (typeof v === 'number' ? undefined : 'must be a number'),
  minLength: (v) => (Number.isInteger(v) && (v as number) >= 0 ? undefined : 'must be an integer >= 0'),
  maxLength: (v) => (Number.isInteger(v) && (v as number) >= 0 ? undefined : 'must be an integer >= 0'),
  pattern: (v) => {
    if (typeof v !== 'string') return 'must be a regular expression (a string)';
    try {
      new RegExp(v);
      return undefined;
    } catch (e) {
      return `is not a valid regular expression: ${(e as Error).message}`;
    }
  },
  default: () => undefined, // checked against the field below
  description: (v) => (typeof v === 'string' ? undefined : 'must be a string'),
};

/** A template file that cannot be used: names the file and, when known, the field. */
export class TemplateFileError extends Error {
  readonly file: string;
  readonly field: string | undefined;
  constructor(file: string, field: string | undefined, problem: string) {
    super(`template file ${file}: ${field !== undefined ? `${field}: ` : ''}${problem}`);
    this.name = 'TemplateFileError';
    this.file = file;
    this.field = field;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Check a template file's content; returns the template or throws TemplateFileError. */
export function parseTemplate(file: string, text: string, fallbackId: string, source: string): Template {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TemplateFileError(file, undefined, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(doc)) throw new TemplateFileError(file, undefined, 'expected an object {id, name, fields}');
  for (const k of Object.keys(doc))
    if (!['id', 'name', 'fields', 'description'].includes(k))
      throw new TemplateFileError(file, k, 'unknown key (a template has id, name, fields)');
  if (doc.id !== undefined && (typeof doc.id !== 'string' || doc.id === ''))
    throw new TemplateFileError(file, 'id', 'must be a non-empty string');
  if (doc.name !== undefined && typeof doc.name !== 'string')
    throw new TemplateFileError(file, 'name', 'must be a string');
  if (doc.fields !== undefined && !isObj(doc.fields))
    throw new TemplateFileError(file, 'fields', 'must be an object of field definitions');
  const fields: Record<string, FieldDefinition> = {};
  for (const [name, def] of Object.entries((doc.fields ?? {}) as Record<string, unknown>)) {
    const where = `fields.${name}`;
    if (!isObj(def)) throw new TemplateFileError(file, where, 'must be a field definition {type, …}');
    if (!TYPES.includes(def.type as never))
      throw new TemplateFileError(
        file,
        `${where}.type`,
        `unknown type ${JSON.stringify(def.type)} (use ${TYPES.join(', ')})`,
      );
    for (const [k, v] of Object.entries(def)) {
      const check = OPTIONS[k];
      if (check === undefined)
        throw new TemplateFileError(
          file,
          `${where}.${k}`,
          `unknown option (use ${Object.keys(OPTIONS).join(', ')})`,
        );
      const problem = check(v);
      if (problem !== undefined) throw new TemplateFileError(file, `${where}.${k}`, problem);
    }
    if (def.default !== undefined) {
      const issues = fieldIssues(name, def as unknown as FieldDefinition, def.default);
      if (issues.length > 0)
        throw new TemplateFileError(
          file,
          `${where}.default`,
          `does not fit the field: ${issues[0]!.message}`,
        );
    }
    fields[name] = def as unknown as FieldDefinition;
  }
  const id = (doc.id as string | undefined) ?? fallbackId;
  return { id, name: (doc.name as string | undefined) ?? id, fields, source };
}

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
  readonly code: string;
}

/** Problems of one value against its field definition (type, enum, min/max, lengths, pattern). */
export function fieldIssues(name: string, def: FieldDefinition, v: unknown): FieldIssue[] {
  const field = `content.fields.${name}`;
  if (v === undefined || v === null)
    return def.required === true ? [{ field, message: 'Field is required', code: 'required' }] : [];
  const type = Array.isArray(v) ? 'array' : typeof v;
  const expected = def.type === 'date' ? 'string' : def.type;
  if (type !== expected) return [{ field, message: `Expected ${def.type}, got ${type}`, code: 'type' }];
  const issues: FieldIssue[] = [];
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
    if (def.pattern !== undefined && !new RegExp(def.pattern).test(v))
      issues.push({ field, message: `Must match ${def.pattern}`, code: 'pattern' });
  }
  return issues;
}

/** Templates of one folder; bad files are reported through `onError` and skipped. */
function loadFolder(dir: string, source: (file: string) => string, onError: (e: Error) => void): Template[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const out: Template[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const path = join(dir, f);
    try {
      out.push(parseTemplate(source(f), readFileSync(path, 'utf8'), f.slice(0, -5), source(f)));
    } catch (e) {
      // A file removed between listing and reading is simply gone.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      onError(e as Error);
    }
  }
  return out;
}

export interface TemplateRegistryOptions {
  /** Log lines (stderr in the server). */
  readonly log: (line: string) => void;
  /** Built-in templates folder. Default: templates/ next to this file. */
  readonly builtinDir?: string;
}

/** Built-in and workspace templates, reloaded when the workspace folder changes. */
export class TemplateRegistry {
  readonly workspaceDir: string;
  readonly #builtin: Map<string, Template>;
  readonly #log: (line: string) => void;
  #templates = new Map<string, Template>();
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #listeners: Array<() => void> = [];

  constructor(workspace: string, options: TemplateRegistryOptions) {
    this.workspaceDir = join(workspace, 'templates');
    this.#log = options.log;
    const builtin = loadFolder(
      options.builtinDir ?? BUILTIN_DIR,
      () => 'built-in',
      (e) => this.#log(`codex-server: ${e.message}`),
    );
    this.#builtin = new Map(builtin.map((t) => [t.id, t]));
    this.reload();
  }

  get size(): number {
    return this.#templates.size;
  }

  get(id: string): Template | undefined {
    return this.#templates.get(id);
  }

  all(): Template[] {
    return [...this.#templates.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Read the workspace folder again; bad files are logged and skipped. */
  reload(): void {
    const next = new Map(this.#builtin);
    const errors: Error[] = [];
    for (const t of loadFolder(
      this.workspaceDir,
      (f) => `templates/${f}`,
      (e) => errors.push(e),
    ))
      next.set(t.id, t);
    for (const e of errors) this.#log(`codex-server: ${e.message} (file skipped)`);
    this.#templates = next;
    for (const l of this.#listeners) l();
  }

  /** Called after every reload (tests, logs). */
  onReload(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Watch the workspace for template changes: the templates folder itself
   * and the workspace (for the folder being created, removed or renamed).
   */
  watch(): void {
    const schedule = () => {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      // Editors write a file in several steps: reload once they are done.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#attach();
        this.reload();
        this.#log(`codex-server: templates reloaded (${this.size})`);
      }, 50);
    };
    this.#schedule = schedule;
    const parent = join(this.workspaceDir, '..');
    const w = watch(parent, (_event, name) => {
      if (name === null || String(name) === 'templates') schedule();
    });
    w.on('error', () => {});
    this.#watchers.push(w);
    this.#attach();
  }

  #schedule: (() => void) | undefined;
  #folderWatcher: FSWatcher | undefined;

  #folderIno: number | undefined;

  /** Watch the templates folder when it exists (again, if it was replaced by a new one). */
  #attach(): void {
    const ino = existsSync(this.workspaceDir) ? statSync(this.workspaceDir).ino : undefined;
    if (ino === this.#folderIno && (ino === undefined || this.#folderWatcher !== undefined)) return;
    this.#folderWatcher?.close();
    this.#folderWatcher = undefined;
    this.#folderIno = ino;
    if (ino === undefined) return;
    try {
      const w = watch(this.workspaceDir, () => this.#schedule?.());
      w.on('error', () => {
        w.close();
        if (this.#folderWatcher === w) this.#folderWatcher = undefined;
      });
      this.#folderWatcher = w;
    } catch {
      // Removed in the meantime: the workspace watcher sees it come back.
      this.#folderIno = undefined;
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#folderWatcher?.close();
    this.#watchers = [];
  }
}
