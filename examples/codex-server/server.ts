// codex-server: started by the editor as a child process,
//   node --import tsx examples/codex-server/server.ts --workspace DIR
// speaks newline-delimited JSON-RPC on stdin/stdout; data lives in
// DIR/.quire/, templates in DIR/templates/*.json. Every reply to a write
// means the write is on disk (strict durability).
import { resolve } from 'node:path';
import { QuireServer } from 'quiredb/server';
import { loadTemplates, openCodexStore, registerCodexMethods } from './codex.js';

const i = process.argv.indexOf('--workspace');
const workspace = i >= 0 ? process.argv[i + 1] : undefined;
if (workspace === undefined) {
  process.stderr.write('usage: codex-server --workspace DIR\n');
  process.exit(2);
}

const dir = resolve(workspace);
const store = await openCodexStore(dir).catch((e: Error) => {
  // E.g. another codex-server holds the workspace: one clear line, exit 1.
  process.stderr.write(`codex-server: ${e.message}\n`);
  process.exit(1);
});
const templates = loadTemplates(dir);
const server = new QuireServer({ store, stopStoreOnClose: true });
registerCodexMethods(server, store, templates);
server.handleSignals();
server.serveStdio({ closeOnEnd: false });
process.stderr.write(`codex-server: workspace ${dir}, ${templates.size} template(s)\n`);
process.stdin.once('end', () => {
  void server.close().then(() => process.exit(0));
});
