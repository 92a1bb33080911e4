// Child process of compare.bench.ts: one library, one fresh process.
//   argv: <library> <mode: speed | heap> [records]
// Prints one JSON line. Libraries: map (sync), map-async (the same Map behind
// async functions, awaited per call), floor (the least work a store with this
// bucket's checks and indexes must do, hand-written, awaited per call), loki
// (LokiJS 1.5), quire (public async API), quire-sync (Quire's synchronous read
// path; writes go through the async API).
import { randomUUID } from 'node:crypto';
import Loki from 'lokijs';
import { isValidEmail } from '../src/engine/values.js';
import { Store } from '../src/index.js';

const library = process.argv[2]!;
const mode = process.argv[3]!;
const N = Number(process.argv[4] ?? 100_000);

export const ROLES = ['admin', 'editor', 'author', 'viewer', 'guest'] as const;

interface User {
  id: string;
  name: string;
  email: string;
  role: (typeof ROLES)[number];
  age: number;
  tags: string[];
}

/** Records arrive as JSON (from a file or the wire), so every string is flat, as a parser makes it. */
function makeUser(i: number): User {
  return JSON.parse(
    JSON.stringify({
      id: randomUUID(),
      name: `User ${i}`,
      email: `user${i}@example.com`,
      role: ROLES[i % ROLES.length]!,
      age: (i * 7) % 151,
      tags: [`tag${i % 10}`, `group${i % 7}`, `kind${i % 3}`],
    }),
  ) as User;
}

const definition = {
  key: 'id',
  schema: {
    id: { type: 'string', required: true },
    name: { type: 'string', required: true },
    email: { type: 'string', required: true, format: 'email', unique: true },
    role: { type: 'string', required: true, enum: [...ROLES] },
    age: { type: 'number', min: 0, max: 150 },
    tags: { type: 'array' },
  },
  indexes: ['role'],
} as const;

/** The same bucket with a sorted index on (role, age), for the where + sort + limit row. */
const sortedDefinition = {
  ...definition,
  indexes: ['role', { fields: ['role', 'age'], sorted: true }],
} as const;

/** What each library is measured through. Sync libraries return plain values. */
interface Subject {
  /** Empty the container (a fresh one). */
  reset(): unknown;
  insert(u: User): unknown;
  get(id: string): unknown;
  update(id: string, age: number): unknown;
  /** Records with this role, in any order the library keeps. */
  where(role: User['role']): unknown;
  /** The 10 youngest with this role (ties in the library's own order). */
  whereSortLimit(role: User['role']): unknown;
  /** Whether the calls return promises (awaited one by one). */
  readonly async: boolean;
  /** Fewer update operations for libraries whose updates are slow. */
  readonly updateOps?: number;
  /** Load the sorted-index container used by whereSortLimit (outside any timing). */
  prepareSorted(rows: User[]): unknown;
}

function mapSubject(async: boolean): Subject {
  let map = new Map<string, User>();
  let sorted = new Map<string, User>();
  const insert = (u: User) => {
    // A store must not share the caller's object: copy it, as every store here does.
    const rec = Object.assign({}, u);
    map.set(rec.id, rec);
    return rec;
  };
  const get = (id: string) => map.get(id);
  const update = (id: string, age: number) => {
    const old = map.get(id)!;
    const rec = Object.assign({}, old);
    rec.age = age;
    map.set(id, rec);
    return rec;
  };
  const where = (role: User['role']) => {
    const out: User[] = [];
    for (const r of map.values()) if (r.role === role) out.push(r);
    return out;
  };
  const whereSortLimit = (role: User['role']) => {
    const out: User[] = [];
    for (const r of sorted.values()) if (r.role === role) out.push(r);
    return out.sort((a, b) => a.age - b.age).slice(0, 10);
  };
  const base = {
    reset() {
      map = new Map();
    },
    prepareSorted(rows: User[]) {
      sorted = new Map();
      for (const r of rows) sorted.set(r.id, Object.assign({}, r));
    },
  };
  if (!async) return { ...base, insert, get, update, where, whereSortLimit, async: false };
  return {
    ...base,
    insert: async (u: User) => insert(u),
    get: async (id: string) => get(id),
    update: async (id: string, age: number) => update(id, age),
    where: async (role: User['role']) => where(role),
    whereSortLimit: async (role: User['role']) => whereSortLimit(role),
    async: true,
  };
}

/**
 * The least work an async store with this bucket's definition must do per call, written by hand
 * for this one schema: required fields and their types, the email format (Quire's own check), the
 * role enum, the age range, the tags array; the key and the email unique; the role hash index; a
 * copied record with version and timestamps; one awaited promise. What Quire adds on top (change
 * numbering and events, the change feed, generic schema code) is what its ratio to this measures.
 */
