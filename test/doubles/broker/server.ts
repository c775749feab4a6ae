/**
 * A double of the broker's sidecar-facing v1 contract, for the sidecar's tests: HTTPS with the
 * fixture certificate (or plain HTTP), bearer-token check against one expected token, the
 * `Agentgate-Contract` header check, and:
 * - POST /v1/decisions answered from a table the test sets (first matching row; default deny
 *   `no-grant`), every request recorded and checked against the contract;
 * - GET /v1/stream: hello, then grants, credentials and revocations as the test pushes them,
 *   resumable with `?since=`, with heartbeats;
 * - POST /v1/audit: batches checked against the contract and recorded;
 * - POST /v1/accessrequests (checked, idempotent by requestId, Pending unless the test's
 *   `answerAccessRequest` says otherwise) and GET /v1/accessrequests/{id}.
 * Modes: `up`; `down` (connections reset, as an unreachable broker); `slow` (requests held
 * unanswered); `error` (503 BrokerError).
 *
 * NOT covered: TokenReview of the sidecar's token (any request with the expected token is the
 * one identity), policy, Redis, approvals, rate limits.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  BROKER_API_VERSION, brokerError, checkContractHeader, formatStreamLine, parseAccessRequestCreate, parseAuditBatch, parseDecisionRequest,
  type AccessRequest, type AccessRequestStatus, type AuditBatch, type BrokerErrorCode, type Credential, type Decision, type DecisionRequest, type Grant, type IdentityKey,
  type PolicyRule, type RequestAttributes, type StreamEvent,
} from '../../../src/contracts/index.ts';

const TLS_DIR = fileURLToPath(new URL('../../fixtures/tls/', import.meta.url));

/** One row of the decision table: the first row whose `when` matches answers. */
export interface DecisionRow {
  name: string;
  when: (attributes: RequestAttributes, request: DecisionRequest) => boolean;
  outcome: 'allow' | 'deny' | 'approval-required';
  /** For allow: the grant (added with addGrant) the request runs under. */
  grantId?: string;
  reason?: { code: string; message: string };
  approvalRequestId?: string;
  /** For allow: how long the sidecar may reuse the answer. */
  cacheForMs?: number;
}

/** A grant as the test describes it. */
export interface GrantInput {
  id: string;
  rules: PolicyRule[];
  namespaces: string[];
  ttlMs?: number;
  /** The bearer token forwarded upstream under this grant. */
  token: string;
}

/** Options of {@link createBrokerDouble}. */
export interface BrokerDoubleOptions {
  /** The token the sidecar must present (its projected broker token). */
  token: string;
  /** Default true: HTTPS with the fixture certificate. */
  tls?: boolean;
  identity?: IdentityKey;
  heartbeatSeconds?: number;
}

