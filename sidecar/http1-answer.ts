// The API server's answer as HTTP/1.1 bytes → head, body chunks, end (RFC 9112), for the
// sidecar's own upstream pool. Strict where a lenient reading could mis-frame a body: a head that
// is not exactly HTTP/1.x, both Transfer-Encoding and Content-Length, conflicting lengths, a coding
// other than chunked, bare LFs, obs-folds and control characters are errors, never guesses.
import type { IncomingHttpHeaders } from 'node:http';

/** Why an answer could not be read; the proxy answers 502 and passes none of it on. */
export class AnswerFormatError extends Error {
  readonly code = 'AGENTGATE_UPSTREAM_MALFORMED';
  constructor(message: string) {
    super(`the API server's answer is malformed: ${message}`);
    this.name = 'AnswerFormatError';
  }
}

/** An answer's head, as the body framing was decided from it. */
export interface AnswerHead {
  status: number;
  /** Lowercase names; `set-cookie` an array, other repeated fields joined with ", ". */
  headers: IncomingHttpHeaders;
  /** The connection may carry another request once this answer ended. */
  keepAlive: boolean;
}

/** What the parser hands on; it stops at once when a callback calls `stop()`. */
export interface AnswerSink {
  head(head: AnswerHead): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** Node's own bound on a head is 16 KiB; the API server's are far smaller. */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const CRLF = Buffer.from('\r\n\r\n');

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close' | 'done';

/**
 * Reads one answer to one request (`headRequest`: the request was HEAD, so no body follows). 1xx
 * heads before the final one are skipped (101 is an error: the sidecar never asks to switch).
 * `push` throws AnswerFormatError; at the end, `extra` counts the bytes that followed the answer
 * in the same read (the connection must not be reused then: the sidecar never pipelines).
 */
export class AnswerParser {
  extra = 0;
  #state: State = 'head';
  #stopped = false;
  #pending: Buffer | undefined;
  #remaining = 0;
  #line = '';
  #trailerBytes = 0;
  /** Bytes of the interim (1xx) heads read so far: they count against the head's bound, or a flood of them would hold the request open for ever. */
  #interimBytes = 0;
  readonly #sink: AnswerSink;
  readonly #headRequest: boolean;
  readonly #maxHead: number;

  constructor(sink: AnswerSink, headRequest: boolean, maxHeadBytes = DEFAULT_MAX_HEAD_BYTES) {
    this.#sink = sink;
    this.#headRequest = headRequest;
    this.#maxHead = maxHeadBytes;
  }

  /** True once the whole answer was read. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** True while the body runs to the connection's end (no length, not chunked). */
  get closeDelimited(): boolean {
    return this.#state === 'close';
  }

  /** No more callbacks, whatever arrives. */
  stop(): void {
    this.#stopped = true;
  }

  /** Feeds the next bytes from the connection. */
  push(chunk: Buffer): void {
    let buf = chunk;
    while (buf.length > 0 && !this.#stopped) {
      switch (this.#state) {
        case 'head': buf = this.#head(buf); break;
        case 'length': buf = this.#length(buf); break;
        case 'chunk-size': buf = this.#chunkLine(buf); break;
        case 'chunk-data': buf = this.#chunkData(buf); break;
        case 'chunk-end': buf = this.#chunkEnd(buf); break;
        case 'trailers': buf = this.#trailers(buf); break;
        case 'close': this.#sink.data(buf); buf = EMPTY; break;
        case 'done': buf = EMPTY; break;
      }
    }
  }

