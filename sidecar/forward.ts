// Stage 5: forward to the API server with the grant's credential over a keep-alive pool, asking
// only for what can be masked (JSON, identity encoding), never following redirects, and pass the
// answer through the mask stage (decorator) to the agent, gzipped when it asks and it pays off.
// Bodies of ordinary answers are held whole, masked once and written with their head in one piece:
// measured, that doubles a bare pass-through's GETs per second against piping them. The pool is
// the sidecar's own (upstream-pool.ts: node:https's client was half of a forwarded GET's CPU, and
// undici's costs 9 MiB of resident memory in every pod).
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGzip, gzip as gzipCallback } from 'node:zlib';
import type { Credential } from '../src/contracts/index.ts';
import { writeStatus, statusBody, type Status } from '../src/kube/status.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import type { MaskResponse, WholeBody } from './mask.ts';
import { refusal } from './refusals.ts';
import { SILENT, UpstreamPool, type Exchange } from './upstream-pool.ts';

/** The real API server, known to the sidecar alone. */
export interface UpstreamOptions {
  url: string;
  ca: string | Buffer;
  /** Connections kept per upstream; default 64. */
  maxSockets?: number;
  /** Bound on the upstream's answer head for requests that are not long-lived; default 65 s (the API server's own is 60 s). */
  headersTimeoutMs?: number;
}

/** The upstream: a base URL and a keep-alive pool that verifies the API server's certificate. */
export class Upstream {
  readonly pool: UpstreamPool;
  readonly host: string;
  readonly port: number;
  /** SNI and the name checked against the certificate; none for an IP address (checked against the IP SANs). */
  readonly servername: string | undefined;
  readonly basePath: string;
  readonly headersTimeoutMs: number;

  constructor(options: UpstreamOptions) {
    const url = new URL(options.url);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || 443);
    this.servername = isIP(this.host) === 0 ? this.host : undefined;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headersTimeoutMs = options.headersTimeoutMs ?? 65_000;
    // The CA is the cluster's, checked against kubernetes.default.svc or the URL's host.
    this.pool = new UpstreamPool({ host: this.host, port: this.port, servername: this.servername, ca: options.ca, maxSockets: options.maxSockets ?? 64 });
  }

  /** Closes the pool. */
  close(): void {
    this.pool.close();
  }
}

/** Request headers passed to the API server; everything else (Authorization, cookies, proxies' headers, hop-by-hop) is dropped. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'user-agent', 'kubectl-command', 'kubectl-session', 'audit-id', 'x-request-id', 'accept-language'];

/** RFC 9110 §7.6.1 hop-by-hop headers, and headers that only describe the hop's framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The API server compresses above 128 KiB; below it gzip costs more than it saves, above all on loopback. */
const GZIP_THRESHOLD = 128 * 1024;

/**
 * Rewrites an Accept header so the API server answers in JSON: protobuf, CBOR and YAML media
 * ranges become `application/json` with their parameters (so `as=Table;v=v1;g=meta.k8s.io` is
 * kept), `stream=watch` and other framing parameters dropped. Duplicates are removed.
 */
export function jsonAccept(accept: string | undefined): string {
  if (accept === undefined || accept.trim() === '') return 'application/json';
  const out: string[] = [];
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim());
    const kept = params.filter((p) => {
      const name = p.split('=')[0]?.trim().toLowerCase();
      return name === 'as' || name === 'v' || name === 'g' || name === 'q';
    });
    const lower = type.toLowerCase();
    if (lower === '') continue;
    const json = lower === 'application/json' || lower === '*/*' || lower === 'application/*' || lower.includes('protobuf') || lower.includes('cbor') || lower.includes('yaml');
    if (!json) continue;
    const rewritten = ['application/json', ...kept].join(';');
    if (!out.includes(rewritten)) out.push(rewritten);
  }
  return out.length === 0 ? 'application/json' : out.join(',');
}

const NONE_LISTED: ReadonlySet<string> = new Set();

