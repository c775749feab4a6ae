// Settling an access request: a human's yes turns it into a grant (its scope resolved into rules
// now, a role reference included), a no ends it. The approvals issue (Slack) calls these; until
// then tests and operators' tooling do.
import type { AccessRequest } from '../contracts/access-request.ts';
import { durationSeconds } from '../contracts/access-request.ts';
import { resolveScope, type GrantLifecycle, type GrantStore, type RoleReader } from '../grants/index.ts';
import type { AccessRequestStore } from './accessrequests.ts';
import { DecisionUnavailableError } from './decide.ts';

/** What settling needs. */
export interface SettleDeps {
  accessRequests: AccessRequestStore;
  store: GrantStore;
  lifecycle: GrantLifecycle;
  roles: RoleReader;
  /** No grant lasts longer than this (default: what the request asks). */
  maxGrantTtlMs?: number;
}

/**
 * Grants a pending (or approved) request on behalf of `approvedBy`. Undefined when the request
 * does not exist; a request already at another end is returned unchanged. Refused while frozen.
 */
export async function grantAccessRequest(deps: SettleDeps, id: string, approvedBy: string): Promise<AccessRequest | undefined> {
  const request = await deps.accessRequests.get(id);
  if (request === undefined) return undefined;
  if (request.status.phase !== 'Pending' && request.status.phase !== 'Approved') return request;
  if ((await deps.store.frozen()) !== undefined) throw new DecisionUnavailableError('agentgate is frozen: no access request can be granted until an operator lifts the freeze.');
  const { spec } = request;
  const scope = await resolveScope({ ...(spec.rules ? { rules: spec.rules } : {}), ...(spec.roleRef ? { roleRef: spec.roleRef } : {}), namespaces: spec.namespaces }, deps.roles);
  const ttlMs = Math.min((durationSeconds(spec.duration) ?? 0) * 1000, deps.maxGrantTtlMs ?? Number.MAX_SAFE_INTEGER);
  const { grant } = await deps.lifecycle.issue({
    identity: request.identity,
    rules: scope.rules,
    namespaces: scope.namespaces,
    reason: spec.reason,
    ttlMs,
    approvedBy,
    accessRequestId: request.id,
    ...(scope.roleRef ? { roleRef: scope.roleRef } : {}),
  });
  return (await deps.accessRequests.settle(id, { phase: 'Granted', grantId: grant.id, decidedBy: approvedBy })) ?? request;
}

/** Denies a pending request; undefined when it does not exist. */
export async function denyAccessRequest(deps: Pick<SettleDeps, 'accessRequests'>, id: string, deniedBy: string, message?: string): Promise<AccessRequest | undefined> {
  const request = await deps.accessRequests.get(id);
  if (request === undefined) return undefined;
  return (await deps.accessRequests.settle(id, { phase: 'Denied', decidedBy: deniedBy, ...(message ? { message: message.slice(0, 1000) } : {}) })) ?? request;
}
