// JSON-RPC 2.0 conformance with raw messages over every transport: parse
// errors, invalid requests, notifications, batches, oversized messages.
// After every bad input the server still answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, startHttp } from './fixture.js';
import { httpChannel, type RawChannel, stdioChannel, wsChannel } from './raw.js';

const LIMIT = 64 * 1024;

type Kind = 'http' | 'ws' | 'stdio';

describe.each(['http', 'ws', 'stdio'] as const)('JSON-RPC conformance over %s', (kind: Kind) => {
  let ch: RawChannel;
  let running: Running | undefined;

  beforeAll(async () => {
    if (kind === 'stdio') {
      ch = await stdioChannel({ maxRequestBytes: LIMIT });
      return;
    }
    running = await startHttp({ maxRequestBytes: LIMIT });
    ch = kind === 'http' ? httpChannel(running.address.url) : await wsChannel(running.address.wsUrl);
  });
  afterAll(async () => {
    await ch.close();
    await running?.stop();
  });

  const alive = async () => {
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","id":"alive"}')).toEqual({
      jsonrpc: '2.0',
      id: 'alive',
      result: 'pong',
    });
  };

  it('answers a request with the same id (number, string, null)', async () => {
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","id":7}')).toEqual({
      jsonrpc: '2.0',
      id: 7,
      result: 'pong',
    });
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","id":"x-1"}')).toMatchObject({ id: 'x-1' });
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","id":null}')).toMatchObject({
      id: null,
      result: 'pong',
    });
    expect(await ch.send('{"jsonrpc":"2.0","method":"ping","params":{},"id":1.5}')).toMatchObject({
      id: 1.5,
    });
  });

  it('malformed JSON: -32700 with id null', async () => {
    for (const bad of [
      '{"jsonrpc":"2.0","method"',
      'not json',
      '{"a":1,}',
      '\u0000\u0001',
      Buffer.from([0xff, 0xfe, 0x7b]),
    ]) {
      const r = await ch.send(bad);
      expect(r.id).toBeNull();
      expect(r.error.code).toBe(-32700);
      expect(r.error.data.code).toBe('PARSE_ERROR');
    }
    await alive();
  });

  it('invalid requests: -32600', async () => {
    const cases: Array<[string, unknown]> = [
      ['{"jsonrpc":"1.0","method":"ping","id":1}', 1],
      ['{"method":"ping","id":2}', 2],
      ['{"jsonrpc":"2.0","method":5,"id":3}', 3],
      ['{"jsonrpc":"2.0","method":"","id":4}', 4],
      ['{"jsonrpc":"2.0","method":"ping","params":"x","id":5}', 5],
      ['{"jsonrpc":"2.0","method":"ping","params":null,"id":6}', 6],
      ['{"jsonrpc":"2.0","method":"ping","id":{"a":1}}', null],
      ['{"jsonrpc":"2.0","method":"ping","id":[1]}', null],
      ['"just a string"', null],
      ['42', null],
      ['null', null],
      ['[]', null],
    ];
    for (const [text, id] of cases) {
      const r = await ch.send(text);
      expect(r.error?.code, text).toBe(-32600);
      expect(r.id, text).toBe(id);
    }
    await alive();
  });

  it('unknown method: -32601 (and positional params to a named-params method: -32602)', async () => {
    expect(await ch.send('{"jsonrpc":"2.0","method":"nope","id":1}')).toMatchObject({
      id: 1,
      error: { code: -32601, data: { code: 'METHOD_NOT_FOUND' } },
    });
    expect(await ch.send('{"jsonrpc":"2.0","method":"get","params":["users","a"],"id":2}')).toMatchObject({
      id: 2,
      error: { code: -32602 },
    });
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"get","params":{"bucket":"nope","key":1},"id":3}'),
    ).toMatchObject({
      id: 3,
      error: { code: -32000, data: { code: 'BUCKET_NOT_DEFINED', bucket: 'nope' } },
    });
  });

  it('notifications get no response, even when they fail', async () => {
    await ch.expectNone('{"jsonrpc":"2.0","method":"ping"}');
    await ch.expectNone('{"jsonrpc":"2.0","method":"nope"}');
    await ch.expectNone('{"jsonrpc":"2.0","method":"insert","params":{"bucket":"users"}}');
    await ch.expectNone('{"jsonrpc":"2.0","method":"app.fail"}');
    await ch.expectNone('[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"nope"}]');
    // A notification's write happens.
    await ch.expectNone(
      '{"jsonrpc":"2.0","method":"insert","params":{"bucket":"counters","record":{"id":"note"}}}',
    );
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"get","params":{"bucket":"counters","key":"note"},"id":9}'),
    ).toMatchObject({ result: { id: 'note', value: 0 } });
  });

  it('batches: one response per request, in order; invalid members answered individually', async () => {
    const r = await ch.send(
      JSON.stringify([
        { jsonrpc: '2.0', method: 'ping', id: 1 },
        { jsonrpc: '2.0', method: 'ping' },
        { jsonrpc: '2.0', method: 'nope', id: 2 },
        1,
        { jsonrpc: '2.0', method: 'app.echo', params: { v: 'x' }, id: 3 },
      ]),
    );
    expect(r).toEqual([
      { jsonrpc: '2.0', id: 1, result: 'pong' },
      expect.objectContaining({ id: 2, error: expect.objectContaining({ code: -32601 }) }),
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
      { jsonrpc: '2.0', id: 3, result: { v: 'x' } },
    ]);
    const bad = await ch.send('[1,2,3]');
    expect(bad).toHaveLength(3);
    for (const b of bad) expect(b).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('deeply nested and odd-but-valid JSON does not hurt the server', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const r = await ch.send(deep);
    expect(r).toEqual([
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
    ]);
    const nested = await ch.send(
      JSON.stringify({
        jsonrpc: '2.0',
        method: 'app.echo',
        params: { a: { b: { c: ['é', '\u2028', '😀'] } } },
        id: 'u',
      }),
    );
    expect(nested.result).toEqual({ a: { b: { c: ['é', '\u2028', '😀'] } } });
    await alive();
  });

  it('oversized messages are refused without taking the server down', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      method: 'insert',
      params: { bucket: 'counters', record: { id: 'big', pad: 'x'.repeat(LIMIT) } },
      id: 'big',
    });
    if (kind === 'http') {
      const r = await (ch as ReturnType<typeof httpChannel>).post(big);
      expect(r.status).toBe(413);
      expect(r.body).toMatchObject({
        id: null,
        error: { code: -32600, data: { code: 'REQUEST_TOO_LARGE' } },
      });
    } else if (kind === 'ws') {
      // ws closes the connection with 1009 (message too big); the server keeps serving others.
      const other = await wsChannel(running!.address.wsUrl);
      other.ws.send(big);
      expect(await other.closed).toBe(1009);
    } else {
      const r = await ch.send(big);
      expect(r).toMatchObject({ id: null, error: { code: -32600, data: { code: 'REQUEST_TOO_LARGE' } } });
    }
    await alive();
    expect(
      await ch.send('{"jsonrpc":"2.0","method":"get","params":{"bucket":"counters","key":"big"},"id":1}'),
    ).toMatchObject({
      result: null,
    });
  });

  if (kind === 'stdio') {
    it('stdio: CRLF line endings, blank lines and several requests in one chunk', async () => {
      const c = ch as Awaited<ReturnType<typeof stdioChannel>>;
      expect(await c.send('\r\n\n{"jsonrpc":"2.0","method":"ping","id":"crlf"}\r\n')).toMatchObject({
        id: 'crlf',
      });
      c.child.stdin!.write(
        '{"jsonrpc":"2.0","method":"ping","id":"a"}\n{"jsonrpc":"2.0","method":"ping","id":"b"}',
      );
      expect(await c.send('\n')).toMatchObject({ id: 'a' });
      expect(await c.next()).toMatchObject({ id: 'b' });
    });
  }

  if (kind === 'http') {
    it('http: GET /health, wrong verbs and paths', async () => {
      const base = running!.address.url.replace(/\/rpc$/, '');
      const h = await fetch(`${base}/health`);
      expect(h.status).toBe(200);
      expect(await h.json()).toMatchObject({ status: 'ok', store: running!.store.name });
      expect((await fetch(`${base}/rpc`)).status).toBe(405);
      expect((await fetch(`${base}/elsewhere`, { method: 'POST', body: '{}' })).status).toBe(404);
      const empty = await (ch as ReturnType<typeof httpChannel>).post('');
      expect(empty.body).toMatchObject({ error: { code: -32700 } });
    });
  }
});
