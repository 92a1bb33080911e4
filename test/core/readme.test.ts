// Runs the README quick start exactly as written. The block imports from
// 'quiredb'; the package's self-reference resolves to the sources through the
// `quiredb-source` export condition, so no build is needed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/** The first ```ts block after a "Quick start" heading. */
function quickStart(markdown: string): string {
  const heading = /^#{1,6}\s+Quick start\s*$/im.exec(markdown);
  if (heading === null) throw new Error('README.md has no "Quick start" heading');
  const rest = markdown.slice(heading.index + heading[0].length);
  const block = /^```(?:ts|typescript)\s*\n([\s\S]*?)^```/m.exec(rest);
  if (block === null) throw new Error('no ```ts block under "Quick start"');
  return block[1]!;
}

/** Output the README promises: trailing `// …` comments on code lines, in order. */
function expectedOutput(code: string): string[] {
  const out: string[] = [];
  for (const line of code.split('\n')) {
    const m = /^(\s*\S.*?);\s*\/\/\s*(.+)$/.exec(line);
    if (m !== null) out.push(m[2]!.trim());
  }
  return out;
}

describe('README quick start', () => {
  it('runs as written and prints what the README says', async () => {
    const readme = join(root, 'README.md');
    expect(existsSync(readme), 'README.md must exist').toBe(true);
    const code = quickStart(readFileSync(readme, 'utf8'));
    expect(code).toMatch(/from 'quiredb'/);
    const expected = expectedOutput(code);
    expect(expected.length).toBeGreaterThan(0);

    const dir = join(root, '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `readme-quickstart-${process.pid}.ts`);
    writeFileSync(file, code);
    try {
      const { stdout } = await run(
        process.execPath,
        [join(root, 'node_modules/tsx/dist/cli.mjs'), '--conditions=quiredb-source', file],
        { cwd: root, timeout: 20_000 },
      );
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => l.trim());
      expect(lines).toEqual(expected);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('the extractor finds the block and expectations', () => {
    const md = '# X\n\n## Quick start\n\nText\n\n```ts\nconsole.log(1); // 1\n// note\nf(); // done\n```\n';
    const code = quickStart(md);
    expect(code).toBe('console.log(1); // 1\n// note\nf(); // done\n');
    expect(expectedOutput(code)).toEqual(['1', 'done']);
    expect(() => quickStart('# nothing here')).toThrow(/Quick start/);
  });
});
