// The sidecar's pure parts, table-driven: RBAC rule evaluation and grant scope, the Accept
// rewrite, token comparison and rotation, and the per-pod certificates.
import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { createPodCertificates } from '../../src/certs/index.ts';
import { parseRequest, type RequestAttributes } from '../../src/request/index.ts';
import { PodTokens } from '../../sidecar/authenticate.ts';
import { jsonAccept } from '../../sidecar/negotiation.ts';
import { scopeAllows, type GrantScope } from '../../sidecar/scope.ts';

function attrs(method: string, url: string): RequestAttributes {
  const parsed = parseRequest(method, url);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.attributes;
}

const podsRead: GrantScope = { rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/log'] }], namespaces: ['agents'] };
const oneDeployment: GrantScope = { rules: [{ verbs: ['get', 'patch'], apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], resourceNames: ['web'] }], namespaces: ['agents', 'staging'] };
const scaleAnything: GrantScope = { rules: [{ verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] }], namespaces: ['agents'] };
const clusterWide: GrantScope = { rules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/apis/*'] }, { verbs: ['list'], apiGroups: [''], resources: ['nodes', 'namespaces'] }], namespaces: ['*'] };

test('scope: the sidecar evaluates grant rules as RBAC does, within the grant namespaces', (t) => {
  const rows: Array<{ name: string; scope: GrantScope; method: string; url: string; allowed: boolean }> = [
    // verbs, resources, subresources
    { name: 'list pods in the granted namespace', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/agents/pods', allowed: true },
    { name: 'watch pods', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/agents/pods?watch=1', allowed: true },
    { name: 'pod logs (listed subresource)', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/agents/pods/web-0/log', allowed: true },
    { name: 'pod exec (subresource not listed)', scope: podsRead, method: 'POST', url: '/api/v1/namespaces/agents/pods/web-0/exec', allowed: false },
    { name: 'delete a pod (verb not granted)', scope: podsRead, method: 'DELETE', url: '/api/v1/namespaces/agents/pods/web-0', allowed: false },
    { name: 'secrets (resource not granted)', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/agents/secrets', allowed: false },
    { name: 'pods of the apps group look-alike', scope: podsRead, method: 'GET', url: '/apis/apps/v1/namespaces/agents/pods', allowed: false },
    // namespaces
    { name: 'pods in another namespace', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/other/pods', allowed: false },
    { name: 'pods in all namespaces (cluster-scoped list)', scope: podsRead, method: 'GET', url: '/api/v1/pods', allowed: false },
    { name: 'the namespace object itself is not a pod', scope: podsRead, method: 'GET', url: '/api/v1/namespaces/agents', allowed: false },
    // resourceNames
    { name: 'the named deployment', scope: oneDeployment, method: 'GET', url: '/apis/apps/v1/namespaces/staging/deployments/web', allowed: true },
    { name: 'another deployment', scope: oneDeployment, method: 'GET', url: '/apis/apps/v1/namespaces/agents/deployments/api', allowed: false },
    { name: 'list of deployments (no name) under resourceNames', scope: oneDeployment, method: 'GET', url: '/apis/apps/v1/namespaces/agents/deployments', allowed: false },
    { name: 'get via fieldSelector metadata.name', scope: oneDeployment, method: 'GET', url: '/apis/apps/v1/namespaces/agents/deployments?fieldSelector=metadata.name%3Dweb', allowed: false },
    { name: 'scale subresource of the named deployment', scope: oneDeployment, method: 'PATCH', url: '/apis/apps/v1/namespaces/agents/deployments/web/scale', allowed: true },
    // wildcards
    { name: '*/scale covers any scale subresource', scope: scaleAnything, method: 'PUT', url: '/apis/apps/v1/namespaces/agents/statefulsets/db/scale', allowed: true },
    { name: '*/scale is not the resource itself', scope: scaleAnything, method: 'PUT', url: '/apis/apps/v1/namespaces/agents/statefulsets/db', allowed: false },
    // cluster-wide and non-resource
    { name: 'non-resource URL listed', scope: clusterWide, method: 'GET', url: '/api', allowed: true },
    { name: 'non-resource prefix wildcard', scope: clusterWide, method: 'GET', url: '/apis/apps/v1', allowed: true },
    { name: 'non-resource URL not listed', scope: clusterWide, method: 'GET', url: '/metrics', allowed: false },
    { name: 'non-resource URL under a namespaced grant', scope: podsRead, method: 'GET', url: '/api', allowed: false },
    { name: 'cluster-scoped list under a cluster-wide grant', scope: clusterWide, method: 'GET', url: '/api/v1/nodes', allowed: true },
  ];
  for (const row of rows) t.is(scopeAllows(row.scope, attrs(row.method, row.url)), row.allowed, row.name);
});

