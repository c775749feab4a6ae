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

export type { RequestAttributes };

/** Why a path was refused; `code` is stable, `message` is for the agent. */
export interface RequestPathError {
  code: 'path-dot-segment' | 'path-empty-segment' | 'path-encoded-separator' | 'path-bad-encoding' | 'path-control-character' | 'path-reserved-character' | 'path-not-kubernetes' | 'path-too-long' | 'path-not-absolute' | 'path-incomplete' | 'selector-invalid' | 'method-unsupported';
  message: string;
}

/** The outcome of parsing: attributes, or a precise refusal. */
export type ParseResult = { ok: true; attributes: RequestAttributes } | { ok: false; error: RequestPathError };

/** Longer paths are refused: a Kubernetes resource path is at most a few hundred bytes. */
export const MAX_PATH_LENGTH = 2048;

/** C0 controls and DEL: never part of a name the API server would route. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Raw bytes a request target never holds unencoded (RFC 3986): `#` (a fragment, which the API
 * server would keep in the name), spaces, and bytes above 0x7e, which Node hands over as latin1
 * while the API server reads them as UTF-8, so the two would see different names.
 */
const RAW_RESERVED = /[#\s\x80-\uffff]/;

/** Either of the above, in one pass: the common path has none, so one test serves it. */
// eslint-disable-next-line no-control-regex -- control characters are among what it finds
const UNUSUAL = /[\x00-\x20#\x7f-\uffff]/;

/** Decoded characters the attribute contract's `path` cannot carry and no Kubernetes name needs. */
const DECODED_RESERVED = /[?#\s]/;

const METHOD_VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
const NON_RESOURCE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function refuse(code: RequestPathError['code'], message: string): ParseResult {
  return { ok: false, error: { code, message } };
}

/**
 * Split a raw path into decoded segments, refusing every form the API server would reinterpret.
 * Returns the segments or an error result.
 */
function splitSegments(rawPath: string): string[] | ParseResult {
  if (rawPath.length > MAX_PATH_LENGTH) return refuse('path-too-long', `the request path is longer than ${MAX_PATH_LENGTH} bytes`);
  if (rawPath.charCodeAt(0) !== 47 /* / */) return refuse('path-not-absolute', 'the request path must start with "/"');
  if (UNUSUAL.test(rawPath)) {
    if (CONTROL.test(rawPath)) return refuse('path-control-character', 'the request path contains a control character');
    if (RAW_RESERVED.test(rawPath)) return refuse('path-reserved-character', 'the request path contains "#", a space or a non-ASCII byte: percent-encode it');
  }
  const segments: string[] = [];
  const end = rawPath.length > 1 && rawPath.charCodeAt(rawPath.length - 1) === 47 ? rawPath.length - 1 : rawPath.length;
  let start = 1;
  while (start < end) {
    let slash = rawPath.indexOf('/', start);
    if (slash === -1 || slash > end) slash = end;
    if (slash === start) return refuse('path-empty-segment', `the request path "${rawPath}" has an empty segment`);
    let segment = rawPath.slice(start, slash);
    if (segment.includes('%')) {
      const decoded = decodeSegment(segment);
      if (typeof decoded !== 'string') return decoded;
      segment = decoded;
    }
    if (segment === '.' || segment === '..') return refuse('path-dot-segment', `the request path "${rawPath}" has a "${segment}" segment`);
    segments.push(segment);
    start = slash + 1;
  }
  if ((end === 1 && rawPath.length > 1) || (end > 1 && start === end && rawPath.charCodeAt(end - 1) === 47)) return refuse('path-empty-segment', `the request path "${rawPath}" has an empty segment`);
  return segments;
}

function decodeSegment(raw: string): string | ParseResult {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return refuse('path-bad-encoding', `the request path segment "${raw}" is not valid percent-encoding`);
  }
  if (decoded.includes('/') || decoded.includes('\\')) {
    return refuse('path-encoded-separator', `the request path segment "${raw}" encodes a path separator`);
  }
  if (CONTROL.test(decoded)) return refuse('path-control-character', 'the request path contains a control character');
  // A decoded "?" or "#" would end the path for any reader that re-parses it (the broker contract does).
  if (DECODED_RESERVED.test(decoded)) return refuse('path-reserved-character', `the request path segment "${raw}" encodes "?", "#" or a space, which no Kubernetes name holds`);
  return decoded;
}

/**
 * The API server's query-parameter conversion for booleans (runtime Convert_Slice_string_To_bool):
 * only "0" and "false" (any case) are false; any other value, the empty string included, is true.
 */
function queryBool(value: string): boolean {
  return !(value === '0' || value.toLowerCase() === 'false');
}

/**
 * The value that a field selector requires for `field` with `=` or `==`, as
 * fields.Selector.RequiresExactMatch does; undefined when it requires none. Throws on a selector
 * that does not parse (the API server would answer 400 to the list itself).
 */
export function exactFieldMatch(selector: string, field: string): string | undefined {
  let found: string | undefined;
  // fields.ParseSelector sorts the terms before it builds the selector, so with two exact terms
  // for one field the API server names the first in sorted order, not in the order written.
  for (const term of splitUnescaped(selector, ',').sort()) {
    if (term === '') continue;
    const op = findOperator(term);
    if (!op) throw new Error(`invalid field selector "${selector}": can't understand "${term}"`);
    const key = term.slice(0, op.index);
    const value = unescapeFieldValue(term.slice(op.index + op.operator.length));
    // The first (sorted) term that pins the field wins, as andTerm.RequiresExactMatch does.
    if (found === undefined && key === field && op.operator !== '!=') found = value;
  }
  return found;
}

/** Split on `sep` where it is not escaped by a backslash (fields.ParseSelector's rule). */
function splitUnescaped(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + (text[i + 1] as string);
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** The first operator in a term, trying `!=`, `==`, `=` at each position (fields.splitTerm). */
function findOperator(term: string): { index: number; operator: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term.startsWith('!=', i)) return { index: i, operator: '!=' };
    if (term.startsWith('==', i)) return { index: i, operator: '==' };
    if (term[i] === '=') return { index: i, operator: '=' };
  }
  return undefined;
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are escapes; any other backslash, or a bare `,` or `=`, is an error. */
function unescapeFieldValue(value: string): string {
  if (!value.includes('\\') && !value.includes('=') && !value.includes(',')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\') {
      const next = value[i + 1];
      if (next !== '\\' && next !== ',' && next !== '=') throw new Error(`invalid escape sequence in field selector value "${value}"`);
      out += next;
      i++;
    } else if (ch === '=' || ch === ',') {
      throw new Error(`invalid field selector value "${value}": unescaped "${ch}"`);
    } else {
      out += ch;
    }
  }
  return out;
}

/** A name that path.IsValidPathSegmentName accepts: not `.` or `..`, no `/` or `%`. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** The list options that decide list versus watch and the selected name. */
interface ListQuery {
  watch: boolean;
  fieldName: string | undefined;
}

/** Go's url.QueryUnescape: `+` is a space, then percent-decoding; plain text is returned as is. */
function queryUnescape(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  return decodeURIComponent(text.includes('+') ? text.replaceAll('+', ' ') : text);
}

/**
 * Read `watch` and `fieldSelector` from a raw query string as the API server does: keys and values
 * are percent-decoded and the first value of a repeated key wins. Pairs that Go's url.ParseQuery
 * would drop (a `;` in them, a key with bad percent-encoding, or a bad value of one of these two
 * keys) are refused instead of dropped: dropping one side's view of a parameter is how a list
 * authorized here could become a watch upstream. Values of other keys are not decoded: whether Go
 * keeps or drops them changes nothing here.
 */
function readListQuery(rawQuery: string): ListQuery | ParseResult {
  let watch: boolean | undefined;
  let fieldSelector: string | undefined;
  // Most lists carry neither parameter, nor anything encoded that could spell one.
  const plain = !rawQuery.includes('%') && !rawQuery.includes(';') && !rawQuery.includes('watch') && !rawQuery.includes('fieldSelector');
  if (rawQuery !== '' && !plain) {
    for (const pair of rawQuery.split('&')) {
      if (pair === '') continue;
      if (pair.includes(';')) return refuse('selector-invalid', 'the query contains a ";": separate parameters with "&"');
      const eq = pair.indexOf('=');
      let key: string;
      try {
        key = queryUnescape(eq === -1 ? pair : pair.slice(0, eq));
        if (key === 'watch' && watch === undefined) watch = queryBool(eq === -1 ? '' : queryUnescape(pair.slice(eq + 1)));
        else if (key === 'fieldSelector' && fieldSelector === undefined) fieldSelector = eq === -1 ? '' : queryUnescape(pair.slice(eq + 1));
      } catch {
        return refuse('selector-invalid', `the query parameter "${pair}" is not valid percent-encoding`);
      }
    }
  }
  let fieldName: string | undefined;
  if (fieldSelector !== undefined) {
    try {
      const name = exactFieldMatch(fieldSelector, 'metadata.name');
      fieldName = name !== undefined && isValidPathSegmentName(name) ? name : undefined;
    } catch (error) {
      return refuse('selector-invalid', (error as Error).message);
    }
  }
  return { watch: watch ?? false, fieldName };
}

function nonResource(method: string, path: string): ParseResult {
  if (!NON_RESOURCE_METHODS.has(method)) return refuse('method-unsupported', `the method ${method} is not supported`);
  return {
    ok: true,
    attributes: { isResourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' },
  };
}

/**
 * Parse one request. `url` is the request target as sent (path and optional query, e.g.
 * `/api/v1/namespaces/default/pods?watch=1`). `method` is upper case, as Node reports it.
 */
export function parseRequest(method: string, url: string): ParseResult {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const split = splitSegments(rawPath);
  if (!Array.isArray(split)) return split;
  const parts = split;
  // The decoded path; the raw one serves when nothing was decoded (the common case). A trailing
  // slash is kept: the API server authorizes non-resource URLs on the path as sent, so `/healthz/`
  // checked here as `/healthz` would be checked against one URL and forwarded as another.
  const trailing = rawPath.length > 1 && rawPath.charCodeAt(rawPath.length - 1) === 47;
  const path = parts.length === 0 ? '/' : !rawPath.includes('%') ? rawPath : `/${parts.join('/')}${trailing ? '/' : ''}`;

  const prefix = parts[0];
  if (parts.length < 3 || (prefix !== 'api' && prefix !== 'apis')) return nonResource(method, path);
  let i = 1;
  let apiGroup = '';
  if (prefix === 'apis') {
    if (parts.length < 4) return nonResource(method, path);
    apiGroup = parts[1] as string;
    i = 2;
  }
  const apiVersion = parts[i] as string;
  i++;

  let verb: string;
  let verbFromMethod = false;
  const special = parts[i];
  if (special === 'watch' || special === 'proxy') {
    if (parts.length - i < 2) return refuse('path-incomplete', `unable to determine kind and namespace from url ${path}`);
    verb = special;
    i++;
  } else {
    const fromMethod = METHOD_VERBS[method];
    if (!fromMethod) return refuse('method-unsupported', `the method ${method} is not supported on resource paths`);
    verb = fromMethod;
    verbFromMethod = true;
  }

  let namespace = '';
  if (parts[i] === 'namespaces') {
    if (parts.length - i > 1) {
      namespace = parts[i + 1] as string;
      const next = parts[i + 2];
      if (next !== undefined && next !== 'status' && next !== 'finalize') i += 2;
    }
  }

  const rest = parts.length - i;
  const resource = parts[i] as string;
  let name = rest >= 2 ? (parts[i + 1] as string) : '';
  const subresource = rest >= 3 && verb !== 'proxy' ? (parts[i + 2] as string) : '';

  if (name === '' && verb === 'get') {
    const query = readListQuery(rawQuery);
    if ('ok' in query) return query;
    verb = query.watch ? 'watch' : 'list';
    if (query.fieldName !== undefined) name = query.fieldName;
  }
  if (name === '' && verb === 'delete' && verbFromMethod) verb = 'deletecollection';

  const odd = unservable(apiGroup, apiVersion, resource, subresource, namespace, name);
  if (odd !== undefined) return refuse('path-not-kubernetes', `${odd} in ${path} cannot name anything the API server serves`);
  return { ok: true, attributes: { isResourceRequest: true, path, verb, apiGroup, apiVersion, resource, subresource, namespace, name } };
}

const VERSION = /^v[0-9]+((alpha|beta)[0-9]+)?$/;

/**
 * The first part of a resource path that no served API can have (groups are DNS subdomains,
 * versions `v1`/`v1beta1`, resources and namespaces DNS labels, names at most 253 bytes), the
 * same bounds the broker contract checks: refused here with a 400, so such a request never becomes
 * a "broker refused" 503 that clients retry.
 */
/** A DNS-1123 label (what resources, subresources and namespaces are), by char codes: hot path. */
function isDnsLabel(value: string): boolean {
  const n = value.length;
  if (n === 0 || n > 63) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    const alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    if (!alnum && (c !== 45 || i === 0 || i === n - 1)) return false;
  }
  return true;
}

/** A DNS-1123 subdomain: dot-separated labels (API groups). */
function isDnsSubdomain(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  let start = 0;
  for (;;) {
    const dot = value.indexOf('.', start);
    const label = dot === -1 ? value.slice(start) : value.slice(start, dot);
    if (!isDnsLabel(label)) return false;
    if (dot === -1) return true;
    start = dot + 1;
  }
}

function unservable(apiGroup: string, apiVersion: string, resource: string, subresource: string, namespace: string, name: string): string | undefined {
  if (apiGroup !== '' && !isDnsSubdomain(apiGroup)) return `the API group "${apiGroup}"`;
  if (!VERSION.test(apiVersion)) return `the version "${apiVersion}"`;
  if (!isDnsLabel(resource)) return `the resource "${resource}"`;
  if (subresource !== '' && !isDnsLabel(subresource)) return `the subresource "${subresource}"`;
  if (namespace !== '' && !isDnsLabel(namespace)) return `the namespace "${namespace}"`;
  if (name.length > 253) return 'a name longer than 253 bytes';
  return undefined;
}
