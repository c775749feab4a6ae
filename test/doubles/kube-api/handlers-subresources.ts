/**
 * Subresource handlers, one table keyed `resource/subresource` then verb: status, scale,
 * ephemeralcontainers, log, token. Connect subresources (exec, attach, portforward, proxy) are an
 * extension point: they answer a clear Status until a handler is registered for them.
 */
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, notFound, statusError } from './status.ts';
import { applyJsonPatch, applyMergePatch, patchTypeOf, strategicMerge } from './patch.ts';
import { fieldManager, respondObject, storeNamespace } from './handlers-objects.ts';
import { decodeJson, decodeObjectBody, readBody, writeJson } from './handlers-wire.ts';
import { checkTypeMeta, commitUpdate } from './handlers-write.ts';
import { patchObject } from './handlers-patch.ts';
import { serveLogs } from './logs.ts';

/** A handler of one verb on one subresource. */
export type SubresourceHandler = (ctx: RequestContext) => void | Promise<void>;

function stored(ctx: RequestContext): KubeObject {
  const found = ctx.state.store.get(ctx.key, storeNamespace(ctx), ctx.info.name);
  if (!found) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  return found;
}

const getParent: SubresourceHandler = (ctx) => respondObject(ctx, 200, stored(ctx));

/** PUT of a status-like subresource: the body is the whole object; the commit keeps what the subresource may not change. */
const putParent: SubresourceHandler = async (ctx) => {
  const next = checkTypeMeta(ctx, decodeObjectBody(ctx.req.headers['content-type'], await readBody(ctx.req)));
  respondObject(ctx, 200, await commitUpdate(ctx, stored(ctx), next, { manager: fieldManager(ctx, false), operation: 'Update', subresource: ctx.info.subresource }));
};

function toScale(d: KubeObject): KubeObject {
  const spec = (d.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const status = (d.status ?? {}) as { replicas?: number };
  const selector = Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const m = d.metadata;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 }, status: { replicas: status.replicas ?? 0, selector },
  };
}

/** Writes a Scale back onto its deployment and answers the resulting Scale. */
async function commitScale(ctx: RequestContext, d: KubeObject, scale: KubeObject): Promise<void> {
  const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas;
  if (typeof replicas !== 'number' || replicas < 0) throw statusError(422, 'Invalid', `Scale.autoscaling "${ctx.info.name}" is invalid: spec.replicas: Invalid value: ${String(replicas)}: must be greater than or equal to 0`);
  const next = structuredClone(d);
  (next.spec as Record<string, unknown>).replicas = replicas;
  if (scale.metadata.resourceVersion) next.metadata.resourceVersion = scale.metadata.resourceVersion;
  const result = await commitUpdate(ctx, d, next, { manager: fieldManager(ctx, false), operation: 'Update', subresource: 'scale' });
  writeJson(ctx.res, 200, toScale(result), ctx.warnings);
}

const scaleHandlers: Record<string, SubresourceHandler> = {
  get: (ctx) => writeJson(ctx.res, 200, toScale(stored(ctx))),
  update: async (ctx) => {
    const body = decodeObjectBody(ctx.req.headers['content-type'], await readBody(ctx.req)) as KubeObject;
    await commitScale(ctx, stored(ctx), body);
  },
  patch: async (ctx) => {
    const type = patchTypeOf(ctx.req.headers['content-type']);
    const d = stored(ctx);
    const patch = decodeJson(await readBody(ctx.req));
    const current = toScale(d);
    let next: unknown;
    if (type === 'application/json-patch+json') next = applyJsonPatch(current as never, patch);
    else if (type === 'application/merge-patch+json') next = applyMergePatch(current as never, patch as never);
    else if (type === 'application/strategic-merge-patch+json') next = strategicMerge(current as never, patch as never);
    else throw badRequest('apply patches to scale are not supported by the API double');
    const scale = next as KubeObject;
    if (!(patch as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion) scale.metadata.resourceVersion = d.metadata.resourceVersion;
    await commitScale(ctx, d, scale);
  },
};

const tokenHandlers: Record<string, SubresourceHandler> = {
  create: async (ctx) => {
    const body = decodeObjectBody(ctx.req.headers['content-type'], await readBody(ctx.req));
    if (!ctx.state.store.get('serviceaccounts', ctx.info.namespace, ctx.info.name)) throw notFound('serviceaccounts', '', ctx.info.name);
    // The real server admits a TokenRequest like any create: CREATE on serviceaccounts/token,
    // kind authentication.k8s.io/v1 TokenRequest, so webhooks can refuse it.
    const request = body as Partial<KubeObject>;
    const object: KubeObject = {
      ...request,
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { ...(request.metadata ?? {}), name: ctx.info.name, namespace: ctx.info.namespace },
    };
    const admitted = await ctx.state.admit({
      operation: 'CREATE', resource: { group: '', version: 'v1', resource: 'serviceaccounts' }, subResource: 'token',
      kind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' },
      namespace: ctx.info.namespace, name: ctx.info.name, object, oldObject: undefined,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', metadata: {} }, userInfo: ctx.user, dryRun: false,
    });
    ctx.warnings.push(...admitted.warnings);
    writeJson(ctx.res, 201, ctx.state.tokenRequest(ctx.info.namespace, ctx.info.name, admitted.object ?? body));
  },
};

/**
 * A connect handler (exec, attach, portforward, proxy). Plain requests come as `request`;
 * upgrade requests (SPDY, WebSocket) come with the raw socket.
 */
export interface ConnectHandler {
  request?(ctx: RequestContext): void | Promise<void>;
  upgrade?(ctx: RequestContext, socket: Duplex, head: Buffer): void | Promise<void>;
}

/** Connect handlers by `resource/subresource`; later work registers exec and friends here. */
export const CONNECT_HANDLERS = new Map<string, ConnectHandler>();

function notImplemented(subresource: string): ReturnType<typeof statusError> {
  return statusError(501, 'NotImplemented', `the Kubernetes API double does not implement ${subresource} yet`);
}

/** Serves a connect subresource over plain HTTP: the registered handler, or a clear Status. */
export function connect(subresource: string): SubresourceHandler {
  return async (ctx) => {
    const handler = CONNECT_HANDLERS.get(`${ctx.resource.resource}/${subresource}`);
    if (handler?.request) return handler.request(ctx);
    if (subresource !== 'proxy' && !isUpgrade(ctx.req)) throw badRequest('Upgrade request required');
    throw notImplemented(`${ctx.resource.resource}/${subresource}`);
  };
}

/** Whether a request asks for a protocol upgrade. */
export function isUpgrade(req: IncomingMessage): boolean {
  return /upgrade/i.test(String(req.headers.connection ?? '')) && req.headers.upgrade !== undefined;
}

/** The table of subresource handlers. `*` keys apply to every resource that lists the subresource. */
export const SUBRESOURCES: Record<string, Record<string, SubresourceHandler>> = {
  '*/status': { get: getParent, update: putParent, patch: patchObject },
  'pods/log': { get: serveLogs },
  // The commit path keeps everything but spec.ephemeralContainers, and refuses changing existing ones.
  'pods/ephemeralcontainers': { get: getParent, update: putParent, patch: patchObject },
  'deployments/scale': scaleHandlers,
  'serviceaccounts/token': tokenHandlers,
  'pods/exec': { get: connect('exec'), create: connect('exec') },
  'pods/attach': { get: connect('attach'), create: connect('attach') },
  'pods/portforward': { get: connect('portforward'), create: connect('portforward') },
};
