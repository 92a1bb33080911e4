// The inspector page's files (index.html, app.js, app.css), built into
// dist/ui by the package's build step (scripts/build-inspector.mjs) and
// served from memory at GET / and /ui/*. Nothing is fetched from anywhere
// else: the page and everything it loads come from this server.
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** Serves the page; returns false for paths that are not its own. */
export type AssetHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** Where the built page is: dist/ui next to dist/inspector, or dist/ui of a source checkout. */
export function inspectorDirectory(): string | undefined {
  for (const rel of ['../ui/', '../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`) && existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
}

/** Answers GET / when the page has not been built (a source checkout before `npm run build`). */
export const pageNotBuilt: AssetHandler = (req, res, url) => {
  if (
    (req.method !== 'GET' && req.method !== 'HEAD') ||
    (url.pathname !== '/' && !url.pathname.startsWith('/ui/'))
  )
    return false;
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', ...HEADERS });
  res.end('The inspector page is not built: run "npm run build" (it writes dist/ui).\n');
  return true;
};

/** The handler, or undefined when the page has not been built. */
export function inspectorAssets(dir = inspectorDirectory()): AssetHandler | undefined {
  if (dir === undefined) return undefined;
  const files = new Map<string, Asset>();
  for (const [name, type] of Object.entries(TYPES)) {
    const path = `${dir}${name}`;
    if (!existsSync(path)) continue;
    const gz = `${path}.gz`;
    files.set(name, { body: readFileSync(path), gzip: existsSync(gz) ? readFileSync(gz) : undefined, type });
  }
  if (!files.has('index.html')) return undefined;
  return (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const name =
      url.pathname === '/' || url.pathname === '/index.html'
        ? 'index.html'
        : url.pathname.startsWith('/ui/')
          ? url.pathname.slice(4)
          : undefined;
    if (name === undefined) return false;
    const asset = files.get(name);
    if (asset === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...HEADERS });
      res.end(`Not found: ${url.pathname}`);
      return true;
    }
    const gzip = asset.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip! : asset.body;
    res.writeHead(200, {
      'Content-Type': asset.type,
      'Content-Length': body.length,
      Vary: 'Accept-Encoding',
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
      ...HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
