// The policy table: every guardrail, the default policy (including the exec-over-get trap and the
// other WebSocket subresources), and a custom policy for deny overriding allow and specificity.
import test from 'ava';
import type { RequestAttributes } from '../../src/contracts/attributes.ts';
import type { BodySummary } from '../../src/contracts/decision.ts';
import { defaultPolicy } from '../../src/policy/default-policy.ts';
import { evaluate, type EvaluateContext, type PolicyDecision } from '../../src/policy/evaluate.ts';
import type { AccessPolicy, PolicyIdentity } from '../../src/policy/schema.ts';
import { attrs, body, policyOf, reporter, req } from './helpers.ts';

const custom = policyOf(`
apiVersion: agentgate.io/v1alpha1
kind: AccessPolicy
default: {outcome: approve, ttl: 2h, approvers: [oncall]}
rules:
  - name: secrets-app-config
    match: {verbs: [get, list, watch], apiGroups: [""], resources: [secrets], names: [app-config], namespaces: [$self]}
    outcome: allow
    ttl: 15m
    scope: request
  - name: secrets-approve
    match: {apiGroups: [""], resources: [secrets], namespaces: ["*"]}
    outcome: approve
    approvers: [security]
  - name: leases-self
    match: {verbs: [get, update], apiGroups: [coordination.k8s.io], resources: [leases], namespaces: [$self]}
    outcome: allow
    ttl: 10m
  - name: leases-payments
    match: {verbs: [update], apiGroups: [coordination.k8s.io], resources: [leases], namespaces: [payments]}
    outcome: approve
    approvers: [payments-team]
  - name: tie-first
    match: {verbs: [get], apiGroups: [example.com], resources: [widgets], namespaces: [shared]}
    outcome: approve
    approvers: [alice]
  - name: tie-second
    match: {verbs: [get], apiGroups: [example.com], resources: [widgets], namespaces: [shared]}
    outcome: approve
    approvers: [bob]
  - name: any-verb-widgets
    match: {apiGroups: [example.com], resources: [widgets], namespaces: [$self]}
    outcome: approve
    approvers: [carol]
  - name: list-widgets
    match: {verbs: [list], apiGroups: [example.com], resources: [widgets], namespaces: [$self]}
    outcome: allow
    ttl: 5m
  - name: deployer-patch
    match: {agents: [deployer], verbs: [patch], apiGroups: [apps], resources: [deployments], namespaces: [$self]}
    outcome: allow
    ttl: 30m
  - name: no-apps-writes-in-prod
    match: {connections: [prod], verbs: [create, update, patch, delete, deletecollection], apiGroups: [apps]}
    outcome: deny
    reason: No writes to apps in prod; use the release pipeline.
  - name: never-touch-namespaces
    match: {apiGroups: [""], resources: [namespaces]}
    outcome: deny
    reason: Namespaces are managed by the platform team.
  - name: sre-events
    match: {profiles: [sre], verbs: [list], apiGroups: [""], resources: [events], namespaces: [$self]}
    outcome: allow
    ttl: 1h
  - name: create-pods
    match: {verbs: [create], apiGroups: [""], resources: [pods], namespaces: [$self]}
    outcome: allow
    ttl: 10m
    scope: request
  - name: expose-services
    match: {verbs: [create], apiGroups: [""], resources: [services], namespaces: [$self]}
    outcome: approve
    approvers: [network-team]
    ttl: 20m
`);

const exposureDenied: AccessPolicy = { ...defaultPolicy, exposure: 'deny' };

interface Want {
  outcome: PolicyDecision['outcome'];
  code: PolicyDecision['code'];
  rule?: string;
  approvers?: string[];
  ttlMs?: number;
}
interface Row {
  name: string;
  policy?: AccessPolicy;
  who?: Partial<PolicyIdentity>;
  request: RequestAttributes;
  body?: BodySummary;
  ctx?: EvaluateContext;
  want: Want;
}

const RBAC = 'rbac.authorization.k8s.io/v1';
const min = 60_000;

