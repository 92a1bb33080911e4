// Memory per record (SPEC §5: under 10 MB per 1,000 typical codices; per-record
// overhead reported). Each holder is measured in its own process with forced GC.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BenchSection, table } from './harness.js';

const N = 10_000;

function measure(holder: string): number {
  const child = fileURLToPath(new URL('./footprint-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, holder, String(N)], {
    encoding: 'utf8',
  });
  return (JSON.parse(out.trim().split('\n').pop()!) as { bytesPerRecord: number }).bytesPerRecord;
}

export async function run(): Promise<BenchSection> {
  const json = measure('json');
  const map = measure('map');
  const quire = measure('quire');
  const mb = (b: number) => ((b * 1000) / 1e6).toFixed(2);
  return {
    title: 'Memory per record (SPEC §5: under 10 MB per 1,000 codices)',
    markdown: [
      table(
        ['holder', 'bytes per codex', 'MB per 1,000 codices', 'overhead per record vs bare Map'],
        [
          ['JSON text of one codex', Math.round(json), mb(json), ''],
          ['bare Map of the objects', Math.round(map), mb(map), ''],
          ['Quire bucket (2 hash indexes)', Math.round(quire), mb(quire), `${Math.round(quire - map)} B`],
        ],
      ),
      '',
      `${N.toLocaleString('en-US')} codex-like records (12 content fields, tags, references, metadata, ISO timestamps), each holder in a fresh process with forced GC. Quire's overhead per record is its metadata fields (_version, _createdAt, _updatedAt), the index entries and the key map.`,
    ].join('\n'),
  };
}
