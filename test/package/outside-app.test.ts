// The package as a user meets it: `npm pack` (prepare builds dist/), a fresh
// app made the way the README's Install section says, the tarball installed
// into it, and the README's quick start, serve command and client snippet
// run there as written (only the port is replaced by a free one).
//
// The install happens once, in beforeAll, for every test of this file.
// Installing compiles better-sqlite3 from source (one to two minutes), so the
// app's node_modules is pre-seeded with this repository's already compiled
// better-sqlite3 and tsx before `npm install <tarball> --prefer-offline`; npm
// keeps those copies. Everything of quiredb itself comes from the tarball.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchOutput } from '../child-output.js';

const root = resolve(import.meta.dirname, '..', '..');
const README = readFileSync(join(root, 'README.md'), 'utf8');

// Nested npm commands must not inherit the settings of an `npm test` around this run.
const ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)),
);

/** Code blocks (```lang) of the README section with this heading. */
function blocks(heading: string, lang: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
}

/** Shell commands of a block, comments removed. */
const commands = (block: string) =>
  block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '');

/**
 * The `// expected` comments of console.log lines and of `store.settle()`
 * lines (where callbacks print), as one collapsed string.
 */
function expectedOutput(code: string): string {
  return collapse(
    code
      .split('\n')
      .filter((l) => l.includes('console.log(') || l.includes('.settle();'))
      .map((l) => /;\s*\/\/ (.*)$/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .join(' '),
  );
}
const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();

function run(cwd: string, command: string, args: string[]): string {
  return execFileSync(command, args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a README shell line in the app (split on spaces: the README's lines have no quoting). */
function sh(cwd: string, line: string): string {
  const [cmd, ...args] = line.split(/\s+/);
  return run(cwd, cmd!, args);
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

let work: string;
let app: string;
let packed: { filename: string; files: Array<{ path: string }> };
const children: ChildProcess[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'quire-outside-'));
  app = join(work, 'app');
  mkdirSync(app);
  // `npm pack` runs prepare, which builds dist/.
  packed = JSON.parse(run(root, 'npm', ['pack', '--json', '--pack-destination', work]))[0];
  const tarball = join(work, packed.filename);

  const [install] = blocks('Install', 'sh');
  const steps = commands(install!);
  expect(steps).toContain('npm install quiredb');
  for (const step of steps) {
    if (step === 'npm install quiredb') {
      // Pre-seeded, already compiled: better-sqlite3 (and tsx for the quick start). See the header.
      for (const dep of ['better-sqlite3', 'tsx', 'esbuild', `@esbuild/${process.platform}-${process.arch}`])
        cpSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), {
          recursive: true,
          dereference: true,
        });
      run(app, 'npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund']);
    } else sh(app, step);
  }
}, 900_000);

