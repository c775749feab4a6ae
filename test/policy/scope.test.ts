// What a decision grants (scope, TTL), the stated evaluation order step by step, and the
// permission guardrails that keep on-demand grants and Role bodies narrow.
import test from 'ava';
import type { PolicyRule } from '../../src/contracts/rbac.ts';
import { defaultPolicy } from '../../src/policy/default-policy.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import { forbiddenInRule } from '../../src/policy/guardrail-rules.ts';
import type { AccessPolicy } from '../../src/policy/schema.ts';
import { body, policyOf, reporter, req } from './helpers.ts';

test('the default read-only grant is the rule itself, bound in the own namespace only', (t) => {
  const d = evaluate(defaultPolicy, reporter, req('GET', '/api/v1/namespaces/payments/configmaps'));
  const rule = defaultPolicy.rules[0];
  t.is(d.outcome, 'allow');
  t.deepEqual(d.scope, { rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: rule?.match.apiGroups, resources: rule?.match.resources }], namespaces: ['payments'] });
  t.false(JSON.stringify(d.scope).includes('secrets'));
  t.false(JSON.stringify(d.scope).includes('exec'));
  t.is(d.ttlMs, 30 * 60_000);
});

test('an approval asks for exactly the request: exec over get names pods/exec and the pod', (t) => {
  const d = evaluate(defaultPolicy, reporter, req('GET', '/api/v1/namespaces/payments/pods/web-0/exec?command=sh'));
  t.is(d.outcome, 'approve');
  t.deepEqual(d.scope, { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods/exec'], resourceNames: ['web-0'] }], namespaces: ['payments'] });
  t.is(d.ttlMs, 3_600_000);
  t.deepEqual(d.approvers, []);
});

test('an approval for a cluster-scoped request is cluster-wide; a URL becomes a non-resource rule', (t) => {
  t.deepEqual(evaluate(defaultPolicy, reporter, req('GET', '/api/v1/nodes')).scope, { rules: [{ verbs: ['list'], apiGroups: [''], resources: ['nodes'] }], namespaces: ['*'] });
  t.deepEqual(evaluate(defaultPolicy, reporter, req('GET', '/version')).scope, { rules: [{ verbs: ['get'], nonResourceURLs: ['/version'] }], namespaces: ['*'] });
});

const layered = policyOf(`
apiVersion: agentgate.io/v1alpha1
kind: AccessPolicy
rules:
  - name: broad-deny
    match: {apiGroups: [""], resources: [services], namespaces: [billing, agentgate-system]}
    outcome: deny
    reason: Billing services are off limits.
  - name: specific-allow
    match: {verbs: [create, get], apiGroups: [""], resources: [services], names: [web], namespaces: [$self, billing]}
    outcome: allow
    ttl: 5m
    scope: request
  - name: services-allow
    match: {verbs: [create], apiGroups: [""], resources: [services], namespaces: [$self]}
    outcome: allow
    ttl: 5m
`);

test('evaluation order: guardrail, then deny rules, then exposure, then the most specific rule, then the default', (t) => {
  const step = (method: string, url: string, b?: ReturnType<typeof body>) => {
    const d = evaluate(layered, reporter, req(method, url), b);
    return `${d.outcome}/${d.code}${d.rule ? `/${d.rule}` : ''}`;
  };
  // 1. A guardrail refuses before any rule is read (the deny rule matches too).
  t.is(step('GET', '/api/v1/namespaces/agentgate-system/services/web'), 'deny/agentgate-namespace');
  // 2. A deny rule wins over a more specific allow (named object, listed verb).
  t.is(step('GET', '/api/v1/namespaces/billing/services/web'), 'deny/policy-deny/broad-deny');
  // 3. Exposure needs approval although an allow rule matches.
  t.is(step('POST', '/api/v1/namespaces/payments/services', body('Service', 'v1', { serviceType: 'NodePort' })), 'approve/exposure-node-port');
  // 4. Otherwise the most specific rule decides.
  t.is(step('POST', '/api/v1/namespaces/payments/services', body('Service', 'v1', { serviceType: 'ClusterIP' })), 'allow/grant-created/services-allow');
  t.is(step('GET', '/api/v1/namespaces/payments/services/web'), 'allow/grant-created/specific-allow');
  // 5. Nothing matches: the default, approval.
  t.is(step('GET', '/api/v1/namespaces/payments/services/other'), 'approve/policy-no-rule');
});

test('a policy whose default is deny refuses what it does not name', (t) => {
  const strict = policyOf('apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicy\ndefault: {outcome: deny}\n');
  const d = evaluate(strict, reporter, req('GET', '/api/v1/namespaces/payments/pods'));
  t.deepEqual([d.outcome, d.code], ['deny', 'policy-no-rule']);
});

test('an on-demand grant never reaches agentgate\'s namespace, even when a rule lists it', (t) => {
  const p = policyOf(`
apiVersion: agentgate.io/v1alpha1
kind: AccessPolicy
rules:
  - name: read-cm
    match: {verbs: [get], apiGroups: [""], resources: [configmaps], namespaces: [$self, agentgate-system]}
    outcome: allow
    ttl: 5m
`);
  const d = evaluate(p, reporter, req('GET', '/api/v1/namespaces/payments/configmaps/app'));
  t.is(d.outcome, 'allow');
  t.deepEqual(d.scope?.namespaces, ['payments']);
});

test('an allow rule built in code past the loader still fails closed when its scope is cluster-wide or guarded', (t) => {
  const wide: AccessPolicy = { ...defaultPolicy, rules: [{ name: 'wide', match: { verbs: ['get'], resources: ['*'] }, outcome: 'allow', ttl: '5m' }] };
  const d = evaluate(wide, reporter, req('GET', '/api/v1/namespaces/payments/pods/web-0'));
  t.deepEqual([d.outcome, d.code, d.rule], ['approve', 'policy-approval', 'wide']);
  const guarded: AccessPolicy = { ...defaultPolicy, rules: [{ name: 'tokens', match: { verbs: ['create', 'get'], apiGroups: [''], resources: ['serviceaccounts/token', 'configmaps'], namespaces: ['$self'] }, outcome: 'allow', ttl: '5m' }] };
  t.is(evaluate(guarded, reporter, req('GET', '/api/v1/namespaces/payments/configmaps/x')).outcome, 'approve');
});

test('by default only the agent\'s own namespace counts as injected', (t) => {
  t.is(evaluate(defaultPolicy, reporter, req('POST', '/apis/batch/v1/namespaces/billing/jobs')).code, 'workload-not-injected');
  t.is(evaluate(defaultPolicy, reporter, req('POST', '/apis/batch/v1/namespaces/payments/jobs')).code, 'policy-no-rule');
});

interface ForbiddenRow {
  name: string;
  rule: PolicyRule;
  where?: 'grant' | 'body';
  want: string[];
}

const forbiddenRows: ForbiddenRow[] = [
  { name: 'read-only on pods is fine', rule: { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }, want: [] },
  { name: '* verbs on roles include escalate and bind', rule: { verbs: ['*'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] }, want: ['verb-escalate', 'verb-bind', 'agentgate-rbac'] },
  { name: '* verbs on roles in a body: only the never-allowed ones', where: 'body', rule: { verbs: ['*'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] }, want: ['verb-escalate', 'verb-bind'] },
  { name: 'impersonate on userextras', rule: { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'] }, want: ['verb-impersonate'] },
  { name: 'create on */token reaches serviceaccounts/token', rule: { verbs: ['create'], apiGroups: [''], resources: ['*/token'] }, want: ['serviceaccount-token'] },
  { name: 'get on nodes/proxy', rule: { verbs: ['get'], apiGroups: [''], resources: ['nodes/proxy'] }, want: ['nodes-proxy'] },
  { name: 'update on CSR approval', rule: { verbs: ['update'], apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/approval'] }, want: ['csr-approval'] },
  { name: 'approve on signers', rule: { verbs: ['approve'], apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: ['example.com/x'] }, want: ['csr-approval'] },
  { name: 'delete namespaces in a grant', rule: { verbs: ['delete'], apiGroups: [''], resources: ['namespaces'] }, want: ['namespace-delete'] },
  { name: 'patch rolebindings limited to other names is fine', rule: { verbs: ['patch'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], resourceNames: ['readers'] }, want: [] },
  { name: 'patch rolebindings on any name reaches the per-grant ones', rule: { verbs: ['patch'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'] }, want: ['agentgate-rbac'] },
  { name: 'a non-resource rule', rule: { verbs: ['*'], nonResourceURLs: ['*'] }, want: [] },
];

for (const row of forbiddenRows) {
  test(`forbidden permissions: ${row.name}`, (t) => {
    t.deepEqual(forbiddenInRule(row.rule, row.where ?? 'grant').map((f) => f.code), row.want);
  });
}
