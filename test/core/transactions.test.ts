import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BucketEvent } from '../../src/index.js';
import {
  BucketNotDefinedError,
  ReferentialIntegrityError,
  Store,
  TransactionConflictError,
  UniqueConstraintError,
  ValidationError,
} from '../../src/index.js';

let store: Store;

beforeEach(async () => {
  store = await Store.start({ ttlCheckIntervalMs: 0 });
  await store.defineBucket('customers', {
    key: 'id',
    schema: {
      id: { type: 'string', required: true },
      name: { type: 'string', required: true },
      email: { type: 'string', unique: true },
      tier: { type: 'string', enum: ['basic', 'gold'], default: 'basic' },
    },
    indexes: ['tier'],
  });
  await store.defineBucket('orders', {
    key: 'id',
    schema: {
      id: { type: 'number', generated: 'autoincrement' },
      customerId: { type: 'string', ref: 'customers', onDelete: 'cascade' },
      amount: { type: 'number', min: 0 },
    },
  });
  await store.bucket('customers').insertMany([
    { id: '1', name: 'Ann', email: 'ann@x.io' },
    { id: '2', name: 'Bob', email: 'bob@x.io', tier: 'gold' },
  ]);
});

afterEach(async () => {
  await store.stop();
});

async function snapshot() {
  return {
    customers: await store.bucket('customers').all(),
    orders: await store.bucket('orders').all(),
  };
}

