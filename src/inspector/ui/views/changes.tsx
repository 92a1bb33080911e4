// The change feed, live over the WebSocket: recent entries first from the
// server's feed, then every bucket event as it happens. Filter by bucket and
// operation, pause and resume; each entry links to its record.
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, useInspector } from '../app.js';
import { call } from '../rpc.js';
import { formatTime, keyLabel, recordHref } from '../util.js';

interface Entry {
  readonly id: string;
  readonly bucket: string;
  readonly key: unknown;
  readonly op: 'insert' | 'update' | 'delete';
  readonly version: number | undefined;
  readonly at: number;
  readonly actor?: string | null;
}

const OPS: Entry['op'][] = ['insert', 'update', 'delete'];
const KEEP = 500;
const EVENT_OP: Record<string, Entry['op']> = { inserted: 'insert', updated: 'update', deleted: 'delete' };

let counter = 0;

export function ChangesView() {
  const { live, buckets } = useInspector();
  const [entries, setEntries] = useState<Entry[]>([]);
  const [bucket, setBucket] = useState('');
  const [ops, setOps] = useState<Set<Entry['op']>>(new Set(OPS));
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<Entry[]>([]);
  const [error, setError] = useState<string | undefined>();
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    let cancelled = false;
    call<Array<Omit<Entry, 'id'>>>('recentChanges', { limit: 100 }).then(
      (feed) => {
        if (cancelled) return;
        const old = feed.reverse().map((e) => ({ ...e, id: `f${(e as { seq?: number }).seq ?? ++counter}` }));
        setEntries((now) => [...now, ...old].slice(0, KEEP));
      },
      (e) => setError(`The recent feed is not available: ${errorText(e)}`),
    );
    const off = live.subscribe('bucket.*.*', (event: any) => {
      const r = event.type === 'updated' ? event.newRecord : event.record;
      const entry: Entry = {
        id: `e${++counter}`,
        bucket: event.bucket,
        key: event.key,
        op: EVENT_OP[event.type] ?? 'update',
        version: r?._version,
        at: event.type === 'deleted' ? Date.now() : (r?._updatedAt ?? Date.now()),
      };
      if (pausedRef.current) setHeld((h) => [entry, ...h].slice(0, KEEP));
      else setEntries((list) => [entry, ...list].slice(0, KEEP));
    });
    return () => {
      cancelled = true;
      off();
    };
  }, [live]);

  const resume = () => {
    setEntries((list) => [...held, ...list].slice(0, KEEP));
    setHeld([]);
    setPaused(false);
  };
  const shown = entries.filter((e) => (bucket === '' || e.bucket === bucket) && ops.has(e.op));

  return (
    <section aria-labelledby="changes-title">
      <h1 id="changes-title">Changes</h1>
      <div class="toolbar">
        <label>
          Bucket{' '}
          <select
            aria-label="Bucket"
            value={bucket}
            onChange={(e) => setBucket((e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {(buckets ?? []).map((b) => (
              <option key={b.name} value={b.name}>
                {b.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset class="inline">
          <legend class="sr-only">Operations</legend>
          {OPS.map((op) => (
            <label key={op}>
              <input
                type="checkbox"
                checked={ops.has(op)}
                onChange={(e) => {
                  const next = new Set(ops);
                  if ((e.target as HTMLInputElement).checked) next.add(op);
                  else next.delete(op);
                  setOps(next);
                }}
              />{' '}
              {op}
            </label>
          ))}
        </fieldset>
        {paused ? (
          <button type="button" class="primary" onClick={resume}>
            Resume ({held.length} new)
          </button>
        ) : (
          <button type="button" onClick={() => setPaused(true)}>
            Pause
          </button>
        )}
        <button type="button" onClick={() => setEntries([])}>
          Clear
        </button>
      </div>
      {error !== undefined && <p class="muted">{error}</p>}
      <div class="scroll">
        <table class="data" data-testid="changes">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Op</th>
              <th scope="col">Bucket</th>
              <th scope="col">Key</th>
              <th scope="col">Version</th>
              <th scope="col">Actor</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.id} data-bucket={e.bucket} data-op={e.op}>
                <td>{formatTime(e.at)}</td>
                <td>
                  <span class={`op op-${e.op}`}>{e.op}</span>
                </td>
                <td>{e.bucket}</td>
                <td>
                  <a href={recordHref(e.bucket, e.key)}>{keyLabel(e.key)}</a>
                </td>
                <td>{e.version ?? '—'}</td>
                <td>{e.actor ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {shown.length === 0 && (
          <p class="empty">No changes yet{paused ? ' (paused)' : ''}. Changes appear here as they happen.</p>
        )}
      </div>
    </section>
  );
}
