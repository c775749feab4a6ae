/**
 * The MutatingAdmissionWebhook and ValidatingAdmissionWebhook dispatchers: which configured hooks
 * run, in which order, with what AdmissionRequest, and how their answers become patches, warnings
 * and Status errors — reinvocation included. Test code only.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AdmissionAttributes, KubeObject, StoreReader } from './types.ts';
import { badRequest, statusError, type StatusError } from './status.ts';
import { shouldCall, type WebhookSpec } from './admission-match.ts';
import { callWebhook, CallingWebhookError, type WebhookClientOptions } from './admission-webhook-call.ts';
import { applyPatch, decodePatch, PatchApplyError } from './admission-patch.ts';

/** One webhook with the identity the reinvocation bookkeeping uses (configuration/name/index). */
export interface Hook {
  uid: string;
  webhook: WebhookSpec;
}

const MUTATING = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
const VALIDATING = 'validatingwebhookconfigurations.admissionregistration.k8s.io';

/** The hooks of every configuration of one kind, sorted by configuration name, then in listed order. */
export function listHooks(store: StoreReader, kind: 'mutating' | 'validating'): Hook[] {
  const configs = store.list(kind === 'mutating' ? MUTATING : VALIDATING).slice().sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  return configs.flatMap((config) => {
    const hooks = Array.isArray(config.webhooks) ? (config.webhooks as WebhookSpec[]) : [];
    return hooks.map((webhook, i) => ({ uid: `${config.metadata.name}/${webhook.name}/${i}`, webhook }));
  });
}

const EXEMPT_KINDS = new Set(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding']);

/** IsExemptAdmissionConfigurationResource: webhooks never see the objects that configure admission. */
export function isExemptFromWebhooks(attrs: AdmissionAttributes): boolean {
  return attrs.kind.group === 'admissionregistration.k8s.io' && EXEMPT_KINDS.has(attrs.kind.kind);
}

/** The AdmissionRequest (v1 field names and omitempty rules) for the current object, without uid. */
export function admissionRequest(attrs: AdmissionAttributes, object: KubeObject | undefined): Record<string, unknown> {
  const user: Record<string, unknown> = { username: attrs.userInfo.username };
  if (attrs.userInfo.uid) user.uid = attrs.userInfo.uid;
  if (attrs.userInfo.groups.length > 0) user.groups = attrs.userInfo.groups;
  if (attrs.userInfo.extra && Object.keys(attrs.userInfo.extra).length > 0) user.extra = attrs.userInfo.extra;
  return {
    kind: attrs.kind,
    resource: attrs.resource,
    ...(attrs.subResource ? { subResource: attrs.subResource } : {}),
    requestKind: attrs.kind,
    requestResource: attrs.resource,
    ...(attrs.subResource ? { requestSubResource: attrs.subResource } : {}),
    ...(attrs.name ? { name: attrs.name } : {}),
    ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
    operation: attrs.operation,
    userInfo: user,
    object: object ?? null,
    oldObject: attrs.oldObject ?? null,
    dryRun: attrs.dryRun,
    options: attrs.options ?? null,
  };
}

/** webhookerrors.ToStatusErr: the webhook's own Status, its message prefixed, its code at least 400. */
function rejection(name: string, result: Record<string, unknown> | undefined): StatusError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const code = typeof result?.code === 'number' && result.code >= 400 ? result.code : 400;
  const reason = typeof result?.reason === 'string' ? result.reason : '';
  const text = typeof result?.message === 'string' ? result.message : '';
  const message = text ? `${deniedBy}: ${text}` : reason ? `${deniedBy}: ${reason}` : `${deniedBy} without explanation`;
  const details = result?.details && typeof result.details === 'object' ? (result.details as StatusError['status']['details']) : undefined;
  const err = statusError(code, reason, message, details);
  // metav1.Status omits an empty reason; keep the wire form the same.
  if (!reason) Reflect.deleteProperty(err.status, 'reason');
  return err;
}

