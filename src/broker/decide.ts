// One decision: frozen → deny; a guardrail → deny; a live grant that covers the request → allow
// under it; else policy: allow → a new grant now, approve → a pending access request, deny → deny.
// Redis failures propagate (the server answers 503, fail closed); every decision is audited.
import { randomUUID } from 'node:crypto';
import { AccessRequestSpecSchema, MAX_ACCESS_SECONDS, MIN_ACCESS_SECONDS } from '../contracts/access-request.ts';
import type { AuditEvent } from '../contracts/audit.ts';
import { BROKER_API_VERSION } from '../contracts/broker-v1.ts';
import type { Decision, DecisionRequest } from '../contracts/decision.ts';
import { identityKey } from '../contracts/identity.ts';
import { reason, type ReasonCode } from '../contracts/reasons.ts';
import type { Grant } from '../contracts/stream.ts';
import type { GrantLifecycle, GrantStore } from '../grants/index.ts';
import { evaluate } from '../policy/evaluate.ts';
import { checkGuardrails, type GuardrailContext } from '../policy/guardrails.ts';
import type { PolicyScope } from '../policy/match.ts';
import type { PolicyStore } from '../policy/load.ts';
import { formatDuration, type AccessRequestStore } from './accessrequests.ts';
import { grantCovers, ruleAllows } from './covers.ts';
import type { Caller } from './identity.ts';

/**
 * What kubectl and client libraries read before anything else. Discovery holds no secrets (API
 * groups, versions, schemas), and without it no client starts, so the broker grants these reads
 * on demand whatever the policy's default says; only a policy deny rule refuses them.
 */
export const DISCOVERY_URLS: readonly string[] = ['/api', '/api/*', '/apis', '/apis/*', '/version', '/version/', '/openapi', '/openapi/*'];

const DISCOVERY_RULE = { verbs: ['get'], nonResourceURLs: [...DISCOVERY_URLS] };

/** The broker cannot decide now (no policy loaded yet, the cluster refused a grant's objects). */
export class DecisionUnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DecisionUnavailableError';
  }
}

/** Options of {@link createDecider}. */
export interface DeciderOptions {
  store: GrantStore;
  lifecycle: GrantLifecycle;
  policy: PolicyStore;
  accessRequests: AccessRequestStore;
  /** Where each decision's audit event goes (the decision auditor batches them into the store). */
  audit: (event: AuditEvent) => void;
  /** The installation's facts for the guardrails (agentgate's namespace, injected namespaces). */
  guardrails: GuardrailContext;
  /** No grant lasts longer than this, whatever the policy says (default 8 h, the contract's maximum). */
  maxGrantTtlMs?: number;
  /** How long on-demand discovery grants last (default 30 min). */
  discoveryTtlMs?: number;
  /** How long a sidecar may reuse an allow (default 60 s; never past the grant's end). */
  cacheForMs?: number;
  now?: () => number;
}

