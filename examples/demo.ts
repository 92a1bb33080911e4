// `npm run demo`: Quire on its embedded default (SQLite under ./data).
// First run: defines a bucket, writes a few records in strict mode, stops.
// Every later run: shows that data, indexes, unique constraints and the
// autoincrement counter came back from disk, then adds one more record.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SQLiteAdapter, Store, UniqueConstraintError } from '../src/index.js';

const file = path.resolve('data', 'demo.db');
const firstRun = !fs.existsSync(file);
const store = await Store.start({
  name: 'demo',
  persistence: {
    adapter: new SQLiteAdapter(file),
    durability: 'strict',
    onError: (e) => console.error(`storage problem: ${e.message}`),
  },
});

const notes = await store.defineBucket('notes', {
  key: 'id',
  schema: {
    id: { type: 'number', generated: 'autoincrement' },
    slug: { type: 'string', required: true, unique: true },
    tag: { type: 'string', enum: ['idea', 'todo', 'done'], default: 'idea' },
    text: { type: 'string' },
  },
  indexes: ['tag'],
});

const check = (ok: boolean, what: string) => console.log(`${ok ? '✔' : '✘'} ${what}`);

if (firstRun) {
  console.log(`First run: writing to ${path.relative(process.cwd(), file)}`);
  await notes.insert({ slug: 'hello', text: 'Quire keeps records in memory and on disk', tag: 'done' });
  await notes.insert({ slug: 'strict', text: 'strict durability: a reply means it is on disk', tag: 'todo' });
  await store.transaction(async (tx) => {
    const t = await tx.bucket('notes');
    await t.insert({ slug: 'tx-a', text: 'written together…' });
    await t.insert({ slug: 'tx-b', text: '…or not at all' });
  });
  console.log(`Stored ${await notes.count()} notes. Run \`npm run demo\` again to see them come back.`);
} else {
  const all = await notes.all();
  console.log(`Restored from disk: ${all.length} notes`);
  for (const n of all) console.log(`  #${n.id} [${n.tag}] ${n.slug}: ${n.text ?? ''}`);
  check(all.length >= 4, 'data came back (records in insertion order)');
  const todo = await notes.where({ tag: 'todo' });
  check(
    todo.length >= 1 && todo.every((n) => n.tag === 'todo'),
    `index on "tag" answers: ${todo.length} todo note(s)`,
  );
  const dup = await notes.insert({ slug: 'hello' }).catch((e) => e);
  check(dup instanceof UniqueConstraintError, 'unique constraint on "slug" still rejects a duplicate');
  const maxId = Math.max(...all.map((n) => n.id));
  const added = await notes.insert({ slug: `run-${Date.now()}`, text: 'added by this run' });
  check(added.id === maxId + 1, `autoincrement counter continued: new id ${added.id} after ${maxId}`);
  console.log(`Delete ${path.relative(process.cwd(), path.dirname(file))}/ to start over.`);
}

await store.stop();
