// The persistence-backed methods over the wire, on a SQLite store with
// strict durability: flush, checkpoint, backups; acknowledged writes are on
// disk (a fresh store on the same file sees them).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWebSocket, RpcError, type WebSocketClient } from '../../src/client/index.js';
import { SQLiteAdapter, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import { prepareStore } from './fixture.js';

let dir: string;
let store: Store;
let server: QuireServer;
let c: WebSocketClient;

async function open(file: string): Promise<Store> {
  const s = await Store.start({
    name: 'served',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(file), durability: 'strict' },
  });
  await prepareStore(s);
  return s;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quire-served-'));
  store = await open(join(dir, 'store.db'));
  server = new QuireServer({ store, log: () => {}, backupDir: join(dir, 'backups') });
  c = await connectWebSocket((await server.listen()).wsUrl);
});
afterAll(async () => {
  await c.close();
  await server.close();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('persistence methods over the wire (SQLite, strict)', () => {
  it('flush, checkpoint, createBackup, listBackups, restoreBackup, deleteBackup', async () => {
    await c.bucket('users').insertMany([
      { id: 'a', name: 'Ann' },
      { id: 'b', name: 'Bob' },
    ]);
    expect(await c.call('flush')).toBe(true);
    expect(await c.call('checkpoint')).toBeNull();
    const info = await c.call('createBackup', { name: 'before' });
    expect(info).toMatchObject({ name: 'before', totalRecords: 2 });
    expect((await c.call('listBackups')).map((b) => b.name)).toContain('before');
    await c.bucket('users').delete('a');
    await c.bucket('users').insert({ id: 'c', name: 'Cid' });
    expect(await c.call('restoreBackup', { name: 'before' })).toBe(true);
    expect((await c.bucket('users').all()).map((u) => u.id)).toEqual(['a', 'b']);
    expect(await c.call('deleteBackup', { name: 'before' })).toBe(true);
    const gone = await c.call('restoreBackup', { name: 'before' }).catch((e: RpcError) => e);
    expect((gone as RpcError).data).toMatchObject({ code: 'BACKUP_NOT_FOUND' });
  });

  it('backupTo writes an online, consistent copy that opens as a store', async () => {
    const file = join(dir, 'backups', 'copy.db');
    const r = await c.call('backupTo', { file: 'copy.db' });
    expect(r.path).toBe(file);
    expect(r.bytes).toBeGreaterThan(0);
    const exists = await c.call('backupTo', { file: 'copy.db' }).catch((e: RpcError) => e);
    expect(exists).toBeInstanceOf(RpcError);
    const copy = await Store.start({
      name: 'served',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(file, { readOnly: true }) },
    });
    try {
      await prepareStore(copy);
      expect(await copy.bucket('users').count()).toBe(await c.bucket('users').count());
    } finally {
      await copy.stop();
    }
  });

  it('a strict write is on disk when its answer arrives', async () => {
    await c.bucket('users').insert({ id: 'durable', name: 'D' });
    // Another store on the same file, opened read-only while the server keeps running.
    const reader = await Store.start({
      name: 'served',
      ttlCheckIntervalMs: 0,
      persistence: { adapter: new SQLiteAdapter(join(dir, 'store.db'), { readOnly: true }) },
    });
    try {
      await prepareStore(reader);
      expect((await reader.bucket('users').get('durable'))?.name).toBe('D');
    } finally {
      await reader.stop();
    }
  });
});
