/**
 * Discovery endpoints of the API double: /version, /api, /apis, /api/v1, /apis/GROUP[/VERSION],
 * legacy and aggregated (apidiscovery.k8s.io v2, and v2beta1 before 1.33), with the real server's
 * content negotiation. Built from RESOURCES in resources.ts. Test code only.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { RESOURCES } from './resources.ts';
import type { ResourceInfo } from './resources.ts';
import { negotiateMediaType } from './negotiation.ts';
import type { ConvertTarget } from './negotiation.ts';

/** A response the server writes as is. */
export interface DiscoveryResponse {
  status: number;
  contentType: string;
  body: Buffer | string;
  /** The `Vary` header, when the real server sends one. */
  vary?: string;
  /** Further headers the real server sends (ETag, Cache-Control, Expires, Location). */
  headers?: Record<string, string>;
}

/** Options of the served cluster. */
export interface DiscoveryOptions {
  /** e.g. `v1.31.0`; the minor decides which discovery versions are served. */
  gitVersion: string;
  /** `serverAddressByClientCIDRs[0].serverAddress` of /api; default `127.0.0.1:6443`. */
  serverAddress?: string;
}

const DISCOVERY_GROUP = 'apidiscovery.k8s.io';
/** What the real server names in a 406: its serializers, though the double writes no protobuf. */
const ACCEPTED_TEXT = 'application/json, application/yaml, application/vnd.kubernetes.protobuf';
const SERVED = ['application/json', 'application/yaml'] as const;

// The real /apis lists groups by kube-aggregator's priority, not alphabetically.
const GROUP_ORDER = ['apps', 'authentication.k8s.io', 'authorization.k8s.io', 'rbac.authorization.k8s.io', 'admissionregistration.k8s.io'];

// goVersion the release of each minor was built with (approximate, for /version only).
const GO_VERSIONS: Record<number, string> = { 27: 'go1.20.10', 28: 'go1.20.10', 29: 'go1.21.9', 30: 'go1.22.2', 31: 'go1.22.5', 32: 'go1.23.4', 33: 'go1.24.0', 34: 'go1.24.6', 35: 'go1.25.5' };

function minorOf(gitVersion: string): { major: number; minor: number } {
  const match = /^v(\d+)\.(\d+)/.exec(gitVersion);
  return { major: Number(match?.[1] ?? 1), minor: Number(match?.[2] ?? 31) };
}

/** The served versions of a group, in preference order (one each for the double). */
function groupVersions(group: string): string[] {
  return [...new Set(RESOURCES.filter((r) => r.group === group).map((r) => r.version))];
}

function servedGroups(): string[] {
  const groups = [...new Set(RESOURCES.filter((r) => r.group !== '').map((r) => r.group))];
  const rank = (g: string): number => (GROUP_ORDER.includes(g) ? GROUP_ORDER.indexOf(g) : GROUP_ORDER.length);
  return groups.sort((a, b) => rank(a) - rank(b));
}

/**
 * The storage version hash the real server publishes: the first 8 bytes of
 * sha256("group/version/kind"), base64 (apiserver `discovery.StorageVersionHash`).
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256').update(`${group}/${version}/${kind}`).digest().subarray(0, 8).toString('base64');
}

function byName<T>(entries: Array<[string, T]>): T[] {
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** metav1.APIResourceList of one group/version, subresources as `pods/log` entries, sorted by name. */
function resourceList(group: string, version: string): Record<string, unknown> | undefined {
  const infos = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (infos.length === 0) return undefined;
  const entries: Array<[string, Record<string, unknown>]> = [];
  for (const r of infos) {
    const main: Record<string, unknown> = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames?.length) main.shortNames = r.shortNames;
    if (r.categories?.length) main.categories = r.categories;
    // Only stored resources have a storage version; reviews are never stored.
    if (!r.virtual) main.storageVersionHash = storageVersionHash(r.group, r.version, r.kind);
    entries.push([r.resource, main]);
    for (const [sub, s] of Object.entries(r.subresources)) {
      const entry: Record<string, unknown> = { name: `${r.resource}/${sub}`, singularName: '', namespaced: r.namespaced };
      if (s.group !== undefined) entry.group = s.group;
      if (s.version !== undefined) entry.version = s.version;
      entry.kind = s.kind;
      entry.verbs = s.verbs;
      entries.push([`${r.resource}/${sub}`, entry]);
    }
  }
  const list: Record<string, unknown> = { kind: 'APIResourceList' };
  // The core list has no apiVersion on the real server; group lists do.
  if (group !== '') list.apiVersion = 'v1';
  list.groupVersion = group ? `${group}/${version}` : version;
  list.resources = byName(entries);
  return list;
}

function apiGroup(group: string): Record<string, unknown> {
  const versions = groupVersions(group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions, preferredVersion: versions[0] };
}

/** One APIResourceDiscovery (aggregated form) of a resource. */
function resourceDiscovery(r: ResourceInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    resource: r.resource,
    responseKind: { group: '', version: '', kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: r.verbs,
  };
  if (r.shortNames?.length) out.shortNames = r.shortNames;
  if (r.categories?.length) out.categories = r.categories;
  const subs = Object.entries(r.subresources).map(([name, s]): [string, Record<string, unknown>] => [
    name,
    { subresource: name, responseKind: { group: s.group ?? '', version: s.version ?? '', kind: s.kind }, verbs: s.verbs },
  ]);
  if (subs.length) out.subresources = byName(subs);
  return out;
}

