/**
 * OpenAPI documents of the API double: v2 negotiation and its protobuf (decoded back field by
 * field), the v3 index, hashes and redirects, the PATCH fieldValidation parameter kubectl probes,
 * strategic-merge directives, and that every $ref resolves.
 */
import test from 'ava';
import { parse } from 'yaml';
import { serveOpenAPI } from '../doubles/kube-api/openapi.ts';
import { readFields } from '../doubles/kube-api/openapi-protobuf.ts';
import type { ProtoField } from '../doubles/kube-api/openapi-protobuf.ts';

const PB = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

const v2Accept: Array<{ name: string; accept: string | undefined; status: number; contentType: string }> = [
  { name: 'kubectl protobuf Accept', accept: PB, status: 200, contentType: 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' },
  { name: 'the non-deprecated protobuf name', accept: 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', status: 200, contentType: 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' },
  { name: 'protobuf preferred over JSON by q', accept: `application/json;q=0.5, ${PB}`, status: 200, contentType: 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' },
  { name: 'JSON', accept: 'application/json', status: 200, contentType: 'application/json' },
  { name: 'no Accept means */* means JSON', accept: undefined, status: 200, contentType: 'application/json' },
  { name: 'unknown type is 406', accept: 'text/html', status: 406, contentType: 'text/plain; charset=utf-8' },
];

for (const row of v2Accept) {
  test(`/openapi/v2 negotiation: ${row.name}`, (t) => {
    const r = serveOpenAPI('/openapi/v2', row.accept);
    t.is(r?.status, row.status);
    t.is(r?.contentType, row.contentType);
    t.is(r?.vary, 'Accept');
  });
}

const bytesOf = (fields: ProtoField[], field: number): Buffer[] => fields.filter((f) => f.field === field && Buffer.isBuffer(f.value)).map((f) => f.value as Buffer);
const text = (fields: ProtoField[], field: number): string | undefined => bytesOf(fields, field)[0]?.toString('utf8');
/** NamedX entries (name = 1, value = 2) of a map message's repeated field. */
const named = (fields: ProtoField[], field: number): Map<string, ProtoField[]> =>
  new Map(bytesOf(fields, field).map((b) => readFields(b)).map((entry) => [text(entry, 1) ?? '', readFields(bytesOf(entry, 2)[0] ?? Buffer.alloc(0))]));

test('/openapi/v2 protobuf decodes back to the JSON document', (t) => {
  const json = JSON.parse(String(serveOpenAPI('/openapi/v2', 'application/json')?.body)) as { definitions: Record<string, unknown>; paths: Record<string, unknown> };
  const doc = readFields(serveOpenAPI('/openapi/v2', PB)?.body as Buffer);
  t.is(text(doc, 1), '2.0');
  const info = readFields(bytesOf(doc, 2)[0] as Buffer);
  t.is(text(info, 1), 'Kubernetes');
  const definitions = named(readFields(bytesOf(doc, 9)[0] as Buffer), 1);
  t.deepEqual([...definitions.keys()], Object.keys(json.definitions));
  const pod = definitions.get('io.k8s.api.core.v1.Pod') ?? [];
  t.is(text(pod, 4), 'Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.');
  t.deepEqual(readFields(bytesOf(pod, 22)[0] as Buffer).map((f) => (f.value as Buffer).toString()), ['object']);
  const gvk = named(pod, 31).get('x-kubernetes-group-version-kind');
  t.deepEqual(parse(text(gvk ?? [], 2) ?? ''), [{ group: '', kind: 'Pod', version: 'v1' }]);
  const spec = definitions.get('io.k8s.api.core.v1.PodSpec') ?? [];
  t.deepEqual(text(spec, 19), 'containers', 'required');
  const containers = named(readFields(bytesOf(spec, 25)[0] as Buffer), 1).get('containers') ?? [];
  const extensions = [...named(containers, 31)].map(([k, v]) => [k, parse(text(v, 2) ?? '')]);
  t.deepEqual(Object.fromEntries(extensions), { 'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-list-type': 'map', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' });
  const items = readFields(bytesOf(containers, 23)[0] as Buffer);
  t.is(text(readFields(bytesOf(items, 1)[0] as Buffer), 1), '#/definitions/io.k8s.api.core.v1.Container');
  const paths = named(readFields(bytesOf(doc, 8)[0] as Buffer), 2);
  t.deepEqual([...paths.keys()].sort(), Object.keys(json.paths).sort());
  const patch = readFields(bytesOf(paths.get('/api/v1/namespaces/{namespace}/pods/{name}') ?? [], 8)[0] as Buffer);
  t.is(text(patch, 5), 'patchCoreV1NamespacedPod');
});

test('integer formats come from the package validators', (t) => {
  const json = JSON.parse(String(serveOpenAPI('/openapi/v2', undefined)?.body)) as { definitions: Record<string, { properties: Record<string, unknown> }> };
  const spec = json.definitions['io.k8s.api.core.v1.PodSpec']?.properties;
  t.deepEqual({ ...(spec?.activeDeadlineSeconds as object), description: undefined }, { description: undefined, type: 'integer', format: 'int64' });
  t.like(spec?.priority, { type: 'integer', format: 'int32' });
  t.like(json.definitions['io.k8s.api.apps.v1.DeploymentSpec']?.properties.replicas, { type: 'integer', format: 'int32' });
});

test('/openapi/v3 index lists served group versions with hashes that match the documents', (t) => {
  const index = JSON.parse(String(serveOpenAPI('/openapi/v3', undefined)?.body)) as { paths: Record<string, { serverRelativeURL: string }> };
  t.deepEqual(Object.keys(index.paths), ['api/v1', 'apis/admissionregistration.k8s.io/v1', 'apis/apps/v1', 'apis/authentication.k8s.io/v1', 'apis/authorization.k8s.io/v1', 'apis/rbac.authorization.k8s.io/v1']);
  for (const [key, { serverRelativeURL }] of Object.entries(index.paths)) {
    const r = serveOpenAPI(serverRelativeURL, 'application/json');
    t.is(r?.status, 200, key);
    t.is(r?.headers?.['Cache-Control'], 'public, immutable');
    t.is(r?.headers?.ETag, `"${new URL(serverRelativeURL, 'https://x').searchParams.get('hash')}"`);
  }
});

const v3Cases: Array<{ name: string; path: string; accept: string | undefined; status: number; location?: string; cache?: string }> = [
  { name: 'without hash: no immutable caching', path: '/openapi/v3/api/v1', accept: undefined, status: 200 },
  { name: 'stale hash redirects to the current one', path: '/openapi/v3/apis/apps/v1?hash=0123', accept: undefined, status: 301, location: '/openapi/v3/apis/apps/v1?hash=' },
  { name: 'unknown group version is 404', path: '/openapi/v3/apis/policy/v1', accept: undefined, status: 404 },
  { name: 'non-JSON Accept is 406', path: '/openapi/v3/api/v1', accept: 'text/html', status: 406 },
];

for (const row of v3Cases) {
  test(`/openapi/v3 document: ${row.name}`, (t) => {
    const r = serveOpenAPI(row.path, row.accept);
    t.is(r?.status, row.status);
    if (row.location) t.true(r?.headers?.Location?.startsWith(row.location));
    if (row.status === 200) t.is(r?.headers?.['Cache-Control'], undefined);
  });
}

test('paths outside /openapi are not served', (t) => {
  t.is(serveOpenAPI('/api/v1', undefined), undefined);
  t.is(serveOpenAPI('/openapi/v2x', undefined), undefined);
});

type V3Doc = { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; 'x-kubernetes-group-version-kind'?: unknown; 'x-kubernetes-action'?: string }>>; components: { schemas: Record<string, unknown> } };
const v3 = (key: string): V3Doc => JSON.parse(String(serveOpenAPI(`/openapi/v3/${key}`, 'application/json')?.body)) as V3Doc;

const fieldValidation: Array<{ name: string; key: string; path: string; gvk: Record<string, string> }> = [
  { name: 'pods', key: 'api/v1', path: '/api/v1/namespaces/{namespace}/pods/{name}', gvk: { group: '', kind: 'Pod', version: 'v1' } },
  { name: 'namespaces (kubectl falls back to it)', key: 'api/v1', path: '/api/v1/namespaces/{name}', gvk: { group: '', kind: 'Namespace', version: 'v1' } },
  { name: 'deployments', key: 'apis/apps/v1', path: '/apis/apps/v1/namespaces/{namespace}/deployments/{name}', gvk: { group: 'apps', kind: 'Deployment', version: 'v1' } },
  { name: 'clusterroles', key: 'apis/rbac.authorization.k8s.io/v1', path: '/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}', gvk: { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', version: 'v1' } },
];

for (const row of fieldValidation) {
  test(`v3 PATCH of ${row.name} carries the GVK and the fieldValidation query parameter`, (t) => {
    const patch = v3(row.key).paths[row.path]?.patch;
    t.deepEqual(patch?.['x-kubernetes-group-version-kind'], row.gvk);
    t.is(patch?.['x-kubernetes-action'], 'patch');
    t.truthy(patch?.parameters?.find((p) => p.name === 'fieldValidation' && p.in === 'query'));
  });
}

test('every $ref of every document resolves', (t) => {
  const refs = (doc: unknown, prefix: string): string[] => (JSON.stringify(doc).match(new RegExp(`"${prefix}[^"]+"`, 'g')) ?? []).map((r) => r.slice(prefix.length + 1, -1));
  const v2 = JSON.parse(String(serveOpenAPI('/openapi/v2', undefined)?.body)) as { definitions: Record<string, unknown> };
  for (const ref of refs(v2, '#/definitions/')) t.truthy(v2.definitions[ref], ref);
  for (const key of ['api/v1', 'apis/apps/v1', 'apis/authorization.k8s.io/v1']) {
    const doc = v3(key);
    for (const ref of refs(doc, '#/components/schemas/')) t.truthy(doc.components.schemas[ref], `${key}: ${ref}`);
  }
});

test('v3 schemas use allOf for described references, as kube-openapi writes them', (t) => {
  const pod = v3('api/v1').components.schemas['io.k8s.api.core.v1.Pod'] as { properties: Record<string, unknown> };
  t.like(pod.properties.spec, { allOf: [{ $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' }] });
});
