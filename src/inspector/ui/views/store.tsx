// The store: records per bucket, bytes on disk, WAL size, writes per second
// over the last minutes, reactive queries with their subscriber counts, and
// backups (list; make one when allowed).
import { useCallback, useEffect, useState } from 'preact/hooks';
import { errorText, useInspector } from '../app.js';
import { call } from '../rpc.js';
import { bucketHref, formatBytes, formatCount, formatTime } from '../util.js';

interface Stats {
  readonly persistent: boolean;
  readonly kind: string | null;
  readonly location: string | null;
  readonly bytes: number | null;
  readonly walBytes: number | null;
  readonly records: Record<string, number>;
  readonly queries: { defined: number; activeSubscriptions: number };
}

interface Activity {
  readonly intervalMs: number;
  readonly samples: number[];
  readonly at: number;
  readonly total: number;
}

interface Query {
  readonly name: string;
  readonly type: string;
  readonly config?: { bucket?: string };
  readonly activeSubscriptions: number;
}

interface Backup {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  readonly bucketNames: readonly string[];
  readonly totalRecords: number;
}

function Chart(props: { activity: Activity }) {
  const { samples, intervalMs } = props.activity;
  const w = 600;
  const h = 120;
  const perSecond = samples.map((n) => (n * 1000) / intervalMs);
  const max = Math.max(1, ...perSecond);
  const bar = w / Math.max(60, perSecond.length);
  const last = perSecond[perSecond.length - 1] ?? 0;
  const avg = perSecond.length > 0 ? perSecond.reduce((a, b) => a + b, 0) / perSecond.length : 0;
  // Each bar is one sample: its place on the time axis (slots back from now) is its identity.
  const bars = perSecond.map((v, i) => ({ v, back: perSecond.length - i, at: props.activity.at }));
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${w} ${h}`}
        role="img"
        aria-label={`Writes per second over the last ${Math.round((perSecond.length * intervalMs) / 60000)} minutes, peak ${Math.round(max)}`}
        preserveAspectRatio="none"
      >
        <line x1="0" y1={h - 0.5} x2={w} y2={h - 0.5} class="axis" />
        {bars.map(({ v, back, at }) => {
          const bh = (v / max) * (h - 10);
          return (
            <rect
              key={at - back * intervalMs}
              x={w - back * bar}
              y={h - bh}
              width={Math.max(1, bar - 1)}
              height={bh}
            />
          );
        })}
      </svg>
      <figcaption>
        Writes/s now <strong data-testid="writes-now">{last.toFixed(1)}</strong> · average {avg.toFixed(1)} ·
        peak {max.toFixed(0)} · {formatCount(props.activity.total)} changes in the last{' '}
        {Math.max(1, Math.round((perSecond.length * intervalMs) / 1000))} s
      </figcaption>
    </figure>
  );
}

export function StoreView() {
  const { info, fail, notify } = useInspector();
  const [stats, setStats] = useState<Stats | undefined>();
  const [activity, setActivity] = useState<Activity | string | undefined>();
  const [queries, setQueries] = useState<Query[] | string | undefined>();
  const [backups, setBackups] = useState<Backup[] | string | undefined>();
  const [backupName, setBackupName] = useState('');

  const load = useCallback(async () => {
    try {
      setStats(await call<Stats>('storageStats'));
    } catch (e) {
      fail(e);
    }
    call<Activity>('storeActivity').then(setActivity, (e) => setActivity(errorText(e)));
    call<Query[]>('listQueries').then(setQueries, (e) => setQueries(errorText(e)));
  }, [fail]);
  const loadBackups = useCallback(() => {
    if (!info.admin) return;
    call<Backup[]>('listBackups').then(setBackups, (e) => setBackups(errorText(e)));
  }, [info.admin]);
  useEffect(() => {
    void load();
    loadBackups();
    const t = setInterval(() => void load(), 2000);
    return () => clearInterval(t);
  }, [load, loadBackups]);

  const makeBackup = async () => {
    try {
      const b = await call<Backup>(
        'createBackup',
        backupName.trim() === '' ? {} : { name: backupName.trim() },
      );
      notify(`Backup "${b.name}" made (${formatCount(b.totalRecords)} records)`);
      setBackupName('');
      loadBackups();
    } catch (e) {
      fail(e);
    }
  };

  const perBucket = Object.entries(stats?.records ?? {});
  const most = Math.max(1, ...perBucket.map(([, n]) => n));
  return (
    <section aria-labelledby="store-title">
      <h1 id="store-title">Store “{info.store}”</h1>
      <div class="cards">
        <div class="card">
          <span class="label">Records</span>
          <strong>{formatCount(perBucket.reduce((a, [, n]) => a + n, 0))}</strong>
        </div>
        <div class="card">
          <span class="label">On disk</span>
          <strong data-testid="bytes">
            {stats?.persistent === false ? 'in memory' : formatBytes(stats?.bytes)}
          </strong>
        </div>
        <div class="card">
          <span class="label">Write-ahead log</span>
          <strong data-testid="wal">{formatBytes(stats?.walBytes)}</strong>
        </div>
        <div class="card">
          <span class="label">Queries / subscribers</span>
          <strong>
            {stats?.queries.defined ?? '—'} / {stats?.queries.activeSubscriptions ?? '—'}
          </strong>
        </div>
      </div>
      {stats?.location !== null && stats?.location !== undefined && (
        <p class="muted">
          {stats.kind}: <code>{stats.location}</code>
        </p>
      )}

      <h2>Writes per second</h2>
      {activity === undefined ? (
        <p class="loading">Loading…</p>
      ) : typeof activity === 'string' ? (
        <p class="muted">Not available: {activity}</p>
      ) : activity.samples.length === 0 ? (
        <p class="muted">Sampling started; the chart fills in over the next seconds.</p>
      ) : (
        <Chart activity={activity} />
      )}

      <h2>Records per bucket</h2>
      <div class="scroll">
        <table class="data" data-testid="per-bucket">
          <tbody>
            {perBucket.map(([name, n]) => (
              <tr key={name}>
                <th scope="row">
                  <a href={bucketHref(name)}>{name}</a>
                </th>
                <td class="num">{formatCount(n)}</td>
                <td class="bar-cell">
                  <span class="bar" style={{ width: `${(n / most) * 100}%` }} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Reactive queries</h2>
      {typeof queries === 'string' ? (
        <p class="muted">Not available: {queries}</p>
      ) : queries === undefined ? (
        <p class="loading">Loading…</p>
      ) : queries.length === 0 ? (
        <p class="muted">No queries are defined.</p>
      ) : (
        <div class="scroll">
          <table class="data" data-testid="queries">
            <thead>
              <tr>
                <th scope="col">Query</th>
                <th scope="col">Type</th>
                <th scope="col">Bucket</th>
                <th scope="col" class="num">
                  Subscribers
                </th>
              </tr>
            </thead>
            <tbody>
              {queries.map((q) => (
                <tr key={q.name}>
                  <td>{q.name}</td>
                  <td>{q.type}</td>
                  <td>{q.config?.bucket ?? '—'}</td>
                  <td class="num">{q.activeSubscriptions}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Backups</h2>
      {!info.admin ? (
        <p class="muted">Backups need administrator permission.</p>
      ) : (
        <>
          {!info.readOnly && (
            <form
              class="toolbar"
              onSubmit={(e) => {
                e.preventDefault();
                void makeBackup();
              }}
            >
              <label>
                Name{' '}
                <input
                  value={backupName}
                  placeholder="(automatic)"
                  onInput={(e) => setBackupName((e.target as HTMLInputElement).value)}
                />
              </label>
              <button type="submit" class="primary">
                Make a backup
              </button>
            </form>
          )}
          {typeof backups === 'string' ? (
            <p class="muted">Not available: {backups}</p>
          ) : backups === undefined ? (
            <p class="loading">Loading…</p>
          ) : backups.length === 0 ? (
            <p class="muted">No backups yet.</p>
          ) : (
            <div class="scroll">
              <table class="data" data-testid="backups">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Made</th>
                    <th scope="col" class="num">
                      Records
                    </th>
                    <th scope="col">Buckets</th>
                  </tr>
                </thead>
                <tbody>
                  {backups.map((b) => (
                    <tr key={b.id}>
                      <td>{b.name}</td>
                      <td>{formatTime(b.createdAt)}</td>
                      <td class="num">{formatCount(b.totalRecords)}</td>
                      <td>{b.bucketNames.join(', ')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
