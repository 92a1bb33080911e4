// Small tmpfs mounts for full-disk tests (the tests run as root, here and in
// CI). Every mount is unmounted after the test file.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { tempDir } from './helpers.js';

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* already gone */
    }
  }
});

/** Mount a fresh tmpfs of `size` (e.g. '1m') and return its directory. */
export function mountTmpfs(size: string): string {
  const dir = path.join(tempDir('quire-tmpfs-'), 'mnt');
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Give a mounted tmpfs a new size (space "returns" or shrinks). */
export function resizeTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-o', `remount,size=${size}`, dir]);
}

/** Fill the file system holding `dir` with a ballast file, leaving about `leaveBytes` free. */
export function fillDisk(dir: string, leaveBytes: number): string {
  const ballast = path.join(dir, `ballast-${process.pid}-${Date.now()}`);
  const fd = fs.openSync(ballast, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (;;) {
      const free = fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize;
      if (free <= leaveBytes) break;
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, free - leaveBytes));
    }
  } finally {
    fs.closeSync(fd);
  }
  return ballast;
}
