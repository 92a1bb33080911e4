// restoreFromBackup: put a backup file written by `store.backupTo()` (or
// `quire backup`) in place of a store's database file. The target must not
// be in use: its writer lock is taken for the whole operation, so a running
// store makes this fail with StorageLockedError.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { InvalidArgumentError } from '../engine/index.js';
import { StorageCorruptionError, StorageError, toStorageError } from './errors.js';
import { WriterLock } from './lock.js';
import { ensureDir } from './own-files.js';
import { SQLITE_SCHEMA_VERSION } from './sqlite-adapter.js';

export interface RestoreFromBackupOptions {
  /** Replace a non-empty database file (default false: it is an error). */
  readonly overwrite?: boolean;
}

/**
 * Check a backup (SQLite integrity check, Quire tables, storage version) and
 * copy it to `dbFile` (written to a temporary file, then renamed; a stale
 * WAL of the old file is removed). Older storage versions are upgraded when
 * the file is next opened for writing.
 */
export async function restoreFromBackup(
  backupFile: string,
  dbFile: string,
  options: RestoreFromBackupOptions = {},
): Promise<{ path: string; bytes: number }> {
  if (typeof backupFile !== 'string' || backupFile === '')
    throw new InvalidArgumentError('restoreFromBackup', 'backupFile', 'expected a file path');
  if (typeof dbFile !== 'string' || dbFile === '')
    throw new InvalidArgumentError('restoreFromBackup', 'dbFile', 'expected a file path');
  if (path.resolve(backupFile) === path.resolve(dbFile))
    throw new InvalidArgumentError('restoreFromBackup', 'dbFile', 'is the backup file itself');
  if (!fs.existsSync(backupFile))
    throw new StorageError('restore', `Backup file "${backupFile}" does not exist`, { path: backupFile });
  if (fs.existsSync(dbFile) && fs.statSync(dbFile).size > 0 && options.overwrite !== true)
    throw new InvalidArgumentError(
      'restoreFromBackup',
      'dbFile',
      `"${dbFile}" exists; restoring replaces its content (pass {overwrite: true})`,
    );
  ensureDir(path.dirname(dbFile));
  const lock = new WriterLock(dbFile);
  lock.acquire();
  const tmp = `${dbFile}.restore-${process.pid}`;
  try {
    let src: Database.Database;
    try {
      src = new Database(backupFile, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw toStorageError('restore', e, backupFile);
    }
    try {
      let problems: string;
      let version: number;
      try {
        problems = (src.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>)
          .map((r) => r.integrity_check)
          .join('; ');
        const hasMeta = src
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quire_meta'")
          .pluck()
          .get();
        version =
          hasMeta === undefined
            ? 0
            : Number(
                src.prepare("SELECT value FROM quire_meta WHERE key = 'schema_version'").pluck().get() ?? 0,
              );
      } catch (e) {
        throw new StorageCorruptionError(
          backupFile,
          `Backup "${backupFile}" is not a readable SQLite file: ${(e as Error).message}`,
          undefined,
          e,
        );
      }
      if (problems !== 'ok')
        throw new StorageCorruptionError(backupFile, `Backup "${backupFile}" is damaged: ${problems}`);
      if (version === 0)
        throw new StorageError('restore', `"${backupFile}" is not a Quire store (no quire_meta table)`, {
          path: backupFile,
        });
      if (version > SQLITE_SCHEMA_VERSION)
        throw new StorageError(
          'restore',
          `Backup "${backupFile}" has storage version ${version}, newer than this Quire supports (${SQLITE_SCHEMA_VERSION})`,
          { path: backupFile },
        );
      fs.rmSync(tmp, { force: true });
      try {
        await src.backup(tmp);
      } catch (e) {
        throw toStorageError('restore', e, dbFile);
      }
    } finally {
      src.close();
    }
    for (const f of [`${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
    fs.renameSync(tmp, dbFile);
    return { path: dbFile, bytes: fs.statSync(dbFile).size };
  } finally {
    fs.rmSync(tmp, { force: true });
    lock.release();
  }
}
