// The review APIs of the API double: access reviews (kubectl auth can-i), rules reviews
// (can-i --list), SelfSubjectReview in all three versions (kubectl auth whoami) and TokenReview.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator } from '../doubles/kube-api/authn.ts';
import { bootstrapRbacObjects, createAuthorizer } from '../doubles/kube-api/rbac.ts';
import { createReviewHandlers } from '../doubles/kube-api/reviews.ts';
import type { ReviewHandlers } from '../doubles/kube-api/reviews.ts';
import { StatusError } from '../doubles/kube-api/status.ts';
import type { KubeObject, StoreReader, UserInfo } from '../doubles/kube-api/types.ts';
import { kubectl } from '../helpers/kubectl.ts';

const G = 'rbac.authorization.k8s.io';
const T0 = Date.parse('2025-06-01T12:00:00Z');

/** A list-backed StoreReader; reviews only read. */
function storeOf(objects: KubeObject[]): StoreReader {
  const key = (o: KubeObject): string => {
    const [group = ''] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [];
    const plural = `${o.kind.toLowerCase()}s`;
    return group ? `${plural}.${group}` : plural;
  };
  return {
    get: (resource, namespace, name) => objects.find((o) => key(o) === resource && (o.metadata.namespace ?? '') === namespace && o.metadata.name === name),
    list: (resource, namespace) => objects.filter((o) => key(o) === resource && (namespace === undefined || o.metadata.namespace === namespace)),
  };
}

function handlers(): ReviewHandlers {
  const store = storeOf([
    ...bootstrapRbacObjects(),
    { apiVersion: `${G}/v1`, kind: 'RoleBinding', metadata: { name: 'viewers', namespace: 'dev' }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'alice' }] },
    { apiVersion: `${G}/v1`, kind: 'RoleBinding', metadata: { name: 'orphan', namespace: 'dev' }, roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'gone' }, subjects: [{ kind: 'User', name: 'erin' }] },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: 'agents', uid: 'sa-1' } },
  ]);
  const authenticator = createAuthenticator({ store, now: () => T0 });
  return createReviewHandlers({ authorizer: createAuthorizer({ store }), authenticator, now: () => T0 });
}

function call(name: string, user: UserInfo, body: unknown, namespace?: string, apiVersion?: string): KubeObject {
  const handler = handlers()[name];
  if (!handler) throw new Error(`no handler for ${name}`);
  return handler(user, body, namespace, apiVersion);
}

const alice: UserInfo = { username: 'alice', groups: ['system:authenticated'] };
const podsIn = (namespace: string, verb = 'list') => ({ resourceAttributes: { namespace, verb, resource: 'pods' } });

// --- access reviews -------------------------------------------------------------------------

type AccessReview = 'selfsubjectaccessreviews' | 'subjectaccessreviews' | 'localsubjectaccessreviews';

