// The Kubernetes objects behind one TokenRequest-mode grant (service account, Role or ClusterRole,
// binding), all named `agentgate-grant-<id>` and labelled with the grant, and the broker's KubeConfig.
import { KubeConfig, type V1ClusterRole, type V1ClusterRoleBinding, type V1ObjectMeta, type V1Role, type V1RoleBinding, type V1ServiceAccount } from '@kubernetes/client-node';
import type { Connection } from '../../contracts/identity.ts';
import type { Grant } from '../../contracts/stream.ts';

/** The label every per-grant object carries; `sweep` finds leftovers by it. */
export const GRANT_LABEL = 'agentgate.io/grant';

/** The name of every object of a grant. Grant ids are DNS labels of at most 40 characters, so it is one too. */
export function grantObjectName(id: string): string {
  return `agentgate-grant-${id}`;
}

function meta(grant: Grant, namespace?: string): V1ObjectMeta {
  return {
    name: grantObjectName(grant.id),
    ...(namespace !== undefined ? { namespace } : {}),
    labels: { [GRANT_LABEL]: grant.id, 'app.kubernetes.io/managed-by': 'agentgate' },
    // For people reading the cluster: whose access this is and until when.
    annotations: {
      'agentgate.io/identity': `${grant.identity.connection}/${grant.identity.namespace}/${grant.identity.agent}`,
      'agentgate.io/expires-at': grant.expiresAt,
    },
  };
}

/** The grant's service account, in agentgate's namespace; it never mounts a token anywhere. */
export function serviceAccountFor(grant: Grant, namespace: string): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(grant, namespace), automountServiceAccountToken: false };
}

function rules(grant: Grant): V1Role['rules'] {
  return grant.rules.map((r) => ({
    verbs: [...r.verbs],
    ...(r.apiGroups ? { apiGroups: [...r.apiGroups] } : {}),
    ...(r.resources ? { resources: [...r.resources] } : {}),
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
    ...(r.nonResourceURLs ? { nonResourceURLs: [...r.nonResourceURLs] } : {}),
  }));
}

/** The Role holding exactly the grant's rules in one target namespace. */
export function roleFor(grant: Grant, namespace: string): V1Role {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(grant, namespace), rules: rules(grant) };
}

/** The binding of that Role to the grant's service account. */
export function roleBindingFor(grant: Grant, namespace: string, saNamespace: string): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(grant, namespace),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: grantObjectName(grant.id) },
    subjects: [{ kind: 'ServiceAccount', name: grantObjectName(grant.id), namespace: saNamespace }],
  };
}

/** A cluster-wide grant (namespaces `["*"]`, only ever by explicit approval): a ClusterRole. */
export function clusterRoleFor(grant: Grant): V1ClusterRole {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(grant), rules: rules(grant) };
}

/** The ClusterRoleBinding of a cluster-wide grant. */
export function clusterRoleBindingFor(grant: Grant, saNamespace: string): V1ClusterRoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(grant),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: grantObjectName(grant.id) },
    subjects: [{ kind: 'ServiceAccount', name: grantObjectName(grant.id), namespace: saNamespace }],
  };
}

/**
 * A KubeConfig for a connection with the broker's own bearer token. In a pod whose token rotates,
 * build it with `KubeConfig.loadFromCluster()` instead, which rereads the token file.
 */
export function kubeConfigFor(connection: Pick<Connection, 'name' | 'server' | 'ca'>, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: connection.name, server: connection.server, caData: Buffer.from(connection.ca).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'agentgate-broker', token }],
    contexts: [{ name: connection.name, cluster: connection.name, user: 'agentgate-broker' }],
    currentContext: connection.name,
  });
  return kc;
}
