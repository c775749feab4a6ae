// TokenRequest-mode credentials: per grant a service account in agentgate's namespace, a Role with
// exactly the grant's rules and a RoleBinding in each target namespace, and a 10-minute token from
// the TokenRequest API. Revoking deletes them all; deleting the account kills its tokens at once.
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { isClusterWide } from '../../contracts/rbac.ts';
import type { Credential, Grant } from '../../contracts/stream.ts';
import { clientsOf, type KubeSource } from '../kube-clients.ts';
import {
  clusterRoleBindingFor, clusterRoleFor, GRANT_LABEL, grantObjectName, roleBindingFor, roleFor, serviceAccountFor,
} from './tokenrequest-objects.ts';

export { GRANT_LABEL, grantObjectName, kubeConfigFor } from './tokenrequest-objects.ts';

/** The shortest lifetime the TokenRequest API accepts; a token asked for a grant lives at least this long. */
export const TOKEN_EXPIRATION_SECONDS = 600;

/** Longest token asked for: a day, within what API servers commonly allow (grants last at most 8 h). */
const MAX_TOKEN_SECONDS = 86_400;

/** Options of {@link TokenRequestCredentials}. */
export interface TokenRequestOptions {
  /** The connection's API server with the broker's own credential, or clients sharing its connections. */
  kubeConfig: KubeSource;
  /** The API server URL sidecars forward to (the connection's `server`). */
  server: string;
  /** agentgate's own namespace, where the per-grant service accounts live. */
  namespace: string;
  expirationSeconds?: number;
}

/**
 * What the API server said: the `message` of its Status body when there is one (e.g. the
 * escalation refusal naming the rules the broker does not hold), else the error's first line.
 */
function causeText(cause: unknown): string {
  if (cause instanceof ApiException) {
    const body: unknown = (cause as ApiException<unknown>).body;
    try {
      const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | null;
      if (parsed && typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not a Status body: fall through to the error's own text
    }
  }
  return cause instanceof Error ? (cause.message.split('\n')[0] ?? '') : String(cause);
}

/** A Kubernetes call for a grant's credential failed; `status` is the HTTP status when there was one. */
export class CredentialError extends Error {
  readonly code = 'credential-failed';
  readonly status: number | undefined;
  constructor(action: string, cause: unknown) {
    const status = cause instanceof ApiException ? cause.code : undefined;
    super(`${action} failed${status !== undefined ? ` (HTTP ${status})` : ''}: ${causeText(cause)}`, { cause });
    this.name = 'CredentialError';
    this.status = status;
  }
}

/** What revoke needs: the id, and the target namespaces when known (else it searches by label). */
export interface GrantObjectsRef {
  id: string;
  namespaces?: readonly string[];
}

const is = (error: unknown, code: number): boolean => error instanceof ApiException && error.code === code;

async function attempt<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new CredentialError(action, error);
  }
}

/** Deletion that counts "already gone" as done, so revoke and sweep can be repeated. */
async function gone(action: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!is(error, 404)) throw new CredentialError(action, error);
  }
}

