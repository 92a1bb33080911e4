// Records of one bucket: server-side filtering (builder and raw JSON),
// sorting on sorted-index fields, paging with where(limit, offset) and
// count(filter) — never all rows — a column chooser, copy as JSON, and
// live refresh when the bucket changes.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { errorText, useInspector } from '../app.js';
import { call, RpcError } from '../rpc.js';
import {
  type BucketInfo,
  buildFilter,
  type Condition,
  formatCount,
  formatValue,
  keyFields,
  keyOf,
  META_FIELDS,
  OPERATORS,
  type Rec,
  recordHref,
  sortableFields,
} from '../util.js';
import { SchemaTable } from './buckets.js';

const PAGE_SIZES = [25, 50, 100, 250];

let conditionCount = 0;

function newCondition(field: string | undefined): Condition {
  return { id: ++conditionCount, field: field ?? '', op: '$eq', value: '' };
}

function defaultColumns(b: BucketInfo): string[] {
  const keys = keyFields(b);
  const rest = Object.keys(b.schema).filter((f) => !keys.includes(f));
  return [...keys, ...rest.slice(0, 7), '_version'];
}

function loadColumns(b: BucketInfo): string[] {
  try {
    const saved = JSON.parse(localStorage.getItem(`quire-columns:${b.name}`) ?? 'null');
    if (Array.isArray(saved) && saved.every((c) => typeof c === 'string') && saved.length > 0) return saved;
  } catch {
    /* no saved choice */
  }
  return defaultColumns(b);
}

export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // No clipboard permission (plain http on another host …): the old way.
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    if (!ok) throw new Error('the browser refused to copy');
  }
}

export function RecordsView(props: { bucket: string }) {
  const { buckets, live, fail, notify } = useInspector();
  const b = buckets?.find((x) => x.name === props.bucket);
  if (buckets === undefined) return <p class="loading">Loading…</p>;
  if (b === undefined)
    return (
      <div class="panel error" role="alert">
        Bucket "{props.bucket}" does not exist, or you may not read it. <a href="#/buckets">All buckets</a>
      </div>
    );
  return <Records bucket={b} live={live} fail={fail} notify={notify} />;
}

