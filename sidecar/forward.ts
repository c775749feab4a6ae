// Stage 5: forward to the API server with the grant's credential over a keep-alive pool, asking
// only for what can be masked (JSON, identity encoding), never following redirects, and pass the
// answer through the mask stage (decorator) to the agent, gzipped when it asks and it pays off.
import https from 'node:https';
import { isIP } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createGzip } from 'node:zlib';
import type { Credential } from '../src/contracts/index.ts';
import { writeStatus, statusBody, type Status } from '../src/kube/status.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import type { MaskResponse } from './mask.ts';
import { refusal } from './refusals.ts';

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
  readonly agent: https.Agent;
  readonly host: string;
  readonly port: number;
  readonly basePath: string;
  readonly headersTimeoutMs: number;

  constructor(options: UpstreamOptions) {
    const url = new URL(options.url);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || 443);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headersTimeoutMs = options.headersTimeoutMs ?? 65_000;
    // rejectUnauthorized stays true: the CA is the cluster's, checked against kubernetes.default.svc or the URL's host.
    this.agent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, maxFreeSockets: 32, ca: options.ca, scheduling: 'lifo' });
  }

  /** Closes the pool. */
  close(): void {
    this.agent.destroy();
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

/** The names a Connection header lists: hop-by-hop for this hop only (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  return new Set((value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
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
function agentHeaders(upstream: IncomingMessage, transformed: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(upstream.headers);
  for (const [name, value] of Object.entries(upstream.headers)) {
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

/**
 * Forwards one request and streams the answer to the agent through the mask stage. Resolves
 * when the response ended (or was cut). Failures before the answer head become a Status.
 */
export function forward(upstream: Upstream, maskResponse: MaskResponse, input: ForwardInput): Promise<ForwardOutcome> {
  const { req, res, attributes, body } = input;
  return new Promise((resolve) => {
    let settled = false;
    let unregister: () => void = () => {};
    const finish = (outcome: ForwardOutcome): void => {
      if (settled) return;
      settled = true;
      unregister();
      resolve(outcome);
    };
    const fail = (status: Status, extra: Partial<ForwardOutcome> = {}): void => {
      if (!res.headersSent) writeStatus(res, status);
      else res.destroy();
      finish({ code: status.code, bytes: 0, masked: 0, ...extra });
    };

    const upstreamReq = https.request({
      agent: upstream.agent,
      host: upstream.host,
      port: upstream.port,
      ...(isIP(upstream.host) === 0 ? { servername: upstream.host } : {}),
      method: req.method,
      path: upstream.basePath + (req.url ?? '/'),
      headers: upstreamHeaders(req.headers, input.credential, input.discovery, body?.length ?? (req.method === 'GET' || req.method === 'HEAD' ? undefined : 0)),
      // A watch may stay silent for minutes; other requests get the API server's own bound.
      timeout: input.longLived ? 0 : upstream.headersTimeoutMs,
    });
    upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('upstream timeout')));
    upstreamReq.on('error', (error: NodeJS.ErrnoException) => fail(refusal('upstream-unavailable', error.code ?? error.message)));
    // The agent went away: stop the upstream request too (a watch would otherwise live on).
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
      finish({ code: res.statusCode, bytes: 0, masked: 0 });
    });

    upstreamReq.on('response', (up) => {
      const code = up.statusCode ?? 502;
      if (code === 401 && input.retryOnUnauthorized) {
        up.resume();
        finish({ code, bytes: 0, masked: 0, credentialRefused: true });
        return;
      }
      if (code >= 300 && code < 400) {
        // Following or passing on a redirect would send the agent (or the credential) elsewhere.
        up.resume();
        fail(refusal('upstream-redirect', `HTTP ${code}`));
        return;
      }
      const watch = attributes.verb === 'watch';
      let bytes = 0;
      let lastByte = 10;
      let masked = (): number => 0;
      let source: NodeJS.ReadableStream = up;
      if (!input.discovery) {
        const encoding = (up.headers['content-encoding'] ?? 'identity').toLowerCase();
        if (encoding !== 'identity') {
          up.resume();
          fail(refusal('upstream-encoding', `Content-Encoding ${encoding}`));
          return;
        }
        const contentType = contentTypeOf(up.headers);
        if (!isMaskableMediaType(contentType)) {
          // Upstream was asked for JSON only, but an aggregated API server may answer as it likes:
          // protobuf, CBOR or YAML bytes would reach a masker that cannot read them.
          up.resume();
          fail(refusal('upstream-encoding', `Content-Type ${contentType}`));
          return;
        }
        const mask = maskResponse({ attributes, statusCode: code, contentType, watch });
        masked = mask.masked;
        up.on('error', (error) => mask.stream.destroy(error));
        source = up.pipe(mask.stream);
        mask.stream.on('error', () => {
          up.destroy();
          fail(refusal('mask-failed'), { masked: mask.masked() });
        });
      }
      const length = Number(up.headers['content-length'] ?? Number.NaN);
      const gzip = !input.discovery && !input.longLived && req.method !== 'HEAD' && acceptsGzip(req.headers) && !(length < GZIP_THRESHOLD);
      const headers = agentHeaders(up, !input.discovery);
      if (gzip) {
        headers['content-encoding'] = 'gzip';
        headers.vary = 'Accept-Encoding';
        const gz = createGzip();
        source = source.pipe(gz);
      }
      // The head waits for the first masked bytes, so a body that cannot be masked still gets a clean 502.
      const writeHead = (): void => {
        if (!res.headersSent) res.writeHead(code, headers);
      };
      source.on('data', (chunk: Buffer) => {
        writeHead();
        bytes += chunk.length;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        if (!res.write(chunk)) {
          source.pause();
          res.once('drain', () => source.resume());
        }
      });
      source.on('end', () => {
        if (settled) return;
        writeHead();
        res.end(() => finish({ code, bytes, masked: masked() }));
      });
      if (watch) {
        // Clients wait for the head before they print anything; send it now, not at the first event.
        writeHead();
        res.flushHeaders();
      }
      if (input.longLived) {
        unregister = input.onGrantEnd((why) => {
          up.destroy();
          upstreamReq.destroy();
          // A watch ends with an ERROR event, as the API server ends one it cannot continue; only at an event boundary.
          if (watch && lastByte === 10 && res.headersSent && !res.writableEnded) {
            const status = refusal('grant-ended', `${why}; ask for access again to continue`);
            res.end(`${JSON.stringify({ type: 'ERROR', object: JSON.parse(statusBody(status)) as unknown })}\n`);
          } else if (!res.writableEnded) {
            res.end();
          }
          finish({ code, bytes, masked: masked() });
        });
      }
    });
    upstreamReq.end(body);
  });
}
