/**
 * Request attributes: turn an HTTP request to the Kubernetes API (method, path, query) into the
 * attributes the API server's authorizer sees, by the rules of the apiserver's RequestInfoFactory
 * (k8s.io/apiserver pkg/endpoints/request/requestinfo.go). The URL forms it accepts:
 *
 *   resource requests:
 *     /api/{version}/{resource}
 *     /api/{version}/{resource}/{name}
 *     /api/{version}/{resource}/{name}/{subresource}
 *     /api/{version}/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]
 *     /api/{version}/namespaces/{namespace}            (the namespace object; its namespace is itself)
 *     /api/{version}/namespaces/{namespace}/status     (and /finalize: subresources of the namespace)
 *     /api/{version}/watch/...  and  /api/{version}/proxy/...   (deprecated special-verb forms)
 *     /apis/{group}/{version}/... the same forms, with an API group
 *   non-resource requests: everything else (/version, /healthz, /openapi/v2, /api, /apis/{group}),
 *     authorized by path with the lower-case method as the verb.
 *
 * The verb comes from the method: GET/HEAD → get, or list/watch when no name is given (watch
 * when `watch` is true); POST → create; PUT → update; PATCH → patch; DELETE → delete, or
 * deletecollection without a name. So a WebSocket exec (GET) is `get` on `pods/exec` and a SPDY
 * exec (POST) is `create`. A list or watch whose `fieldSelector` requires `metadata.name=X` gets
 * the name X, as RBAC `resourceNames` expects.
 *
 * One deliberate difference: where the API server would clean, redirect or silently reinterpret a
 * path (`.` or `..` segments, empty segments, encoded slashes or backslashes in a segment, bad
 * percent-encoding, control characters, overlong paths, an unparsable selector, unknown methods),
 * this parser refuses with a `RequestPathError` (a 400 `Status`) instead of guessing: a guess
 * could authorize one object and forward a request for another. Likewise refused: `#`, spaces and
 * raw non-ASCII bytes in the target, `?`/`#`/spaces encoded in a segment, and resource paths whose
 * group, version, resource, namespace or name no served API can have (the API server would 404).
 */

import type { RequestAttributes } from '../contracts/attributes.ts';
import { readListOptions } from './list-options.ts';
import { indexPath, isDnsLabel, isDnsSubdomain, isVersion, segment, segmentCount, segmentIs } from './path.ts';

export type { RequestAttributes };
export { MAX_PATH_LENGTH } from './path.ts';

/** Why a path was refused; `code` is stable, `message` is for the agent. */
export interface RequestPathError {
  code: 'path-dot-segment' | 'path-empty-segment' | 'path-encoded-separator' | 'path-bad-encoding' | 'path-control-character' | 'path-reserved-character' | 'path-not-kubernetes' | 'path-too-long' | 'path-not-absolute' | 'path-incomplete' | 'selector-invalid' | 'method-unsupported';
  message: string;
}

/** The outcome of parsing: attributes, or a precise refusal. */
export type ParseResult = { ok: true; attributes: RequestAttributes } | { ok: false; error: RequestPathError };

function refuse(code: RequestPathError['code'], message: string): ParseResult {
  return { ok: false, error: { code, message } };
}

/** The verb of a resource request from its method; undefined for methods it cannot have. */
function resourceVerb(method: string): string | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return undefined;
  }
}

/** The verb of a non-resource request: the method in lower case, for the methods served. */
function nonResourceVerb(method: string): string | undefined {
  switch (method) {
    case 'GET':
      return 'get';
    case 'HEAD':
      return 'head';
    case 'POST':
      return 'post';
    case 'PUT':
      return 'put';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    case 'OPTIONS':
      return 'options';
    default:
      return undefined;
  }
}