describe('transactions (C-11)', () => {
  it('returns the callback value and commits all writes', async () => {
    const result = await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      const o = await tx.bucket('orders');
      await c.insert({ id: '3', name: 'Cy' });
      const order = await o.insert({ customerId: '3', amount: 10 });
      await c.update('1', { tier: 'gold' });
      await c.delete('2');
      return { orderId: order.id };
    });
    expect(result).toEqual({ orderId: 1 });
    expect((await store.bucket('customers').all()).map((r) => [r.id, r.tier])).toEqual([
      ['1', 'gold'],
      ['3', 'basic'],
    ]);
    expect(await store.bucket('orders').get(1)).toMatchObject({ customerId: '3', amount: 10, _version: 1 });
    expect((await store.bucket('customers').get('1'))!._version).toBe(2);
  });

  it('read-your-own-writes for every handle method', async () => {
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      expect(await tx.bucket('customers')).toBe(c); // cached per name
      expect(c.name).toBe('customers');
      const ins = await c.insert({ id: '3', name: 'Cy', email: 'cy@x.io' });
      expect(ins).toMatchObject({ id: '3', tier: 'basic', _version: 1 });
      expect(await c.get('3')).toEqual(ins);
      const upd = await c.update('3', { name: 'Cyrus' });
      expect(upd._version).toBe(2);
      expect((await c.get('3'))!.name).toBe('Cyrus');
      expect(await c.count()).toBe(3);
      expect((await c.all()).map((r) => r.id)).toEqual(['1', '2', '3']);
      expect((await c.where({ tier: 'basic' })).map((r) => r.id)).toEqual(['1', '3']);
      expect((await c.findOne({ name: 'Cyrus' }))!.id).toBe('3');
      expect(await c.count({ tier: 'gold' })).toBe(1);

      // updates to committed records are visible, including through an index
      await c.update('1', { tier: 'gold' });
      expect((await c.where({ tier: 'gold' })).map((r) => r.id).sort()).toEqual(['1', '2']);
      expect((await c.where({ tier: 'basic' })).map((r) => r.id)).toEqual(['3']);

      const many = await c.insertMany([
        { id: '4', name: 'Di' },
        { id: '5', name: 'Ed' },
      ]);
      expect(many.map((r) => r.id)).toEqual(['4', '5']);
      expect(await c.count()).toBe(5);
      expect(await c.updateMany({ id: { $in: ['4', '5'] } }, { tier: 'gold' })).toBe(2);
      expect(await c.count({ tier: 'gold' })).toBe(4);
      expect(await c.deleteMany({ id: '5' })).toBe(1);
      expect(await c.get('5')).toBeUndefined();
      await c.delete('2');
      expect(await c.get('2')).toBeUndefined();
      expect((await c.all()).map((r) => r.id)).toEqual(['1', '3', '4']);
      expect(await c.findOne({ id: '2' })).toBeUndefined();

      const up1 = await c.upsert({ id: '4', name: 'Dina' });
      expect(up1).toMatchObject({ id: '4', name: 'Dina', tier: 'gold', _version: 3 });
      const up2 = await c.upsert({ id: '9', name: 'New' });
      expect(up2).toMatchObject({ id: '9', _version: 1 });
      expect(await c.count()).toBe(4);
    });
    expect((await store.bucket('customers').all()).map((r) => r.id)).toEqual(['1', '3', '4', '9']);
  });

  it('nothing is visible to others before commit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let staged!: () => void;
    const stagedP = new Promise<void>((r) => {
      staged = r;
    });
    const events: BucketEvent[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(e);
    });
    const txP = store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.insert({ id: '3', name: 'Cy' });
      await c.update('1', { name: 'Ann2' });
      await c.delete('2');
      staged();
      await gate;
    });
    await stagedP;
    const customers = store.bucket('customers');
    expect(await customers.get('3')).toBeUndefined();
    expect((await customers.get('1'))!.name).toBe('Ann');
    expect(await customers.get('2')).toBeDefined();
    expect(await customers.count()).toBe(2);
    await store.settle();
    expect(events).toEqual([]);
    release();
    await txP;
    expect(await customers.get('3')).toBeDefined();
    expect((await customers.get('1'))!.name).toBe('Ann2');
    expect(await customers.get('2')).toBeUndefined();
  });

  it('events are published only after commit, one per change', async () => {
    const events: string[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(`${e.type}:${e.bucket}:${String(e.key)}`);
    });
    let eventsDuringTx = -1;
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.insert({ id: '3', name: 'Cy' });
      await c.update('1', { name: 'A' });
      await c.update('1', { name: 'B' }); // same record twice: one event
      const o = await tx.bucket('orders');
      await o.insert({ customerId: '1', amount: 1 });
      await store.settle();
      eventsDuringTx = events.length;
    });
    await store.settle();
    expect(eventsDuringTx).toBe(0);
    expect(events).toEqual(['inserted:customers:3', 'updated:customers:1', 'inserted:orders:1']);
  });

  it('a reactive query sees a transaction only after commit', async () => {
    store.defineQuery('n', async (ctx) => ctx.bucket('customers').count());
    const results: unknown[] = [];
    await store.subscribe('n', (r) => results.push(r));
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.insert({ id: '3', name: 'Cy' });
      await c.insert({ id: '4', name: 'Di' });
    });
    await store.settle();
    expect(results).toEqual([4]);
  });

  it('a throwing callback changes nothing and rethrows', async () => {
    const before = await snapshot();
    const events: BucketEvent[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(e);
    });
    const boom = new Error('boom');
    await expect(
      store.transaction(async (tx) => {
        const c = await tx.bucket('customers');
        await c.insert({ id: '3', name: 'Cy' });
        await c.update('1', { name: 'X' });
        await (await tx.bucket('orders')).insert({ customerId: '1', amount: 1 });
        throw boom;
      }),
    ).rejects.toBe(boom);
    await store.settle();
    expect(await snapshot()).toEqual(before);
    expect(events).toEqual([]);
  });

  it('an empty transaction is fine', async () => {
    expect(await store.transaction(async () => 42)).toBe(42);
    expect(await store.transaction(async (tx) => (await tx.bucket('customers')).count())).toBe(2);
  });

  it.each([
    [
      'schema',
      ValidationError,
      async (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => {
        await (await tx.bucket('orders')).insert({ customerId: '1', amount: 5 });
        await (await tx.bucket('customers')).update('1', { name: 'ok' });
        // the failing write comes last
        await (await tx.bucket('customers')).insert({ id: '9' });
      },
    ],
    [
      'unique',
      UniqueConstraintError,
      async (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => {
        const c = await tx.bucket('customers');
        await (await tx.bucket('orders')).insert({ customerId: '1', amount: 5 });
        await c.insert({ id: '3', name: 'Cy', email: 'cy@x.io' });
        await c.insert({ id: '4', name: 'Di', email: 'cy@x.io' });
      },
    ],
    [
      'references',
      ReferentialIntegrityError,
      async (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => {
        await (await tx.bucket('customers')).insert({ id: '3', name: 'Cy' });
        await (await tx.bucket('orders')).insert({ customerId: 'nobody', amount: 5 });
      },
    ],
  ])('all-or-nothing across buckets when a %s constraint fails', async (_what, errorClass, body) => {
    const before = await snapshot();
    const events: BucketEvent[] = [];
    await store.on('bucket.*.*', (e: BucketEvent) => {
      events.push(e);
    });
    await expect(store.transaction(body)).rejects.toBeInstanceOf(errorClass);
    await store.settle();
    expect(await snapshot()).toEqual(before);
    expect(events).toEqual([]);
    // indexes unchanged
    expect((await store.bucket('customers').where({ tier: 'basic' })).map((r) => r.id)).toEqual(['1']);
    expect(await store.bucket('customers').findOne({ email: 'cy@x.io' })).toBeUndefined();
  });

  it('a unique conflict with a committed record fails at commit and changes nothing', async () => {
    const before = await snapshot();
    await expect(
      store.transaction(async (tx) => {
        await (await tx.bucket('orders')).insert({ customerId: '2', amount: 1 });
        await (await tx.bucket('customers')).update('1', { email: 'bob@x.io' });
      }),
    ).rejects.toBeInstanceOf(UniqueConstraintError);
    expect(await snapshot()).toEqual(before);
  });

  it('swapping unique values between two records inside one transaction works', async () => {
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.update('1', { email: 'tmp@x.io' });
      await c.update('2', { email: 'ann@x.io' });
      await c.update('1', { email: 'bob@x.io' });
    });
    const c = store.bucket('customers');
    expect((await c.get('1'))!.email).toBe('bob@x.io');
    expect((await c.get('2'))!.email).toBe('ann@x.io');
    expect((await c.findOne({ email: 'ann@x.io' }))!.id).toBe('2');
  });

  it('TransactionConflictError when a touched record changed concurrently', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let staged!: () => void;
    const stagedP = new Promise<void>((r) => {
      staged = r;
    });
    const txP = store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.update('1', { name: 'from tx' });
      await (await tx.bucket('orders')).insert({ customerId: '1', amount: 3 });
      staged();
      await gate;
    });
    await stagedP;
    await store.bucket('customers').update('1', { name: 'outside' });
    release();
    const err = await txP.catch((e) => e);
    expect(err).toBeInstanceOf(TransactionConflictError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('TransactionConflictError');
    expect(err.bucket).toBe('customers');
    expect(err.key).toBe('1');
    expect(err.message).toContain('bucket "customers"');
    expect(err.message).toContain('key "1"');
    expect(err.message).toBe(
      'Transaction conflict in bucket "customers" for key "1": Version mismatch: expected 1, got 2',
    );
    expect((await store.bucket('customers').get('1'))!.name).toBe('outside');
    expect(await store.bucket('orders').count()).toBe(0);
  });

  it('TransactionConflictError when a record the transaction deletes or inserts changed concurrently', async () => {
    const run = async (body: (tx: any) => Promise<void>, outside: () => Promise<unknown>) => {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let staged!: () => void;
      const stagedP = new Promise<void>((r) => {
        staged = r;
      });
      const p = store.transaction(async (tx) => {
        await body(tx);
        staged();
        await gate;
      });
      await stagedP;
      await outside();
      release();
      return p.catch((e) => e);
    };
    const e1 = await run(
      async (tx) => (await tx.bucket('customers')).delete('2'),
      () => store.bucket('customers').update('2', { name: 'changed' }),
    );
    expect(e1).toBeInstanceOf(TransactionConflictError);
    expect(e1).toMatchObject({ bucket: 'customers', key: '2' });
    expect(await store.bucket('customers').get('2')).toMatchObject({ name: 'changed' });

    const e2 = await run(
      async (tx) => {
        await (await tx.bucket('customers')).insert({ id: '7', name: 'tx' });
      },
      () => store.bucket('customers').insert({ id: '7', name: 'outside' }),
    );
    expect(e2).toBeInstanceOf(TransactionConflictError);
    expect(e2).toMatchObject({ bucket: 'customers', key: '7' });
    expect((await store.bucket('customers').get('7'))!.name).toBe('outside');

    const e3 = await run(
      async (tx) => {
        await (await tx.bucket('customers')).update('1', { name: 'tx' });
      },
      () => store.bucket('customers').delete('1'),
    );
    expect(e3).toBeInstanceOf(TransactionConflictError);
    expect(e3).toMatchObject({ bucket: 'customers', key: '1' });
    expect(await store.bucket('customers').get('1')).toBeUndefined();
  });

  it('a concurrent change to an untouched record does not conflict', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const txP = store.transaction(async (tx) => {
      await (await tx.bucket('customers')).update('1', { name: 'tx' });
      await gate;
    });
    await new Promise((r) => setTimeout(r, 0));
    await store.bucket('customers').update('2', { name: 'outside' });
    release();
    await txP;
    expect((await store.bucket('customers').get('1'))!.name).toBe('tx');
    expect((await store.bucket('customers').get('2'))!.name).toBe('outside');
  });

  it('a referential delete inside a transaction cascades at commit', async () => {
    await store.bucket('orders').insertMany([
      { customerId: '1', amount: 1 },
      { customerId: '2', amount: 2 },
    ]);
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.delete('1');
      const o = await tx.bucket('orders');
      expect((await o.all()).map((r) => r.customerId)).toEqual(['2']);
    });
    expect((await store.bucket('orders').all()).map((r) => r.customerId)).toEqual(['2']);
  });

  it('restrict is judged at commit: deleting a parent before its restricting child works in either order', async () => {
    await store.defineBucket('notes', {
      key: 'id',
      schema: { id: { type: 'string' }, customerId: { type: 'string', ref: 'customers' } },
    });
    await store.bucket('notes').insertMany([
      { id: 'n1', customerId: '1' },
      { id: 'n2', customerId: '2' },
    ]);
    await store.transaction(async (tx) => {
      await (await tx.bucket('customers')).delete('1');
      await (await tx.bucket('notes')).delete('n1');
    });
    await store.transaction(async (tx) => {
      await (await tx.bucket('notes')).delete('n2');
      await (await tx.bucket('customers')).delete('2');
    });
    expect(await store.bucket('customers').count()).toBe(0);
    await store.bucket('customers').insert({ id: '3', name: 'C' });
    await store.bucket('notes').insert({ id: 'n3', customerId: '3' });
    await expect(
      store.transaction(async (tx) => {
        await (await tx.bucket('customers')).delete('3');
      }),
    ).rejects.toThrow(
      'Cannot delete from bucket "customers" (key "3"): referenced by bucket "notes" (key "n3") via field "customerId"',
    );
    expect(await store.bucket('customers').get('3')).toBeDefined();
  });

  it('referencing a record inserted in the same transaction works', async () => {
    await store.transaction(async (tx) => {
      await (await tx.bucket('customers')).insert({ id: 'n', name: 'New' });
      await (await tx.bucket('orders')).insert({ customerId: 'n', amount: 1 });
    });
    expect(await store.bucket('orders').count({ customerId: 'n' })).toBe(1);
  });

  it('errors thrown by the handle inside the callback abort the transaction', async () => {
    const before = await snapshot();
    await expect(
      store.transaction(async (tx) => {
        const c = await tx.bucket('customers');
        await c.insert({ id: '3', name: 'Cy' });
        await c.update('missing', { name: 'x' });
      }),
    ).rejects.toThrow('Record with key "missing" not found in bucket "customers"');
    await expect(
      store.transaction(async (tx) => {
        await tx.bucket('nope');
      }),
    ).rejects.toBeInstanceOf(BucketNotDefinedError);
    expect(await snapshot()).toEqual(before);
  });

  it('a transaction handle cannot be used after commit', async () => {
    let leaked: any;
    await store.transaction(async (tx) => {
      leaked = await tx.bucket('customers');
    });
    await expect(leaked.insert({ id: 'late', name: 'L' })).rejects.toThrow(/already committed/);
    expect(await store.bucket('customers').get('late')).toBeUndefined();
  });

  it('autoincrement values taken by a transaction do not collide with concurrent inserts', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const txP = store.transaction(async (tx) => {
      const o = await tx.bucket('orders');
      const r = await o.insert({ customerId: '1', amount: 1 });
      await gate;
      return r.id;
    });
    await new Promise((r) => setTimeout(r, 0));
    const outside = await store.bucket('orders').insert({ customerId: '2', amount: 2 });
    release();
    const txId = await txP;
    expect(txId).not.toBe(outside.id);
    expect(await store.bucket('orders').count()).toBe(2);
  });

  it('a transaction whose bucket was redefined or dropped before commit fails instead of losing writes', async () => {
    const open = async (bucket: string, record: Record<string, unknown>, after: () => Promise<unknown>) => {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let staged!: () => void;
      const stagedP = new Promise<void>((r) => {
        staged = r;
      });
      const p = store.transaction(async (tx) => {
        try {
          await (await tx.bucket(bucket)).insert(record);
          await (await tx.bucket('customers')).update('1', { name: 'tx' });
        } finally {
          staged();
        }
        await gate;
      });
      await stagedP;
      await after();
      release();
      return p.catch((e) => e);
    };
    const e1 = await open('customers', { id: 'tx', name: 'T' }, () =>
      store.updateBucket('customers', { addIndexes: ['name'] }),
    );
    expect(e1).toBeInstanceOf(TransactionConflictError);
    expect(e1.bucket).toBe('customers');
    expect(await store.bucket('customers').get('tx')).toBeUndefined();
    expect((await store.bucket('customers').get('1'))!.name).toBe('Ann');

    const e2 = await open('orders', { customerId: '1', amount: 1 }, () => store.dropBucket('orders'));
    expect(e2).toBeInstanceOf(BucketNotDefinedError);
    expect((await store.bucket('customers').get('1'))!.name).toBe('Ann');
  });

  it('delete then insert of the same key in one transaction is one update with the next version', async () => {
    const events: BucketEvent[] = [];
    await store.on('bucket.customers.*', (e: BucketEvent) => {
      events.push(e);
    });
    const before = await store.bucket('customers').update('1', { name: 'v2' });
    await store.settle();
    events.length = 0;
    await store.transaction(async (tx) => {
      const c = await tx.bucket('customers');
      await c.delete('1');
      expect(await c.get('1')).toBeUndefined();
      const again = await c.insert({ id: '1', name: 'reborn' });
      expect(again._version).toBe(3);
      expect(await c.get('1')).toMatchObject({ name: 'reborn' });
    });
    await store.settle();
    const after = await store.bucket('customers').get('1');
    expect(after).toMatchObject({ name: 'reborn', _version: 3 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'updated', key: '1', oldRecord: before, newRecord: after });
  });

  it('no lost updates: concurrent read-modify-write transactions either apply or conflict', async () => {
    await store.defineBucket('counters', {
      key: 'id',
      schema: { id: { type: 'string' }, value: { type: 'number' } },
    });
    const counters = store.bucket('counters');
    await counters.insertMany([
      { id: 'x', value: 0 },
      { id: 'y', value: 0 },
    ]);
    const ticks = () => new Promise<void>((r) => setImmediate(r));
    let committed = 0;
    let conflicts = 0;
    let committedBoth = 0;
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      const waitBefore = i % 3;
      const waitAfter = (i * 7) % 4;
      const both = i % 2 === 0;
      if (i % 5 === 0) {
        // plain writes interleave with the transactions (they bump y's version, not its value)
        runs.push(
          (async () => {
            for (let t = 0; t < waitBefore; t++) await ticks();
            await counters.update('y', { note: i });
          })(),
        );
      }
      runs.push(
        store
          .transaction(async (tx) => {
            const c = await tx.bucket('counters');
            for (let t = 0; t < waitBefore; t++) await ticks();
            const x = (await c.get('x'))!;
            await c.update('x', { value: (x.value as number) + 1 });
            if (both) {
              const y = (await c.get('y'))!;
              await c.update('y', { value: (y.value as number) + 1 });
            }
            for (let t = 0; t < waitAfter; t++) await ticks();
            return both;
          })
          .then(
            (didBoth) => {
              committed++;
              if (didBoth) committedBoth++;
            },
            (e) => {
              expect(e).toBeInstanceOf(TransactionConflictError);
              conflicts++;
            },
          ),
      );
    }
    await Promise.all(runs);
    expect(committed + conflicts).toBe(40);
    expect(committed).toBeGreaterThan(0);
    expect(conflicts).toBeGreaterThan(0);
    expect((await counters.get('x'))!.value).toBe(committed);
    expect((await counters.get('y'))!.value).toBe(committedBoth);
  });

  it('rejects a non-function', async () => {
    await expect(store.transaction(42 as never)).rejects.toThrow();
  });
});
