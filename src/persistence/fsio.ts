// Durable file writes shared by the FileAdapter, its key/value side and the
// writer lock. `write(2)` may write fewer bytes than asked (a filling disk
// returns a short count before it returns ENOSPC): every write here loops
// until all bytes are on their way, and a file replaced "atomically" is
// written to a temporary name, fsync'ed, renamed and its directory fsync'ed,
// with the temporary file removed when anything fails.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Write all of `data` at the fd's position (or at `position`), however many calls it takes. */
export function writeFully(fd: number, data: Uint8Array, position?: number): void {
  let off = 0;
  while (off < data.length) {
    const n = fs.writeSync(fd, data, off, data.length - off, position === undefined ? null : position + off);
    if (n <= 0) {
      // A zero-byte write makes no progress: report it like the kernel reports a full disk.
      const e = new Error('ENOSPC: no space left on device, write returned 0 bytes') as NodeJS.ErrnoException;
      e.code = 'ENOSPC';
      throw e;
    }
    off += n;
  }
}

/** fsync a directory so a rename or a new file in it is durable. Platforms that cannot are skipped. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Windows cannot open a directory; some file systems refuse to fsync one.
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP') throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Write a file through `fill(write)` into `<file>.tmp`, fsync it, rename it
 * over `file` and fsync the directory. On any failure the temporary file is
 * removed and `file` is left as it was.
 */
export function replaceFileDurably(
  file: string,
  fill: (write: (chunk: Uint8Array | string) => void) => void,
): void {
  const tmp = `${file}.tmp`;
  let fd: number | undefined = fs.openSync(tmp, 'w');
  try {
    const target = fd;
    fill((chunk) => writeFully(target, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* the write error is the one to report */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}
