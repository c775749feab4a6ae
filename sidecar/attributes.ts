// Stage 2: what is being asked, as the API server's authorizer would see it (src/request), plus
// which responses are documents without secrets (discovery, OpenAPI, version) that pass through.
import { parseRequest, pathErrorStatus, type RequestAttributes } from '../src/request/index.ts';
import type { Status } from '../src/kube/status.ts';

/** The attributes of a request, or the 400/405 Status that refuses its path. */
export function requestAttributes(method: string, url: string): { attributes: RequestAttributes } | { status: Status } {
  const parsed = parseRequest(method, url);
  return parsed.ok ? { attributes: parsed.attributes } : { status: pathErrorStatus(parsed.error) };
}

const DISCOVERY = /^\/(?:api(?:\/v1)?|apis(?:\/[^/]+(?:\/[^/]+)?)?|version|openapi\/v[23](?:\/.*)?)$/;

/**
 * Discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`), `/version`
 * and the OpenAPI documents: they describe types, never objects, so they keep their negotiated
 * encoding (protobuf discovery, gzip) and skip masking. Only non-resource GETs qualify.
 */
export function isDiscoveryDocument(attributes: RequestAttributes): boolean {
  return !attributes.isResourceRequest && (attributes.verb === 'get' || attributes.verb === 'head') && DISCOVERY.test(attributes.path);
}

/**
 * Watches and followed logs: responses that stay open until cut, so a grant's end must cut them.
 * `follow` is read as the API server reads a boolean query parameter (apimachinery's
 * Convert_Slice_string_To_bool): its first value, decoded, is false only when it is "0" or
 * "false" in any case; present with any other value, `yes` or empty included, it is true.
 */
export function isLongLived(attributes: RequestAttributes, url: string): boolean {
  if (attributes.verb === 'watch') return true;
  if (attributes.subresource !== 'log') return false;
  const query = url.indexOf('?');
  if (query === -1) return false;
  // URLSearchParams decodes as Go's url.ParseQuery does (percent escapes in keys too, '+' as a space).
  const follow = new URLSearchParams(url.slice(query + 1)).get('follow');
  return follow !== null && follow !== '0' && follow.toLowerCase() !== 'false';
}
