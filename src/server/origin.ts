// Browsers are untrusted callers. Any web page can make the browser send a
// request to 127.0.0.1 (a "simple" POST needs no preflight, a WebSocket
// handshake none at all), so a request that carries an `Origin` header must
// come from an origin the operator listed. Requests without `Origin` come
// from programs, not from pages, and pass.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Whether `host` (an address or name to bind) is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase();
  if (LOOPBACK_HOSTS.has(h)) return true;
  // 127.0.0.0/8 and the IPv4-mapped form.
  return /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

/** Canonical form of a configured origin (`scheme://host[:port]`); throws TypeError when it is not one. */
export function normaliseOrigin(origin: string): string {
  if (typeof origin !== 'string' || origin === '')
    throw new TypeError(
      `allowedOrigins: expected origins like "http://localhost:3000", got ${String(origin)}`,
    );
  if (origin === 'null') return 'null';
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new TypeError(
      `allowedOrigins: "${origin}" is not an origin (expected e.g. "http://localhost:3000")`,
    );
  }
  if (url.origin === 'null' || url.pathname.length > 1 || url.search !== '' || url.hash !== '')
    throw new TypeError(`allowedOrigins: "${origin}" is not an origin (scheme://host[:port], no path)`);
  return url.origin;
}

export type OriginVerdict =
  /** No Origin header: not a browser page. */
  | 'none'
  /** The page is served by this server itself (same origin, reached through a loopback name). */
  | 'same'
  /** A listed origin: answered with CORS headers. */
  | 'listed'
  | 'denied';

export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowed: readonly string[] = []) {
    if (!Array.isArray(allowed)) throw new TypeError('allowedOrigins: expected an array of origins');
    this.#allowed = new Set(allowed.map(normaliseOrigin));
  }

  get listed(): readonly string[] {
    return [...this.#allowed];
  }

  /**
   * Whether a request's `Host` header may be answered by a server bound to `bound`. On a loopback
   * address only loopback names and the hosts of listed origins are: a DNS-rebinding page reaches
   * the server under its own host name, and a same-origin GET (health, metrics) carries no
   * `Origin` to refuse it by. A request without `Host` (HTTP/1.0 programs) passes.
   */
  acceptsHost(host: string | undefined, bound: string): boolean {
    if (host === undefined || !isLoopbackHost(bound)) return true;
    const h = host.trim().toLowerCase();
    const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
    if (isLoopbackHost(name)) return true;
    for (const o of this.#allowed) {
      if (o === 'null') continue;
      if (new URL(o).hostname === name) return true;
    }
    return false;
  }

  /**
   * Judge a request's `Origin` against the list. A page this server serves
   * itself (same scheme, host and port) is allowed only when the host is a
   * loopback name: a DNS-rebinding page reaches the same port under its own
   * host name, which must not count as "same origin".
   */
  judge(origin: string | undefined, host: string | undefined): OriginVerdict {
    if (origin === undefined) return 'none';
    let canonical: string;
    try {
      canonical = origin === 'null' ? 'null' : new URL(origin).origin;
    } catch {
      return 'denied';
    }
    if (this.#allowed.has(canonical)) return 'listed';
    if (host !== undefined && canonical === `http://${host.toLowerCase()}`) {
      const name = host.toLowerCase().replace(/:\d+$/, '');
      if (isLoopbackHost(name)) return 'same';
    }
    return 'denied';
  }
}

/** Whether a Content-Type header names JSON (`application/json`, parameters allowed). */
export function isJsonContentType(header: string | undefined): boolean {
  if (typeof header !== 'string') return false;
  const type = header.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}
