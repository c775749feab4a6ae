// Table test of request attributes against the apiserver's RequestInfo rules
// (k8s.io/apiserver pkg/endpoints/request/requestinfo.go and its requestinfo_test.go cases),
// plus agentgate's deliberate refusals.
import test from 'ava';
import { parseRequest, exactFieldMatch, MAX_PATH_LENGTH, pathErrorStatus } from '../../src/request/index.ts';
import type { RequestAttributes, RequestPathError } from '../../src/request/index.ts';
import { RequestAttributesSchema } from '../../src/contracts/attributes.ts';

type Want = Partial<RequestAttributes>;
interface Row { name: string; method: string; url: string; want: Want }

const R = (verb: string, apiGroup: string, apiVersion: string, namespace: string, resource: string, name = '', subresource = ''): Want =>
  ({ isResourceRequest: true, verb, apiGroup, apiVersion, namespace, resource, name, subresource });
const NR = (verb: string, path: string): Want =>
  ({ isResourceRequest: false, verb, path, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' });

const rows: Row[] = [
  // --- legacy core group, namespaced collections and objects
  { name: 'list pods in a namespace', method: 'GET', url: '/api/v1/namespaces/default/pods', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'get one pod', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0', want: R('get', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'HEAD is get', method: 'HEAD', url: '/api/v1/namespaces/default/pods/web-0', want: R('get', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'create a pod', method: 'POST', url: '/api/v1/namespaces/default/pods', want: R('create', '', 'v1', 'default', 'pods') },
  { name: 'update a pod', method: 'PUT', url: '/api/v1/namespaces/default/pods/web-0', want: R('update', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'patch a pod', method: 'PATCH', url: '/api/v1/namespaces/default/pods/web-0', want: R('patch', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'delete a pod', method: 'DELETE', url: '/api/v1/namespaces/default/pods/web-0', want: R('delete', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'delete without a name is deletecollection', method: 'DELETE', url: '/api/v1/namespaces/default/pods', want: R('deletecollection', '', 'v1', 'default', 'pods') },
  { name: 'deletecollection with a label selector', method: 'DELETE', url: '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb', want: R('deletecollection', '', 'v1', 'default', 'pods') },
  { name: 'trailing slash is trimmed', method: 'GET', url: '/api/v1/namespaces/default/pods/', want: R('list', '', 'v1', 'default', 'pods') },
  // --- cluster scope
  { name: 'list pods in all namespaces', method: 'GET', url: '/api/v1/pods', want: R('list', '', 'v1', '', 'pods') },
  { name: 'list nodes', method: 'GET', url: '/api/v1/nodes', want: R('list', '', 'v1', '', 'nodes') },
  { name: 'get a node', method: 'GET', url: '/api/v1/nodes/ip-10-0-0-1', want: R('get', '', 'v1', '', 'nodes', 'ip-10-0-0-1') },
  { name: 'nodes/proxy subresource', method: 'GET', url: '/api/v1/nodes/n1/proxy/metrics', want: R('get', '', 'v1', '', 'nodes', 'n1', 'proxy') },
  { name: 'list clusterroles', method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/clusterroles', want: R('list', 'rbac.authorization.k8s.io', 'v1', '', 'clusterroles') },
  { name: 'create a clusterrolebinding', method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', want: R('create', 'rbac.authorization.k8s.io', 'v1', '', 'clusterrolebindings') },
  // --- the namespace object itself
  { name: 'list namespaces', method: 'GET', url: '/api/v1/namespaces', want: R('list', '', 'v1', '', 'namespaces') },
  { name: 'get a namespace: its namespace is itself', method: 'GET', url: '/api/v1/namespaces/payments', want: R('get', '', 'v1', 'payments', 'namespaces', 'payments') },
  { name: 'delete a namespace', method: 'DELETE', url: '/api/v1/namespaces/payments', want: R('delete', '', 'v1', 'payments', 'namespaces', 'payments') },
  { name: 'namespace status subresource', method: 'PUT', url: '/api/v1/namespaces/payments/status', want: R('update', '', 'v1', 'payments', 'namespaces', 'payments', 'status') },
  { name: 'namespace finalize subresource', method: 'PUT', url: '/api/v1/namespaces/payments/finalize', want: R('update', '', 'v1', 'payments', 'namespaces', 'payments', 'finalize') },
  { name: 'a namespace named status is the namespace object, not a subresource', method: 'GET', url: '/api/v1/namespaces/status', want: R('get', '', 'v1', 'status', 'namespaces', 'status') },
  // --- API groups
  { name: 'list deployments', method: 'GET', url: '/apis/apps/v1/namespaces/payments/deployments', want: R('list', 'apps', 'v1', 'payments', 'deployments') },
  { name: 'get a deployment', method: 'GET', url: '/apis/apps/v1/namespaces/payments/deployments/api', want: R('get', 'apps', 'v1', 'payments', 'deployments', 'api') },
  { name: 'deployment scale subresource', method: 'PATCH', url: '/apis/apps/v1/namespaces/payments/deployments/api/scale', want: R('patch', 'apps', 'v1', 'payments', 'deployments', 'api', 'scale') },
  { name: 'deployment status subresource', method: 'PUT', url: '/apis/apps/v1/namespaces/payments/deployments/api/status', want: R('update', 'apps', 'v1', 'payments', 'deployments', 'api', 'status') },
  { name: 'roles in a group with dots', method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles/reader', want: R('get', 'rbac.authorization.k8s.io', 'v1', 'team', 'roles', 'reader') },
  { name: 'custom resource with a beta version', method: 'GET', url: '/apis/example.com/v1beta1/namespaces/x/widgets', want: R('list', 'example.com', 'v1beta1', 'x', 'widgets') },
  { name: 'create a selfsubjectaccessreview', method: 'POST', url: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', want: R('create', 'authorization.k8s.io', 'v1', '', 'selfsubjectaccessreviews') },
  // --- subresources
  { name: 'pod status', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0/status', want: R('get', '', 'v1', 'default', 'pods', 'web-0', 'status') },
  { name: 'pod log', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0/log?follow=true&container=app', want: R('get', '', 'v1', 'default', 'pods', 'web-0', 'log') },
  { name: 'exec over WebSocket (GET) is get', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true&tty=true', want: R('get', '', 'v1', 'default', 'pods', 'web-0', 'exec') },
  { name: 'exec over SPDY (POST) is create', method: 'POST', url: '/api/v1/namespaces/default/pods/web-0/exec?command=ls', want: R('create', '', 'v1', 'default', 'pods', 'web-0', 'exec') },
  { name: 'attach over WebSocket', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0/attach?stdin=true', want: R('get', '', 'v1', 'default', 'pods', 'web-0', 'attach') },
  { name: 'port-forward over SPDY', method: 'POST', url: '/api/v1/namespaces/default/pods/web-0/portforward', want: R('create', '', 'v1', 'default', 'pods', 'web-0', 'portforward') },
  { name: 'ephemeral containers', method: 'PATCH', url: '/api/v1/namespaces/default/pods/web-0/ephemeralcontainers', want: R('patch', '', 'v1', 'default', 'pods', 'web-0', 'ephemeralcontainers') },
  { name: 'service account token request', method: 'POST', url: '/api/v1/namespaces/default/serviceaccounts/builder/token', want: R('create', '', 'v1', 'default', 'serviceaccounts', 'builder', 'token') },
  { name: 'service proxy subresource keeps only its first segment', method: 'GET', url: '/api/v1/namespaces/default/services/web:80/proxy/admin/panel', want: R('get', '', 'v1', 'default', 'services', 'web:80', 'proxy') },
  { name: 'pod eviction', method: 'POST', url: '/api/v1/namespaces/default/pods/web-0/eviction', want: R('create', '', 'v1', 'default', 'pods', 'web-0', 'eviction') },
  // --- watch: query parameter and the deprecated /watch/ paths
  { name: 'watch=true makes a watch', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=true', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'watch=1 makes a watch', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=1', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'watch with an empty value is a watch', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'watch=F is a watch (only 0 and false are false)', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=F', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'watch=false stays a list', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=false', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'watch=FALSE stays a list', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=FALSE', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'watch=0 stays a list', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=0', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'percent-encoded watch key is still watch', method: 'GET', url: '/api/v1/namespaces/default/pods?w%61tch=true', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'the first of repeated watch values wins', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=false&watch=true', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'watch on a named get is ignored (get stays get)', method: 'GET', url: '/api/v1/namespaces/default/pods/web-0?watch=true', want: R('get', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'deprecated /watch/ namespaced', method: 'GET', url: '/api/v1/watch/namespaces/default/pods', want: R('watch', '', 'v1', 'default', 'pods') },
  { name: 'deprecated /watch/ with a name', method: 'GET', url: '/api/v1/watch/namespaces/default/pods/web-0', want: R('watch', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'deprecated /watch/ cluster scope', method: 'GET', url: '/api/v1/watch/pods', want: R('watch', '', 'v1', '', 'pods') },
  { name: 'deprecated /watch/ in a group', method: 'GET', url: '/apis/apps/v1/watch/namespaces/x/deployments', want: R('watch', 'apps', 'v1', 'x', 'deployments') },
  { name: 'deprecated /watch/ namespaces', method: 'GET', url: '/api/v1/watch/namespaces', want: R('watch', '', 'v1', '', 'namespaces') },
  { name: 'deprecated /proxy/ path: no subresource', method: 'GET', url: '/api/v1/proxy/namespaces/default/pods/web-0/x/y', want: R('proxy', '', 'v1', 'default', 'pods', 'web-0') },
  // --- fieldSelector names (RBAC resourceNames)
  { name: 'fieldSelector metadata.name sets the name of a list', method: 'GET', url: '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dsettings', want: R('list', '', 'v1', 'default', 'configmaps', 'settings') },
  { name: 'fieldSelector with == sets the name', method: 'GET', url: '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3D%3Dsettings', want: R('list', '', 'v1', 'default', 'configmaps', 'settings') },
  { name: 'fieldSelector name on a watch (kubectl get -w NAME)', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-0&watch=true', want: R('watch', '', 'v1', 'default', 'pods', 'web-0') },
  { name: 'fieldSelector != does not set a name', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name!%3Dweb-0', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'fieldSelector on another field does not set a name', method: 'GET', url: '/api/v1/namespaces/default/secrets?fieldSelector=type%3DOpaque', want: R('list', '', 'v1', 'default', 'secrets') },
  { name: 'fieldSelector with several terms picks the name', method: 'GET', url: '/api/v1/pods?fieldSelector=metadata.namespace%3Ddefault,metadata.name%3Dweb-0', want: R('list', '', 'v1', '', 'pods', 'web-0') },
  { name: 'fieldSelector: the first name term wins', method: 'GET', url: '/api/v1/pods?fieldSelector=metadata.name%3Da,metadata.name%3Db', want: R('list', '', 'v1', '', 'pods', 'a') },
  { name: 'fieldSelector name that is not a valid path segment is ignored', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3D..', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'fieldSelector with a space in the key does not match', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name+%3Dx', want: R('list', '', 'v1', 'default', 'pods') },
  { name: 'fieldSelector name on deletecollection is not read', method: 'DELETE', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-0', want: R('deletecollection', '', 'v1', 'default', 'pods') },
  // --- non-resource URLs
  { name: 'root', method: 'GET', url: '/', want: NR('get', '/') },
  { name: 'version', method: 'GET', url: '/version', want: NR('get', '/version') },
  { name: 'healthz', method: 'GET', url: '/healthz', want: NR('get', '/healthz') },
  { name: 'readyz verbose', method: 'GET', url: '/readyz?verbose', want: NR('get', '/readyz') },
  { name: 'openapi v2', method: 'GET', url: '/openapi/v2', want: NR('get', '/openapi/v2') },
  { name: 'openapi v3 group document', method: 'GET', url: '/openapi/v3/apis/apps/v1?hash=abc', want: NR('get', '/openapi/v3/apis/apps/v1') },
  { name: 'discovery /api', method: 'GET', url: '/api', want: NR('get', '/api') },
  { name: 'discovery /api/v1', method: 'GET', url: '/api/v1', want: NR('get', '/api/v1') },
  { name: 'discovery /apis', method: 'GET', url: '/apis', want: NR('get', '/apis') },
  { name: 'discovery of a group', method: 'GET', url: '/apis/apps', want: NR('get', '/apis/apps') },
  { name: 'discovery of a group version', method: 'GET', url: '/apis/apps/v1', want: NR('get', '/apis/apps/v1') },
  { name: 'non-resource POST keeps the method as verb', method: 'POST', url: '/logs', want: NR('post', '/logs') },
  { name: 'an unknown prefix is non-resource', method: 'GET', url: '/metrics/cadvisor/x', want: NR('get', '/metrics/cadvisor/x') },
];

for (const row of rows) {
  test(`attributes: ${row.name}`, (t) => {
    const result = parseRequest(row.method, row.url);
    if (!result.ok) return t.fail(`refused: ${result.error.code} ${result.error.message}`);
    const got: Partial<RequestAttributes> = {};
    for (const key of Object.keys(row.want) as Array<keyof RequestAttributes>) (got as Record<string, unknown>)[key] = result.attributes[key];
    t.deepEqual(got, row.want);
    // What the parser produces is what the sidecar sends the broker: it must meet the contract.
    const checked = RequestAttributesSchema.safeParse(result.attributes);
    t.true(checked.success, checked.success ? '' : JSON.stringify(checked.error.issues));
  });
}

// --- deliberate refusals: where the API server would clean, redirect or reinterpret
interface Refusal { name: string; method: string; url: string; code: RequestPathError['code'] }
const refusals: Refusal[] = [
  { name: 'a ".." segment', method: 'GET', url: '/api/v1/namespaces/default/pods/../secrets', code: 'path-dot-segment' },
  { name: 'a "." segment', method: 'GET', url: '/api/v1/namespaces/./pods', code: 'path-dot-segment' },
  { name: 'an encoded ".." segment', method: 'GET', url: '/api/v1/namespaces/default/pods/%2e%2e/x', code: 'path-dot-segment' },
  { name: 'an encoded slash in a name', method: 'GET', url: '/api/v1/namespaces/default/pods/a%2Fexec', code: 'path-encoded-separator' },
  { name: 'an encoded lower-case slash', method: 'GET', url: '/api/v1/namespaces/default%2fpods', code: 'path-encoded-separator' },
  { name: 'an encoded backslash', method: 'GET', url: '/api/v1/namespaces/default/pods/a%5Cb', code: 'path-encoded-separator' },
  { name: 'an empty namespace segment', method: 'GET', url: '/api/v1/namespaces//pods', code: 'path-empty-segment' },
  { name: 'a double slash at the start', method: 'GET', url: '//api/v1/pods', code: 'path-empty-segment' },
  { name: 'a path of two slashes', method: 'GET', url: '//', code: 'path-empty-segment' },
  { name: 'a double trailing slash', method: 'GET', url: '/api/v1/pods//', code: 'path-empty-segment' },
  { name: 'bad percent-encoding', method: 'GET', url: '/api/v1/namespaces/%zz/pods', code: 'path-bad-encoding' },
  { name: 'an encoded NUL', method: 'GET', url: '/api/v1/namespaces/default/pods/a%00b', code: 'path-control-character' },
  { name: 'an overlong path', method: 'GET', url: '/api/v1/namespaces/default/configmaps/' + 'a'.repeat(MAX_PATH_LENGTH), code: 'path-too-long' },
  { name: 'a relative path', method: 'GET', url: 'api/v1/pods', code: 'path-not-absolute' },
  { name: '/watch/ with nothing after it', method: 'GET', url: '/api/v1/watch', code: 'path-incomplete' },
  { name: 'a semicolon in the query', method: 'GET', url: '/api/v1/namespaces/default/pods?watch=false;watch=true', code: 'selector-invalid' },
  { name: 'a field selector without an operator', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name', code: 'selector-invalid' },
  { name: 'a field selector value with an unescaped "="', method: 'GET', url: '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Da%3Db', code: 'selector-invalid' },
  { name: 'an unknown method on a resource path', method: 'TRACE', url: '/api/v1/namespaces/default/pods', code: 'method-unsupported' },
  { name: 'CONNECT on a non-resource path', method: 'CONNECT', url: '/version', code: 'method-unsupported' },
];

for (const row of refusals) {
  test(`refused: ${row.name}`, (t) => {
    const result = parseRequest(row.method, row.url);
    if (result.ok) return t.fail(`accepted as ${JSON.stringify(result.attributes)}`);
    t.is(result.error.code, row.code);
    t.true(result.error.message.length > 0);
  });
}

test('a refusal maps to a 400 Status that names the reason code', (t) => {
  const result = parseRequest('GET', '/api/v1/namespaces/default/pods/a%2Fexec');
  if (result.ok) return t.fail('accepted');
  t.deepEqual(pathErrorStatus(result.error), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'agentgate refused the request: the request path segment "a%2Fexec" encodes a path separator; send the path as kubectl would, without ".", "..", empty segments or encoded slashes',
    reason: 'BadRequest',
    details: { causes: [{ reason: 'path-encoded-separator', message: 'agentgate refused the request: the request path segment "a%2Fexec" encodes a path separator; send the path as kubectl would, without ".", "..", empty segments or encoded slashes' }] },
    code: 400,
  });
});

test('an unsupported method maps to 405', (t) => {
  const result = parseRequest('TRACE', '/api/v1/pods');
  if (result.ok) return t.fail('accepted');
  t.is(pathErrorStatus(result.error).code, 405);
});

test('exactFieldMatch follows fields.ParseSelector escapes', (t) => {
  t.is(exactFieldMatch('metadata.name=a\\,b', 'metadata.name'), 'a,b');
  t.is(exactFieldMatch('spec.nodeName=n1', 'metadata.name'), undefined);
  t.throws(() => exactFieldMatch('metadata.name=a\\x', 'metadata.name'), { message: /invalid escape sequence/ });
});
