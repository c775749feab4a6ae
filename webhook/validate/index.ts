// The validating webhook's decision on the final object (after every mutating webhook, patch
// type and server-side apply): agent pods must carry a correct sidecar, and grant identities
// must stay inside the guardrails. Pure: lookups arrive as inputs.
import type { AdmissionRequest } from '../admission.ts';
import { obj, str } from '../inject/json.ts';
import type { InjectOptions } from '../inject/options.ts';
import { injectPod } from '../inject/pod.ts';
import { combine, SERVICE_ACCOUNT_TOKEN_TYPE, type Refusal, type SecretTypes } from '../inject/refusals.ts';
import { isAgentPod } from '../inject/select.ts';
import { injectEphemeral, isInjected, reviewPodUpdate } from '../inject/update.ts';
import { grantIdentityPredicate, type GrantIdentityPredicate } from './grant-identity.ts';
import { bindingFindingsForAll, bindingGuardrails, roleGuardrails } from './rbac.ts';
import { podSpecGuardrails, podSpecOf } from './workloads.ts';

export { grantIdentityPredicate, DEFAULT_EKS_SESSION_PREFIX, GRANT_SERVICE_ACCOUNT_PREFIX, type GrantIdentityPredicate } from './grant-identity.ts';

/** The validating webhook's settings. */
export interface ValidateOptions {
  inject: InjectOptions;
  isGrantIdentity: GrantIdentityPredicate;
  /** agentgate's own webhook configurations (mutating and validating), guarded by name. */
  webhookConfigurationNames: readonly string[];
}

/** Builds the options; the grant-identity predicate defaults to `grantIdentityPredicate`. */
export function validateOptions(inject: InjectOptions, values: Partial<Omit<ValidateOptions, 'inject'>> = {}): ValidateOptions {
  return Object.freeze({
    inject,
    isGrantIdentity: values.isGrantIdentity ?? grantIdentityPredicate(inject.agentgateNamespace),
    webhookConfigurationNames: values.webhookConfigurationNames ?? ['agentgate'],
  });
}

/** What the server looked up for this request. */
export interface ValidateInputs {
  /** Labels of the request's namespace (empty for cluster-scoped requests). */
  namespaceLabels: Record<string, string>;
  /** Types of the Secrets the pod uses, for pods. */
  secretTypes: SecretTypes;
}

const WEBHOOK_RESOURCES = new Set(['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']);

function isPodRequest(request: AdmissionRequest): boolean {
  return request.resource.group === '' && request.resource.resource === 'pods';
}

/**
 * The agent-pod check: the final pod must be exactly what injection makes of it (injecting it
 * again changes nothing), so a later webhook that removed or altered the sidecar, restored a
 * token volume or switched the account is caught. A mutating webhook that edits the sidecar
 * itself (adds env or resources to it) is caught too: the sidecar is compared whole.
 */
function agentPodFindings(request: AdmissionRequest, options: ValidateOptions, inputs: ValidateInputs): Refusal[] {
  const sub = request.subResource ?? '';
  const pod = request.object;
  const namespace = request.namespace ?? '';
  if (request.operation === 'UPDATE' && sub === '') {
    const result = reviewPodUpdate(request.oldObject, pod, options.inject);
    return 'refused' in result ? [result.refused] : [];
  }
  if (request.operation === 'UPDATE' && sub === 'ephemeralcontainers') {
    const result = injectEphemeral(request.oldObject, pod, options.inject, inputs.secretTypes);
    if ('refused' in result) return [result.refused];
    return result.patch.length > 0 ? [{ code: 'sidecar-missing', message: `debug container changed after injection at ${result.patch[0]?.path ?? ''}: it needs agentgate's env and mount` }] : [];
  }
  if (request.operation !== 'CREATE' || sub !== '') return [];
  if (!isAgentPod(obj(pod), inputs.namespaceLabels, options.inject)) return [];
  if (!isInjected(pod, options.inject)) {
    return [{ code: 'sidecar-missing', message: `pod has no ${options.inject.layout.sidecar.containerName} init container: check that agentgate's mutating webhook runs for this namespace` }];
  }
  const result = injectPod(pod, namespace, options.inject, inputs.secretTypes);
  if ('refused' in result) return [result.refused];
  const [first] = result.patch;
  if (!first) return [];
  return [{ code: 'sidecar-missing', message: `the pod was changed after agentgate injected it (${first.op} ${first.path}): a later mutating webhook undid part of the injection` }];
}

