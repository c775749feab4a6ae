// Who calls the broker. Sidecars: the pod's projected token → TokenReview naming the broker's
// audience → the pod from the token's pod binding → the identity the webhook stamped on it.
// Operators: TokenReview with the API server's audience, then SubjectAccessReview on agentgate.io.
import { createHash } from 'node:crypto';
import { brokerError, type BrokerError } from '../contracts/broker-v1.ts';
import { AgentIdentitySchema, parseOwnerAnnotation, type AgentIdentity } from '../contracts/identity.ts';
import { defaultPodLayout } from '../contracts/pod-layout.ts';
import { BROKER_API_VERSION } from '../contracts/broker-v1.ts';
import { Reasons } from '../contracts/reasons.ts';
import type { KubeAccess, ReviewedUser } from './kube.ts';

/** The audience of the sidecar's projected token. */
export const BROKER_AUDIENCE = defaultPodLayout.brokerToken.audience;

const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

/** An identified sidecar: the agent's identity and its policy profile. */
export interface Caller {
  identity: AgentIdentity;
  profile?: string;
}

/** The outcome of identifying a caller: the caller, or the BrokerError and HTTP status to answer. */
export type Identified<T> = { ok: true; value: T } | { ok: false; status: number; error: BrokerError };

/** An authenticated operator. */
export interface Operator {
  username: string;
  user: ReviewedUser;
}

/** Options of {@link createIdentifier}. */
export interface IdentifierOptions {
  kube: KubeAccess;
  /** The connection this broker serves; it is part of every identity. */
  connection: string;
  /** How long a successful review is reused (default 10 s): the pod read and TokenReview cost two round trips. */
  cacheMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/** Identifies sidecars and operators. */
export interface Identifier {
  sidecar(authorization: string | undefined): Promise<Identified<Caller>>;
  operator(authorization: string | undefined): Promise<Identified<Operator>>;
}

const refused = (status: number, error: BrokerError): { ok: false; status: number; error: BrokerError } => ({ ok: false, status, error });

/** `not-injected` is a reason, not in the BrokerError table; v1 lets error codes grow. */
function notInjected(detail: string): BrokerError {
  return { apiVersion: BROKER_API_VERSION, code: 'not-injected', message: `${Reasons['not-injected']} ${detail}` };
}

/** The bearer token of an Authorization header. */
export function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

const first = (extra: Record<string, string[]>, key: string): string | undefined => extra[key]?.[0];

/** Reads the identity the webhook stamped on a pod; undefined fields mean the pod was not injected. */
function identityOf(pod: { name: string; namespace: string; uid: string; annotations: Record<string, string> }, connection: string): Identified<Caller> {
  const names = defaultPodLayout.annotations;
  const agent = pod.annotations[names.agent];
  const original = pod.annotations[names.originalServiceAccount];
  const ownerText = pod.annotations[names.owner];
  if (agent === undefined || original === undefined || ownerText === undefined) {
    return refused(403, notInjected(`Pod ${pod.namespace}/${pod.name} carries no agentgate identity annotations.`));
  }
  const owner = parseOwnerAnnotation(ownerText);
  const parsed = AgentIdentitySchema.safeParse({ connection, namespace: pod.namespace, agent, originalServiceAccount: original, owner: owner ?? null, podUid: pod.uid, podName: pod.name });
  if (owner === undefined || !parsed.success) {
    return refused(403, brokerError('identity-invalid', `The agentgate annotations of pod ${pod.namespace}/${pod.name} are malformed.`));
  }
  const profile = pod.annotations[names.policyProfile];
  return { ok: true, value: { identity: parsed.data, ...(profile ? { profile } : {}) } };
}

/** Builds the identifier. Kubernetes failures reject (the server answers 503); refusals resolve. */
export function createIdentifier(options: IdentifierOptions): Identifier {
  const { kube, connection } = options;
  const cacheMs = options.cacheMs ?? 10_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { until: number; value: Caller | Operator }>();
  // Keyed by a hash: the cache must not become a place where tokens sit in memory in clear.
  const keyOf = (kind: string, token: string): string => `${kind}:${createHash('sha256').update(token).digest('base64url')}`;
  const remember = (key: string, value: Caller | Operator): void => {
    if (cacheMs <= 0) return;
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, { until: now() + cacheMs, value });
  };
  const cached = (key: string): Caller | Operator | undefined => {
    const hit = cache.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > now()) return hit.value;
    cache.delete(key);
    return undefined;
  };

  return {
    async sidecar(authorization) {
      const token = bearer(authorization);
      if (token === undefined) return refused(401, brokerError('unauthenticated'));
      const key = keyOf('sidecar', token);
      const hit = cached(key);
      if (hit !== undefined) return { ok: true, value: hit as Caller };
      const user = await kube.tokenReview(token, [BROKER_AUDIENCE]);
      // A review answers for the audiences asked; an authenticator that ignores audiences must not pass.
      if (!user.authenticated || !user.audiences.includes(BROKER_AUDIENCE)) return refused(401, brokerError('unauthenticated'));
      const podName = first(user.extra, POD_NAME);
      const podUid = first(user.extra, POD_UID);
      const saMatch = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.username);
      if (podName === undefined || podUid === undefined || saMatch === null) {
        return refused(403, brokerError('identity-invalid', 'The broker token is not bound to a pod: mount it as a projected service account token in the sidecar.'));
      }
      const namespace = saMatch[1] ?? '';
      const pod = await kube.readPod(namespace, podName);
      if (pod === undefined || pod.uid !== podUid || pod.deleting) {
        return refused(403, brokerError('identity-invalid', `The token's pod ${namespace}/${podName} no longer exists.`));
      }
      if (pod.serviceAccountName !== saMatch[2]) return refused(403, brokerError('identity-invalid', `The token's service account does not run pod ${namespace}/${podName}.`));
      const identified = identityOf(pod, connection);
      if (identified.ok) remember(key, identified.value);
      return identified;
    },
    async operator(authorization) {
      const token = bearer(authorization);
      if (token === undefined) return refused(401, brokerError('unauthenticated', 'Operators authenticate with their Kubernetes bearer token (the kubeconfig user).'));
      const key = keyOf('operator', token);
      const hit = cached(key);
      if (hit !== undefined) return { ok: true, value: hit as Operator };
      // No audiences: the API server's own, as kubectl's token would be used.
      const user = await kube.tokenReview(token, []);
      if (!user.authenticated) return refused(401, brokerError('unauthenticated', 'The Kubernetes API server did not accept this token.'));
      const operator: Operator = { username: user.username, user };
      remember(key, operator);
      return { ok: true, value: operator };
    },
  };
}
