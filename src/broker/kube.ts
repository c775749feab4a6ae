// The broker's few reads of the Kubernetes API, behind one small interface: TokenReview (sidecars
// and operators), the pod behind a sidecar's token, SubjectAccessReview (operators) and role reads.
import { ApiException, AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { RoleReader } from '../grants/scope.ts';
import { clientsOf, type KubeSource } from './kube-clients.ts';

/** What a TokenReview answered: the user when authenticated, else the API server's error. */
export interface ReviewedUser {
  authenticated: boolean;
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** The audiences the token was accepted for (TokenReview `status.audiences`). */
  audiences: string[];
  error?: string;
}

/** The parts of a pod the broker reads. */
export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  serviceAccountName: string;
  annotations: Record<string, string>;
  deleting: boolean;
}

/** A SubjectAccessReview question about the `agentgate.io` virtual resources. */
export interface AccessQuestion {
  user: Pick<ReviewedUser, 'username' | 'uid' | 'groups' | 'extra'>;
  verb: string;
  resource: string;
  namespace?: string;
}

/** The reads the broker needs; the real one is {@link kubeAccess}, tests may pass the same over the API double. */
export interface KubeAccess extends RoleReader {
  tokenReview(token: string, audiences: string[]): Promise<ReviewedUser>;
  /** The pod, or undefined when it does not exist. */
  readPod(namespace: string, name: string): Promise<PodFacts | undefined>;
  allowed(question: AccessQuestion): Promise<boolean>;
}

/** The API group of agentgate's virtual resources in SubjectAccessReviews. */
export const AGENTGATE_GROUP = 'agentgate.io';

/** The real KubeAccess over @kubernetes/client-node (a KubeConfig, or clients sharing its connections). */
export function kubeAccess(source: KubeSource): KubeAccess {
  const clients = clientsOf(source);
  const authn = clients.api(AuthenticationV1Api);
  const authz = clients.api(AuthorizationV1Api);
  const core = clients.api(CoreV1Api);
  const rbac = clients.api(RbacAuthorizationV1Api);
  return {
    async tokenReview(token, audiences) {
      const review = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences.length > 0 ? { audiences } : {}) } } });
      const status = review.status ?? {};
      const user = status.user ?? {};
      return {
        authenticated: status.authenticated === true,
        username: user.username ?? '',
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        extra: user.extra ?? {},
        audiences: status.audiences ?? [],
        ...(status.error ? { error: status.error } : {}),
      };
    },
    async readPod(namespace, name) {
      try {
        const pod = await core.readNamespacedPod({ name, namespace });
        return {
          name: pod.metadata?.name ?? name,
          namespace: pod.metadata?.namespace ?? namespace,
          uid: pod.metadata?.uid ?? '',
          serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
          annotations: pod.metadata?.annotations ?? {},
          deleting: pod.metadata?.deletionTimestamp !== undefined,
        };
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined;
        throw error;
      }
    },
    async allowed({ user, verb, resource, namespace }) {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            groups: user.groups,
            extra: user.extra,
            ...(user.uid ? { uid: user.uid } : {}),
            resourceAttributes: { group: AGENTGATE_GROUP, version: 'v1', resource, verb, ...(namespace ? { namespace } : {}) },
          },
        },
      });
      return review.status?.allowed === true;
    },
    readNamespacedRole: (param) => rbac.readNamespacedRole(param),
    readClusterRole: (param) => rbac.readClusterRole(param),
  };
}
