// Core semantics of the API double over HTTPS: CRUD response bodies, generateName, dryRun,
// optimistic concurrency, namespaces, content types, limits, authentication and Table output.
import test from 'ava';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import { call } from './call.ts';

let api: KubeApiServer;
const VIEWER = 'viewer-token-core';

test.before(async () => {
  api = await createKubeApiServer({ version: '1.31', staticTokens: { [VIEWER]: { username: 'viewer', groups: [] } } });
});
test.after.always(async () => {
  await api.close();
});

const CM = '/api/v1/namespaces/default/configmaps';

function configMap(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' }, ...extra };
}

test('create stamps uid, resourceVersion and creationTimestamp; get and list return it', async (t) => {
  const created = await call(api, 'POST', CM, { body: configMap('crud-1') });
  t.is(created.status, 201);
  const meta = created.json.metadata ?? {};
  t.regex(String(meta.uid), /^[0-9a-f-]{36}$/);
  t.regex(String(meta.resourceVersion), /^\d+$/);
  t.regex(String(meta.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.is(meta.namespace, 'default');
  const got = await call(api, 'GET', `${CM}/crud-1`);
  t.is(got.status, 200);
  t.deepEqual(got.json, created.json);
  const list = await call(api, 'GET', CM);
  t.is(list.json.kind, 'ConfigMapList');
  t.is(list.json.apiVersion, 'v1');
  const item = list.json.items?.find((i) => (i.metadata as { name?: string }).name === 'crud-1');
  // Items of built-in lists carry no kind/apiVersion on the wire.
  t.deepEqual(Object.keys(item ?? {}).sort(), ['data', 'metadata']);
  t.true(Number(list.json.metadata?.resourceVersion) >= Number(meta.resourceVersion));
});

test('resourceVersion is one global counter across resources', async (t) => {
  const a = await call(api, 'POST', CM, { body: configMap('rv-a') });
  const b = await call(api, 'POST', '/api/v1/namespaces/default/secrets', { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rv-b' } } });
  t.true(Number(b.json.metadata?.resourceVersion) > Number(a.json.metadata?.resourceVersion));
  t.is((b.json as { type?: string }).type, 'Opaque');
});

test('generateName gets a five-character suffix', async (t) => {
  const r = await call(api, 'POST', CM, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } } });
  t.is(r.status, 201);
  t.regex(String(r.json.metadata?.name), /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
});

test('update with a stale resourceVersion is 409 worded as the real server', async (t) => {
  const created = await call(api, 'POST', CM, { body: configMap('conflicted') });
  const first = { ...created.json, data: { a: 'c' } };
  t.is((await call(api, 'PUT', `${CM}/conflicted`, { body: first })).status, 200);
  const stale = await call(api, 'PUT', `${CM}/conflicted`, { body: { ...created.json, data: { a: 'd' } } });
  t.is(stale.status, 409);
  t.is(stale.json.reason, 'Conflict');
  t.is(stale.json.message, 'Operation cannot be fulfilled on configmaps "conflicted": the object has been modified; please apply your changes to the latest version and try again');
});

test('a no-op update keeps the resourceVersion', async (t) => {
  const created = await call(api, 'POST', CM, { body: configMap('noop') });
  const again = await call(api, 'PUT', `${CM}/noop`, { body: created.json });
  t.is(again.json.metadata?.resourceVersion, created.json.metadata?.resourceVersion);
});

test('dryRun=All admits but stores nothing, for create, update and delete', async (t) => {
  const dry = await call(api, 'POST', `${CM}?dryRun=All`, { body: configMap('dry') });
  t.is(dry.status, 201);
  t.is(api.objects.get('configmaps', 'default', 'dry'), undefined);
  api.objects.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry-kept', namespace: 'default' }, data: { a: 'b' } });
  const del = await call(api, 'DELETE', `${CM}/dry-kept?dryRun=All`);
  t.is(del.status, 200);
  t.truthy(api.objects.get('configmaps', 'default', 'dry-kept'));
  const bad = await call(api, 'POST', `${CM}?dryRun=Some`, { body: configMap('dry-bad') });
  t.is(bad.status, 400);
  t.is(bad.json.message, 'Invalid dry run value: Some');
});

test('delete answers Status for configmaps and the object for pods', async (t) => {
  const cm = await call(api, 'POST', CM, { body: configMap('del-cm') });
  const delCm = await call(api, 'DELETE', `${CM}/del-cm`);
  t.like(delCm.json, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: 'del-cm', kind: 'configmaps', uid: cm.json.metadata?.uid } });
  await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'del-pod' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } });
  const delPod = await call(api, 'DELETE', '/api/v1/namespaces/default/pods/del-pod');
  t.is(delPod.json.kind, 'Pod');
  t.is((await call(api, 'GET', '/api/v1/namespaces/default/pods/del-pod')).status, 404);
});

