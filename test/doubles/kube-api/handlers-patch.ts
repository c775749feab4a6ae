/**
 * PATCH for stored resources and their status-like subresources: JSON, merge and strategic
 * patches applied to the stored object, and server-side apply (create-or-update by field manager).
 */
import type { KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, notFound, statusError } from './status.ts';
import { applyJsonPatch, applyMergePatch, patchTypeOf, strategicMerge } from './patch.ts';
import { checkFieldValidation, fieldManager, respondObject, storeNamespace } from './handlers-objects.ts';
import { decodeJson, decodeYaml, readBody } from './handlers-wire.ts';
import { checkTypeMeta, commitUpdate, createObject } from './handlers-write.ts';

type Json = Parameters<typeof applyMergePatch>[0];

function asObject(value: unknown, what: string): KubeObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest(`${what} is not a JSON object`);
  return value as KubeObject;
}

/**
 * PATCH: the four patch types. A patch that carries metadata.resourceVersion is a precondition
 * (409 when stale), as with update. Apply creates the object when it does not exist.
 */
export async function patchObject(ctx: RequestContext): Promise<void> {
  const type = patchTypeOf(ctx.req.headers['content-type']);
  const raw = await readBody(ctx.req);
  const old = ctx.state.store.get(ctx.key, storeNamespace(ctx), ctx.info.name);
  if (type === 'application/apply-patch+yaml') {
    await applyObject(ctx, old, asObject(decodeYaml(raw), 'apply patch'));
    return;
  }
  if (!old) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  const patch = decodeJson(raw);
  if (ctx.info.query.get('force') !== null) throw badRequest('force: Forbidden: may not be specified for non-apply patch');
  let next: KubeObject;
  if (type === 'application/json-patch+json') {
    next = asObject(applyJsonPatch(old as never, patch), 'patched object');
  } else {
    const body = asObject(patch, 'patch');
    checkFieldValidation(ctx, { ...old, ...body, metadata: { ...old.metadata, ...(body.metadata ?? {}) } });
    next = asObject(type === 'application/merge-patch+json' ? applyMergePatch(old as never, patch as Json) : strategicMerge(old as never, patch as Json), 'patched object');
    if (type === 'application/strategic-merge-patch+json' && !(ctx.key in STRATEGIC_KINDS)) {
      throw statusError(415, 'UnsupportedMediaType', `strategic merge patch is not supported for ${ctx.resource.kind}`);
    }
  }
  const precondition = (patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  if (typeof precondition !== 'string') next.metadata.resourceVersion = old.metadata.resourceVersion;
  respondObject(ctx, 200, await commitUpdate(ctx, old, next, { manager: fieldManager(ctx, false), operation: 'Update', subresource: ctx.info.subresource }));
}

/** Built-in kinds accept strategic merge patch (custom resources would not). */
const STRATEGIC_KINDS: Record<string, true> = Object.fromEntries(
  ['namespaces', 'pods', 'services', 'configmaps', 'secrets', 'serviceaccounts', 'events', 'deployments.apps', 'roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'clusterroles.rbac.authorization.k8s.io', 'clusterrolebindings.rbac.authorization.k8s.io', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', 'validatingwebhookconfigurations.admissionregistration.k8s.io'].map((k) => [k, true]),
);

/**
 * Server-side apply, approximately: `fieldManager` is required; a missing object is created
 * (201); an existing one gets the applied configuration merged in with strategic-merge semantics
 * and the manager's Apply entry replaced. Conflicts with other managers are not detected, so
 * `force` changes nothing, and fields a manager stops applying are not removed.
 */
async function applyObject(ctx: RequestContext, old: KubeObject | undefined, applied: KubeObject): Promise<void> {
  const manager = fieldManager(ctx, true);
  const force = ctx.info.query.get('force');
  if (force !== null && !['true', 'false'].includes(force)) throw badRequest(`force: Invalid value: "${force}": must be true or false`);
  checkFieldValidation(ctx, applied);
  checkTypeMeta(ctx, applied);
  if (applied.metadata.name && applied.metadata.name !== ctx.info.name) throw badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${ctx.info.name})`);
  applied.metadata.name = ctx.info.name;
  if (!old) {
    if (ctx.info.subresource) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
    await createObject(ctx, structuredClone(applied), manager, 'Apply');
    return;
  }
  const next = asObject(strategicMerge(old as never, applied as never), 'applied object');
  if (!applied.metadata.resourceVersion) next.metadata.resourceVersion = old.metadata.resourceVersion;
  respondObject(ctx, 200, await commitUpdate(ctx, old, next, { manager, operation: 'Apply', applied, subresource: ctx.info.subresource }));
}
