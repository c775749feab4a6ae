// The sidecar's request path as a chain of single-purpose stages over one request context:
// authenticate → attributes → body (masked write-back refused) → decide (with scope) → forward
// (mask decorator) → audit.
// Each stage either passes or ends the request with a Status; nothing reaches upstream undecided.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { statusBody, writeStatus, type Status } from '../src/kube/status.ts';
import { checkWriteBack } from '../src/masking/index.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import { isDiscoveryDocument, isLongLived, requestAttributes } from './attributes.ts';
import type { Auditor } from './audit.ts';
import { authenticate, type PodTokens } from './authenticate.ts';
import { hasBody, readBody } from './body.ts';
import { summarizeBody } from './body-summary.ts';
import type { Allowed, Decider, DecisionInput, Refused } from './decide.ts';
import { forward, type ForwardOutcome, type Upstream } from './forward.ts';
import type { GrantState } from './grants.ts';
import type { MaskResponse } from './mask.ts';
import { refusal } from './refusals.ts';
import type { VirtualApi } from './accessrequests.ts';
import { decodeRequestBody } from './body-encoding.ts';

/** What the request path is bound to. */
export interface PipelineDeps {
  tokens: PodTokens;
  decider: Decider;
  state: GrantState;
  upstream: Upstream;
  maskResponse: MaskResponse;
  auditor: Auditor;
  log: Logger;
  bodyLimit: number;
  bodyTimeoutMs: number;
  /** Bound on an answer's wait for an agent that stopped reading it. */
  writeStallMs: number;
  /** False once shutdown began: new requests get a 503. */
  accepting: () => boolean;
  /** A refusal of every request while set (the audit spool is full: nothing may go unaudited). */
  admit?: () => Status | undefined;
  /** The sidecar's own API (access requests): answered here, never forwarded, no decision needed. */
  virtualApi?: VirtualApi;
}

