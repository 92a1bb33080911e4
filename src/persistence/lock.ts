// Single-writer lock (P-4). Two files next to the storage, named after its
// real path (symlinks and `..` resolved, so every spelling of the same file
// or directory meets the same lock):
//
//   <store>.lock     who holds it: {pid, host, since, token}, for messages
//   <store>.lock.os  an empty file the holder keeps an OS-level lock on
//
// Exclusion comes from the OS lock (a POSIX record lock, taken through
// SQLite's file locking: an exclusive transaction kept open on the empty
// file), not from the JSON file: the kernel grants it to exactly one
// process, and drops it when that process dies (kill -9, power loss), so a
// stale lock needs no take-over and two processes can never both take one
// over. Readers take no lock. The `.lock.os` file is left in place when the
// lock is released: deleting it would let a process that opened the old file
// and one that creates a new one both "hold" it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { type LockHolder, type StorageError, StorageLockedError, toStorageError } from './errors.js';
import { replaceFileDurably } from './fsio.js';
import { kernelPath } from './own-files.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Holder = LockHolder & { token?: string };

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return h;
  } catch {
    /* missing, unreadable or being replaced */
  }
  return undefined;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The path a storage file or directory entry really has: symlinks (also a
 * dangling one, whose target SQLite would create) and `.`/`..` resolved.
 * A name that does not exist yet is resolved through its directory.
 */
export function canonicalPath(p: string, depth = 0): string {
  // The kernel resolves the directory: path.resolve would fold `/proc/self/cwd/..` as text.
  const abs = kernelPath(p);
  try {
    return fs.realpathSync.native(abs);
  } catch {
    /* does not exist (yet) */
  }
  try {
    if (depth < 32 && fs.lstatSync(abs).isSymbolicLink())
      return canonicalPath(path.resolve(path.dirname(abs), fs.readlinkSync(abs)), depth + 1);
  } catch {
    /* not a symlink */
  }
  return abs;
}

export class WriterLock {
  /** The storage file (or FileAdapter store base) this lock guards, as given. */
  readonly storage: string;
  readonly #token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  #os: Database.Database | undefined;
  #holderFile: string | undefined;

  constructor(storage: string) {
    this.storage = storage;
  }

  /** The holder file (`<real storage path>.lock`). */
  get path(): string {
    return `${canonicalPath(this.storage)}.lock`;
  }

  /** Take the lock or throw StorageLockedError (another live writer) / StorageError (I/O). */
  acquire(): void {
    if (this.#os !== undefined) return;
    const base = canonicalPath(this.storage);
    const holderFile = `${base}.lock`;
    let db: Database.Database | undefined;
    // Two openers racing for a free lock can both get SQLITE_BUSY (each holds the SHARED lock the
    // other needs gone for EXCLUSIVE): retry briefly, so a free lock always has a winner.
    for (let attempt = 0; ; attempt++) {
      try {
        db = new Database(`${base}.lock.os`, { timeout: 0 });
        // Nothing is ever written; a journal kept in memory means no journal file either, so the lock
        // is taken even on a full disk.
        db.pragma('journal_mode = MEMORY');
        db.exec('BEGIN EXCLUSIVE');
        break;
      } catch (e) {
        try {
          db?.close();
        } catch {
          /* nothing held */
        }
        db = undefined;
        if ((e as { code?: string }).code !== 'SQLITE_BUSY')
          throw toStorageError('open', e, `${base}.lock.os`);
        if (attempt >= 8) throw this.#locked(holderFile);
        sleep(5 + Math.floor(Math.random() * 20));
      }
    }
    try {
      const me: Holder = { pid: process.pid, host: os.hostname(), since: Date.now(), token: this.#token };
      // Only the OS lock holder writes this file, so replacing a stale one races with nobody.
      replaceFileDurably(holderFile, (write) => write(JSON.stringify(me)));
    } catch {
      // No room for it (full disk): the OS lock is what excludes others, this file only names the
      // holder. Remove a stale one rather than let it name a dead process.
      fs.rmSync(holderFile, { force: true });
    }
    this.#os = db;
    this.#holderFile = holderFile;
  }

  /** The live holder, as its holder file names it (it may still be writing it: wait briefly). */
  #locked(holderFile: string): StorageError {
    let holder: Holder | undefined;
    for (let i = 0; i < 40; i++) {
      holder = readHolder(holderFile);
      if (holder !== undefined && (holder.host !== os.hostname() || alive(holder.pid))) break;
      sleep(25);
    }
    return new StorageLockedError(
      this.storage,
      holder ?? { pid: 0, host: 'unknown (the holder has not written its lock file)', since: Date.now() },
    );
  }

  release(): void {
    const db = this.#os;
    if (db === undefined) return;
    this.#os = undefined;
    try {
      const h = readHolder(this.#holderFile!);
      if (h === undefined || h.token === this.#token) fs.rmSync(this.#holderFile!, { force: true });
    } catch {
      /* already gone */
    } finally {
      db.close();
    }
  }
}
