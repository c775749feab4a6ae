// The double's RequestInfo parser, table-driven after the apiserver's requestinfo_test.go.
import test from 'ava';
import { parseRequestInfo } from '../doubles/kube-api/request-info.ts';

const rows: Array<{ name: string; method: string; url: string; want: Partial<ReturnType<typeof parseRequestInfo>> }> = [
  // collections and objects
  { name: 'list of namespaced pods', method: 'GET', url: '/api/v1/namespaces/ns/pods', want: { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'ns', name: '' } },
  { name: 'get of one pod', method: 'GET', url: '/api/v1/namespaces/ns/pods/p', want: { verb: 'get', resource: 'pods', name: 'p' } },
  { name: 'list across namespaces', method: 'GET', url: '/api/v1/pods', want: { verb: 'list', namespace: '', resource: 'pods' } },
  { name: 'a group resource', method: 'POST', url: '/apis/apps/v1/namespaces/ns/deployments', want: { verb: 'create', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments' } },
  { name: 'deletecollection', method: 'DELETE', url: '/api/v1/namespaces/ns/pods', want: { verb: 'deletecollection' } },
  { name: 'patch', method: 'PATCH', url: '/api/v1/namespaces/ns/pods/p', want: { verb: 'patch', name: 'p' } },
  // watch forms
  { name: 'watch by query', method: 'GET', url: '/api/v1/namespaces/ns/pods?watch=true', want: { verb: 'watch', resource: 'pods' } },
  { name: 'watch by query value 1', method: 'GET', url: '/api/v1/pods?watch=1', want: { verb: 'watch' } },
  { name: 'watch=false is a list', method: 'GET', url: '/api/v1/pods?watch=false', want: { verb: 'list' } },
  { name: 'the deprecated watch path', method: 'GET', url: '/api/v1/watch/namespaces/ns/pods/p', want: { verb: 'watch', resource: 'pods', name: 'p', namespace: 'ns' } },
  { name: 'a name from a metadata.name field selector', method: 'GET', url: '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp', want: { verb: 'list', name: 'p' } },
  // subresources
  { name: 'pod log', method: 'GET', url: '/api/v1/namespaces/ns/pods/p/log', want: { verb: 'get', resource: 'pods', subresource: 'log', name: 'p' } },
  { name: 'deployment scale', method: 'PUT', url: '/apis/apps/v1/namespaces/ns/deployments/d/scale', want: { verb: 'update', subresource: 'scale' } },
  { name: 'namespace status is a subresource of the namespace', method: 'PUT', url: '/api/v1/namespaces/ns/status', want: { resource: 'namespaces', name: 'ns', subresource: 'status', namespace: 'ns' } },
  { name: 'a namespace itself', method: 'GET', url: '/api/v1/namespaces/ns', want: { resource: 'namespaces', name: 'ns', verb: 'get' } },
  { name: 'a token request', method: 'POST', url: '/api/v1/namespaces/ns/serviceaccounts/sa/token', want: { verb: 'create', resource: 'serviceaccounts', subresource: 'token', name: 'sa' } },
  // hostile and non-resource
  { name: 'an encoded name is decoded', method: 'GET', url: '/api/v1/namespaces/ns/configmaps/a%2Eb', want: { name: 'a.b' } },
  { name: 'discovery is non-resource', method: 'GET', url: '/apis/apps/v1', want: { isResourceRequest: false, verb: 'get', path: '/apis/apps/v1' } },
  { name: '/api alone is non-resource', method: 'GET', url: '/api', want: { isResourceRequest: false } },
  { name: 'healthz is non-resource', method: 'GET', url: '/healthz', want: { isResourceRequest: false, path: '/healthz' } },
  { name: 'lower-case method still maps', method: 'post', url: '/api/v1/namespaces/ns/configmaps', want: { verb: 'create' } },
];

for (const row of rows) {
  test(`request info: ${row.name}`, (t) => {
    t.like(parseRequestInfo(row.method, row.url), row.want);
  });
}