function Records(props: {
  bucket: BucketInfo;
  live: ReturnType<typeof useInspector>['live'];
  fail(e: unknown): void;
  notify(t: string): void;
}) {
  const b = props.bucket;
  const allFields = useMemo(() => [...Object.keys(b.schema), ...META_FIELDS], [b]);
  const sortable = useMemo(() => sortableFields(b), [b]);
  const [rows, setRows] = useState<Condition[]>(() => [newCondition(Object.keys(b.schema)[0])]);
  const [rawText, setRawText] = useState('{}');
  const [rawError, setRawError] = useState<string | undefined>();
  const [filter, setFilter] = useState<Rec>({});
  const [sort, setSort] = useState<{ field: string; dir: 'asc' | 'desc' } | undefined>();
  const [pageSize, setPageSize] = useState(50);
  const [page, setPage] = useState(0);
  const [columns, setColumns] = useState<string[]>(() => loadColumns(b));
  const [data, setData] = useState<{ records: Rec[]; total: number; offset: number } | undefined>();
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  const [creating, setCreating] = useState(false);
  const request = useRef(0);

  // Live: another client's write refreshes the page (debounced).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = props.live.subscribe(`bucket.${b.name}.*`, () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, 150);
    });
    return () => {
      off();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [props.live, b.name]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: tick is the live-refresh trigger; fail is stable
  useEffect(() => {
    const id = ++request.current;
    const hasFilter = Object.keys(filter).length > 0;
    setLoading(true);
    Promise.all([
      call<Rec[]>('where', {
        bucket: b.name,
        filter,
        limit: pageSize,
        offset: page * pageSize,
        ...(sort !== undefined ? { sort: { [sort.field]: sort.dir } } : {}),
      }),
      call<number>('count', { bucket: b.name, ...(hasFilter ? { filter } : {}) }),
    ]).then(
      ([records, total]) => {
        if (id !== request.current) return;
        setLoading(false);
        setData({ records, total, offset: page * pageSize });
        setRawError(undefined);
        // The data shrank under us (deletes elsewhere): go to the last page that exists.
        if (records.length === 0 && page > 0 && total > 0) setPage(Math.floor((total - 1) / pageSize));
      },
      (e) => {
        if (id !== request.current) return;
        setLoading(false);
        if (
          e instanceof RpcError &&
          ['INVALID_FILTER', 'INVALID_PARAMS', 'INVALID_ARGUMENT', 'VALIDATION'].includes(e.kind)
        )
          setRawError(e.message);
        else props.fail(e);
      },
    );
  }, [b.name, filter, sort, pageSize, page, tick]);

  const applyBuilder = () => {
    const f = buildFilter(rows, b.schema);
    setRawText(JSON.stringify(f, null, 2));
    setRawError(undefined);
    setFilter(f);
    setPage(0);
  };
  const applyRaw = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawText.trim() === '' ? '{}' : rawText);
    } catch (e) {
      setRawError(`Invalid JSON: ${(e as Error).message}`);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      setRawError('A filter is a JSON object, e.g. {"age": {"$gte": 18}}');
      return;
    }
    setRawError(undefined);
    setFilter(parsed as Rec);
    setPage(0);
  };
  const clearFilter = () => {
    setRows([newCondition(Object.keys(b.schema)[0])]);
    setRawText('{}');
    setRawError(undefined);
    setFilter({});
    setPage(0);
  };
  const chooseColumns = (next: string[]) => {
    setColumns(next);
    try {
      localStorage.setItem(`quire-columns:${b.name}`, JSON.stringify(next));
    } catch {
      /* not kept */
    }
  };

  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  // What is on screen: the rows of the last answer (the page number may be ahead of it while loading).
  const shownFrom = data?.offset ?? 0;
  const from = total === 0 || data === undefined ? 0 : Math.min(total, shownFrom + 1);
  const to = Math.min(total, shownFrom + (data?.records.length ?? 0));
  const filtered = Object.keys(filter).length > 0;

  return (
    <section aria-labelledby="records-title">
      <div class="title-row">
        <h1 id="records-title">
          {b.name} <span class="muted">({formatCount(b.count)} records)</span>
        </h1>
        <span class="spacer" />
        {b.writable && (
          <button type="button" class="primary" onClick={() => setCreating(!creating)}>
            {creating ? 'Cancel new record' : 'New record'}
          </button>
        )}
      </div>
      <details class="panel">
        <summary>Schema</summary>
        <SchemaTable bucket={b} />
      </details>
      {creating && (
        <NewRecord
          bucket={b}
          onDone={(key) => {
            setCreating(false);
            location.hash = recordHref(b.name, key);
          }}
        />
      )}

      <form
        class="panel filter"
        aria-label="Filter"
        onSubmit={(e) => {
          e.preventDefault();
          applyBuilder();
        }}
      >
        <fieldset>
          <legend>Filter (all conditions must hold)</legend>
          {rows.map((r, i) => (
            <div class="condition" key={r.id}>
              <select
                aria-label="Field"
                value={r.field}
                onChange={(e) =>
                  setRows(
                    rows.map((x, j) =>
                      j === i ? { ...x, field: (e.target as HTMLSelectElement).value } : x,
                    ),
                  )
                }
              >
                {allFields.map((f) => (
                  <option key={f} value={f}>
                    {f}
                  </option>
                ))}
              </select>
              <select
                aria-label="Operator"
                value={r.op}
                onChange={(e) =>
                  setRows(
                    rows.map((x, j) => (j === i ? { ...x, op: (e.target as HTMLSelectElement).value } : x)),
                  )
                }
              >
                {OPERATORS.map(([op, label]) => (
                  <option key={op} value={op}>
                    {label}
                  </option>
                ))}
              </select>
              <input
                aria-label="Value"
                value={r.value}
                placeholder="value"
                onInput={(e) =>
                  setRows(
                    rows.map((x, j) => (j === i ? { ...x, value: (e.target as HTMLInputElement).value } : x)),
                  )
                }
              />
              <button
                type="button"
                aria-label="Remove condition"
                onClick={() => setRows(rows.filter((_, j) => j !== i))}
              >
                ✕
              </button>
            </div>
          ))}
          <div class="actions">
            <button type="button" onClick={() => setRows([...rows, newCondition(allFields[0])])}>
              + Condition
            </button>
            <button type="submit" class="primary">
              Apply filter
            </button>
            <button type="button" onClick={clearFilter}>
              Clear
            </button>
          </div>
        </fieldset>
        <label class="raw">
          Filter as JSON (the where language: fields, $eq $gt $in $contains $between $or …)
          <textarea
            name="raw-filter"
            rows={3}
            spellcheck={false}
            value={rawText}
            aria-invalid={rawError !== undefined}
            aria-describedby="raw-filter-error"
            onInput={(e) => setRawText((e.target as HTMLTextAreaElement).value)}
          />
        </label>
        {rawError !== undefined && (
          <p id="raw-filter-error" class="field-error" role="alert">
            {rawError}
          </p>
        )}
        <div class="actions">
          <button type="button" onClick={applyRaw}>
            Apply JSON filter
          </button>
          <span class="muted applied" data-testid="applied-filter">
            {filtered ? `Applied: ${JSON.stringify(filter)}` : 'No filter applied'}
          </span>
        </div>
      </form>

      <div class="toolbar">
        <label>
          Sort{' '}
          <select
            aria-label="Sort by"
            value={sort?.field ?? ''}
            onChange={(e) => {
              const f = (e.target as HTMLSelectElement).value;
              setSort(f === '' ? undefined : { field: f, dir: sort?.dir ?? 'asc' });
              setPage(0);
            }}
          >
            <option value="">bucket order</option>
            {sortable.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        {sort !== undefined && (
          <button
            type="button"
            aria-label="Sort direction"
            onClick={() => {
              setSort({ field: sort.field, dir: sort.dir === 'asc' ? 'desc' : 'asc' });
              setPage(0);
            }}
          >
            {sort.dir === 'asc' ? '↑ ascending' : '↓ descending'}
          </button>
        )}
        {sortable.length === 0 && <span class="hint">(sorting needs a sorted index)</span>}
        <label>
          Rows{' '}
          <select
            aria-label="Rows per page"
            value={pageSize}
            onChange={(e) => {
              setPageSize(Number((e.target as HTMLSelectElement).value));
              setPage(0);
            }}
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <details class="columns">
          <summary>Columns ({columns.length})</summary>
          <fieldset class="menu">
            <legend class="sr-only">Columns</legend>
            {[...Object.keys(b.schema), ...META_FIELDS].map((f) => (
              <label key={f}>
                <input
                  type="checkbox"
                  checked={columns.includes(f)}
                  onChange={(e) => {
                    const on = (e.target as HTMLInputElement).checked;
                    const order = [...Object.keys(b.schema), ...META_FIELDS];
                    const next = on
                      ? order.filter((x) => x === f || columns.includes(x))
                      : columns.filter((x) => x !== f);
                    if (next.length > 0) chooseColumns(next);
                  }}
                />{' '}
                {f}
              </label>
            ))}
            <button type="button" onClick={() => chooseColumns(defaultColumns(b))}>
              Reset
            </button>
          </fieldset>
        </details>
        <button
          type="button"
          disabled={data === undefined}
          onClick={() =>
            data !== undefined &&
            copyText(JSON.stringify(data.records, null, 2)).then(
              () => props.notify(`Copied ${data.records.length} records as JSON`),
              (e) => props.fail(e),
            )
          }
        >
          Copy page as JSON
        </button>
        <span class="spacer" />
        <span class="muted" aria-live="polite" data-testid="range">
          {loading ? 'Loading… ' : ''}
          {data !== undefined &&
            `${formatCount(from)}–${formatCount(to)} of ${formatCount(total)}${filtered ? ' matching' : ''}`}
        </span>
      </div>

      <div class="scroll">
        <table class="data records" data-testid="records" aria-busy={loading}>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data?.records.map((r) => {
              const key = keyOf(b, r);
              const href = recordHref(b.name, key);
              return (
                <tr
                  key={JSON.stringify(key)}
                  onClick={(e) => {
                    if ((e.target as HTMLElement).closest('a') === null) location.hash = href;
                  }}
                >
                  {columns.map((c, i) => (
                    <td key={c} title={formatValue(r[c], 2000)}>
                      {i === 0 ? <a href={href}>{formatValue(r[c]) || '(empty)'}</a> : formatValue(r[c])}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
        {data !== undefined && data.records.length === 0 && (
          <p class="empty">No records{filtered ? ' match this filter' : ''}.</p>
        )}
      </div>

      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={page === 0} onClick={() => setPage(0)}>
          « First
        </button>
        <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
          ‹ Previous
        </button>
        <span data-testid="page">
          Page {formatCount(page + 1)} of {formatCount(pages)}
        </span>
        <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
          Next ›
        </button>
        <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(pages - 1)}>
          Last »
        </button>
        <label>
          Go to page{' '}
          <input
            type="number"
            min={1}
            max={pages}
            aria-label="Page number"
            onChange={(e) => {
              const n = Number((e.target as HTMLInputElement).value);
              if (Number.isInteger(n) && n >= 1 && n <= pages) setPage(n - 1);
            }}
          />
        </label>
      </nav>
    </section>
  );
}

function NewRecord(props: { bucket: BucketInfo; onDone(key: unknown): void }) {
  const b = props.bucket;
  const template = useMemo(() => {
    const t: Rec = {};
    for (const [f, d] of Object.entries(b.schema))
      if (d.generated === undefined && d.default === undefined) t[f] = null;
    return JSON.stringify(t, null, 2);
  }, [b]);
  const [text, setText] = useState(template);
  const [errors, setErrors] = useState<string[]>([]);
  const insert = async () => {
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (e) {
      setErrors([`Invalid JSON: ${(e as Error).message}`]);
      return;
    }
    try {
      const r = await call<Rec>('insert', { bucket: b.name, record });
      props.onDone(keyOf(b, r));
    } catch (e) {
      if (e instanceof RpcError && e.data?.issues !== undefined)
        setErrors(e.data.issues.map((i) => `${i.field}: ${i.message}`));
      else setErrors([errorText(e)]);
    }
  };
  return (
    <div class="panel">
      <label>
        New record (JSON)
        <textarea
          rows={8}
          spellcheck={false}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        />
      </label>
      {errors.length > 0 && (
        <ul class="field-error" role="alert">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
      <button type="button" class="primary" onClick={() => void insert()}>
        Insert
      </button>
    </div>
  );
}
