// History over the wire (P-6): history, restoreVersion, changes, and the
// authenticated identity recorded as the actor of every write. Until the
// store keeps history, the methods answer NOT_SUPPORTED (-32601).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWebSocket, type RpcError, type WebSocketClient } from '../../src/client/index.js';
import { BucketHandle, SQLiteAdapter, Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';

const hasHistory =
  typeof (BucketHandle.prototype as { history?: unknown }).history === 'function' &&
  typeof (BucketHandle.prototype as { restoreVersion?: unknown }).restoreVersion === 'function';
const hasChanges = typeof (Store.prototype as { changes?: unknown }).changes === 'function';

let dir: string;
let store: Store;
let server: QuireServer;
let editor: WebSocketClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quire-history-'));
  store = await Store.start({
    name: 'h',
    ttlCheckIntervalMs: 0,
    persistence: { adapter: new SQLiteAdapter(join(dir, 'h.db')), durability: 'strict' },
  });
  await store.defineBucket('docs', {
    key: 'id',
    schema: { id: { type: 'string' }, text: { type: 'string' } },
    history: true,
  });
  server = new QuireServer({
    store,
    log: () => {},
    auth: { tokens: { t: { identity: 'editor-1', read: '*', write: ['docs'] } } },
  });
  editor = await connectWebSocket((await server.listen()).wsUrl, { token: 't' });
});
afterAll(async () => {
  await editor.close();
  await server.close();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('history over the wire', () => {
  it(
    hasHistory ? 'history and restoreVersion, with the identity as actor' : 'history answers NOT_SUPPORTED',
    async () => {
      const docs = editor.bucket('docs');
      await docs.insert({ id: 'd', text: 'one' }, { actor: 'spoofed' });
      await docs.update('d', { text: 'two' });
      if (!hasHistory) {
        const e = (await docs.history('d').catch((x: RpcError) => x)) as RpcError;
        expect(e.code).toBe(-32601);
        expect(e.data?.code).toBe('NOT_SUPPORTED');
        return;
      }
      const h = await docs.history('d');
      expect(h.map((v) => v.version)).toEqual(expect.arrayContaining([1, 2]));
      for (const v of h) expect(v.actor).toBe('editor-1');
      const restored = await docs.restoreVersion('d', 1);
      expect(restored).toMatchObject({ text: 'one', _version: 3 });
      expect((await docs.history('d', { limit: 1 })).length).toBe(1);
    },
  );

  it(hasChanges ? 'changes: a monotonic feed' : 'changes answers NOT_SUPPORTED', async () => {
    if (!hasChanges) {
      const e = (await editor.call('changes', { since: 0 }).catch((x: RpcError) => x)) as RpcError;
      expect(e.data?.code).toBe('NOT_SUPPORTED');
      return;
    }
    const feed = (await editor.call('changes', { since: 0 })) as Array<{ seq: number }>;
    expect(feed.length).toBeGreaterThan(0);
    const seqs = feed.map((c) => c.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });
});
