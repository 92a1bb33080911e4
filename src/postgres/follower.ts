// Follower: brings other instances' commits into this instance, in commit
// order, each exactly once.
//
// The source of truth is quire_log, read from the last applied position
// (`seq`, commit-ordered: see adapter.ts). LISTEN/NOTIFY only says "look
// now"; a poll every `pollMs` covers a lost notification, and a dropped
// LISTEN connection is re-established with backoff, followed by a read from
// the last position, so nothing committed meanwhile is missed. Rows are read
// in whole commits, so a remote transaction is applied as one batch.
//
// The leader prunes the log's old rows (once-only work). An instance whose
// position is below the pruned floor (it was disconnected or stalled for a
// long time) cannot replay what it missed: it reloads its buckets from one
// database snapshot (`resync`) and follows on from that snapshot's position.
import type {
  RemoteDefinition,
  RemoteSnapshot,
  RemoteWrite,
  StoredDefinition,
} from '../persistence/index.js';
import type { LogEntry } from './adapter.js';
import type { PgStandaloneClient } from './driver.js';

export interface ListenClient {
  readonly client: Pick<PgStandaloneClient, 'query' | 'on'>;
  close(): Promise<void>;
}

/** What the follower needs from the adapter. */
export interface FollowSource {
  channel(store: string): string;
  readLogAfter(
    store: string,
    since: number,
    limit: number,
  ): Promise<{ floor: number; defVersion: number; rows: LogEntry[] }>;
  readDefinitions(store: string): Promise<Map<string, string | null>>;
  snapshot(store: string): Promise<RemoteSnapshot>;
  pruneLog(store: string): Promise<number>;
  admit(store: string, row: LogEntry): 'apply' | 'skip' | 'wait';
  loadsSettled(): Promise<void>;
}

const BATCH_ROWS = 2000;
const MAX_BACKOFF_MS = 2000;

export class Follower {
  readonly #source: FollowSource;
  readonly #store: string;
  readonly #deliver: (writes: RemoteWrite[]) => void;
  readonly #pollMs: number;
  readonly #onError: (e: Error) => void;
  readonly #listen: () => Promise<ListenClient>;
  /** The last seq read and handed on (or skipped). */
  position: number;
  #listener: ListenClient | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #reported = false;
  readonly #leaderLock: string | undefined;
  readonly #resync: ((load: () => Promise<RemoteSnapshot>) => Promise<void>) | undefined;
  #pruning = false;
  readonly #definitions: ((changes: ReadonlyArray<RemoteDefinition>) => Promise<void>) | undefined;
  /** The store's definition version and the definitions as last read (undefined: not read yet). */
  #defVersion: number | undefined;
  #knownDefs = new Map<string, string | null>();
  /** Snapshots reloaded because the log was pruned past this instance's position. */
  resyncs = 0;
  /**
   * Holds the store's session-level advisory lock on the LISTEN connection:
   * this instance does the once-only work. A dead instance's connection
   * closes and releases it; another takes it at its next poll.
   */
  leader = false;

  constructor(
    source: FollowSource,
    store: string,
    position: number,
    deliver: (writes: RemoteWrite[]) => void,
    options: {
      pollMs: number;
      onError: (e: Error) => void;
      listen: () => Promise<ListenClient>;
      /** Undefined: never lead (read-only). */
      leaderLock: string | undefined;
      resync?: (load: () => Promise<RemoteSnapshot>) => Promise<void>;
      definitions?: (changes: ReadonlyArray<RemoteDefinition>) => Promise<void>;
    },
  ) {
    this.#resync = options.resync;
    this.#definitions = options.definitions;
    this.#leaderLock = options.leaderLock;
    this.#source = source;
    this.#store = store;
    this.position = position;
    this.#deliver = deliver;
    this.#pollMs = options.pollMs;
    this.#onError = options.onError;
    this.#listen = options.listen;
  }

