// The SQLite writer thread runs UnitWriter and MultiRowInsert from their own
// source text. Tests import the TypeScript source (through vitest), but users
// run what tsc emits, where a class can come out referring to itself through a
// variable outside its body. This compiles the package as `npm run build`
// does and drives the threads of the compiled code: the writer's large
// commits of inserts, updates through known row positions and through the
// key index, and a restore through the reader thread.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToEnd } from '../child-output.js';

const root = resolve(import.meta.dirname, '..', '..');
let out: string;

beforeAll(() => {
  // Inside the repository, so the compiled files resolve this repository's dependencies.
  out = mkdtempSync(join(root, 'node_modules', '.cache-built-'));
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out],
    {
      cwd: root,
      stdio: 'pipe',
    },
  );
}, 120_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

const program = (index: string, file: string) => `
  const { Store, SQLiteAdapter } = await import(${JSON.stringify(index)});
  const errors = [];
  const def = { key: 'id', schema: { id: { type: 'number' }, v: { type: 'string' } } };
  const open = async (adapter) => {
    const s = await Store.start({ name: 's', persistence: { adapter, onError: (e) => errors.push(e.message) } });
    return { s, b: await s.defineBucket('b', def) };
  };
  let adapter = new SQLiteAdapter(${JSON.stringify(file)});
  let { s, b } = await open(adapter);
  // The first large unit commits on the main thread and starts the writer thread.
  await b.insertMany(Array.from({ length: 5000 }, (_, i) => ({ id: i, v: 'a' + i })));
  await s.flush();
  // Large units on the thread: multi-row inserts, and updates the thread learns positions for.
  await b.insertMany(Array.from({ length: 5000 }, (_, i) => ({ id: 5000 + i, v: 'a' + (5000 + i) })));
  await s.flush();
  for (let i = 0; i < 10000; i += 3) await b.update(i, { v: 'b' + i });
  await s.flush();
  const threadCommits = adapter.writerThreadCommits;
  await s.stop();
  // A new adapter: its thread knows no positions and scans for them.
  adapter = new SQLiteAdapter(${JSON.stringify(file)});
  ({ s, b } = await open(adapter));
  await b.insert({ id: 100000, v: 'start' });
  await s.flush();
  // The first large unit commits here and starts the thread; the thread scans for the second's rows.
  for (let i = 1; i < 5000; i += 2) await b.update(i, { v: 'c' + i });
  await s.flush();
  for (let i = 5001; i < 10000; i += 2) await b.update(i, { v: 'c' + i });
  await s.flush();
  const threadCommits2 = adapter.writerThreadCommits;
  const all = await b.all();
  await s.stop();
  ({ s, b } = await open(new SQLiteAdapter(${JSON.stringify(file)})));
  const stored = await b.all();
  // Big enough for a restore through the reader thread (also run from its own source text).
  await b.insertMany(Array.from({ length: 40000 }, (_, i) => ({ id: 200000 + i, v: 'x'.repeat(100) + i })));
  await s.stop();
  const reader = new SQLiteAdapter(${JSON.stringify(file)});
  ({ s, b } = await open(reader));
  const restored = await b.count();
  const readerChunks = reader.readerThreadChunks;
  await s.stop();
  const expected = (i) => (i % 2 === 1 ? 'c' + i : i % 3 === 0 ? 'b' + i : 'a' + i);
  console.log(JSON.stringify({
    errors,
    threadCommits,
    threadCommits2,
    count: stored.length,
    restored,
    readerChunks,
    wrong: stored.filter((r) => r.id < 10000 && r.v !== expected(r.id)).length,
    sameAsMemory: JSON.stringify(stored.map((r) => [r.id, r.v])) === JSON.stringify(all.map((r) => [r.id, r.v])),
  }));
`;

describe('the compiled package', () => {
  it('commits large units on its writer thread and restores through its reader thread, each from its own copy of the code', async () => {
    const file = join(mkdtempSync(join(root, 'node_modules', '.cache-built-db-')), 'w.db');
    try {
      const child = await runToEnd(
        spawn(process.execPath, ['--input-type=module', '-e', program(join(out, 'index.js'), file)]),
      );
      expect(child.code).toBe(0);
      expect(child.stderr).toBe('');
      const r = JSON.parse(child.stdout.trim()) as Record<string, unknown>;
      expect(r.errors).toEqual([]);
      expect(r.threadCommits).toBeGreaterThanOrEqual(2);
      expect(r.threadCommits2).toBeGreaterThanOrEqual(1);
      expect(r.count).toBe(10_001);
      expect(r.restored).toBe(50_001);
      expect(r.readerChunks).toBeGreaterThan(0);
      expect(r.wrong).toBe(0);
      expect(r.sameAsMemory).toBe(true);
    } finally {
      rmSync(resolve(file, '..'), { recursive: true, force: true });
    }
  }, 120_000);
});
