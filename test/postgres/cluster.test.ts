// The test cluster itself: reachable, restartable, and gone after stop().
import * as fs from 'node:fs';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { startCluster } from './cluster.js';

describe('throwaway PostgreSQL cluster', () => {
  it('the shared cluster answers queries', async () => {
    const c = new pg.Client({ connectionString: inject('pgUrl') });
    await c.connect();
    const r = await c.query('SHOW server_version_num');
    expect(Number(r.rows[0].server_version_num)).toBeGreaterThanOrEqual(150000);
    await c.end();
  });

  it('a private cluster restarts on its port and is removed by stop()', async () => {
    const cluster = await startCluster();
    try {
      const url = cluster.createDatabase('cluster_test');
      let c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('CREATE TABLE t (v int); INSERT INTO t VALUES (7)');
      await c.end();
      cluster.stopServer('immediate');
      c = new pg.Client({ connectionString: url });
      await expect(c.connect()).rejects.toThrow();
      cluster.startServer();
      c = new pg.Client({ connectionString: url });
      await c.connect();
      expect((await c.query('SELECT v FROM t')).rows).toEqual([{ v: 7 }]);
      await c.end();
    } finally {
      cluster.stop();
    }
    expect(fs.existsSync(cluster.dir)).toBe(false);
  });
});