/** A running broker double. */
export interface BrokerDouble {
  url: string;
  caPem: string;
  mode: 'up' | 'down' | 'slow' | 'error';
  /** How long each decision takes to be answered (default 0): the window in which an agent may hang up. */
  decisionDelayMs: number;
  table: DecisionRow[];
  readonly decisions: DecisionRequest[];
  readonly auditBatches: AuditBatch[];
  /** Access requests by id, as created through POST /v1/accessrequests (tests may change their status). */
  readonly accessRequests: Map<string, AccessRequest>;
  /** The status a new access request gets; default Pending. */
  answerAccessRequest?: (request: AccessRequest) => AccessRequestStatus;
  /** Contract violations in what the sidecar sent. */
  readonly violations: string[];
  addGrant(input: GrantInput): Grant;
  /** Pushes a new credential for a grant. */
  setCredential(grantId: string, token: string): void;
  revoke(grantId: string, reason?: 'revoked' | 'expired' | 'frozen'): void;
  openStreams(): number;
  /** Cuts every open stream (as a broker restart or a network cut would). */
  dropStreams(): void;
  close(): Promise<void>;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Starts a broker double on a free loopback port. */
export async function createBrokerDouble(options: BrokerDoubleOptions): Promise<BrokerDouble> {
  const identity = options.identity ?? { connection: 'test', namespace: 'agents', agent: 'agent-a' };
  const heartbeatSeconds = options.heartbeatSeconds ?? 5;
  const [cert = '', key = '', caPem = ''] = await Promise.all(['server.crt', 'server.key', 'ca.crt'].map((f) => readFile(`${TLS_DIR}${f}`, 'utf8')));
  const history: StreamEvent[] = [];
  const grants = new Map<string, Grant>();
  const credentials = new Map<string, Credential>();
  const streams = new Set<ServerResponse>();
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const requestIds = new Map<string, string>();
  let seq = 0;

  function publish(event: StreamEvent): void {
    history.push(event);
    for (const res of streams) res.write(formatStreamLine(event));
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }
  const fail = (res: ServerResponse, code: BrokerErrorCode, message?: string): void => {
    const error = brokerError(code, message);
    send(res, code === 'unauthenticated' ? 401 : code === 'bad-request' || code === 'contract-unsupported' ? 400 : code === 'not-found' ? 404 : 503, error);
  };

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  function decide(request: DecisionRequest): Decision {
    const base = { apiVersion: BROKER_API_VERSION, requestId: request.requestId } as const;
    const row = double.table.find((r) => r.when(request.attributes, request));
    if (row === undefined) return { ...base, outcome: 'deny', reason: { code: 'no-grant', message: 'No grant covers this request. Ask for access with an AccessRequest (apis/agentgate.io/v1alpha1/accessrequests).' } };
    if (row.outcome === 'deny') return { ...base, outcome: 'deny', reason: row.reason ?? { code: 'policy-deny', message: 'Policy denies this request for this agent.' } };
    if (row.outcome === 'approval-required') {
      return { ...base, outcome: 'approval-required', reason: row.reason ?? { code: 'approval-pending', message: 'This request needs a human approval; it has been asked for and is waiting.' }, approvalRequestId: row.approvalRequestId ?? 'ar-1' };
    }
    const grant = grants.get(row.grantId ?? '');
    if (grant === undefined || Date.parse(grant.expiresAt) <= Date.now()) return { ...base, outcome: 'deny', reason: { code: 'no-grant', message: 'No grant covers this request.' } };
    const decision: Decision = {
      ...base, outcome: 'allow', reason: row.reason ?? { code: 'grant-live', message: 'Allowed under a live grant.' },
      grant: { id: grant.id, rules: grant.rules, namespaces: grant.namespaces, expiresAt: grant.expiresAt },
      credentialRef: { grantId: grant.id },
    };
    if (row.cacheForMs !== undefined) decision.cacheUntil = iso(Math.min(Date.now() + row.cacheForMs, Date.parse(grant.expiresAt)));
    return decision;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (double.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (req.headers.authorization !== `Bearer ${options.token}`) return fail(res, 'unauthenticated');
    const contract = checkContractHeader(typeof req.headers['agentgate-contract'] === 'string' ? req.headers['agentgate-contract'] : undefined);
    if (contract !== undefined) return send(res, 400, contract);
    const url = new URL(req.url ?? '/', 'http://broker');
    if (double.mode === 'slow') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/stream') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const since = url.searchParams.get('since');
      const resumed = since !== null && Number(since) <= seq;
      res.write(formatStreamLine({ type: 'hello', seq, brokerVersion: 'double', contract: 'v1', heartbeatSeconds, resumed }));
      if (resumed) {
        for (const event of history) if (event.seq > Number(since)) res.write(formatStreamLine(event));
      } else {
        for (const grant of grants.values()) res.write(formatStreamLine({ type: 'grant', seq, grant }));
        for (const credential of credentials.values()) res.write(formatStreamLine({ type: 'credential', seq, credential }));
      }
      streams.add(res);
      const beat = setInterval(() => res.write(formatStreamLine({ type: 'heartbeat', seq, time: iso(Date.now()) })), heartbeatSeconds * 1000);
      res.on('close', () => {
        clearInterval(beat);
        streams.delete(res);
      });
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/v1/accessrequests/')) {
      const found = double.accessRequests.get(decodeURIComponent(url.pathname.slice('/v1/accessrequests/'.length)));
      return found === undefined ? fail(res, 'not-found', 'No access request of this agent.') : send(res, 200, found);
    }
    if (req.method !== 'POST') return fail(res, 'not-found');
    const body = await readJson(req);
    if (double.mode === 'error') return fail(res, 'unavailable');
    if (url.pathname === '/v1/decisions') {
      const parsed = parseDecisionRequest(body);
      if (!parsed.ok) {
        double.violations.push(`decision request: ${JSON.stringify(parsed.errors)}`);
        return fail(res, 'bad-request', JSON.stringify(parsed.errors).slice(0, 900));
      }
      double.decisions.push(parsed.value);
      if (double.decisionDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, double.decisionDelayMs));
      return send(res, 200, decide(parsed.value));
    }
    if (url.pathname === '/v1/audit') {
      const parsed = parseAuditBatch(body);
      if (!parsed.ok) {
        double.violations.push(`audit batch: ${JSON.stringify(parsed.errors)}`);
        return fail(res, 'bad-request', JSON.stringify(parsed.errors).slice(0, 900));
      }
      double.auditBatches.push(parsed.value);
      return send(res, 200, { apiVersion: BROKER_API_VERSION, accepted: parsed.value.events.length });
    }
    if (url.pathname === '/v1/accessrequests') {
      const parsed = parseAccessRequestCreate(body);
      if (!parsed.ok) {
        double.violations.push(`access request: ${JSON.stringify(parsed.errors)}`);
        return fail(res, 'bad-request', JSON.stringify(parsed.errors).slice(0, 900));
      }
      const same = [...double.accessRequests.values()].find((r) => requestIds.get(r.id) === parsed.value.requestId);
      if (same !== undefined) return send(res, 201, same);
      const request: AccessRequest = { apiVersion: BROKER_API_VERSION, id: `ar-${requestIds.size + 1}`, identity, spec: parsed.value.spec, status: { phase: 'Pending' }, createdAt: iso(Date.now()) };
      if (double.answerAccessRequest) request.status = double.answerAccessRequest(request);
      requestIds.set(request.id, parsed.value.requestId);
      double.accessRequests.set(request.id, request);
      return send(res, 201, request);
    }
    return fail(res, 'not-found');
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => res.destroy());
  };
  const tls = options.tls ?? true;
  const server: Server = tls ? createHttpsServer({ cert, key }, listener) : createHttpServer(listener);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (double.mode === 'down') socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const double: BrokerDouble = {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    caPem,
    mode: 'up',
    table: [],
    decisionDelayMs: 0,
    decisions: [],
    auditBatches: [],
    accessRequests: new Map(),
    violations: [],
    addGrant(input) {
      const now = Date.now();
      const grant: Grant = {
        id: input.id, identity, rules: input.rules, namespaces: input.namespaces, reason: 'test',
        createdAt: iso(now - 1000), expiresAt: iso(now + (input.ttlMs ?? 30 * 60_000)),
      };
      grants.set(grant.id, grant);
      publish({ type: 'grant', seq: ++seq, grant });
      double.setCredential(grant.id, input.token);
      return grant;
    },
    setCredential(grantId, token) {
      const credential: Credential = { grantId, kind: 'bearer-token', token, expiresAt: iso(Date.now() + 3600_000), server: 'https://kubernetes.default.svc' };
      credentials.set(grantId, credential);
      publish({ type: 'credential', seq: ++seq, credential });
    },
    revoke(grantId, reason = 'revoked') {
      grants.delete(grantId);
      credentials.delete(grantId);
      publish({ type: 'revocation', seq: ++seq, grantId, reason });
    },
    openStreams: () => streams.size,
    dropStreams() {
      for (const res of streams) res.destroy();
    },
    async close() {
      for (const res of [...streams, ...held]) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return double;
}