/** The names a Connection header lists: hop-by-hop for this hop only (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const value = headers.connection;
  if (value === undefined) return NONE_LISTED;
  return new Set(value.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
}

/** The upstream request's headers: an allow-list of the agent's, the grant's credential, and negotiation. */
export function upstreamHeaders(headers: IncomingHttpHeaders, credential: Credential, discovery: boolean, bodyLength: number | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(headers);
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = headers[name];
    if (value !== undefined && !listed.has(name)) out[name] = value;
  }
  out.authorization = `Bearer ${credential.token}`;
  if (discovery) {
    // Discovery and OpenAPI hold no secrets: negotiate as the agent asked (protobuf, gzip).
    if (headers.accept !== undefined) out.accept = headers.accept;
    if (headers['accept-encoding'] !== undefined) out['accept-encoding'] = headers['accept-encoding'];
  } else {
    out.accept = jsonAccept(headers.accept);
    out['accept-encoding'] = 'identity';
  }
  if (bodyLength !== undefined) out['content-length'] = bodyLength;
  return out;
}

/** The response headers passed to the agent: all but hop-by-hop ones and those the proxy sets itself. */
function agentHeaders(upstream: IncomingHttpHeaders, transformed: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(upstream);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (transformed && (name === 'content-length' || name === 'content-encoding')) continue;
    out[name] = value;
  }
  return out;
}

/** What one forwarded request produced, for the audit. */
export interface ForwardOutcome {
  code: number;
  bytes: number;
  masked: number;
  /** The API server refused the credential (401); nothing was sent to the agent. */
  credentialRefused?: boolean;
}

/** One request to forward. */
export interface ForwardInput {
  req: IncomingMessage;
  res: ServerResponse;
  attributes: RequestAttributes;
  body: Buffer | undefined;
  credential: Credential;
  discovery: boolean;
  longLived: boolean;
  /** Registers a cut for when the request's grant ends; returns the unregistration. */
  onGrantEnd: (cut: (why: string) => void) => () => void;
  /** When true, a 401 from upstream is returned as credentialRefused instead of passed on. */
  retryOnUnauthorized: boolean;
  /** An agent that stops reading the answer for this long is cut (its buffered answer would otherwise stay in memory). */
  writeStallMs: number;
}

function contentTypeOf(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Response media types the mask stage can read: JSON (and `+json` types), text (logs, plain
 * errors), or none (an empty answer). Everything else is withheld with a 502.
 */
export function isMaskableMediaType(contentType: string): boolean {
  return contentType === '' || contentType === 'application/json' || contentType.endsWith('+json') || contentType.startsWith('text/');
}

function acceptsGzip(headers: IncomingHttpHeaders): boolean {
  return /(?:^|,)\s*gzip\s*(?:;\s*q=(?!0(?:\.0*)?\s*(?:,|$))[0-9.]+)?\s*(?:,|$)/i.test(headers['accept-encoding'] ?? '');
}

const gzipBuffer = promisify(gzipCallback);

/** An answer's body, as forward hands it on: to the mask (held whole), to a stream, or dropped. */
interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  error(error: NodeJS.ErrnoException): void;
}

/** Pieces under this size are copied into shared blocks: a held piece costs an object of its own. */
const SMALL_PIECE = 4096;
const PIECE_BLOCK = 64 * 1024;

/**
 * The pieces of an answer held whole. A body sent in tiny pieces (a pod behind services/proxy can
 * flush one byte per chunk) would otherwise cost a Buffer per byte, a hundredfold its size; small
 * pieces are copied into 64 KiB blocks, so the pieces held are at most about two per 4 KiB. A
 * single small piece is kept as it came, without a copy.
 */
class HeldPieces {
  readonly #parts: Buffer[] = [];
  #lone: Buffer | undefined;
  #block: Buffer | undefined;
  #used = 0;

  add(chunk: Buffer): void {
    if (chunk.length >= SMALL_PIECE) {
      this.#seal();
      this.#parts.push(chunk);
    } else if (this.#block !== undefined && this.#used + chunk.length <= this.#block.length) {
      this.#used += chunk.copy(this.#block, this.#used);
    } else if (this.#block === undefined && this.#lone !== undefined) {
      this.#block = Buffer.allocUnsafeSlow(PIECE_BLOCK);
      this.#used = this.#lone.copy(this.#block, 0);
      this.#used += chunk.copy(this.#block, this.#used);
      this.#lone = undefined;
    } else {
      this.#seal();
      this.#lone = chunk;
    }
  }