  /** The connection ended: ends a body that runs to it; anything else was cut short. */
  eof(): void {
    if (this.#stopped || this.#state === 'done') return;
    if (this.#state !== 'close') throw new AnswerFormatError(this.#state === 'head' && this.#pending === undefined ? 'the connection closed before an answer' : 'the connection closed before the answer\'s end');
    this.#finish(EMPTY);
  }

  /** The answer ended; `rest` followed it in the same read. */
  #finish(rest: Buffer): void {
    this.extra = rest.length;
    this.#state = 'done';
    this.#sink.end();
  }

  #head(chunk: Buffer): Buffer {
    const buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    // Searched from where the last piece ended (less the three bytes a CRLFCRLF may straddle).
    const end = buf.indexOf(CRLF, this.#pending === undefined ? 0 : Math.max(0, this.#pending.length - 3));
    if ((end === -1 ? buf.length : end) + this.#interimBytes > this.#maxHead) {
      throw new AnswerFormatError(this.#interimBytes === 0 ? `its head is larger than ${this.#maxHead} bytes` : `its head and the interim (1xx) answers before it are larger than ${this.#maxHead} bytes`);
    }
    if (end === -1) {
      this.#pending = buf;
      return EMPTY;
    }
    this.#pending = undefined;
    const rest = buf.subarray(end + 4);
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const status = STATUS_LINE.exec(lines[0] ?? '');
    if (status === null) throw new AnswerFormatError('its status line is not HTTP/1.x');
    const code = Number(status[2]);
    // No prototype: a field named constructor or __proto__ is a field like any other.
    const headers = Object.create(null) as IncomingHttpHeaders;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      // A field line that starts with whitespace is an obs-fold; a name with whitespace before the colon is refused (RFC 9112 §5.1).
      if (!TOKEN.test(name)) throw new AnswerFormatError(`field line ${i} is not "name: value"`);
      // Only SP and HTAB are whitespace around a value (RFC 9110 §5.5): String#trim would also drop a CR, LF, VT, FF or NBSP.
      const value = trimOws(line.slice(colon + 1));
      if (!FIELD_VALUE.test(value)) throw new AnswerFormatError(`field ${name} holds a control character`);
      addField(headers, name.toLowerCase(), value);
    }
    if (code < 200) {
      // Interim answers (100 Continue, 103 Early Hints) precede the real one; a switch was never asked for.
      if (code === 101) throw new AnswerFormatError('it switches protocols, which the sidecar never asks for');
      this.#interimBytes += end + 4;
      return rest;
    }
    const http10 = status[1] === '0';
    const connection = String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
    let keepAlive = !http10 && !connection.includes('close');
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (this.#headRequest || code === 204 || code === 304) {
      this.#state = 'done';
    } else if (te !== undefined) {
      if (cl !== undefined) throw new AnswerFormatError('it has both Transfer-Encoding and Content-Length');
      if (String(te).toLowerCase() !== 'chunked') throw new AnswerFormatError(`Transfer-Encoding ${String(te)} (only chunked is read)`);
      this.#state = 'chunk-size';
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new AnswerFormatError(`Content-Length ${cl}`);
      this.#remaining = Number(cl);
      this.#state = this.#remaining === 0 ? 'done' : 'length';
    } else {
      this.#state = 'close';
      keepAlive = false;
    }
    const ended = this.#state === 'done';
    if (ended) this.#state = 'head';
    this.#sink.head({ status: code, headers, keepAlive });
    if (ended && !this.#stopped) this.#finish(rest);
    return rest;
  }

  #length(buf: Buffer): Buffer {
    if (buf.length < this.#remaining) {
      this.#remaining -= buf.length;
      this.#sink.data(buf);
      return EMPTY;
    }
    const body = buf.subarray(0, this.#remaining);
    const rest = buf.subarray(this.#remaining);
    this.#remaining = 0;
    this.#sink.data(body);
    if (!this.#stopped) this.#finish(rest);
    return rest;
  }

  /** Reads up to a CRLF into #line; returns the bytes after it, or undefined when the line is not complete yet. */
  #readLine(buf: Buffer, max: number): Buffer | undefined {
    const lf = buf.indexOf(10);
    const part = buf.toString('latin1', 0, lf === -1 ? buf.length : lf);
    this.#line += part;
    if (this.#line.length > max) throw new AnswerFormatError('a chunk line is too long');
    if (lf === -1) return undefined;
    if (!this.#line.endsWith('\r')) throw new AnswerFormatError('a line ends in a bare LF');
    this.#line = this.#line.slice(0, -1);
    return buf.subarray(lf + 1);
  }

  #chunkLine(buf: Buffer): Buffer {
    const rest = this.#readLine(buf, MAX_CHUNK_LINE);
    if (rest === undefined) return EMPTY;
    const size = CHUNK_SIZE.exec(this.#line);
    this.#line = '';
    if (size === null) throw new AnswerFormatError('a chunk size is not hexadecimal');
    this.#remaining = Number.parseInt(size[1] as string, 16);
    this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
    return rest;
  }

  #chunkData(buf: Buffer): Buffer {
    const n = Math.min(buf.length, this.#remaining);
    this.#remaining -= n;
    if (this.#remaining === 0) this.#state = 'chunk-end';
    this.#sink.data(n === buf.length ? buf : buf.subarray(0, n));
    return buf.subarray(n);
  }

  #chunkEnd(buf: Buffer): Buffer {
    const rest = this.#readLine(buf, 2);
    if (rest === undefined) return EMPTY;
    if (this.#line !== '') throw new AnswerFormatError('a chunk does not end where its size says');
    this.#state = 'chunk-size';
    return rest;
  }

  #trailers(buf: Buffer): Buffer {
    for (let rest: Buffer | undefined = buf; ;) {
      const before = rest.length;
      rest = this.#readLine(rest, MAX_TRAILER_BYTES);
      // Every byte counts, a line's first pieces too: counting complete lines only, trailers sent a piece at a time never met the bound.
      this.#trailerBytes += rest === undefined ? before : before - rest.length;
      if (this.#trailerBytes > MAX_TRAILER_BYTES) throw new AnswerFormatError('its trailers are too long');
      if (rest === undefined) return EMPTY;
      const line = this.#line;
      this.#line = '';
      if (line === '') {
        this.#finish(rest);
        return rest;
      }
      // Trailer fields are read and dropped: nothing downstream uses them.
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) throw new AnswerFormatError('a trailer field is malformed');
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Drops the optional whitespace (SP, HTAB) around a field value, and nothing else. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return value.slice(start, end);
}

/** Adds a field as Node's IncomingMessage would present it; a second, different Content-Length is an error. */
function addField(headers: IncomingHttpHeaders, name: string, value: string): void {
  const had = headers[name];
  if (had === undefined) {
    headers[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    (had as string[]).push(value);
  } else if (name === 'content-length') {
    if (had !== value) throw new AnswerFormatError('it has two different Content-Length fields');
  } else {
    headers[name] = `${String(had)}, ${value}`;
  }
}