/** apierrors.NewInternalError(err). */
function internal(message: string): StatusError {
  return statusError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

function refuseDryRun(webhook: WebhookSpec, attrs: AdmissionAttributes): void {
  if (!attrs.dryRun) return;
  if (webhook.sideEffects !== 'None' && webhook.sideEffects !== 'NoneOnDryRun') {
    throw badRequest(`admission webhook "${webhook.name}" does not support dry run`);
  }
}

/**
 * The per-request reinvocation state of the mutating dispatcher (webhookReinvokeContext plus the
 * chain's reinvocation flags).
 */
export class Reinvocation {
  isReinvoke = false;
  shouldReinvoke = false;
  lastOutput: unknown = undefined;
  private previouslyInvoked = new Set<string>();
  private toReinvoke = new Set<string>();

  /** Every IfNeeded hook that ran before a change runs again in the second round. */
  requireReinvokingPreviouslyInvoked(): void {
    for (const uid of this.previouslyInvoked) this.toReinvoke.add(uid);
    this.previouslyInvoked.clear();
  }

  addReinvocable(uid: string): void {
    this.previouslyInvoked.add(uid);
  }

  shouldReinvokeWebhook(uid: string): boolean {
    return this.toReinvoke.has(uid);
  }
}

/** What the dispatchers need besides the request. */
export interface DispatchContext {
  store: StoreReader;
  client: WebhookClientOptions;
  warnings: string[];
  /** Applied after each patch, as the apiserver defaults the decoded object. */
  defaulter?: (obj: KubeObject) => KubeObject;
}

/** Runs the mutating hooks in order over `object`; returns the (possibly) patched object. */
export async function dispatchMutating(hooks: Hook[], attrs: AdmissionAttributes, object: KubeObject | undefined, state: Reinvocation, ctx: DispatchContext): Promise<KubeObject | undefined> {
  if (state.isReinvoke && !isDeepStrictEqual(state.lastOutput, object)) {
    // In-tree plugins changed the object in the second round: every eligible hook runs again.
    state.requireReinvokingPreviouslyInvoked();
  }
  let current = object;
  try {
    for (const { uid, webhook } of hooks) {
      const view = { ...attrs, object: current };
      if (!shouldCall(webhook, view, ctx.store, () => admissionRequest(attrs, current))) continue;
      // A hook is never called for the first time in the second round.
      if (state.isReinvoke && !state.shouldReinvokeWebhook(uid)) continue;
      const before = current;
      current = await callMutating(webhook, attrs, current, ctx);
      if (!isDeepStrictEqual(before, current)) {
        state.requireReinvokingPreviouslyInvoked();
        state.shouldReinvoke = true;
      }
      if (webhook.reinvocationPolicy === 'IfNeeded') state.addReinvocable(uid);
    }
  } finally {
    state.lastOutput = structuredClone(current);
  }
  return current;
}

async function callMutating(webhook: WebhookSpec, attrs: AdmissionAttributes, object: KubeObject | undefined, ctx: DispatchContext): Promise<KubeObject | undefined> {
  refuseDryRun(webhook, attrs);
  let response;
  try {
    response = await callWebhook(webhook, admissionRequest(attrs, object), ctx.client);
  } catch (err) {
    if (!(err instanceof CallingWebhookError)) throw err;
    if (webhook.failurePolicy === 'Ignore') return object;
    throw internal(err.message);
  }
  ctx.warnings.push(...response.warnings);
  if (!response.allowed) throw rejection(webhook.name, response.result);
  if (!response.patch || response.patch.length === 0) return object;
  try {
    const ops = decodePatch(response.patch);
    if (ops.length === 0) return object;
    if (!object) throw new PatchApplyError(`admission webhook "${webhook.name}" attempted to modify the object, which is not supported for this operation`);
    const patched = applyPatch(object, ops);
    return ctx.defaulter ? ctx.defaulter(patched) : patched;
  } catch (err) {
    if (err instanceof PatchApplyError) throw internal(err.message);
    throw err;
  }
}

/** Runs the matching validating hooks in parallel on the final object; the first refusal to arrive wins. */
export async function dispatchValidating(hooks: Hook[], attrs: AdmissionAttributes, ctx: DispatchContext): Promise<void> {
  const request = admissionRequest(attrs, attrs.object);
  const relevant = hooks.filter(({ webhook }) => shouldCall(webhook, attrs, ctx.store, () => request));
  const errors: StatusError[] = [];
  await Promise.all(relevant.map(async ({ webhook }) => {
    try {
      refuseDryRun(webhook, attrs);
      const response = await callWebhook(webhook, request, ctx.client);
      ctx.warnings.push(...response.warnings);
      if (!response.allowed) errors.push(rejection(webhook.name, response.result));
    } catch (err) {
      if (err instanceof CallingWebhookError) {
        if (webhook.failurePolicy !== 'Ignore') errors.push(internal(err.message));
        return;
      }
      errors.push(err as StatusError);
    }
  }));
  if (errors[0]) throw errors[0];
}
