// One record: JSON, edit with validation errors next to each field, delete
// with a preview of what cascades, and its history as a timeline with a diff
// between any two versions and "restore this version". Follows the data
// live: another client's change to this record shows up by itself.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { errorText, useInspector } from '../app.js';
import { call, RpcError } from '../rpc.js';
import {
  type BucketInfo,
  bucketHref,
  diffRecords,
  type FieldDef,
  formatTime,
  formatValue,
  keyFields,
  keyLabel,
  type Rec,
  recordHref,
  sameKey,
} from '../util.js';
import { copyText } from './records.js';

interface HistoryEntry {
  readonly version: number;
  readonly op: 'insert' | 'update' | 'delete';
  readonly record: Rec | null | undefined;
  readonly at: number;
  readonly actor: string | null | undefined;
  readonly seq: number;
}

interface DeletePreview {
  readonly exists: boolean;
  readonly truncated: boolean;
  readonly effects: ReadonlyArray<{ bucket: string; key?: unknown; field: string; action: string }>;
}

export function RecordView(props: { bucket: string; recordKey: unknown }) {
  const { buckets } = useInspector();
  if (buckets === undefined) return <p class="loading">Loading…</p>;
  const b = buckets.find((x) => x.name === props.bucket);
  if (b === undefined)
    return (
      <div class="panel error" role="alert">
        Bucket "{props.bucket}" does not exist, or you may not read it.
      </div>
    );
  return <RecordPage bucket={b} recordKey={props.recordKey} />;
}

