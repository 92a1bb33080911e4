// The browser entry of `quiredb/client` and the React hooks are typed like
// the Node client: a schema type checks bucket names, records and filters.
import { describe, expectTypeOf, it } from 'vitest';
import { connectHttp, connectWebSocket, type RemoteBucket } from '../../src/client/browser.js';
import type { BucketTypes, StoreRecord } from '../../src/index.js';
import { type LiveState, quireHooks, useQuery, useRecord } from '../../src/react/index.js';

type Task = { id: string; title: string; done: boolean };
type TaskInsert = { id?: string | null; title: string; done?: boolean | null };
type Schema = { tasks: BucketTypes<Task, TaskInsert> };

describe('the browser client and the hooks, typed', () => {
  it('connectHttp<S> and connectWebSocket<S> type buckets, records and filters', async () => {
    const http = connectHttp<Schema>('http://127.0.0.1:1/rpc');
    expectTypeOf(http.bucket('tasks')).toEqualTypeOf<RemoteBucket<Task, TaskInsert>>();
    // @ts-expect-error not a bucket of the schema
    http.bucket('todo');
    const ws = await connectWebSocket<Schema>('ws://127.0.0.1:1/rpc');
    expectTypeOf(await ws.bucket('tasks').get('a')).toEqualTypeOf<StoreRecord<Task> | undefined>();
    // @ts-expect-error misspelled field
    await ws.bucket('tasks').where({ titel: 'x' });
    // @ts-expect-error missing param "record"
    await ws.call('insert', { bucket: 'tasks' });
  });

  it('hooks: untyped by default, typed through quireHooks<S>()', () => {
    expectTypeOf(useQuery<number>).returns.toEqualTypeOf<LiveState<number>>();
    expectTypeOf(useRecord<Task>).returns.toEqualTypeOf<LiveState<StoreRecord<Task> | null>>();
    const hooks = quireHooks<Schema>();
    expectTypeOf(hooks.useRecord<'tasks'>).returns.toEqualTypeOf<LiveState<StoreRecord<Task> | null>>();
    // @ts-expect-error not a bucket of the schema
    hooks.useRecord('todo', 'k');
  });
});
