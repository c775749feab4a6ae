// The sidecar's keep-alive pool to the API server: TLS connections (the cluster's CA, the
// server's name checked), one request at a time on each, answers read by http1-answer.ts.
// Written here rather than taken from node:https because its client was half of a forwarded GET's
// CPU: measured on the sidecar bench's pass-through, node:https reached 3,134 GETs/s and this
// shape 7,002 on the same core. undici is as lean but costs 9 MiB of resident memory per pod.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { AnswerFormatError, AnswerParser, type AnswerHead } from './http1-answer.ts';

/** Where the pool connects and how many connections it keeps. */
export interface UpstreamPoolOptions {
  host: string;
  port: number;
  /** SNI and the name checked against the certificate; none for an IP address (checked against the IP SANs). */
  servername: string | undefined;
  ca: string | Buffer;
  /** Connections open at once for ordinary requests; more wait for one. Default 64. */
  maxSockets?: number;
  /**
   * Connections open at once for long-lived requests (watches, followed logs), counted apart: so
   * many open watches never leave the agent's other requests waiting. Default 256.
   */
  maxLongLived?: number;
  /** An idle connection is closed after this long; default 30 s (the API server's own idle bound is 90 s). */
  idleTimeoutMs?: number;
}

/** One request to the API server; `path` and headers are checked as Node's client checks them. */
export interface UpstreamCall {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer | undefined;
  /** Bound on silence between body bytes (and to the head, unless headTimeoutMs is given); 0 for none (watches). */
  timeoutMs: number;
  /** Bound on silence until the head; default timeoutMs. */
  headTimeoutMs?: number;
  /** A watch or followed log: it holds its connection for long and is counted against maxLongLived. */
  longLived?: boolean;
}

/** What the caller hears of an exchange; after `end` or `error`, nothing more. */
export interface ExchangeHandlers {
  head(head: AnswerHead): void;
  data(chunk: Buffer): void;
  end(): void;
  error(error: NodeJS.ErrnoException): void;
}

/** A request in flight: it can be paused (back-pressure) or abandoned. */
export interface Exchange {
  pause(): void;
  resume(): void;
  /** Abandons the exchange: no more callbacks; the connection is closed unless the answer had ended. */
  abort(): void;
  /**
   * The answer is streamed (a proxied event stream, a text that keeps coming) and may stay open:
   * its connection counts among the long-lived ones from now on, while there is room for one, so
   * that such streams do not take the ordinary requests' connections.
   */
  streaming(): void;
}

/** The code of the error an exchange ends with when the API server stays silent past its bound. */
export const SILENT = 'AGENTGATE_UPSTREAM_SILENT';
const INVALID_PATH = /[^\x21-\xff]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

const codeError = (message: string, code: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

/**
 * Serializes a request head; throws (as Node's client does) on a path or field that would split it.
 * The body's framing is the pool's: a Content-Length that is not the body's, a Transfer-Encoding or
 * a second Host would let the API server read part of this request as another one, whose answer
 * the next exchange on the connection would then take for its own.
 */
function requestHead(call: UpstreamCall, host: string): string {
  if (call.path[0] !== '/' || INVALID_PATH.test(call.path)) throw codeError('the request path holds characters HTTP does not allow', 'ERR_UNESCAPED_CHARACTERS');
  if (!TOKEN.test(call.method)) throw codeError('the method is not an HTTP token', 'ERR_INVALID_HTTP_TOKEN');
  const length = call.body?.length ?? 0;
  let framed = false;
  let head = `${call.method} ${call.path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const name in call.headers) {
    const value = call.headers[name];
    if (value === undefined) continue;
    if (!TOKEN.test(name)) throw codeError(`header name ${JSON.stringify(name)} is not an HTTP token`, 'ERR_INVALID_HTTP_TOKEN');
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      if (String(value) !== String(length)) throw codeError(`Content-Length ${String(value)} is not the body's length, ${length}`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH');
      framed = true;
    } else if (lower === 'transfer-encoding' || lower === 'host') {
      throw codeError(`header ${name} is the pool's to write`, 'ERR_INVALID_ARG_VALUE');
    }
    for (const one of typeof value === 'object' ? value : [String(value)]) {
      if (INVALID_VALUE.test(one)) throw codeError(`header ${name} holds a character HTTP does not allow`, 'ERR_INVALID_CHAR');
      head += `${name}: ${one}\r\n`;
    }
  }
  if (!framed && length > 0) head += `content-length: ${length}\r\n`;
  return `${head}\r\n`;
}