/** Runs all, then throws the first failure: one failed deletion must not stop the others. */
async function all(tasks: Array<Promise<void>>): Promise<void> {
  const failed = (await Promise.allSettled(tasks)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Issues, renews and removes TokenRequest credentials for grants on one connection. */
export class TokenRequestCredentials {
  readonly #core: CoreV1Api;
  readonly #rbac: RbacAuthorizationV1Api;
  readonly #server: string;
  readonly #namespace: string;
  readonly #expiration: number;

  constructor(options: TokenRequestOptions) {
    const clients = clientsOf(options.kubeConfig);
    this.#core = clients.api(CoreV1Api);
    this.#rbac = clients.api(RbacAuthorizationV1Api);
    this.#server = options.server;
    this.#namespace = options.namespace;
    this.#expiration = options.expirationSeconds ?? TOKEN_EXPIRATION_SECONDS;
  }

  /**
   * Creates the grant's objects and mints its first token. The three kinds of object are created
   * together (a binding may name an account that does not exist yet), then the token: two round
   * trips. Repeating it for the same grant converges (existing objects are replaced).
   */
  async issue(grant: Grant): Promise<Credential> {
    const ns = this.#namespace;
    const tasks: Array<Promise<void>> = [this.#ensure('create service account', () => this.#core.createNamespacedServiceAccount({ namespace: ns, body: serviceAccountFor(grant, ns) }), async () => {})];
    if (isClusterWide(grant.namespaces)) {
      const name = grantObjectName(grant.id);
      tasks.push(this.#ensure('create cluster role', () => this.#rbac.createClusterRole({ body: clusterRoleFor(grant) }), () => this.#rbac.replaceClusterRole({ name, body: clusterRoleFor(grant) })));
      tasks.push(this.#ensure('create cluster role binding', () => this.#rbac.createClusterRoleBinding({ body: clusterRoleBindingFor(grant, ns) }), () => this.#rbac.replaceClusterRoleBinding({ name, body: clusterRoleBindingFor(grant, ns) })));
    } else {
      for (const target of grant.namespaces) {
        const name = grantObjectName(grant.id);
        tasks.push(this.#ensure(`create role in ${target}`, () => this.#rbac.createNamespacedRole({ namespace: target, body: roleFor(grant, target) }), () => this.#rbac.replaceNamespacedRole({ name, namespace: target, body: roleFor(grant, target) })));
        tasks.push(this.#ensure(`create role binding in ${target}`, () => this.#rbac.createNamespacedRoleBinding({ namespace: target, body: roleBindingFor(grant, target, ns) }), () => this.#rbac.replaceNamespacedRoleBinding({ name, namespace: target, body: roleBindingFor(grant, target, ns) })));
      }
    }
    await all(tasks);
    return this.mint(grant);
  }

  /**
   * A new token for the grant's service account. It lives at least until the grant's end (plus a
   * minute of clock skew), so a 30-minute grant does not lose its credential after the 10-minute
   * minimum: access still ends at the grant's end, when the account is deleted and the token with it.
   */
  async mint(grant: Pick<Grant, 'id'> & Partial<Pick<Grant, 'expiresAt'>>): Promise<Credential> {
    const untilEnd = grant.expiresAt ? Math.ceil((Date.parse(grant.expiresAt) - Date.now()) / 1000) + 60 : 0;
    const expirationSeconds = Math.min(Math.max(this.#expiration, untilEnd), MAX_TOKEN_SECONDS);
    const answer = await attempt('token request', () => this.#core.createNamespacedServiceAccountToken({
      name: grantObjectName(grant.id),
      namespace: this.#namespace,
      // No audiences: the API server's own, so the token is good for the API and nothing else.
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds } },
    }));
    const token = answer.status?.token;
    const expires = answer.status?.expirationTimestamp;
    if (!token || !expires) throw new CredentialError('token request', new Error('the answer carries no token'));
    return { grantId: grant.id, kind: 'bearer-token', token, expiresAt: new Date(expires).toISOString().replace(/\.\d{3}Z$/, 'Z'), server: this.#server };
  }

  /**
   * Removes what the grant created: bindings, roles and the service account together (the account's
   * deletion alone kills the token). Without known namespaces it finds the objects by label.
   */
  async revoke(ref: GrantObjectsRef): Promise<void> {
    const name = grantObjectName(ref.id);
    const tasks: Array<Promise<void>> = [gone('delete service account', () => this.#core.deleteNamespacedServiceAccount({ name, namespace: this.#namespace }))];
    let namespaces = ref.namespaces ? [...ref.namespaces] : undefined;
    if (namespaces === undefined || isClusterWide(namespaces)) {
      tasks.push(gone('delete cluster role binding', () => this.#rbac.deleteClusterRoleBinding({ name })), gone('delete cluster role', () => this.#rbac.deleteClusterRole({ name })));
    }
    if (namespaces === undefined) namespaces = await this.#labelledNamespaces(ref.id);
    for (const ns of namespaces.filter((n) => n !== '*')) {
      tasks.push(gone(`delete role binding in ${ns}`, () => this.#rbac.deleteNamespacedRoleBinding({ name, namespace: ns })), gone(`delete role in ${ns}`, () => this.#rbac.deleteNamespacedRole({ name, namespace: ns })));
    }
    await all(tasks);
  }

  /**
   * Deletes the objects of every grant that `isLive` no longer knows: run at start (by one leader)
   * to catch what expired while the broker was down. Returns the swept grant ids.
   */
  async sweep(isLive: (grantId: string) => Promise<boolean>): Promise<string[]> {
    const selector = { labelSelector: GRANT_LABEL };
    const lists = await attempt('list grant objects', () => Promise.all([
      this.#core.listNamespacedServiceAccount({ namespace: this.#namespace, ...selector }),
      this.#rbac.listRoleBindingForAllNamespaces(selector),
      this.#rbac.listRoleForAllNamespaces(selector),
      this.#rbac.listClusterRoleBinding(selector),
      this.#rbac.listClusterRole(selector),
    ]));
    const ids = new Set<string>();
    for (const list of lists) for (const item of list.items) {
      const id = item.metadata?.labels?.[GRANT_LABEL];
      if (id) ids.add(id);
    }
    const swept: string[] = [];
    for (const id of ids) {
      if (await isLive(id)) continue;
      await this.revoke({ id });
      swept.push(id);
    }
    return swept;
  }

  async #labelledNamespaces(id: string): Promise<string[]> {
    const labelSelector = `${GRANT_LABEL}=${id}`;
    const [bindings, roles] = await attempt('list grant objects', () => Promise.all([this.#rbac.listRoleBindingForAllNamespaces({ labelSelector }), this.#rbac.listRoleForAllNamespaces({ labelSelector })]));
    return [...new Set([...bindings.items, ...roles.items].map((o) => o.metadata?.namespace).filter((n): n is string => typeof n === 'string'))];
  }

  /** Creates an object; when it already exists (a retried issue), replaces it so it says exactly this grant. */
  async #ensure(action: string, create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
    try {
      await create();
    } catch (error) {
      if (!is(error, 409)) throw new CredentialError(action, error);
      await attempt(action.replace('create', 'replace'), replace);
    }
  }
}