function grantFindings(request: AdmissionRequest, options: ValidateOptions): Refusal[] {
  const out: Refusal[] = [];
  const { group, resource } = request.resource;
  const agentgateNamespace = options.inject.agentgateNamespace;
  const name = request.name ?? str(obj(obj(request.object ?? request.oldObject).metadata).name) ?? '';
  if (request.namespace === agentgateNamespace || (group === '' && resource === 'namespaces' && name === agentgateNamespace)) {
    out.push({ code: 'agentgate-namespace', message: `namespace ${agentgateNamespace} is agentgate's own: grant identities cannot write to it` });
  }
  if (group === 'admissionregistration.k8s.io' && WEBHOOK_RESOURCES.has(resource) && options.webhookConfigurationNames.includes(name)) {
    out.push({ code: 'agentgate-webhook', message: `${resource} ${name} is agentgate's: grant identities cannot change it` });
  }
  const sub = request.subResource ?? '';
  // A TokenRequest by a grant identity could mint a token with the broker's audience for the
  // agent account, bound to the agent's own pod: the broker would take it for the sidecar.
  if (group === '' && resource === 'serviceaccounts' && sub === 'token') {
    out.push({ code: 'serviceaccount-token', message: `serviceaccounts/${name}/token: grant identities cannot request service-account tokens` });
  }
  if (isServiceAccountTokenSecret(request)) {
    out.push({ code: 'service-account-token-secret', message: `Secret ${name} is of type ${SERVICE_ACCOUNT_TOKEN_TYPE}: grant identities cannot create service-account tokens` });
  }
  // DELETE carries no object: only the checks above apply to it.
  if (request.object === undefined || request.object === null || (sub !== '' && sub !== 'ephemeralcontainers')) return out;
  const { kind } = request.kind;
  const template = podSpecOf(request.kind.group, kind, request.object);
  if (template) out.push(...podSpecGuardrails(template.spec, template.path));
  if (request.kind.group === 'rbac.authorization.k8s.io') out.push(...bindingGuardrails(kind, request.object), ...roleGuardrails(kind, request.object));
  return out;
}

/** A Secret of the service-account-token type being written: the token controller fills it with a long-lived token. */
function isServiceAccountTokenSecret(request: AdmissionRequest): boolean {
  return request.resource.group === '' && request.resource.resource === 'secrets' && (request.subResource ?? '') === '' && obj(request.object).type === SERVICE_ACCOUNT_TOKEN_TYPE;
}

/**
 * A service-account-token Secret in a namespace labelled for injection, by any writer. The pod
 * check looks Secret types up at admission only: a pod may name a Secret that does not exist yet
 * (the kubelet waits for it), or one deleted and re-created later as a token Secret (the kubelet
 * refreshes Secret volumes, and re-reads env on a restart). Refusing the Secret closes that gap.
 */
function labelledNamespaceFindings(request: AdmissionRequest, options: ValidateOptions, inputs: ValidateInputs): Refusal[] {
  const { labels } = options.inject.layout;
  if (!isServiceAccountTokenSecret(request) || inputs.namespaceLabels[labels.namespaceInject] !== labels.namespaceInjectValue) return [];
  const name = request.name ?? str(obj(obj(request.object).metadata).name) ?? '';
  return [{ code: 'service-account-token-secret', message: `Secret ${name} is of type ${SERVICE_ACCOUNT_TOKEN_TYPE} in a namespace labelled for agentgate: agent pods there could mount it and reach the API around the sidecar; keep such Secrets out of agent namespaces` }];
}

/**
 * Decides a validating review: the refusal (first finding's code, every finding's message), or
 * undefined to allow. Agent-pod checks apply to every writer; guardrails to grant identities.
 */
export function validateAdmission(request: AdmissionRequest, options: ValidateOptions, inputs: ValidateInputs): Refusal | undefined {
  const findings: Refusal[] = [];
  if (isPodRequest(request)) findings.push(...agentPodFindings(request, options, inputs));
  findings.push(...labelledNamespaceFindings(request, options, inputs));
  if (request.kind.group === 'rbac.authorization.k8s.io' && request.object) {
    findings.push(...bindingFindingsForAll(request.kind.kind, request.object, options.inject.layout.serviceAccountName));
  }
  if (options.isGrantIdentity(request.userInfo)) findings.push(...grantFindings(request, options));
  return combine(findings);
}
