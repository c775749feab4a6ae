// The validating webhook: guardrails on what grant identities write (every workload kind's pod
// template, RBAC, agentgate's namespace and webhooks), and the agent-pod check on final pods.
import test from 'ava';
import jsonpatch from 'fast-json-patch';
import type { AdmissionRequest, UserInfo } from '../../webhook/admission.ts';
import type { ReasonCode } from '../../src/contracts/reasons.ts';
import type { JsonPatchOp } from '../../webhook/inject/index.ts';
import { mutateReview, reviewInputs, validateReview } from '../../webhook/review.ts';
import { grantIdentityPredicate, validateAdmission, validateOptions } from '../../webhook/validate/index.ts';
import { lookups, options, readRequest } from './fixtures.ts';

const vOptions = validateOptions(options);
const grantSa: UserInfo = { username: 'system:serviceaccount:agentgate-system:agentgate-grant-7f3k2', groups: ['system:serviceaccounts', 'system:authenticated'] };
const grantEks: UserInfo = { username: 'agentgate:grant:7f3k2', groups: ['system:authenticated'] };
const human: UserInfo = { username: 'alice@example.com', groups: ['system:authenticated'] };
const noInputs = { namespaceLabels: {}, secretTypes: new Map<string, string | null>() };

const groups: Record<string, string> = { Deployment: 'apps', StatefulSet: 'apps', DaemonSet: 'apps', ReplicaSet: 'apps', Job: 'batch', CronJob: 'batch' };
const plural = (kind: string) => `${kind.toLowerCase()}s`;

function request(kind: string, object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const group = groups[kind] ?? (kind.includes('Role') ? 'rbac.authorization.k8s.io' : kind.includes('Webhook') ? 'admissionregistration.k8s.io' : '');
  const version = 'v1';
  return {
    uid: '2c5d0f6a-1b3e-4d7f-8a9b-0c1d2e3f4a5b',
    kind: { group, version, kind },
    resource: { group, version, resource: plural(kind) },
    namespace: 'work',
    operation: 'CREATE',
    userInfo: grantSa,
    object,
    ...extra,
  };
}

const podSpec = (extra: Record<string, unknown> = {}) => ({ containers: [{ name: 'app', image: 'nginx' }], ...extra });
const privileged = podSpec({ containers: [{ name: 'app', image: 'nginx', securityContext: { privileged: true } }] });
const template = (spec: unknown) => ({ metadata: { labels: { app: 'x' } }, spec });
const workload = (kind: string, spec: unknown) =>
  kind === 'CronJob'
    ? { apiVersion: 'batch/v1', kind, metadata: { name: 'x' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: template(spec) } } } }
    : { kind, metadata: { name: 'x' }, spec: { template: template(spec) } };

interface Row {
  name: string;
  request: AdmissionRequest;
  code?: ReasonCode;
}

