// Reading import sources: files, streams, text and record arrays, turned
// into a stream of records, each with its place in the input. NDJSON is read
// line by line (a large file is never held as one string); JSON and YAML are
// parsed whole, since a document is only valid once complete.
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSeq, LineCounter, parseDocument } from 'yaml';
import { InvalidArgumentError, isPlainObject } from '../engine/index.js';
import { UnknownFormatError } from './errors.js';
import type { DataFormat, ImportSource } from './types.js';

export const FORMATS: readonly DataFormat[] = ['json', 'ndjson', 'yaml'];

/** Where a record (or a problem) is in the input. */
export interface Where {
  readonly location: string;
  readonly line?: number;
  readonly index?: number;
}

/** A record read from the input, or a problem found at a place in it. */
export type Item =
  | { readonly record: Record<string, unknown>; readonly where: Where }
  | { readonly problem: string; readonly where: Where | undefined; readonly cause?: unknown };

export function checkFormat(format: unknown): DataFormat {
  if (typeof format === 'string' && (FORMATS as readonly string[]).includes(format))
    return format as DataFormat;
  throw new UnknownFormatError(format);
}

const EXTENSIONS: Record<string, DataFormat> = {
  '.json': 'json',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};

/** The format of a file from its extension. */
export function formatOfPath(path: string): DataFormat {
  const f = EXTENSIONS[extname(path).toLowerCase()];
  if (f === undefined) {
    throw new UnknownFormatError(
      undefined,
      `Cannot tell the format of "${path}" from its extension (.json, .ndjson, .jsonl, .yaml, .yml): pass {format: "json" | "ndjson" | "yaml"}`,
    );
  }
  return f;
}

export type Source =
  | { readonly kind: 'records'; readonly records: readonly unknown[] }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'stream'; readonly chunks: AsyncIterable<string | Uint8Array> };

export function classifySource(source: ImportSource): Source {
  if (typeof source === 'string') {
    if (source === '') throw new InvalidArgumentError('import', 'source', 'expected a file path, got ""');
    return { kind: 'path', path: source };
  }
  if (source instanceof URL) return { kind: 'path', path: fileURLToPath(source) };
  if (Array.isArray(source)) return { kind: 'records', records: source };
  if (isPlainObject(source) && typeof source.text === 'string') return { kind: 'text', text: source.text };
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    return { kind: 'stream', chunks: source as AsyncIterable<string | Uint8Array> };
  }
  throw new InvalidArgumentError(
    'import',
    'source',
    'expected a file path, a file URL, a readable stream, {text} or an array of records',
  );
}

/** Text chunks of a source (files are streamed). */
async function* chunksOf(source: Source): AsyncGenerator<string> {
  if (source.kind === 'text') {
    yield source.text;
    return;
  }
  const chunks =
    source.kind === 'path' ? createReadStream(source.path) : source.kind === 'stream' ? source.chunks : [];
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks as AsyncIterable<string | Uint8Array>) {
    yield typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  }
  const rest = decoder.decode();
  if (rest !== '') yield rest;
}

/** Lines of a source, one at a time (without line terminators). */
async function* linesOf(source: Source): AsyncGenerator<string> {
  let buffer = '';
  for await (const chunk of chunksOf(source)) {
    buffer += chunk;
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      yield stripCr(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
  }
  if (buffer !== '') yield stripCr(buffer);
}

const stripCr = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** Reading the source failed (missing file, broken stream). */
export class SourceReadError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

async function* guard<T>(it: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = it[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<T>;
    try {
      r = await iterator.next();
    } catch (e) {
      throw new SourceReadError(e);
    }
    if (r.done) return;
    yield r.value;
  }
}

/** The total number of records, once known (JSON and YAML after parsing). */
export interface Reader {
  readonly items: AsyncIterable<Item>;
  total(): number | undefined;
}

export function readRecords(source: Source, format: DataFormat | 'records'): Reader {
  let total: number | undefined;
  const items = (async function* (): AsyncGenerator<Item> {
    if (source.kind === 'records') {
      total = source.records.length;
      yield* fromList(source.records, (i) => ({ location: `records[${i}]`, index: i }));
      return;
    }
    if (format === 'ndjson') {
      let line = 0;
      let index = 0;
      for await (const text of guard(linesOf(source))) {
        line++;
        if (text.trim() === '') continue;
        const where = { location: `line ${line}`, line, index };
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          yield { problem: `invalid JSON (${(e as Error).message})`, where, cause: e };
          return;
        }
        yield asRecord(value, where);
        index++;
      }
      return;
    }
    let text = '';
    for await (const c of guard(chunksOf(source))) text += c;
    if (format === 'json') {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        const { line, column } = positionOf(text, (e as Error).message);
        const where = line !== undefined ? { location: `line ${line}, column ${column}`, line } : undefined;
        yield { problem: `invalid JSON (${(e as Error).message})`, where, cause: e };
        return;
      }
      if (!Array.isArray(value)) {
        yield { problem: `expected a JSON array of records, got ${describe(value)}`, where: undefined };
        return;
      }
      total = value.length;
      yield* fromList(value, (i) => ({ location: `records[${i}]`, index: i }));
      return;
    }
    // YAML: a list of records.
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const pos = e.linePos?.[0];
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const where =
        pos !== undefined ? { location: `line ${pos.line}, column ${pos.col}`, line: pos.line } : undefined;
      yield { problem: `invalid YAML (${message})`, where, cause: e };
      return;
    }
    const root = doc.contents;
    if (root === null) {
      total = 0;
      return;
    }
    if (!isSeq(root)) {
      yield { problem: `expected a YAML list of records, got ${describe(doc.toJS())}`, where: undefined };
      return;
    }
    let value: unknown[];
    try {
      value = doc.toJS({ maxAliasCount: 1000 }) as unknown[];
    } catch (e) {
      yield { problem: `invalid YAML (${(e as Error).message})`, where: undefined, cause: e };
      return;
    }
    total = value.length;
    const items = root.items as Array<{ range?: [number, number, number] } | null>;
    yield* fromList(value, (i) => {
      const offset = items[i]?.range?.[0];
      const line = offset !== undefined ? lines.linePos(offset).line : undefined;
      return {
        location: line !== undefined ? `records[${i}] (line ${line})` : `records[${i}]`,
        index: i,
        line,
      };
    });
  })();
  return { items, total: () => total };
}

function* fromList(list: readonly unknown[], where: (i: number) => Where): Generator<Item> {
  for (let i = 0; i < list.length; i++) yield asRecord(list[i], where(i));
}

function asRecord(value: unknown, where: Where): Item {
  if (isPlainObject(value)) return { record: value, where };
  return { problem: `expected a record (an object), got ${describe(value)}`, where };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Line and column of a JSON.parse error (from "… at position 42 …", or by scanning the text). */
function positionOf(text: string, message: string): { line?: number; column?: number } {
  const m = /position (\d+)/.exec(message);
  const pos = m !== null ? Number(m[1]) : jsonErrorOffset(text);
  if (pos === undefined) return {};
  let line = 1;
  let start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: pos - start + 1 };
}

/**
 * Offset of the first JSON syntax error in `text` (undefined if none is
 * found). Only used to point at the place when JSON.parse's message does not.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') string();
    else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (m === null) fail();
      i += m![0].length;
    }
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      i += text[i] === '\\' ? 2 : 1;
    }
    if (i >= text.length) fail();
    i++;
  };
  try {
    value();
    ws();
    return i < text.length ? i : undefined;
  } catch (at) {
    return typeof at === 'number' ? Math.min(at, text.length) : undefined;
  }
}
