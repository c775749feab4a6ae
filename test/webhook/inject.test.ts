// The injection library's small decisions, table-driven: which pods are agents, who owns them,
// which options are refused at start, the AdmissionResponse constructors, and long envs.
import test from 'ava';
import { allowed, denied, errored, patched } from '../../webhook/admission.ts';
import { injectOptions, injectPod, isAgentPod, ownerOf } from '../../webhook/inject/index.ts';
import { options, readRequest } from './fixtures.ts';

const ns = (name: string, labels: Record<string, string> = {}) => ({ 'kubernetes.io/metadata.name': name, ...labels });
const injectLabel = { 'agentgate.io/inject': 'enabled' };
const pod = (labels: Record<string, string> = {}, serviceAccountName = 'default') => ({ metadata: { labels }, spec: { serviceAccountName } });
const withOptOut = injectOptions({ ...options, optOut: [{ namespace: 'agents', serviceAccount: 'ci-runner' }, { podLabels: { 'example.com/legacy': 'true' } }] });

const selection = [
  { name: 'a pod of a labelled namespace', pod: pod(), ns: ns('agents', injectLabel), agent: true },
  { name: 'a pod with the opt-in label in an unlabelled namespace', pod: pod({ 'agentgate.io/agent': 'Helper' }), ns: ns('team-a'), agent: true },
  { name: 'the opt-in label with an empty value', pod: pod({ 'agentgate.io/agent': '' }), ns: ns('team-a'), agent: true },
  { name: 'a pod of an unlabelled namespace', pod: pod(), ns: ns('team-a'), agent: false },
  { name: 'the namespace label with another value', pod: pod(), ns: ns('agents', { 'agentgate.io/inject': 'disabled' }), agent: false },
  { name: 'a look-alike pod label', pod: pod({ 'agentgate.io/agents': 'x' }), ns: ns('team-a'), agent: false },
  { name: 'a pod cannot opt out by itself in a labelled namespace', pod: pod({ 'agentgate.io/inject': 'disabled' }), ns: ns('agents', injectLabel), agent: true },
  { name: "agentgate's own namespace, even labelled", pod: pod(), ns: ns('agentgate-system', injectLabel), agent: false },
  { name: 'kube-system, even labelled', pod: pod({ 'agentgate.io/agent': 'x' }), ns: ns('kube-system', injectLabel), agent: false },
  { name: "the operator's opt-out by namespace and service account", pod: pod({}, 'ci-runner'), ns: ns('agents', injectLabel), agent: false, options: withOptOut },
  { name: 'an opt-out rule needs all its fields to match', pod: pod({}, 'ci-runner'), ns: ns('other', injectLabel), agent: true, options: withOptOut },
  { name: "the operator's opt-out by pod label", pod: pod({ 'example.com/legacy': 'true' }), ns: ns('agents', injectLabel), agent: false, options: withOptOut },
];
for (const row of selection) {
  test(`isAgentPod: ${row.name}`, (t) => {
    t.is(isAgentPod(row.pod, row.ns, row.options ?? options), row.agent);
  });
}

const rs = (name: string, hash?: string, extra: Record<string, unknown> = {}) => ({
  metadata: { labels: hash ? { 'pod-template-hash': hash } : {}, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: 'x', controller: true, ...extra }] },
});
const owners = [
  { name: 'a bare pod has no owner', pod: { metadata: {} }, owner: null },
  { name: 'a ReplicaSet named after its Deployment and hash', pod: rs('web-6d9f7c8b5', '6d9f7c8b5'), owner: { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' } },
  { name: 'a ReplicaSet whose hash label does not match stays a ReplicaSet', pod: rs('web-6d9f7c8b5', 'ffff'), owner: { kind: 'ReplicaSet', name: 'web-6d9f7c8b5', apiVersion: 'apps/v1' } },
  { name: 'a ReplicaSet without the hash label stays a ReplicaSet', pod: rs('web-6d9f7c8b5'), owner: { kind: 'ReplicaSet', name: 'web-6d9f7c8b5', apiVersion: 'apps/v1' } },
  { name: 'a name that is only the hash is not lifted', pod: rs('-abc', 'abc'), owner: null },
  { name: 'a non-controller reference is ignored', pod: rs('web-1', '1', { controller: false }), owner: null },
  { name: 'a StatefulSet', pod: { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true }] } }, owner: { kind: 'StatefulSet', name: 'db', apiVersion: 'apps/v1' } },
];
for (const row of owners) {
  test(`ownerOf: ${row.name}`, (t) => {
    t.deepEqual(ownerOf(row.pod), row.owner);
  });
}

