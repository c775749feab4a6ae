// The operator routes the CLI calls (/v1/operator/…): list and revoke grants, freeze, and access
// requests on an agent's behalf. Each authenticates the operator's Kubernetes token (TokenReview)
// and asks the API server whether they may (SubjectAccessReview on agentgate.io virtual resources).
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import { AccessRequestSpecSchema } from '../contracts/access-request.ts';
import { BROKER_API_VERSION, brokerError } from '../contracts/broker-v1.ts';
import { DnsLabel, DnsSubdomain, OpaqueId } from '../contracts/names.ts';
import type { GrantFilter, GrantLifecycle, GrantStore } from '../grants/index.ts';
import type { AccessRequestStore } from './accessrequests.ts';
import { readJson, sendError, sendJson } from './http.ts';
import type { Identifier, Operator } from './identity.ts';
import type { KubeAccess } from './kube.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { Route } from './routes-v1.ts';

/** The operator API's path prefix. */
export const OPERATOR_PREFIX = '/v1/operator';

/**
 * What each operator action asks the API server (group agentgate.io). A ClusterRole granting
 * these verbs on these resources makes an agentgate operator; nothing else is needed.
 */
export const OPERATOR_PERMISSIONS = Object.freeze({
  listGrants: { resource: 'grants', verb: 'list' },
  revokeGrant: { resource: 'grants', verb: 'delete' },
  revokeGrants: { resource: 'grants', verb: 'deletecollection' },
  freeze: { resource: 'grants', verb: 'freeze' },
  createAccessRequest: { resource: 'accessrequests', verb: 'create' },
  getAccessRequest: { resource: 'accessrequests', verb: 'get' },
});

/** What the operator routes use. */
export interface OperatorDeps {
  identifier: Identifier;
  kube: KubeAccess;
  store: GrantStore;
  lifecycle: GrantLifecycle;
  accessRequests: AccessRequestStore;
  metrics: BrokerMetrics;
  /** The connection this broker serves (the default of `--connection`). */
  connection: string;
  now?: () => number;
}

const RevokeBody = z.strictObject({ all: z.literal(true), connection: DnsLabel.optional(), namespace: DnsLabel.optional(), agent: DnsSubdomain.optional() });
const RequestBody = z.strictObject({
  identity: z.strictObject({ connection: DnsLabel.optional(), namespace: DnsLabel, agent: DnsSubdomain }),
  spec: AccessRequestSpecSchema,
  requestId: OpaqueId.optional(),
});

const filterOf = (params: URLSearchParams): GrantFilter => {
  const filter: GrantFilter = {};
  for (const key of ['connection', 'namespace', 'agent'] as const) {
    const value = params.get(key);
    if (value) filter[key] = value;
  }
  return filter;
};