function groupDiscovery(group: string): Record<string, unknown> {
  const versions = groupVersions(group).map((version) => ({
    version,
    resources: byName(RESOURCES.filter((r) => r.group === group && r.version === version).map((r): [string, Record<string, unknown>] => [r.resource, resourceDiscovery(r)])),
    freshness: 'Current',
  }));
  // The real server writes a zero ObjectMeta, whose creationTimestamp marshals as null.
  const metadata: Record<string, unknown> = group ? { name: group, creationTimestamp: null } : { creationTimestamp: null };
  return { metadata, versions };
}

function aggregatedList(root: 'api' | 'apis', version: string): Record<string, unknown> {
  const items = root === 'api' ? [groupDiscovery('')] : servedGroups().map(groupDiscovery);
  return { kind: 'APIGroupDiscoveryList', apiVersion: `${DISCOVERY_GROUP}/${version}`, metadata: {}, items };
}

function isAggregated(convert: ConvertTarget | undefined, minor: number): boolean {
  if (!convert || convert.group !== DISCOVERY_GROUP || convert.kind !== 'APIGroupDiscoveryList') return false;
  // v2 arrived in 1.30; AggregatedDiscoveryRemoveBetaType is on by default from 1.33, so v2beta1
  // is no longer served there.
  return (convert.version === 'v2' && minor >= 30) || (convert.version === 'v2beta1' && minor < 33);
}

function encode(mediaType: string, object: unknown): string {
  // sigs.k8s.io/yaml writes map keys sorted; the JSON serializer ends with json.Encoder's newline.
  if (mediaType === 'application/yaml') return stringify(object, { sortMapEntries: true, indentSeq: false, lineWidth: 0 });
  return `${JSON.stringify(object)}\n`;
}

/** 406 as `responsewriters.ErrorNegotiated` writes it when no type fits: raw JSON, no newline. */
export function notAcceptableResponse(): DiscoveryResponse {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `only the following media types are accepted: ${ACCEPTED_TEXT}`, reason: 'NotAcceptable', code: 406 };
  return { status: 406, contentType: 'application/json', body: JSON.stringify(status) };
}

/** A legacy (non-aggregated) discovery object, negotiated as the real server does. */
function legacy(accept: string | undefined, object: unknown): DiscoveryResponse {
  const chosen = negotiateMediaType(accept, SERVED, (convert) => convert === undefined);
  if (!chosen) return notAcceptableResponse();
  return { status: 200, contentType: chosen.mediaType, body: encode(chosen.mediaType, object) };
}

/** /api and /apis: aggregated when the Accept header asks for it and the version serves it. */
function root(which: 'api' | 'apis', accept: string | undefined, minor: number, legacyObject: unknown): DiscoveryResponse {
  const chosen = negotiateMediaType(accept, SERVED, (convert) => convert === undefined || isAggregated(convert, minor));
  if (!chosen?.convert) return legacy(accept, legacyObject);
  const version = chosen.convert.version;
  const list = aggregatedList(which, version);
  // aggregated.ServeHTTPWithETag: uppercase hex SHA-512 of the JSON, quoted.
  const etag = createHash('sha512').update(JSON.stringify(list)).digest('hex').toUpperCase();
  return {
    status: 200,
    contentType: `${chosen.mediaType};g=${DISCOVERY_GROUP};v=${version};as=APIGroupDiscoveryList`,
    body: encode(chosen.mediaType, list),
    vary: 'Accept',
    headers: { ETag: `"${etag}"`, 'Cache-Control': 'public' },
  };
}

/** version.Info as /version writes it (indented JSON from `WriteRawJSON`). */
function versionInfo(gitVersion: string): DiscoveryResponse {
  const { major, minor } = minorOf(gitVersion);
  const info: Record<string, string> = { major: String(major), minor: String(minor) };
  // Compatibility-version fields appear in /version from 1.33.
  if (minor >= 33) Object.assign(info, { emulationMajor: String(major), emulationMinor: String(minor), minCompatibilityMajor: String(major), minCompatibilityMinor: String(minor - 1) });
  Object.assign(info, {
    gitVersion,
    gitCommit: createHash('sha1').update(gitVersion).digest('hex'),
    gitTreeState: 'clean',
    buildDate: '2024-08-13T07:28:49Z',
    goVersion: GO_VERSIONS[minor] ?? 'go1.22.5',
    compiler: 'gc',
    platform: 'linux/amd64',
  });
  return { status: 200, contentType: 'application/json', body: JSON.stringify(info, null, 2) };
}

/**
 * Serves a discovery path, or returns undefined for paths it does not own. `path` may carry a
 * query string (ignored) and a trailing slash (as the real router, `/apis/` is `/apis`).
 */
export function serveDiscovery(path: string, accept: string | undefined, opts: DiscoveryOptions): DiscoveryResponse | undefined {
  const clean = (path.split('?')[0] ?? '').replace(/\/+$/, '') || '/';
  const { minor } = minorOf(opts.gitVersion);
  if (clean === '/version') return versionInfo(opts.gitVersion);
  if (clean === '/api') {
    const versions = { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: opts.serverAddress ?? '127.0.0.1:6443' }] };
    return root('api', accept, minor, versions);
  }
  if (clean === '/apis') return root('apis', accept, minor, { kind: 'APIGroupList', apiVersion: 'v1', groups: servedGroups().map(apiGroup) });
  if (clean === '/api/v1') return legacy(accept, resourceList('', 'v1'));
  const match = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(clean);
  if (!match) return undefined;
  const [, group = '', version] = match;
  if (!servedGroups().includes(group)) return undefined;
  if (version === undefined) return legacy(accept, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) });
  const list = resourceList(group, version);
  return list ? legacy(accept, list) : undefined;
}
