/**
 * The double's own RequestInfo parser, written from the rules in the apiserver's
 * pkg/endpoints/request/requestinfo.go: (method, URL) → verb, group, version, resource,
 * subresource, namespace, name. Test code only; production has its own in src/request/.
 */
import type { RequestAttributes } from './types.ts';

/** RequestAttributes plus the parsed query, as the router needs them. */
export interface RequestInfo extends RequestAttributes {
  /** The path segments after the subresource (e.g. a proxy path), rarely used. */
  parts: string[];
  query: URLSearchParams;
}

const API_PREFIXES = new Set(['api', 'apis']);
/** Subresources of a namespace itself: `/namespaces/x/status` is not a resource `status` in x. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** Path prefixes that are verbs rather than resources (`/api/v1/watch/pods`). */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
/** Verbs after which no segment is a subresource. */
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);

const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** Go's strconv.ParseBool, which the apiserver uses for `watch=`. */
function parseBool(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
}

/** `metadata.name=x` out of a field selector, as requestinfo.go does for list/watch authorization. */
function nameFromFieldSelector(selector: string | null): string {
  if (!selector) return '';
  for (const term of selector.split(',')) {
    const m = /^metadata\.name(==|=)(.*)$/.exec(term.trim());
    if (m) return m[2] ?? '';
  }
  return '';
}

/**
 * Parses one request. Anything that is not `/api/{version}/...` or `/apis/{group}/{version}/...`
 * with at least a resource is a non-resource request whose verb is the lower-cased method.
 */
export function parseRequestInfo(method: string, rawUrl: string): RequestInfo {
  const url = new URL(rawUrl, 'https://double.invalid');
  const path = url.pathname;
  const query = url.searchParams;
  const upper = method.toUpperCase();
  const nonResource: RequestInfo = {
    isResourceRequest: false, path, verb: upper.toLowerCase(), apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '', parts: [], query,
  };
  let parts = path.replace(/^\/+|\/+$/g, '').split('/').filter((p, i, all) => p !== '' || i < all.length - 1);
  parts = parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] ?? '')) return nonResource;

  const info: RequestInfo = { ...nonResource, isResourceRequest: true };
  let current = parts.slice(1);
  if (parts[0] === 'apis') {
    if (current.length < 3) return nonResource; // /apis/group/version is discovery
    info.apiGroup = current[0] ?? '';
    current = current.slice(1);
  }
  info.apiVersion = current[0] ?? '';
  current = current.slice(1);

  const verb = METHOD_VERBS[upper];
  if (current.length > 0 && SPECIAL_VERBS.has(current[0] ?? '')) {
    if (current.length < 2) return nonResource;
    info.verb = current[0] ?? '';
    current = current.slice(1);
  } else {
    info.verb = verb ?? upper.toLowerCase();
  }

  if (current[0] === 'namespaces') {
    if (current.length > 1) {
      info.namespace = current[1] ?? '';
      if (current.length > 2 && !NAMESPACE_SUBRESOURCES.has(current[2] ?? '')) current = current.slice(2);
    }
  }
  info.parts = current;

  if (current.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = current[2] ?? '';
  if (current.length >= 2) info.name = current[1] ?? '';
  if (current.length >= 1) info.resource = current[0] ?? '';

  if (!info.name && info.verb === 'get') info.verb = parseBool(query.get('watch')) ? 'watch' : 'list';
  if ((info.verb === 'list' || info.verb === 'watch') && !info.name) info.name = nameFromFieldSelector(query.get('fieldSelector'));
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/** Whether `?watch=` asks for a watch on a named object (`GET /pods/x?watch=1`, deprecated). */
export function isWatchQuery(query: URLSearchParams): boolean {
  return parseBool(query.get('watch'));
}
