// Which webhooks a request reaches (rules, namespaceSelector, objectSelector, matchConditions) and
// the reinvocation of IfNeeded mutating webhooks after a later webhook changed the object.
import test from 'ava';
import { createAdmission } from '../doubles/kube-api/admission.ts';
import type { AdmissionAttributes, KubeObject } from '../doubles/kube-api/types.ts';
import {
  attributes, hook, memoryStore, namespaceWithDefaultSA, patched, pod, startWebhook, statusOf, webhookConfiguration, type TestWebhook,
} from './admission-helpers.ts';

type Json = Record<string, unknown>;

let shared: TestWebhook;
test.before(async () => {
  shared = await startWebhook(() => ({ allowed: true }));
});
test.after.always(async () => {
  await shared.close();
});

const configMap = (name: string, labels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'team', ...(labels ? { labels } : {}) } });
const cmAttrs = (obj: KubeObject, extra: Partial<AdmissionAttributes> = {}): AdmissionAttributes => attributes(obj, { resource: { group: '', version: 'v1', resource: 'configmaps' }, kind: { group: '', version: 'v1', kind: 'ConfigMap' }, ...extra });
const PODS_AND_CMS = { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'configmaps', 'pods/status', 'namespaces'], scope: '*' }] };

interface MatchRow {
  name: string;
  hook: Json;
  attrs: () => AdmissionAttributes;
  called?: boolean;
  error?: { code: number; message: string };
}

