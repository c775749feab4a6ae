// Patch kinds of the API double: strategic merge (unit table), merge and JSON patch, server-side
// apply and conflicts over HTTPS.
import test from 'ava';
import { applyMergePatch, strategicMerge } from '../doubles/kube-api/patch.ts';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import { call } from './call.ts';

type Json = Parameters<typeof strategicMerge>[0];

const base: Json = {
  metadata: { labels: { a: '1', b: '2' }, finalizers: ['x'] },
  spec: {
    containers: [
      { name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }], volumeMounts: [{ name: 'v', mountPath: '/data' }] },
      { name: 'side', image: 'side:1' },
    ],
    volumes: [{ name: 'v', emptyDir: {} }],
    tolerations: [{ key: 't1' }],
  },
};

const smpRows: Array<{ name: string; patch: Json; check: (out: Record<string, unknown>) => unknown; want: unknown }> = [
  // maps
  { name: 'a label is added beside the others', patch: { metadata: { labels: { c: '3' } } }, check: (o) => (o.metadata as Record<string, unknown>).labels, want: { a: '1', b: '2', c: '3' } },
  { name: 'null deletes a key', patch: { metadata: { labels: { a: null } } }, check: (o) => (o.metadata as Record<string, unknown>).labels, want: { b: '2' } },
  // keyed lists
  { name: 'containers merge by name', patch: { spec: { containers: [{ name: 'side', image: 'side:2' }] } }, check: (o) => (o.spec as { containers: Array<{ name: string; image: string }> }).containers.map((c) => `${c.name}=${c.image}`), want: ['app=app:1', 'side=side:2'] },
  { name: 'a new container is appended', patch: { spec: { containers: [{ name: 'new', image: 'n:1' }] } }, check: (o) => (o.spec as { containers: Array<{ name: string }> }).containers.map((c) => c.name), want: ['app', 'side', 'new'] },
  { name: '$patch: delete removes a container', patch: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } }, check: (o) => (o.spec as { containers: Array<{ name: string }> }).containers.map((c) => c.name), want: ['app'] },
  { name: 'env merges by name inside a container', patch: { spec: { containers: [{ name: 'app', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }] }] } }, check: (o) => (o.spec as { containers: Array<{ env?: unknown }> }).containers[0]?.env, want: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }] },
  { name: 'container ports merge by containerPort', patch: { spec: { containers: [{ name: 'app', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] }] } }, check: (o) => (o.spec as { containers: Array<{ ports?: unknown }> }).containers[0]?.ports, want: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] },
  { name: 'volumeMounts merge by mountPath', patch: { spec: { containers: [{ name: 'app', volumeMounts: [{ mountPath: '/data', readOnly: true }] }] } }, check: (o) => (o.spec as { containers: Array<{ volumeMounts?: unknown }> }).containers[0]?.volumeMounts, want: [{ name: 'v', mountPath: '/data', readOnly: true }] },
  { name: 'volumes merge by name', patch: { spec: { volumes: [{ name: 'w', emptyDir: {} }] } }, check: (o) => (o.spec as { volumes: Array<{ name: string }> }).volumes.map((v) => v.name), want: ['v', 'w'] },
  // unkeyed lists and directives
  { name: 'a list without a merge key is replaced', patch: { spec: { tolerations: [{ key: 't2' }] } }, check: (o) => (o.spec as Record<string, unknown>).tolerations, want: [{ key: 't2' }] },
  { name: 'finalizers merge as a set', patch: { metadata: { finalizers: ['y', 'x'] } }, check: (o) => (o.metadata as Record<string, unknown>).finalizers, want: ['x', 'y'] },
  { name: '$deleteFromPrimitiveList removes values', patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }, check: (o) => (o.metadata as Record<string, unknown>).finalizers, want: [] },
  { name: '$setElementOrder orders a keyed list', patch: { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }], containers: [{ name: 'app', image: 'app:2' }] } }, check: (o) => (o.spec as { containers: Array<{ name: string }> }).containers.map((c) => c.name), want: ['side', 'app'] },
  { name: '$patch: replace on a map replaces it', patch: { metadata: { labels: { $patch: 'replace', z: '9' } } }, check: (o) => (o.metadata as Record<string, unknown>).labels, want: { z: '9' } },
];

for (const row of smpRows) {
  test(`strategic merge: ${row.name}`, (t) => {
    t.deepEqual(row.check(strategicMerge(base, row.patch) as Record<string, unknown>), row.want);
  });
}

test('merge patch replaces lists and deletes with null', (t) => {
  t.deepEqual(applyMergePatch({ a: [1, 2], b: { c: 1, d: 2 } }, { a: [3], b: { c: null } }), { a: [3], b: { d: 2 } });
});