/** Text shown in the editor for a field's value. */
function toInput(v: unknown, f: FieldDef | undefined): string {
  if (v === undefined || v === null) return '';
  if (f?.type === 'object' || f?.type === 'array' || typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

/** The editor's text back as a value; `undefined` means "not set". */
function fromInput(text: string, f: FieldDef | undefined): { value?: unknown; error?: string } {
  const type = f?.type;
  if (text.trim() === '') return { value: null };
  if (type === 'number') {
    const n = Number(text);
    // Anything else goes to the server as typed, which says what is wrong with it.
    return { value: Number.isFinite(n) ? n : text };
  }
  if (type === 'boolean') return { value: text === 'true' ? true : text === 'false' ? false : text };
  if (type === 'object' || type === 'array') {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      return { error: `Invalid JSON: ${(e as Error).message}` };
    }
  }
  return { value: text };
}

function RecordPage(props: { bucket: BucketInfo; recordKey: unknown }) {
  const b = props.bucket;
  const key = props.recordKey;
  const { live, fail, notify, refreshBuckets } = useInspector();
  const [record, setRecord] = useState<Rec | null | undefined>(undefined);
  const [history, setHistory] = useState<HistoryEntry[] | undefined>();
  const [historyError, setHistoryError] = useState<string | undefined>();
  const [editing, setEditing] = useState(false);
  const [changedElsewhere, setChangedElsewhere] = useState(false);
  const historyOn = b.history !== false;

  const load = useCallback(async () => {
    try {
      setRecord(await call<Rec | null>('get', { bucket: b.name, key }));
    } catch (e) {
      fail(e);
    }
    if (historyOn) {
      try {
        setHistory(await call<HistoryEntry[]>('history', { bucket: b.name, key, limit: 200 }));
        setHistoryError(undefined);
      } catch (e) {
        setHistoryError(errorText(e));
      }
    }
  }, [b.name, key, historyOn, fail]);
  useEffect(() => void load(), [load]);

  useEffect(
    () =>
      live.subscribe(`bucket.${b.name}.*`, (event: { key: unknown }) => {
        if (!sameKey(event.key, key)) return;
        setChangedElsewhere(true);
        void load();
      }),
    [live, b.name, key, load],
  );

  if (record === undefined) return <p class="loading">Loading record…</p>;

  return (
    <section aria-labelledby="record-title">
      <p class="crumbs">
        <a href="#/buckets">Buckets</a> › <a href={bucketHref(b.name)}>{b.name}</a> ›
      </p>
      <div class="title-row">
        <h1 id="record-title">
          {b.name} <code>{keyLabel(key)}</code>
          {record !== null && <span class="muted"> version {String(record._version)}</span>}
        </h1>
        <span class="spacer" />
        {record !== null && (
          <button
            type="button"
            onClick={() =>
              copyText(JSON.stringify(record, null, 2)).then(
                () => notify('Copied the record as JSON'),
                (e) => fail(e),
              )
            }
          >
            Copy JSON
          </button>
        )}
        {record !== null && b.writable && !editing && (
          <button type="button" class="primary" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
      </div>
      {record !== null && (
        <p class="muted meta">
          created {formatTime(record._createdAt)} · updated {formatTime(record._updatedAt)}
          {record._expiresAt !== undefined && ` · expires ${formatTime(record._expiresAt)}`}
        </p>
      )}
      {changedElsewhere && (
        <p class="notice" role="status" data-testid="changed-elsewhere">
          This record changed while you were looking; it is shown as it is now.
        </p>
      )}
      {record === null ? (
        <div class="panel" role="status">
          <p>
            <strong>No record with this key</strong> (it was deleted, or never existed).
          </p>
        </div>
      ) : editing ? (
        <Editor
          bucket={b}
          record={record}
          onCancel={() => setEditing(false)}
          onSaved={(r) => {
            setEditing(false);
            setRecord(r);
            notify(`Saved version ${String(r._version)}`);
            void load();
          }}
        />
      ) : (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        <pre class="json panel" data-testid="record-json" tabIndex={0}>
          {JSON.stringify(record, null, 2)}
        </pre>
      )}
      {record !== null && b.writable && !editing && (
        <DeleteControl
          bucket={b}
          record={record}
          recordKey={key}
          onDeleted={() => {
            notify(`Deleted ${keyLabel(key)}`);
            void refreshBuckets();
            location.hash = bucketHref(b.name);
          }}
        />
      )}
      <h2>History</h2>
      {!historyOn ? (
        <p class="muted">History is not kept for this bucket (enable it with "history" in its definition).</p>
      ) : historyError !== undefined ? (
        <p class="field-error" role="alert">
          {historyError}
        </p>
      ) : history === undefined ? (
        <p class="loading">Loading history…</p>
      ) : (
        <History
          bucket={b}
          recordKey={key}
          entries={history}
          onRestored={(r) => {
            setRecord(r);
            notify(`Restored as version ${String(r._version)}`);
            void load();
          }}
        />
      )}
    </section>
  );
}

function Editor(props: { bucket: BucketInfo; record: Rec; onCancel(): void; onSaved(r: Rec): void }) {
  const b = props.bucket;
  const keys = keyFields(b);
  const fields = Object.keys(b.schema);
  const initial = useMemo(() => {
    const m: Record<string, string> = {};
    for (const [f, def] of Object.entries(b.schema)) m[f] = toInput(props.record[f], def);
    return m;
  }, [props.record, b.schema]);
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | undefined>();
  const [saving, setSaving] = useState(false);

  const save = async () => {
    const changes: Rec = {};
    const local: Record<string, string> = {};
    for (const f of fields) {
      if (keys.includes(f) || values[f] === initial[f]) continue;
      const parsed = fromInput(values[f] ?? '', b.schema[f]);
      if (parsed.error !== undefined) local[f] = parsed.error;
      else changes[f] = parsed.value;
    }
    setErrors(local);
    setFormError(undefined);
    if (Object.keys(local).length > 0) return;
    if (Object.keys(changes).length === 0) {
      setFormError('Nothing changed.');
      return;
    }
    setSaving(true);
    try {
      const r = await call<Rec>('update', {
        bucket: b.name,
        key: keys.length === 1 ? props.record[keys[0]!] : keys.map((k) => props.record[k]),
        changes,
        expectedVersion: props.record._version,
      });
      props.onSaved(r);
    } catch (e) {
      if (e instanceof RpcError && e.data?.issues !== undefined && e.data.issues.length > 0) {
        const byField: Record<string, string> = {};
        const other: string[] = [];
        for (const i of e.data.issues) {
          const top = i.field.split(/[.[]/)[0] ?? '';
          if (fields.includes(top))
            byField[top] = byField[top] !== undefined ? `${byField[top]}; ${i.message}` : i.message;
          else other.push(`${i.field}: ${i.message}`);
        }
        setErrors(byField);
        setFormError(other.length > 0 ? other.join('; ') : 'Not saved: the record does not pass the schema.');
      } else if (e instanceof RpcError && e.kind === 'TRANSACTION_CONFLICT')
        setFormError(
          'Not saved: someone else changed this record meanwhile. Cancel to see the current version.',
        );
      else setFormError(`Not saved: ${errorText(e)}`);
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      class="panel editor"
      aria-label="Edit record"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      {fields.map((f) => {
        const def = b.schema[f]!;
        const id = `field-${f}`;
        const err = errors[f];
        const common = {
          id,
          name: f,
          'aria-invalid': err !== undefined,
          'aria-describedby': err !== undefined ? `${id}-error` : undefined,
          disabled: keys.includes(f),
        };
        const set = (v: string) => setValues({ ...values, [f]: v });
        return (
          <div class={`field${err !== undefined ? ' invalid' : ''}`} key={f}>
            <label for={id}>
              {f}{' '}
              <span class="muted">
                {def.type}
                {def.required === true ? ', required' : ''}
                {keys.includes(f) ? ', key' : ''}
              </span>
            </label>
            {def.enum !== undefined ? (
              <select
                {...common}
                value={values[f]}
                onChange={(e) => set((e.target as HTMLSelectElement).value)}
              >
                <option value="">(none)</option>
                {def.enum.map((v) => (
                  <option key={String(v)} value={String(v)}>
                    {String(v)}
                  </option>
                ))}
              </select>
            ) : def.type === 'boolean' ? (
              <select
                {...common}
                value={values[f]}
                onChange={(e) => set((e.target as HTMLSelectElement).value)}
              >
                <option value="">(none)</option>
                <option value="true">true</option>
                <option value="false">false</option>
              </select>
            ) : def.type === 'object' || def.type === 'array' ? (
              <textarea
                {...common}
                rows={4}
                spellcheck={false}
                value={values[f]}
                onInput={(e) => set((e.target as HTMLTextAreaElement).value)}
              />
            ) : (
              <input
                {...common}
                inputMode={def.type === 'number' ? 'decimal' : undefined}
                value={values[f]}
                onInput={(e) => set((e.target as HTMLInputElement).value)}
              />
            )}
            {err !== undefined && (
              <span id={`${id}-error`} class="field-error" role="alert">
                {err}
              </span>
            )}
          </div>
        );
      })}
      {formError !== undefined && (
        <p class="field-error" role="alert" data-testid="form-error">
          {formError}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function DeleteControl(props: { bucket: BucketInfo; record: Rec; recordKey: unknown; onDeleted(): void }) {
  const [preview, setPreview] = useState<DeletePreview | undefined>();
  const [error, setError] = useState<string | undefined>();
  const ask = async () => {
    setError(undefined);
    try {
      setPreview(
        await call<DeletePreview>('previewDelete', { bucket: props.bucket.name, key: props.recordKey }),
      );
    } catch (e) {
      setError(errorText(e));
    }
  };
  const confirm = async () => {
    try {
      await call('delete', {
        bucket: props.bucket.name,
        key: props.recordKey,
        expectedVersion: props.record._version,
      });
      props.onDeleted();
    } catch (e) {
      setError(`Not deleted: ${errorText(e)}`);
    }
  };
  const blocked = preview?.effects.filter((e) => e.action === 'restrict') ?? [];
  return (
    <div class="delete-zone">
      {preview === undefined ? (
        <button type="button" class="danger" onClick={() => void ask()}>
          Delete…
        </button>
      ) : (
        <div class="panel warn" role="alertdialog" aria-label="Confirm delete">
          <p>
            <strong>Delete {keyLabel(props.recordKey)}?</strong>
          </p>
          {preview.effects.length === 0 ? (
            <p>No other record refers to it: only this record is deleted.</p>
          ) : (
            <>
              <p>Deleting it also changes:</p>
              <ul data-testid="cascade">
                {preview.effects.map((e) => (
                  <li key={`${e.bucket}/${JSON.stringify(e.key)}/${e.field}/${e.action}`}>
                    {e.action === 'delete'
                      ? 'deletes'
                      : e.action === 'set_null'
                        ? `sets ${e.field} to null in`
                        : 'is blocked by'}{' '}
                    {e.key !== undefined ? (
                      <a href={recordHref(e.bucket, e.key)}>
                        {e.bucket} {keyLabel(e.key)}
                      </a>
                    ) : (
                      `a record of ${e.bucket}`
                    )}
                    {e.action === 'restrict' && ` (field ${e.field})`}
                  </li>
                ))}
              </ul>
              {preview.truncated && <p class="muted">…and more (only the first 500 are listed).</p>}
            </>
          )}
          {blocked.length > 0 && (
            <p class="field-error">The delete will be refused while these records refer to it.</p>
          )}
          <div class="actions">
            <button type="button" class="danger" onClick={() => void confirm()}>
              Delete
              {preview.effects.length > 0 ? ` (and ${preview.effects.length - blocked.length} more)` : ''}
            </button>
            <button type="button" onClick={() => setPreview(undefined)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {error !== undefined && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function History(props: {
  bucket: BucketInfo;
  recordKey: unknown;
  entries: HistoryEntry[];
  onRestored(r: Rec): void;
}) {
  const { entries } = props;
  const [a, setA] = useState<number | undefined>(entries[1]?.version ?? entries[0]?.version);
  const [b, setB] = useState<number | undefined>(entries[0]?.version);
  const [showSame, setShowSame] = useState(false);
  const [error, setError] = useState<string | undefined>();
  // A new version arrived (live or after a restore): compare the two newest again.
  const newest = entries[0]?.version;
  const previous = entries[1]?.version;
  useEffect(() => {
    setA(previous ?? newest);
    setB(newest);
  }, [newest, previous]);
  if (entries.length === 0) return <p class="muted">No versions kept for this key.</p>;
  const ea = entries.find((e) => e.version === a);
  const eb = entries.find((e) => e.version === b);
  const diff = diffRecords(ea?.record ?? undefined, eb?.record ?? undefined);
  const restore = async (version: number) => {
    setError(undefined);
    try {
      props.onRestored(
        await call<Rec>('restoreVersion', { bucket: props.bucket.name, key: props.recordKey, version }),
      );
    } catch (e) {
      setError(`Not restored: ${errorText(e)}`);
    }
  };
  return (
    <div class="history">
      <div class="scroll">
        <table class="data timeline" data-testid="history">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Op</th>
              <th scope="col">Actor</th>
              <th scope="col">Time</th>
              <th scope="col">Diff from</th>
              <th scope="col">to</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.seq} data-version={e.version}>
                <td>v{e.version}</td>
                <td>
                  <span class={`op op-${e.op}`}>{e.op}</span>
                </td>
                <td>{e.actor ?? '—'}</td>
                <td>{formatTime(e.at)}</td>
                <td>
                  <input
                    type="radio"
                    name="diff-a"
                    aria-label={`Diff from version ${e.version}`}
                    checked={a === e.version}
                    onChange={() => setA(e.version)}
                  />
                </td>
                <td>
                  <input
                    type="radio"
                    name="diff-b"
                    aria-label={`Diff to version ${e.version}`}
                    checked={b === e.version}
                    onChange={() => setB(e.version)}
                  />
                </td>
                <td>
                  {props.bucket.writable && e.op !== 'delete' && e !== entries[0] && (
                    <button type="button" onClick={() => void restore(e.version)}>
                      Restore this version
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {error !== undefined && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <h3>
        Diff v{a} → v{b}{' '}
        <label class="muted">
          <input
            type="checkbox"
            checked={showSame}
            onChange={(e) => setShowSame((e.target as HTMLInputElement).checked)}
          />{' '}
          show unchanged
        </label>
      </h3>
      <div class="scroll">
        <table class="data diff" data-testid="diff">
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">v{a}</th>
              <th scope="col">v{b}</th>
            </tr>
          </thead>
          <tbody>
            {diff
              .filter((d) => showSame || d.status !== 'same')
              .map((d) => (
                <tr key={d.field} class={`d-${d.status}`} data-field={d.field}>
                  <td>
                    <code>{d.field}</code> <span class="muted">{d.status}</span>
                  </td>
                  <td class="before">{d.status === 'added' ? '' : formatValue(d.before, 400)}</td>
                  <td class="after">{d.status === 'removed' ? '' : formatValue(d.after, 400)}</td>
                </tr>
              ))}
          </tbody>
        </table>
        {diff.every((d) => d.status === 'same') && <p class="muted">No differences.</p>}
      </div>
    </div>
  );
}
