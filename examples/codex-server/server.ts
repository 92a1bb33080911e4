// codex-server: started by the editor as a child process,
//   node --import tsx examples/codex-server/server.ts --workspace DIR
// speaks newline-delimited JSON-RPC on stdin/stdout; data lives in
// DIR/.quire/, templates are the built-in ones plus DIR/templates/*.json
// (reloaded when they change). Every reply to a write means the write is on
// disk (strict durability). Log lines go to stderr.
import { resolve } from 'node:path';
import { QuireServer } from 'quiredb/server';
import { openCodexStore, registerCodexMethods } from './codex.js';
import { TemplateRegistry } from './templates.js';

const i = process.argv.indexOf('--workspace');
const workspace = i >= 0 ? process.argv[i + 1] : undefined;
if (workspace === undefined) {
  process.stderr.write('usage: codex-server --workspace DIR\n');
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const dir = resolve(workspace);
const store = await openCodexStore(dir).catch((e: Error) => {
  // E.g. another codex-server holds the workspace: one clear line, exit 1.
  log(`codex-server: ${e.message}`);
  process.exit(1);
});
// A bad template file is logged and skipped; it never stops the server.
const templates = new TemplateRegistry(dir, { log });
templates.watch();
const server = new QuireServer({ store, stopStoreOnClose: true });
registerCodexMethods(server, store, templates, log);
server.handleSignals();
server.serveStdio({ closeOnEnd: false });
log(
  `codex-server: workspace ${dir}, templates: ${templates
    .all()
    .map((t) => t.id)
    .join(', ')}`,
);
process.stdin.once('end', () => {
  templates.close();
  void server.close().then(() => process.exit(0));
});
