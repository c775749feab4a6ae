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
import { HeldBudget } from './held-budget.ts';
import { HeldPieces } from './held-pieces.ts';
import { acceptsGzip, agentHeaders, contentTypeOf, GZIP_THRESHOLD, isMaskableMediaType, upstreamHeaders } from './negotiation.ts';
import { refusal } from './refusals.ts';
import { StreamBudget } from './stream-budget.ts';
import { SILENT, UpstreamPool, type Exchange } from './upstream-pool.ts';

/** The real API server, known to the sidecar alone. */
export interface UpstreamOptions {
  url: string;
  ca: string | Buffer;
  /** Connections kept per upstream; default 64. */
  maxSockets?: number;
  /** Bound on the upstream's answer head for requests that are not long-lived; default 65 s (the API server's own is 60 s). */
  headersTimeoutMs?: number;
  /** Bytes of answers held whole for masking at once, over all requests; default 4 MiB (see held-budget.ts). */
  maxHeldBytes?: number;
  /** Bytes of streamed answers waiting on their agents, over all requests; default 32 MiB (see stream-budget.ts). */
  maxStreamedBytes?: number;
}

/** Default of {@link UpstreamOptions.maxStreamedBytes}: four of the largest watch events. */
export const DEFAULT_MAX_STREAMED_BYTES = 32 * 1024 * 1024;

/**
 * Default of {@link UpstreamOptions.maxHeldBytes}. Measured with 32 connections of LISTs of 100
 * pods, then of 100 Secrets: 4 MiB peaks about 5 MiB lower than 8 MiB (132–134 against 138–139
 * MiB) at the same rate; 2 MiB lower still, but a fifth slower on the Secrets.
 */
const DEFAULT_MAX_HELD_BYTES = 4 * 1024 * 1024;

/** The upstream: a base URL and a keep-alive pool that verifies the API server's certificate. */
export class Upstream {
  readonly pool: UpstreamPool;
  readonly host: string;
  readonly port: number;
  /** SNI and the name checked against the certificate; none for an IP address (checked against the IP SANs). */
  readonly servername: string | undefined;
  readonly basePath: string;
  readonly headersTimeoutMs: number;
  /** The bound on answers held whole at once, shared by every request. */
  readonly held: HeldBudget;
  /** The bound on bytes of streamed answers waiting on their agents, over all requests. */
  readonly streams: StreamBudget;

  constructor(options: UpstreamOptions) {
    const url = new URL(options.url);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || 443);
    this.servername = isIP(this.host) === 0 ? this.host : undefined;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headersTimeoutMs = options.headersTimeoutMs ?? 65_000;
    this.held = new HeldBudget(options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES);
    this.streams = new StreamBudget(options.maxStreamedBytes ?? DEFAULT_MAX_STREAMED_BYTES);
    // The CA is the cluster's, checked against kubernetes.default.svc or the URL's host.
    this.pool = new UpstreamPool({ host: this.host, port: this.port, servername: this.servername, ca: options.ca, maxSockets: options.maxSockets ?? 64 });
  }

  /** Closes the pool. */
  close(): void {
    this.pool.close();
  }
}

/**
 * Masks every header value in place as free text (a list, such as Set-Cookie, value by value);
 * returns how many values were masked.
 */
function maskHeaders(headers: OutgoingHttpHeaders, text: NonNullable<MaskResponse['text']>): number {
  let count = 0;
  const one = (value: string): string => {
    const masked = text(value);
    count += masked.count;
    return masked.text;
  };
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') headers[name] = one(value);
    else if (Array.isArray(value)) headers[name] = value.map(one);
  }
  return count;
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

const gzipBuffer = promisify(gzipCallback);

/** An answer's body, as forward hands it on: to the mask (held whole), to a stream, or dropped. */
interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  error(error: NodeJS.ErrnoException): void;
}

