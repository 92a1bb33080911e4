import { describe, expectTypeOf, it } from 'vitest';
import { connectHttp, type MethodSpec, type RemoteBucket } from '../../src/client/index.js';
import type { BucketTypes, StoreRecord } from '../../src/index.js';

type Task = { id: string; title: string; done: boolean; due?: number | null };
type TaskInsert = { id?: string | null; title: string; done?: boolean | null; due?: number | null };
type Schema = { tasks: BucketTypes<Task, TaskInsert> };
type AppMethods = { 'app.archive': MethodSpec<{ readonly before: number }, { readonly archived: number }> };

describe('typed clients', () => {
  it('bucket(name), results and filters follow the schema type', async () => {
    const c = connectHttp<Schema>('http://127.0.0.1:1/rpc');
    const tasks = c.bucket('tasks');
    expectTypeOf(tasks).toEqualTypeOf<RemoteBucket<Task, TaskInsert>>();
    expectTypeOf(await tasks.get('a')).toEqualTypeOf<StoreRecord<Task> | undefined>();
    await tasks.where({ done: false, due: { $lt: 5 } }, { sort: { due: 'asc' } });
    // @ts-expect-error not a bucket of the schema
    c.bucket('todo');
    // @ts-expect-error misspelled field
    await tasks.where({ titel: 'x' });
    // @ts-expect-error $gt on a boolean
    await tasks.where({ done: { $gt: 1 } });
    // @ts-expect-error title is required
    await tasks.insert({ done: true });
  });

  it('call() is typed for built-in methods; a typed client knows only the methods it is given', async () => {
    const c = connectHttp<Schema>('http://127.0.0.1:1/rpc');
    expectTypeOf(await c.call('ping')).toEqualTypeOf<'pong'>();
    // @ts-expect-error unknown method on a typed client
    await c.call('app.archive', { before: 1 });
    // @ts-expect-error missing param "record"
    await c.call('insert', { bucket: 'tasks' });
    const app = connectHttp<Schema, AppMethods>('http://127.0.0.1:1/rpc');
    expectTypeOf(await app.call('app.archive', { before: 1 })).toEqualTypeOf<{ readonly archived: number }>();
    // @ts-expect-error wrong param type of an application method
    await app.call('app.archive', { before: 'yesterday' });
  });

  it('an untyped client accepts any bucket and application method; built-ins stay typed', async () => {
    const c = connectHttp('http://127.0.0.1:1/rpc');
    await c.bucket('anything').where({ any: { $gt: 'x' } });
    expectTypeOf(await c.call('app.whatever', { x: 1 })).toEqualTypeOf<unknown>();
    // @ts-expect-error missing param "record" on a built-in method
    await c.call('insert', { bucket: 'tasks' });
  });
});
