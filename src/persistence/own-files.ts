// Whether a path names one of a store's own files. Compared by device and
// inode, never by path text: `..` segments, `/proc/self/cwd/…`, symlinks and
// hard links all reach the same file under another name.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a store's storage consists of. */
export interface OwnFiles {
  /** Files that are (or may come to be) the store's: database, -wal, -shm, journal, lock, snapshot. */
  readonly files: readonly string[];
  /** Directories whose every entry belongs to the store (FileAdapter). */
  readonly dirs: readonly string[];
}

interface Identity {
  readonly dev: number;
  readonly ino: number;
}

function identity(p: string): Identity | undefined {
  try {
    const s = fs.statSync(p);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}

const same = (a: Identity | undefined, b: Identity | undefined) =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

/**
 * The own file (or directory) `target` would write onto, or undefined when
 * it is none of them. A file that does not exist yet is identified by its
 * directory's device + inode and its name, so a path to the -wal file counts
 * even while no -wal exists. A dangling symlink counts as a store file: where
 * it points cannot be judged.
 */
export function ownFileAt(target: string, own: OwnFiles): string | undefined {
  const abs = kernelPath(target);
  let real: string;
  try {
    real = fs.realpathSync.native(abs);
  } catch {
    let link = false;
    try {
      link = fs.lstatSync(abs).isSymbolicLink();
    } catch {
      /* does not exist */
    }
    if (link) return abs;
    real = abs;
  }
  const existing = identity(real);
  const dir = identity(path.dirname(real));
  const name = path.basename(real);
  for (const f of own.files) {
    const fileId = identity(f);
    if (existing !== undefined && same(existing, fileId)) return f;
    if (name === path.basename(f) && same(dir, identity(path.dirname(f)))) return f;
  }
  for (const d of own.dirs) {
    const dirId = identity(d);
    if (same(dir, dirId) || same(existing, dirId)) return d;
  }
  return undefined;
}

/**
 * `target` made absolute with its directory resolved by the kernel:
 * `path.resolve` folds `..` as text, which is wrong after a symlink
 * (`/proc/self/cwd/../x` is not `/proc/self/x`).
 */
export function kernelPath(target: string): string {
  try {
    return path.join(fs.realpathSync.native(path.dirname(target)), path.basename(target));
  } catch {
    return path.resolve(target);
  }
}

/**
 * Make `dir` (and its parents) unless it exists. The existence check is the
 * kernel's: `path.resolve` and a recursive mkdir over `/proc/self/cwd/..`
 * would work on the folded text (`/proc/self/…`) instead, and Node's
 * recursive mkdir can spin there.
 */
export function ensureDir(dir: string): void {
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true });
}
