// Single-writer lock (P-4): a lock file next to the storage holding the
// holder's pid, host and start time. A second writer gets a
// StorageLockedError naming the holder; a lock left by a dead process on
// this host (kill -9, power loss) is taken over. Readers take no lock.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { type LockHolder, StorageLockedError, toStorageError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(path, 'utf8')) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return h;
  } catch {
    /* unreadable or half-written: treated as stale */
  }
  return undefined;
}

export class WriterLock {
  readonly path: string;
  readonly #token: string;
  #held = false;

  constructor(path: string) {
    this.path = path;
    this.#token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  }

  /** Take the lock or throw StorageLockedError (live holder) / StorageError (I/O). */
  acquire(storage: string): void {
    if (this.#held) return;
    const me = { pid: process.pid, host: os.hostname(), since: Date.now(), token: this.#token };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(this.path, 'wx', 0o644);
        try {
          fs.writeSync(fd, JSON.stringify(me));
          fs.fsyncSync(fd);
        } catch (e) {
          // Full disk: leave no empty lock file behind (it would block the next start).
          fs.closeSync(fd);
          fs.rmSync(this.path, { force: true });
          throw e;
        }
        fs.closeSync(fd);
        this.#held = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toStorageError('open', e, this.path);
      }
      const holder = readHolder(this.path);
      if (holder !== undefined) {
        // A live holder (or one on another host, whose liveness we cannot check) keeps it.
        if (holder.host !== os.hostname() || alive(holder.pid)) throw new StorageLockedError(storage, holder);
        // Stale: its process is gone. Remove it and try again.
      } else {
        // Empty or garbled lock file: a writer died while creating it, or is creating it right now.
        try {
          const age = Date.now() - fs.statSync(this.path).mtimeMs;
          if (age < 2_000 && attempt < 2) {
            const until = Date.now() + 50;
            while (Date.now() < until) {
              /* brief wait for a concurrent creator to finish writing */
            }
            continue;
          }
        } catch {
          continue;
        }
      }
      try {
        fs.unlinkSync(this.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toStorageError('open', e, this.path);
      }
    }
    const holder = readHolder(this.path);
    throw holder !== undefined
      ? new StorageLockedError(storage, holder)
      : toStorageError('open', new Error('could not take the writer lock'), this.path);
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      const h = readHolder(this.path) as (LockHolder & { token?: string }) | undefined;
      if (h === undefined || h.token === this.#token) fs.unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