const rows: Row[] = [
  // Pods and every pod template kind.
  { name: 'a grant identity creating a privileged pod', request: request('Pod', { metadata: { name: 'p' }, spec: privileged }), code: 'privileged-pod' },
  ...['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'].map((kind) => ({
    name: `a grant identity creating a privileged ${kind}`,
    request: request(kind, workload(kind, privileged)),
    code: 'privileged-pod' as const,
  })),
  { name: 'a hostPath volume in a Deployment', request: request('Deployment', workload('Deployment', podSpec({ volumes: [{ name: 'root', hostPath: { path: '/' } }] }))), code: 'host-path' },
  { name: 'hostNetwork in a DaemonSet', request: request('DaemonSet', workload('DaemonSet', podSpec({ hostNetwork: true }))), code: 'host-namespace' },
  { name: 'hostPID in a CronJob', request: request('CronJob', workload('CronJob', podSpec({ hostPID: true }))), code: 'host-namespace' },
  { name: 'a privileged Deployment patched (UPDATE, final object)', request: request('Deployment', workload('Deployment', privileged), { operation: 'UPDATE', oldObject: workload('Deployment', podSpec()) }), code: 'privileged-pod' },
  { name: 'a privileged Deployment by an EKS grant session', request: request('Deployment', workload('Deployment', privileged), { userInfo: grantEks }), code: 'privileged-pod' },
  { name: 'a privileged Deployment by a person is not the guardrails\' business', request: request('Deployment', workload('Deployment', privileged), { userInfo: human }) },
  { name: 'a plain Deployment by a grant identity', request: request('Deployment', workload('Deployment', podSpec())) },
  { name: 'privileged: false is fine', request: request('Pod', { spec: podSpec({ containers: [{ name: 'a', image: 'x', securityContext: { privileged: false } }] }) }) },
  // RBAC.
  { name: 'a ClusterRoleBinding to cluster-admin', request: request('ClusterRoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'bob' }] }, { namespace: '' }), code: 'binds-cluster-admin' },
  { name: 'a RoleBinding to cluster-admin', request: request('RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'bob' }] }), code: 'binds-cluster-admin' },
  { name: 'a binding with subject group system:masters', request: request('RoleBinding', { roleRef: { kind: 'Role', name: 'view' }, subjects: [{ kind: 'Group', name: 'system:masters' }] }), code: 'binds-system-masters' },
  { name: 'a binding to view', request: request('RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'bob' }] }) },
  { name: 'a Role named cluster-admin-ish that binds to a look-alike', request: request('RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'cluster-admin2' }, subjects: [{ kind: 'Group', name: 'system:masters2' }] }) },
  { name: 'anyone binding to the zero-permission account', request: request('RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'agentgate-agent', namespace: 'agents' }] }, { userInfo: human }), code: 'binds-agent-service-account' },
  { name: 'anyone binding to the zero-permission account by username', request: request('ClusterRoleBinding', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'system:serviceaccount:agents:agentgate-agent' }] }, { userInfo: human }), code: 'binds-agent-service-account' },
  { name: 'a Role with escalate', request: request('Role', { rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }] }), code: 'verb-escalate' },
  { name: 'a ClusterRole with bind', request: request('ClusterRole', { rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['get', 'bind'] }] }, { namespace: '' }), code: 'verb-bind' },
  { name: 'a ClusterRole with impersonate', request: request('ClusterRole', { rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }] }, { namespace: '' }), code: 'verb-impersonate' },
  { name: "verbs '*' on everything", request: request('ClusterRole', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }, { namespace: '' }), code: 'verb-escalate' },
  { name: "verbs '*' on serviceaccounts includes impersonate", request: request('Role', { rules: [{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['*'] }] }), code: 'verb-impersonate' },
  { name: "verbs '*' on configmaps is fine", request: request('Role', { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }] }) },
  { name: 'an aggregated ClusterRole', request: request('ClusterRole', { metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }] }, rules: [] }, { namespace: '' }), code: 'role-aggregation' },
  // agentgate's own objects.
  { name: "anything in agentgate's namespace", request: request('ConfigMap', { data: {} }, { namespace: 'agentgate-system' }), code: 'agentgate-namespace' },
  { name: "deleting in agentgate's namespace (no object)", request: request('Secret', undefined, { namespace: 'agentgate-system', operation: 'DELETE', name: 'tls' }), code: 'agentgate-namespace' },
  { name: "agentgate's namespace itself", request: request('Namespace', { metadata: { name: 'agentgate-system' } }, { namespace: '', operation: 'UPDATE', name: 'agentgate-system' }), code: 'agentgate-namespace' },
  { name: "agentgate's mutating webhook configuration", request: request('MutatingWebhookConfiguration', { metadata: { name: 'agentgate' }, webhooks: [] }, { namespace: '', operation: 'UPDATE', name: 'agentgate' }), code: 'agentgate-webhook' },
  { name: "deleting agentgate's validating webhook configuration", request: request('ValidatingWebhookConfiguration', undefined, { namespace: '', operation: 'DELETE', name: 'agentgate' }), code: 'agentgate-webhook' },
  { name: "another product's webhook configuration", request: request('ValidatingWebhookConfiguration', { metadata: { name: 'istio' } }, { namespace: '', name: 'istio' }) },
  { name: "a person in agentgate's namespace", request: request('ConfigMap', { data: {} }, { namespace: 'agentgate-system', userInfo: human }) },
];

