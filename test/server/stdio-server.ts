// Child process of the stdio tests: the fixture store served on stdin/stdout.
// argv[2] may hold JSON ServerOptions (limits, auth).
import { Store } from '../../src/index.js';
import { QuireServer } from '../../src/server/index.js';
import { prepareStore, registerAppMethods } from './fixture.js';

const options = process.argv[2] !== undefined ? JSON.parse(process.argv[2]) : {};
const store = await Store.start({ ttlCheckIntervalMs: 0 });
await prepareStore(store);
const server = new QuireServer({ store, stopStoreOnClose: true, ...options });
registerAppMethods(server);
server.register('app.print', () => {
  // Must not reach stdout: the stdio server sends console output to stderr.
  console.log('this line goes to stderr');
  return true;
});
server.handleSignals();
server.serveStdio();
await new Promise<void>((resolve) => process.stdin.once('end', resolve));
await server.close();
process.exit(0);
