/**
 * Reads of stored resources (get, list with selectors and paging, watch, deletecollection) and
 * the dispatch of a resource request to its handler by verb and subresource.
 */
import type { KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, methodNotAllowed, notFound, statusError } from './status.ts';
import { compileSelectors } from './selectors.ts';
import { isDryRun, respondList, respondObject, storeNamespace } from './handlers-objects.ts';
import { admit, createObject, deleteObject, removeObject, updateObject } from './handlers-write.ts';
import { patchObject } from './handlers-patch.ts';
import { serveWatch } from './watch.ts';
import { SUBRESOURCES } from './handlers-subresources.ts';

/** GET of one object. */
export function getObject(ctx: RequestContext): void {
  const found = ctx.state.store.get(ctx.key, storeNamespace(ctx), ctx.info.name);
  if (!found) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  respondObject(ctx, 200, found);
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', ...token })).toString('base64url');
}

function decodeContinue(value: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (typeof parsed.rv === 'number' && typeof parsed.start === 'string') return { rv: parsed.rv, start: parsed.start };
  } catch {
    // fall through to the real server's answer for a malformed token
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

function positionOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

/** The objects a collection request selects (namespace, label and field selectors). */
function selected(ctx: RequestContext): KubeObject[] {
  const q = ctx.info.query;
  const selector = compileSelectors(ctx.resource.resource, q.get('labelSelector'), q.get('fieldSelector'));
  const ns = ctx.resource.namespaced && ctx.info.namespace ? ctx.info.namespace : undefined;
  return ctx.state.store.list(ctx.key, ns).filter((o) => selector.matches(o));
}

/**
 * LIST with `limit`/`continue` paging. The continue token is opaque (base64 of the list's
 * resourceVersion and the last key); pages after the first show the current state rather than a
 * snapshot, an approximation of etcd's consistent pages.
 */
export function listObjects(ctx: RequestContext): void {
  const q = ctx.info.query;
  let items = selected(ctx);
  let rv = ctx.state.store.resourceVersion();
  const cont = q.get('continue');
  if (cont) {
    const token = decodeContinue(cont);
    rv = token.rv;
    items = items.filter((o) => positionOf(o) > token.start);
  }
  const limit = Number(q.get('limit') ?? '0');
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit: Invalid value: ${q.get('limit') ?? ''}: must be a non-negative integer`);
  const listMeta: Record<string, unknown> = { resourceVersion: String(rv) };
  if (limit > 0 && items.length > limit) {
    const page = items.slice(0, limit);
    const last = page[page.length - 1];
    if (last) listMeta.continue = encodeContinue({ rv, start: positionOf(last) });
    if (!q.get('labelSelector') && !q.get('fieldSelector')) listMeta.remainingItemCount = items.length - limit;
    items = page;
  }
  respondList(ctx, items, listMeta);
}

/** WATCH on a collection (or one object through `metadata.name`). */
export function watchObjects(ctx: RequestContext): void {
  const q = ctx.info.query;
  let fieldSelector = q.get('fieldSelector');
  // `/watch/namespaces/x/pods/name` watches one object: the same as a metadata.name selector.
  if (ctx.info.parts.length >= 2 && ctx.info.name) fieldSelector = [fieldSelector, `metadata.name=${ctx.info.name}`].filter(Boolean).join(',');
  const selector = compileSelectors(ctx.resource.resource, q.get('labelSelector'), fieldSelector);
  const ns = ctx.resource.namespaced && ctx.info.namespace ? ctx.info.namespace : undefined;
  serveWatch(ctx, { namespace: ns, selector });
}

/** DELETE on a collection: each selected object goes through admission; answers the deleted list. */
export async function deleteCollection(ctx: RequestContext): Promise<void> {
  const dryRun = isDryRun(ctx);
  const deleted: KubeObject[] = [];
  for (const o of selected(ctx)) {
    const options: KubeObject = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', metadata: {} };
    if (dryRun) options.dryRun = ['All'];
    await admit(ctx, 'DELETE', undefined, o, dryRun, options);
    const gone = dryRun ? o : removeObject(ctx, ctx.key, o.metadata.namespace ?? '', o.metadata.name ?? '');
    if (gone) deleted.push(gone);
  }
  respondList(ctx, deleted, { resourceVersion: String(ctx.state.store.resourceVersion()) });
}

const NOT_ALLOWED = 'the server does not allow this method on the requested resource';

/** Routes a resource request of a stored resource by subresource and verb. */
export async function handleStored(ctx: RequestContext): Promise<void> {
  const { info, resource } = ctx;
  if (info.subresource) {
    const sub = SUBRESOURCES[`${resource.resource}/${info.subresource}`] ?? SUBRESOURCES[`*/${info.subresource}`];
    if (!(info.subresource in resource.subresources) || !sub) throw statusError(404, 'NotFound', 'the server could not find the requested resource');
    const handler = sub[info.verb];
    if (!handler) throw methodNotAllowed(NOT_ALLOWED);
    await handler(ctx);
    return;
  }
  if (!resource.verbs.includes(info.verb)) throw methodNotAllowed(NOT_ALLOWED);
  switch (info.verb) {
    case 'get': return getObject(ctx);
    case 'list': return listObjects(ctx);
    case 'watch': return watchObjects(ctx);
    case 'create':
      if (info.parts.length > 1) throw methodNotAllowed(NOT_ALLOWED);
      return createObject(ctx);
    case 'update': return updateObject(ctx);
    case 'patch': return patchObject(ctx);
    case 'delete': return deleteObject(ctx);
    case 'deletecollection': return deleteCollection(ctx);
    default: throw methodNotAllowed(NOT_ALLOWED);
  }
}