const rows: Row[] = [
  // --- guardrails that always deny
  { name: 'ClusterRoleBinding to cluster-admin', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings'), body: body('ClusterRoleBinding', RBAC, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'reporter', namespace: 'payments' }] }), want: { outcome: 'deny', code: 'binds-cluster-admin' } },
  { name: 'RoleBinding in the own namespace to cluster-admin', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings'), body: body('RoleBinding', RBAC, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } }), want: { outcome: 'deny', code: 'binds-cluster-admin' } },
  { name: 'binding the system:masters group', request: req('PUT', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings/view'), body: body('RoleBinding', RBAC, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: 'system:masters' }] }), want: { outcome: 'deny', code: 'binds-system-masters' } },
  { name: 'a Role carrying the escalate verb', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles'), body: body('Role', RBAC, { rules: [{ verbs: ['escalate'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] }] }), want: { outcome: 'deny', code: 'verb-escalate' } },
  { name: 'a ClusterRole carrying the bind verb', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles'), body: body('ClusterRole', RBAC, { rules: [{ verbs: ['bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'] }] }), want: { outcome: 'deny', code: 'verb-bind' } },
  { name: 'a Role with * verbs on serviceaccounts includes impersonate', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles'), body: body('Role', RBAC, { rules: [{ verbs: ['*'], apiGroups: [''], resources: ['serviceaccounts'] }] }), want: { outcome: 'deny', code: 'verb-impersonate' } },
  { name: 'a Role with * verbs on rbac roles includes escalate', request: req('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles'), body: body('Role', RBAC, { rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] }), want: { outcome: 'deny', code: 'verb-escalate' } },
  { name: 'the impersonate verb itself (as a review would carry it)', request: attrs('impersonate', '', 'users', 'alice'), want: { outcome: 'deny', code: 'verb-impersonate' } },
  { name: 'a privileged pod', request: req('POST', '/api/v1/namespaces/payments/pods'), body: body('Pod', 'v1', { pod: { privileged: true } }), want: { outcome: 'deny', code: 'privileged-pod' } },
  { name: 'a Deployment whose pod template mounts a hostPath', request: req('POST', '/apis/apps/v1/namespaces/payments/deployments'), body: body('Deployment', 'apps/v1', { pod: { hostPath: true } }), want: { outcome: 'deny', code: 'host-path' } },
  { name: 'a Job on the host network', request: req('POST', '/apis/batch/v1/namespaces/payments/jobs'), body: body('Job', 'batch/v1', { pod: { hostNamespaces: ['network'] } }), want: { outcome: 'deny', code: 'host-namespace' } },
  { name: 'a patch making a CronJob share the host PID namespace', request: req('PATCH', '/apis/batch/v1/namespaces/payments/cronjobs/nightly'), body: body('CronJob', 'batch/v1', { pod: { hostNamespaces: ['pid'] } }), want: { outcome: 'deny', code: 'host-namespace' } },
  { name: 'deleting the own namespace', request: req('DELETE', '/api/v1/namespaces/payments'), want: { outcome: 'deny', code: 'namespace-delete' } },
  { name: 'a guardrail wins over a matching deny rule', policy: custom, request: req('DELETE', '/api/v1/namespaces/payments'), want: { outcome: 'deny', code: 'namespace-delete' } },
  { name: "reading configmaps in agentgate's namespace", request: req('GET', '/api/v1/namespaces/agentgate-system/configmaps'), want: { outcome: 'deny', code: 'agentgate-namespace' } },
  { name: "agentgate's namespace object itself", request: req('GET', '/api/v1/namespaces/agentgate-system'), want: { outcome: 'deny', code: 'agentgate-namespace' } },
  { name: "agentgate's namespace as configured", ctx: { agentgateNamespace: 'gate' }, request: req('PATCH', '/api/v1/namespaces/gate/secrets/redis'), want: { outcome: 'deny', code: 'agentgate-namespace' } },
  { name: "patching agentgate's mutating webhook", request: req('PATCH', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/agentgate-webhook'), want: { outcome: 'deny', code: 'agentgate-webhook' } },
  { name: 'deleting every validating webhook configuration', request: req('DELETE', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations'), want: { outcome: 'deny', code: 'agentgate-webhook' } },
  { name: 'a look-alike webhook name is not agentgate\'s', request: req('PATCH', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/agentgatex'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: "deleting agentgate's ClusterRoleBinding", request: req('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/agentgate-broker'), want: { outcome: 'deny', code: 'agentgate-rbac' } },
  { name: 'widening a per-grant Role in the own namespace', request: req('PATCH', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles/agentgate-grant-7f3a'), want: { outcome: 'deny', code: 'agentgate-rbac' } },
  { name: "binding agentgate's broker ClusterRole", request: req('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings'), body: body('RoleBinding', RBAC, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agentgate-broker' } }), want: { outcome: 'deny', code: 'agentgate-rbac' } },
  { name: 'serviceaccounts/token for the default account', request: req('POST', '/api/v1/namespaces/payments/serviceaccounts/default/token'), want: { outcome: 'deny', code: 'serviceaccount-token' } },
  { name: 'a Secret of type service-account-token', request: req('POST', '/api/v1/namespaces/payments/secrets'), body: body('Secret', 'v1', { secretType: 'kubernetes.io/service-account-token' }), want: { outcome: 'deny', code: 'service-account-token-secret' } },
  { name: 'nodes/proxy (kubelet API)', request: req('GET', '/api/v1/nodes/ip-10-0-0-1/proxy/metrics'), want: { outcome: 'deny', code: 'nodes-proxy' } },
  { name: 'nodes through the deprecated /proxy/ path', request: req('GET', '/api/v1/proxy/nodes/ip-10-0-0-1/pods'), want: { outcome: 'deny', code: 'nodes-proxy' } },
  { name: 'approving a CertificateSigningRequest', request: req('PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval'), want: { outcome: 'deny', code: 'csr-approval' } },
  { name: 'the approve verb on a signer', request: attrs('approve', 'certificates.k8s.io', 'signers', 'kubernetes.io/kube-apiserver-client'), want: { outcome: 'deny', code: 'csr-approval' } },
  { name: 'a Deployment in a namespace without injection', ctx: { isInjectedNamespace: (ns) => ns === 'payments' }, request: req('POST', '/apis/apps/v1/namespaces/legacy/deployments'), body: body('Deployment', 'apps/v1', { pod: {} }), want: { outcome: 'deny', code: 'workload-not-injected' } },
  { name: 'a bare pod in a namespace without injection, no body', ctx: { isInjectedNamespace: (ns) => ns === 'payments' }, request: req('POST', '/api/v1/namespaces/legacy/pods'), want: { outcome: 'deny', code: 'workload-not-injected' } },
  { name: 'the same Deployment in an injected namespace goes to approval', ctx: { isInjectedNamespace: (ns) => ns === 'payments' }, request: req('POST', '/apis/apps/v1/namespaces/payments/deployments'), body: body('Deployment', 'apps/v1', { pod: {} }), want: { outcome: 'approve', code: 'policy-no-rule' } },
  // --- guardrails that need approval
  { name: 'a pod with a hostPort', request: req('POST', '/api/v1/namespaces/payments/pods'), body: body('Pod', 'v1', { pod: { hostPorts: [8080] } }), want: { outcome: 'approve', code: 'exposure-host-port' } },
  { name: 'a NodePort Service', request: req('POST', '/api/v1/namespaces/payments/services'), body: body('Service', 'v1', { serviceType: 'NodePort' }), want: { outcome: 'approve', code: 'exposure-node-port' } },
  { name: 'a LoadBalancer Service lends the approve rule its approvers', policy: custom, request: req('POST', '/api/v1/namespaces/payments/services'), body: body('Service', 'v1', { serviceType: 'LoadBalancer' }), want: { outcome: 'approve', code: 'exposure-load-balancer', rule: 'expose-services', approvers: ['network-team'], ttlMs: 20 * min } },
  { name: 'exposure refused where the policy says exposure: deny', policy: exposureDenied, request: req('POST', '/api/v1/namespaces/payments/services'), body: body('Service', 'v1', { serviceType: 'LoadBalancer' }), want: { outcome: 'deny', code: 'exposure-load-balancer' } },
  { name: 'an allow rule cannot lift the hostPort approval', policy: custom, request: req('POST', '/api/v1/namespaces/payments/pods'), body: body('Pod', 'v1', { pod: { hostPorts: [443] } }), want: { outcome: 'approve', code: 'exposure-host-port' } },
  // --- the default policy
  { name: 'list pods in the own namespace is granted on demand', request: req('GET', '/api/v1/namespaces/payments/pods'), want: { outcome: 'allow', code: 'grant-created', rule: 'read-own-namespace', ttlMs: 30 * min } },
  { name: 'watch deployments in the own namespace', request: req('GET', '/apis/apps/v1/namespaces/payments/deployments?watch=true'), want: { outcome: 'allow', code: 'grant-created', rule: 'read-own-namespace' } },
  { name: 'pod logs in the own namespace', request: req('GET', '/api/v1/namespaces/payments/pods/web-0/log?follow=true'), want: { outcome: 'allow', code: 'grant-created', rule: 'read-own-namespace' } },
  { name: 'list pods in another namespace needs approval', request: req('GET', '/api/v1/namespaces/billing/pods'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'list pods across all namespaces needs approval', request: req('GET', '/api/v1/pods'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'exec over WebSocket is a get on pods/exec, not on pods', request: req('GET', '/api/v1/namespaces/payments/pods/web-0/exec?command=sh&stdin=true&tty=true'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'exec over SPDY is a create on pods/exec', request: req('POST', '/api/v1/namespaces/payments/pods/web-0/exec?command=sh'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'attach over WebSocket', request: req('GET', '/api/v1/namespaces/payments/pods/web-0/attach?stdin=true'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'port-forward over WebSocket', request: req('GET', '/api/v1/namespaces/payments/pods/web-0/portforward?ports=8080'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'the service proxy', request: req('GET', '/api/v1/namespaces/payments/services/web:80/proxy/admin'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'the pod proxy', request: req('GET', '/api/v1/namespaces/payments/pods/web-0/proxy/metrics'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'list secrets in the own namespace', request: req('GET', '/api/v1/namespaces/payments/secrets'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'one secret through a fieldSelector on its name', request: req('GET', '/api/v1/namespaces/payments/secrets?fieldSelector=metadata.name%3Ddb-password'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'watch secrets in the own namespace', request: req('GET', '/api/v1/namespaces/payments/secrets?watch=1'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'the own namespace object is not in the read-only list', request: req('GET', '/api/v1/namespaces/payments'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'list namespaces (cluster scope)', request: req('GET', '/api/v1/namespaces'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'creating a ServiceAccount is a named approval', request: req('POST', '/api/v1/namespaces/payments/serviceaccounts'), want: { outcome: 'approve', code: 'policy-approval', rule: 'create-serviceaccounts' } },
  { name: 'patching a RoleBinding is a named approval', request: req('PATCH', '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings/readers'), want: { outcome: 'approve', code: 'policy-approval', rule: 'change-rolebindings' } },
  { name: 'deleting a pod in the own namespace needs approval', request: req('DELETE', '/api/v1/namespaces/payments/pods/web-0'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'a non-resource URL needs approval', request: req('GET', '/version'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  // --- custom policy: deny overrides, specificity, identity selectors
  { name: 'a named object beats the resource (get)', policy: custom, request: req('GET', '/api/v1/namespaces/payments/secrets/app-config'), want: { outcome: 'allow', code: 'grant-created', rule: 'secrets-app-config', ttlMs: 15 * min } },
  { name: 'a named object through a list fieldSelector', policy: custom, request: req('GET', '/api/v1/namespaces/payments/secrets?fieldSelector=metadata.name=app-config'), want: { outcome: 'allow', code: 'grant-created', rule: 'secrets-app-config' } },
  { name: 'a named object through a watch fieldSelector', policy: custom, request: req('GET', '/api/v1/namespaces/payments/secrets?watch=true&fieldSelector=metadata.name%3D%3Dapp-config'), want: { outcome: 'allow', code: 'grant-created', rule: 'secrets-app-config' } },
  { name: 'a list of all secrets is not the named object', policy: custom, request: req('GET', '/api/v1/namespaces/payments/secrets'), want: { outcome: 'approve', code: 'policy-approval', rule: 'secrets-approve', approvers: ['security'], ttlMs: 120 * min } },
  { name: '$self does not reach another namespace', policy: custom, request: req('GET', '/api/v1/namespaces/billing/secrets/app-config'), want: { outcome: 'approve', code: 'policy-approval', rule: 'secrets-approve' } },
  { name: 'an exact namespace beats $self', policy: custom, request: req('PUT', '/apis/coordination.k8s.io/v1/namespaces/payments/leases/leader'), want: { outcome: 'approve', code: 'policy-approval', rule: 'leases-payments', approvers: ['payments-team'] } },
  { name: '$self applies where the exact rule does not match the verb', policy: custom, request: req('GET', '/apis/coordination.k8s.io/v1/namespaces/payments/leases/leader'), want: { outcome: 'allow', code: 'grant-created', rule: 'leases-self', ttlMs: 10 * min } },
  { name: 'a tie goes to the earlier rule', policy: custom, request: req('GET', '/apis/example.com/v1/namespaces/shared/widgets/w1'), want: { outcome: 'approve', code: 'policy-approval', rule: 'tie-first', approvers: ['alice'] } },
  { name: 'a named verb beats any verb', policy: custom, request: req('GET', '/apis/example.com/v1/namespaces/payments/widgets'), want: { outcome: 'allow', code: 'grant-created', rule: 'list-widgets' } },
  { name: 'any verb applies where no named verb matches', policy: custom, request: req('DELETE', '/apis/example.com/v1/namespaces/payments/widgets/w1'), want: { outcome: 'approve', code: 'policy-approval', rule: 'any-verb-widgets', approvers: ['carol'] } },
  { name: 'the deployer may patch outside prod', policy: custom, who: { agent: 'deployer', connection: 'staging' }, request: req('PATCH', '/apis/apps/v1/namespaces/payments/deployments/api'), want: { outcome: 'allow', code: 'grant-created', rule: 'deployer-patch' } },
  { name: 'deny overrides the more specific allow in prod', policy: custom, who: { agent: 'deployer' }, request: req('PATCH', '/apis/apps/v1/namespaces/payments/deployments/api'), want: { outcome: 'deny', code: 'policy-deny', rule: 'no-apps-writes-in-prod' } },
  { name: 'another agent falls to the default', policy: custom, who: { connection: 'staging' }, request: req('PATCH', '/apis/apps/v1/namespaces/payments/deployments/api'), want: { outcome: 'approve', code: 'policy-no-rule', approvers: ['oncall'], ttlMs: 120 * min } },
  { name: 'a deny rule on the namespace object', policy: custom, request: req('GET', '/api/v1/namespaces/payments'), want: { outcome: 'deny', code: 'policy-deny', rule: 'never-touch-namespaces' } },
  { name: 'a profile selects the rule', policy: custom, who: { profile: 'sre' }, request: req('GET', '/api/v1/namespaces/payments/events'), want: { outcome: 'allow', code: 'grant-created', rule: 'sre-events' } },
  { name: 'without the profile the rule does not apply', policy: custom, request: req('GET', '/api/v1/namespaces/payments/events'), want: { outcome: 'approve', code: 'policy-no-rule' } },
  { name: 'an allowed pod create is still checked by the guardrails', policy: custom, request: req('POST', '/api/v1/namespaces/payments/pods'), body: body('Pod', 'v1', { pod: { privileged: true } }), want: { outcome: 'deny', code: 'privileged-pod' } },
  { name: 'a harmless pod create is allowed by the rule', policy: custom, request: req('POST', '/api/v1/namespaces/payments/pods'), body: body('Pod', 'v1', { pod: {} }), want: { outcome: 'allow', code: 'grant-created', rule: 'create-pods' } },
];

for (const row of rows) {
  test(`policy: ${row.name}`, (t) => {
    const identity = { ...reporter, ...row.who };
    const decision = evaluate(row.policy ?? defaultPolicy, identity, row.request, row.body, row.ctx);
    const got: Want = { outcome: decision.outcome, code: decision.code };
    if (row.want.rule !== undefined) got.rule = decision.rule;
    if (row.want.approvers !== undefined) got.approvers = decision.approvers;
    if (row.want.ttlMs !== undefined) got.ttlMs = decision.ttlMs;
    t.deepEqual(got, row.want, decision.message);
    t.true(decision.message.length > 0);
  });
}

test('the table covers at least 40 cases and every guardrail code', (t) => {
  t.true(rows.length >= 40, String(rows.length));
  const codes = new Set(rows.map((r) => r.want.code));
  for (const code of ['binds-cluster-admin', 'binds-system-masters', 'verb-escalate', 'verb-bind', 'verb-impersonate', 'privileged-pod', 'host-path', 'host-namespace', 'namespace-delete', 'agentgate-namespace', 'agentgate-webhook', 'agentgate-rbac', 'serviceaccount-token', 'service-account-token-secret', 'nodes-proxy', 'csr-approval', 'workload-not-injected', 'exposure-host-port', 'exposure-node-port', 'exposure-load-balancer'] as const) {
    t.true(codes.has(code), code);
  }
});
