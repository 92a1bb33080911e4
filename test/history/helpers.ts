import * as path from 'node:path';
import { inject } from 'vitest';
import { FileAdapter, MemoryAdapter, SQLiteAdapter, Store, type StoreOptions } from '../../src/index.js';
import { PostgresAdapter } from '../../src/postgres/index.js';
import { pgSchema, tempDir } from '../persistence/helpers.js';

export { tempDir };

export type Opener = (o?: Partial<StoreOptions>) => Promise<Store>;

/**
 * Store kinds under test. `fresh()` sets up new data and returns `open`,
 * which starts a store on that data (again after a stop: a restart; without
 * persistence every open is a new, empty store).
 */
export function kinds(): Array<{ kind: string; durable: boolean; fresh: () => Opener }> {
  const mk = (kind: string, setup: (() => () => unknown) | undefined) => ({
    kind,
    durable: setup !== undefined,
    fresh: (): Opener => {
      const adapter = setup?.();
      return (o = {}) =>
        Store.start({
          name: 'h',
          ...o,
          ...(adapter !== undefined ? { persistence: { ...(o.persistence ?? {}), adapter: adapter() } } : {}),
        });
    },
  });
  return [
    mk('SQLiteAdapter', () => {
      const file = path.join(tempDir('quire-history-'), 'h.db');
      return () => new SQLiteAdapter(file);
    }),
    mk('FileAdapter', () => {
      const dir = path.join(tempDir('quire-history-'), 'files');
      return () => new FileAdapter(dir);
    }),
    mk('MemoryAdapter', () => {
      const a = new MemoryAdapter();
      return () => a;
    }),
    mk('PostgresAdapter', () => {
      const schema = pgSchema();
      return () => new PostgresAdapter({ connectionString: inject('pgUrl') }, { schema });
    }),
    mk('no persistence', undefined),
  ];
}

export const docDef = {
  key: 'id',
  schema: {
    id: { type: 'string' },
    title: { type: 'string', required: true },
    tags: { type: 'array' },
    note: { type: 'string' },
  },
  history: true,
} as const;

export const summary = (entries: ReadonlyArray<{ version: number; op: string; actor?: string }>) =>
  entries.map((e) => `${e.version}:${e.op}:${e.actor ?? '-'}`);
