// Guards for the layout described in ARCHITECTURE.md: imports between the
// folders of src/ point down only (no cycle), go through a folder's
// index.ts, stay within what the folder map allows, and the folder map names
// exactly the folders that exist.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');
/** Files directly in src/ (src/index.ts, the package entry) belong to this pseudo-folder. */
const ROOT = '(root)';

interface Import {
  readonly from: string;
  readonly to: string;
  readonly specifier: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The top folder of src/ a file belongs to. */
function folderOf(file: string): string {
  const parts = relative(src, file).split(sep);
  return parts.length === 1 ? ROOT : parts[0]!;
}

/** Every relative import of src/ (static, type-only, re-exports and import()), resolved to a src/ file. */
function srcImports(): Import[] {
  const out: Import[] = [];
  for (const file of sourceFiles(src)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      const specifier = ref.fileName;
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
      out.push({ from: relative(src, file), to: relative(src, target), specifier });
    }
  }
  return out;
}

/**
 * The files `entry` loads at run time (`import type` / `export type` left
 * out, as TypeScript erases them) and the packages they import.
 */
function runtimeClosure(entry: string): { files: Set<string>; externals: Set<string> } {
  const files = new Set<string>();
  const externals = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const st of source.statements) {
      let specifier: ts.Expression | undefined;
      if (ts.isImportDeclaration(st)) {
        // Only `import type` is erased: with verbatimModuleSyntax, `import { type A }` stays as `import {}`.
        if (st.importClause?.isTypeOnly !== true) specifier = st.moduleSpecifier;
      } else if (ts.isExportDeclaration(st) && st.moduleSpecifier !== undefined) {
        if (!st.isTypeOnly) specifier = st.moduleSpecifier;
      }
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
      const name = specifier.text;
      if (name.startsWith('.')) visit(resolve(dirname(file), name).replace(/\.js$/, '.ts'));
      else externals.add(name);
    }
  };
  visit(entry);
  return { files, externals };
}

/** Folder → folders it imports. */
function folderGraph(imports: readonly Import[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const i of imports) {
    const a = folderOf(join(src, i.from));
    const b = folderOf(join(src, i.to));
    if (!graph.has(a)) graph.set(a, new Set());
    if (a !== b) graph.get(a)!.add(b);
  }
  return graph;
}

/** Every cycle found by a depth-first search, each as a path `a → b → … → a`. */
function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** The rows of ARCHITECTURE.md's folder map: folder → the folders it may import. */
function folderMap(): Map<string, Set<string>> {
  const text = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Code map'));
  if (section === undefined) throw new Error('ARCHITECTURE.md has no "## Code map" section');
  const map = new Map<string, Set<string>>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z-]+)\/`\s*\|(.*)\|\s*$/.exec(line);
    if (m === null) continue;
    const cells = m[2]!.split('|');
    const imports = cells[cells.length - 1]!;
    map.set(m[1]!, new Set([...imports.matchAll(/`([a-z-]+)\/`/g)].map((x) => x[1]!)));
  }
  return map;
}

describe('cycle detection', () => {
  it('finds a cycle through three folders and none in a layered graph', () => {
    const layered = new Map([
      ['store', new Set(['engine', 'history'])],
      ['history', new Set(['engine'])],
      ['engine', new Set<string>()],
    ]);
    expect(findCycles(layered)).toEqual([]);
    const circular = new Map([
      ['store', new Set(['history'])],
      ['history', new Set(['engine'])],
      ['engine', new Set(['store'])],
    ]);
    expect(findCycles(circular)).toEqual([['engine', 'store', 'history', 'engine']]);
  });
});

describe('src/ layout', () => {
  const imports = srcImports();
  const graph = folderGraph(imports);

  it('sees the imports of src/ (the parser works)', () => {
    expect(imports.length).toBeGreaterThan(100);
    expect(graph.get('store')?.has('engine')).toBe(true);
  });

  it('has no import cycle between folders', () => {
    const cycles = findCycles(graph).map((c) => c.join(' → '));
    expect(cycles).toEqual([]);
  });

  it('imports another folder only through its index.ts', () => {
    const bad = imports
      .filter((i) => {
        const a = folderOf(join(src, i.from));
        const b = folderOf(join(src, i.to));
        return a !== b && b !== ROOT && i.to !== join(b, 'index.ts');
      })
      .map((i) => `${i.from} imports ${i.specifier}`);
    expect(bad).toEqual([]);
  });

  it('imports only what ARCHITECTURE.md allows each folder to import', () => {
    const allowed = folderMap();
    const bad: string[] = [];
    for (const [folder, targets] of graph) {
      if (folder === ROOT) continue;
      for (const t of targets)
        if (t !== ROOT && !(allowed.get(folder)?.has(t) ?? false)) bad.push(`${folder}/ → ${t}/`);
    }
    expect(bad).toEqual([]);
  });

  it('the browser entries reach no Node module at run time', () => {
    for (const entry of ['client/browser.ts', 'react/index.ts']) {
      const reached = runtimeClosure(join(src, entry));
      const external = [...reached.externals].sort();
      expect(
        external.filter((x) => x !== 'react'),
        entry,
      ).toEqual([]);
      // The Node transports stay out (ws, node:http, child processes).
      for (const nodeOnly of ['client/index.ts', 'client/http.ts', 'client/websocket.ts', 'client/stdio.ts'])
        expect(reached.files.has(join(src, nodeOnly)), `${entry} reaches ${nodeOnly}`).toBe(false);
    }
  });

  it("ARCHITECTURE.md's code map names exactly the folders of src/", () => {
    const folders = readdirSync(src)
      .filter((n) => statSync(join(src, n)).isDirectory())
      .sort();
    expect([...folderMap().keys()].sort()).toEqual(folders);
  });
});
