/**
 * What a fresh cluster holds before anyone writes: the default namespaces with their `default`
 * ServiceAccounts (the RBAC bootstrap policy comes from rbac-bootstrap.ts).
 */
import type { KubeObject } from './types.ts';

/** Namespaces every cluster starts with. */
export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** A namespace object as `kubectl create namespace` would send it. */
export function namespaceObject(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

/** The `default` ServiceAccount the ServiceAccount controller creates in each namespace. */
export function defaultServiceAccount(namespace: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } };
}