  async #claimLeader(): Promise<void> {
    const l = this.#listener;
    if (l === undefined || this.leader || this.#stopped || this.#leaderLock === undefined) return;
    try {
      const r = await l.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        this.#leaderLock,
      ]);
      if (this.#listener === l && !this.#stopped) this.leader = r.rows[0]?.ok === true;
    } catch {
      /* the connection is going; 'end' handles it */
    }
  }

  start(): void {
    this.#poll = setInterval(() => {
      void this.#claimLeader();
      if (this.leader) void this.#upkeep();
      this.wake();
    }, this.#pollMs);
    this.#poll.unref();
    void this.#connect();
    this.wake();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    try {
      const l = await this.#listen();
      if (this.#stopped) {
        await l.close();
        return;
      }
      this.#listener = l;
      let lost = false;
      const onLost = () => {
        if (lost || this.#stopped) return;
        lost = true;
        if (this.#listener === l) this.#listener = undefined;
        this.leader = false;
        void l.close();
        this.#scheduleReconnect();
      };
      l.client.on('notification', () => this.wake());
      l.client.on('error', onLost);
      l.client.on('end', onLost);
      await l.client.query(`LISTEN "${this.#source.channel(this.#store)}"`);
      await this.#claimLeader();
      this.#failures = 0;
      this.#reported = false;
      // Whatever was committed while not listening.
      this.wake();
    } catch (e) {
      if (!this.#reported) {
        this.#reported = true;
        this.#onError(e as Error);
      }
      this.#scheduleReconnect();
    }
  }

  /** The leader's once-only work on the log. */
  async #upkeep(): Promise<void> {
    if (this.#pruning) return;
    this.#pruning = true;
    try {
      await this.#source.pruneLog(this.#store);
    } catch (e) {
      this.#onError(e as Error);
    } finally {
      this.#pruning = false;
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#reconnect !== undefined) return;
    const delay = Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.#failures++);
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      void this.#connect();
    }, delay);
    this.#reconnect.unref();
  }

  /** Read and apply everything after the current position (coalesces concurrent calls). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        await this.#source.loadsSettled();
        if (this.#stopped) return;
        const { floor, defVersion, rows } = await this.#source.readLogAfter(
          this.#store,
          this.position,
          BATCH_ROWS,
        );
        if (this.#stopped) return;
        if (defVersion !== this.#defVersion && this.#definitions !== undefined) {
          await this.#readDefinitions(defVersion);
          if (this.#stopped) return;
        }
        if (floor > this.position && this.#resync !== undefined) {
          // What lay between the position and the floor is gone from the log: reload.
          let seq = this.position;
          await this.#resync(async () => {
            const snap = await this.#source.snapshot(this.#store);
            seq = snap.seq;
            return snap;
          });
          if (this.#stopped) return;
          this.resyncs++;
          if (seq > this.position) this.position = seq;
          continue;
        }
        if (rows.length === 0) return;
        const out: RemoteWrite[] = [];
        let waiting = false;
        for (const row of rows) {
          const verdict = this.#source.admit(this.#store, row);
          if (verdict === 'wait') {
            waiting = true;
            break;
          }
          this.position = row.seq;
          if (verdict === 'apply')
            out.push({ bucket: row.bucket, key: row.key, data: row.data, seq: row.seq, at: row.at });
        }
        if (out.length > 0) this.#deliver(out);
        if (!waiting && rows.length < BATCH_ROWS) return;
      }
    } catch (e) {
      // The poll (or the next notification) tries again from the same position.
      if (!this.#reported) {
        this.#reported = true;
        this.#onError(e as Error);
      }
    }
  }

  /** Definitions changed in the database: hand up what changed since they were last read. */
  async #readDefinitions(version: number): Promise<void> {
    const defs = await this.#source.readDefinitions(this.#store);
    const first = this.#defVersion === undefined;
    const known = this.#knownDefs;
    this.#knownDefs = defs;
    this.#defVersion = version;
    // The first read is where following starts: what this instance defines comes from its own code.
    if (first) return;
    const changes: RemoteDefinition[] = [];
    for (const [bucket, def] of defs)
      if (def !== null && known.get(bucket) !== def)
        changes.push({ bucket, definition: JSON.parse(def) as StoredDefinition });
    for (const bucket of known.keys()) if (!defs.has(bucket)) changes.push({ bucket, definition: undefined });
    if (changes.length > 0) await this.#definitions!(changes);
  }

  /** Wait until everything committed so far has been applied (tests, `settle`). */
  async catchUp(): Promise<void> {
    this.wake();
    while (this.#running !== undefined) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    if (this.#reconnect !== undefined) clearTimeout(this.#reconnect);
    const l = this.#listener;
    this.#listener = undefined;
    this.leader = false;
    await this.#running?.catch(() => {});
    await l?.close();
  }
}
