/**
 * Table output of the API double: HumanDuration, the column sets per served resource, the pod
 * STATUS/READY/RESTARTS rules and includeObject.
 */
import test from 'ava';
import { humanDuration, toTable } from '../doubles/kube-api/table.ts';
import { RESOURCES, findResource } from '../doubles/kube-api/resources.ts';
import type { ResourceInfo } from '../doubles/kube-api/resources.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const durations: Array<[string, number, string]> = [
  ['clock 1s behind reads 0s', -1500, '0s'],
  ['clock 2s behind is invalid', -2000, '<invalid>'],
  ['zero', 0, '0s'],
  ['sub-second truncates', 999, '0s'],
  ['seconds up to 2 minutes', 119 * S, '119s'],
  ['2 minutes exactly', 120 * S, '2m'],
  ['minutes and seconds under 10m', 3 * M + 2 * S, '3m2s'],
  ['minutes only from 10m', 10 * M + 30 * S, '10m'],
  ['minutes up to 3h', 179 * M, '179m'],
  ['hours and minutes under 8h', 3 * H + 5 * M, '3h5m'],
  ['whole hours', 5 * H, '5h'],
  ['hours only from 8h', 8 * H + 59 * M, '8h'],
  ['hours up to 48h', 47 * H, '47h'],
  ['days and hours under 8d', 2 * D + 3 * H, '2d3h'],
  ['whole days', 3 * D, '3d'],
  ['days only from 8d', 8 * D + 5 * H, '8d'],
  ['days up to 2 years', 729 * D, '729d'],
  ['years and days', 2 * 365 * D + 10 * D, '2y10d'],
  ['whole years', 3 * 365 * D, '3y'],
  ['years only from 8y', 9 * 365 * D + 100 * D, '9y'],
];

for (const [name, ms, expected] of durations) {
  test(`HumanDuration: ${name}`, (t) => {
    t.is(humanDuration(ms), expected);
  });
}

const info = (group: string, resource: string): ResourceInfo => {
  const found = findResource(group, resource);
  if (!found) throw new Error(`${resource} not served`);
  return found;
};
const NOW = new Date('2024-05-01T12:00:00Z');
const meta = (name: string, ageMs = 5 * S): KubeObject['metadata'] => ({ name, namespace: 'default', creationTimestamp: new Date(NOW.getTime() - ageMs).toISOString(), resourceVersion: '9' });

