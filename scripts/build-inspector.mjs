// Builds the inspector page into dist/ui: one bundled, minified app.js
// (Preact and the page's code, by esbuild), app.css, index.html, and gzipped
// copies the server sends to browsers that accept them. Run by `npm run build`.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/inspector/ui');
const out = process.argv[2] ?? join(root, 'dist/ui');

mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(src, 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
copyFileSync(join(src, 'app.css'), join(out, 'app.css'));
const sizes = {};
for (const name of ['app.js', 'app.css', 'index.html']) {
  const body = readFileSync(join(out, name));
  const gz = gzipSync(body, { level: 9 });
  writeFileSync(join(out, `${name}.gz`), gz);
  sizes[name] = { bytes: body.length, gzip: gz.length };
}
writeFileSync(join(out, 'sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);
if (result.errors.length > 0) process.exit(1);
process.stderr.write(
  `inspector: ${out}/app.js ${sizes['app.js'].bytes} bytes (${sizes['app.js'].gzip} gzipped)\n`,
);
