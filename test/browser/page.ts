// The test page: bundled by esbuild with the "browser" condition (so
// `quiredb/client` is the fetch + WebSocket client), run in Chromium.
// Shows a live count of todos (useQuery), one todo (useRecord), the
// connection state, and adds a todo over HTTP (fetch) on a button press.
import { connectHttp, connectWebSocket, type WebSocketClient } from 'quiredb/client';
import { QuireProvider, useQuery, useRecord } from 'quiredb/react';
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';

const query = new URL(location.href).searchParams;
const rpc = query.get('rpc')!;
const token = query.get('token') ?? undefined;

function Count() {
  const count = useQuery<number>('todoCount');
  return h('p', { id: 'count' }, count.loading ? 'loading' : String(count.data));
}

function Todo() {
  const todo = useRecord<{ id: string; title: string }>('todos', 't1');
  if (todo.error !== undefined) return h('p', { id: 'todo' }, `error: ${todo.error.message}`);
  return h('p', { id: 'todo' }, todo.loading ? 'loading' : (todo.data?.title ?? '(none)'));
}

function AddOverHttp() {
  const [done, setDone] = useState('');
  const add = async () => {
    const http = connectHttp(rpc, { token });
    const r = await http.bucket('todos').insert({ id: 'from-page', title: 'added by the page' });
    setDone(String(r._version));
  };
  return h(
    'div',
    null,
    h('button', { id: 'add', type: 'button', onClick: () => void add() }, 'add'),
    h('span', { id: 'added' }, done),
  );
}

function App(props: { client: WebSocketClient }) {
  return h(QuireProvider, { client: props.client }, h(Count), h(Todo), h(AddOverHttp));
}

const status = document.getElementById('status')!;
const client = await connectWebSocket(rpc.replace(/^http/, 'ws'), {
  token,
  reconnect: { initialDelayMs: 50, maxDelayMs: 250 },
  onDisconnect: () => {
    status.textContent = 'disconnected';
  },
  onReconnect: () => {
    status.textContent = 'reconnected';
  },
});
status.textContent = 'connected';
createRoot(document.getElementById('root')!).render(h(App, { client }));
