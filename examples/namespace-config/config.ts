// A service configuration store on Quire: a proxy's
// namespaces (unique names, enum-checked status, JSON backend config, tags)
// and per-namespace feature flags, in local SQLite under ./data.
//
//   npm run example:config
//
// Every run: imports namespaces.yaml if the store is empty, queries it,
// changes a config as an operator, shows the audit trail with actors, rolls
// the change back, shows a cascading delete, and takes an online backup.
import * as path from 'node:path';
import { SQLiteAdapter, Store } from '../../src/index.js';

const dataDir = path.resolve(process.env.QUIRE_DATA_DIR || 'data');
const dbFile = path.join(dataDir, 'namespace-config.db');
const backupFile = path.join(dataDir, 'namespace-config.backup.db');

const store = await Store.start({
  name: 'config',
  persistence: {
    adapter: new SQLiteAdapter(dbFile),
    durability: 'strict', // a reply means the change is on disk
    onError: (e) => console.error(`storage problem: ${e.message}`),
  },
});

const namespacesDef = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true, pattern: '^[a-z0-9-]+$' },
    name: { type: 'string', required: true, unique: true },
    status: { type: 'string', enum: ['active', 'disabled', 'migrating'], default: 'active' },
    backend: { type: 'string', enum: ['postgres', 'redis', 's3'], required: true },
    backendConfig: { type: 'object', required: true },
    tags: { type: 'array', items: { type: 'string' }, default: () => [] },
  },
  indexes: ['status', 'backend'],
  history: { maxVersions: 100 }, // keep the last 100 versions of every namespace
} as const;
const namespaces = await store.defineBucket('namespaces', namespacesDef);

const flags = await store.defineBucket('flags', {
  key: ['namespace', 'feature'],
  schema: {
    namespace: { type: 'string', required: true, ref: 'namespaces', onDelete: 'cascade' },
    feature: { type: 'string', required: true },
    enabled: { type: 'boolean', default: false },
  },
});

// ── First start: import the YAML file when the store is empty ──────
const imported = await namespaces.import(path.join(import.meta.dirname, 'namespaces.yaml'), {
  onlyIfEmpty: true,
  actor: 'import',
});
console.log(
  imported.skipped
    ? `store already has ${await namespaces.count()} namespaces (import skipped)`
    : `imported ${imported.imported} namespaces from namespaces.yaml`,
);
if ((await flags.count()) === 0) {
  await flags.insertMany(
    [
      { namespace: 'payments-eu', feature: 'strict-tls', enabled: true },
      { namespace: 'payments-eu', feature: 'shadow-writes' },
      { namespace: 'sessions', feature: 'compression', enabled: true },
    ],
    { actor: 'import' },
  );
}

// ── Queries ─────────────────────────────────────────────────────────
const names = (rs: Array<{ id: string }>) => rs.map((r) => r.id).join(', ');
console.log(`postgres namespaces: ${names(await namespaces.where({ backend: 'postgres' }))}`);
console.log(`active: ${names(await namespaces.where({ status: 'active' }))}`);
console.log(`tagged pci: ${names(await namespaces.where({ tags: { $contains: 'pci' } }))}`);
const perBackend = await namespaces.groupBy('backend', { function: 'count' });
console.log(
  `per backend: ${perBackend.map((g) => `${Object.values(g.key as object).join('/')}=${g.value}`).join(', ')}`,
);
console.log(
  `flags of payments-eu: ${(await flags.where({ namespace: 'payments-eu' })).map((f) => `${f.feature}=${f.enabled}`).join(', ')}`,
);

// ── Change a config as an operator, look at the audit trail, roll back ──
const before = (await namespaces.get('payments-eu'))!;
const cfg = before.backendConfig as { poolSize: number };
await namespaces.update(
  'payments-eu',
  { backendConfig: { ...cfg, poolSize: cfg.poolSize * 4 } },
  { actor: 'ops:alice' },
);
console.log('audit trail of payments-eu (newest first):');
for (const e of await namespaces.history('payments-eu', { limit: 3 })) {
  const pool = (e.record?.backendConfig as { poolSize?: number } | undefined)?.poolSize;
  console.log(`  v${e.version} ${e.op.padEnd(6)} by ${e.actor ?? '-'}: poolSize ${pool}`);
}
const rolledBack = await namespaces.restoreVersion('payments-eu', before._version, { actor: 'ops:rollback' });
console.log(
  `rolled back to the content of v${before._version}: poolSize ${(rolledBack.backendConfig as { poolSize: number }).poolSize} (now v${rolledBack._version})`,
);

// ── Deleting a namespace deletes its flags (onDelete: cascade) ──────
await namespaces.insert(
  {
    id: 'sandbox',
    name: 'Sandbox',
    backend: 'redis',
    backendConfig: { url: 'redis://localhost' },
  },
  { actor: 'ops:alice' },
);
await flags.insert({ namespace: 'sandbox', feature: 'debug', enabled: true }, { actor: 'ops:alice' });
await namespaces.delete('sandbox', { actor: 'ops:alice' });
console.log(`flags of sandbox after deleting it: ${await flags.count({ namespace: 'sandbox' })}`);

// ── The change feed and an online backup ─────────────────────────────
const rollbackSeq = (await namespaces.history('payments-eu', { limit: 1 }))[0]!.seq;
const recent = await store.changes({ since: rollbackSeq - 1 });
console.log('change feed since the rollback:');
for (const c of recent)
  console.log(`  #${c.seq - rollbackSeq} ${c.op} ${c.bucket} ${JSON.stringify(c.key)} by ${c.actor ?? '-'}`);
const backup = await store.backupTo(backupFile, { overwrite: true }); // online: writers are not stopped
await store.stop();
// The backup is an ordinary Quire store file.
const copy = await Store.start({
  name: 'config',
  persistence: { adapter: new SQLiteAdapter(backup.path, { readOnly: true }) },
});
const copied = await copy.defineBucket('namespaces', namespacesDef);
console.log(
  `backup ${path.relative(process.cwd(), backup.path)}: ${await copied.count()} namespaces, payments-eu at v${(await copied.get('payments-eu'))?._version}`,
);
await copy.stop();