const badOptions = [
  { name: 'an empty image', values: { sidecarImage: ' ' }, message: /sidecarImage: an image reference is required/ },
  { name: 'a CPU request under 100m', values: { sidecarImage: 'x', resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } } }, message: /resources.requests.cpu: 50m is not a CPU quantity of at least 100m/ },
  { name: 'NET_ADMIN in the safe list', values: { sidecarImage: 'x', safeCapabilities: ['CAP_NET_ADMIN'] }, message: /safeCapabilities: CAP_NET_ADMIN can never be allowed/ },
  { name: 'a root sidecar', values: { sidecarImage: 'x', sidecarUser: 0 }, message: /sidecarUser: 0 must be a non-root uid/ },
  { name: 'an empty opt-out rule', values: { sidecarImage: 'x', optOut: [{}] }, message: /optOut\[0\]: an empty rule would exempt every pod/ },
  { name: 'a sidecar env pointing elsewhere', values: { sidecarImage: 'x', sidecarEnv: [{ name: 'KUBERNETES_SERVICE_HOST', value: 'evil' }] }, message: /sidecarEnv: KUBERNETES_SERVICE_HOST/ },
];
for (const row of badOptions) {
  test(`injectOptions refuses ${row.name}`, (t) => {
    t.throws(() => injectOptions(row.values), { message: row.message });
  });
}

test('injectOptions reports every problem at once', (t) => {
  const error = t.throws(() => injectOptions({ sidecarImage: '', sidecarUser: -1 }));
  t.is(error?.message.split('\n').length, 3);
});

test('allowed carries warnings, cut to 256 characters, and drops empty ones', (t) => {
  const long = 'w'.repeat(300);
  t.deepEqual(allowed('u', ['', 'short', long]).response.warnings, ['short', `${'w'.repeat(253)}...`]);
  t.false('warnings' in allowed('u').response);
});

test('patched with no ops is a plain allow; with ops it is base64 JSONPatch', (t) => {
  t.deepEqual(patched('u', []), allowed('u'));
  const response = patched('u', [{ op: 'add', path: '/a', value: 1 }]).response;
  t.is(response.patchType, 'JSONPatch');
  t.is(Buffer.from(response.patch ?? '', 'base64').toString(), '[{"op":"add","path":"/a","value":1}]');
});

test('denied is a 403 Forbidden Status with the code as first cause; errored keeps its HTTP code', (t) => {
  t.deepEqual(denied('u', 'host-path', 'no').response.status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'no', reason: 'Forbidden', code: 403, details: { causes: [{ reason: 'host-path', message: 'no' }] } });
  t.like(errored('u', 503, 'later').response, { allowed: false, status: { reason: 'ServiceUnavailable', code: 503 } });
  t.like(errored('u', 599, 'odd').response, { allowed: false, status: { reason: 'InternalError', code: 599 } });
});

// A long env is patched by ops on agentgate's own variables, never re-sent whole.
const longEnvRows = [
  { name: 'no agentgate variable yet', userHost: undefined },
  { name: 'a user KUBERNETES_SERVICE_HOST in the middle', userHost: 25 },
  { name: 'a user KUBERNETES_SERVICE_HOST at the end', userHost: 49 },
];
for (const row of longEnvRows) {
  test(`a container with a 50-variable env and ${row.name}: small ops, the same pod as a whole replace, idempotent`, async (t) => {
    const { default: jsonpatch } = await import('fast-json-patch');
    const review = structuredClone(await readRequest('bare-pod')) as { request: { namespace: string; object: { spec: { containers: { env?: { name: string; value: string }[] }[] } } } };
    const env = Array.from({ length: 50 }, (_, i) => ({ name: i === row.userHost ? 'KUBERNETES_SERVICE_HOST' : `SETTING_${i}`, value: `v${i}` }));
    const container = review.request.object.spec.containers[0];
    if (!container) throw new Error('the golden pod has no container');
    container.env = env;
    const result = injectPod(review.request.object, review.request.namespace, options);
    if ('refused' in result) throw new Error(result.refused.message);
    const envOps = result.patch.filter((op) => op.path.startsWith('/spec/containers/0/env'));
    t.false(envOps.some((op) => op.path === '/spec/containers/0/env'), 'the env list is not re-sent');
    t.is(envOps.length, options.layout.agentEnv.length + (row.userHost === undefined ? 0 : 1));
    const patched = jsonpatch.applyPatch(structuredClone(review.request.object), result.patch, true, false).newDocument;
    const names = new Set(options.layout.agentEnv.map((e) => e.name));
    t.deepEqual(patched.spec.containers[0]?.env, [...options.layout.agentEnv.map((e) => ({ name: e.name, value: e.value })), ...env.filter((e) => !names.has(e.name))]);
    const again = injectPod(patched, review.request.namespace, options);
    if ('refused' in again) throw new Error(again.refused.message);
    t.deepEqual(again.patch.filter((op) => op.path.startsWith('/spec/containers/0/env')), [], 'a reinvocation changes nothing');
  });
}