/** A live connection and the exchange it carries, if any. */
class Connection {
  readonly socket: TLSSocket;
  exchange: PooledExchange | undefined;
  /** It carried an answer to its end before: a failure before any byte of a new answer may be the server closing it as idle. */
  reused = false;
  dead = false;
  /** It carries a long-lived exchange now (counted in the pool's longLived). */
  longLived = false;

  constructor(socket: TLSSocket) {
    this.socket = socket;
  }
}

class PooledExchange implements Exchange {
  connection: Connection | undefined;
  parser: AnswerParser | undefined;
  answered = false;
  /** A byte of an answer came on the current connection: the server read the request, so it is never sent again. */
  received = false;
  finished = false;
  retried = false;
  /** The request head, serialized once (a retry sends it again). */
  head = '';
  keepAlive = false;
  waitTimer: NodeJS.Timeout | undefined;
  readonly call: UpstreamCall;
  readonly handlers: ExchangeHandlers;
  readonly #pool: UpstreamPool;

  constructor(pool: UpstreamPool, call: UpstreamCall, handlers: ExchangeHandlers) {
    this.#pool = pool;
    this.call = call;
    this.handlers = handlers;
  }

  /** True while paused: the silence bound is suspended, since not reading is the caller's choice, not the API server's silence. */
  paused = false;

  /** The silence the API server is allowed now: to the head, then between body bytes. */
  get silenceMs(): number {
    return this.answered ? this.call.timeoutMs : (this.call.headTimeoutMs ?? this.call.timeoutMs);
  }

  pause(): void {
    const socket = this.connection?.socket;
    if (socket === undefined) return;
    socket.pause();
    // A paused socket reads nothing, so the bound would blame the API server for the caller's
    // back-pressure (an agent reading slowly, an answer waiting for the held budget). The caller
    // bounds its own waits (the write-stall bound; the older answers' own bounds).
    if (!this.paused) socket.setTimeout(0);
    this.paused = true;
  }

  resume(): void {
    const socket = this.connection?.socket;
    if (socket === undefined) return;
    if (this.paused) socket.setTimeout(this.silenceMs);
    this.paused = false;
    socket.resume();
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.parser?.stop();
    this.#pool.abandon(this);
  }

  streaming(): void {
    if (!this.finished) this.#pool.streaming(this);
  }
}

/** The pool; `request` never throws: every failure reaches `handlers.error`, asynchronously. */
export class UpstreamPool {
  readonly #options: UpstreamPoolOptions;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #maxLongLived: number;
  readonly #idleMs: number;
  readonly #idle: Connection[] = [];
  readonly #waiting: PooledExchange[] = [];
  /** Every connection not yet retired, busy or idle: close() reaches them all, and its size is the count open. */
  readonly #live = new Set<Connection>();
  /** Open connections that carry a long-lived exchange now. */
  #longLived = 0;
  #session: Buffer | undefined;
  #closed = false;

  constructor(options: UpstreamPoolOptions) {
    this.#options = options;
    this.#hostHeader = `${options.host.includes(':') ? `[${options.host}]` : options.host}${options.port === 443 ? '' : `:${options.port}`}`;
    this.#max = options.maxSockets ?? 64;
    this.#maxLongLived = options.maxLongLived ?? 256;
    this.#idleMs = options.idleTimeoutMs ?? 30_000;
  }

  /** Connections open now (busy and idle), for tests and metrics. */
  get openConnections(): number {
    return this.#live.size;
  }

