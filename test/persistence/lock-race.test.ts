// Single writer (P-4) under a race: several real processes try to open the
// same store at the same moment, over and over, each round on the stale lock
// left by the previous winner (SIGKILLed). Exactly one wins every round, the
// others are told who holds it, and every acknowledged strict write of every
// winner is on disk at the end. Then: every spelling of the same store
// (symlink, /proc/self/cwd/…, `..` segments) meets the same lock.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAdapter, SQLiteAdapter, StorageLockedError, Store } from '../../src/index.js';
import { tempDir, waitFor } from './helpers.js';

const contenderFixture = path.resolve(import.meta.dirname, '../fixtures/lock-contender.ts');
const holdFixture = path.resolve(import.meta.dirname, '../fixtures/hold-lock.ts');

class Contender {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<void>;
  readonly ready: Promise<string>;
  /** The node process (the child is strace). */
  pid = 0;
  #read = 0;
  #buf = '';
  /** `unlinkDelayUs`: run under strace, every unlink held up that long (widens any unlink-based take-over). */
  constructor(kind: string, target: string, unlinkDelayUs: number) {
    const node = [process.execPath, '--import', 'tsx', contenderFixture, kind, target];
    const trace = ['-f', '--seccomp-bpf', '-qq', '-o', '/dev/null', '-e', 'trace=unlink,unlinkat'];
    const delay = ['-e', `inject=unlink,unlinkat:delay_enter=${unlinkDelayUs}`];
    this.child = spawn('strace', [...trace, ...delay, ...node], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
    this.child.stdout!.on('data', (d: Buffer) => {
      this.#buf += d.toString();
      let nl = this.#buf.indexOf('\n');
      while (nl >= 0) {
        this.lines.push(this.#buf.slice(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        nl = this.#buf.indexOf('\n');
      }
    });
    this.ready = this.next(/^ready \d+$/).then((line) => {
      this.pid = Number(line.split(' ')[1]);
      return line;
    });
  }
  /** The next line printed that matches `re` (lines before it are consumed). */
  async next(re: RegExp): Promise<string> {
    let found: string | undefined;
    await waitFor(
      () => {
        while (this.#read < this.lines.length) {
          const line = this.lines[this.#read++]!;
          if (re.test(line)) {
            found = line;
            return true;
          }
        }
        return false;
      },
      `contender ${this.child.pid}: ${re}`,
      30_000,
    );
    return found!;
  }
  /** SIGKILL the node process (killing strace would only detach it); strace then exits. */
  async kill(): Promise<void> {
    await Promise.race([this.ready.catch(() => {}), this.exited]);
    try {
      if (this.pid !== 0) process.kill(this.pid, 'SIGKILL');
      else this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    await this.exited;
  }
}

/**
 * `rounds` rounds of two processes started at the same instant on the same
 * store; each round but the first meets the stale lock of the previous
 * winner (SIGKILLed after its writes). Both run under strace with every
 * unlink delayed, one by 20 ms and one by 100 ms: a take-over that removes
 * a stale lock file and creates a new one then lets both in every time (the
 * slow one removes the fresh lock of the fast one), so the race is not left
 * to scheduling luck. The next round's pair is spawned a round ahead.
 */
async function race(kind: 'sqlite' | 'file', target: string, rounds: number) {
  const pair = () => [new Contender(kind, target, 20_000), new Contender(kind, target, 100_000)];
  const live: Contender[] = [];
  const acked: number[] = [];
  const winnersPerRound: number[] = [];
  try {
    let next = pair();
    live.push(...next);
    for (let round = 1; round <= rounds; round++) {
      const field = next;
      await Promise.all(field.map((c) => c.ready));
      if (round < rounds) live.push(...(next = pair()));
      const at = Date.now() + 100;
      for (const c of field) c.child.stdin!.write(`go ${round} ${at}\n`);
      const results = await Promise.all(field.map((c) => c.next(/^(won \d+|locked \d+|error .*)$/)));
      expect(results.filter((r) => r.startsWith('error'))).toEqual([]);
      const winners = field.filter((_, i) => results[i]!.startsWith('won'));
      winnersPerRound.push(winners.length);
      if (winners.length === 1) {
        // The loser names the winner as the holder.
        for (const r of results) if (!r.startsWith('won')) expect(r).toBe(`locked ${winners[0]!.pid}`);
      }
      for (const w of winners) {
        await w.next(/^done$/);
        for (const l of w.lines) if (l.startsWith('ack ')) acked.push(Number(l.slice(4)));
      }
      // SIGKILL: the winner's lock is left stale for the next round.
      await Promise.all(field.map((c) => c.kill()));
    }
  } finally {
    await Promise.all(live.map((c) => c.kill()));
  }
  return { acked, winnersPerRound };
}

async function storedIds(adapter: SQLiteAdapter | FileAdapter): Promise<Set<number>> {
  const s = await Store.start({ name: 'race', persistence: { adapter } });
  const b = await s.defineBucket('b', { key: 'id', schema: { id: { type: 'number' } } });
  const ids = new Set((await b.all()).map((r) => r.id as number));
  await s.stop();
  return ids;
}

describe('writer lock race between processes', () => {
  for (const kind of ['sqlite', 'file'] as const) {
    it(`${kind}: 2 processes start at once, 10 rounds on the stale lock of the killed winner: exactly one wins each; no acknowledged write lost`, async () => {
      const target = kind === 'file' ? path.join(tempDir(), 'files') : path.join(tempDir(), 'race.db');
      const { acked, winnersPerRound } = await race(kind, target, 10);
      expect(winnersPerRound).toEqual(new Array(10).fill(1));
      expect(acked).toHaveLength(100);
      const ids = await storedIds(kind === 'file' ? new FileAdapter(target) : new SQLiteAdapter(target));
      expect(acked.filter((id) => !ids.has(id))).toEqual([]);
    }, 240_000);
  }
});

describe('one lock per store, however its path is spelled', () => {
  const relative = (p: string) => `/proc/self/cwd/${path.relative(process.cwd(), p)}`;

  it('SQLite: a symlink to the database file meets the lock held by another process', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'real.db');
    const link = path.join(tempDir(), 'link.db');
    fs.symlinkSync(file, link);
    const child = spawn(process.execPath, ['--import', 'tsx', holdFixture, file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await waitFor(() => out.includes('ready'), 'the holder to be ready', 20_000);
      const err = await Store.start({
        name: 'locked',
        persistence: { adapter: new SQLiteAdapter(link) },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageLockedError);
      expect((err as StorageLockedError).holder.pid).toBe(child.pid);
    } finally {
      child.stdin!.end();
      await exited;
    }
    // Released: the symlink opens it now.
    const s = await Store.start({ name: 'locked', persistence: { adapter: new SQLiteAdapter(link) } });
    expect(
      await (await s.defineBucket('b', { key: 'id', schema: { id: { type: 'number' } } })).get(1),
    ).toBeDefined();
    await s.stop();
  }, 30_000);

  it('SQLite: /proc/self/cwd/…, `..` segments and a symlinked directory meet the same lock', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'sub'));
    const file = path.join(dir, 'store.db');
    const linkDir = path.join(tempDir(), 'linked');
    fs.symlinkSync(dir, linkDir);
    const s = await Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(file) } });
    for (const other of [
      relative(file),
      path.join(dir, 'sub') + '/../store.db',
      path.join(linkDir, 'store.db'),
    ]) {
      await expect(
        Store.start({ name: 's', persistence: { adapter: new SQLiteAdapter(other) } }),
        other,
      ).rejects.toBeInstanceOf(StorageLockedError);
    }
    await s.stop();
  });

  it('FileAdapter: a symlinked directory, /proc/self/cwd/… and `..` segments meet the same lock', async () => {
    const root = tempDir();
    const dir = path.join(root, 'files');
    fs.mkdirSync(path.join(root, 'sub'));
    const linkDir = path.join(tempDir(), 'linked');
    const s = await Store.start({ name: 'w', persistence: { adapter: new FileAdapter(dir) } });
    fs.symlinkSync(dir, linkDir);
    for (const other of [linkDir, relative(dir), path.join(root, 'sub') + '/../files']) {
      await expect(
        Store.start({ name: 'w', persistence: { adapter: new FileAdapter(other) } }),
        other,
      ).rejects.toBeInstanceOf(StorageLockedError);
    }
    await s.stop();
  });
});
