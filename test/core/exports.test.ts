import { describe, expect, it } from 'vitest';
import * as bridge from '../../src/bridge/index.js';
import * as quire from '../../src/index.js';
import {
  BackupNotFoundError,
  BucketAlreadyExistsError,
  BucketNotDefinedError,
  PersistenceRequiredError,
  QueryAlreadyDefinedError,
  QueryNotDefinedError,
  ReferentialIntegrityError,
  Store,
  TransactionConflictError,
  UniqueConstraintError,
  ValidationError,
} from '../../src/index.js';

// Appendix A value exports.
const VALUE_EXPORTS = [
  'Store',
  'BucketHandle',
  'MemoryAdapter',
  'FileAdapter',
  'SQLiteAdapter',
  'runMigrations',
  'matchesFilter',
  'BucketAlreadyExistsError',
  'BucketNotDefinedError',
  'UniqueConstraintError',
  'TransactionConflictError',
  'ValidationError',
  'QueryAlreadyDefinedError',
  'QueryNotDefinedError',
  'ReferentialIntegrityError',
  'PersistenceRequiredError',
  'BackupNotFoundError',
] as const;

describe('exports (Appendix A)', () => {
  it.each(VALUE_EXPORTS)('quire exports %s', (name) => {
    expect(typeof (quire as Record<string, unknown>)[name]).toBe('function');
  });

  it('quire/bridge exports bridgeStoreToRules', () => {
    expect(typeof bridge.bridgeStoreToRules).toBe('function');
  });

  it('matchesFilter evaluates a filter against a record', () => {
    expect(quire.matchesFilter({ a: 1, b: 'Hello' }, { a: { $gte: 1 }, b: { $contains: 'ell' } })).toBe(true);
    expect(quire.matchesFilter({ a: 1 }, { $or: [{ a: 2 }, { a: 3 }] })).toBe(false);
  });

  it('MemoryAdapter has the noex StorageAdapter shape', async () => {
    const adapter = new quire.MemoryAdapter();
    for (const m of ['save', 'load', 'delete', 'exists', 'listKeys'] as const) {
      expect(typeof (adapter as unknown as Record<string, unknown>)[m]).toBe('function');
    }
  });

  it('BucketHandle is the class of the handles the store returns', async () => {
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    try {
      const h = await store.defineBucket('b', { key: 'id', schema: { id: { type: 'string' } } });
      expect(h).toBeInstanceOf(quire.BucketHandle);
      expect(store.bucket('b')).toBeInstanceOf(quire.BucketHandle);
    } finally {
      await store.stop();
    }
  });
});

describe('error classes', () => {
  const cases: Array<[string, Error, Record<string, unknown>, string]> = [
    [
      'BucketAlreadyExistsError',
      new BucketAlreadyExistsError('users'),
      { bucket: 'users' },
      'Bucket "users" already exists',
    ],
    [
      'BucketNotDefinedError',
      new BucketNotDefinedError('users'),
      { bucket: 'users' },
      'Bucket "users" is not defined',
    ],
    [
      'UniqueConstraintError',
      new UniqueConstraintError('users', 'email', 'a@b.c'),
      { bucket: 'users', field: 'email', value: 'a@b.c' },
      'Unique constraint violation in bucket "users": field "email" already has value "a@b.c"',
    ],
    [
      'TransactionConflictError',
      new TransactionConflictError('customers', '42', 'Version mismatch: expected 1, got 2', 'name'),
      { bucket: 'customers', key: '42', field: 'name' },
      'Transaction conflict in bucket "customers" for key "42": Version mismatch: expected 1, got 2',
    ],
    [
      'ValidationError',
      new ValidationError('users', [{ field: 'age', message: 'must be >= 0', code: 'min' }]),
      { issues: [{ field: 'age', message: 'must be >= 0', code: 'min' }] },
      '',
    ],
    [
      'QueryAlreadyDefinedError',
      new QueryAlreadyDefinedError('q'),
      { query: 'q' },
      'Query "q" is already defined',
    ],
    ['QueryNotDefinedError', new QueryNotDefinedError('q'), { query: 'q' }, 'Query "q" is not defined'],
    [
      'ReferentialIntegrityError',
      new ReferentialIntegrityError('msg', 'posts', 'authorId', 'authors', 'a1'),
      { sourceBucket: 'posts', sourceField: 'authorId', targetBucket: 'authors', targetKey: 'a1' },
      'msg',
    ],
    [
      'PersistenceRequiredError',
      new PersistenceRequiredError('create backup'),
      {},
      'Cannot create backup: persistence is not configured',
    ],
    [
      'BackupNotFoundError',
      new BackupNotFoundError('nightly'),
      { backup: 'nightly' },
      'Backup "nightly" not found',
    ],
  ];

  it.each(cases)(
    '%s is a real Error subclass with name, fields and message',
    (name, err, fields, message) => {
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(err.constructor.name).toBe(name);
      expect(Object.prototype.toString.call(err)).toBe('[object Error]');
      expect(typeof err.stack).toBe('string');
      expect(err).toMatchObject(fields);
      if (message !== '') expect(err.message).toBe(message);
      expect(String(err)).toBe(`${name}: ${err.message}`);
    },
  );

  it('errors raised by the store are the exported classes', async () => {
    const store = await Store.start({ ttlCheckIntervalMs: 0 });
    try {
      await store.defineBucket('b', { key: 'id', schema: { id: { type: 'string' }, n: { type: 'number' } } });
      await expect(
        store.defineBucket('b', { key: 'id', schema: { id: { type: 'string' } } }),
      ).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof BucketAlreadyExistsError && (e as Error).message === 'Bucket "b" already exists',
      );
      expect(() => store.bucket('zz')).toThrow(BucketNotDefinedError);
      expect(await store.dropBucket('zz')).toBe(false);
      await expect(store.bucket('b').insert({ id: 'x', n: 'no' } as never)).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof ValidationError &&
          e.name === 'ValidationError' &&
          e.issues.length === 1 &&
          e.issues[0]!.field === 'n' &&
          e.issues[0]!.code === 'type',
      );
      await expect(store.createBackup()).rejects.toBeInstanceOf(PersistenceRequiredError);
      await expect(store.listBackups()).rejects.toThrow('Cannot list backups: persistence is not configured');
      await expect(store.restoreBackup('x')).rejects.toThrow(
        'Cannot restore backup: persistence is not configured',
      );
      await expect(store.deleteBackup('x')).rejects.toThrow(
        'Cannot delete backup: persistence is not configured',
      );
    } finally {
      await store.stop();
    }
  });
});
