// Field shapes shared by the contracts: Kubernetes names, timestamps, identifiers. Messages say
// what is expected, because they reach agents and operators through Status and logs.
import * as z from 'zod';

const label = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
/** The pattern of a DNS-1123 label (length is checked apart). */
export const DNS_LABEL = new RegExp(`^${label}$`);
const labelPattern = DNS_LABEL;
const subdomainPattern = new RegExp(`^${label}(\\.${label})*$`);

/** A DNS-1123 label (namespaces, connection names): at most 63 characters. */
export const DnsLabel = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(labelPattern, "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit");

/** A DNS-1123 subdomain (service accounts, pod names, most object names): at most 253 characters. */
export const DnsSubdomain = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(
    subdomainPattern,
    "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit",
  );

/** A path segment name as the API server accepts it for any resource (RBAC roles may hold ':'). */
export const ObjectName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .refine((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('%'), "must not be '.' or '..' nor contain '/' or '%'");

/** A Kubernetes kind: CamelCase, as in `ReplicaSet`. */
export const Kind = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(/^[A-Z][A-Za-z0-9]*$/, 'must be a CamelCase kind such as ReplicaSet');

/** An object's apiVersion: `v1` or `<group>/<version>`. */
export const ApiVersionString = z
  .string()
  .max(253 + 1 + 63, 'is too long')
  .regex(new RegExp(`^(${label}(\\.${label})*/)?v[0-9]+((alpha|beta)[0-9]+)?$`), 'must be an apiVersion such as v1 or apps/v1');

/** A Kubernetes object uid (a UUID, lowercase as the API server writes it). */
export const Uid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lowercase UUID');

/** An RFC 3339 time in UTC with a `Z`, as Kubernetes writes `metav1.Time`. */
export const Timestamp = z.iso.datetime({ message: 'must be an RFC 3339 time in UTC, such as 2026-01-02T15:04:05Z' });

/**
 * A grant id. It names the grant's STS session (at most 64 of `[\w+=,.@-]`) and is part of the
 * per-grant service account and Role names (DNS labels), hence the narrow shape. `all` is
 * reserved for revocations of every grant.
 */
export const GrantId = z
  .string()
  .max(40, 'must be at most 40 characters')
  .regex(labelPattern, "must be lowercase letters, digits and '-', starting and ending with a letter or digit")
  .refine((s) => s !== 'all', "'all' is reserved for revocations");

/** An opaque id chosen by the sender (request ids, access request ids, sidecar instances). */
export const OpaqueId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._:-]+$/, "must be letters, digits, '.', '_', ':' or '-'");

/** Free human text with a bound, so one field cannot blow up a message or a Slack post. */
export function boundedText(max: number): z.ZodString {
  return z.string().max(max, `must be at most ${max} characters`);
}

/** Whether `later` is strictly after `earlier`; undefined when either is not a time (reported elsewhere). */
export function isAfter(later: string, earlier: string): boolean | undefined {
  const a = Date.parse(later);
  const b = Date.parse(earlier);
  return Number.isNaN(a) || Number.isNaN(b) ? undefined : a > b;
}

/** An https:// URL without credentials, query or fragment (API servers, the broker). */
export const HttpsUrl = z.string().refine((s) => {
  if (!URL.canParse(s)) return false;
  const url = new URL(s);
  return url.protocol === 'https:' && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
}, 'must be an https:// URL without credentials, query or fragment');