test('delete preconditions on uid and resourceVersion are 409', async (t) => {
  await call(api, 'POST', CM, { body: configMap('precond') });
  const r = await call(api, 'DELETE', `${CM}/precond`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'other' } } });
  t.is(r.status, 409);
  t.regex(String(r.json.message), /^Operation cannot be fulfilled on configmaps "precond": Precondition failed: UID in precondition: other, UID in object meta: /);
});

test('namespaces: creating one adds its default ServiceAccount and CA; deleting one removes its content', async (t) => {
  t.is((await call(api, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } } })).status, 201);
  t.truthy(api.objects.get('serviceaccounts', 'team-a', 'default'));
  t.truthy(api.objects.get('configmaps', 'team-a', 'kube-root-ca.crt'));
  await call(api, 'POST', '/api/v1/namespaces/team-a/configmaps', { body: configMap('inside') });
  const del = await call(api, 'DELETE', '/api/v1/namespaces/team-a');
  t.is(del.json.kind, 'Namespace');
  t.is((del.json.status as { phase?: string }).phase, 'Terminating');
  t.is(api.objects.get('configmaps', 'team-a', 'inside'), undefined);
  t.is(api.objects.get('serviceaccounts', 'team-a', 'default'), undefined);
});

test('pods are Running with ready containers (there is no kubelet)', async (t) => {
  const r = await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'running' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } } });
  const status = r.json.status as { phase?: string; containerStatuses?: Array<{ name: string; ready: boolean }> };
  t.is(status.phase, 'Running');
  t.deepEqual(status.containerStatuses?.map((c) => [c.name, c.ready]), [['c', true]]);
});