function nonResource(method: string, path: string): ParseResult {
  const verb = nonResourceVerb(method);
  if (verb === undefined) return refuse('method-unsupported', `the method ${method} is not supported`);
  return {
    ok: true,
    attributes: { isResourceRequest: false, path, verb, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' },
  };
}

/**
 * Parse one request. `url` is the request target as sent (path and optional query, e.g.
 * `/api/v1/namespaces/default/pods?watch=1`). `method` is upper case, as Node reports it.
 */
export function parseRequest(method: string, url: string): ParseResult {
  const q = url.indexOf('?');
  const source = indexPath(url, q === -1 ? url.length : q);
  if (typeof source !== 'string') return { ok: false, error: source };
  // The decoded path; the raw one serves when nothing was decoded (the common case). A trailing
  // slash is kept: the API server authorizes non-resource URLs on the path as sent, so `/healthz/`
  // checked here as `/healthz` would be checked against one URL and forwarded as another.
  const path = source !== url || q === -1 ? source : url.slice(0, q);
  const n = segmentCount();

  // Segments are referred to by index until the request is known to be servable.
  if (n < 3) return nonResource(method, path);
  let i: number;
  let group = -1;
  if (segmentIs(source, 0, 'api')) {
    i = 1;
  } else if (segmentIs(source, 0, 'apis')) {
    if (n < 4) return nonResource(method, path);
    group = 1;
    i = 2;
  } else {
    return nonResource(method, path);
  }
  const version = i;
  i++;

  let verb: string;
  let verbFromMethod = false;
  const special = segmentIs(source, i, 'watch') ? 'watch' : segmentIs(source, i, 'proxy') ? 'proxy' : undefined;
  if (special !== undefined) {
    if (n - i < 2) return refuse('path-incomplete', `unable to determine kind and namespace from url ${path}`);
    verb = special;
    i++;
  } else {
    const fromMethod = resourceVerb(method);
    if (fromMethod === undefined) return refuse('method-unsupported', `the method ${method} is not supported on resource paths`);
    verb = fromMethod;
    verbFromMethod = true;
  }

  let namespace = -1;
  if (segmentIs(source, i, 'namespaces') && n - i > 1) {
    namespace = i + 1;
    // /namespaces/{name} and its status and finalize subresources are the namespace object itself.
    if (i + 2 < n && !segmentIs(source, i + 2, 'status') && !segmentIs(source, i + 2, 'finalize')) i += 2;
  }

  const rest = n - i;
  const resource = i;
  const subresource = rest >= 3 && verb !== 'proxy' ? i + 2 : -1;
  let name = rest >= 2 ? segment(source, i + 1) : '';

  if (name === '' && verb === 'get') {
    const options = readListOptions(url, q === -1 ? url.length : q + 1);
    if (typeof options === 'string') return refuse('selector-invalid', options);
    verb = options.watch ? 'watch' : 'list';
    if (options.fieldName !== undefined) name = options.fieldName;
  }
  if (name === '' && verb === 'delete' && verbFromMethod) verb = 'deletecollection';

  const odd = unservable(source, group, version, resource, subresource, namespace, name);
  if (odd !== undefined) return refuse('path-not-kubernetes', `${odd} in ${path} cannot name anything the API server serves`);
  return {
    ok: true,
    attributes: {
      isResourceRequest: true,
      path,
      verb,
      apiGroup: segment(source, group),
      apiVersion: segment(source, version),
      resource: segment(source, resource),
      subresource: segment(source, subresource),
      namespace: segment(source, namespace),
      name,
    },
  };
}

/**
 * The first part of a resource path that no served API can have, in words: refused here with a
 * 400, so such a request never becomes a "broker refused" 503 that clients retry. Segments are
 * given by index (-1 for none).
 */
function unservable(source: string, group: number, version: number, resource: number, subresource: number, namespace: number, name: string): string | undefined {
  if (group !== -1 && !isDnsSubdomain(source, group)) return `the API group "${segment(source, group)}"`;
  if (!isVersion(source, version)) return `the version "${segment(source, version)}"`;
  if (!isDnsLabel(source, resource)) return `the resource "${segment(source, resource)}"`;
  if (subresource !== -1 && !isDnsLabel(source, subresource)) return `the subresource "${segment(source, subresource)}"`;
  if (namespace !== -1 && !isDnsLabel(source, namespace)) return `the namespace "${segment(source, namespace)}"`;
  if (name.length > 253) return 'a name longer than 253 bytes';
  return undefined;
}
