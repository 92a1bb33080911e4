// Newline-delimited JSON-RPC over a pair of streams (normally the process's
// stdin/stdout). Each response and notification is one line, written with a
// single write() call. A line longer than the size limit is answered with
// REQUEST_TOO_LARGE and skipped up to its newline, without buffering it.
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { type Dispatcher, notification, type RateLimiter, Session, tooLarge } from './dispatcher.js';

export interface StdioOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly maxRequestBytes: number;
  readonly limiter: RateLimiter | undefined;
  /** Called once the input ends (the client closed its side). */
  readonly onEnd: () => void;
}

export class StdioTransport {
  readonly session: Session;
  readonly #d: Dispatcher;
  readonly #o: StdioOptions;
  readonly #decoder = new StringDecoder('utf8');
  #buffer = '';
  #bufferBytes = 0;
  #skipping = false;
  #stopped = false;
  readonly #onData = (chunk: Buffer | string) => this.#data(chunk);
  readonly #onEnd = () => this.#end();

  constructor(dispatcher: Dispatcher, options: StdioOptions) {
    this.#d = dispatcher;
    this.#o = options;
    this.session = new Session(
      'stdio',
      (method, params) => this.#write(notification(method, params)),
      options.limiter,
    );
    options.input.on('data', this.#onData);
    options.input.on('end', this.#onEnd);
    options.input.on('error', this.#onEnd);
    options.output.on('error', () => {
      // The reader went away (EPIPE): nothing more can be delivered.
      this.stop();
      this.#o.onEnd();
    });
  }

  /** Stop reading new requests (in-flight ones still get their responses). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#o.input.off('data', this.#onData);
    this.#o.input.off('end', this.#onEnd);
    this.#o.input.pause();
  }

  #write(line: string): void {
    if (this.#o.output.writable) this.#o.output.write(`${line}\n`);
  }

  #data(chunk: Buffer | string): void {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    while (text.length > 0) {
      const nl = text.indexOf('\n');
      const part = nl < 0 ? text : text.slice(0, nl);
      text = nl < 0 ? '' : text.slice(nl + 1);
      if (!this.#skipping) {
        this.#buffer += part;
        this.#bufferBytes += Buffer.byteLength(part, 'utf8');
        if (this.#bufferBytes > this.#o.maxRequestBytes) {
          this.#write(tooLarge(this.#o.maxRequestBytes));
          this.#buffer = '';
          this.#bufferBytes = 0;
          this.#skipping = true;
        }
      }
      if (nl < 0) break;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      const line = this.#buffer;
      this.#buffer = '';
      this.#bufferBytes = 0;
      this.#line(line);
      if (this.#stopped) return;
    }
  }

  #line(line: string): void {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') return;
    this.#d.handle(line, this.session, (t) => this.#write(t));
  }

  #end(): void {
    const rest = this.#buffer + this.#decoder.end();
    this.#buffer = '';
    if (!this.#skipping && rest.trim() !== '') this.#line(rest);
    this.stop();
    this.#o.onEnd();
  }
}
