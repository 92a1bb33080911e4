// The configuration-store example (SPEC §0.3) runs end to end, twice: the
// first run imports namespaces.yaml, the second finds the data on disk, sees
// the history grow, and both leave a readable online backup under ./data.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { tempDir } from '../persistence/helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const script = path.join(root, 'examples/namespace-config/config.ts');
const tsx = import.meta.resolve('tsx'); // by URL: the run's cwd is outside the project

describe('examples/namespace-config', () => {
  it('runs with `npm run example:config`, twice, writing under ./data', () => {
    const cwd = tempDir('quire-example-');
    // first run through the npm script (data directory given by env)
    const first = execFileSync('npm', ['run', '--silent', 'example:config'], {
      cwd: root,
      env: { ...process.env, QUIRE_DATA_DIR: path.join(cwd, 'data') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(first).toMatch(/^imported 5 namespaces from namespaces\.yaml$/m);
    expect(first).toMatch(/^postgres namespaces: payments-eu, payments-us, reports$/m);
    expect(first).toMatch(/^active: payments-eu, payments-us, sessions$/m);
    expect(first).toMatch(/^tagged pci: payments-eu, payments-us$/m);
    expect(first).toMatch(/^per backend: postgres=3, redis=1, s3=1$/m);
    expect(first).toMatch(/^ {2}v2 update by ops:alice: poolSize 80$/m);
    expect(first).toMatch(/^ {2}v1 insert by import: poolSize 20$/m);
    expect(first).toMatch(/^rolled back to the content of v1: poolSize 20 \(now v3\)$/m);
    expect(first).toMatch(/^flags of sandbox after deleting it: 0$/m);
    expect(first).toMatch(/delete flags \["sandbox","debug"\] by ops:alice/);
    expect(first).toMatch(/^backup .*namespace-config\.backup\.db: 5 namespaces, payments-eu at v3$/m);
    // second run from that directory: the default ./data
    const second = execFileSync(process.execPath, ['--import', tsx, script], {
      cwd,
      env: { ...process.env, QUIRE_DATA_DIR: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(second).toMatch(/^store already has 5 namespaces \(import skipped\)$/m);
    expect(second).toMatch(/^ {2}v4 update by ops:alice: poolSize 80$/m);
    expect(second).toMatch(/^ {2}v3 update by ops:rollback: poolSize 20$/m);
    expect(second).toMatch(/^rolled back to the content of v3: poolSize 20 \(now v5\)$/m);
    expect(fs.existsSync(path.join(cwd, 'data', 'namespace-config.db'))).toBe(true);
    expect(second).toMatch(/^backup data\/namespace-config\.backup\.db: 5 namespaces, payments-eu at v5$/m);
  });

  it('leaves a store whose history a program can read', async () => {
    const cwd = tempDir('quire-example-');
    execFileSync(process.execPath, ['--import', tsx, script], {
      cwd,
      env: { ...process.env, QUIRE_DATA_DIR: '' },
      timeout: 60_000,
    });
    const s = await Store.start({
      name: 'config',
      persistence: {
        adapter: new SQLiteAdapter(path.join(cwd, 'data', 'namespace-config.backup.db'), { readOnly: true }),
      },
    });
    const ns = await s.defineBucket('namespaces', {
      key: 'id',
      schema: { id: { type: 'string' } },
      history: true,
    });
    const h = await ns.history('payments-eu');
    expect(h.map((e) => `${e.version}:${e.actor}`)).toEqual(['3:ops:rollback', '2:ops:alice', '1:import']);
    await s.stop();
  });
});