const rows: MatchRow[] = [
  // rules
  { name: 'operations that exclude CREATE', hook: { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }, attrs: () => attributes(pod('r1')), called: false },
  { name: 'operations *', hook: { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['pods'] }] }, attrs: () => attributes(pod('r2')), called: true },
  { name: 'a look-alike group', hook: { rules: [{ operations: ['*'], apiGroups: ['apps'], apiVersions: ['*'], resources: ['pods'] }] }, attrs: () => attributes(pod('r3')), called: false },
  { name: 'pods does not match the status subresource', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['pods'] }] }, attrs: () => attributes(pod('r4'), { operation: 'UPDATE', subResource: 'status', oldObject: pod('r4') }), called: false },
  { name: 'pods/status matches the status subresource', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['pods/status'] }] }, attrs: () => attributes(pod('r5'), { operation: 'UPDATE', subResource: 'status', oldObject: pod('r5') }), called: true },
  { name: '*/* matches a subresource', hook: { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }] }, attrs: () => attributes(pod('r6'), { operation: 'UPDATE', subResource: 'status', oldObject: pod('r6') }), called: true },
  // rules.Matcher compares `*` with the request's subresource even when it has none, so pods/* takes pods too.
  { name: 'pods/* also matches the main resource', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['pods/*'] }] }, attrs: () => attributes(pod('r7')), called: true },
  { name: 'configmaps/* does not match pods', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['configmaps/*'] }] }, attrs: () => attributes(pod('r7b')), called: false },
  { name: 'scope Cluster skips a namespaced pod', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['pods'], scope: 'Cluster' }] }, attrs: () => attributes(pod('r8')), called: false },
  { name: 'scope Namespaced takes a namespaced pod', hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['pods'], scope: 'Namespaced' }] }, attrs: () => attributes(pod('r9')), called: true },
  {
    name: 'scope Cluster takes a namespace, even though its request carries a namespace name',
    hook: { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['*'], resources: ['namespaces'], scope: 'Cluster' }] },
    attrs: () => attributes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'r10' } }, { operation: 'CREATE', namespace: 'r10', name: 'r10', resource: { group: '', version: 'v1', resource: 'namespaces' }, kind: { group: '', version: 'v1', kind: 'Namespace' } }),
    called: true,
  },
  // namespaceSelector
  { name: 'namespaceSelector matching the namespace labels', hook: { ...PODS_AND_CMS, namespaceSelector: { matchLabels: { 'agentgate.io/inject': 'enabled' } } }, attrs: () => cmAttrs(configMap('n1')), called: true },
  { name: 'namespaceSelector not matching', hook: { ...PODS_AND_CMS, namespaceSelector: { matchLabels: { 'agentgate.io/inject': 'disabled' } } }, attrs: () => cmAttrs(configMap('n2')), called: false },
  { name: 'NotIn matches a namespace without the key', hook: { ...PODS_AND_CMS, namespaceSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['system'] }] } }, attrs: () => cmAttrs(configMap('n3')), called: true },
  { name: 'DoesNotExist on a present key', hook: { ...PODS_AND_CMS, namespaceSelector: { matchExpressions: [{ key: 'agentgate.io/inject', operator: 'DoesNotExist' }] } }, attrs: () => cmAttrs(configMap('n4')), called: false },
  {
    name: 'a namespace being created is judged by its own new labels',
    hook: { ...PODS_AND_CMS, namespaceSelector: { matchLabels: { fresh: 'yes' } } },
    attrs: () => attributes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n5', labels: { fresh: 'yes' } } }, { namespace: 'n5', name: 'n5', resource: { group: '', version: 'v1', resource: 'namespaces' }, kind: { group: '', version: 'v1', kind: 'Namespace' } }),
    called: true,
  },
  {
    name: 'cluster-scoped objects are never exempted by a namespaceSelector',
    hook: { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['clusterroles'] }], namespaceSelector: { matchLabels: { never: 'matches' } } },
    attrs: () => attributes({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'n6' } }, { namespace: '', resource: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles' }, kind: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' } }),
    called: true,
  },
  {
    name: 'a namespace that does not exist is a 404',
    hook: { ...PODS_AND_CMS, namespaceSelector: { matchLabels: { a: 'b' } } },
    attrs: () => cmAttrs({ ...configMap('n7'), metadata: { name: 'n7', namespace: 'nowhere' } }, { namespace: 'nowhere' }),
    error: { code: 404, message: 'namespaces "nowhere" not found' },
  },
  // objectSelector
  { name: 'objectSelector matching the new object', hook: { ...PODS_AND_CMS, objectSelector: { matchLabels: { app: 'agent' } } }, attrs: () => cmAttrs(configMap('o1', { app: 'agent' })), called: true },
  { name: 'objectSelector matching nothing', hook: { ...PODS_AND_CMS, objectSelector: { matchLabels: { app: 'agent' } } }, attrs: () => cmAttrs(configMap('o2', { app: 'web' })), called: false },
  { name: 'objectSelector matching only the old object on UPDATE', hook: { ...PODS_AND_CMS, objectSelector: { matchLabels: { app: 'agent' } } }, attrs: () => cmAttrs(configMap('o3'), { operation: 'UPDATE', oldObject: configMap('o3', { app: 'agent' }) }), called: true },
  { name: 'objectSelector Exists', hook: { ...PODS_AND_CMS, objectSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }, attrs: () => cmAttrs(configMap('o4', { app: '' })), called: true },
  // matchConditions
  { name: 'a true condition on object', hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'agent', expression: 'object.metadata.name.startsWith("m1")' }] }, attrs: () => cmAttrs(configMap('m1')), called: true },
  { name: 'a false condition skips', hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'yes', expression: 'true' }, { name: 'no', expression: 'object.metadata.name == "other"' }] }, attrs: () => cmAttrs(configMap('m2')), called: false },
  { name: 'a condition on request.userInfo', hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'not-system', expression: '!request.userInfo.username.startsWith("system:")' }] }, attrs: () => cmAttrs(configMap('m3')), called: true },
  { name: 'a condition on oldObject being null for CREATE', hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'create', expression: 'oldObject == null && request.operation == "CREATE"' }] }, attrs: () => cmAttrs(configMap('m4')), called: true },
  { name: 'an error under failurePolicy Ignore skips', hook: { ...PODS_AND_CMS, failurePolicy: 'Ignore', matchConditions: [{ name: 'broken', expression: 'object.metadata.labels.nope == "x"' }] }, attrs: () => cmAttrs(configMap('m5', { a: 'b' })), called: false },
  { name: 'a false condition wins over an error', hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'broken', expression: 'object.metadata.labels.nope == "x"' }, { name: 'no', expression: 'false' }] }, attrs: () => cmAttrs(configMap('m6', { a: 'b' })), called: false },
  {
    name: 'an error under failurePolicy Fail is a 403',
    hook: { ...PODS_AND_CMS, matchConditions: [{ name: 'broken', expression: 'object.metadata.labels.nope == "x"' }] },
    attrs: () => cmAttrs(configMap('m7', { a: 'b' })),
    error: { code: 403, message: 'configmaps "m7" is forbidden: expression \'object.metadata.labels.nope == "x"\' resulted in error: no such key: nope' },
  },
];