for (const row of rows) {
  test(`validate: ${row.name}`, (t) => {
    const refusal = validateAdmission(row.request, vOptions, noInputs);
    t.is(refusal?.code, row.code, refusal?.message);
  });
}

const identityRows: { name: string; user: UserInfo; grant: boolean }[] = [
  { name: 'a per-grant service account', user: grantSa, grant: true },
  { name: 'an EKS grant session', user: grantEks, grant: true },
  { name: 'a look-alike service account in another namespace', user: { username: 'system:serviceaccount:work:agentgate-grant-7f3k2' }, grant: false },
  { name: 'the bare prefix without a grant id', user: { username: 'system:serviceaccount:agentgate-system:agentgate-grant-' }, grant: false },
  { name: 'the webhook itself', user: { username: 'system:serviceaccount:agentgate-system:agentgate-webhook' }, grant: false },
  { name: 'a group named like a grant does not count', user: { username: 'alice', groups: ['agentgate:grant:x'] }, grant: false },
  { name: 'no username', user: {}, grant: false },
];
for (const row of identityRows) {
  test(`grant identity: ${row.name}`, (t) => {
    t.is(grantIdentityPredicate('agentgate-system')(row.user), row.grant);
  });
}

// The agent-pod check on the final object, built from a golden request and its real patch.
async function injectedBarePod() {
  const review = (await readRequest('bare-pod')) as { request: AdmissionRequest };
  const req = review.request;
  const inputs = await reviewInputs(req, lookups);
  const response = mutateReview(req, options, inputs);
  const patch = JSON.parse(Buffer.from(response.response.patch ?? '', 'base64').toString('utf8')) as JsonPatchOp[];
  const pod = jsonpatch.applyPatch(structuredClone(req.object), patch as jsonpatch.Operation[], true, false).newDocument as { spec: Record<string, unknown> & { initContainers: Record<string, unknown>[]; containers: Record<string, unknown>[]; volumes: unknown[] } };
  return { req, inputs, pod };
}

const laterWebhooks: { name: string; change: (pod: Awaited<ReturnType<typeof injectedBarePod>>['pod']) => void; allowed: boolean }[] = [
  { name: 'the injected pod unchanged', change: () => undefined, allowed: true },
  { name: 'a later webhook removed the sidecar', change: (p) => { p.spec.initContainers.shift(); }, allowed: false },
  { name: 'a later webhook changed the sidecar image', change: (p) => { p.spec.initContainers[0] = { ...p.spec.initContainers[0], image: 'evil:1' }; }, allowed: false },
  { name: 'a later webhook restored the service account', change: (p) => { p.spec.serviceAccountName = 'default'; p.spec.serviceAccount = 'default'; }, allowed: false },
  { name: 'a later webhook dropped the agent env', change: (p) => { delete p.spec.containers[0]?.env; }, allowed: false },
  { name: 'a later webhook added a hostPath volume', change: (p) => { p.spec.volumes.push({ name: 'host', hostPath: { path: '/' } }); }, allowed: false },
  { name: 'a later webhook appended a volume and env to the agent', change: (p) => {
    p.spec.volumes.push({ name: 'extra', emptyDir: {} });
    p.spec.containers[0] = { ...p.spec.containers[0], env: [...((p.spec.containers[0]?.env as unknown[]) ?? []), { name: 'DD_AGENT_HOST', value: 'x' }] };
  }, allowed: true },
];
for (const row of laterWebhooks) {
  test(`validate final pod: ${row.name}`, async (t) => {
    const { req, inputs, pod } = await injectedBarePod();
    row.change(pod);
    const response = validateReview({ ...req, object: pod }, vOptions, inputs);
    t.is(response.response.allowed, row.allowed, response.response.status?.message);
    if (!row.allowed) t.truthy(response.response.status?.details?.causes?.[0]?.reason);
  });
}

test('validate final pod: a pod of a labelled namespace that was never injected is refused with sidecar-missing', async (t) => {
  const review = (await readRequest('bare-pod')) as { request: AdmissionRequest };
  const inputs = await reviewInputs(review.request, lookups);
  const refusal = validateAdmission({ ...review.request, userInfo: human }, vOptions, inputs);
  t.is(refusal?.code, 'sidecar-missing');
});
