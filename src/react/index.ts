// `quiredb/react`: React hooks over a Quire client that stay live. `useQuery`
// subscribes to a reactive query defined on the server; `useRecord` reads one
// record and follows its bucket's events (re-reading it after a reconnect,
// since events of the time without a connection are not replayed). Live
// updates need a WebSocket client (`connectWebSocket`); over HTTP the hooks
// report the client's NOT_SUPPORTED error.
//
// React is an optional peer dependency: only this entry imports it. Written
// without JSX so that it needs no JSX set-up in the package build.
import { createContext, createElement, type ReactNode, useContext, useEffect, useState } from 'react';
import type { QuireClient } from '../client/index.js';
import type {
  BucketEvent,
  BucketName,
  RecordOf,
  SchemaTypes,
  StoreRecord,
  UntypedSchema,
} from '../store/index.js';

type AnyClient = QuireClient<any, any>;

const ClientContext = createContext<AnyClient | undefined>(undefined);

/** Makes `client` the one the hooks below use. */
export function QuireProvider(props: {
  readonly client: AnyClient;
  readonly children?: ReactNode;
}): ReactNode {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest QuireProvider; throws outside one. */
export function useQuireClient<C extends AnyClient = AnyClient>(): C {
  const client = useContext(ClientContext);
  if (client === undefined)
    throw new Error('quiredb/react: a hook was used outside <QuireProvider client={…}>');
  return client as C;
}

/** What a live hook holds: the latest value, or the error that ended it. */
export interface LiveState<T> {
  /** Undefined until the first result arrives (and after an error). */
  readonly data: T | undefined;
  readonly error: Error | undefined;
  /** True until the first result or an error. */
  readonly loading: boolean;
}

const LOADING: LiveState<never> = { data: undefined, error: undefined, loading: true };

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/**
 * Keeps the subscription `pending` resolves to while `isActive()`; one that
 * arrives after the effect was cleaned up is ended at once. Returns the
 * cleanup that ends it.
 */
function hold<T extends { unsubscribe(): Promise<void> }>(
  pending: Promise<T>,
  isActive: () => boolean,
  onReady: (subscription: T) => void,
  onError: (error: Error) => void,
): () => void {
  let held: T | undefined;
  pending.then(
    (subscription) => {
      if (!isActive()) {
        void subscription.unsubscribe().catch(() => {});
        return;
      }
      held = subscription;
      onReady(subscription);
    },
    (e: unknown) => onError(asError(e)),
  );
  return () => void held?.unsubscribe().catch(() => {});
}

/**
 * The result of the server's reactive query `name` with `params`, updated
 * whenever it changes. Params are compared by value, so an object literal
 * per render does not subscribe again.
 */
export function useQuery<R = unknown>(name: string, params?: unknown): LiveState<R> {
  const client = useQuireClient();
  const [state, setState] = useState<LiveState<R>>(LOADING);
  const paramsKey = JSON.stringify(params ?? null);
  useEffect(() => {
    let active = true;
    setState(LOADING);
    const report = (error: Error) => {
      if (active) setState({ data: undefined, error, loading: false });
    };
    const release = hold(
      client.subscribe<R>(
        name,
        JSON.parse(paramsKey) ?? undefined,
        (result) => {
          if (active) setState({ data: result, error: undefined, loading: false });
        },
        { onError: report },
      ),
      () => active,
      (sub) => setState({ data: sub.result, error: undefined, loading: false }),
      report,
    );
    return () => {
      active = false;
      release();
    };
  }, [client, name, paramsKey]);
  return state;
}

/** A record's key as events carry it, compared by value (numbers, strings, compound keys). */
const sameKey = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The record of `bucket` with `key` (`null` while there is none), updated
 * when it is inserted, updated or deleted.
 */
export function useRecord<R extends Record<string, unknown> = Record<string, unknown>>(
  bucket: string,
  key: unknown,
): LiveState<StoreRecord<R> | null> {
  const client = useQuireClient();
  const [state, setState] = useState<LiveState<StoreRecord<R> | null>>(LOADING);
  const keyText = JSON.stringify(key ?? null);
  useEffect(() => {
    let active = true;
    const recordKey = JSON.parse(keyText) as unknown;
    /** Bumped by every event: a read that started before one is stale when it lands. */
    let seen = 0;
    setState(LOADING);
    const show = (record: StoreRecord<R> | null) => {
      if (active) setState({ data: record, error: undefined, loading: false });
    };
    const report = (error: Error) => {
      if (active) setState({ data: undefined, error, loading: false });
    };
    const read = () => {
      const at = seen;
      client
        .bucket(bucket)
        .get(recordKey)
        .then(
          (r) => {
            if (at === seen) show((r as StoreRecord<R> | undefined) ?? null);
          },
          (e: unknown) => report(asError(e)),
        );
    };
    // Subscribe first, then read: a change between the two is not missed.
    const release = hold(
      client.on<BucketEvent>(
        `bucket.${bucket}.*`,
        (event) => {
          if (!sameKey(event.key, recordKey)) return;
          seen++;
          show(
            event.type === 'deleted'
              ? null
              : ((event.type === 'updated' ? event.newRecord : event.record) as StoreRecord<R>),
          );
        },
        { onError: report, onResubscribed: read },
      ),
      () => active,
      read,
      report,
    );
    return () => {
      active = false;
      release();
    };
  }, [client, bucket, keyText]);
  return state;
}

/**
 * The hooks typed by a schema (`QuireSchema` from `quire types`): bucket
 * names are checked and records typed.
 *
 *     const { useRecord } = quireHooks<QuireSchema>();
 *     const user = useRecord('users', id); // LiveState<StoreRecord<User> | null>
 */
export function quireHooks<S extends SchemaTypes = UntypedSchema>(): {
  useRecord<N extends BucketName<S>>(bucket: N, key: unknown): LiveState<StoreRecord<RecordOf<S, N>> | null>;
  useQuery<R = unknown>(name: string, params?: unknown): LiveState<R>;
  useQuireClient(): QuireClient<S>;
} {
  return {
    useRecord: (bucket, key) => useRecord(bucket, key) as never,
    useQuery,
    useQuireClient: () => useQuireClient() as QuireClient<S>,
  };
}
