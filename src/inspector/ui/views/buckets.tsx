// Buckets: name, record count, key, schema, indexes, history, TTL, size.
import { useEffect } from 'preact/hooks';
import { useInspector } from '../app.js';
import {
  type BucketInfo,
  bucketHref,
  constraints,
  formatBytes,
  formatCount,
  historyLabel,
  indexLabel,
} from '../util.js';

export function SchemaTable(props: { bucket: BucketInfo }) {
  const b = props.bucket;
  const keys = typeof b.key === 'string' ? [b.key] : b.key;
  return (
    <div class="schema">
      <div class="scroll">
        <table class="fields">
          <caption>Fields of {b.name}</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Type</th>
              <th scope="col">Constraints</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(b.schema).map(([name, f]) => (
              <tr key={name}>
                <td>
                  <code>{name}</code>
                  {keys.includes(name) && <span class="tag">key</span>}
                </td>
                <td>{f.type}</td>
                <td>{constraints(f).join(' · ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p>
        <strong>Indexes:</strong> {b.indexes.length > 0 ? b.indexes.map(indexLabel).join('; ') : 'none'}
        {' · '}
        <strong>History:</strong> {historyLabel(b.history)}
        {' · '}
        <strong>TTL:</strong> {b.ttl ?? 'none'}
        {b.maxSize !== null && (
          <>
            {' · '}
            <strong>Max size:</strong> {formatCount(b.maxSize)}
          </>
        )}
        {' · '}
        <strong>Type:</strong> {b.etsType}
        {!b.persistent && ' · in memory only'}
        {b.validate && ' · custom record validator'}
      </p>
    </div>
  );
}

export function BucketsView() {
  const { buckets, refreshBuckets, live } = useInspector();
  // Counts follow the data: refresh (at most every second) when anything changes.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.subscribe('bucket.*.*', () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void refreshBuckets();
      }, 1000);
    });
    return () => {
      off();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [live, refreshBuckets]);

  if (buckets === undefined) return <p class="loading">Loading buckets…</p>;
  return (
    <section aria-labelledby="buckets-title">
      <h1 id="buckets-title">Buckets</h1>
      {buckets.length === 0 ? (
        <p>This store has no buckets you may read.</p>
      ) : (
        <div class="scroll">
          <table class="data" data-testid="bucket-table">
            <thead>
              <tr>
                <th scope="col">Bucket</th>
                <th scope="col" class="num">
                  Records
                </th>
                <th scope="col">Key</th>
                <th scope="col" class="num">
                  Fields
                </th>
                <th scope="col">Indexes</th>
                <th scope="col">History</th>
                <th scope="col">TTL</th>
                <th scope="col" class="num">
                  Size on disk
                </th>
              </tr>
            </thead>
            <tbody>
              {buckets.map((b) => (
                <tr key={b.name} data-bucket={b.name}>
                  <td>
                    <a href={bucketHref(b.name)}>{b.name}</a>
                  </td>
                  <td class="num" data-testid="count">
                    {formatCount(b.count)}
                  </td>
                  <td>
                    <code>{typeof b.key === 'string' ? b.key : b.key.join(' + ')}</code>
                  </td>
                  <td class="num">{Object.keys(b.schema).length}</td>
                  <td>{b.indexes.length > 0 ? b.indexes.map(indexLabel).join('; ') : '—'}</td>
                  <td>{historyLabel(b.history)}</td>
                  <td>{b.ttl ?? '—'}</td>
                  <td class="num">{b.persistent ? formatBytes(b.bytes) : 'memory'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {buckets.map((b) => (
        <details key={b.name} class="panel">
          <summary>Schema of {b.name}</summary>
          <SchemaTable bucket={b} />
        </details>
      ))}
    </section>
  );
}
