// P-3 crash safety: a strict-mode writer in a child process is SIGKILLed at
// random moments, many times. After each kill the store reopens (the stale
// lock is taken over), every acknowledged write is there, no transaction is
// half-applied (each writes one id to two buckets), SQLite's integrity check
// passes. FileAdapter: the same, plus a journal torn mid-frame by hand.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAdapter, SQLiteAdapter, StorageCorruptionError, Store } from '../../src/index.js';
import { watchOutput } from '../child-output.js';
import { tempDir } from './helpers.js';

const fixture = path.resolve(import.meta.dirname, '../fixtures/crash-writer.ts');
const def = { key: 'id', schema: { id: { type: 'number' }, payload: { type: 'string' } } } as const;

/**
 * Runs the writer, kills it `delayMs` after its first ack (or after the first line `armOn`
 * accepts); returns the acknowledged ids.
 */
async function runAndKill(
  kind: string,
  target: string,
  delayMs: number,
  armOn: (line: string) => boolean = (line) => line.startsWith('ack '),
): Promise<Set<number>> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture, kind, target], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = new Set<number>();
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const out = watchOutput(child);
  out.onLine('stdout', (line) => {
    if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
    if (armOn(line)) killTimer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await out.exited;
  clearTimeout(guard);
  if (killTimer !== undefined) clearTimeout(killTimer);
  if (acked.size === 0) throw new Error(`writer acknowledged nothing before exiting: ${out.text('stderr')}`);
  return acked;
}

async function verify(
  adapter: SQLiteAdapter | FileAdapter,
  acked: Set<number>,
  errors: Error[] = [],
): Promise<number> {
  const s = await Store.start({ name: 'crash', persistence: { adapter, onError: (e) => errors.push(e) } });
  const a = await s.defineBucket('a', def);
  const b = await s.defineBucket('b', def);
  const ia = new Set((await a.all()).map((r) => r.id as number));
  const ib = new Set((await b.all()).map((r) => r.id as number));
  for (const id of acked) {
    expect(ia.has(id), `acknowledged id ${id} in bucket a`).toBe(true);
    expect(ib.has(id), `acknowledged id ${id} in bucket b`).toBe(true);
  }
  // nothing half-applied: the transaction wrote both buckets or neither
  expect([...ia].sort()).toEqual([...ib].sort());
  for (const r of await a.all()) {
    const id = r.id as number;
    if (r.payload !== 'x'.repeat(200)) expect(r.payload).toBe(`updated-${id}`);
  }
  await s.stop();
  return ia.size;
}

describe('crash safety (SIGKILL)', () => {
  it('SQLiteAdapter: acknowledged writes survive kill -9, nothing half-applied, integrity ok', async () => {
    const file = path.join(tempDir(), 'crash.db');
    const all = new Set<number>();
    let last = 0;
    for (let round = 0; round < 12; round++) {
      const acked = await runAndKill('sqlite', file, Math.floor(Math.random() * 120));
      for (const id of acked) all.add(id);
      const count = await verify(new SQLiteAdapter(file), all);
      expect(count).toBeGreaterThanOrEqual(last);
      last = count;
      const ro = new SQLiteAdapter(file, { readOnly: true });
      expect(ro.integrityCheck()).toBe('ok');
      ro.close();
    }
    expect(all.size).toBeGreaterThan(12);
  }, 90_000);

  it('SQLiteAdapter, 64 writers (commits on the writer thread): kill -9 mid-commit loses nothing acknowledged', async () => {
    const file = path.join(tempDir(), 'crash-thread.db');
    const all = new Set<number>();
    let threadCommits = 0;
    for (let round = 0; round < 8; round++) {
      // Killed at a random moment once the thread has committed (it starts with the first large unit).
      const acked = await runAndKill('sqlite-thread', file, Math.floor(Math.random() * 150), (line) => {
        if (!line.startsWith('thread ')) return false;
        threadCommits = Math.max(threadCommits, Number(line.slice(7)));
        return threadCommits > 0;
      });
      for (const id of acked) all.add(id);
      await verify(new SQLiteAdapter(file), all);
      const ro = new SQLiteAdapter(file, { readOnly: true });
      expect(ro.integrityCheck()).toBe('ok');
      ro.close();
    }
    // The kills hit a writer whose commits ran on its thread.
    expect(threadCommits).toBeGreaterThan(0);
    expect(all.size).toBeGreaterThan(64);
  }, 90_000);

  it('FileAdapter: acknowledged writes survive kill -9, a torn tail is cut off and reported', async () => {
    const dir = path.join(tempDir(), 'files');
    const all = new Set<number>();
    for (let round = 0; round < 8; round++) {
      const acked = await runAndKill('file', dir, Math.floor(Math.random() * 120));
      for (const id of acked) all.add(id);
      const errors: Error[] = [];
      await verify(new FileAdapter(dir), all, errors);
      // A kill mid-append may leave a torn frame: it is reported, never a refusal to start.
      for (const e of errors) expect(e).toBeInstanceOf(StorageCorruptionError);
    }
    // Now tear the journal by hand in the middle of its last frame.
    const acked = await runAndKill('file', dir, 40);
    for (const id of acked) all.add(id);
    const journal = path.join(dir, 'crash.journal');
    // make sure the journal holds frames (write a few more acknowledged records through a store)
    const s = await Store.start({
      name: 'crash',
      persistence: { adapter: new FileAdapter(dir), durability: 'strict' },
    });
    const a = await s.defineBucket('a', def);
    const b = await s.defineBucket('b', def);
    await a.insert({ id: 1_000_000, payload: 'keep' });
    await b.insert({ id: 1_000_000, payload: 'keep' });
    await a.insert({ id: 1_000_001, payload: 'torn' });
    await s.stop();
    const size = fs.statSync(journal).size;
    expect(size).toBeGreaterThan(20);
    fs.truncateSync(journal, size - 7);
    const errors: Error[] = [];
    const s2 = await Store.start({
      name: 'crash',
      persistence: { adapter: new FileAdapter(dir), onError: (e) => errors.push(e) },
    });
    const a2 = await s2.defineBucket('a', def);
    expect(await a2.get(1_000_000)).toMatchObject({ payload: 'keep' });
    expect(await a2.get(1_000_001)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StorageCorruptionError);
    expect(errors[0]!.message).toMatch(/torn or corrupt tail/);
    // the store keeps working and the journal is clean again
    await a2.insert({ id: 1_000_002, payload: 'after' });
    await s2.stop();
    const errors2: Error[] = [];
    const s3 = await Store.start({
      name: 'crash',
      persistence: { adapter: new FileAdapter(dir), onError: (e) => errors2.push(e) },
    });
    expect(await (await s3.defineBucket('a', def)).get(1_000_002)).toBeDefined();
    expect(errors2).toEqual([]);
    await s3.stop();
    expect(all.size).toBeGreaterThan(8);
  }, 90_000);
});
