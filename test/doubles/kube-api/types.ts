/**
 * Shared shapes of the Kubernetes API double: objects, users, request attributes and the store
 * interface that authentication, RBAC and admission read. Test code only.
 */

/** ObjectMeta as the API server keeps it (only the fields the double uses are typed). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<Record<string, unknown>>;
  managedFields?: Array<Record<string, unknown>>;
  [field: string]: unknown;
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** The authenticated caller, as in authentication.k8s.io/v1 UserInfo. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/**
 * Request attributes in the apiserver's RequestInfo vocabulary (authorizer.Attributes).
 * `resource` is the plural; `apiGroup` is '' for the core group.
 */
export interface RequestAttributes {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/**
 * A resource key as a GroupResource string: the plural for the core group (`pods`), else
 * `plural.group` (`roles.rbac.authorization.k8s.io`), as `kubectl get` accepts it.
 */
export type ResourceKey = string;

/** What authentication, RBAC and admission may read of the double's state. */
export interface StoreReader {
  /** One object, or undefined. `namespace` is '' for cluster-scoped resources. */
  get(resource: ResourceKey, namespace: string, name: string): KubeObject | undefined;
  /** All objects of a resource, in one namespace or (namespace undefined) in all. */
  list(resource: ResourceKey, namespace?: string): KubeObject[];
}

/** Admission operations, as in admission.k8s.io/v1. */
export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What the server hands the admission chain for one write. */
export interface AdmissionAttributes {
  operation: AdmissionOperation;
  /** group/version/resource of the request, e.g. {group:'', version:'v1', resource:'pods'}. */
  resource: { group: string; version: string; resource: string };
  subResource: string;
  kind: { group: string; version: string; kind: string };
  namespace: string;
  name: string;
  /** The object after defaulting (CREATE/UPDATE), or undefined for DELETE/CONNECT. */
  object: KubeObject | undefined;
  /** The stored object (UPDATE/DELETE), else undefined. */
  oldObject: KubeObject | undefined;
  /** CreateOptions/UpdateOptions/DeleteOptions/ConnectOptions object to pass to webhooks. */
  options: KubeObject | undefined;
  userInfo: UserInfo;
  dryRun: boolean;
}

/** The outcome of the admission chain: the final object and any warnings for the client. */
export interface AdmissionResult {
  object: KubeObject | undefined;
  warnings: string[];
}