/** Decides requests for identified sidecars. */
export interface Decider {
  decide(caller: Caller, request: DecisionRequest): Promise<Decision>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function describe(request: DecisionRequest): string {
  const a = request.attributes;
  if (!a.isResourceRequest) return `${a.verb} ${a.path}`;
  const resource = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.apiGroup ? `.${a.apiGroup}` : ''}`;
  return `${a.verb} ${resource}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` in namespace ${a.namespace}` : ' (cluster-wide)'}`;
}

/** Builds the decider. */
export function createDecider(options: DeciderOptions): Decider {
  const now = options.now ?? Date.now;
  const maxTtl = options.maxGrantTtlMs ?? MAX_ACCESS_SECONDS * 1000;
  const discoveryTtl = Math.min(options.discoveryTtlMs ?? 30 * 60_000, maxTtl);
  const cacheFor = options.cacheForMs ?? 60_000;
  // Concurrent requests of one agent for one scope (kubectl fires several) share one grant.
  const issuing = new Map<string, Promise<Grant>>();

  async function issue(caller: Caller, scope: PolicyScope, ttlMs: number, why: string): Promise<Grant> {
    const key = JSON.stringify([identityKey(caller.identity), scope]);
    let pending = issuing.get(key);
    if (pending === undefined) {
      pending = options.lifecycle
        .issue({ identity: identityKey(caller.identity), rules: scope.rules, namespaces: scope.namespaces, reason: why, ttlMs: Math.min(ttlMs, maxTtl) })
        .then((issued) => issued.grant)
        .finally(() => issuing.delete(key));
      issuing.set(key, pending);
    }
    return pending;
  }

  function allow(request: DecisionRequest, grant: Grant, code: ReasonCode, message?: string): Decision {
    const expires = Date.parse(grant.expiresAt);
    return {
      apiVersion: BROKER_API_VERSION,
      requestId: request.requestId,
      outcome: 'allow',
      reason: reason(code, message),
      grant: { id: grant.id, rules: grant.rules, namespaces: grant.namespaces, expiresAt: grant.expiresAt },
      credentialRef: { grantId: grant.id },
      cacheUntil: iso(Math.min(now() + cacheFor, expires)),
    };
  }

  const deny = (request: DecisionRequest, code: string, message: string): Decision => ({ apiVersion: BROKER_API_VERSION, requestId: request.requestId, outcome: 'deny', reason: { code, message } });

  async function approval(caller: Caller, request: DecisionRequest, scope: PolicyScope, ttlMs: number, code: string, message: string): Promise<Decision> {
    const seconds = Math.min(Math.max(Math.round(Math.min(ttlMs, maxTtl) / 1000), MIN_ACCESS_SECONDS), MAX_ACCESS_SECONDS);
    const why = `${describe(request)}${request.command ? ` (${request.command})` : ''}: ${message}`.slice(0, 1000);
    const spec = AccessRequestSpecSchema.safeParse({ rules: scope.rules, namespaces: scope.namespaces, duration: formatDuration(seconds * 1000), reason: why });
    // A scope that is no valid request (cannot happen with policy's scopes) is refused, never granted.
    if (!spec.success) return deny(request, code, `${message} (The approval could not be asked for: ${spec.error.issues[0]?.message ?? 'invalid scope'}.)`);
    const asked = await options.accessRequests.create({ identity: identityKey(caller.identity), spec: spec.data, dedupe: true });
    return { apiVersion: BROKER_API_VERSION, requestId: request.requestId, outcome: 'approval-required', reason: { code, message }, approvalRequestId: asked.id };
  }

  async function decideOnce(caller: Caller, request: DecisionRequest): Promise<Decision> {
    const a = request.attributes;
    // Both reads at once: one round trip of latency on the path every cache miss takes.
    const [frozen, grants] = await Promise.all([options.store.frozen(), options.store.listFor(identityKey(caller.identity))]);
    if (frozen !== undefined) return deny(request, 'frozen', reason('frozen').message);
    const policy = options.policy.current();
    if (policy === undefined) throw new DecisionUnavailableError('No valid policy has been loaded yet.');
    const refusal = checkGuardrails(a, request.body, options.guardrails).find((g) => g.outcome === 'deny');
    if (refusal) return deny(request, refusal.code, refusal.message);

    const live = grants.find((r) => grantCovers(r.grant, a));
    if (live) return allow(request, live.grant, 'grant-live');

    const identity = { connection: caller.identity.connection, namespace: caller.identity.namespace, agent: caller.identity.agent, profile: caller.profile };
    const result = evaluate(policy, identity, a, request.body, options.guardrails);
    const discovery = !a.isResourceRequest && ruleAllows(DISCOVERY_RULE, a);
    // Only a deny rule (or a guardrail, checked above) refuses discovery; a policy's deny default does not.
    if (discovery && (result.outcome !== 'deny' || result.code === 'policy-no-rule')) {
      const grant = await issue(caller, { rules: [structuredClone(DISCOVERY_RULE)], namespaces: ['*'] }, discoveryTtl, 'API discovery (groups, versions, OpenAPI), granted on demand: it holds no secrets.');
      return allow(request, grant, 'grant-created', 'Allowed: API discovery is granted on demand.');
    }
    if (result.outcome === 'deny') return deny(request, result.code, result.message);
    const scope = result.scope ?? { rules: [], namespaces: [] };
    const ttl = result.ttlMs ?? maxTtl;
    if (result.outcome === 'approve') return approval(caller, request, scope, ttl, result.code, result.message);
    const grant = await issue(caller, scope, ttl, result.message);
    if (!grantCovers(grant, a)) return approval(caller, request, scope, ttl, 'policy-approval', `The on-demand grant does not cover ${describe(request)}; a human decides.`);
    return allow(request, grant, 'grant-created', result.message);
  }

  return {
    async decide(caller, request) {
      const started = now();
      const decision = await decideOnce(caller, request);
      options.audit({
        id: randomUUID(),
        time: iso(started),
        identity: caller.identity,
        requestId: request.requestId,
        attributes: request.attributes,
        decision: { outcome: decision.outcome, code: decision.reason.code },
        ...(decision.grant ? { grantId: decision.grant.id } : {}),
        // The broker's own event: no HTTP answer went to the agent from here (the sidecar's event has it).
        response: { code: 0, bytes: 0, durationMs: Math.max(0, now() - started) },
        ...(request.command !== undefined ? { command: request.command } : {}),
        ...(request.sessionId !== undefined ? { sessionId: request.sessionId } : {}),
        masked: 0,
      });
      return decision;
    },
  };
}
