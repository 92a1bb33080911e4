// Child process of footprint.bench.ts: loads N codex-like records into one holder
// and prints the heap growth per record (fresh process, forced GC).
import { Store } from '../src/index.js';

const N = Number(process.argv[3] ?? 10_000);
const holder = process.argv[2];

function codex(i: number) {
  const fields: Record<string, string> = {};
  for (let f = 0; f < 12; f++)
    fields[`field${f}`] = `Value of field ${f} for codex ${i}: ${'lorem ipsum '.repeat(3)}`;
  return {
    id: `codex-${i}`,
    title: `Codex number ${i}`,
    templateId: ['character', 'scene', 'note'][i % 3],
    project: `project-${i % 7}`,
    content: { fields },
    tags: ['draft', `tag${i % 13}`, `tag${i % 17}`],
    references: [`codex-${(i * 7) % N}`, `codex-${(i * 13) % N}`],
    metadata: { wordCount: i % 5000, pinned: i % 11 === 0 },
    createdAt: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    updatedAt: new Date(1_700_000_000_000 + i * 2000).toISOString(),
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

// Let the module loader finish and drop its transient data before the baseline.
await new Promise((r) => setTimeout(r, 100));
const before = heap();
let keep: unknown;
if (holder === 'json') {
  let bytes = 0;
  for (let i = 0; i < N; i++) bytes += Buffer.byteLength(JSON.stringify(codex(i)));
  console.log(JSON.stringify({ bytesPerRecord: bytes / N }));
} else if (holder === 'map') {
  const m = new Map<string, unknown>();
  for (let i = 0; i < N; i++) m.set(`codex-${i}`, codex(i));
  keep = m;
  console.log(JSON.stringify({ bytesPerRecord: (heap() - before) / N }));
} else {
  const store = await Store.start({ name: 'footprint', ttlCheckIntervalMs: 0 });
  const codices = await store.defineBucket('codices', {
    key: 'id',
    schema: {
      id: { type: 'string', required: true },
      title: { type: 'string', required: true },
      templateId: { type: 'string' },
      project: { type: 'string' },
      content: { type: 'object' },
      tags: { type: 'array', items: { type: 'string' } },
      references: { type: 'array' },
      metadata: { type: 'object' },
      createdAt: { type: 'string' },
      updatedAt: { type: 'string' },
    },
    indexes: ['project', 'templateId'],
  });
  for (let i = 0; i < N; i++) await codices.insert(codex(i));
  keep = store;
  const after = heap();
  if ((await codices.count()) !== N) throw new Error('count');
  console.log(JSON.stringify({ bytesPerRecord: (after - before) / N }));
}
void keep;