  /** Sends `call` on an idle connection, a new one, or the first to come free. */
  request(call: UpstreamCall, handlers: ExchangeHandlers): Exchange {
    const exchange = new PooledExchange(this, call, handlers);
    let head: string;
    try {
      head = requestHead(call, this.#hostHeader);
    } catch (error) {
      exchange.finished = true;
      queueMicrotask(() => handlers.error(error as NodeJS.ErrnoException));
      return exchange;
    }
    exchange.head = head;
    if (this.#closed) {
      exchange.finished = true;
      queueMicrotask(() => handlers.error(codeError('the sidecar is shutting down', 'ECONNREFUSED')));
      return exchange;
    }
    this.#dispatch(exchange);
    return exchange;
  }

  /** Closes every connection; calls in flight end with an error. */
  close(): void {
    this.#closed = true;
    for (const waiting of this.#waiting.splice(0)) {
      clearTimeout(waiting.waitTimer);
      this.#fail(waiting, codeError('the sidecar is shutting down', 'ECONNREFUSED'));
    }
    for (const connection of [...this.#live]) this.#lose(connection, codeError('the sidecar is shutting down', 'ECONNREFUSED'));
  }

  #dispatch(exchange: PooledExchange): void {
    let connection: Connection | undefined;
    if (this.#mayUse(exchange)) {
      connection = this.#idle.pop();
      while (connection !== undefined && (connection.dead || connection.socket.destroyed)) connection = this.#idle.pop();
      if (connection === undefined && this.#mayOpen(exchange)) connection = this.#connect();
    }
    if (connection === undefined) {
      this.#waiting.push(exchange);
      const waitMs = exchange.silenceMs;
      if (waitMs > 0) {
        exchange.waitTimer = setTimeout(() => {
          const at = this.#waiting.indexOf(exchange);
          if (at !== -1) this.#waiting.splice(at, 1);
          this.#fail(exchange, codeError('the API server stayed silent', SILENT));
        }, waitMs);
      }
      return;
    }
    this.#send(connection, exchange);
  }

  /** A long-lived exchange may take a connection only while fewer than maxLongLived carry one. */
  #mayUse(exchange: PooledExchange): boolean {
    return exchange.call.longLived !== true || this.#longLived < this.#maxLongLived;
  }

  /** A new connection is within its kind's bound: long-lived ones and the others are counted apart. */
  #mayOpen(exchange: PooledExchange): boolean {
    return exchange.call.longLived === true ? this.#mayUse(exchange) : this.#live.size - this.#longLived < this.#max;
  }

  /** The connection no longer carries `exchange`. */
  #unbind(connection: Connection): void {
    connection.exchange = undefined;
    if (connection.longLived) {
      connection.longLived = false;
      this.#longLived--;
    }
  }

