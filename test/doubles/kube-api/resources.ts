/**
 * The resources the double serves, with the facts discovery, routing, RBAC and admission need
 * (from the Kubernetes API reference for v1.31). Test code only.
 */

/** One served resource, as an APIResource in discovery. */
export interface ResourceInfo {
  group: string;
  version: string;
  /** Plural name, e.g. `pods`. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  /** Subresources and the verbs each accepts. */
  subresources: Record<string, { kind: string; verbs: string[]; group?: string; version?: string }>;
  /** Create-only virtual resources (reviews) that are never stored. */
  virtual?: boolean;
}

const ALL = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CREATE_ONLY = ['create'];

/** Every resource the double serves, in discovery order. */
export const RESOURCES: ResourceInfo[] = [
  { group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'], subresources: { status: { kind: 'Namespace', verbs: ['get', 'patch', 'update'] }, finalize: { kind: 'Namespace', verbs: ['update'] } } },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, verbs: ALL, shortNames: ['po'], categories: ['all'],
    subresources: {
      status: { kind: 'Pod', verbs: ['get', 'patch', 'update'] },
      log: { kind: 'Pod', verbs: ['get'] },
      ephemeralcontainers: { kind: 'Pod', verbs: ['get', 'patch', 'update'] },
      exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
      attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      binding: { kind: 'Binding', verbs: ['create'] },
      eviction: { kind: 'Eviction', verbs: ['create'], group: 'policy', version: 'v1' },
    },
  },
  { group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true, verbs: ALL, shortNames: ['svc'], categories: ['all'], subresources: { status: { kind: 'Service', verbs: ['get', 'patch', 'update'] } } },
  { group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, verbs: ALL, shortNames: ['cm'], subresources: {} },
  { group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, verbs: ALL, subresources: {} },
  { group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true, verbs: ALL, shortNames: ['sa'], subresources: { token: { kind: 'TokenRequest', verbs: ['create'], group: 'authentication.k8s.io', version: 'v1' } } },
  { group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', namespaced: true, verbs: ALL, shortNames: ['ev'], subresources: {} },
  { group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', namespaced: true, verbs: ALL, shortNames: ['deploy'], categories: ['all'], subresources: { status: { kind: 'Deployment', verbs: ['get', 'patch', 'update'] }, scale: { kind: 'Scale', verbs: ['get', 'patch', 'update'], group: 'autoscaling', version: 'v1' } } },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', singular: 'role', kind: 'Role', namespaced: true, verbs: ALL, subresources: {} },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', singular: 'rolebinding', kind: 'RoleBinding', namespaced: true, verbs: ALL, subresources: {} },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', namespaced: false, verbs: ALL, subresources: {} },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', namespaced: false, verbs: ALL, subresources: {} },
  { group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingwebhookconfigurations', singular: 'mutatingwebhookconfiguration', kind: 'MutatingWebhookConfiguration', namespaced: false, verbs: ALL, categories: ['api-extensions'], subresources: {} },
  { group: 'admissionregistration.k8s.io', version: 'v1', resource: 'validatingwebhookconfigurations', singular: 'validatingwebhookconfiguration', kind: 'ValidatingWebhookConfiguration', namespaced: false, verbs: ALL, categories: ['api-extensions'], subresources: {} },
  { group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews', singular: 'tokenreview', kind: 'TokenReview', namespaced: false, verbs: CREATE_ONLY, subresources: {}, virtual: true },
  { group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', singular: 'selfsubjectreview', kind: 'SelfSubjectReview', namespaced: false, verbs: CREATE_ONLY, subresources: {}, virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'subjectaccessreviews', singular: 'subjectaccessreview', kind: 'SubjectAccessReview', namespaced: false, verbs: CREATE_ONLY, subresources: {}, virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: CREATE_ONLY, subresources: {}, virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview', kind: 'SelfSubjectRulesReview', namespaced: false, verbs: CREATE_ONLY, subresources: {}, virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'localsubjectaccessreviews', singular: 'localsubjectaccessreview', kind: 'LocalSubjectAccessReview', namespaced: true, verbs: CREATE_ONLY, subresources: {}, virtual: true },
];

/** The ResourceKey (`pods`, `roles.rbac.authorization.k8s.io`) of a resource. */
export function resourceKey(info: Pick<ResourceInfo, 'group' | 'resource'>): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

/** Find a served resource by group and plural. */
export function findResource(group: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.resource === resource);
}

/** Find a served resource by group and kind. */
export function findKind(group: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.kind === kind);
}