/** Answers larger than this are written a slice at a time (see the stall bound in forward). */
const WRITE_SLICE = 256 * 1024;

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
    // The answer's share of the held-bytes budget, given back however the request ends.
    let releaseHeld: () => void = () => {};
    // A streamed answer's share of the streams' budget, given back however it ends.
    let releaseStream: () => void = () => {};
    // Values masked in the answer's headers, counted with its body's.
    let headersMasked = 0;
    const finish = (outcome: ForwardOutcome): void => {
      if (settled) return;
      settled = true;
      unregister();
      releaseHeld();
      releaseStream();
      resolve(headersMasked === 0 ? outcome : { ...outcome, masked: outcome.masked + headersMasked });
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
    // An answer waiting on an agent that stopped reading: cut after writeStallMs without progress,
    // whatever the request (a watch's silence is not a stall: only unwritten bytes start the clock).
    // The clock stops at the next sign of progress: 'drain' after a write the socket could not take
    // at once, 'finish' after the last one.
    let stall: NodeJS.Timeout | undefined;
    const clearStall = (): void => {
      clearTimeout(stall);
      stall = undefined;
    };
    const watchStall = (progress: 'drain' | 'finish'): void => {
      if (stall !== undefined || input.writeStallMs <= 0) return;
      stall = setTimeout(() => res.destroy(), input.writeStallMs);
      stall.unref();
      res.once(progress, clearStall);
    };
    // The agent went away: stop the upstream request too (a watch would otherwise live on).
    res.on('close', () => {
      clearStall();
      if (!res.writableFinished) abortUpstream();
      finish({ code: res.headersSent ? res.statusCode : 0, bytes, masked: masked() });
    });
    /** Writes `pieces` a slice at a time, waiting for 'drain' when the socket is full, the final slice through `last`. */
    const writeSliced = (pieces: readonly Buffer[], last: (piece: Buffer) => void): void => {
      let index = 0;
      let offset = 0;
      const pump = (): void => {
        for (;;) {
          const piece = pieces[index] as Buffer;
          const end = Math.min(piece.length, offset + WRITE_SLICE);
          const slice = piece.subarray(offset, end);
          offset = end;
          if (offset === piece.length) {
            index++;
            offset = 0;
          }
          if (index === pieces.length) {
            last(slice);
            return;
          }
          if (!res.write(slice)) {
            watchStall('drain');
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    };
    // A grant's end cuts an answer that stays open: watches and followed logs from before their
    // head, any other answer streamed (a proxied event stream, a text that keeps coming) from its head on.
    let cutting = false;
    const cutAtGrantEnd = (): void => {
      if (cutting) return;
      cutting = true;
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
    };
    // Registered before the upstream answers: a grant that ends while the head is awaited cuts it too.
    if (input.longLived) cutAtGrantEnd();

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
      if (!input.discovery && maskResponse.text !== undefined) headersMasked = maskHeaders(headers, maskResponse.text);
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
      const mask = maskResponse({ attributes, statusCode: code, contentType, watch, url: req.url ?? '/' });
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
      const share = upstream.held.open();
      // However the answer ends (sent, refused past its bound, cut upstream, the agent gone), its
      // pieces are zeroed too: an answer given up on before its masking was never masked.
      releaseHeld = () => {
        share.release();
        parts.wipe();
      };
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
          // Past the budget of all answers held at once, this one waits (TCP holds the rest) for older ones to be done.
          // (A paused exchange's silence bound waits too: the quiet is the sidecar's, not the API server's.)
          if (!share.add(chunk.length)) {
            exchange.pause();
            share.onTurn(() => exchange.resume());
          }
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
          // fail() finishes at once, and finishing wipes the pieces.
          fail(refusal('mask-failed'));
          return;
        }
        // Masked: what goes out is a new text, and the raw pieces (a Secret's values) are zeroed now
        // rather than left to the GC. Their share of the budget stays until the text is sent: it
        // stands for the text, of about their size.
        if (typeof masked.body === 'string') parts.wipe();
        const send = (out: readonly Buffer[] | string | Buffer, length: number): void => {
          if (settled) return;
          // No length on a HEAD answer (it has no body here) nor where HTTP forbids one (204, 304).
          if (method !== 'HEAD' && code !== 204 && code !== 304) headers['content-length'] = length;
          res.writeHead(code, headers);
          const done = (): void => finish({ code, bytes: length, masked: masked.masked });
          const last = (piece?: Buffer | string): void => {
            if (piece === undefined) res.end(done);
            else res.end(piece, done);
            // Only bytes the socket could not take yet wait on the agent: most answers are
            // handed to the kernel whole, and a timer per request would be set and cleared for nothing.
            if (!res.writableFinished && res.writableLength > 0) watchStall('finish');
          };
          if (method === 'HEAD') last();
          else if (length <= WRITE_SLICE) {
            // The common case: the pieces as they came, in one write with the head (corked until end).
            if (typeof out === 'string' || Buffer.isBuffer(out)) last(out);
            else {
              for (let i = 0; i < out.length - 1; i++) res.write(out[i]);
              last(out.at(-1));
            }
          } else {
            // A large answer goes out in slices, so that a slow reader shows progress and only one
            // that stops reading meets the stall bound.
            writeSliced(typeof out === 'string' ? [Buffer.from(out)] : Buffer.isBuffer(out) ? [out] : out, last);
          }
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
      cutAtGrantEnd();
      exchange.streaming();
      if (gzip) {
        headers['content-encoding'] = 'gzip';
        headers.vary = 'Accept-Encoding';
        source = source.pipe(createGzip());
      }
      // The head waits for the first masked bytes, so a body that cannot be masked still gets a clean 502.
      const writeHead = (): void => {
        if (!res.headersSent) res.writeHead(code, headers);
      };
      // What this answer holds, against the budget of all streams: past it, the one holding the
      // most is cut (res.destroy(): 'close' then aborts the upstream request and finishes).
      const share = upstream.streams.open(() => res.destroy());
      releaseStream = () => share.close();
      const masking = source as Partial<Readable>;
      const report = (inHand: number): void => share.report(res.writableLength + inHand + (masking.readableLength ?? 0));
      const drained = (): void => {
        report(0);
        source.resume();
      };
      source.on('data', (chunk: Buffer) => {
        if (settled || res.destroyed) return;
        writeHead();
        bytes += chunk.length;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        if (chunk.length > WRITE_SLICE) {
          // A large piece (a Table, a big event) in slices too, so that progress shows.
          source.pause();
          report(chunk.length);
          writeSliced([chunk], (slice) => {
            if (res.destroyed) return;
            if (res.write(slice)) drained();
            else {
              report(0);
              watchStall('drain');
              res.once('drain', drained);
            }
          });
        } else {
          if (!res.write(chunk)) {
            source.pause();
            res.once('drain', drained);
            watchStall('drain');
          }
          report(0);
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
