#!/usr/bin/env node
// The `quire` command. Runs the compiled CLI (dist/, after `npm run build`)
// when present, otherwise the TypeScript source through tsx (a development
// checkout). QUIRE_CLI_SOURCE=1 forces the source.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/index.js', import.meta.url);
if (process.env.QUIRE_CLI_SOURCE !== '1' && existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/index.ts', import.meta.url).href);
}
