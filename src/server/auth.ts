// Bearer-token auth with per-bucket permissions. The identity's name becomes
// the `actor` of every write made through the connection.
import { createHash, timingSafeEqual } from 'node:crypto';
import { RpcError } from './errors.js';
import { FORBIDDEN } from './protocol.js';

/** What a token grants. `write` implies `read` of the same buckets. */
export interface TokenGrant {
  /** Name recorded as the `actor` of writes. */
  readonly identity: string;
  /** Buckets this token may read: `'*'` for all. Default: none. */
  readonly read?: '*' | readonly string[];
  /** Buckets this token may write: `'*'` for all. Default: none. */
  readonly write?: '*' | readonly string[];
  /** Define/drop/update buckets and queries, backups, checkpoints. Default: false. */
  readonly admin?: boolean;
}

export type AuthOptions =
  /** token → grant */
  | { readonly tokens: Readonly<Record<string, TokenGrant>> }
  /** Custom lookup: return the grant of a valid token, undefined otherwise. */
  | { readonly verify: (token: string) => TokenGrant | undefined | Promise<TokenGrant | undefined> };

export type Access = 'read' | 'write' | 'admin';

export class Identity {
  readonly name: string;
  readonly #read: '*' | ReadonlySet<string>;
  readonly #write: '*' | ReadonlySet<string>;
  readonly admin: boolean;

  constructor(grant: TokenGrant) {
    this.name = grant.identity;
    this.#write = grant.write === '*' ? '*' : new Set(grant.write ?? []);
    this.#read = grant.read === '*' ? '*' : new Set(grant.read ?? []);
    this.admin = grant.admin === true;
  }

  /** `bucket` '*' asks for access to every bucket. */
  can(access: Access, bucket: string): boolean {
    if (access === 'admin') return this.admin;
    const allowed = (set: '*' | ReadonlySet<string>) => set === '*' || (bucket !== '*' && set.has(bucket));
    if (access === 'write') return allowed(this.#write);
    return allowed(this.#read) || allowed(this.#write);
  }

  require(access: Access, bucket: string): void {
    if (this.can(access, bucket)) return;
    const what =
      access === 'admin'
        ? 'administration'
        : bucket === '*'
          ? `${access} on every bucket`
          : `${access} "${bucket}"`;
    throw new RpcError(FORBIDDEN, `Forbidden: "${this.name}" may not ${what}`, {
      code: 'FORBIDDEN',
      access,
      bucket,
    });
  }
}

/** Resolves tokens to identities; undefined when auth is off. */
export class Authenticator {
  readonly #options: AuthOptions;
  /** SHA-256 of each token: equal-length digests compare in constant time and reveal no token length. */
  readonly #tokens: Array<[Buffer, TokenGrant]> | undefined;

  constructor(options: AuthOptions) {
    this.#options = options;
    if ('tokens' in options) {
      this.#tokens = Object.entries(options.tokens).map(([t, g]) => [digest(t), g]);
    }
  }

  async identify(token: string | undefined): Promise<Identity | undefined> {
    if (typeof token !== 'string' || token === '') return undefined;
    if (this.#tokens !== undefined) {
      const given = digest(token);
      let found: TokenGrant | undefined;
      // Every token is compared, so the time taken does not say which one matched.
      for (const [t, grant] of this.#tokens)
        if (timingSafeEqual(t, given) && found === undefined) found = grant;
      return found !== undefined ? new Identity(found) : undefined;
    }
    const grant = await (this.#options as { verify: (t: string) => unknown }).verify(token);
    return grant !== undefined && grant !== null ? new Identity(grant as TokenGrant) : undefined;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