let api: KubeApiServer;
test.before(async () => {
  api = await createKubeApiServer();
});
test.after.always(async () => {
  await api.close();
});

const CM = '/api/v1/namespaces/default/configmaps';

test('JSON patch: a failed test op is 422 and changes nothing', async (t) => {
  await call(api, 'POST', CM, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jp' }, data: { a: '1' } } });
  const r = await call(api, 'PATCH', `${CM}/jp`, { body: [{ op: 'test', path: '/data/a', value: '2' }, { op: 'replace', path: '/data/a', value: '3' }], contentType: 'application/json-patch+json' });
  t.is(r.status, 422);
  t.deepEqual(api.objects.get('configmaps', 'default', 'jp')?.data, { a: '1' });
});

test('a patch carrying a stale resourceVersion is 409', async (t) => {
  const created = await call(api, 'POST', CM, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stale' } } });
  await call(api, 'PATCH', `${CM}/stale`, { body: { data: { x: '1' } }, contentType: 'application/merge-patch+json' });
  const r = await call(api, 'PATCH', `${CM}/stale`, { body: { metadata: { resourceVersion: created.json.metadata?.resourceVersion }, data: { x: '2' } }, contentType: 'application/merge-patch+json' });
  t.is(r.status, 409);
});

test('strategic merge patch on a pod merges containers by name', async (t) => {
  await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'smp' }, spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] } } });
  const r = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/smp', { body: { spec: { containers: [{ name: 'b', image: 'b:2' }] } }, contentType: 'application/strategic-merge-patch+json' });
  t.is(r.status, 200);
  t.deepEqual((r.json.spec as { containers: Array<{ name: string; image: string }> }).containers.map((c) => c.image), ['a:1', 'b:2']);
});

test('server-side apply creates (201) then updates (200), and requires a fieldManager', async (t) => {
  const body = (v: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  v: "${v}"\n`;
  const path = `${CM}/ssa?fieldManager=tester`;
  const created = await call(api, 'PATCH', path, { body: body('1'), contentType: 'application/apply-patch+yaml' });
  t.is(created.status, 201);
  const updated = await call(api, 'PATCH', `${path}&force=true`, { body: body('2'), contentType: 'application/apply-patch+yaml' });
  t.is(updated.status, 200);
  t.deepEqual(updated.json.data, { v: '2' });
  const managed = (updated.json.metadata?.managedFields ?? []) as Array<{ manager: string; operation: string; fieldsV1: unknown }>;
  t.like(managed.find((m) => m.manager === 'tester'), { operation: 'Apply', fieldsV1: { 'f:data': { 'f:v': {} } } });
  const missing = await call(api, 'PATCH', `${CM}/ssa`, { body: body('3'), contentType: 'application/apply-patch+yaml' });
  t.is(missing.status, 422);
});

test('deployments/scale reads and writes replicas and bumps generation', async (t) => {
  const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } };
  const created = await call(api, 'POST', '/apis/apps/v1/namespaces/default/deployments', { body: d });
  t.is(created.json.metadata?.generation, 1);
  const scale = await call(api, 'GET', '/apis/apps/v1/namespaces/default/deployments/web/scale');
  t.like(scale.json, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 1 }, status: { selector: 'app=web' } });
  const patched = await call(api, 'PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale', { body: { spec: { replicas: 3 } }, contentType: 'application/merge-patch+json' });
  t.like(patched.json, { kind: 'Scale', spec: { replicas: 3 } });
  const after = api.objects.get('deployments.apps', 'default', 'web');
  t.is((after?.spec as { replicas?: number }).replicas, 3);
  t.is(after?.metadata.generation, 2);
});

test('pods/ephemeralcontainers adds a container and refuses changing an existing one', async (t) => {
  await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'eph' }, spec: { containers: [{ name: 'a', image: 'a:1' }] } } });
  const add = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/eph/ephemeralcontainers', { body: { spec: { ephemeralContainers: [{ name: 'debug', image: 'busybox:1.36', targetContainerName: 'a' }] } }, contentType: 'application/strategic-merge-patch+json' });
  t.is(add.status, 200);
  t.deepEqual(((add.json.spec as { ephemeralContainers?: Array<{ name: string }> }).ephemeralContainers ?? []).map((c) => c.name), ['debug']);
  const change = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/eph/ephemeralcontainers', { body: { spec: { ephemeralContainers: [{ name: 'debug', image: 'busybox:1.37' }] } }, contentType: 'application/strategic-merge-patch+json' });
  t.is(change.status, 422);
  // The main resource does not change ephemeral containers.
  const main = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/eph', { body: { spec: { ephemeralContainers: null } }, contentType: 'application/merge-patch+json' });
  t.is(((main.json.spec as { ephemeralContainers?: unknown[] }).ephemeralContainers ?? []).length, 1);
});