afterAll(() => {
  for (const c of children)
    if (c.pid !== undefined)
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed package in an outside app', () => {
  it('ships dist/, bin/, docs/, LICENSE; exports point to dist/; the app is set up as the README says', {
    timeout: 120_000,
  }, () => {
    const files = packed.files.map((f) => f.path);
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/quire.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/server/index.js',
      'dist/client/index.js',
      'dist/bridge/index.js',
      'dist/cli/index.js',
      'docs/guide.md',
      'docs/cli.md',
      'docs/server.md',
    ])
      expect(files, f).toContain(f);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);

    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'quiredb', 'package.json'), 'utf8'));
    expect(pkg.license).toBe('MIT');
    for (const [sub, target] of Object.entries(pkg.exports as Record<string, { import: string }>)) {
      expect(target.import, sub).toMatch(/^\.\/dist\/.*\.js$/);
      expect(existsSync(join(app, 'node_modules', 'quiredb', target.import)), sub).toBe(true);
    }
    const appPkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    expect(appPkg.type).toBe('module');
    expect(appPkg.allowScripts?.['better-sqlite3']).toBe(true);
    // npm 11 would build better-sqlite3 on a machine without the pre-seeded copy.
    expect(run(app, 'npm', ['install-scripts', 'ls'])).not.toMatch(/better-sqlite3/);
  });

  it('npm install on a fresh clone leaves the committed package-lock.json as it is', {
    timeout: 300_000,
  }, () => {
    // The lockfile npm computes for the committed package.json (the npm CI uses). A full
    // `npm install` computes the same one, but compiles better-sqlite3 for minutes.
    const clone = join(work, 'clone');
    run(work, 'git', ['clone', '--quiet', root, clone]);
    run(clone, 'npm', [
      'install',
      '--package-lock-only',
      '--ignore-scripts',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
    ]);
    expect(run(clone, 'git', ['status', '--porcelain'])).toBe('');
  });

  it('README, docs and examples describe behaviour instead of citing the spec', () => {
    const texts = [join(root, 'README.md')];
    for (const f of packed.files.map((x) => x.path).filter((p) => p.startsWith('docs/')))
      texts.push(join(root, f));
    for (const f of ['examples/codex-server/README.md', 'examples/namespace-config/README.md'])
      texts.push(join(root, f));
    for (const file of texts) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/\bSPEC\b|§\s*\d|\b[CP]-\d+\b/);
    }
  });

  it('the README quick start runs with `npx tsx app.ts`, and as plain JavaScript with node', {
    timeout: 300_000,
  }, () => {
    const [code] = blocks('Quick start', 'ts');
    const [runBlock] = blocks('Quick start', 'sh');
    const steps = commands(runBlock!);
    expect(steps).toEqual(['npm install -D tsx', 'npx tsx app.ts']);
    run(app, 'npm', ['install', '-D', 'tsx', '--prefer-offline', '--no-audit', '--no-fund']);
    writeFileSync(join(app, 'app.ts'), code!);
    const expected = expectedOutput(code!);
    expect(expected).toContain('admins: 2');
    expect(collapse(sh(app, steps[1]!))).toBe(expected);

    writeFileSync(join(app, 'app.js'), code!);
    expect(collapse(run(app, process.execPath, ['app.js']))).toBe(expected);
  });

  it("the README's serve command and client snippet run side by side, twice", {
    timeout: 300_000,
  }, async () => {
    const port = await freePort();
    const [schema] = blocks('Serve a store and connect to it', 'yaml');
    const [serveBlock] = blocks('Serve a store and connect to it', 'sh');
    const [client] = blocks('Serve a store and connect to it', 'ts');
    writeFileSync(join(app, 'schema.yaml'), schema!);
    const serveLine = commands(serveBlock!)[0]!;
    expect(serveLine).toBe('npx quire serve --db app.db --schema schema.yaml --http 7070 --create');
    const [cmd, ...args] = serveLine.replace('7070', String(port)).split(/\s+/);
    // Its own process group: npx does not pass SIGTERM on to the server it runs.
    const server = spawn(cmd!, args, {
      cwd: app,
      env: ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    children.push(server);
    await watchOutput(server).match('stderr', /HTTP http:\/\//);
    // The installed command runs the compiled package, not TypeScript sources.
    expect(existsSync(join(app, 'node_modules', 'quiredb', 'dist', 'cli', 'index.js'))).toBe(true);

    writeFileSync(join(app, 'client.ts'), client!.replaceAll('7070', String(port)));
    const expected = expectedOutput(client!);
    expect(expected).toBe('pushed: true admin');
    // Twice: defining the same query again is not an error.
    for (let i = 0; i < 2; i++) expect(collapse(run(app, 'npx', ['tsx', 'client.ts']))).toBe(expected);

    const exited = new Promise((r) => server.once('exit', r));
    process.kill(-server.pid!, 'SIGTERM');
    await exited;
    // The server shut down cleanly: its write lock is free and every write is in the file.
    await until(() => {
      try {
        run(app, 'npx', ['quire', 'checkpoint', '--db', 'app.db']);
        return true;
      } catch {
        return false;
      }
    });
    const stats = JSON.parse(run(app, 'npx', ['quire', 'stats', '--db', 'app.db', '--json']));
    expect(stats.records.perBucket.users).toBe(2);
  });
});
