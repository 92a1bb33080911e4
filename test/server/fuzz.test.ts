// The server never dies on bad input: random bytes, random JSON and
// near-miss requests over WebSocket and stdio each get a well-formed answer
// (or none, for notifications), and the connection keeps working.
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { watchOutput } from '../child-output.js';
import { type Running, STDIO_SERVER, startHttp, TSX } from './fixture.js';

const METHODS = [
  'insert',
  'get',
  'update',
  'delete',
  'where',
  'transaction',
  'subscribe',
  'groupBy',
  'paginate',
  'nope',
];

/** Messages that are almost requests: right envelope, random method/params/id. */
const nearMiss = fc
  .record({
    jsonrpc: fc.constantFrom('2.0', '2.0', '1.0', 2),
    method: fc.oneof(fc.constantFrom(...METHODS), fc.string()),
    params: fc.oneof(
      fc.constant(undefined),
      fc.jsonValue(),
      fc.record({
        bucket: fc.oneof(fc.constantFrom('users', 'counters', 'nope'), fc.jsonValue()),
        key: fc.jsonValue(),
        record: fc.jsonValue(),
        filter: fc.jsonValue(),
        changes: fc.jsonValue(),
        operations: fc.jsonValue(),
        n: fc.jsonValue(),
      }),
    ),
    id: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(undefined), fc.jsonValue()),
  })
  .map((r) => JSON.stringify(r));

const garbage = fc.oneof(
  nearMiss,
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.array(nearMiss, { maxLength: 5 }).map((a) => `[${a.join(',')}]`),
);

function wellFormed(text: string): void {
  const m = JSON.parse(text);
  for (const r of Array.isArray(m) ? m : [m]) {
    expect(r.jsonrpc).toBe('2.0');
    if (r.method !== undefined) continue; // a notification (subscription/event)
    expect('id' in r).toBe(true);
    expect('result' in r !== 'error' in r).toBe(true);
    if ('error' in r) {
      expect(Number.isInteger(r.error.code)).toBe(true);
      expect(typeof r.error.message).toBe('string');
      expect(typeof r.error.data?.code).toBe('string');
    }
  }
}

describe('fuzzing: the server survives anything', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startHttp({ maxRequestBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await r.stop();
  });

  it('WebSocket', async () => {
    const ws = new WebSocket(r.address.wsUrl);
    await new Promise((res) => ws.once('open', res));
    const received: string[] = [];
    let waiting: ((t: string) => void) | undefined;
    ws.on('message', (d) => {
      const t = d.toString();
      received.push(t);
      if (t.includes('"id":"probe"')) waiting?.(t);
    });
    const samples = fc.sample(garbage, { numRuns: 400, seed: 42 });
    for (const s of samples) ws.send(s.replace(/\n/g, ' '));
    const probe = new Promise<string>((res) => {
      waiting = res;
    });
    ws.send('{"jsonrpc":"2.0","method":"ping","id":"probe"}');
    expect(JSON.parse(await probe)).toMatchObject({ result: 'pong' });
    for (const t of received) wellFormed(t);
    expect(received.length).toBeGreaterThan(100);
    ws.close();
  });

  it('stdio (child process)', async () => {
    const child = spawn(
      process.execPath,
      [...TSX, STDIO_SERVER, JSON.stringify({ maxRequestBytes: 64 * 1024 })],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const out = watchOutput(child);
    const lines: string[] = [];
    const probe = new Promise<string>((resolve) => {
      out.onLine('stdout', (line) => {
        lines.push(line);
        if (line.includes('"id":"probe"')) resolve(line);
      });
    });
    const samples = fc.sample(garbage, { numRuns: 400, seed: 7 });
    child.stdin.write(`${samples.map((s) => s.replace(/[\r\n]/g, ' ')).join('\n')}\n`);
    child.stdin.write('{"jsonrpc":"2.0","method":"ping","id":"probe"}\n');
    expect(JSON.parse(await probe)).toMatchObject({ result: 'pong' });
    for (const l of lines) wellFormed(l);
    child.stdin.end();
    expect(await out.exited).toBe(0);
  });
});
