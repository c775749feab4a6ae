// Guardrails: what no policy rule can switch off, checked on a request's attributes and on the
// summary of its body. This early check gives the agent a clear refusal; the validating webhook
// enforces the same guardrails on the final object, so an absent or truncated body proves nothing.
import type { RequestAttributes } from '../contracts/attributes.ts';
import type { BodySummary } from '../contracts/decision.ts';
import { Reasons, type ReasonCode } from '../contracts/reasons.ts';
import { forbiddenInRule, isAgentgateName } from './guardrail-rules.ts';

/** What the guardrails need to know about the installation. */
export interface GuardrailContext {
  /** The namespace agentgate runs in (configuration `webhook.namespace`). */
  agentgateNamespace: string;
  /**
   * Whether a namespace is labelled for injection (`agentgate.io/inject=enabled`). Synchronous:
   * the broker answers it from its watch of namespaces. Unknown namespaces must answer false.
   */
  isInjectedNamespace: (namespace: string) => boolean;
}

/** A broken guardrail: `deny` always refuses; `approve` needs a human whatever the rules say. */
export interface GuardrailViolation {
  code: ReasonCode;
  outcome: 'deny' | 'approve';
  message: string;
}

const RBAC = 'rbac.authorization.k8s.io';
const WRITES: ReadonlySet<string> = new Set(['create', 'update', 'patch']);
const MUTATIONS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const WEBHOOK_RESOURCES: ReadonlySet<string> = new Set([
  'mutatingwebhookconfigurations',
  'validatingwebhookconfigurations',
  'validatingadmissionpolicies',
  'validatingadmissionpolicybindings',
  'mutatingadmissionpolicies',
  'mutatingadmissionpolicybindings',
]);
/** Resources whose objects make pods: a pod created from them in a namespace without injection escapes the gate. */
const WORKLOADS: ReadonlySet<string> = new Set(['/pods', '/replicationcontrollers', 'apps/deployments', 'apps/replicasets', 'apps/statefulsets', 'apps/daemonsets', 'batch/jobs', 'batch/cronjobs']);

function violation(code: ReasonCode, outcome: 'deny' | 'approve' = 'deny', detail?: string): GuardrailViolation {
  return { code, outcome, message: detail === undefined ? Reasons[code] : `${Reasons[code]} ${detail}` };
}

/** Guardrails read from the request line alone. */
function requestGuardrails(a: RequestAttributes, body: BodySummary | undefined, ctx: GuardrailContext): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  const { verb, apiGroup: group, resource, subresource: sub } = a;
  // Attributes from a SubjectAccessReview or impersonation headers can carry these verbs.
  if (verb === 'escalate') out.push(violation('verb-escalate'));
  if (verb === 'bind') out.push(violation('verb-bind'));
  if (verb === 'impersonate') out.push(violation('verb-impersonate'));
  if (!a.isResourceRequest) return out;
  const name = a.name !== '' ? a.name : (body?.name ?? '');
  const namespace = a.namespace !== '' ? a.namespace : (body?.namespace ?? '');

  if (namespace === ctx.agentgateNamespace || (group === '' && resource === 'namespaces' && name === ctx.agentgateNamespace)) {
    out.push(violation('agentgate-namespace'));
  }
  if (group === '' && resource === 'serviceaccounts' && sub === 'token') out.push(violation('serviceaccount-token'));
  if (group === '' && resource === 'nodes' && (sub === 'proxy' || verb === 'proxy')) out.push(violation('nodes-proxy'));
  if (group === 'certificates.k8s.io' && resource === 'certificatesigningrequests' && sub === 'approval' && MUTATIONS.has(verb)) out.push(violation('csr-approval'));
  if (group === 'certificates.k8s.io' && resource === 'signers' && verb === 'approve') out.push(violation('csr-approval'));
  if (group === '' && resource === 'namespaces' && sub === '' && (verb === 'delete' || verb === 'deletecollection')) out.push(violation('namespace-delete'));

  // agentgate's webhook configurations and cluster RBAC: any verb on them by name; deletecollection
  // would take them with the rest.
  const agentgateObject = isAgentgateName(name) || verb === 'deletecollection';
  if (group === 'admissionregistration.k8s.io' && WEBHOOK_RESOURCES.has(resource) && agentgateObject) out.push(violation('agentgate-webhook'));
  if (group === RBAC && (resource === 'clusterroles' || resource === 'clusterrolebindings') && agentgateObject) out.push(violation('agentgate-rbac'));
  // Namespaced agentgate-* Roles and RoleBindings are the per-grant ones: changing one would widen a grant.
  if (group === RBAC && (resource === 'roles' || resource === 'rolebindings') && MUTATIONS.has(verb) && agentgateObject) out.push(violation('agentgate-rbac'));

  const workload = WORKLOADS.has(`${group}/${resource}`) && (sub === '' || sub === 'ephemeralcontainers');
  if ((workload || body?.podSpec !== undefined) && WRITES.has(verb) && namespace !== '' && !ctx.isInjectedNamespace(namespace)) {
    out.push(violation('workload-not-injected', 'deny', `Namespace "${namespace}" is not labelled for injection.`));
  }
  return out;
}

/** Guardrails read from the body summary of a write. */
function bodyGuardrails(a: RequestAttributes, body: BodySummary): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  if (!WRITES.has(a.verb)) return out;
  if (body.roleRef !== undefined) {
    const ref = body.roleRef;
    if (ref.kind === 'ClusterRole' && ref.name === 'cluster-admin') out.push(violation('binds-cluster-admin'));
    if (isAgentgateName(ref.name)) out.push(violation('agentgate-rbac', 'deny', `The binding refers to ${ref.kind} "${ref.name}".`));
  }
  if ((body.subjects ?? []).some((s) => s.kind === 'Group' && s.name === 'system:masters')) out.push(violation('binds-system-masters'));
  for (const rule of body.rules ?? []) {
    for (const f of forbiddenInRule(rule, 'body')) {
      if (!out.some((v) => v.code === f.code)) out.push(violation(f.code, 'deny', `The role ${f.message}.`));
    }
  }
  const pod = body.podSpec;
  if (pod !== undefined) {
    if (pod.privileged) out.push(violation('privileged-pod'));
    if (pod.hostPath) out.push(violation('host-path'));
    if (pod.hostNamespaces.length > 0) out.push(violation('host-namespace', 'deny', `It asks for: ${pod.hostNamespaces.join(', ')}.`));
    if (pod.hostPorts.length > 0) out.push(violation('exposure-host-port', 'approve', `Host ports: ${pod.hostPorts.join(', ')}.`));
  }
  if (body.secretType === 'kubernetes.io/service-account-token') out.push(violation('service-account-token-secret'));
  if (body.serviceType === 'NodePort') out.push(violation('exposure-node-port', 'approve'));
  if (body.serviceType === 'LoadBalancer') out.push(violation('exposure-load-balancer', 'approve'));
  return out;
}

/**
 * Every guardrail the request breaks, refusals first. A body is read for what it says; what it
 * leaves out (a truncated summary, a patch that does not repeat the pod spec) is the webhook's to
 * check on the final object.
 */
export function checkGuardrails(attributes: RequestAttributes, body: BodySummary | undefined, context: GuardrailContext): GuardrailViolation[] {
  const found = requestGuardrails(attributes, body, context);
  if (body !== undefined) found.push(...bodyGuardrails(attributes, body));
  return [...found.filter((v) => v.outcome === 'deny'), ...found.filter((v) => v.outcome === 'approve')];
}
