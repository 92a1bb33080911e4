// `GET /metrics`: the server's metrics in the Prometheus text format. Each
// server has its own prom-client Registry (never the global one), so two
// servers in one process keep separate counts. Counters and histograms move
// as requests and commits happen; gauges are read when scraped.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/index.js';
import type { RequestRecord, Transport } from './dispatcher.js';

/** What the metrics read from the server when scraped. */
export interface MetricsSources {
  readonly store: Store;
  /** Open connections by transport. */
  readonly connections: () => Readonly<Record<Transport, number>>;
  /** Subscriptions (query and event) held by the server's clients. */
  readonly subscriptions: () => number;
}

/** Seconds; requests and commits of an in-memory store with SQLite behind it mostly take well under 10 ms. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export class ServerMetrics {
  readonly registry = new Registry();
  /**
   * Requests answered, by method and outcome: counted here (one Map entry per
   * pair) and handed to the prom-client counter when scraped, instead of
   * prom-client's label checks and hashing on every request.
   */
  readonly #requestCounts = new Map<
    string,
    { method: string; outcome: string; n: number; reported: number }
  >();
  readonly #latency: Histogram;
  readonly #commitSeconds: Histogram;
  readonly #commitGroup: Histogram;
  readonly #stopObserving: () => void;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const store = sources.store;
    const requestCounts = this.#requestCounts;
    new Counter({
      name: 'quire_requests_total',
      help: 'JSON-RPC requests answered, by method and outcome ("ok" or the error code)',
      labelNames: ['method', 'outcome'],
      registers,
      collect() {
        for (const c of requestCounts.values()) {
          if (c.n > c.reported) this.inc({ method: c.method, outcome: c.outcome }, c.n - c.reported);
          c.reported = c.n;
        }
      },
    });
    this.#latency = new Histogram({
      name: 'quire_request_duration_seconds',
      help: 'Time from receiving a JSON-RPC request to its answer',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#commitSeconds = new Histogram({
      name: 'quire_commit_duration_seconds',
      help: 'Time of one storage commit (one storage transaction, fsync included)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#commitGroup = new Histogram({
      name: 'quire_commit_group_size',
      help: 'Writes carried by one storage commit (more than one: group commit)',
      buckets: GROUP_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'quire_wal_bytes',
      help: 'Bytes in the SQLite write-ahead log not yet checkpointed',
      registers,
      collect() {
        this.set(store.storageStatus()?.walBytes ?? 0);
      },
    });
    new Gauge({
      name: 'quire_records',
      help: 'Records held, by bucket',
      labelNames: ['bucket'],
      registers,
      async collect() {
        this.reset();
        const perBucket = (await store.getStats()).records.perBucket;
        for (const [bucket, n] of Object.entries(perBucket)) this.set({ bucket }, n);
      },
    });
    new Gauge({
      name: 'quire_open_connections',
      help: 'Open client connections, by transport (http, ws, stdio)',
      labelNames: ['transport'],
      registers,
      collect() {
        for (const [transport, n] of Object.entries(sources.connections())) this.set({ transport }, n);
      },
    });
    new Gauge({
      name: 'quire_subscriptions',
      help: "Query and event subscriptions held by the server's clients",
      registers,
      collect() {
        this.set(sources.subscriptions());
      },
    });
    let reported = 0;
    new Counter({
      name: 'quire_storage_errors_total',
      help: 'Storage failures (failed commits, loads, opens) since the store started',
      registers,
      collect() {
        const errors = store.storageStatus()?.errors ?? 0;
        if (errors > reported) this.inc(errors - reported);
        reported = Math.max(reported, errors);
      },
    });
    new Gauge({
      name: 'quire_storage_degraded',
      help: '1 while storage is degraded (commits failing, or changes could not be stored), else 0',
      registers,
      collect() {
        this.set(store.storageStatus()?.state === 'degraded' ? 1 : 0);
      },
    });
    this.#stopObserving = store.observeCommits((c) => {
      this.#commitSeconds.observe(c.durationMs / 1000);
      this.#commitGroup.observe(c.batches);
    });
  }

  /** Count one answered request. Unknown method names are the client's text: they share one label. */
  request(r: RequestRecord): void {
    const method = r.known ? r.method : r.method === '(invalid)' ? '(invalid)' : '(unknown)';
    const key = `${method}\u0000${r.outcome}`;
    const c = this.#requestCounts.get(key);
    if (c !== undefined) c.n++;
    else this.#requestCounts.set(key, { method, outcome: r.outcome, n: 1, reported: 0 });
    this.#latency.observe(r.durationMs / 1000);
  }

  /** The text of `GET /metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#stopObserving();
  }
}