const store = memoryStore([...namespaceWithDefaultSA('team', { 'agentgate.io/inject': 'enabled' })]);

for (const row of rows) {
  test(`match: ${row.name}`, async (t) => {
    const configs = [webhookConfiguration('Validating', 'probe', [hook('probe.agentgate.io', { url: shared.url }, row.hook)])];
    const admission = createAdmission({ store: memoryStore([...store.list('namespaces'), ...store.list('serviceaccounts'), ...configs]) });
    const attrs = row.attrs();
    const status = await statusOf(() => admission.admit(attrs));
    if (row.error) {
      t.is(status?.code, row.error.code);
      t.is(status?.message, row.error.message);
      return;
    }
    t.is(status, undefined);
    t.is(shared.reviews.some((r) => r.request.name === attrs.name), row.called === true);
  });
}

const label = (key: string, value: string) => (review: { request: { object: KubeObject | null } }): Json => {
  const labels = review.request.object?.metadata.labels;
  if (labels?.[key] === value) return { allowed: true };
  return patched(labels ? [{ op: 'add', path: `/metadata/labels/${key}`, value }] : [{ op: 'add', path: '/metadata/labels', value: { [key]: value } }]);
};

for (const policy of ['IfNeeded', 'Never'] as const) {
  test(`reinvocation: a first webhook with reinvocationPolicy ${policy} after a later webhook changed the pod`, async (t) => {
    const first = await startWebhook(label('first', 'yes'));
    const second = await startWebhook(label('second', 'yes'));
    t.teardown(() => first.close());
    t.teardown(() => second.close());
    const admission = createAdmission({
      store: memoryStore([
        ...namespaceWithDefaultSA('team'),
        // Sorted by configuration name: "a-first" runs before "b-second".
        webhookConfiguration('Mutating', 'b-second', [hook('second.agentgate.io', { url: second.url })]),
        webhookConfiguration('Mutating', 'a-first', [hook('first.agentgate.io', { url: first.url }, { reinvocationPolicy: policy })]),
      ]),
    });
    const { object } = await admission.admit(attributes(pod('agent')));
    t.deepEqual(object?.metadata.labels, { first: 'yes', second: 'yes' });
    t.is(second.reviews.length, 1, 'a webhook that did not ask is not reinvoked');
    if (policy === 'Never') {
      t.is(first.reviews.length, 1);
      return;
    }
    t.is(first.reviews.length, 2);
    t.deepEqual(first.reviews[1]?.request.object?.metadata.labels, { first: 'yes', second: 'yes' }, 'the second call sees the later webhook\'s change');
  });
}

test('reinvocation is not triggered when no later webhook changes the object', async (t) => {
  const first = await startWebhook(label('first', 'yes'));
  const quiet = await startWebhook(() => ({ allowed: true }));
  t.teardown(() => first.close());
  t.teardown(() => quiet.close());
  const admission = createAdmission({
    store: memoryStore([
      ...namespaceWithDefaultSA('team'),
      webhookConfiguration('Mutating', 'a-first', [hook('first.agentgate.io', { url: first.url }, { reinvocationPolicy: 'IfNeeded' }), hook('quiet.agentgate.io', { url: quiet.url })]),
    ]),
  });
  await admission.admit(attributes(pod('agent')));
  t.is(first.reviews.length, 1);
  t.is(quiet.reviews.length, 1);
});