test('jsonAccept: protobuf, CBOR and YAML become JSON, keeping Table parameters', (t) => {
  const rows: Array<{ name: string; accept: string | undefined; expected: string }> = [
    { name: 'absent', accept: undefined, expected: 'application/json' },
    { name: 'plain JSON', accept: 'application/json', expected: 'application/json' },
    { name: 'client-go protobuf default', accept: 'application/vnd.kubernetes.protobuf,application/json', expected: 'application/json' },
    { name: 'kubectl Table', accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json', expected: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' },
    { name: 'protobuf Table', accept: 'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io', expected: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    { name: 'protobuf watch stream', accept: 'application/vnd.kubernetes.protobuf;stream=watch', expected: 'application/json' },
    { name: 'CBOR', accept: 'application/cbor', expected: 'application/json' },
    { name: 'YAML', accept: 'application/yaml', expected: 'application/json' },
    { name: 'anything', accept: '*/*', expected: 'application/json' },
    { name: 'only an unknown type', accept: 'text/html', expected: 'application/json' },
    { name: 'upper case', accept: 'APPLICATION/VND.KUBERNETES.PROTOBUF', expected: 'application/json' },
  ];
  for (const row of rows) t.is(jsonAccept(row.accept), row.expected, row.name);
  // Rewrites are remembered: asked again, and after more distinct values than the memory holds, the same answers.
  for (const row of rows) t.is(jsonAccept(row.accept), row.expected, `${row.name}, asked again`);
  for (let i = 0; i < 600; i++) t.is(jsonAccept(`application/json;as=Table;v=v${i};g=meta.k8s.io;stream=watch`), `application/json;as=Table;v=v${i};g=meta.k8s.io`);
  for (const row of rows) t.is(jsonAccept(row.accept), row.expected, `${row.name}, after a flood of others`);
});

test('pod tokens: the current one is accepted; after a rotation the old one only for the grace period', (t) => {
  let now = 1_000_000;
  const tokens = new PodTokens('first-token', () => now);
  t.true(tokens.accepts('first-token'));
  t.false(tokens.accepts('first-token '));
  t.false(tokens.accepts(''));
  t.false(tokens.accepts('first-tokeN'), 'same length, one byte different');
  t.false(tokens.accepts('first-toke\u016e'), 'a character whose low byte matches, as latin1 would take it');
  tokens.rotate('second-token', 5 * 60_000);
  t.true(tokens.accepts('second-token'), 'new token at once');
  t.true(tokens.accepts('first-token'), 'old token within the grace period');
  now += 5 * 60_000;
  t.false(tokens.accepts('first-token'), 'old token after the grace period');
  t.true(tokens.accepts('second-token'));
});

test('pod certificates: a CA and a serving certificate for the loopback names, made in well under a second', (t) => {
  const started = performance.now();
  const certs = createPodCertificates();
  const elapsed = performance.now() - started;
  t.true(elapsed < 200, `${elapsed} ms`);
  const ca = new X509Certificate(certs.caPem);
  const leaf = new X509Certificate(certs.certPem);
  t.true(ca.ca);
  t.false(leaf.ca);
  t.true(leaf.checkIssued(ca));
  t.true(leaf.verify(ca.publicKey));
  for (const host of ['localhost', 'kubernetes.default.svc']) t.is(leaf.checkHost(host), host);
  t.is(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  t.is(leaf.checkIP('10.0.0.1'), undefined);
  t.is(leaf.checkHost('evil.example'), undefined);
  t.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  t.is(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.not(createPodCertificates().caPem, certs.caPem, 'every start makes a new CA');
});
