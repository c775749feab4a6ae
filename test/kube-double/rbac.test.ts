// RBAC of the API double: decisions over the store on every call, the real server's 403 texts,
// escalation prevention on Role and binding writes, and the rules SelfSubjectRulesReview lists.
import test from 'ava';
import { bootstrapRbacObjects, createAuthorizer } from '../doubles/kube-api/rbac.ts';
import type { Authorizer } from '../doubles/kube-api/rbac.ts';
import { StatusError } from '../doubles/kube-api/status.ts';
import type { KubeObject, RequestAttributes, StoreReader, UserInfo } from '../doubles/kube-api/types.ts';

const G = 'rbac.authorization.k8s.io';

/** A map-backed StoreReader keyed like the server's store. */
class MemoryStore implements StoreReader {
  readonly objects = new Map<string, KubeObject>();
  put(object: KubeObject): void {
    this.objects.set(`${keyOf(object.kind)}|${object.metadata.namespace ?? ''}|${object.metadata.name ?? ''}`, object);
  }
  remove(kind: string, namespace: string, name: string): void {
    this.objects.delete(`${keyOf(kind)}|${namespace}|${name}`);
  }
  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(`${resource}|${namespace}|${name}`);
  }
  list(resource: string, namespace?: string): KubeObject[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${resource}|${namespace === undefined ? '' : `${namespace}|`}`)).map(([, v]) => v);
  }
}

function keyOf(kind: string): string {
  return `${kind.toLowerCase()}s.${G}`;
}

type Rule = { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
type Subject = { kind: string; name: string; namespace?: string };

function role(name: string, namespace: string, rules: Rule[]): KubeObject {
  return { apiVersion: `${G}/v1`, kind: namespace ? 'Role' : 'ClusterRole', metadata: namespace ? { name, namespace } : { name }, rules };
}
function binding(name: string, namespace: string, ref: { kind: string; name: string }, subjects: Subject[]): KubeObject {
  return {
    apiVersion: `${G}/v1`,
    kind: namespace ? 'RoleBinding' : 'ClusterRoleBinding',
    metadata: namespace ? { name, namespace } : { name },
    roleRef: { apiGroup: G, ...ref },
    subjects,
  };
}

const user = (username: string, ...groups: string[]): UserInfo => ({ username, groups: [...groups, 'system:authenticated'] });
const alice = user('alice');
const bob = user('bob', 'team-a');
const agent = user('system:serviceaccount:agents:agent', 'system:serviceaccounts', 'system:serviceaccounts:agents');
const anonymous: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

function res(verb: string, resource: string, namespace = '', name = '', apiGroup = '', subresource = ''): RequestAttributes {
  return { isResourceRequest: true, path: '', verb, apiGroup, apiVersion: 'v1', resource, subresource, namespace, name };
}
function url(verb: string, path: string): RequestAttributes {
  return { isResourceRequest: false, path, verb, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
}

function world(): { store: MemoryStore; authz: Authorizer } {
  const store = new MemoryStore();
  for (const object of bootstrapRbacObjects()) store.put(object);
  store.put(binding('viewers', 'dev', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'User', name: 'alice' }]));
  store.put(binding('team-a-edit', 'dev', { kind: 'ClusterRole', name: 'edit' }, [{ kind: 'Group', name: 'team-a' }]));
  store.put(role('agent-pods', 'agents', [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'pods/log'] }]));
  store.put(binding('agent-pods', 'agents', { kind: 'Role', name: 'agent-pods' }, [{ kind: 'ServiceAccount', name: 'agent' }]));
  store.put(role('one-config', 'dev', [{ verbs: ['get', 'list', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['cfg'] }]));
  store.put(binding('one-config', 'dev', { kind: 'Role', name: 'one-config' }, [{ kind: 'User', name: 'carol' }]));
  store.put(role('scaler', '', [{ verbs: ['get', 'update'], apiGroups: ['apps'], resources: ['*/scale'] }, { verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }]));
  store.put(binding('scaler', '', { kind: 'ClusterRole', name: 'scaler' }, [{ kind: 'User', name: 'dave' }]));
  store.put(binding('orphan', 'dev', { kind: 'Role', name: 'ghost' }, [{ kind: 'User', name: 'erin' }]));
  store.put(binding('sa-no-ns', '', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'ServiceAccount', name: 'agent' }]));
  store.put(role('all-apps', '', [{ verbs: ['*'], apiGroups: ['apps'], resources: ['*'] }]));
  store.put(binding('all-apps', '', { kind: 'ClusterRole', name: 'all-apps' }, [{ kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' }]));
  return { store, authz: createAuthorizer({ store }) };
}

// --- authorize ------------------------------------------------------------------------------

const decisions: Array<{ name: string; user: UserInfo; attrs: RequestAttributes; allowed: boolean; reason?: string }> = [
  // privileged group
  { name: 'system:masters may do anything, bound or not', user: user('root', 'system:masters'), attrs: res('delete', 'namespaces', '', 'kube-system'), allowed: true, reason: '' },
  // a ClusterRole bound in a RoleBinding stays in that namespace
  { name: 'view in dev reads pods in dev', user: alice, attrs: res('list', 'pods', 'dev'), allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers/dev" of ClusterRole "view" to User "alice"' },
  { name: 'view in dev does not read pods in prod', user: alice, attrs: res('list', 'pods', 'prod'), allowed: false, reason: '' },
  { name: 'view in dev does not list pods cluster-wide', user: alice, attrs: res('list', 'pods'), allowed: false },
  { name: 'view reads pod logs', user: alice, attrs: res('get', 'pods', 'dev', 'p', '', 'log'), allowed: true },
  { name: 'view does not read secrets', user: alice, attrs: res('get', 'secrets', 'dev', 's'), allowed: false },
  { name: 'view does not exec', user: alice, attrs: res('create', 'pods', 'dev', 'p', '', 'exec'), allowed: false },
  { name: 'view reads deployments in apps', user: alice, attrs: res('get', 'deployments', 'dev', 'web', 'apps'), allowed: true },
  { name: 'view does not read deployments under a look-alike group', user: alice, attrs: res('get', 'deployments', 'dev', 'web', 'apps.example.com'), allowed: false },
  // group-only bindings
  { name: 'a group member gets the group\'s binding', user: bob, attrs: res('create', 'pods', 'dev'), allowed: true, reason: 'RBAC: allowed by RoleBinding "team-a-edit/dev" of ClusterRole "edit" to Group "team-a"' },
  { name: 'a user named like the group does not', user: user('team-a'), attrs: res('create', 'pods', 'dev'), allowed: false },
  { name: 'edit does not write roles', user: bob, attrs: res('create', 'roles', 'dev', '', G), allowed: false },
  // service-account subjects
  { name: 'a ServiceAccount subject without namespace takes the binding\'s', user: agent, attrs: res('get', 'pods', 'agents', 'p', '', 'log'), allowed: true, reason: 'RBAC: allowed by RoleBinding "agent-pods/agents" of Role "agent-pods" to ServiceAccount "agent/agents"' },
  { name: 'the same account name in another namespace does not match', user: user('system:serviceaccount:other:agent'), attrs: res('get', 'pods', 'agents'), allowed: false },
  { name: 'a longer account name does not match', user: user('system:serviceaccount:agents:agent-2'), attrs: res('get', 'pods', 'agents'), allowed: false },
  { name: 'a user named like the account does not match', user: user('agent'), attrs: res('get', 'pods', 'agents'), allowed: false },
  { name: 'a ClusterRoleBinding ServiceAccount subject without namespace matches nobody', user: agent, attrs: res('get', 'configmaps', 'agents'), allowed: false },
  { name: 'a ClusterRoleBinding ServiceAccount subject with namespace matches everywhere', user: user('system:serviceaccount:ci:deployer'), attrs: res('patch', 'deployments', 'prod', 'web', 'apps'), allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "all-apps" of ClusterRole "all-apps" to ServiceAccount "deployer/ci"' },
  { name: 'resources * in apps does not reach the core group', user: user('system:serviceaccount:ci:deployer'), attrs: res('get', 'pods', 'prod'), allowed: false },
  // resourceNames
  { name: 'resourceNames allow get of the named object', user: user('carol'), attrs: res('get', 'configmaps', 'dev', 'cfg'), allowed: true },
  { name: 'resourceNames refuse another name', user: user('carol'), attrs: res('get', 'configmaps', 'dev', 'cfg2'), allowed: false },
  { name: 'resourceNames refuse a list without a name', user: user('carol'), attrs: res('list', 'configmaps', 'dev'), allowed: false },
  { name: 'resourceNames allow a list narrowed by metadata.name', user: user('carol'), attrs: res('list', 'configmaps', 'dev', 'cfg'), allowed: true },
  { name: 'resourceNames refuse create (no name yet)', user: user('carol'), attrs: res('create', 'configmaps', 'dev'), allowed: false },
  // subresource wildcards
  { name: '*/scale covers deployments/scale', user: user('dave'), attrs: res('update', 'deployments', 'prod', 'web', 'apps', 'scale'), allowed: true },
  { name: '*/scale does not cover the deployment itself', user: user('dave'), attrs: res('get', 'deployments', 'prod', 'web', 'apps'), allowed: false },
  { name: '*/scale does not cover */status', user: user('dave'), attrs: res('get', 'deployments', 'prod', 'web', 'apps', 'status'), allowed: false },
  { name: 'pods/* is not a wildcard', user: user('dave'), attrs: res('get', 'pods', 'prod', 'p', '', 'log'), allowed: false },
  // a binding to a missing role
  { name: 'a dangling binding denies with the lister\'s error', user: user('erin'), attrs: res('get', 'pods', 'dev'), allowed: false, reason: 'RBAC: role.rbac.authorization.k8s.io "ghost" not found' },
  // non-resource URLs, from the bootstrap policy
  { name: 'an authenticated user reads /version', user: alice, attrs: url('get', '/version'), allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' },
  { name: 'an authenticated user reads /api/v1 through /api/*', user: alice, attrs: url('get', '/api/v1'), allowed: true },
  { name: 'an authenticated user reads /openapi/v3/apis/apps/v1', user: alice, attrs: url('get', '/openapi/v3/apis/apps/v1'), allowed: true },
  { name: '/apis/* does not cover /apisx', user: alice, attrs: url('get', '/apisx'), allowed: false },
  { name: 'nobody but admins reads /metrics', user: alice, attrs: url('get', '/metrics'), allowed: false },
  { name: 'discovery is get only', user: alice, attrs: url('post', '/api'), allowed: false },
  { name: 'anonymous reads /healthz', user: anonymous, attrs: url('get', '/healthz'), allowed: true },
  { name: 'anonymous does not read /api', user: anonymous, attrs: url('get', '/api'), allowed: false },
  { name: 'cluster-admin covers every path', user: user('root', 'system:masters'), attrs: url('get', '/metrics'), allowed: true },
  // self reviews for everyone authenticated
  { name: 'basic-user creates selfsubjectaccessreviews', user: alice, attrs: res('create', 'selfsubjectaccessreviews', '', '', 'authorization.k8s.io'), allowed: true },
  { name: 'basic-user creates selfsubjectreviews', user: alice, attrs: res('create', 'selfsubjectreviews', '', '', 'authentication.k8s.io'), allowed: true },
  { name: 'anonymous does not create selfsubjectreviews', user: anonymous, attrs: res('create', 'selfsubjectreviews', '', '', 'authentication.k8s.io'), allowed: false },
];

for (const row of decisions) {
  test(`authorize: ${row.name}`, (t) => {
    const decision = world().authz.authorize(row.user, row.attrs);
    t.is(decision.allowed, row.allowed);
    if (row.reason !== undefined) t.is(decision.reason, row.reason);
  });
}

test('authorize: deleting the binding closes access at once, re-creating opens it', (t) => {
  const { store, authz } = world();
  const attrs = res('get', 'pods', 'agents', 'p');
  t.true(authz.authorize(agent, attrs).allowed);
  store.remove('RoleBinding', 'agents', 'agent-pods');
  t.false(authz.authorize(agent, attrs).allowed);
  store.put(binding('agent-pods', 'agents', { kind: 'Role', name: 'agent-pods' }, [{ kind: 'ServiceAccount', name: 'agent' }]));
  t.true(authz.authorize(agent, attrs).allowed);
  store.remove('Role', 'agents', 'agent-pods');
  t.deepEqual(authz.authorize(agent, attrs), { allowed: false, reason: 'RBAC: role.rbac.authorization.k8s.io "agent-pods" not found' });
});

// --- forbiddenError -------------------------------------------------------------------------

const forbiddenRows: Array<{ name: string; user: UserInfo; attrs: RequestAttributes; message: string; details: Record<string, unknown> }> = [
  { name: 'a namespaced list', user: alice, attrs: res('list', 'pods', 'prod'), message: 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "prod"', details: { kind: 'pods' } },
  { name: 'a named subresource', user: user('system:serviceaccount:ns:sa'), attrs: res('get', 'pods', 'ns', 'p', '', 'log'), message: 'pods "p" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods/log" in API group "" in the namespace "ns"', details: { name: 'p', kind: 'pods' } },
  { name: 'the cluster scope', user: alice, attrs: res('list', 'namespaces'), message: 'namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope', details: { kind: 'namespaces' } },
  { name: 'a named object in a group', user: alice, attrs: res('delete', 'deployments', 'dev', 'web', 'apps'), message: 'deployments.apps "web" is forbidden: User "alice" cannot delete resource "deployments" in API group "apps" in the namespace "dev"', details: { name: 'web', group: 'apps', kind: 'deployments' } },
  { name: 'a path', user: anonymous, attrs: url('get', '/api'), message: 'forbidden: User "system:anonymous" cannot get path "/api"', details: {} },
  { name: 'a dangling binding', user: user('erin'), attrs: res('get', 'pods', 'dev', 'p'), message: 'pods "p" is forbidden: User "erin" cannot get resource "pods" in API group "" in the namespace "dev": RBAC: role.rbac.authorization.k8s.io "ghost" not found', details: { name: 'p', kind: 'pods' } },
];

for (const row of forbiddenRows) {
  test(`forbiddenError: ${row.name}`, (t) => {
    const error = world().authz.forbiddenError(row.user, row.attrs);
    t.deepEqual(JSON.parse(JSON.stringify(error.status)), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: row.message, reason: 'Forbidden', details: row.details, code: 403 });
  });
}

// --- checkEscalation ------------------------------------------------------------------------

const ALL_VERBS = '["create" "delete" "deletecollection" "get" "list" "patch" "update" "watch"]';

function withGrants(store: MemoryStore, who: string, namespace: string, rules: Rule[]): void {
  store.put(role(`${who}-grants`, namespace, rules));
  store.put(binding(`${who}-grants`, namespace, { kind: namespace ? 'Role' : 'ClusterRole', name: `${who}-grants` }, [{ kind: 'User', name: who }]));
}

const escalations: Array<{ name: string; user: UserInfo; op?: 'create' | 'update'; obj: KubeObject; namespace: string; setup?: (s: MemoryStore) => void; code?: number; message?: string }> = [
  // Roles: every granted rule must be held
  {
    name: 'a Role granting secrets the user cannot read',
    user: alice, obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]), namespace: 'dev', code: 403,
    message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
  },
  { name: 'a Role within the user\'s view rights', user: alice, obj: role('r', 'dev', [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'pods/log'] }]), namespace: 'dev' },
  {
    name: 'a Role in a namespace where the same rights are not held',
    user: alice, obj: role('r', 'prod', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]), namespace: 'prod', code: 403,
    message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
  },
  {
    name: 'missing rights are compacted per resource and sorted',
    user: alice, obj: role('r', 'dev', [{ verbs: ['get', 'delete', 'list'], apiGroups: ['', 'apps'], resources: ['secrets', 'deployments'] }]), namespace: 'dev', code: 403,
    message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
      + '{APIGroups:[""], Resources:["deployments"], Verbs:["get" "delete" "list"]}\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete" "list"]}\n'
      + '{APIGroups:["apps"], Resources:["deployments"], Verbs:["delete"]}\n{APIGroups:["apps"], Resources:["secrets"], Verbs:["get" "delete" "list"]}',
  },
  { name: 'escalate on roles lets the user grant more', user: alice, obj: role('r', 'dev', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]), namespace: 'dev', setup: (s) => withGrants(s, 'alice', 'dev', [{ verbs: ['escalate'], apiGroups: [G], resources: ['roles'] }]) },
  {
    name: 'escalate limited to a name does not cover a create',
    user: alice, obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]), namespace: 'dev', code: 403,
    setup: (s) => withGrants(s, 'alice', 'dev', [{ verbs: ['escalate'], apiGroups: [G], resources: ['roles'], resourceNames: ['r'] }]),
  },
  { name: 'escalate limited to a name covers an update of it', user: alice, op: 'update', obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]), namespace: 'dev', setup: (s) => withGrants(s, 'alice', 'dev', [{ verbs: ['escalate'], apiGroups: [G], resources: ['roles'], resourceNames: ['r'] }]) },
  {
    name: 'a resourceNames-limited right does not cover an unlimited grant',
    user: user('carol'), obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }]), namespace: 'dev', code: 403,
    message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}',
  },
  { name: 'a resourceNames-limited right covers the same names', user: user('carol'), obj: role('r', 'dev', [{ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['cfg'] }]), namespace: 'dev' },
  { name: '*/scale held covers deployments/scale granted', user: user('dave'), obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments/scale'] }]), namespace: 'dev' },
  {
    name: '*/scale held does not cover deployments granted',
    user: user('dave'), obj: role('r', 'dev', [{ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'] }]), namespace: 'dev', code: 403,
    message: 'roles.rbac.authorization.k8s.io "r" is forbidden: user "dave" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}',
  },
  {
    name: 'a ClusterRole needs cluster-wide rights, not a namespace\'s',
    user: alice, obj: role('c', '', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]), namespace: '', code: 403,
    message: 'clusterroles.rbac.authorization.k8s.io "c" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
  },
  {
    name: 'a ClusterRole granting a path the user may not get',
    user: alice, obj: role('c', '', [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }]), namespace: '', code: 403,
    message: 'clusterroles.rbac.authorization.k8s.io "c" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{NonResourceURLs:["/metrics"], Verbs:["get"]}',
  },
  { name: 'a ClusterRole granting discovery paths the user holds', user: alice, obj: role('c', '', [{ verbs: ['get'], nonResourceURLs: ['/api/v1', '/version'] }]), namespace: '' },
  {
    name: 'an aggregationRule needs cluster-admin',
    user: alice, obj: { ...role('c', '', []), aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] } }, namespace: '', code: 403,
    message: 'clusterroles.rbac.authorization.k8s.io "c" is forbidden: must have cluster-admin privileges to use the aggregationRule',
  },
  { name: 'system:masters may grant anything', user: user('root', 'system:masters'), obj: role('c', '', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]), namespace: '' },
  // bindings: hold the role's rights, or `bind` it
  {
    name: 'binding admin while holding only edit',
    user: bob, obj: binding('b', 'dev', { kind: 'ClusterRole', name: 'admin' }, [{ kind: 'User', name: 'mallory' }]), namespace: 'dev', code: 403,
    message: 'rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "bob" (groups=["team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
      + `{APIGroups:["authorization.k8s.io"], Resources:["localsubjectaccessreviews"], Verbs:["create"]}\n{APIGroups:["rbac.authorization.k8s.io"], Resources:["rolebindings"], Verbs:${ALL_VERBS}}\n{APIGroups:["rbac.authorization.k8s.io"], Resources:["roles"], Verbs:${ALL_VERBS}}`,
  },
  { name: 'binding view while holding edit (a ClusterRole in a RoleBinding)', user: bob, obj: binding('b', 'dev', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'User', name: 'mallory' }]), namespace: 'dev' },
  {
    name: 'binding view cluster-wide while holding it in one namespace',
    user: bob, obj: binding('b', '', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'User', name: 'mallory' }]), namespace: '', code: 403,
  },
  { name: 'bind on the named ClusterRole allows the binding', user: user('frank'), obj: binding('b', 'dev', { kind: 'ClusterRole', name: 'admin' }, [{ kind: 'User', name: 'frank' }]), namespace: 'dev', setup: (s) => withGrants(s, 'frank', 'dev', [{ verbs: ['bind'], apiGroups: [G], resources: ['clusterroles'], resourceNames: ['admin'] }]) },
  {
    name: 'bind on admin does not allow cluster-admin',
    user: user('frank'), obj: binding('b', 'dev', { kind: 'ClusterRole', name: 'cluster-admin' }, [{ kind: 'User', name: 'frank' }]), namespace: 'dev', code: 403,
    setup: (s) => withGrants(s, 'frank', 'dev', [{ verbs: ['bind'], apiGroups: [G], resources: ['clusterroles'], resourceNames: ['admin'] }]),
    message: 'rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "frank" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
  },
  {
    name: 'bind granted in dev does not reach prod',
    user: user('frank'), obj: binding('b', 'prod', { kind: 'ClusterRole', name: 'admin' }, [{ kind: 'User', name: 'frank' }]), namespace: 'prod', code: 403,
    setup: (s) => withGrants(s, 'frank', 'dev', [{ verbs: ['bind'], apiGroups: [G], resources: ['clusterroles'], resourceNames: ['admin'] }]),
  },
  { name: 'binding a missing Role is a 404', user: alice, obj: binding('b', 'dev', { kind: 'Role', name: 'nope' }, [{ kind: 'User', name: 'alice' }]), namespace: 'dev', code: 404, message: 'roles.rbac.authorization.k8s.io "nope" not found' },
  { name: 'bind allows even a missing role', user: user('frank'), obj: binding('b', 'dev', { kind: 'Role', name: 'nope' }, [{ kind: 'User', name: 'x' }]), namespace: 'dev', setup: (s) => withGrants(s, 'frank', 'dev', [{ verbs: ['bind'], apiGroups: [G], resources: ['roles'] }]) },
  { name: 'a binding of a Role whose rights the user holds', user: user('system:serviceaccount:agents:agent'), obj: binding('b', 'agents', { kind: 'Role', name: 'agent-pods' }, [{ kind: 'User', name: 'x' }]), namespace: 'agents' },
  { name: 'objects other than RBAC pass untouched', user: anonymous, obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, namespace: 'dev' },
];

for (const row of escalations) {
  test(`checkEscalation: ${row.name}`, (t) => {
    const { store, authz } = world();
    row.setup?.(store);
    const run = (): void => authz.checkEscalation(row.user, row.op ?? 'create', row.obj, row.namespace);
    if (row.code === undefined) {
      t.notThrows(run);
      return;
    }
    const error = t.throws(run, { instanceOf: StatusError });
    t.is(error?.status.code, row.code);
    if (row.message !== undefined) t.is(error?.status.message, row.message);
  });
}

// --- rulesFor ---------------------------------------------------------------------------------

test('rulesFor: lists the namespace\'s and the cluster\'s rules, split by kind', (t) => {
  const rules = world().authz.rulesFor(user('system:serviceaccount:agents:agent', 'system:serviceaccounts'), 'agents');
  t.false(rules.incomplete);
  t.is(rules.evaluationError, undefined);
  t.deepEqual(rules.resourceRules, [
    { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
    { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
    { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'pods/log'] },
  ]);
  t.deepEqual(rules.nonResourceRules, [
    { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'] },
    { verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] },
  ]);
});

test('rulesFor: a dangling binding is an evaluation error, not a failure', (t) => {
  const rules = world().authz.rulesFor(user('erin'), 'dev');
  t.is(rules.evaluationError, 'role.rbac.authorization.k8s.io "ghost" not found');
  t.true(rules.resourceRules.length > 0);
});

test('bootstrapRbacObjects: the roles and bindings of a fresh cluster', (t) => {
  const objects = bootstrapRbacObjects();
  t.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name ?? ''}`), [
    'ClusterRole/cluster-admin', 'ClusterRole/system:discovery', 'ClusterRole/system:basic-user', 'ClusterRole/system:public-info-viewer',
    'ClusterRole/admin', 'ClusterRole/edit', 'ClusterRole/view',
    'ClusterRoleBinding/cluster-admin', 'ClusterRoleBinding/system:discovery', 'ClusterRoleBinding/system:basic-user', 'ClusterRoleBinding/system:public-info-viewer',
  ]);
  const view = objects.find((o) => o.metadata.name === 'view');
  t.deepEqual(view?.rules, [
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['configmaps', 'pods', 'serviceaccounts', 'services', 'services/status'] },
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['events', 'namespaces/status', 'pods/log', 'pods/status'] },
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['namespaces'] },
    { verbs: ['get', 'list', 'watch'], apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'deployments/status'] },
  ]);
  t.like(objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'system:public-info-viewer'), {
    subjects: [{ kind: 'Group', name: 'system:authenticated' }, { kind: 'Group', name: 'system:unauthenticated' }],
  });
  t.not(bootstrapRbacObjects()[0]?.rules, objects[0]?.rules, 'each call returns fresh objects');
});
