import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/index.js';

// Under random writes (single, bulk, transactional, cascading), every
// subscription ends on exactly what runQuery returns now, and it is never
// called back with a result equal to the one it already had.

const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5'];
const GROUPS = ['g1', 'g2'];

const op = fc.oneof(
  fc.record({
    kind: fc.constant('upsert' as const),
    key: fc.constantFrom(...KEYS),
    n: fc.integer({ min: 0, max: 5 }),
    group: fc.constantFrom(...GROUPS),
  }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }),
  fc.record({ kind: fc.constant('bump' as const), group: fc.constantFrom(...GROUPS) }),
  fc.record({ kind: fc.constant('deleteGroup' as const), group: fc.constantFrom(...GROUPS) }),
  fc.record({
    kind: fc.constant('tx' as const),
    keys: fc.subarray(KEYS, { minLength: 1 }),
    n: fc.integer({ min: 0, max: 5 }),
  }),
  fc.record({ kind: fc.constant('dropGroup' as const), group: fc.constantFrom(...GROUPS) }),
  fc.record({ kind: fc.constant('noop' as const), key: fc.constantFrom(...KEYS) }),
);

describe('reactive queries: property test', () => {
  it('subscriptions converge to runQuery and never repeat a result', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
        const store = await Store.start({ ttlCheckIntervalMs: 0 });
        try {
          await store.defineBucket('groups', { key: 'id', schema: { id: { type: 'string' } } });
          await store.defineBucket('items', {
            key: 'id',
            schema: {
              id: { type: 'string' },
              n: { type: 'number' },
              group: { type: 'string', ref: 'groups', onDelete: 'cascade' },
            },
            indexes: ['group', { fields: 'n', sorted: true }],
          });
          await store.bucket('groups').insertMany(GROUPS.map((id) => ({ id })));
          const groupsBucket = store.bucket('groups');
          const items = store.bucket('items');

          store.defineQuery(
            'one',
            async (ctx, p: { key: string }) => (await ctx.bucket('items').get(p.key)) ?? null,
          );
          store.defineQuery('big', async (ctx) =>
            (await ctx.bucket('items').where({ n: { $gte: 3 } }, { sort: { n: 'desc', id: 'asc' } })).map(
              (r) => r.id,
            ),
          );
          store.defineQuery('sum', async (ctx, p: { group: string }) =>
            ctx.bucket('items').sum('n', { group: p.group }),
          );
          store.defineDeclarativeQuery('byGroup', {
            bucket: 'items',
            filter: { group: '{{ params.group }}' },
            sort: { id: 'asc' },
            fields: ['id', 'n'],
          });
          store.defineDeclarativeQuery('counts', {
            bucket: 'items',
            aggregate: { function: 'count', groupBy: 'group' },
          });

          const subs: Array<{ name: string; params: unknown; last: unknown; repeats: number }> = [];
          const add = async (name: string, params: unknown) => {
            const s = { name, params, last: await store.runQuery(name, params), repeats: 0 };
            subs.push(s);
            await store.subscribe(name, params, (r) => {
              if (JSON.stringify(r) === JSON.stringify(s.last)) s.repeats++;
              s.last = r;
            });
          };
          await add('one', { key: 'k1' });
          await add('one', { key: 'k2' });
          await add('big', {});
          await add('sum', { group: 'g1' });
          await add('byGroup', { group: 'g2' });
          await add('counts', {});

          for (const o of ops) {
            try {
              switch (o.kind) {
                case 'upsert':
                  if (!(await groupsBucket.get(o.group))) await groupsBucket.insert({ id: o.group });
                  await items.upsert({ id: o.key, n: o.n, group: o.group });
                  break;
                case 'delete':
                  await items.delete(o.key);
                  break;
                case 'bump':
                  await items.updateMany({ group: o.group }, { n: 5 });
                  break;
                case 'deleteGroup':
                  await items.deleteMany({ group: o.group });
                  break;
                case 'dropGroup':
                  await groupsBucket.delete(o.group); // cascades into items
                  break;
                case 'tx':
                  await store.transaction(async (tx) => {
                    const t = await tx.bucket('items');
                    for (const k of o.keys) if (await t.get(k)) await t.update(k, { n: o.n });
                  });
                  break;
                case 'noop':
                  if (await items.get(o.key)) await items.update(o.key, {});
                  break;
              }
            } catch (e) {
              throw new Error(`unexpected failure of ${JSON.stringify(o)}: ${(e as Error).message}`);
            }
            await store.settle();
            for (const s of subs) {
              expect({ q: s.name, p: s.params, r: s.last }).toEqual({
                q: s.name,
                p: s.params,
                r: await store.runQuery(s.name, s.params),
              });
            }
          }
          for (const s of subs) expect({ q: s.name, repeats: s.repeats }).toEqual({ q: s.name, repeats: 0 });
        } finally {
          await store.stop();
        }
      }),
      { numRuns: 60 },
    );
  });
});
