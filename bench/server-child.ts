// Child process of the server benchmark: a strict-durability SQLite store
// (path in argv[2]) served on stdin/stdout.
import { SQLiteAdapter, Store } from '../src/index.js';
import { QuireServer } from '../src/server/index.js';
import { ITEMS } from './server.bench.js';

const store = await Store.start({
  name: 'bench',
  ttlCheckIntervalMs: 0,
  persistence: { adapter: new SQLiteAdapter(process.argv[2]!), durability: 'strict' },
});
await store.defineBucket('items', ITEMS);
const server = new QuireServer({ store, stopStoreOnClose: true });
server.serveStdio();
