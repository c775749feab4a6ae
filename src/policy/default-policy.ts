// The policy agentgate decides with when the operator gives none. default-policy.yaml is the same
// policy as a file (the Helm chart ships it); a test loads it through loadPolicy and compares.
import type { AccessPolicy } from './schema.ts';

const READ_ONLY_RESOURCES = [
  'pods', 'pods/log', 'pods/status', 'services', 'endpoints', 'endpointslices', 'configmaps', 'events',
  'persistentvolumeclaims', 'serviceaccounts', 'replicationcontrollers', 'limitranges', 'resourcequotas',
  'deployments', 'deployments/status', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs',
  'horizontalpodautoscalers', 'poddisruptionbudgets', 'ingresses', 'networkpolicies',
];

/**
 * The default policy. Read-only (get, list, watch) in the agent's own namespace on the resources
 * listed — never Secrets, and never pods/exec, pods/attach, pods/portforward, any proxy or
 * serviceaccounts/token, which a `get` reaches over WebSocket — is granted on demand for 30
 * minutes. Creating ServiceAccounts and changing RoleBindings are named approvals; everything
 * else falls to the default, approval. Guardrails apply on top, as always.
 */
export const defaultPolicy: AccessPolicy = {
  apiVersion: 'agentgate.io/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'agentgate-default' },
  default: { outcome: 'approve', ttl: '1h', approvers: [] },
  exposure: 'approve',
  rules: [
    {
      name: 'read-own-namespace',
      description: "Read the common workload objects of the agent's own namespace.",
      match: {
        verbs: ['get', 'list', 'watch'],
        apiGroups: ['', 'apps', 'batch', 'autoscaling', 'policy', 'networking.k8s.io', 'discovery.k8s.io', 'events.k8s.io'],
        resources: READ_ONLY_RESOURCES,
        namespaces: ['$self'],
      },
      outcome: 'allow',
      scope: 'rule',
      ttl: '30m',
      reason: 'Read-only access to your own namespace, granted on demand for 30 minutes.',
    },
    {
      name: 'create-serviceaccounts',
      description: 'A new ServiceAccount is a new identity in the cluster; a person decides.',
      match: { verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts'] },
      outcome: 'approve',
      scope: 'request',
      reason: 'Creating a ServiceAccount needs a human approval.',
    },
    {
      name: 'change-rolebindings',
      description: 'RoleBindings hand out permissions; a person decides every change.',
      match: { verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'] },
      outcome: 'approve',
      scope: 'request',
      reason: 'Changing RoleBindings needs a human approval.',
    },
  ],
};

/** Where the YAML copy of the default policy lives (next to this module). */
export const DEFAULT_POLICY_FILE = new URL('./default-policy.yaml', import.meta.url);