const columnSets: Array<{ name: string; group: string; resource: string; columns: string[]; wide: string[] }> = [
  { name: 'pods', group: '', resource: 'pods', columns: ['Name', 'Ready', 'Status', 'Restarts', 'Age'], wide: ['IP', 'Node', 'Nominated Node', 'Readiness Gates'] },
  { name: 'deployments', group: 'apps', resource: 'deployments', columns: ['Name', 'Ready', 'Up-to-date', 'Available', 'Age'], wide: ['Containers', 'Images', 'Selector'] },
  { name: 'services', group: '', resource: 'services', columns: ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age'], wide: ['Selector'] },
  { name: 'configmaps', group: '', resource: 'configmaps', columns: ['Name', 'Data', 'Age'], wide: [] },
  { name: 'secrets', group: '', resource: 'secrets', columns: ['Name', 'Type', 'Data', 'Age'], wide: [] },
  { name: 'serviceaccounts', group: '', resource: 'serviceaccounts', columns: ['Name', 'Secrets', 'Age'], wide: [] },
  { name: 'namespaces', group: '', resource: 'namespaces', columns: ['Name', 'Status', 'Age'], wide: [] },
  { name: 'events', group: '', resource: 'events', columns: ['Last Seen', 'Type', 'Reason', 'Object', 'Message'], wide: ['Subobject', 'Source', 'First Seen', 'Count', 'Name'] },
  { name: 'roles', group: 'rbac.authorization.k8s.io', resource: 'roles', columns: ['Name', 'Created At'], wide: [] },
  { name: 'clusterroles', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', columns: ['Name', 'Created At'], wide: [] },
  { name: 'rolebindings', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', columns: ['Name', 'Role', 'Age'], wide: ['Users', 'Groups', 'ServiceAccounts'] },
  { name: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', columns: ['Name', 'Role', 'Age'], wide: ['Users', 'Groups', 'ServiceAccounts'] },
  { name: 'mutating webhooks', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', columns: ['Name', 'Webhooks', 'Age'], wide: [] },
  { name: 'validating webhooks', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', columns: ['Name', 'Webhooks', 'Age'], wide: [] },
  { name: 'default printer for kinds without columns', group: 'authentication.k8s.io', resource: 'tokenreviews', columns: ['Name', 'Age'], wide: [] },
];

for (const row of columnSets) {
  test(`columns: ${row.name}`, (t) => {
    const table = toTable(info(row.group, row.resource), [], { includeObject: 'None', resourceVersion: '1', now: NOW });
    const defs = table.columnDefinitions as Array<{ name: string; priority: number; description: string; format: string }>;
    t.deepEqual(defs.filter((c) => c.priority === 0).map((c) => c.name), row.columns);
    t.deepEqual(defs.filter((c) => c.priority === 1).map((c) => c.name), row.wide);
    t.true(defs.every((c) => c.description.length > 0), 'every column has a description');
    t.is(defs.find((c) => c.name === 'Name')?.format, 'name');
  });
}

test('every served resource has a printer that runs on an empty object', (t) => {
  for (const r of RESOURCES) {
    const table = toTable(r, [{ apiVersion: 'v1', kind: r.kind, metadata: {} }], { includeObject: 'None', resourceVersion: '1', now: NOW });
    const rows = table.rows as Array<{ cells: unknown[] }>;
    t.is(rows[0]?.cells.length, (table.columnDefinitions as unknown[]).length, r.resource);
  }
});

type PodCase = { name: string; pod: Record<string, unknown>; ready: string; status: string; restarts: string };
const running = { state: { running: {} }, ready: true, restartCount: 0 };
const podCases: PodCase[] = [
  { name: 'running and ready', pod: { spec: { containers: [{ name: 'a' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'a', ...running }] } }, ready: '1/1', status: 'Running', restarts: '0' },
  { name: 'pending, no statuses', pod: { spec: { containers: [{ name: 'a' }, { name: 'b' }] }, status: { phase: 'Pending' } }, ready: '0/2', status: 'Pending', restarts: '0' },
  { name: 'waiting reason wins', pod: { spec: { containers: [{ name: 'a' }] }, status: { phase: 'Pending', containerStatuses: [{ name: 'a', state: { waiting: { reason: 'ImagePullBackOff' } }, restartCount: 0 }] } }, ready: '0/1', status: 'ImagePullBackOff', restarts: '0' },
  {
    name: 'restarts with the last termination age',
    pod: { spec: { containers: [{ name: 'a' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'a', ...running, restartCount: 3, lastState: { terminated: { finishedAt: new Date(NOW.getTime() - 5 * M).toISOString() } } }] } },
    ready: '1/1',
    status: 'Running',
    restarts: '3 (5m ago)',
  },
  { name: 'init container running', pod: { spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] }, status: { phase: 'Pending', initContainerStatuses: [{ name: 'i', state: { running: {} } }] } }, ready: '0/1', status: 'Init:0/1', restarts: '0' },
  { name: 'init container crashed', pod: { spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] }, status: { phase: 'Pending', initContainerStatuses: [{ name: 'i', state: { terminated: { exitCode: 2 } } }] } }, ready: '0/1', status: 'Init:ExitCode:2', restarts: '0' },
  {
    name: 'native sidecar counts as a container',
    pod: { spec: { initContainers: [{ name: 's', restartPolicy: 'Always' }], containers: [{ name: 'a' }] }, status: { phase: 'Running', conditions: [{ type: 'Initialized', status: 'True' }], initContainerStatuses: [{ name: 's', started: true, ready: true, state: { running: {} } }], containerStatuses: [{ name: 'a', ...running }] } },
    ready: '2/2',
    status: 'Running',
    restarts: '0',
  },
  { name: 'terminating', pod: { metadata: { deletionTimestamp: NOW.toISOString() }, spec: { containers: [{ name: 'a' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'a', ...running }] } }, ready: '1/1', status: 'Terminating', restarts: '0' },
  { name: 'completed', pod: { spec: { containers: [{ name: 'a' }] }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'a', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } }, ready: '0/1', status: 'Completed', restarts: '0' },
];

for (const row of podCases) {
  test(`pod row: ${row.name}`, (t) => {
    const extra = (row.pod.metadata ?? {}) as Record<string, unknown>;
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', ...row.pod, metadata: { ...meta('p', 65 * S), ...extra } };
    const table = toTable(info('', 'pods'), [pod], { includeObject: 'Metadata', resourceVersion: '9', now: NOW });
    const cells = (table.rows as Array<{ cells: unknown[] }>)[0]?.cells;
    t.deepEqual(cells?.slice(0, 5), ['p', row.ready, row.status, row.restarts, '65s']);
  });
}

test('pod wide cells and the Completed row condition', (t) => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: meta('p'), spec: { nodeName: 'n1', containers: [{ name: 'a' }], readinessGates: [{ conditionType: 'x' }] }, status: { phase: 'Succeeded', podIPs: [{ ip: '10.1.2.3' }], conditions: [{ type: 'x', status: 'True' }] } };
  const row = (toTable(info('', 'pods'), [pod], { includeObject: 'None', resourceVersion: '9', now: NOW }).rows as Array<Record<string, unknown>>)[0];
  t.deepEqual((row?.cells as unknown[]).slice(5), ['10.1.2.3', 'n1', '<none>', '1/1']);
  t.deepEqual(row?.conditions, [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
});

const cellCases: Array<{ name: string; group: string; resource: string; object: Record<string, unknown>; cells: unknown[] }> = [
  {
    name: 'deployment READY, numbers and wide',
    group: 'apps',
    resource: 'deployments',
    object: { spec: { replicas: 3, selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b', 'a'] }] }, template: { spec: { containers: [{ name: 'c1', image: 'i1' }, { name: 'c2', image: 'i2' }] } } }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 } },
    cells: ['x', '2/3', 3, 2, '5s', 'c1,c2', 'i1,i2', 'app=web,tier in (a,b)'],
  },
  { name: 'service ClusterIP with node port', group: '', resource: 'services', object: { spec: { type: 'NodePort', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { b: '2', a: '1' } } }, cells: ['x', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP,53/UDP', '5s', 'a=1,b=2'] },
  { name: 'service LoadBalancer pending', group: '', resource: 'services', object: { spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.11'], ports: [{ port: 443 }] } }, cells: ['x', 'LoadBalancer', '10.96.0.11', '<pending>', '443/TCP', '5s', '<none>'] },
  { name: 'configmap counts data and binaryData', group: '', resource: 'configmaps', object: { data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }, cells: ['x', 3, '5s'] },
  { name: 'secret type and data', group: '', resource: 'secrets', object: { type: 'Opaque', data: { a: 'YQ==' } }, cells: ['x', 'Opaque', 1, '5s'] },
  { name: 'namespace phase', group: '', resource: 'namespaces', object: { status: { phase: 'Active' } }, cells: ['x', 'Active', '5s'] },
  { name: 'role created at in RFC3339', group: 'rbac.authorization.k8s.io', resource: 'roles', object: {}, cells: ['x', '2024-05-01T11:59:55Z'] },
  {
    name: 'rolebinding subjects',
    group: 'rbac.authorization.k8s.io',
    resource: 'rolebindings',
    object: { roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'User', name: 'alice' }, { kind: 'Group', name: 'devs' }, { kind: 'ServiceAccount', namespace: 'ns', name: 'bot' }, { kind: 'User', name: 'bob' }] },
    cells: ['x', 'ClusterRole/edit', '5s', 'alice, bob', 'devs', 'ns/bot'],
  },
  { name: 'webhook count', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', object: { webhooks: [{}, {}] }, cells: ['x', 2, '5s'] },
  {
    name: 'event with source and count',
    group: '',
    resource: 'events',
    object: { type: 'Normal', reason: 'Pulled', message: ' done ', involvedObject: { kind: 'Pod', name: 'web', fieldPath: 'spec.containers{a}' }, source: { component: 'kubelet', host: 'n1' }, firstTimestamp: new Date(NOW.getTime() - 10 * M).toISOString(), lastTimestamp: new Date(NOW.getTime() - 30 * S).toISOString(), count: 4 },
    cells: ['30s', 'Normal', 'Pulled', 'pod/web', 'spec.containers{a}', 'kubelet, n1', 'done', '10m', 4, 'x'],
  },
  { name: 'event of the events.k8s.io era: eventTime, count 1', group: '', resource: 'events', object: { type: 'Warning', reason: 'R', eventTime: new Date(NOW.getTime() - 7 * S).toISOString(), reportingComponent: 'ctrl', involvedObject: { kind: 'Node' } }, cells: ['7s', 'Warning', 'R', 'node', '', 'ctrl', '', '7s', 1, 'x'] },
];

for (const row of cellCases) {
  test(`cells: ${row.name}`, (t) => {
    const object: KubeObject = { apiVersion: 'v1', kind: 'X', ...row.object, metadata: meta('x') };
    const cells = (toTable(info(row.group, row.resource), [object], { includeObject: 'None', resourceVersion: '1', now: NOW }).rows as Array<{ cells: unknown[] }>)[0]?.cells;
    t.deepEqual(cells, row.cells);
  });
}

const includeCases: Array<{ name: string; includeObject: 'None' | 'Metadata' | 'Object'; expected: (o: KubeObject) => unknown }> = [
  { name: 'None writes a null object', includeObject: 'None', expected: () => null },
  { name: 'Metadata writes PartialObjectMetadata', includeObject: 'Metadata', expected: (o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }) },
  { name: 'Object writes the object', includeObject: 'Object', expected: (o) => o },
];

for (const row of includeCases) {
  test(`includeObject: ${row.name}`, (t) => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('c'), data: { a: 'b' } };
    const table = toTable(info('', 'configmaps'), [cm], { includeObject: row.includeObject, resourceVersion: '42', continue: 'tok', now: NOW });
    t.is(table.kind, 'Table');
    t.is(table.apiVersion, 'meta.k8s.io/v1');
    t.deepEqual(table.metadata, { resourceVersion: '42', continue: 'tok' });
    t.deepEqual((table.rows as Array<{ object: unknown }>)[0]?.object, row.expected(cm));
  });
}
