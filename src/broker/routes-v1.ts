// The sidecar-facing routes of contract v1: decisions, the grant stream, audit batches and access
// requests. Each authenticates the sidecar first (identity.ts) and answers BrokerErrors on failure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditStore } from '../audit/store.ts';
import {
  BROKER_API_VERSION, brokerError, parseAccessRequestCreate, parseAuditBatch, parseDecisionRequest, type ContractIssue,
} from '../contracts/index.ts';
import { identityKey } from '../contracts/identity.ts';
import { forbiddenInRule } from '../policy/guardrail-rules.ts';
import type { AccessRequestStore } from './accessrequests.ts';
import type { Decider } from './decide.ts';
import { readJson, sendError, sendJson } from './http.ts';
import type { Caller, Identifier } from './identity.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { StreamRelay } from './stream.ts';

/** What the v1 routes use. */
export interface V1Deps {
  identifier: Identifier;
  decider: Decider;
  relay: StreamRelay;
  audit: AuditStore;
  accessRequests: AccessRequestStore;
  metrics: BrokerMetrics;
  log: Logger;
}

const DECISION_LIMIT = 256 * 1024;
const AUDIT_LIMIT = 8 * 1024 * 1024;
const REQUEST_LIMIT = 256 * 1024;

const issuesText = (errors: ContractIssue[]): string => errors.map((e) => `${e.path}: ${e.message}`).join('; ').slice(0, 1000);

/** A route: resolves when it answered. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** The v1 routes by `METHOD path` (the access request route matches by prefix in the server). */
export function v1Routes(deps: V1Deps): { exact: Map<string, Route>; accessRequest: Route } {
  const { identifier, metrics } = deps;

  async function caller(req: IncomingMessage, res: ServerResponse, route: string): Promise<Caller | undefined> {
    const found = await identifier.sidecar(req.headers.authorization);
    if (found.ok) return found.value;
    metrics.error(route, found.error.code);
    sendError(res, found.status, found.error);
    return undefined;
  }

  const refuse = (res: ServerResponse, route: string, status: number, code: Parameters<typeof brokerError>[0], message?: string): void => {
    metrics.error(route, code);
    sendError(res, status, brokerError(code, message));
  };

  const decisions: Route = async (req, res) => {
    const who = await caller(req, res, 'decisions');
    if (!who) return;
    const parsed = parseDecisionRequest(await readJson(req, DECISION_LIMIT));
    if (!parsed.ok) return refuse(res, 'decisions', 400, 'bad-request', issuesText(parsed.errors));
    if (parsed.value.identity && parsed.value.identity.podUid !== who.identity.podUid) {
      return refuse(res, 'decisions', 403, 'identity-invalid', "The podUid sent does not match the pod of the sidecar's token.");
    }
    const started = performance.now();
    const decision = await deps.decider.decide(who, parsed.value);
    metrics.decision(decision.outcome, decision.reason.code, (performance.now() - started) / 1000);
    sendJson(res, 200, decision);
  };

  const stream: Route = async (req, res, url) => {
    const who = await caller(req, res, 'stream');
    if (!who) return;
    const raw = url.searchParams.get('since');
    if (raw !== null && !/^\d{1,15}$/.test(raw)) return refuse(res, 'stream', 400, 'bad-request', 'since must be the last seq seen (a whole number).');
    await deps.relay.serve(identityKey(who.identity), raw === null ? undefined : Number(raw), res);
  };

  const audit: Route = async (req, res) => {
    const who = await caller(req, res, 'audit');
    if (!who) return;
    const parsed = parseAuditBatch(await readJson(req, AUDIT_LIMIT));
    if (!parsed.ok) return refuse(res, 'audit', 400, 'bad-request', issuesText(parsed.errors));
    const batch = parsed.value;
    if (batch.sidecar.podUid !== who.identity.podUid || batch.events.some((e) => e.identity.podUid !== who.identity.podUid)) {
      return refuse(res, 'audit', 403, 'identity-invalid', "Audit events must be of the pod of the sidecar's token.");
    }
    // The identity recorded is the one the broker verified, not what the batch says.
    const events = batch.events.map((e) => ({ ...e, identity: { ...who.identity, ...(e.identity.podName ? { podName: e.identity.podName } : {}) } }));
    const result = await deps.audit.append(events);
    sendJson(res, 200, { apiVersion: BROKER_API_VERSION, accepted: result.stored.length + result.duplicates });
  };

  const createRequest: Route = async (req, res) => {
    const who = await caller(req, res, 'accessrequests');
    if (!who) return;
    const parsed = parseAccessRequestCreate(await readJson(req, REQUEST_LIMIT));
    if (!parsed.ok) return refuse(res, 'accessrequests', 400, 'bad-request', issuesText(parsed.errors));
    // A scope a guardrail forbids is refused now rather than put before a human who cannot grant it.
    const forbidden = (parsed.value.spec.rules ?? []).flatMap((rule) => forbiddenInRule(rule, 'grant'))[0];
    if (forbidden) {
      metrics.error('accessrequests', forbidden.code);
      return sendError(res, 403, { apiVersion: BROKER_API_VERSION, code: forbidden.code, message: forbidden.message.slice(0, 1000) });
    }
    const request = await deps.accessRequests.create({ identity: identityKey(who.identity), spec: parsed.value.spec, requestId: parsed.value.requestId });
    sendJson(res, 201, request);
  };

  const accessRequest: Route = async (req, res, url) => {
    const who = await caller(req, res, 'accessrequests');
    if (!who) return;
    const id = decodeURIComponent(url.pathname.slice('/v1/accessrequests/'.length));
    const request = await deps.accessRequests.get(id);
    const mine = request !== undefined && JSON.stringify(request.identity) === JSON.stringify(identityKey(who.identity));
    // Another agent's request is as absent as a missing one: ids are not a way to learn about others.
    if (!request || !mine) return refuse(res, 'accessrequests', 404, 'not-found', `No access request ${id} of this agent.`);
    sendJson(res, 200, request);
  };

  return {
    exact: new Map<string, Route>([
      ['POST /v1/decisions', decisions],
      ['GET /v1/stream', stream],
      ['POST /v1/audit', audit],
      ['POST /v1/accessrequests', createRequest],
    ]),
    accessRequest,
  };
}