/** The operator routes: `METHOD path` → route, and the routes with an id at the end. */
export function operatorRoutes(deps: OperatorDeps): { exact: Map<string, Route>; byId: Map<string, Route> } {
  const now = deps.now ?? Date.now;

  async function operator(req: IncomingMessage, res: ServerResponse, action: keyof typeof OPERATOR_PERMISSIONS, namespace?: string): Promise<Operator | undefined> {
    const found = await deps.identifier.operator(req.headers.authorization);
    if (!found.ok) {
      deps.metrics.error(`operator.${action}`, found.error.code);
      sendError(res, found.status, found.error);
      return undefined;
    }
    const { resource, verb } = OPERATOR_PERMISSIONS[action];
    if (!(await deps.kube.allowed({ user: found.value.user, verb, resource, ...(namespace ? { namespace } : {}) }))) {
      deps.metrics.error(`operator.${action}`, 'forbidden');
      sendError(res, 403, { apiVersion: BROKER_API_VERSION, code: 'forbidden', message: `${found.value.username} may not ${verb} ${resource}.agentgate.io${namespace ? ` in namespace ${namespace}` : ''} (ask for an agentgate operator role).` });
      return undefined;
    }
    return found.value;
  }

  const bad = (res: ServerResponse, message: string): void => sendError(res, 400, brokerError('bad-request', message.slice(0, 1000)));

  const listGrants: Route = async (req, res, url) => {
    if (!(await operator(req, res, 'listGrants'))) return;
    const records = await deps.store.list(filterOf(url.searchParams));
    const at = now();
    sendJson(res, 200, {
      frozen: (await deps.store.frozen()) ?? null,
      grants: records.map((r) => ({ ...r.grant, ...(r.roleRef ? { roleRef: r.roleRef } : {}), secondsLeft: Math.max(0, Math.round((Date.parse(r.grant.expiresAt) - at) / 1000)) })),
    });
  };

  const revokeOne: Route = async (req, res, url) => {
    if (!(await operator(req, res, 'revokeGrant'))) return;
    const id = decodeURIComponent(url.pathname.slice(`${OPERATOR_PREFIX}/grants/`.length));
    const grant = await deps.lifecycle.revoke(id);
    if (!grant) return sendError(res, 404, brokerError('not-found', `No live grant ${id}.`));
    sendJson(res, 200, { revoked: [grant.id] });
  };

  const revokeMany: Route = async (req, res) => {
    const parsed = RevokeBody.safeParse(await readJson(req, 16 * 1024));
    if (!parsed.success) return bad(res, `expected {"all": true} with optional connection, namespace, agent: ${parsed.error.issues[0]?.message ?? ''}`);
    if (!(await operator(req, res, 'revokeGrants', parsed.data.namespace))) return;
    const { all: _all, ...filter } = parsed.data;
    const grants = await deps.lifecycle.revokeWhere(filter);
    sendJson(res, 200, { revoked: grants.map((g) => g.id) });
  };

  const freezeState: Route = async (req, res) => {
    if (!(await operator(req, res, 'listGrants'))) return;
    sendJson(res, 200, { frozen: (await deps.store.frozen()) ?? null });
  };

  const freeze: Route = async (req, res) => {
    const who = await operator(req, res, 'freeze');
    if (!who) return;
    await deps.store.freeze(who.username);
    sendJson(res, 200, { frozen: (await deps.store.frozen()) ?? null });
  };

  const unfreeze: Route = async (req, res) => {
    if (!(await operator(req, res, 'freeze'))) return;
    await deps.store.unfreeze();
    sendJson(res, 200, { frozen: null });
  };

  const createRequest: Route = async (req, res) => {
    const parsed = RequestBody.safeParse(await readJson(req, 256 * 1024));
    if (!parsed.success) return bad(res, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const who = await operator(req, res, 'createAccessRequest', parsed.data.identity.namespace);
    if (!who) return;
    const identity = { connection: parsed.data.identity.connection ?? deps.connection, namespace: parsed.data.identity.namespace, agent: parsed.data.identity.agent };
    const request = await deps.accessRequests.create({ identity, spec: parsed.data.spec, requestedBy: who.username, ...(parsed.data.requestId ? { requestId: parsed.data.requestId } : {}) });
    sendJson(res, 201, request);
  };

  const getRequest: Route = async (req, res, url) => {
    if (!(await operator(req, res, 'getAccessRequest'))) return;
    const id = decodeURIComponent(url.pathname.slice(`${OPERATOR_PREFIX}/accessrequests/`.length));
    const request = await deps.accessRequests.get(id);
    if (!request) return sendError(res, 404, brokerError('not-found', `No access request ${id}.`));
    sendJson(res, 200, request);
  };

  return {
    exact: new Map<string, Route>([
      [`GET ${OPERATOR_PREFIX}/grants`, listGrants],
      [`POST ${OPERATOR_PREFIX}/revocations`, revokeMany],
      [`GET ${OPERATOR_PREFIX}/freeze`, freezeState],
      [`POST ${OPERATOR_PREFIX}/freeze`, freeze],
      [`DELETE ${OPERATOR_PREFIX}/freeze`, unfreeze],
      [`POST ${OPERATOR_PREFIX}/accessrequests`, createRequest],
    ]),
    byId: new Map<string, Route>([
      [`DELETE ${OPERATOR_PREFIX}/grants/`, revokeOne],
      [`GET ${OPERATOR_PREFIX}/accessrequests/`, getRequest],
    ]),
  };
}
