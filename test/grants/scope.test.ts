// resolveScope against the Kubernetes API double through the real @kubernetes/client-node: role
// references become rules at grant time, narrowed by the guardrails; every refusal by its code.
import test from 'ava';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { resolveScope, ScopeError, type ScopeErrorCode, type ScopeInput } from '../../src/grants/index.ts';

let api: KubeApiServer;
let rbac: RbacAuthorizationV1Api;
test.before(async () => {
  api = await createKubeApiServer({
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'log-reader', namespace: 'payments' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'pods/log'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'token-maker', namespace: 'payments' }, rules: [{ verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts/token'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'changing', namespace: 'payments' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'pods/log'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'empty', namespace: 'payments' }, rules: [] },
    ],
  });
  rbac = kubeConfigFor({ name: 'double', server: api.url, ca: api.caPem }, api.adminToken).makeApiClient(RbacAuthorizationV1Api);
});
test.after.always(async () => {
  await api?.close();
});

test('the edit ClusterRole in one namespace: its rules now, minus impersonation and token minting', async (t) => {
  const scope = await resolveScope({ roleRef: { kind: 'ClusterRole', name: 'edit' }, namespaces: ['payments'] }, rbac);
  t.deepEqual(scope.namespaces, ['payments']);
  t.deepEqual(scope.roleRef, { kind: 'ClusterRole', name: 'edit' });
  t.deepEqual(scope.removed.map((r) => `${r.code} ${r.verb} ${r.apiGroup}/${r.resource}`).sort(), [
    'serviceaccount-token create /serviceaccounts/token',
    'verb-impersonate impersonate /serviceaccounts',
  ]);
  const flat = scope.rules.flatMap((r) => r.verbs.flatMap((v) => (r.resources ?? []).map((res) => `${v} ${(r.apiGroups ?? [])[0] ?? ''}/${res}`)));
  t.true(flat.includes('create /pods'));
  t.true(flat.includes('get /secrets'), 'edit reads Secrets: the sidecar masks them, the grant keeps them');
  t.false(flat.includes('impersonate /serviceaccounts'));
  t.false(flat.includes('create /serviceaccounts/token'));
});

test('a Role in its own namespace is copied as it is', async (t) => {
  const scope = await resolveScope({ roleRef: { kind: 'Role', name: 'log-reader', namespace: 'payments' }, namespaces: ['payments'] }, rbac);
  t.deepEqual(scope, { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'pods/log'] }], namespaces: ['payments'], roleRef: { kind: 'Role', name: 'log-reader', namespace: 'payments' }, removed: [] });
});

test('explicit rules pass through unchanged', async (t) => {
  const rules = [{ verbs: ['get', 'list'], apiGroups: ['apps'], resources: ['deployments'] }];
  t.deepEqual(await resolveScope({ rules, namespaces: ['payments', 'orders'] }, rbac), { rules, namespaces: ['payments', 'orders'], removed: [] });
});

test('the view ClusterRole cluster-wide keeps its rules', async (t) => {
  const scope = await resolveScope({ roleRef: { kind: 'ClusterRole', name: 'view' }, namespaces: ['*'] }, rbac);
  t.true(scope.rules.length > 0);
  t.deepEqual(scope.removed, []);
});

test('a role changed after the grant does not change the resolved rules', async (t) => {
  const scope = await resolveScope({ roleRef: { kind: 'Role', name: 'changing', namespace: 'payments' }, namespaces: ['payments'] }, rbac);
  const stored = api.objects.get('roles.rbac.authorization.k8s.io', 'payments', 'changing');
  if (!stored) return t.fail('seeded role missing');
  api.objects.update({ ...stored, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] });
  t.deepEqual(scope.rules, [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'pods/log'] }]);
});

const refusals: Array<{ name: string; scope: ScopeInput; code: ScopeErrorCode; message: string }> = [
  { name: 'missing ClusterRole', scope: { roleRef: { kind: 'ClusterRole', name: 'editt' }, namespaces: ['payments'] }, code: 'role-not-found', message: 'ClusterRole editt does not exist' },
  { name: 'missing Role', scope: { roleRef: { kind: 'Role', name: 'log-reader', namespace: 'orders' }, namespaces: ['orders'] }, code: 'role-not-found', message: 'Role orders/log-reader does not exist' },
  { name: 'Role used in another namespace', scope: { roleRef: { kind: 'Role', name: 'log-reader', namespace: 'payments' }, namespaces: ['orders'] }, code: 'role-namespace-mismatch', message: 'Role payments/log-reader can only be granted in its own namespace "payments", not in ["orders"]' },
  { name: 'cluster-admin (wildcards reach every guardrail)', scope: { roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, namespaces: ['payments'] }, code: 'scope-guardrail', message: 'a rule with a wildcard reaches a guardrail (verb-escalate, verb-bind, verb-impersonate, serviceaccount-token, nodes-proxy, csr-approval, namespace-delete, agentgate-rbac, agentgate-webhook) and cannot be granted: {"verbs":["*"],"apiGroups":["*"],"resources":["*"]}' },
  { name: 'a role holding only a forbidden permission', scope: { roleRef: { kind: 'Role', name: 'token-maker', namespace: 'payments' }, namespaces: ['payments'] }, code: 'role-empty', message: 'nothing is left to grant once the guardrails are applied' },
  { name: 'a role without rules', scope: { roleRef: { kind: 'Role', name: 'empty', namespace: 'payments' }, namespaces: ['payments'] }, code: 'role-empty', message: 'Role empty has no rules to grant' },
  { name: 'explicit rules with impersonate', scope: { rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['users'] }], namespaces: ['payments'] }, code: 'scope-guardrail', message: 'rule {"verbs":["impersonate"],"apiGroups":[""],"resources":["users"]} would grant what a guardrail forbids (verb-impersonate)' },
  { name: 'both rules and roleRef', scope: { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], roleRef: { kind: 'ClusterRole', name: 'view' }, namespaces: ['payments'] }, code: 'scope-invalid', message: 'exactly one of rules and roleRef must be set' },
  { name: 'neither rules nor roleRef', scope: { namespaces: ['payments'] }, code: 'scope-invalid', message: 'exactly one of rules and roleRef must be set' },
  { name: 'explicit rule without api groups', scope: { rules: [{ verbs: ['get'], resources: ['pods'] }], namespaces: ['payments'] }, code: 'scope-invalid', message: 'rule {"verbs":["get"],"resources":["pods"]}: apiGroups resource rules must supply at least one api group' },
];
for (const row of refusals) {
  test(`refused: ${row.name}`, async (t) => {
    const error = await t.throwsAsync(resolveScope(row.scope, rbac), { instanceOf: ScopeError });
    t.is(error?.code, row.code);
    t.is(error?.message, row.message);
  });
}

test('the API server unreachable is kube-unavailable, not role-not-found', async (t) => {
  const down = kubeConfigFor({ name: 'down', server: 'https://127.0.0.1:1', ca: api.caPem }, 'x').makeApiClient(RbacAuthorizationV1Api);
  const error = await t.throwsAsync(resolveScope({ roleRef: { kind: 'ClusterRole', name: 'view' }, namespaces: ['payments'] }, down), { instanceOf: ScopeError });
  t.is(error?.code, 'kube-unavailable');
  t.true(error?.message.startsWith('ClusterRole view could not be read: '));
});