function floorSubject(): Subject {
  type Stored = User & { _version: number; _createdAt: number; _updatedAt: number };
  const roles = new Set<string>(ROLES);
  let map = new Map<string, Stored>();
  let emails = new Map<string, string>();
  let byRole = new Map<string, Set<string>>();
  const invalid = (what: string) => {
    throw new Error(`invalid ${what}`);
  };
  const checkAge = (age: unknown) => {
    if (age !== undefined && (typeof age !== 'number' || !(age >= 0 && age <= 150))) invalid('age');
  };
  const insert = (u: User) => {
    if (typeof u.id !== 'string') invalid('id');
    if (typeof u.name !== 'string') invalid('name');
    if (typeof u.email !== 'string' || !isValidEmail(u.email)) invalid('email');
    if (typeof u.role !== 'string' || !roles.has(u.role)) invalid('role');
    checkAge(u.age);
    if (u.tags !== undefined && !Array.isArray(u.tags)) invalid('tags');
    if (map.has(u.id)) throw new Error('duplicate key');
    if (emails.has(u.email)) throw new Error('duplicate email');
    const now = Date.now();
    const rec = Object.assign({}, u) as Stored;
    rec._version = 1;
    rec._createdAt = now;
    rec._updatedAt = now;
    map.set(rec.id, rec);
    emails.set(rec.email, rec.id);
    let ids = byRole.get(rec.role);
    if (ids === undefined) byRole.set(rec.role, (ids = new Set()));
    ids.add(rec.id);
    return rec;
  };
  const update = (id: string, age: number) => {
    const old = map.get(id);
    if (old === undefined) throw new Error('not found');
    checkAge(age);
    const rec = Object.assign({}, old);
    rec.age = age;
    rec._version = old._version + 1;
    rec._updatedAt = Date.now();
    map.set(id, rec);
    return rec;
  };
  return {
    reset() {
      map = new Map();
      emails = new Map();
      byRole = new Map();
    },
    insert: async (u: User) => insert(u),
    get: async (id: string) => map.get(id),
    update: async (id: string, age: number) => update(id, age),
    where: async (role: User['role']) => {
      const out: User[] = [];
      for (const id of byRole.get(role) ?? []) out.push(map.get(id)!);
      return out;
    },
    whereSortLimit: async (role: User['role']) => {
      const out: User[] = [];
      for (const id of byRole.get(role) ?? []) out.push(map.get(id)!);
      return out.sort((a, b) => a.age - b.age).slice(0, 10);
    },
    prepareSorted() {},
    async: true,
  };
}

function lokiSubject(): Subject {
  type Coll = Collection<User>;
  let db = new Loki('compare.db');
  let coll: Coll | undefined;
  let sorted: Coll | undefined;
  const fresh = () => {
    db = new Loki('compare.db');
    // The key and email unique (by() lookups), a binary index on role, as the bucket definition.
    coll = db.addCollection<User>('users', { unique: ['id', 'email'], indices: ['role'] });
  };
  return {
    reset: fresh,
    // LokiJS stores the object it is given (adding $loki and meta): hand it a copy, like the others.
    insert: (u) => coll!.insert(Object.assign({}, u)),
    get: (id) => coll!.by('id', id),
    update: (id, age) => {
      const doc = coll!.by('id', id)!;
      doc.age = age;
      return coll!.update(doc);
    },
    where: (role) => coll!.find({ role }),
    whereSortLimit: (role) => sorted!.chain().find({ role }).simplesort('age').limit(10).data(),
    prepareSorted(rows) {
      sorted = db.addCollection<User>('sorted', { unique: ['id', 'email'], indices: ['role', 'age'] });
      for (const r of rows) sorted.insert(Object.assign({}, r));
    },
    async: false,
    updateOps: 5_000,
  };
}

async function quireSubject(syncReads: boolean): Promise<Subject> {
  let store = await Store.start({ ttlCheckIntervalMs: 0 });
  let users = await store.defineBucket('users', definition);
  let sorted = users;
  const subject: Subject = {
    async reset() {
      await store.stop();
      store = await Store.start({ ttlCheckIntervalMs: 0 });
      users = await store.defineBucket('users', definition);
    },
    insert: (u) => users.insert(u),
    get: (id) => users.get(id),
    update: (id, age) => users.update(id, { age }),
    where: (role) => users.where({ role }),
    whereSortLimit: (role) => sorted.where({ role }, { sort: { age: 'asc' }, limit: 10 }),
    async prepareSorted(rows) {
      sorted = (await store.defineBucket('sorted', sortedDefinition)) as unknown as typeof users;
      await sorted.insertMany(rows);
    },
    async: true,
  };
  if (!syncReads) return subject;
  // The synchronous read path: committed state, no promise per call.
  return {
    ...subject,
    get: (id) => users.peek(id),
    where: (role) => users.peekWhere({ role }),
    whereSortLimit: (role) => sorted.peekWhere({ role }, { sort: { age: 'asc' }, limit: 10 }),
    async: false,
  };
}

async function subjectFor(name: string): Promise<Subject> {
  switch (name) {
    case 'map':
      return mapSubject(false);
    case 'map-async':
      return mapSubject(true);
    case 'floor':
      return floorSubject();
    case 'loki':
      return lokiSubject();
    case 'quire':
      return quireSubject(false);
    case 'quire-sync':
      return quireSubject(true);
    default:
      throw new Error(`unknown library ${name}`);
  }
}