  #connect(): Connection {
    const o = this.#options;
    const socket = connect({
      host: o.host, port: o.port, ca: o.ca, ALPNProtocols: ['http/1.1'],
      ...(o.servername !== undefined ? { servername: o.servername } : {}),
      ...(this.#session !== undefined ? { session: this.#session } : {}),
    });
    const connection = new Connection(socket);
    this.#live.add(connection);
    socket.setNoDelay(true);
    socket.on('session', (session: Buffer) => (this.#session = session));
    socket.on('data', (chunk: Buffer) => this.#data(connection, chunk));
    socket.on('timeout', () => {
      const exchange = connection.exchange;
      if (exchange === undefined) this.#retire(connection);
      else this.#lose(connection, codeError('the API server stayed silent', SILENT));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => this.#lose(connection, error));
    socket.on('close', () => {
      if (connection.exchange?.parser?.closeDelimited === true) {
        // The answer ran to the connection's end: that end is the answer's.
        const exchange = connection.exchange;
        try {
          exchange.parser?.eof();
        } catch (error) {
          this.#lose(connection, error as NodeJS.ErrnoException);
          return;
        }
      }
      this.#lose(connection, codeError(connection.exchange?.answered === true ? 'the API server closed the answer before its end' : 'socket hang up', 'ECONNRESET'));
    });
    return connection;
  }

  #send(connection: Connection, exchange: PooledExchange): void {
    connection.exchange = exchange;
    if (exchange.call.longLived === true) {
      connection.longLived = true;
      this.#longLived++;
    }
    exchange.connection = connection;
    exchange.parser = new AnswerParser({
      head: (head) => {
        exchange.answered = true;
        exchange.keepAlive = head.keepAlive;
        if (exchange.call.headTimeoutMs !== undefined && exchange.call.headTimeoutMs !== exchange.call.timeoutMs) connection.socket.setTimeout(exchange.silenceMs);
        exchange.handlers.head(head);
      },
      data: (chunk) => exchange.handlers.data(chunk),
      end: () => this.#ended(connection, exchange),
    }, exchange.call.method === 'HEAD');
    const socket = connection.socket;
    socket.setTimeout(exchange.silenceMs);
    const head = exchange.head;
    const body = exchange.call.body;
    if (body === undefined || body.length === 0) {
      socket.write(head, 'latin1');
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  }

  #data(connection: Connection, chunk: Buffer): void {
    const exchange = connection.exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for (the sidecar never pipelines): the connection cannot be trusted.
      this.#retire(connection);
      return;
    }
    exchange.received = true;
    try {
      exchange.parser?.push(chunk);
    } catch (error) {
      this.#lose(connection, error instanceof AnswerFormatError ? error : codeError(String(error), 'AGENTGATE_UPSTREAM_MALFORMED'));
    }
  }

  /** The answer ended: the exchange is done, and the connection goes back to the pool if it can. */
  #ended(connection: Connection, exchange: PooledExchange): void {
    const keepAlive = exchange.keepAlive && (exchange.parser?.extra ?? 0) === 0;
    this.#unbind(connection);
    exchange.connection = undefined;
    if (!exchange.finished) {
      exchange.finished = true;
      exchange.handlers.end();
    }
    if (!keepAlive || this.#closed) {
      this.#retire(connection);
      return;
    }
    connection.reused = true;
    this.#release(connection);
  }

  #release(connection: Connection): void {
    // The data handler above may still be on the stack: push() stops once the answer ended.
    if (connection.socket.isPaused()) connection.socket.resume();
    const at = this.#waiting.findIndex((waiting) => this.#mayUse(waiting));
    if (at !== -1) {
      const [next] = this.#waiting.splice(at, 1) as [PooledExchange];
      clearTimeout(next.waitTimer);
      this.#send(connection, next);
      return;
    }
    connection.socket.setTimeout(this.#idleMs);
    this.#idle.push(connection);
  }

  /** The connection failed or closed: its exchange (if any) fails, or is retried once if nothing of it can have been seen. */
  #lose(connection: Connection, error: NodeJS.ErrnoException): void {
    const exchange = connection.exchange;
    this.#unbind(connection);
    if (exchange !== undefined) {
      exchange.connection = undefined;
      const idempotent = exchange.call.method === 'GET' || exchange.call.method === 'HEAD';
      // A kept-alive connection the server closed as idle just as the request went out (Go's
      // transport retries the same way): safe only when no answer byte came and a repeat is harmless.
      if (connection.reused && !exchange.received && !exchange.retried && idempotent && !exchange.finished && !this.#closed && error.code !== SILENT) {
        exchange.retried = true;
        this.#dispatch(exchange);
      } else {
        this.#fail(exchange, error);
      }
    }
    this.#retire(connection);
  }

  /** Closes a connection for good (once); a waiting request may then open another. */
  #retire(connection: Connection): void {
    if (connection.dead) return;
    connection.dead = true;
    this.#live.delete(connection);
    connection.socket.destroy();
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    this.#drain();
  }

  /** A connection closed: a waiting request may now open one. */
  #drain(): void {
    // The first waiting request whose kind may now open a connection (a watch waiting for its
    // bound must not hold up an ordinary request behind it, nor the other way round).
    const at = this.#waiting.findIndex((waiting) => this.#mayOpen(waiting));
    if (at === -1) return;
    const [next] = this.#waiting.splice(at, 1) as [PooledExchange];
    clearTimeout(next.waitTimer);
    this.#dispatch(next);
  }

  #fail(exchange: PooledExchange, error: NodeJS.ErrnoException): void {
    if (exchange.finished) return;
    exchange.finished = true;
    exchange.parser?.stop();
    exchange.handlers.error(error);
  }

  /** Called by an exchange whose answer is streamed: its connection moves to the long-lived count while there is room. */
  streaming(exchange: PooledExchange): void {
    const connection = exchange.connection;
    if (connection === undefined || connection.exchange !== exchange || connection.longLived || this.#longLived >= this.#maxLongLived) return;
    connection.longLived = true;
    this.#longLived++;
    // An ordinary connection's place is free: a request waiting for one may open it.
    this.#drain();
  }

  /** Called by an exchange the caller abandoned. */
  abandon(exchange: PooledExchange): void {
    clearTimeout(exchange.waitTimer);
    const at = this.#waiting.indexOf(exchange);
    if (at !== -1) this.#waiting.splice(at, 1);
    const connection = exchange.connection;
    if (connection !== undefined && connection.exchange === exchange) this.#lose(connection, codeError('aborted', 'ECONNABORTED'));
  }
}

export type { AnswerHead, IncomingHttpHeaders };
