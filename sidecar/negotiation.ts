// What crosses the sidecar between the agent and the API server: the request headers passed on
// (an allow-list, the grant's credential, JSON and identity negotiated for what must be masked),
// the answer headers passed back (no hop-by-hop ones), and which media types can be masked.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Credential } from '../src/contracts/index.ts';

/** Request headers passed to the API server; everything else (Authorization, cookies, proxies' headers, hop-by-hop) is dropped. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'user-agent', 'kubectl-command', 'kubectl-session', 'audit-id', 'x-request-id', 'accept-language'];

/** RFC 9110 §7.6.1 hop-by-hop headers, and headers that only describe the hop's framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The API server compresses above 128 KiB; below it gzip costs more than it saves, above all on loopback. */
export const GZIP_THRESHOLD = 128 * 1024;

/**
 * Rewrites an Accept header so the API server answers in JSON: protobuf, CBOR and YAML media
 * ranges become `application/json` with their parameters (so `as=Table;v=v1;g=meta.k8s.io` is
 * kept), `stream=watch` and other framing parameters dropped. Duplicates are removed.
 */
export function jsonAccept(accept: string | undefined): string {
  if (accept === undefined) return 'application/json';
  // A client sends the same few Accept values again and again: their rewrites are remembered.
  let rewritten = rewrites.get(accept);
  if (rewritten === undefined) {
    rewritten = rewriteAccept(accept);
    if (accept.length <= MAX_REMEMBERED_ACCEPT) {
      // The values are the agent's to choose: the memory is bounded, emptied when full.
      if (rewrites.size >= MAX_REWRITES) rewrites.clear();
      rewrites.set(accept, rewritten);
    }
  }
  return rewritten;
}

const rewrites = new Map<string, string>();
const MAX_REWRITES = 256;
const MAX_REMEMBERED_ACCEPT = 512;

function rewriteAccept(accept: string): string {
  if (accept.trim() === '') return 'application/json';
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
export function agentHeaders(upstream: IncomingHttpHeaders, transformed: boolean): OutgoingHttpHeaders {
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

/** The media type of a message, lower case, without parameters. */
export function contentTypeOf(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Response media types the mask stage can read: JSON (and `+json` types), text (logs, plain
 * errors), or none (an empty answer). Everything else is withheld with a 502.
 */
export function isMaskableMediaType(contentType: string): boolean {
  return contentType === '' || contentType === 'application/json' || contentType.endsWith('+json') || contentType.startsWith('text/');
}

export function acceptsGzip(headers: IncomingHttpHeaders): boolean {
  return /(?:^|,)\s*gzip\s*(?:;\s*q=(?!0(?:\.0*)?\s*(?:,|$))[0-9.]+)?\s*(?:,|$)/i.test(headers['accept-encoding'] ?? '');
}