/**
 * CPU time (ms) of the process since `from`: the machine is shared, and
 * wall time would count the moments other processes hold the core.
 */
function cpuMs(from?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

/** Runs `op(i)` for i < ops, awaiting each call when the subject is async; returns CPU ms. */
async function timeLoop(s: Subject, ops: number, op: (i: number) => unknown): Promise<number> {
  const t0 = process.cpuUsage();
  if (s.async) for (let i = 0; i < ops; i++) await op(i);
  else for (let i = 0; i < ops; i++) op(i);
  return cpuMs(t0);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

async function speed(): Promise<Record<string, number>> {
  const s = await subjectFor(library);
  const rows = Array.from({ length: N }, (_, i) => makeUser(i));
  const order = rows.map((r) => r.id);
  // A fixed shuffle, so reads do not walk the keys in insertion order.
  let seed = 12345;
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }

  // Quire's process also times an awaited Map on the same calls, rep by rep: a ratio from one
  // process, free of the differences between processes (JIT decisions, the machine's load).
  // The synchronous reads (peek) are timed beside LokiJS the same way (gets only: LokiJS updates
  // are slow, and its process times them).
  const twin = library === 'quire' ? mapSubject(true) : library === 'quire-sync' ? lokiSubject() : undefined;
  const twinMs = {
    insert: Number.POSITIVE_INFINITY,
    get: Number.POSITIVE_INFINITY,
    update: Number.POSITIVE_INFINITY,
  };
  const twinLoop = async (what: keyof typeof twinMs, ops: number, op: (t: Subject, i: number) => unknown) => {
    if (twin === undefined) return;
    gc!();
    twinMs[what] = Math.min(twinMs[what], await timeLoop(twin, ops, (i) => op(twin, i)));
  };
  let insertMs = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 3; rep++) {
    await s.reset();
    gc!();
    insertMs = Math.min(insertMs, await timeLoop(s, N, (i) => s.insert(rows[i]!)));
    await twin?.reset();
    await twinLoop('insert', N, (t, i) => t.insert(rows[i]!));
  }
  let getMs = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 5; rep++) {
    getMs = Math.min(getMs, await timeLoop(s, N, (i) => s.get(order[i]!)));
    await twinLoop('get', N, (t, i) => t.get(order[i]!));
  }
  const updateOps = Math.min(N, s.updateOps ?? N);
  let updateMs = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 3; rep++) {
    gc!();
    updateMs = Math.min(updateMs, await timeLoop(s, updateOps, (i) => s.update(order[i]!, (i + rep) % 151)));
    if (library === 'quire')
      await twinLoop('update', updateOps, (t, i) => t.update(order[i]!, (i + rep) % 151));
  }
  let rowsSeen = 0;
  const queryMs = async (fn: (role: User['role']) => unknown, count: number): Promise<number> => {
    let best = Number.POSITIVE_INFINITY;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = process.cpuUsage();
      for (let q = 0; q < count; q++) {
        const r = fn(ROLES[q % ROLES.length]!);
        rowsSeen = ((s.async ? await r : r) as unknown[]).length;
      }
      best = Math.min(best, cpuMs(t0) / count);
    }
    return best;
  };
  const whereMs = await queryMs((role) => s.where(role), 20);
  const whereRows = rowsSeen;
  await s.prepareSorted(rows);
  const sortMs = await queryMs((role) => s.whereSortLimit(role), 50);
  if (rowsSeen !== 10) throw new Error(`where+sort+limit returned ${rowsSeen} rows`);
  return {
    insertPerSec: (N / insertMs) * 1000,
    getPerSec: (N / getMs) * 1000,
    updatePerSec: (updateOps / updateMs) * 1000,
    whereMs,
    whereRows,
    sortMs,
    ...(twin === undefined
      ? {}
      : {
          twinInsertPerSec: (N / twinMs.insert) * 1000,
          twinGetPerSec: (N / twinMs.get) * 1000,
          twinUpdatePerSec: (updateOps / twinMs.update) * 1000,
        }),
  };
}

/** Heap growth per record after loading N records and running one query (lazy structures included). */
async function heap(): Promise<Record<string, number>> {
  const s = await subjectFor(library);
  await s.reset();
  await new Promise((r) => setTimeout(r, 100));
  const used = () => {
    gc!();
    gc!();
    return process.memoryUsage().heapUsed;
  };
  const before = used();
  for (let i = 0; i < N; i++) {
    const r = s.insert(makeUser(i));
    if (s.async) await r;
  }
  const q = s.where(ROLES[0]);
  if (s.async) await q;
  const after = used();
  // Keep the subject alive until measured.
  if (s.get('x') === 'never') console.log('');
  return { bytesPerRecord: (after - before) / N };
}

const result = mode === 'heap' ? await heap() : await speed();
console.log(JSON.stringify(result));
process.exit(0);
