/**
 * Discovery of the API double: content negotiation of /api and /apis (aggregated v2/v2beta1 or
 * legacy), the 406 body, the legacy documents and /version.
 */
import test from 'ava';
import { serveDiscovery } from '../doubles/kube-api/discovery.ts';
import { parseAccept } from '../doubles/kube-api/negotiation.ts';

const V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

const negotiation: Array<{ name: string; path: string; accept: string | undefined; gitVersion: string; status: number; contentType: string }> = [
  // What each kubectl sends (captured from kubectl 1.27/1.29/1.30/1.33/1.35).
  { name: 'kubectl 1.30+ on a 1.33 server gets v2', path: '/apis', accept: `${V2},${V2BETA1},application/json`, gitVersion: 'v1.33.0', status: 200, contentType: V2 },
  { name: 'kubectl 1.27-1.29 on a 1.31 server gets v2beta1', path: '/api', accept: `${V2BETA1},application/json`, gitVersion: 'v1.31.0', status: 200, contentType: V2BETA1 },
  { name: 'kubectl 1.27-1.29 on a 1.33 server falls back to legacy (v2beta1 removed)', path: '/apis', accept: `${V2BETA1},application/json`, gitVersion: 'v1.33.0', status: 200, contentType: 'application/json' },
  { name: 'v2beta1 alone on 1.33 is not acceptable', path: '/api', accept: V2BETA1, gitVersion: 'v1.33.0', status: 406, contentType: 'application/json' },
  // Plain types.
  { name: 'no Accept gives legacy JSON', path: '/api', accept: undefined, gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: '*/* gives legacy JSON', path: '/apis', accept: '*/*', gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: 'application/* gives legacy JSON', path: '/apis', accept: 'application/*', gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: 'YAML is served', path: '/api/v1', accept: 'application/yaml', gitVersion: 'v1.31.0', status: 200, contentType: 'application/yaml' },
  { name: 'aggregated YAML is served', path: '/apis', accept: 'application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', gitVersion: 'v1.31.0', status: 200, contentType: 'application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' },
  // q-values reorder clauses as goautoneg does.
  { name: 'higher q wins over header order', path: '/apis', accept: `application/json;q=0.5,${V2}`, gitVersion: 'v1.31.0', status: 200, contentType: V2 },
  { name: 'q=0 is still a candidate, sorted last', path: '/apis', accept: `${V2};q=0`, gitVersion: 'v1.31.0', status: 200, contentType: V2 },
  { name: 'q with a space is unparsable, so 0, so last', path: '/apis', accept: `${V2};q= 1,application/json`, gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: 'equal q keeps header order', path: '/apis', accept: `application/json,${V2}`, gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  // Hostile inputs.
  { name: 'a Table conversion is not allowed on discovery, falls through to JSON', path: '/api', accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json', gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: 'an unknown discovery kind is refused', path: '/apis', accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscovery', gitVersion: 'v1.31.0', status: 406, contentType: 'application/json' },
  { name: 'text/html is not acceptable', path: '/api/v1', accept: 'text/html', gitVersion: 'v1.31.0', status: 406, contentType: 'application/json' },
  { name: 'parameter names are case-sensitive', path: '/apis', accept: 'application/json;G=apidiscovery.k8s.io;V=v2;AS=APIGroupDiscoveryList', gitVersion: 'v1.31.0', status: 200, contentType: 'application/json' },
  { name: 'protobuf alone is not served by the double', path: '/api', accept: 'application/vnd.kubernetes.protobuf', gitVersion: 'v1.31.0', status: 406, contentType: 'application/json' },
  { name: 'trailing slash is the same path', path: '/apis/', accept: V2, gitVersion: 'v1.31.0', status: 200, contentType: V2 },
];

for (const row of negotiation) {
  test(`negotiation: ${row.name}`, (t) => {
    const r = serveDiscovery(row.path, row.accept, { gitVersion: row.gitVersion });
    t.is(r?.status, row.status);
    t.is(r?.contentType, row.contentType);
    t.is(r?.vary, row.contentType.includes('apidiscovery') ? 'Accept' : undefined);
  });
}

test('406 is the Status the real server writes, byte for byte', (t) => {
  const r = serveDiscovery('/api', 'text/html', { gitVersion: 'v1.31.0' });
  t.is(
    r?.body,
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf","reason":"NotAcceptable","code":406}',
  );
});

test('goautoneg ordering: its Less lets a specific type pass a higher-q wildcard subtype, as Go insertion sort does', (t) => {
  const clauses = parseAccept('*/*;q=0.8, text/*, application/json;g=x;q=0.9, text/plain');
  t.deepEqual(
    clauses.map((c) => `${c.type}/${c.subType}@${c.q}`),
    ['text/plain@1', `application/json@${Math.fround(0.9)}`, 'text/*@1', `*/*@${Math.fround(0.8)}`],
  );
  t.deepEqual(clauses[1]?.params, { g: 'x' });
});

test('legacy /api/v1 lists subresources and storage hashes as the real server', (t) => {
  const body = JSON.parse(String(serveDiscovery('/api/v1', 'application/json', { gitVersion: 'v1.31.0' })?.body)) as { kind: string; apiVersion?: string; resources: Array<Record<string, unknown>> };
  t.is(body.kind, 'APIResourceList');
  t.is(body.apiVersion, undefined, 'the core list carries no apiVersion');
  const pods = body.resources.find((r) => r.name === 'pods');
  t.is(pods?.storageVersionHash, 'xPOwRZ+Yhw8=');
  t.deepEqual(body.resources.find((r) => r.name === 'pods/log'), { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
  t.deepEqual(body.resources.find((r) => r.name === 'pods/eviction'), { name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
  const names = body.resources.map((r) => String(r.name));
  t.deepEqual(names, [...names].sort());
});

test('group documents: /apis order, /apis/GROUP, /apis/GROUP/VERSION, unknown groups left to the router', (t) => {
  const opts = { gitVersion: 'v1.31.0' };
  const list = JSON.parse(String(serveDiscovery('/apis', 'application/json', opts)?.body)) as { groups: Array<{ name: string }> };
  t.deepEqual(list.groups.map((g) => g.name), ['apps', 'authentication.k8s.io', 'authorization.k8s.io', 'rbac.authorization.k8s.io', 'admissionregistration.k8s.io']);
  const group = JSON.parse(String(serveDiscovery('/apis/apps', undefined, opts)?.body)) as Record<string, unknown>;
  t.deepEqual(group, { kind: 'APIGroup', apiVersion: 'v1', name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } });
  const apps = JSON.parse(String(serveDiscovery('/apis/apps/v1', undefined, opts)?.body)) as { apiVersion: string; resources: Array<{ name: string }> };
  t.is(apps.apiVersion, 'v1');
  t.deepEqual(apps.resources.map((r) => r.name), ['deployments', 'deployments/scale', 'deployments/status']);
  t.is(serveDiscovery('/apis/policy', undefined, opts), undefined);
  t.is(serveDiscovery('/apis/apps/v2', undefined, opts), undefined);
  t.is(serveDiscovery('/healthz', undefined, opts), undefined);
});

test('aggregated document: core group item, scopes, response kinds of subresources, ETag', (t) => {
  const r = serveDiscovery('/api', V2, { gitVersion: 'v1.35.0' });
  const body = JSON.parse(String(r?.body)) as { kind: string; apiVersion: string; items: Array<{ metadata: unknown; versions: Array<{ version: string; freshness: string; resources: Array<Record<string, unknown>> }> }> };
  t.is(body.apiVersion, 'apidiscovery.k8s.io/v2');
  t.is(body.items.length, 1);
  t.deepEqual(body.items[0]?.metadata, { creationTimestamp: null });
  const v1 = body.items[0]?.versions[0];
  t.is(v1?.freshness, 'Current');
  const sa = v1?.resources.find((x) => x.resource === 'serviceaccounts');
  t.deepEqual(sa?.subresources, [{ subresource: 'token', responseKind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, verbs: ['create'] }]);
  t.is(v1?.resources.find((x) => x.resource === 'namespaces')?.scope, 'Cluster');
  t.regex(r?.headers?.ETag ?? '', /^"[0-9A-F]{128}"$/);
});

const versions: Array<{ name: string; gitVersion: string; keys: string[] }> = [
  { name: '1.31 has no compatibility fields', gitVersion: 'v1.31.0', keys: ['major', 'minor', 'gitVersion', 'gitCommit', 'gitTreeState', 'buildDate', 'goVersion', 'compiler', 'platform'] },
  { name: '1.33 adds emulation and min-compatibility versions', gitVersion: 'v1.33.1', keys: ['major', 'minor', 'emulationMajor', 'emulationMinor', 'minCompatibilityMajor', 'minCompatibilityMinor', 'gitVersion', 'gitCommit', 'gitTreeState', 'buildDate', 'goVersion', 'compiler', 'platform'] },
];

for (const row of versions) {
  test(`/version: ${row.name}`, (t) => {
    const r = serveDiscovery('/version', undefined, { gitVersion: row.gitVersion });
    const info = JSON.parse(String(r?.body)) as Record<string, string>;
    t.deepEqual(Object.keys(info), row.keys);
    t.is(info.gitVersion, row.gitVersion);
    t.is(info.minor, row.gitVersion.split('.')[1]);
    t.true(String(r?.body).includes('\n  "major"'), 'indented as WriteRawJSON writes it');
  });
}