  /** The pieces, in order. */
  sealed(): Buffer[] {
    this.#seal();
    return this.#parts;
  }

  #seal(): void {
    if (this.#lone !== undefined) this.#parts.push(this.#lone);
    if (this.#block !== undefined) this.#parts.push(this.#block.subarray(0, this.#used));
    this.#lone = undefined;
    this.#block = undefined;
    this.#used = 0;
  }
}

/** A body nobody reads (a 401 to retry, a redirect, an encoding that cannot be masked) is read and dropped up to this much, so its connection is kept. */
const DISCARD_LIMIT = 1024 * 1024;

/** Why the upstream request failed, in the words the agent's Status carries. */
function upstreamFailure(error: NodeJS.ErrnoException, timeoutMs: number): string {
  return error.code === SILENT ? `no answer within ${Math.round(timeoutMs / 1000)} s` : (error.code ?? error.message);
}

/**
 * Forwards one request and passes the answer to the agent through the mask stage: ordinary
 * answers held whole, masked once and written with their head; watches and followed logs
 * streamed, masked as they flow. Resolves when the response ended (or was cut). Failures before
 * the answer head become a Status.
 */
export function forward(upstream: Upstream, maskResponse: MaskResponse, input: ForwardInput): Promise<ForwardOutcome> {
  const { req, res, attributes, body } = input;
  return new Promise((resolve) => {
    let settled = false;
    let unregister: () => void = () => {};
    let bytes = 0;
    let lastByte = 10;
    let masked: () => number = () => 0;
    // Set once the request is sent: a cut or a hang-up abandons it (a watch would otherwise live on).
    let abortUpstream: () => void = () => {};
    const finish = (outcome: ForwardOutcome): void => {
      if (settled) return;
      settled = true;
      unregister();
      resolve(outcome);
    };
    const fail = (status: Status, extra: Partial<ForwardOutcome> = {}): void => {
      if (settled) return;
      if (!res.headersSent) writeStatus(res, status);
      else res.destroy();
      finish({ code: status.code, bytes: 0, masked: 0, ...extra });
    };
    // The agent hung up while its request was read or decided: nobody would get the answer, and a
    // watch opened now would stay open upstream with no one to cut it. Nothing is forwarded.
    if (res.destroyed || req.socket.destroyed) {
      finish({ code: 0, bytes: 0, masked: 0 });
      return;
    }
    // The agent went away: stop the upstream request too (a watch would otherwise live on).
    const onClose = (): void => {
      if (!res.writableFinished) abortUpstream();
      finish({ code: res.headersSent ? res.statusCode : 0, bytes, masked: masked() });
    };
    res.on('close', onClose);
    // An answer waiting on an agent that stopped reading: cut after writeStallMs, whatever the
    // request (a watch's silence is not a stall: only unwritten bytes start the clock).
    let stall: NodeJS.Timeout | undefined;
    const clearStall = (): void => {
      clearTimeout(stall);
      stall = undefined;
    };
    const watchStall = (): void => {
      if (stall !== undefined || input.writeStallMs <= 0) return;
      stall = setTimeout(() => res.destroy(), input.writeStallMs);
      stall.unref();
      res.once('drain', clearStall);
    };
    res.once('close', clearStall);
    if (input.longLived) {
      // Registered before the upstream answers: a grant that ends while the head is awaited cuts it too.
      unregister = input.onGrantEnd((why) => {
        abortUpstream();
        const status = why === 'broker-stream-lost'
          ? refusal('broker-unavailable', 'its stream was lost, so no revocation could reach this response; retry shortly')
          : refusal('grant-ended', `${why}; ask for access again to continue`);
        if (!res.headersSent) {
          writeStatus(res, status);
        } else if (attributes.verb === 'watch' && lastByte === 10 && !res.writableEnded) {
          // A watch ends with an ERROR event, as the API server ends one it cannot continue; only at an event boundary.
          res.end(`${JSON.stringify({ type: 'ERROR', object: JSON.parse(statusBody(status)) as unknown })}\n`);
        } else if (!res.writableEnded) {
          res.end();
        }
        finish({ code: res.headersSent ? res.statusCode : status.code, bytes, masked: masked() });
      });
    }

    const method = req.method ?? 'GET';
    const bodyless = method === 'GET' || method === 'HEAD';
    // A watch may stay silent for minutes once its head came; other requests get the API server's
    // own bound. It is the connection's silence: to the head, then between body bytes.
    const timeout = input.longLived ? 0 : upstream.headersTimeoutMs;
    // Where the answer's body goes once its head was read; an error before that is the request's.
    let sink: BodySink | undefined;
    const exchange: Exchange = upstream.pool.request({
      method,
      path: upstream.basePath + (req.url ?? '/'),
      headers: upstreamHeaders(req.headers, input.credential, input.discovery, body?.length ?? (bodyless ? undefined : 0)),
      body,
      timeoutMs: timeout,
      // Even a watch's head must come: the API server sends it at once.
      headTimeoutMs: upstream.headersTimeoutMs,
      longLived: input.longLived,
    }, {
      head: (head) => {
        if (settled) exchange.abort();
        else answer(head.status, head.headers);
      },
      data: (chunk) => sink?.data(chunk),
      end: () => sink?.end(),
      error: (error) => {
        // An answer cut before its end is an error to its reader, never a short success.
        if (sink !== undefined) sink.error(error);
        else fail(refusal('upstream-unavailable', upstreamFailure(error, upstream.headersTimeoutMs)));
      },
    });
    abortUpstream = () => exchange.abort();

    /** Reads and drops the rest of an answer nobody will see, keeping its connection when it is short. */
    function discard(): void {
      let dropped = 0;
      sink = {
        data(chunk) {
          dropped += chunk.length;
          if (dropped > DISCARD_LIMIT) exchange.abort();
        },
        end() {},
        error() {},
      };
    }

    /** The body as a stream with back-pressure on the connection, for watches, followed logs and discovery. */
    function readable(): Readable {
      const out = new Readable({ read: () => exchange.resume() });
      sink = {
        data(chunk) {
          if (!out.push(chunk)) exchange.pause();
        },
        end() {
          out.push(null);
        },
        error(error) {
          out.destroy(error);
        },
      };
      return out;
    }

    function answer(code: number, upHeaders: IncomingHttpHeaders): void {
      if (code === 401 && input.retryOnUnauthorized) {
        discard();
        finish({ code, bytes: 0, masked: 0, credentialRefused: true });
        return;
      }
      if (code >= 300 && code < 400) {
        // Following or passing on a redirect would send the agent (or the credential) elsewhere.
        discard();
        fail(refusal('upstream-redirect', `HTTP ${code}`));
        return;
      }
      const watch = attributes.verb === 'watch';
      const headers = agentHeaders(upHeaders, !input.discovery);
      const length = Number(upHeaders['content-length'] ?? Number.NaN);
      const gzip = !input.discovery && !input.longLived && method !== 'HEAD' && acceptsGzip(req.headers) && !(length < GZIP_THRESHOLD);
      if (input.discovery) {
        const upBody = readable();
        upBody.on('error', (error: NodeJS.ErrnoException) => fail(refusal('upstream-unavailable', upstreamFailure(error, timeout))));
        stream(code, headers, upBody, () => 0, false);
        return;
      }
      const encoding = String(upHeaders['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'identity') {
        discard();
        fail(refusal('upstream-encoding', `Content-Encoding ${encoding}`));
        return;
      }
      const contentType = contentTypeOf(upHeaders);
      if (!isMaskableMediaType(contentType)) {
        // Upstream was asked for JSON only, but an aggregated API server may answer as it likes:
        // protobuf, CBOR or YAML bytes would reach a masker that cannot read them.
        discard();
        fail(refusal('upstream-encoding', `Content-Type ${contentType}`));
        return;
      }
      const mask = maskResponse({ attributes, statusCode: code, contentType, watch });
      if (!input.longLived && mask.whole !== undefined) {
        whole(code, headers, mask.whole.bind(mask), mask.maxBytes ?? Number.POSITIVE_INFINITY, gzip);
        return;
      }
      const upBody = readable();
      mask.stream.on('error', () => {
        upBody.destroy();
        fail(refusal('mask-failed'), { masked: mask.masked() });
      });
      upBody.on('error', (error) => mask.stream.destroy(error));
      stream(code, headers, upBody.pipe(mask.stream), () => mask.masked(), gzip);
      if (watch) {
        // Clients wait for the head before they print anything; send it now, not at the first event.
        res.writeHead(code, headers);
        res.flushHeaders();
      }
    }

    /** An ordinary answer: the whole body, masked once, sent with its head in one write. */
    function whole(code: number, headers: OutgoingHttpHeaders, maskWhole: (parts: readonly Buffer[], size: number) => WholeBody, maxBytes: number, gzip: boolean): void {
      const parts = new HeldPieces();
      let size = 0;
      sink = {
        data(chunk) {
          size += chunk.length;
          if (size > maxBytes) {
            // Held whole to be masked: past the bound the answer is withheld, not buffered on.
            exchange.abort();
            fail(refusal('mask-failed', `the answer is larger than ${maxBytes} bytes, the most agentgate masks at once; ask for fewer objects (limit)`));
            return;
          }
          parts.add(chunk);
        },
        error(error) {
          fail(refusal('upstream-unavailable', upstreamFailure(error, upstream.headersTimeoutMs)));
        },
        end,
      };
      function end(): void {
        if (settled) return;
        let masked: WholeBody;
        try {
          masked = maskWhole(parts.sealed(), size);
        } catch {
          fail(refusal('mask-failed'));
          return;
        }
        const send = (out: readonly Buffer[] | string | Buffer, length: number): void => {
          if (settled) return;
          // No length on a HEAD answer (it has no body here) nor where HTTP forbids one (204, 304).
          if (method !== 'HEAD' && code !== 204 && code !== 304) headers['content-length'] = length;
          res.writeHead(code, headers);
          const done = (): void => finish({ code, bytes: length, masked: masked.masked });
          if (method === 'HEAD') res.end(done);
          else if (typeof out === 'string' || Buffer.isBuffer(out)) res.end(out, done);
          else if (out.length === 1) res.end(out[0], done);
          else {
            // The pieces as they came, in one write with the head (corked until end).
            for (const part of out) res.write(part);
            res.end(done);
          }
          if (!res.writableFinished) watchStall();
        };
        const body = masked.body;
        // A masked text is written as it is: no buffer of it is made (the socket encodes it).
        const length = typeof body === 'string' ? Buffer.byteLength(body) : size;
        if (!gzip || length < GZIP_THRESHOLD) {
          send(body, length);
          return;
        }
        headers['content-encoding'] = 'gzip';
        headers.vary = 'Accept-Encoding';
        gzipBuffer(typeof body === 'string' ? Buffer.from(body) : Buffer.concat(body as Buffer[], size)).then((zipped) => send(zipped, zipped.length), () => fail(refusal('mask-failed')));
      }
    }

    /** A streamed answer (watch, followed logs, discovery): bytes flow as they are masked. */
    function stream(code: number, headers: OutgoingHttpHeaders, from: NodeJS.ReadableStream, countMasked: () => number, gzip: boolean): void {
      let source = from;
      masked = countMasked;
      if (gzip) {
        headers['content-encoding'] = 'gzip';
        headers.vary = 'Accept-Encoding';
        source = source.pipe(createGzip());
      }
      // The head waits for the first masked bytes, so a body that cannot be masked still gets a clean 502.
      const writeHead = (): void => {
        if (!res.headersSent) res.writeHead(code, headers);
      };
      source.on('data', (chunk: Buffer) => {
        if (settled) return;
        writeHead();
        bytes += chunk.length;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        if (!res.write(chunk)) {
          source.pause();
          res.once('drain', () => source.resume());
          watchStall();
        }
      });
      source.on('end', () => {
        if (settled) return;
        writeHead();
        res.end(() => finish({ code, bytes, masked: countMasked() }));
      });
    }
  });
}
