// `npm run bench`: runs every benchmark section (or those named on the
// command line), prints the tables and rewrites bench/RESULTS.md.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { BenchSection } from './harness.js';

const sections: Record<string, () => Promise<BenchSection>> = {
  memory: async () => (await import('./memory.bench.js')).run(),
  footprint: async () => (await import('./footprint.bench.js')).run(),
  storage: async () => (await import('./storage.bench.js')).run(),
  server: async () => (await import('./server.bench.js')).run(),
  history: async () => (await import('./history.bench.js')).run(),
  inspector: async () => (await import('./inspector.bench.js')).run(),
  wal: async () => (await import('./wal.bench.js')).run(),
  postgres: async () => (await import('./postgres.bench.js')).run(),
  compare: async () => (await import('./compare.bench.js')).run(),
};

const only = process.argv.slice(2);
const names = only.length > 0 ? only : Object.keys(sections);
const out: BenchSection[] = [];
for (const name of names) {
  const section = sections[name];
  if (section === undefined) {
    console.error(`unknown section "${name}"; known: ${Object.keys(sections).join(', ')}`);
    process.exit(2);
  }
  const result = await section();
  console.log(`\n## ${result.title}\n\n${result.markdown}\n`);
  out.push(result);
}

if (only.length === 0) {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const body = [
    '# Benchmark results',
    '',
    `Produced by \`npm run bench\` on ${machine}.`,
    'Figures are from one run on a shared 2-core machine: treat them as ratios measured side by side in the same run, not as absolute numbers.',
    '',
    ...out.flatMap((s) => [`## ${s.title}`, '', s.markdown, '']),
  ].join('\n');
  writeFileSync(new URL('./RESULTS.md', import.meta.url), body);
}