const accessRows: Array<{ name: string; handler: AccessReview; user?: UserInfo; spec: Record<string, unknown>; namespace?: string; status: Record<string, unknown> }> = [
  // SelfSubjectAccessReview: `kubectl auth can-i`
  { name: 'self: allowed by a RoleBinding', handler: 'selfsubjectaccessreviews', spec: podsIn('dev'), status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers/dev" of ClusterRole "view" to User "alice"' } },
  { name: 'self: denied elsewhere, without a reason', handler: 'selfsubjectaccessreviews', spec: podsIn('prod'), status: { allowed: false } },
  { name: 'self: a subresource', handler: 'selfsubjectaccessreviews', spec: { resourceAttributes: { namespace: 'dev', verb: 'get', resource: 'pods', subresource: 'log', name: 'p' } }, status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers/dev" of ClusterRole "view" to User "alice"' } },
  { name: 'self: a path', handler: 'selfsubjectaccessreviews', spec: { nonResourceAttributes: { path: '/version', verb: 'get' } }, status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' } },
  {
    name: 'self: a dangling binding shows in the reason',
    handler: 'selfsubjectaccessreviews', user: { username: 'erin', groups: ['system:authenticated'] }, spec: podsIn('dev'),
    status: { allowed: false, reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found' },
  },
  // SubjectAccessReview: about someone else, with exactly the groups named
  { name: 'subject: a named user', handler: 'subjectaccessreviews', spec: { user: 'alice', ...podsIn('dev') }, status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers/dev" of ClusterRole "view" to User "alice"' } },
  { name: 'subject: no group is implied, not even system:authenticated', handler: 'subjectaccessreviews', spec: { user: 'carol', nonResourceAttributes: { path: '/version', verb: 'get' } }, status: { allowed: false } },
  { name: 'subject: groups alone suffice', handler: 'subjectaccessreviews', spec: { groups: ['system:authenticated'], nonResourceAttributes: { path: '/version', verb: 'get' } }, status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' } },
  { name: 'subject: system:masters', handler: 'subjectaccessreviews', spec: { user: 'x', groups: ['system:masters'], ...podsIn('kube-system', 'delete') }, status: { allowed: true } },
  // LocalSubjectAccessReview: namespaced
  { name: 'local: in its namespace', handler: 'localsubjectaccessreviews', namespace: 'dev', spec: { user: 'alice', ...podsIn('dev') }, status: { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers/dev" of ClusterRole "view" to User "alice"' } },
];

for (const row of accessRows) {
  test(`access review: ${row.name}`, (t) => {
    const kind: string = { selfsubjectaccessreviews: 'SelfSubjectAccessReview', subjectaccessreviews: 'SubjectAccessReview', localsubjectaccessreviews: 'LocalSubjectAccessReview' }[row.handler];
    const out = call(row.handler, row.user ?? alice, { apiVersion: 'authorization.k8s.io/v1', kind, spec: row.spec }, row.namespace);
    t.is(out.kind, kind);
    t.is(out.apiVersion, 'authorization.k8s.io/v1');
    t.deepEqual(out.spec, row.spec);
    t.deepEqual(out.status, row.status);
  });
}

const invalidRows: Array<{ name: string; handler: string; body: unknown; namespace?: string; code: number; message: string }> = [
  { name: 'a self review asking nothing', handler: 'selfsubjectaccessreviews', body: { spec: {} }, code: 422, message: 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' },
  {
    name: 'a self review asking both',
    handler: 'selfsubjectaccessreviews', body: { spec: { ...podsIn('dev'), nonResourceAttributes: { path: '/api', verb: 'get' } } }, code: 422,
    message: 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: Invalid value: authorization.NonResourceAttributes{Path:"/api", Verb:"get"}: cannot be specified in combination with resourceAttributes',
  },
  { name: 'a subject review naming nobody', handler: 'subjectaccessreviews', body: { spec: podsIn('dev') }, code: 422, message: 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified' },
  {
    name: 'a subject review with two faults lists both',
    handler: 'subjectaccessreviews', body: { spec: {} }, code: 422,
    message: 'SubjectAccessReview.authorization.k8s.io "" is invalid: [spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified, spec.user: Invalid value: "": at least one of user or group must be specified]',
  },
  { name: 'a local review about another namespace', handler: 'localsubjectaccessreviews', namespace: 'dev', body: { spec: { user: 'alice', ...podsIn('prod') } }, code: 422, message: 'LocalSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes.namespace: Invalid value: "prod": must match metadata.namespace' },
  { name: 'a local review posted to another namespace', handler: 'localsubjectaccessreviews', namespace: 'dev', body: { metadata: { namespace: 'prod' }, spec: { user: 'alice', ...podsIn('prod') } }, code: 400, message: 'the namespace of the provided object does not match the namespace sent on the request' },
  { name: 'a local review about a path', handler: 'localsubjectaccessreviews', namespace: 'dev', body: { spec: { user: 'alice', nonResourceAttributes: { path: '/api', verb: 'get' } } }, code: 422, message: 'LocalSubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: Invalid value: authorization.NonResourceAttributes{Path:"/api", Verb:"get"}: disallowed on this kind of request' },
  { name: 'a rules review without a namespace', handler: 'selfsubjectrulesreviews', body: { spec: {} }, code: 400, message: 'no namespace on request' },
];

for (const row of invalidRows) {
  test(`refuses ${row.name}`, (t) => {
    const error = t.throws(() => call(row.handler, alice, row.body, row.namespace), { instanceOf: StatusError });
    t.is(error?.status.code, row.code);
    t.is(error?.status.message, row.message);
  });
}

// --- rules review ---------------------------------------------------------------------------

test('rules review: lists what can-i --list prints, and no spec comes back', (t) => {
  const out = call('selfsubjectrulesreviews', alice, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'dev' } });
  t.like(out, { kind: 'SelfSubjectRulesReview', apiVersion: 'authorization.k8s.io/v1', spec: {} });
  const status = out.status as { resourceRules: Array<{ resources?: string[] }>; nonResourceRules: unknown[]; incomplete: boolean };
  t.false(status.incomplete);
  t.true(status.resourceRules.some((r) => r.resources?.includes('pods')), 'view in dev');
  t.true(status.resourceRules.some((r) => r.resources?.includes('selfsubjectaccessreviews')), 'basic-user');
  t.is(status.nonResourceRules.length, 2, 'discovery and public-info-viewer');
  const prod = call('selfsubjectrulesreviews', alice, { spec: { namespace: 'prod' } }).status as { resourceRules: Array<{ resources?: string[] }> };
  t.false(prod.resourceRules.some((r) => r.resources?.includes('pods')), 'nothing of dev shows in prod');
});

test('rules review: a dangling binding is reported as an evaluation error', (t) => {
  const out = call('selfsubjectrulesreviews', { username: 'erin', groups: ['system:authenticated'] }, { spec: { namespace: 'dev' } });
  t.like(out.status, { incomplete: false, evaluationError: 'clusterrole.rbac.authorization.k8s.io "gone" not found' });
});

// --- SelfSubjectReview ----------------------------------------------------------------------

const agent: UserInfo = {
  username: 'system:serviceaccount:agents:agent',
  uid: 'sa-1',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated'],
  extra: { 'authentication.kubernetes.io/pod-name': ['p1'], 'authentication.kubernetes.io/pod-uid': ['pod-1'] },
};

const whoamiRows: Array<{ name: string; body: unknown; apiVersion?: string; want: string }> = [
  { name: 'v1 (kubectl 1.28+)', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, want: 'authentication.k8s.io/v1' },
  { name: 'v1beta1 (kubectl 1.27)', body: { apiVersion: 'authentication.k8s.io/v1beta1', kind: 'SelfSubjectReview' }, want: 'authentication.k8s.io/v1beta1' },
  { name: 'v1alpha1 (kubectl 1.26 and 1.27 fallback)', body: { apiVersion: 'authentication.k8s.io/v1alpha1', kind: 'SelfSubjectReview' }, want: 'authentication.k8s.io/v1alpha1' },
  { name: 'the URL version wins over the body', body: { apiVersion: 'authentication.k8s.io/v1' }, apiVersion: 'v1beta1', want: 'authentication.k8s.io/v1beta1' },
  { name: 'an unknown version falls back to v1', body: { apiVersion: 'authentication.k8s.io/v2' }, want: 'authentication.k8s.io/v1' },
];

for (const row of whoamiRows) {
  test(`selfsubjectreview: ${row.name}`, (t) => {
    const out = call('selfsubjectreviews', agent, row.body, undefined, row.apiVersion);
    t.deepEqual(out, {
      kind: 'SelfSubjectReview',
      apiVersion: row.want,
      metadata: { creationTimestamp: '2025-06-01T12:00:00Z' },
      status: { userInfo: { username: agent.username, uid: 'sa-1', groups: agent.groups, extra: agent.extra } },
    });
  });
}

test('selfsubjectreview: a user without uid or extra has neither field', (t) => {
  const out = call('selfsubjectreviews', alice, {});
  t.deepEqual(out.status, { userInfo: { username: 'alice', groups: ['system:authenticated'] } });
});

// --- TokenReview through the same table ---------------------------------------------------

test('tokenreviews: served when an authenticator is given', (t) => {
  const h = handlers();
  t.like(h.tokenreviews?.(alice, { spec: { token: 'nope' } }), { kind: 'TokenReview', status: { user: {}, error: 'invalid bearer token' } });
  const store = storeOf([]);
  t.is(createReviewHandlers({ authorizer: createAuthorizer({ store }) }).tokenreviews, undefined);
});

// --- through real kubectl and the whole double ------------------------------------------------

for (const version of ['1.27', '1.33']) {
  test(`kubectl ${version}: a RoleBinding opens access, and deleting it closes it at once`, async (t) => {
    // Imported here so that a server still being built fails this test alone, not the file.
    const { createKubeApiServer } = await import('../doubles/kube-api/server.ts');
    const api = await createKubeApiServer({ version });
    const dir = await mkdtemp(join(tmpdir(), `reviews-kubectl-${version}-`));
    t.teardown(async () => {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    });
    const admin = join(dir, 'admin.kubeconfig');
    const agent = join(dir, 'agent.kubeconfig');
    await api.writeKubeconfig(admin);
    const run = (args: string[], kubeconfig = agent, input?: string) => kubectl(version, args, input === undefined ? { kubeconfig } : { kubeconfig, input });
    api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'agents' } });
    api.objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: 'agents' } });
    const token = await run(['-n', 'agents', 'create', 'token', 'agent'], admin);
    t.is(token.code, 0, token.stderr);
    await api.writeKubeconfig(agent, token.stdout.trim());

    const whoami = await run(['auth', 'whoami']);
    t.regex(whoami.stdout, /Username\s+system:serviceaccount:agents:agent\n/, whoami.stderr);
    t.is((await run(['-n', 'agents', 'auth', 'can-i', 'list', 'pods'])).stdout.trim(), 'no');

    // From a manifest: `kubectl create rolebinding` of 1.33 posts protobuf, which the double does not decode.
    const grant = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'grant', namespace: 'agents' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: 'agents' }] };
    const bind = await run(['create', '-f', '-'], admin, JSON.stringify(grant));
    t.is(bind.code, 0, bind.stderr);
    t.is((await run(['-n', 'agents', 'auth', 'can-i', 'list', 'pods'])).stdout.trim(), 'yes');
    t.is((await run(['-n', 'agents', 'auth', 'can-i', 'get', 'secrets'])).stdout.trim(), 'no');
    t.is((await run(['-n', 'agents', 'get', 'pods'])).code, 0);

    const unbind = await run(['-n', 'agents', 'delete', 'rolebinding', 'grant'], admin);
    t.is(unbind.code, 0, unbind.stderr);
    const denied = await run(['-n', 'agents', 'get', 'pods']);
    t.is(denied.stderr.trim(), 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:agents:agent" cannot list resource "pods" in API group "" in the namespace "agents"');
  });
}
