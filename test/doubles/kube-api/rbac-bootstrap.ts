/**
 * The bootstrap RBAC policy the API double seeds (plugin/pkg/auth/authorizer/rbac/bootstrappolicy,
 * v1.31), cut down to the resources the double serves. admin/edit/view carry the rules the
 * aggregation controller would have gathered into them, in its order. Test code only.
 */
import type { KubeObject } from './types.ts';
import type { PolicyRule } from './rbac-rules.ts';

const RBAC_V1 = 'rbac.authorization.k8s.io/v1';
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const READ_WRITE = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** A resource rule with its lists sorted, as the bootstrap policy's rule builder leaves them. */
function rule(verbs: string[], group: string, resources: string[]): PolicyRule {
  return { verbs: [...verbs].sort(), apiGroups: [group], resources: [...resources].sort() };
}

function urls(verbs: string[], paths: string[]): PolicyRule {
  return { verbs: [...verbs].sort(), nonResourceURLs: [...paths].sort() };
}

// system:aggregate-to-view, for the served resources.
const VIEW_RULES: PolicyRule[] = [
  rule(READ, '', ['pods', 'serviceaccounts', 'services', 'services/status', 'configmaps']),
  rule(READ, '', ['events', 'pods/status', 'namespaces/status', 'pods/log']),
  // Read on namespaces at namespace scope lets a user read the namespace it works in.
  rule(READ, '', ['namespaces']),
  rule(READ, 'apps', ['deployments', 'deployments/status', 'deployments/scale']),
];

// system:aggregate-to-edit, for the served resources: edit reads Secrets, view does not.
const EDIT_RULES: PolicyRule[] = [
  rule(READ, '', ['pods/attach', 'pods/exec', 'pods/portforward', 'secrets']),
  rule(['impersonate'], '', ['serviceaccounts']),
  rule(WRITE, '', ['pods', 'pods/attach', 'pods/exec', 'pods/portforward']),
  rule(['create'], '', ['pods/eviction']),
  rule(WRITE, '', ['serviceaccounts', 'services', 'configmaps', 'secrets']),
  rule(['create'], '', ['serviceaccounts/token']),
  rule(WRITE, 'apps', ['deployments', 'deployments/scale']),
];

// system:aggregate-to-admin.
const ADMIN_RULES: PolicyRule[] = [
  rule(['create'], 'authorization.k8s.io', ['localsubjectaccessreviews']),
  rule(READ_WRITE, 'rbac.authorization.k8s.io', ['roles', 'rolebindings']),
];

function meta(name: string, labels: Record<string, string> = {}): KubeObject['metadata'] {
  return {
    name,
    labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...labels },
    annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
  };
}

function clusterRole(name: string, rules: PolicyRule[], extra: { labels?: Record<string, string>; aggregateFrom?: string } = {}): KubeObject {
  const role: KubeObject = { apiVersion: RBAC_V1, kind: 'ClusterRole', metadata: meta(name, extra.labels), rules: structuredClone(rules) };
  if (extra.aggregateFrom) {
    role.aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [`rbac.authorization.k8s.io/aggregate-to-${extra.aggregateFrom}`]: 'true' } }] };
  }
  return role;
}

function clusterRoleBinding(name: string, groups: string[]): KubeObject {
  return {
    apiVersion: RBAC_V1,
    kind: 'ClusterRoleBinding',
    metadata: meta(name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: groups.map((group) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group })),
  };
}

/**
 * The ClusterRoles and ClusterRoleBindings a fresh cluster has: cluster-admin, admin, edit, view,
 * system:discovery, system:basic-user, system:public-info-viewer. Metadata carries names, labels
 * and annotations only; the store assigns uid, resourceVersion and creationTimestamp.
 */
export function bootstrapRbacObjects(): KubeObject[] {
  // The aggregation controller walks the selected roles by name: edit = aggregate-to-edit, view;
  // admin = edit (already holding view), aggregate-to-admin.
  const edit = [...EDIT_RULES, ...VIEW_RULES];
  return [
    clusterRole('cluster-admin', [rule(['*'], '*', ['*']), urls(['*'], ['*'])]),
    clusterRole('system:discovery', [
      urls(['get'], ['/livez', '/readyz', '/healthz', '/version', '/version/', '/openapi', '/openapi/*', '/api', '/api/*', '/apis', '/apis/*']),
    ]),
    clusterRole('system:basic-user', [
      rule(['create'], 'authorization.k8s.io', ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
      rule(['create'], 'authentication.k8s.io', ['selfsubjectreviews']),
    ]),
    clusterRole('system:public-info-viewer', [urls(['get'], ['/livez', '/readyz', '/healthz', '/version', '/version/'])]),
    clusterRole('admin', [...edit, ...ADMIN_RULES], { aggregateFrom: 'admin' }),
    clusterRole('edit', edit, { aggregateFrom: 'edit', labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }),
    clusterRole('view', VIEW_RULES, { aggregateFrom: 'view', labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } }),
    clusterRoleBinding('cluster-admin', ['system:masters']),
    clusterRoleBinding('system:discovery', ['system:authenticated']),
    clusterRoleBinding('system:basic-user', ['system:authenticated']),
    clusterRoleBinding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ];
}
