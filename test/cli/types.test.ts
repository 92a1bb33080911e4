// `quire types` on the real binary: the generated file type-checks programs
// that use it (tsc on temporary files), and rejects wrong ones.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { cliRunner } from './run.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Inside the repository, so that `import … from 'quiredb'` resolves to this package.
let dir: string;
beforeAll(() => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.tmp', 'types-'));
  writeFileSync(
    join(dir, 'schema.yaml'),
    [
      'buckets:',
      '  users:',
      '    key: id',
      '    schema:',
      '      id: { type: string, generated: uuid }',
      '      name: { type: string, required: true }',
      '      age: { type: number }',
      '      role: { type: string, enum: [admin, user], default: user }',
      '      tags: { type: array, items: { type: string } }',
      '  order-items:',
      '    key: [order, line]',
      '    schema:',
      '      order: { type: number }',
      '      line: { type: number }',
      '      qty: { type: number, required: true }',
    ].join('\n'),
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const { quire } = cliRunner(() => dir);

/** tsc on the files of `dir`; resolves with its diagnostics per file. */
function typecheck(files: readonly string[]): Promise<Map<string, string[]>> {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        customConditions: ['quiredb-source'],
        lib: ['ES2023'],
        types: ['node'],
        strict: true,
        skipLibCheck: true,
        noEmit: true,
      },
      files,
    }),
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], (_e, stdout) => {
      const byFile = new Map<string, string[]>(files.map((f) => [f, []]));
      for (const line of stdout.split('\n')) {
        const m = /^(?:.*[\\/])?([^\\/(]+)\(\d+,\d+\): error (TS\d+): (.*)$/.exec(line);
        if (m) byFile.get(m[1]!)?.push(`${m[2]} ${m[3]}`);
      }
      resolve(byFile);
    });
  });
}

const PASSING = `
import { connectHttp, connectWebSocket, spawnStdio } from 'quiredb/client';
import type { QuireSchema, UsersRecord } from './quire-types.js';

export async function main(): Promise<void> {
  const http = connectHttp<QuireSchema>('http://127.0.0.1:1/rpc');
  const users = http.bucket('users');
  const u = await users.insert({ name: 'Ann', tags: ['a'] });
  const role: 'admin' | 'user' = u.role;
  const id: string = u.id;
  const version: number = u._version;
  const adults: UsersRecord[] = await users.where({ age: { $gte: 18 }, role: 'admin' }, { sort: { name: 'asc' } });
  const line = await http.bucket('order-items').get([1, 2]);
  const qty: number | undefined = line?.qty;
  const got = await http.call('get', { bucket: 'users', key: id });
  const n: number = await http.call('count', { bucket: 'users' });
  const ws = await connectWebSocket<QuireSchema>('ws://127.0.0.1:1/');
  await ws.bucket('users').count({ name: { $startsWith: 'A' } });
  const stdio = await spawnStdio<QuireSchema>('quire', ['serve']);
  await stdio.bucket('order-items').where({ qty: { $gt: 1 } });
  console.log(role, version, adults, qty, got, n);
}
`;

/** One wrong program per "fails to compile", with the error tsc must give. */
const FAILING: Record<string, { code: string; body: string }> = {
  'unknown-bucket.ts': { code: 'TS2345', body: "http.bucket('userz');" },
  'misspelled-field.ts': { code: 'TS2561', body: "await http.bucket('users').where({ agee: 1 });" },
  'operator-type.ts': { code: 'TS2322', body: "await http.bucket('users').where({ age: { $gt: 'x' } });" },
  'enum-value.ts': {
    code: 'TS2322',
    body: "await http.bucket('users').insert({ name: 'A', role: 'owner' });",
  },
  'missing-required.ts': { code: 'TS2345', body: "await http.bucket('users').insert({ age: 3 });" },
  'sort-field.ts': {
    code: 'TS2561',
    body: "await http.bucket('users').where({}, { sort: { agee: 'asc' } });",
  },
  'unknown-method.ts': { code: 'TS2345', body: "await http.call('nope', {});" },
  'missing-params.ts': { code: 'TS2345', body: "await http.call('insert', { bucket: 'users' });" },
  'no-params.ts': { code: 'TS2554', body: "await http.call('get');" },
};

function wrap(body: string): string {
  return `import { connectHttp } from 'quiredb/client';
import type { QuireSchema } from './quire-types.js';
export async function main(): Promise<void> {
  const http = connectHttp<QuireSchema>('http://127.0.0.1:1/rpc');
  ${body}
}
`;
}

describe('quire types', () => {
  it('--schema writes record and insert types and a QuireSchema', async () => {
    const r = await quire('types', '--schema', 'schema.yaml', '--out', 'quire-types.ts');
    expect(r.stderr).toContain('wrote 2 bucket types');
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'quire-types.ts'), 'utf8');
    expect(text).toContain('role: "admin" | "user";');
    expect(text).toContain('age?: number | null;');
    expect(text).toContain('export type OrderItemsRecord');
    expect(text).toContain('"order-items": BucketTypes<OrderItemsRecord, OrderItemsInsert>;');
  });

  it('a program using the generated types compiles; each wrong one fails with the expected error', async () => {
    writeFileSync(join(dir, 'passing.ts'), PASSING);
    for (const [file, { body }] of Object.entries(FAILING)) writeFileSync(join(dir, file), wrap(body));
    const files = ['quire-types.ts', 'passing.ts', ...Object.keys(FAILING)];
    const diagnostics = await typecheck(files);
    expect(diagnostics.get('quire-types.ts')).toEqual([]);
    expect(diagnostics.get('passing.ts')).toEqual([]);
    const codes = Object.fromEntries(
      Object.keys(FAILING).map((f) => [f, diagnostics.get(f)!.map((e) => e.split(' ')[0])]),
    );
    expect(codes).toEqual(Object.fromEntries(Object.entries(FAILING).map(([f, { code }]) => [f, [code]])));
  }, 240_000);

  it('--db reads the stored definitions; the output equals that of the schema file', async () => {
    const path = join(dir, 'store.db');
    const schemaText = (await quire('types', '--schema', 'schema.yaml')).stdout;
    const store = await Store.start({ name: 'quire', persistence: { adapter: new SQLiteAdapter(path) } });
    await store.defineBucket('users', {
      key: 'id',
      schema: {
        id: { type: 'string', generated: 'uuid' },
        name: { type: 'string', required: true },
        age: { type: 'number' },
        role: { type: 'string', enum: ['admin', 'user'], default: 'user' },
        tags: { type: 'array', items: { type: 'string' } },
      },
    });
    await store.defineBucket('order-items', {
      key: ['order', 'line'],
      schema: {
        order: { type: 'number' },
        line: { type: 'number' },
        qty: { type: 'number', required: true },
      },
    });
    await store.stop();
    const r = await quire('types', '--db', 'store.db');
    expect(r.code).toBe(0);
    const strip = (t: string) => t.split('\n').slice(1).join('\n');
    expect(strip(r.stdout)).toBe(strip(schemaText));
  });

  it('exit code 2 without a source, or with a missing schema file', async () => {
    const none = await quire('types');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give either --schema FILE or --db FILE');
    const missing = await quire('types', '--schema', 'nope.yaml');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('schema file not found');
  });
});
