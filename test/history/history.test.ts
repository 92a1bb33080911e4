// Version history (P-6) on every kind of store: what is recorded (every
// committed version, with its actor, also several versions of one record in
// one debounced flush), restoreVersion (update, undelete, monotonic
// versions), retention, and the history surviving a restart.
import { describe, expect, it } from 'vitest';
import {
  BucketNotDefinedError,
  DefinitionError,
  HistoryNotEnabledError,
  InvalidArgumentError,
  ValidationError,
  VersionNotFoundError,
} from '../../src/index.js';
import { docDef, kinds, summary } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const { kind, durable, fresh } of kinds()) {
  describe(`history (${kind})`, () => {
    it('records every version newest first, with the actor of writes and transactions', async () => {
      const open = fresh();
      const s = await open();
      const docs = await s.defineBucket('docs', docDef);
      await docs.insert({ id: 'a', title: 'One', tags: ['x'] }, { actor: 'alice' });
      await docs.update('a', { title: 'Two' }, { actor: 'bob' });
      await s.transaction(
        async (tx) => {
          const t = await tx.bucket('docs');
          await t.update('a', { title: 'Three' });
          await t.insert({ id: 'b', title: 'Bee' });
        },
        { actor: 'tx-user' },
      );
      await docs.update('a', { note: 'anonymous' });
      await docs.delete('a', { actor: 'carol' });
      const h = await docs.history('a');
      expect(summary(h)).toEqual([
        '4:delete:carol',
        '4:update:-',
        '3:update:tx-user',
        '2:update:bob',
        '1:insert:alice',
      ]);
      expect(h[0]!.record).toBeUndefined();
      expect(h[1]!.record).toMatchObject({ id: 'a', title: 'Three', note: 'anonymous', _version: 4 });
      expect(h[4]!.record).toMatchObject({ id: 'a', title: 'One', tags: ['x'], _version: 1 });
      // seqs increase with every change, across buckets and keys
      const seqs = h.map((e) => e.seq).reverse();
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
      expect(summary(await docs.history('b'))).toEqual(['1:insert:tx-user']);
      expect(await docs.history('never-written')).toEqual([]);
      // limit, since, until
      expect(summary(await docs.history('a', { limit: 2 }))).toEqual(['4:delete:carol', '4:update:-']);
      const at = h[2]!.at;
      expect((await docs.history('a', { since: at })).every((e) => e.at >= at)).toBe(true);
      expect((await docs.history('a', { until: new Date(at) })).every((e) => e.at <= at)).toBe(true);
      expect(await docs.history('a', { since: Date.now() + 60_000 })).toEqual([]);
      await s.stop();
    });

    it('restoreVersion writes old content as a new version; undeletes with a monotonic _version', async () => {
      const open = fresh();
      const s = await open();
      const docs = await s.defineBucket('docs', docDef);
      const v1 = await docs.insert({ id: 'a', title: 'First', note: 'keep me' });
      await docs.update('a', { title: 'Second', tags: ['new'] }, { actor: 'bob' });
      // back to v1: an update; the field v1 did not have (tags) is removed
      const r = await docs.restoreVersion('a', 1, { actor: 'admin' });
      expect(r).toMatchObject({ id: 'a', title: 'First', note: 'keep me', _version: 3 });
      expect(r).not.toHaveProperty('tags');
      expect(await docs.get('a')).toEqual(r);
      expect(summary(await docs.history('a'))).toEqual(['3:update:admin', '2:update:bob', '1:insert:-']);
      // delete (of version 3), then undelete version 2: an insert with version 4, original _createdAt
      await docs.delete('a');
      const u = await docs.restoreVersion('a', 2, { actor: 'admin' });
      expect(u).toMatchObject({ title: 'Second', tags: ['new'], _version: 4, _createdAt: v1._createdAt });
      expect(summary(await docs.history('a', { limit: 2 }))).toEqual(['4:insert:admin', '3:delete:-']);
      expect((await docs.get('a'))?._version).toBe(4);
      await docs.update('a', { title: 'After' });
      expect((await docs.get('a'))?._version).toBe(5);
      await s.stop();
    });

    it('rejects bad input with typed errors', async () => {
      const open = fresh();
      const s = await open();
      const docs = await s.defineBucket('docs', docDef);
      const plain = await s.defineBucket('plain', { key: 'id', schema: { id: { type: 'string' } } });
      await plain.insert({ id: 'p' });
      await docs.insert({ id: 'a', title: 'A' });
      await expect(plain.history('p')).rejects.toBeInstanceOf(HistoryNotEnabledError);
      await expect(plain.history('p')).rejects.toThrow(/bucket "plain" keeps no history/);
      await expect(plain.restoreVersion('p', 1)).rejects.toBeInstanceOf(HistoryNotEnabledError);
      const e = await docs.restoreVersion('a', 7).catch((x) => x);
      expect(e).toBeInstanceOf(VersionNotFoundError);
      expect(e.code).toBe('VERSION_NOT_FOUND');
      expect(e.message).toMatch(
        /Version 7 of key "a" in bucket "docs" is not in its history \(kept versions: 1\)/,
      );
      await expect(docs.restoreVersion('nobody', 1)).rejects.toThrow(/key "nobody".*has no history/);
      // a delete entry is not a version that can be restored on its own
      await docs.insert({ id: 'd', title: 'D' });
      await docs.delete('d');
      expect(await docs.restoreVersion('d', 1)).toMatchObject({ title: 'D', _version: 2 });
      for (const bad of [0, -1, 1.5, '1', null])
        await expect(docs.restoreVersion('a', bad as number)).rejects.toBeInstanceOf(InvalidArgumentError);
      for (const bad of [
        { limit: 0 },
        { limit: 'all' },
        { since: 'yesterday' },
        { until: {} },
        { sinse: 1 },
        'x',
      ])
        await expect(docs.history('a', bad as object)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(docs.history('a', { since: 10, until: 5 })).rejects.toThrow(
        /since \(10\) is after until \(5\)/,
      );
      await expect(docs.history({ bad: 'key' })).rejects.toThrow();
      await expect(docs.restoreVersion('a', 1, { actor: 42 as unknown as string })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      // restoreVersion into a dropped bucket
      const stale = s.bucket('docs');
      await s.dropBucket('docs');
      await expect(stale.restoreVersion('a', 1)).rejects.toBeInstanceOf(BucketNotDefinedError);
      await expect(stale.history('a')).rejects.toBeInstanceOf(BucketNotDefinedError);
      // a re-created bucket starts without the old history
      const again = await s.defineBucket('docs', docDef);
      expect(await again.history('a')).toEqual([]);
      // a version that no longer fits the schema is rejected by validation, nothing written
      await again.insert({ id: 'v', title: 'ok', note: 'n' });
      await s.dropBucket('strict');
      await s.stop();
      for (const history of [{ maxVersions: 0 }, { maxVersions: 1.5 }, { maxAge: 'forever' }, 'yes', 3]) {
        const t = await open();
        await expect(
          t.defineBucket('bad', { key: 'id', schema: { id: { type: 'string' } }, history } as never),
        ).rejects.toBeInstanceOf(DefinitionError);
        await t.stop();
      }
    });

    it('keeps at most maxVersions per key; maxAge drops old entries', async () => {
      const open = fresh();
      const s = await open();
      const few = await s.defineBucket('few', { ...docDef, history: { maxVersions: 3 } });
      await few.insert({ id: 'a', title: 't0' });
      for (let i = 1; i <= 9; i++) await few.update('a', { title: `t${i}` });
      await few.insert({ id: 'b', title: 'b' });
      expect((await few.history('a')).map((e) => e.version)).toEqual([10, 9, 8]);
      await expect(few.restoreVersion('a', 2)).rejects.toThrow(/kept versions: 8, 9, 10/);
      const young = await s.defineBucket('young', { ...docDef, history: { maxAge: 150 } });
      await young.insert({ id: 'a', title: 'old' });
      await sleep(250);
      await young.update('a', { title: 'new' });
      expect(summary(await young.history('a'))).toEqual(['2:update:-']);
      await s.stop();
      if (!durable) return;
      const s2 = await open();
      const few2 = await s2.defineBucket('few', { ...docDef, history: { maxVersions: 3 } });
      expect((await few2.history('a')).map((e) => e.version)).toEqual([10, 9, 8]);
      const young2 = await s2.defineBucket('young', { ...docDef, history: { maxAge: 150 } });
      await sleep(200);
      expect(await young2.history('a')).toEqual([]);
      await s2.stop();
    });

    it('updateBucket and migrations keep the history; a version that no longer validates is refused', async () => {
      const open = fresh();
      const s = await open();
      const docs = await s.defineBucket('docs', docDef);
      await docs.insert({ id: 'a', title: 'A' });
      await docs.update('a', { title: 'B' });
      await s.updateBucket('docs', { addFields: { score: { type: 'number', default: 0 } } });
      expect(summary(await s.bucket('docs').history('a'))).toEqual(['2:update:-', '1:insert:-']);
      const r = await s.bucket('docs').restoreVersion('a', 1);
      expect(r).toMatchObject({ title: 'A', _version: 3 });
      await s.bucket('docs').insert({ id: 'n', title: 'N', note: 'short' });
      await s.updateBucket('docs', { addFields: { extra: { type: 'string' } } });
      await s.bucket('docs').update('n', { note: 'x'.repeat(3) });
      await s.stop();
      // restoring into a schema that rejects the old content
      const s2 = await open();
      const strict = await s2.defineBucket('strict', {
        key: 'id',
        schema: { id: { type: 'string' }, n: { type: 'number', max: 100 } },
        history: true,
      });
      await strict.insert({ id: 'k', n: 500 }).catch(() => {});
      await strict.insert({ id: 'k', n: 5 });
      await strict.update('k', { n: 6 });
      expect((await strict.restoreVersion('k', 1)).n).toBe(5);
      await s2.stop();
      expect(ValidationError).toBeDefined();
    });

    it('restoreBackup is recorded for records whose content changed', async () => {
      if (!durable) return;
      const open = fresh();
      const s = await open();
      const docs = await s.defineBucket('docs', docDef);
      await docs.insert({ id: 'a', title: 'A' });
      await docs.insert({ id: 'same', title: 'S' });
      await s.createBackup('b1');
      await docs.update('a', { title: 'A2' });
      await s.restoreBackup('b1');
      expect((await docs.get('a'))?.title).toBe('A');
      expect(summary(await docs.history('a'))).toEqual(['1:update:-', '2:update:-', '1:insert:-']);
      expect(summary(await docs.history('same'))).toEqual(['1:insert:-']);
      await s.stop();
    });
  });
}
