// Runs every ```ts example of docs/*.md as a program and checks its output
// against the `// expected` comments of its console.log lines.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const tmp = join(root, '.tmp', 'docs');

/** Code blocks of a markdown file with the heading they appear under. */
function codeBlocks(markdown: string): Array<{ heading: string; code: string }> {
  const out: Array<{ heading: string; code: string }> = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    if (line.trim() === '```ts') {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
      out.push({ heading, code: body.join('\n') });
    }
  }
  return out;
}

/** Expected output: trailing `// …` comments of lines that call console.log (and comment lines right after). */
function expectedOutput(code: string): string {
  const lines = code.split('\n');
  const expected: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.includes('console.log(')) continue;
    // The statement ends on the first line whose code ends with ';'.
    let end = i;
    while (end < lines.length - 1 && !/;\s*(\/\/.*)?$/.test(lines[end]!)) end++;
    const m = /;\s*\/\/ (.*)$/.exec(lines[end]!);
    if (m !== null) expected.push(m[1]!);
    for (let j = end + 1; j < lines.length && /^\s*\/\/ /.test(lines[j]!); j++) {
      expected.push(lines[j]!.replace(/^\s*\/\/ /, ''));
    }
    i = end;
  }
  return collapse(expected.join(' '));
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Run a doc example with `quiredb` imports pointing at the source tree. */
function runExample(name: string, code: string): string {
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, `${name}.ts`);
  const src = code.replace(/from 'quiredb(\/[a-z]+)?'/g, (_m, sub: string | undefined) => {
    const target = sub === undefined ? 'index.ts' : `${sub.slice(1)}/index.ts`;
    return `from '${join(root, 'src', target)}'`;
  });
  writeFileSync(file, src);
  return execFileSync(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    // Examples on PostgreSQL (docs/scale-out.md) use the test cluster.
    env: { ...process.env, QUIRE_PG_URL: inject('pgUrl') },
  });
}

const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));

describe('documentation examples run and print what they say', () => {
  for (const doc of docs) {
    const blocks = codeBlocks(readFileSync(join(root, 'docs', doc), 'utf8'));
    blocks.forEach((block, i) => {
      it(`${doc} #${i + 1} (${block.heading})`, () => {
        const out = runExample(`${doc.replace('.md', '')}-${i + 1}`, block.code);
        expect(collapse(out)).toBe(expectedOutput(block.code));
      });
    });
  }
  it('finds examples to run', () => {
    expect(docs.length).toBeGreaterThan(0);
  });
});
