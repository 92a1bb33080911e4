// Reading `--pg` URLs: Quire's own parameters (schema, connect_timeout) are
// taken out before the driver sees the URL, the rest is kept, and the
// password never appears in what is printed.
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.js';
import { parsePgUrl, redact } from '../../src/cli/postgres.js';

describe('--pg URLs', () => {
  it('takes schema and connect_timeout out, keeps the driver parameters, masks the password', () => {
    const loc = parsePgUrl(
      'postgresql://app:p%40ss%2Fw0rd@db.example:6543/appdb?schema=tenant_1&connect_timeout=2.5&sslmode=disable',
    );
    expect(loc.schema).toBe('tenant_1');
    expect(loc.connectTimeoutMs).toBe(2500);
    const driverUrl = new URL(loc.connectionString);
    expect(driverUrl.searchParams.get('sslmode')).toBe('disable');
    expect(driverUrl.searchParams.has('schema')).toBe(false);
    expect(driverUrl.searchParams.has('connect_timeout')).toBe(false);
    expect(decodeURIComponent(driverUrl.password)).toBe('p@ss/w0rd');
    expect(loc.label).toBe('postgresql://app:***@db.example:6543/appdb?sslmode=disable');
    // Both spellings of the password are removed from any message.
    expect(redact('auth failed for p@ss/w0rd and p%40ss%2Fw0rd')).toBe('auth failed for *** and ***');
  });

  it('defaults: schema public, a 10 s wait; no password, nothing masked', () => {
    const loc = parsePgUrl('postgres://app@localhost/appdb');
    expect(loc).toMatchObject({ schema: 'public', connectTimeoutMs: 10_000 });
    expect(loc.label).toBe('postgres://app@localhost/appdb');
  });

  it('bad values are usage errors (exit 2) that do not echo the URL', () => {
    const bad = [
      ['mysql://u:secret1@h/db', /expects a postgres:\/\//],
      ['postgres://u:secret1@h:notaport/db', /not a valid postgres:\/\/ URL/],
      ['postgres://u:secret1@h/db?schema=a-b', /schema must be an SQL identifier/],
      ['postgres://u:secret1@h/db?connect_timeout=soon', /connect_timeout must be a number of seconds/],
    ] as const;
    for (const [url, message] of bad) {
      const e = (() => {
        try {
          parsePgUrl(url);
        } catch (err) {
          return err;
        }
      })() as CliError;
      expect(e, url).toBeInstanceOf(CliError);
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('secret1');
    }
  });
});
