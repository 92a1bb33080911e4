// FileAdapter compaction under SIGKILL: a strict writer in a child process
// compacts constantly (tiny threshold) and is killed at the worst moments,
// picked by watching its directory: while the new snapshot is being written,
// right after it is renamed into place (before or after the journal is
// emptied), and on a full disk where compactions keep failing. After every
// kill each acknowledged write is on disk and no transaction is half-applied.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAdapter, ReadOnlyStorageError, Store } from '../../src/index.js';
import { watchOutput } from '../child-output.js';
import { tempDir } from './helpers.js';
import { mountTmpfs, resizeTmpfs } from './tmpfs.js';

const fixture = path.resolve(import.meta.dirname, '../fixtures/crash-writer.ts');
const def = { key: 'id', schema: { id: { type: 'number' }, payload: { type: 'string' } } } as const;

type Moment = 'snapshot-temp-created' | 'snapshot-renamed' | 'disk-full';

/** Too little space left for another snapshot of the current size plus the journal. */
function nextSnapshotCannotFit(dir: string): boolean {
  const size = (f: string) => {
    try {
      return fs.statSync(path.join(dir, f)).size;
    } catch {
      return 0;
    }
  };
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize < size('crash.snapshot') + size('crash.journal');
}

/** Runs the writer on `dir` and SIGKILLs it at `moment`; returns what it acknowledged. */
async function killAt(
  dir: string,
  compactAfterBytes: number,
  moment: Moment,
): Promise<{ acked: Set<number>; tempLeft: boolean; stderr: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', fixture, 'file', dir, String(compactAfterBytes)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const acked = new Set<number>();
  const out = watchOutput(child);
  let armed = moment !== 'disk-full';
  let killed = false;
  let tempLeft = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    child.kill('SIGKILL');
    tempLeft = fs.existsSync(path.join(dir, 'crash.snapshot.tmp'));
  };
  let fallback: ReturnType<typeof setTimeout> | undefined;
  const watcher = fs.watch(dir, (_event, file) => {
    if (!armed || acked.size === 0) return;
    if (moment === 'snapshot-temp-created' ? file === 'crash.snapshot.tmp' : file === 'crash.snapshot')
      kill();
  });
  const armWhenFull = () => {
    if (armed || !nextSnapshotCannotFit(dir)) return;
    // From now on a snapshot cannot be written whole. Kill as soon as one is renamed into place
    // (it would be cut short) or, when none is (compactions fail cleanly), a little later.
    armed = true;
    fallback = setTimeout(kill, 3_000);
  };
  out.onLine('stdout', (line) => {
    if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
    if (moment === 'disk-full') armWhenFull();
  });
  const guard = setTimeout(kill, 30_000);
  await out.exited;
  watcher.close();
  clearTimeout(guard);
  if (fallback !== undefined) clearTimeout(fallback);
  const stderr = out.text('stderr');
  if (acked.size === 0) throw new Error(`writer acknowledged nothing: ${stderr}`);
  return { acked, tempLeft, stderr };
}

/** Opens the store (read-only: no lock, no repair) and checks every acknowledged id. */
async function verify(dir: string, acked: Set<number>, readOnly: boolean): Promise<Error[]> {
  const errors: Error[] = [];
  const s = await Store.start({
    name: 'crash',
    persistence: { adapter: new FileAdapter(dir, { readOnly }), onError: (e) => errors.push(e) },
  });
  const a = await s.defineBucket('a', def);
  const b = await s.defineBucket('b', def);
  const ia = new Set((await a.all()).map((r) => r.id as number));
  const ib = new Set((await b.all()).map((r) => r.id as number));
  const lost = [...acked].filter((id) => !ia.has(id) || !ib.has(id));
  expect(lost, 'acknowledged ids missing after the kill').toEqual([]);
  expect([...ia].sort()).toEqual([...ib].sort());
  await s.stop();
  return errors.filter((e) => !(e instanceof ReadOnlyStorageError));
}

describe('FileAdapter compaction under SIGKILL', () => {
  it('killed while the snapshot is written or right after it is renamed: nothing acknowledged is lost', async () => {
    const dir = path.join(tempDir(), 'files');
    const all = new Set<number>();
    let midWrite = 0;
    const moments: Moment[] = ['snapshot-temp-created', 'snapshot-renamed'];
    for (let round = 0; round < 8; round++) {
      const { acked, tempLeft } = await killAt(dir, 8 * 1024, moments[round % 2]!);
      for (const id of acked) all.add(id);
      if (tempLeft) midWrite++;
      // A kill mid-append may leave a torn journal tail: reported, never fatal. Nothing else.
      const errors = await verify(dir, all, false);
      for (const e of errors) expect(e.message).toMatch(/torn|incomplete|cut short/);
    }
    // At least one kill landed while a snapshot was half written (its temp file was left behind).
    expect(midWrite).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('killed on a full disk, when a snapshot cannot be written whole: nothing acknowledged is lost, and it opens for writing once space returns', async () => {
    const mnt = mountTmpfs('1m');
    const dir = path.join(mnt, 'files');
    const { acked } = await killAt(dir, 16 * 1024, 'disk-full');
    // Still full: what is on disk already holds every acknowledged write.
    expect(await verify(dir, acked, true)).toEqual([]);
    resizeTmpfs(mnt, '16m');
    const errors = await verify(dir, acked, false);
    for (const e of errors) expect(e.message).toMatch(/torn|incomplete|cut short/);
  }, 60_000);
});