/** Attributes for the audit of a request whose path was refused: the method, and no resource. */
function fallbackAttributes(method: string): RequestAttributes {
  return { isResourceRequest: false, path: '/', verb: /^[a-z]+$/.test(method.toLowerCase()) ? method.toLowerCase() : 'unknown', apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/** Builds the handler of the API listener. */
export function createPipeline(deps: PipelineDeps): { handle(req: IncomingMessage, res: ServerResponse): void; handleUpgrade(req: IncomingMessage, socket: Duplex): void } {
  function audit(req: IncomingMessage, requestId: string, started: number, attributes: RequestAttributes | undefined, decision: { outcome: 'allow' | 'approval-required' | 'deny'; code: string }, outcome: { code: number; bytes: number; masked: number }, grantId?: string): void {
    const command = header(req, 'kubectl-command');
    const sessionId = header(req, 'kubectl-session');
    deps.auditor.record({
      requestId,
      attributes: attributes ?? fallbackAttributes(req.method ?? 'GET'),
      decision,
      ...(grantId !== undefined ? { grantId } : {}),
      response: { code: outcome.code, bytes: outcome.bytes, durationMs: Math.round((performance.now() - started) * 1000) / 1000 },
      ...(command !== undefined ? { command: command.slice(0, 1024) } : {}),
      ...(sessionId !== undefined ? { sessionId: sessionId.slice(0, 128) } : {}),
      masked: outcome.masked,
    });
  }

  function refuse(req: IncomingMessage, res: ServerResponse, requestId: string, started: number, attributes: RequestAttributes | undefined, status: Status, outcome: 'approval-required' | 'deny' = 'deny', close = false): void {
    if (!res.headersSent) writeStatus(res, status, close ? { connection: 'close' } : {});
    audit(req, requestId, started, attributes, { outcome, code: status.details?.causes?.[0]?.reason ?? status.reason.toLowerCase() }, { code: status.code, bytes: 0, masked: 0 });
  }

  async function proceed(req: IncomingMessage, res: ServerResponse, requestId: string, started: number, attributes: RequestAttributes, url: string): Promise<void> {
    let body: Buffer | undefined;
    if (hasBody(req)) {
      const read = await readBody(req, deps.bodyLimit, deps.bodyTimeoutMs);
      // An unread body would be parsed as the next request on this connection: close it.
      if (!Buffer.isBuffer(read)) return refuse(req, res, requestId, started, attributes, read, 'deny', true);
      // Compressed bodies are checked (and forwarded) decoded: the checks below read plain bytes.
      const decoded = decodeRequestBody(read, header(req, 'content-encoding'), deps.bodyLimit);
      if (!Buffer.isBuffer(decoded)) return refuse(req, res, requestId, started, attributes, decoded);
      body = decoded;
      // CBOR's indefinite-length strings split a text into chunks that the API server joins and no
      // byte search sees whole: such a body cannot be checked for the marker.
      if (/cbor/i.test(header(req, 'content-type') ?? '')) return refuse(req, res, requestId, started, attributes, refusal('body-type-unsupported'));
      // Before the decision: a masked value written back would replace a real Secret with the mask.
      const writeBack = checkWriteBack(body, header(req, 'content-type'));
      if (writeBack !== undefined) return refuse(req, res, requestId, started, attributes, refusal('masked-value-write-back', writeBack.message));
    }
    const summary = body !== undefined ? summarizeBody(body, header(req, 'content-type')) : undefined;
    const command = header(req, 'kubectl-command');
    const sessionId = header(req, 'kubectl-session');
    const input: DecisionInput = {
      requestId, attributes, cacheable: body === undefined,
      ...(summary !== undefined ? { body: summary } : {}),
      ...(command !== undefined ? { command } : {}),
      ...(sessionId !== undefined ? { sessionId } : {}),
    };
    const pending = deps.decider.decide(input);
    let result: Allowed | Refused = pending instanceof Promise ? await pending : pending;
    if ('status' in result) return refuse(req, res, requestId, started, attributes, result.status, result.decision?.outcome === 'approval-required' ? 'approval-required' : 'deny');
    if (!deps.accepting()) return refuse(req, res, requestId, started, attributes, refusal('shutting-down'));

    const discovery = isDiscoveryDocument(attributes);
    const longLived = isLongLived(attributes, url);
    const send = (allowed: Allowed, retryOnUnauthorized: boolean): Promise<ForwardOutcome> => forward(deps.upstream, deps.maskResponse, {
      req, res, attributes, body, credential: allowed.credential, discovery, longLived, retryOnUnauthorized, writeStallMs: deps.writeStallMs,
      onGrantEnd: (cut) => {
        const unregister = deps.state.onEnd(allowed.grant.id, cut);
        let registered = true;
        // A streamed answer registers once its head came: its grant may have ended meanwhile.
        if (deps.state.grant(allowed.grant.id) === undefined) setImmediate(() => registered && cut('expired'));
        return () => {
          registered = false;
          unregister();
        };
      },
    });
    // The grant may have ended while the body was read or the broker answered.
    if (deps.state.grant(result.grant.id) === undefined) return refuse(req, res, requestId, started, attributes, refusal('grant-ended', `grant ${result.grant.id}`));
    let outcome = await send(result, true);
    if (outcome.credentialRefused === true) {
      // One retry with a fresh credential (the broker may have rotated it); then a clear 503.
      deps.log.warn({ grantId: result.grant.id, requestId }, 'the API server refused a grant credential; asking for a fresh one');
      const fresh = await deps.decider.refresh(input, result.grant.id, result.credential.token);
      if ('status' in fresh) return refuse(req, res, requestId, started, attributes, fresh.status.code === 503 ? refusal('credential-refused', fresh.status.message) : fresh.status);
      result = fresh;
      outcome = await send(result, true);
      if (outcome.credentialRefused === true) return refuse(req, res, requestId, started, attributes, refusal('credential-refused', `grant ${result.grant.id}`));
    }
    audit(req, requestId, started, attributes, { outcome: 'allow', code: result.decision.reason.code }, outcome, result.grant.id);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const requestId = randomUUID();
    const url = req.url ?? '/';
    const denied = authenticate(deps.tokens, req.headers);
    const parsed = requestAttributes(req.method ?? 'GET', url);
    const attributes = 'attributes' in parsed ? parsed.attributes : undefined;
    if (denied !== undefined) return refuse(req, res, requestId, started, attributes, denied, 'deny', hasBody(req));
    if ('status' in parsed) return refuse(req, res, requestId, started, undefined, parsed.status, 'deny', hasBody(req));
    if (!deps.accepting()) return refuse(req, res, requestId, started, parsed.attributes, refusal('shutting-down'));
    const held = deps.admit?.();
    if (held !== undefined) return refuse(req, res, requestId, started, parsed.attributes, held, 'deny', hasBody(req));
    if (deps.virtualApi?.handles(parsed.attributes) === true) {
      void deps.virtualApi.serve(req, res, parsed.attributes).then((o) => audit(req, requestId, started, parsed.attributes, { outcome: o.outcome, code: o.code }, { code: o.status, bytes: o.bytes, masked: 0 }));
      return;
    }
    proceed(req, res, requestId, started, parsed.attributes, url).catch((error: unknown) => {
      deps.log.error({ err: error, requestId }, 'request failed unexpectedly');
      refuse(req, res, requestId, started, parsed.attributes, refusal('upstream-unavailable', 'internal error'));
    });
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex): void {
    const started = performance.now();
    const requestId = randomUUID();
    const parsed = requestAttributes(req.method ?? 'GET', req.url ?? '/');
    const attributes = 'attributes' in parsed ? parsed.attributes : undefined;
    const status = authenticate(deps.tokens, req.headers) ?? ('status' in parsed ? parsed.status : refusal('upgrade-unsupported', `${String(req.headers.upgrade)} for ${attributes?.path ?? 'this path'}`));
    const body = statusBody(status);
    // A plain HTTP answer, never 101: the connection is not switched, so nothing but this Status crosses it.
    socket.end(`HTTP/1.1 ${status.code} ${status.reason}\r\ncontent-type: application/json\r\ncache-control: no-cache, private\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    audit(req, requestId, started, attributes, { outcome: 'deny', code: status.details?.causes?.[0]?.reason ?? 'upgrade-unsupported' }, { code: status.code, bytes: 0, masked: 0 });
  }

  return { handle, handleUpgrade };
}
