// From a decoded AdmissionReview to its answer, for both webhooks: which library call a request
// goes to, and the lookups it needs (namespace labels, Secret types) done before the pure call.
import { allowed, denied, patched, type AdmissionRequest, type AdmissionReviewResponse } from './admission.ts';
import { lookupSecretTypes, type SecretTypeLookup } from './inject/index.ts';
import { obj } from './inject/json.ts';
import type { InjectOptions } from './inject/options.ts';
import { injectPod } from './inject/pod.ts';
import type { SecretTypes } from './inject/refusals.ts';
import { isAgentPod } from './inject/select.ts';
import { injectEphemeral, reviewPodUpdate } from './inject/update.ts';
import { validateAdmission, type ValidateOptions } from './validate/index.ts';

/** The cluster lookups a review may need; each throws when it cannot answer. */
export interface ReviewLookups {
  /** The labels of a namespace. */
  namespaceLabels: (namespace: string) => Promise<Record<string, string>>;
  secretType: SecretTypeLookup;
  /**
   * Makes sure agentgate's zero-permission service account exists in `namespace` before an
   * injected pod is answered: the API server's ServiceAccount plugin runs again on reinvocation
   * and refuses a pod whose account is missing. Absent: the controller alone keeps it.
   */
  ensureServiceAccount?: (namespace: string) => Promise<void>;
}

/** What the lookups found for one request. */
export interface ReviewInputs {
  namespaceLabels: Record<string, string>;
  secretTypes: SecretTypes;
}

function isPod(request: AdmissionRequest): boolean {
  return request.resource.group === '' && request.resource.resource === 'pods';
}

function isSecretWrite(request: AdmissionRequest): boolean {
  return request.resource.group === '' && request.resource.resource === 'secrets' && (request.operation === 'CREATE' || request.operation === 'UPDATE');
}

/**
 * Runs the lookups a request needs: pods need their namespace's labels and the types of the
 * Secrets they use; Secret writes need the labels (a token Secret in an agent namespace is
 * refused); cluster-scoped and other requests need none.
 */
export async function reviewInputs(request: AdmissionRequest, lookups: ReviewLookups): Promise<ReviewInputs> {
  const namespace = request.namespace ?? '';
  if (namespace !== '' && isSecretWrite(request)) return { namespaceLabels: await lookups.namespaceLabels(namespace), secretTypes: new Map() };
  if (!isPod(request) || namespace === '' || request.operation === 'DELETE') return { namespaceLabels: {}, secretTypes: new Map() };
  const [namespaceLabels, secretTypes] = await Promise.all([lookups.namespaceLabels(namespace), lookupSecretTypes(request.object, namespace, lookups.secretType)]);
  return { namespaceLabels, secretTypes };
}

/**
 * The mutating webhook's answer: CREATE of an agent pod is injected; UPDATE is checked against
 * the injection; a new debug container (pods/ephemeralcontainers) gets the agent env and mount.
 * Everything else the webhook may be sent is allowed unchanged.
 */
export function mutateReview(request: AdmissionRequest, options: InjectOptions, inputs: ReviewInputs): AdmissionReviewResponse {
  if (!isPod(request)) return allowed(request.uid);
  const sub = request.subResource ?? '';
  const namespace = request.namespace ?? '';
  let result;
  if (request.operation === 'CREATE' && sub === '') {
    if (!isAgentPod(obj(request.object), inputs.namespaceLabels, options)) return allowed(request.uid);
    result = injectPod(request.object, namespace, options, inputs.secretTypes);
  } else if (request.operation === 'UPDATE' && sub === '') {
    result = reviewPodUpdate(request.oldObject, request.object, options);
  } else if (request.operation === 'UPDATE' && sub === 'ephemeralcontainers') {
    result = injectEphemeral(request.oldObject, request.object, options, inputs.secretTypes);
  } else {
    return allowed(request.uid);
  }
  if ('refused' in result) return denied(request.uid, result.refused.code, result.refused.message);
  return patched(request.uid, result.patch, result.warnings);
}

/**
 * True when the answer injects a new pod for real: a patched CREATE that is not a dry run (a dry
 * run must have no side effects, so it never creates the service account).
 */
export function needsServiceAccount(request: AdmissionRequest, _inputs: ReviewInputs, answer: AdmissionReviewResponse): boolean {
  return isPod(request) && request.operation === 'CREATE' && (request.subResource ?? '') === '' && request.dryRun !== true && answer.response.allowed && answer.response.patch !== undefined;
}

/** The validating webhook's answer. */
export function validateReview(request: AdmissionRequest, options: ValidateOptions, inputs: ReviewInputs): AdmissionReviewResponse {
  const refusal = validateAdmission(request, options, inputs);
  return refusal ? denied(request.uid, refusal.code, refusal.message) : allowed(request.uid);
}