test('Table output through the table convertor, with includeObject', async (t) => {
  await call(api, 'POST', CM, { body: configMap('tabled') });
  const r = await call(api, 'GET', `${CM}?includeObject=Object`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
  t.is(r.json.kind, 'Table');
  const rows = (r.json.rows as Array<{ cells: unknown[]; object: { kind?: string; metadata?: { name?: string } } }>);
  const row = rows.find((x) => x.object.metadata?.name === 'tabled');
  t.is(row?.cells[0], 'tabled');
  t.is(row?.object.kind, 'ConfigMap');
});

test('protobuf Accept falls back to JSON; protobuf bodies of known kinds decode', async (t) => {
  const r = await call(api, 'GET', `${CM}`, { accept: 'application/vnd.kubernetes.protobuf' });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  // A ConfigMap `pb` with data {k: v}, as client-go encodes it.
  const meta = Buffer.concat([Buffer.from([0x0a, 2]), Buffer.from('pb')]);
  const entry = Buffer.from([0x0a, 1, 0x6b, 0x12, 1, 0x76]);
  const raw = Buffer.concat([Buffer.from([0x0a, meta.length]), meta, Buffer.from([0x12, entry.length]), entry]);
  const typeMeta = Buffer.concat([Buffer.from([0x0a, 2]), Buffer.from('v1'), Buffer.from([0x12, 9]), Buffer.from('ConfigMap')]);
  const unknown = Buffer.concat([Buffer.from([0x0a, typeMeta.length]), typeMeta, Buffer.from([0x12, raw.length]), raw]);
  const body = Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
  const created = await call(api, 'POST', CM, { body, contentType: 'application/vnd.kubernetes.protobuf' });
  t.is(created.status, 201);
  t.deepEqual(api.objects.get('configmaps', 'default', 'pb')?.data, { k: 'v' });
});

test('fieldValidation: Strict refuses unknown fields, Warn (the default) warns', async (t) => {
  const strict = await call(api, 'POST', `${CM}?fieldValidation=Strict`, { body: configMap('strict', { dta: {} }) });
  t.is(strict.status, 400);
  t.is(strict.json.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dta"');
  const warn = await call(api, 'POST', CM, { body: configMap('warned', { dta: {} }) });
  t.is(warn.status, 201);
  t.is(warn.headers.warning, '299 - "unknown field \\"dta\\""');
});

// Failure answers: status code, reason and message, as the real server words them.
const failures: Array<{ name: string; method: string; path: string; body?: unknown; contentType?: string; token?: string | null; status: number; reason?: string; message: string }> = [
  { name: 'no token is 401', method: 'GET', path: CM, token: null, status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  { name: 'an unknown token is 401', method: 'GET', path: CM, token: 'nope', status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  { name: 'RBAC denies a user without bindings', method: 'GET', path: CM, token: VIEWER, status: 403, reason: 'Forbidden', message: 'configmaps is forbidden: User "viewer" cannot list resource "configmaps" in API group "" in the namespace "default"' },
  { name: 'a missing object is 404', method: 'GET', path: `${CM}/missing`, status: 404, reason: 'NotFound', message: 'configmaps "missing" not found' },
  { name: 'create in a missing namespace is 404 on the namespace', method: 'POST', path: '/api/v1/namespaces/nowhere/configmaps', body: configMap('x'), status: 404, reason: 'NotFound', message: 'namespaces "nowhere" not found' },
  { name: 'a taken name is 409 AlreadyExists', method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }, status: 409, reason: 'AlreadyExists', message: 'namespaces "default" already exists' },
  { name: 'an unknown resource is 404', method: 'GET', path: '/api/v1/namespaces/default/widgets', status: 404, reason: 'NotFound', message: 'the server could not find the requested resource' },
  { name: 'a verb the resource lacks is 405', method: 'PUT', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: {}, status: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' },
  { name: 'an unknown body type is 415', method: 'POST', path: CM, body: 'a=b', contentType: 'text/plain', status: 415, reason: 'UnsupportedMediaType', message: 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf' },
  { name: 'an unknown patch type is 415', method: 'PATCH', path: `${CM}/kube-root-ca.crt`, body: {}, contentType: 'application/json', status: 415, reason: 'UnsupportedMediaType', message: 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml' },
  { name: 'a body over 3 MiB is 413', method: 'POST', path: CM, body: configMap('huge', { data: { a: 'x'.repeat(3 * 1024 * 1024) } }), status: 413, reason: 'RequestEntityTooLarge', message: 'Request entity too large: limit is 3145728' },
  { name: 'an invalid name is 422', method: 'POST', path: CM, body: configMap('Bad_Name'), status: 422, reason: 'Invalid', message: 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')' },
  { name: 'a body namespace that differs from the URL is 400', method: 'POST', path: CM, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'kube-system' } }, status: 400, reason: 'BadRequest', message: 'the namespace of the provided object does not match the namespace sent on the request' },
  { name: 'a resourceVersion on create is refused', method: 'POST', path: CM, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '5' } }, status: 500, reason: 'InternalError', message: 'Internal error occurred: resourceVersion should not be set on objects to be created' },
  { name: 'an unsupported field selector is 400', method: 'GET', path: `${CM}?fieldSelector=spec.foo%3Dx`, status: 400, reason: 'BadRequest', message: 'field label not supported: spec.foo' },
  { name: 'exec without an upgrade is 400', method: 'POST', path: '/api/v1/namespaces/default/pods/running/exec?command=ls', status: 400, reason: 'BadRequest', message: 'Upgrade request required' },
];

for (const f of failures) {
  test(`failure: ${f.name}`, async (t) => {
    const opts: Parameters<typeof call>[3] = { body: f.body };
    if (f.contentType) opts.contentType = f.contentType;
    if (f.token !== undefined) opts.token = f.token;
    const r = await call(api, f.method, f.path, opts);
    t.is(r.status, f.status);
    t.like(r.json, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: f.status, message: f.message, ...(f.reason ? { reason: f.reason } : {}) });
  });
}

test('an unknown non-resource path is a plain 404 page', async (t) => {
  const r = await call(api, 'GET', '/nothing-here');
  t.is(r.status, 404);
  t.is(r.text, '404 page not found\n');
});
