/**
 * The double's router: non-resource paths (discovery, OpenAPI, health, OIDC), virtual review
 * resources, and stored resources with their subresources, after request-info parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject, UserInfo } from './types.ts';
import type { DoubleState, RequestContext } from './handlers-context.ts';
import type { RequestInfo } from './request-info.ts';
import type { ResourceInfo } from './resources.ts';
import { findResource, resourceKey } from './resources.ts';
import { methodNotAllowed, statusError } from './status.ts';
import { handleStored } from './handlers.ts';
import { decodeObjectBody, negotiate, readBody, writeJson } from './handlers-wire.ts';

/** A non-resource endpoint's answer, written as is. */
export interface RawResponse {
  status: number;
  contentType: string;
  body: Buffer | string;
  headers?: Record<string, string>;
}

/** Non-resource endpoints the server plugs in (discovery, OpenAPI, OIDC); undefined = not mine. */
export type NonResourceHandler = (path: string, accept: string | undefined) => RawResponse | undefined;

/** Review handlers (reviews.ts): user, body, namespace, apiVersion → the answered review. */
export type VirtualHandlers = Record<string, (user: UserInfo, body: unknown, namespace?: string, apiVersion?: string) => KubeObject>;

/** Versions a resource is served at besides the table's one (SelfSubjectReview's beta and alpha). */
const EXTRA_VERSIONS: Record<string, string[]> = { 'selfsubjectreviews.authentication.k8s.io': ['v1beta1', 'v1alpha1'] };

/** Finds the served resource of a request, at the requested version. */
export function resolveResource(info: RequestInfo): ResourceInfo | undefined {
  const found = findResource(info.apiGroup, info.resource);
  if (!found) return undefined;
  if (found.version === info.apiVersion) return found;
  if (EXTRA_VERSIONS[resourceKey(found)]?.includes(info.apiVersion)) return { ...found, version: info.apiVersion };
  return undefined;
}

function writeRaw(res: ServerResponse, r: RawResponse): void {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, { 'Content-Type': r.contentType, 'Content-Length': String(body.length), ...(r.headers ?? {}) });
  res.end(body);
}

/** The real server's 404 for a path under /api or /apis that names nothing it serves. */
export function notFoundResource(): ReturnType<typeof statusError> {
  return statusError(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** Serves a non-resource request: health checks, then each plugged-in handler, else `404 page not found`. */
export function serveNonResource(handlers: NonResourceHandler[], req: IncomingMessage, res: ServerResponse, info: RequestInfo): void {
  const path = info.path.replace(/\/+$/, '') || '/';
  if (['/healthz', '/livez', '/readyz'].includes(path)) {
    writeRaw(res, { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok', headers: { 'X-Content-Type-Options': 'nosniff' } });
    return;
  }
  for (const handler of handlers) {
    const out = handler(req.url ?? path, req.headers.accept);
    if (out) {
      writeRaw(res, out);
      return;
    }
  }
  if (path.startsWith('/api/') || path.startsWith('/apis/') || path === '/api' || path === '/apis') throw notFoundResource();
  writeRaw(res, { status: 404, contentType: 'text/plain; charset=utf-8', body: '404 page not found\n', headers: { 'X-Content-Type-Options': 'nosniff' } });
}

/** Serves a create-only review resource through its handler (201 with the answered review). */
async function serveVirtual(ctx: RequestContext, virtual: VirtualHandlers): Promise<void> {
  if (ctx.info.verb !== 'create') throw methodNotAllowed('the server does not allow this method on the requested resource');
  const handler = virtual[ctx.resource.resource];
  if (!handler) throw notFoundResource();
  const body = decodeObjectBody(ctx.req.headers['content-type'], await readBody(ctx.req));
  writeJson(ctx.res, 201, handler(ctx.user, body, ctx.info.namespace || undefined, ctx.resource.version), ctx.warnings);
}

/** Serves a resource request once authentication and authorization passed. */
export async function serveResource(state: DoubleState, virtual: VirtualHandlers, req: IncomingMessage, res: ServerResponse, info: RequestInfo, user: UserInfo): Promise<void> {
  const resource = resolveResource(info);
  if (!resource) throw notFoundResource();
  if (resource.namespaced === false && info.namespace && info.resource !== 'namespaces') throw notFoundResource();
  const ctx: RequestContext = { state, info, resource, key: resourceKey(resource), user, req, res, form: negotiate(req.headers.accept), warnings: [] };
  if (resource.virtual) {
    await serveVirtual(ctx, virtual);
    return;
  }
  await handleStored(ctx);
}
