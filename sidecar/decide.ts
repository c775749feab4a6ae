// Stage 3: the broker's decision for these attributes (allow under a live grant, needs approval,
// deny), reused from the cache while its grant lives, and the grant's credential from the stream.
// Every failure is a Status: the broker down or slow is a 503 within the client's time bound.
import { randomUUID } from 'node:crypto';
import { BROKER_API_VERSION, BrokerPaths, parseDecision, type BodySummary, type Credential, type Decision, type DecisionRequest } from '../src/contracts/index.ts';
import type { Status } from '../src/kube/status.ts';
import type { RequestAttributes } from '../src/request/index.ts';
import type { BrokerClient } from './broker.ts';
import { decisionKey, type GrantState, type LiveGrant } from './grants.ts';
import { refusal } from './refusals.ts';
import { describeRequest, scopeAllows } from './scope.ts';

/** An allowed request: the decision, the grant it runs under and the credential to forward with. */
export interface Allowed {
  decision: Decision;
  grant: LiveGrant;
  credential: Credential;
  cached: boolean;
}

/** A refused request: the Status for the agent and the decision, when the broker made one. */
export interface Refused {
  status: Status;
  decision?: Decision;
}

/** What one decision needs from the request. */
export interface DecisionInput {
  requestId: string;
  attributes: RequestAttributes;
  body?: BodySummary;
  /** False for requests with a body: the broker checks bodies against guardrails, so those answers are never reused. */
  cacheable: boolean;
  command?: string;
  sessionId?: string;
}

/** A decider bound to its broker and grant state. */
export interface Decider {
  /** Synchronous on a cache hit (the hot path), a promise otherwise. */
  decide(input: DecisionInput): Allowed | Refused | Promise<Allowed | Refused>;
  /** Asks the broker again, bypassing the cache, for a credential other than `refusedToken` (the API server refused it). */
  refresh(input: DecisionInput, grantId: string, refusedToken: string): Promise<Allowed | Refused>;
}

/** What the decider is bound to. */
export interface DeciderOptions {
  broker: BrokerClient;
  state: GrantState;
  podUid?: string;
  /** How long an allow waits for its credential on the stream. */
  credentialWaitMs?: number;
}

/** The exact command an agent runs to ask for what it lacks; agents read refusals and act on them. */
export function accessRequestCommand(a: RequestAttributes): string {
  const rule = a.isResourceRequest
    ? { verbs: [a.verb], apiGroups: [a.apiGroup], resources: [a.subresource ? `${a.resource}/${a.subresource}` : a.resource] }
    : { verbs: [a.verb], nonResourceURLs: [a.path] };
  const spec = { rules: [rule], namespaces: [a.namespace || '*'], duration: '30m', reason: 'say why you need it' };
  const body = JSON.stringify({ apiVersion: 'agentgate.io/v1alpha1', kind: 'AccessRequest', spec });
  return `echo '${body}' | kubectl create --raw /apis/agentgate.io/v1alpha1/accessrequests -f -`;
}

function refusedBy(decision: Decision, a: RequestAttributes): Refused {
  if (decision.outcome === 'approval-required') {
    const id = decision.approvalRequestId ?? '';
    const detail = `${decision.reason.message} Access request ${id} is waiting for a human; check it with: kubectl get --raw /apis/agentgate.io/v1alpha1/accessrequests/${id}`;
    return { status: refusal('approval-required', detail, { cause: decision.reason.code }), decision };
  }
  const ask = decision.reason.code === 'no-grant' || decision.reason.code === 'policy-no-rule' ? ` To ask for ${describeRequest(a)}: ${accessRequestCommand(a)}` : '';
  return { status: refusal('decision-deny', `${decision.reason.message}${ask}`, { cause: decision.reason.code }), decision };
}

/** Builds the decider. */
export function createDecider(options: DeciderOptions): Decider {
  const { broker, state } = options;
  const credentialWaitMs = options.credentialWaitMs ?? broker.timeoutMs;

  function inScope(decision: Decision, grant: LiveGrant, credential: Credential, a: RequestAttributes, cached: boolean): Allowed | Refused {
    if (!scopeAllows(grant, a)) {
      return { status: refusal('out-of-scope', `grant ${grant.id} does not cover ${describeRequest(a)}. To ask for it: ${accessRequestCommand(a)}`, { cause: 'out-of-scope' }), decision };
    }
    return { decision, grant, credential, cached };
  }

  async function ask(input: DecisionInput, key: string | undefined, except?: string): Promise<Allowed | Refused> {
    const message: DecisionRequest = { apiVersion: BROKER_API_VERSION, requestId: input.requestId, attributes: input.attributes };
    if (options.podUid !== undefined) message.identity = { podUid: options.podUid };
    if (input.body !== undefined) message.body = input.body;
    if (input.command !== undefined) message.command = input.command.slice(0, 1024);
    if (input.sessionId !== undefined) message.sessionId = input.sessionId.slice(0, 128);
    const answer = await broker.post(BrokerPaths.decisions, message, parseDecision);
    if (!answer.ok) {
      if (answer.kind === 'timeout') return { status: refusal('broker-timeout', answer.detail, { cause: 'broker-unavailable' }) };
      if (answer.kind === 'unavailable') return { status: refusal('broker-unavailable', answer.detail, { cause: 'broker-unavailable' }) };
      return { status: refusal('broker-refused', answer.detail, { cause: answer.error?.code ?? 'broker-refused', ...(answer.error?.retryAfterSeconds !== undefined ? { retryAfterSeconds: answer.error.retryAfterSeconds } : {}) }) };
    }
    const decision = answer.value;
    if (decision.outcome !== 'allow' || decision.grant === undefined) return refusedBy(decision, input.attributes);
    state.putGrant(decision.grant);
    const grant = state.grant(decision.grant.id);
    if (grant === undefined) return { status: refusal('grant-ended', `grant ${decision.grant.id} ended before the request could be forwarded`), decision };
    if (key !== undefined) state.remember(key, decision);
    const credential = await state.waitForCredential(grant.id, credentialWaitMs, except);
    if (credential === undefined) return { status: refusal('credential-missing', `grant ${grant.id}`), decision };
    return inScope(decision, grant, credential, input.attributes, false);
  }

  return {
    decide(input) {
      const key = input.cacheable ? decisionKey(input.attributes) : undefined;
      if (key !== undefined) {
        const decision = state.cached(key);
        if (decision?.grant !== undefined) {
          const grant = state.grant(decision.grant.id);
          const credential = grant && state.credential(grant.id);
          if (grant !== undefined && credential !== undefined) return inScope(decision, grant, credential, input.attributes, true);
        }
      }
      return ask(input, key);
    },
    refresh(input, grantId, refusedToken) {
      state.dropCredential(grantId, refusedToken);
      return ask({ ...input, requestId: `${input.requestId}.retry-${randomUUID().slice(0, 8)}` }, undefined, refusedToken);
    },
  };
}
