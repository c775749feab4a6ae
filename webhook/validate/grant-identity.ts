// How the validating webhook recognises a grant identity: the per-grant users and service
// accounts the broker creates, whose writes pass through the guardrails on the final object.
import type { UserInfo } from '../admission.ts';

/** Decides whether a request's user is a grant identity. */
export type GrantIdentityPredicate = (user: UserInfo) => boolean;

/** The prefix of the per-grant service accounts the broker creates (tokenrequest mode). */
export const GRANT_SERVICE_ACCOUNT_PREFIX = 'agentgate-grant-';
/** The default prefix of the Kubernetes username an EKS access entry gives a grant's STS session. */
export const DEFAULT_EKS_SESSION_PREFIX = 'agentgate:grant:';

/**
 * The default predicate: a username `system:serviceaccount:<agentgate namespace>:agentgate-grant-*`
 * (a per-grant service account), or one starting with the configured EKS session prefix
 * (`agentgate:grant:` by default: the username the access entry maps a grant's session to).
 * Groups are not consulted: a grant identity is named, never inferred from membership.
 */
export function grantIdentityPredicate(agentgateNamespace: string, eksSessionPrefix: string = DEFAULT_EKS_SESSION_PREFIX): GrantIdentityPredicate {
  const serviceAccounts = `system:serviceaccount:${agentgateNamespace}:${GRANT_SERVICE_ACCOUNT_PREFIX}`;
  return (user) => {
    const name = user.username ?? '';
    return (name.startsWith(serviceAccounts) && name.length > serviceAccounts.length) || (eksSessionPrefix !== '' && name.startsWith(eksSessionPrefix));
  };
}
