// The page: a token form when the server asks for one, then the shell
// (header, navigation, live status) around the current view.
import { Component, type ComponentChildren, createContext } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { call, currentToken, Live, type LiveStatus, RpcError, setToken } from './rpc.js';
import { type BucketInfo, parseRoute, type Route, type ServerInfo } from './util.js';
import { BucketsView } from './views/buckets.js';
import { ChangesView } from './views/changes.js';
import { RecordView } from './views/record.js';
import { RecordsView } from './views/records.js';
import { StoreView } from './views/store.js';

export interface Inspector {
  readonly info: ServerInfo;
  readonly live: Live;
  readonly buckets: BucketInfo[] | undefined;
  refreshBuckets(): Promise<void>;
  /** A short message at the bottom of the page. */
  notify(text: string): void;
  /** Shows an error in the banner. */
  fail(e: unknown): void;
}

const InspectorContext = createContext<Inspector | undefined>(undefined);

export function useInspector(): Inspector {
  const c = useContext(InspectorContext);
  if (c === undefined) throw new Error('useInspector outside the app');
  return c;
}

export function errorText(e: unknown): string {
  if (e instanceof RpcError) return `${e.message}${e.kind !== 'ERROR' ? ` [${e.kind}]` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/** Render errors end up here instead of leaving a blank page. */
export class ErrorBoundary extends Component<{ children?: ComponentChildren }, { error?: unknown }> {
  override state: { error?: unknown } = {};
  override componentDidCatch(error: unknown): void {
    this.setState({ error });
  }
  override render() {
    if (this.state.error !== undefined)
      return (
        <div class="panel error" role="alert">
          <h2>Something went wrong</h2>
          <p>{errorText(this.state.error)}</p>
          <button type="button" onClick={() => this.setState({ error: undefined })}>
            Try again
          </button>{' '}
          <button type="button" onClick={() => location.reload()}>
            Reload the page
          </button>
        </div>
      );
    return this.props.children;
  }
}

function TokenForm(props: { error?: string; onToken(t: string): void }) {
  const [value, setValue] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <main class="gate">
      <form
        class="panel"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim() !== '') props.onToken(value.trim());
        }}
      >
        <h1>Quire inspector</h1>
        <p>This server needs an access token.</p>
        <label>
          Token
          <input
            type="password"
            name="token"
            autoComplete="off"
            ref={input}
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        {props.error !== undefined && (
          <p class="field-error" role="alert">
            {props.error}
          </p>
        )}
        <button type="submit" class="primary">
          Sign in
        </button>
        <p class="hint">The token is kept for this browser tab only (session storage).</p>
      </form>
    </main>
  );
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const [info, setInfo] = useState<ServerInfo | undefined>();
  const [gate, setGate] = useState<{ error?: string } | undefined>();
  const [bootError, setBootError] = useState<string | undefined>();

  const connect = useCallback(async () => {
    try {
      setInfo(await call<ServerInfo>('serverInfo'));
      setGate(undefined);
    } catch (e) {
      if (e instanceof RpcError && e.kind === 'UNAUTHORIZED') {
        const had = currentToken() !== undefined;
        setToken(undefined);
        setGate(had ? { error: 'That token was not accepted (invalid token).' } : {});
      } else setBootError(errorText(e));
    }
  }, []);
  useEffect(() => void connect(), [connect]);

  if (bootError !== undefined)
    return (
      <main class="gate">
        <div class="panel error" role="alert">
          <h1>Quire inspector</h1>
          <p>The server did not answer as expected: {bootError}</p>
          <button type="button" onClick={() => location.reload()}>
            Retry
          </button>
        </div>
      </main>
    );
  if (gate !== undefined)
    return (
      <TokenForm
        error={gate.error}
        onToken={(t) => {
          setToken(t);
          void connect();
        }}
      />
    );
  if (info === undefined) return <p class="boot">Connecting…</p>;
  return <Shell info={info} />;
}

let errorCount = 0;

function Shell(props: { info: ServerInfo }) {
  const { info } = props;
  const route = useRoute();
  const live = useMemo(() => new Live(), []);
  const [status, setStatus] = useState<LiveStatus>(live.status);
  const [buckets, setBuckets] = useState<BucketInfo[] | undefined>();
  const [errors, setErrors] = useState<Array<{ id: number; text: string }>>([]);
  const [note, setNote] = useState<string | undefined>();

  useEffect(() => {
    // The socket may have gone live between render and this effect: take its status now.
    setStatus(live.status);
    return live.onStatus(setStatus);
  }, [live]);
  useEffect(() => () => live.close(), [live]);

  const fail = useCallback(
    (e: unknown) => setErrors((list) => [...list.slice(-4), { id: ++errorCount, text: errorText(e) }]),
    [],
  );
  const refreshBuckets = useCallback(async () => {
    try {
      setBuckets(await call<BucketInfo[]>('describeBuckets'));
    } catch (e) {
      fail(e);
    }
  }, [fail]);
  useEffect(() => void refreshBuckets(), [refreshBuckets]);
  useEffect(() => {
    if (note === undefined) return;
    const t = setTimeout(() => setNote(undefined), 3000);
    return () => clearTimeout(t);
  }, [note]);

  const ctx: Inspector = useMemo(
    () => ({ info, live, buckets, refreshBuckets, notify: setNote, fail }),
    [info, live, buckets, refreshBuckets, fail],
  );
  const current = route.view === 'record' ? 'records' : route.view;
  const nav: Array<[string, string, string]> = [
    ['buckets', '#/buckets', 'Buckets'],
    ['changes', '#/changes', 'Changes'],
    ['store', '#/store', 'Store'],
  ];

  return (
    <InspectorContext.Provider value={ctx}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <strong class="brand">Quire</strong>
        <span class="store-name" title="store">
          {info.store}
        </span>
        <nav aria-label="Views">
          {nav.map(([id, href, label]) => (
            <a
              key={id}
              href={href}
              aria-current={
                current === id || (id === 'buckets' && current === 'records') ? 'page' : undefined
              }
            >
              {label}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        {info.readOnly && (
          <span class="badge readonly" title="The server refuses every write">
            read-only
          </span>
        )}
        <span class={`badge live-${status}`} data-live={status} title="Live updates over WebSocket">
          {status === 'live' ? '● live' : status === 'connecting' ? '○ connecting' : '○ offline'}
        </span>
        {info.auth && (
          <button
            type="button"
            class="link"
            onClick={() => {
              setToken(undefined);
              location.reload();
            }}
          >
            {info.identity ?? 'signed in'} · sign out
          </button>
        )}
      </header>
      {errors.length > 0 && (
        <div class="banner error" role="alert">
          <ul>
            {errors.map((e) => (
              <li key={e.id}>{e.text}</li>
            ))}
          </ul>
          <button type="button" onClick={() => setErrors([])}>
            Dismiss
          </button>
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <ErrorBoundary key={location.hash}>
          {route.view === 'buckets' && <BucketsView />}
          {route.view === 'records' && <RecordsView key={route.bucket} bucket={route.bucket} />}
          {route.view === 'record' && (
            <RecordView
              key={`${route.bucket}/${JSON.stringify(route.key)}`}
              bucket={route.bucket}
              recordKey={route.key}
            />
          )}
          {route.view === 'changes' && <ChangesView />}
          {route.view === 'store' && <StoreView />}
        </ErrorBoundary>
      </main>
      {note !== undefined && (
        <div class="toast" role="status">
          {note}
        </div>
      )}
    </InspectorContext.Provider>
  );
}
