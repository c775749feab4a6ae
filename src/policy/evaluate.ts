// evaluate: (policy, identity, attributes, body summary) → allow, approve or deny, with a reason
// code from the table. Pure: the broker supplies the installation's facts and owns the clock.
import type { RequestAttributes } from '../contracts/attributes.ts';
import { durationSeconds } from '../contracts/access-request.ts';
import type { BodySummary } from '../contracts/decision.ts';
import { isClusterWide } from '../contracts/rbac.ts';
import { Reasons, type ReasonCode } from '../contracts/reasons.ts';
import { checkGuardrails, type GuardrailContext } from './guardrails.ts';
import { forbiddenInRule } from './guardrail-rules.ts';
import { compareSpecificity, matchRule, requestScope, ruleScope, type PolicyScope, type Specificity } from './match.ts';
import type { AccessPolicy, PolicyIdentity, PolicyRuleEntry } from './schema.ts';

/** The answer of policy for one request. `rule` names the deciding rule, when one decided. */
export interface PolicyDecision {
  outcome: 'allow' | 'approve' | 'deny';
  code: ReasonCode;
  message: string;
  rule?: string;
  /** allow: what to grant now; approve: what the approval grants (the request, unless the rule says `scope: rule`). */
  scope?: PolicyScope;
  ttlMs?: number;
  /** approve: who may decide; empty means the broker's configured approvers. */
  approvers?: string[];
}

/** The installation's facts; by default agentgate lives in `agentgate-system` and only the agent's own namespace counts as injected. */
export type EvaluateContext = Partial<GuardrailContext>;

const DEFAULT_AGENTGATE_NAMESPACE = 'agentgate-system';

const ttlMs = (ttl: string): number => (durationSeconds(ttl) ?? 0) * 1000;

/** The matching rules of one outcome class, most specific first (file order breaks ties). */
function ranked(policy: AccessPolicy, identity: PolicyIdentity, a: RequestAttributes, keep: (r: PolicyRuleEntry) => boolean): PolicyRuleEntry[] {
  const hits: Array<{ rule: PolicyRuleEntry; spec: Specificity; index: number }> = [];
  policy.rules.forEach((rule, index) => {
    if (!keep(rule)) return;
    const spec = matchRule(rule.match, identity, a);
    if (spec !== undefined) hits.push({ rule, spec, index });
  });
  return hits.sort((x, y) => compareSpecificity(y.spec, x.spec) || x.index - y.index).map((h) => h.rule);
}

/**
 * Drops from an on-demand grant what guardrails forbid there: agentgate's namespace, and namespaces
 * without injection when the rules could create workloads. Undefined when nothing is left.
 */
function narrowGrant(scope: PolicyScope, ctx: GuardrailContext): PolicyScope | undefined {
  if (isClusterWide(scope.namespaces)) return undefined;
  const writesWorkloads = scope.rules.some((r) => r.verbs.some((v) => v === '*' || v === 'create' || v === 'update' || v === 'patch'));
  const namespaces = scope.namespaces.filter((ns) => ns !== ctx.agentgateNamespace && (!writesWorkloads || ctx.isInjectedNamespace(ns)));
  if (namespaces.length === 0 || scope.rules.some((r) => forbiddenInRule(r, 'grant').length > 0)) return undefined;
  return { rules: scope.rules, namespaces };
}

function approval(code: ReasonCode, message: string, scope: PolicyScope, ttl: string, approvers: readonly string[], rule?: string): PolicyDecision {
  return { outcome: 'approve', code, message, ...(rule !== undefined ? { rule } : {}), scope, ttlMs: ttlMs(ttl), approvers: [...approvers] };
}

/**
 * Decides one request. The order, which no policy can change:
 * 1. Guardrails that deny (guardrails.ts): refused, whatever the rules say.
 * 2. Deny rules: any matching deny rule refuses, however specific an allow rule is (the most
 *    specific deny rule gives the reason).
 * 3. Guardrails that need approval (exposure): approval, or refusal when the policy's `exposure`
 *    is `deny`; a matching approve rule lends its approvers and TTL.
 * 4. The most specific matching allow or approve rule (see Specificity in match.ts; ties go to
 *    the earlier rule). An allow whose scope would reach a guardrail or leave named namespaces
 *    becomes an approval instead: on-demand grants never widen past what the rule names.
 * 5. The policy's default: approval (or deny, when the policy says so). Never allow.
 */
export function evaluate(policy: AccessPolicy, identity: PolicyIdentity, attributes: RequestAttributes, body?: BodySummary, context: EvaluateContext = {}): PolicyDecision {
  const ctx: GuardrailContext = {
    agentgateNamespace: context.agentgateNamespace ?? DEFAULT_AGENTGATE_NAMESPACE,
    isInjectedNamespace: context.isInjectedNamespace ?? ((ns) => ns === identity.namespace),
  };
  const guardrails = checkGuardrails(attributes, body, ctx);
  const refusal = guardrails.find((g) => g.outcome === 'deny');
  if (refusal) return { outcome: 'deny', code: refusal.code, message: refusal.message };

  const deny = ranked(policy, identity, attributes, (r) => r.outcome === 'deny')[0];
  if (deny) return { outcome: 'deny', code: 'policy-deny', message: deny.reason ?? Reasons['policy-deny'], rule: deny.name };

  const rules = ranked(policy, identity, attributes, (r) => r.outcome !== 'deny');
  const best = rules[0];
  const fallback = policy.default;
  const exposure = guardrails.find((g) => g.outcome === 'approve');
  if (exposure) {
    if (policy.exposure === 'deny') return { outcome: 'deny', code: exposure.code, message: exposure.message.replace('needs a human approval', 'is refused by policy') };
    const approver = rules.find((r) => r.outcome === 'approve');
    return approval(exposure.code, exposure.message, requestScope(attributes), approver?.ttl ?? fallback.ttl, approver?.approvers ?? fallback.approvers, approver?.name);
  }

  if (best === undefined) {
    if (fallback.outcome === 'deny') return { outcome: 'deny', code: 'policy-no-rule', message: 'No policy rule covers this request, and this policy refuses what it does not name.' };
    return approval('policy-no-rule', Reasons['policy-no-rule'], requestScope(attributes), fallback.ttl, fallback.approvers);
  }
  const scope = best.scope === 'request' ? requestScope(attributes) : ruleScope(best.match, identity);
  const ttl = best.ttl ?? fallback.ttl;
  if (best.outcome === 'approve') return approval('policy-approval', best.reason ?? Reasons['policy-approval'], scope, ttl, best.approvers ?? fallback.approvers, best.name);

  const grant = narrowGrant(scope, ctx);
  if (grant === undefined) {
    // The loader refuses allow rules that could get here; a policy built in code still fails closed.
    return approval('policy-approval', `Rule "${best.name}" cannot grant this on demand (its scope reaches past named namespaces or a guardrail).`, requestScope(attributes), ttl, fallback.approvers, best.name);
  }
  return { outcome: 'allow', code: 'grant-created', message: best.reason ?? Reasons['grant-created'], rule: best.name, scope: grant, ttlMs: ttlMs(ttl) };
}
