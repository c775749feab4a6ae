// EKS-mode credentials: per grant an STS session of the connection's role (named after the grant)
// and an EKS token kept fresh on the stream, and in each target namespace a Role with exactly the
// grant's rules bound to the user the EKS access entry maps that session to. Revoke deletes them.
import { ApiException, RbacAuthorizationV1Api, type RbacV1Subject } from '@kubernetes/client-node';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Connection } from '../../contracts/identity.ts';
import { isClusterWide } from '../../contracts/rbac.ts';
import type { Credential, Grant } from '../../contracts/stream.ts';
import type { GrantFilter, GrantRecord } from '../../grants/store.ts';
import { clientsOf, type KubeSource } from '../kube-clients.ts';
import { createEksTokenSource, fitStsName, stsEndpoint, type EksTokenSource } from './eks.ts';
import { clusterRoleBindingFor, clusterRoleFor, GRANT_LABEL, grantObjectName, roleBindingFor, roleFor } from './tokenrequest-objects.ts';
import { CredentialError, type GrantObjectsRef } from './tokenrequest.ts';

/** The access entry's username template docs/eks.md prescribes; the verifier double defaults to it too. */
export const DEFAULT_EKS_USERNAME_TEMPLATE = 'agentgate:grant:{{SessionName}}';

/** The EKS side of a connection. */
export interface EksConnection {
  name: string;
  /** The API server URL sidecars forward to. */
  server: string;
  roleArn: string;
  region: string;
  clusterName: string;
}

/** What the refresher needs of the grant store: live grants, their credential, and the push. */
export interface CredentialStore {
  list(filter: GrantFilter): Promise<GrantRecord[]>;
  getCredential(grant: Pick<Grant, 'id' | 'identity'>): Promise<Credential | undefined>;
  /** Stores a newer credential and announces it on the grant's stream; false when the grant is gone. */
  setCredential(grant: Pick<Grant, 'id' | 'identity'>, credential: Credential): Promise<boolean>;
  /** Defined while agentgate is frozen. */
  frozen(): Promise<unknown>;
}

/** Options of {@link EksGrantCredentials}. */
export interface EksGrantCredentialsOptions {
  /** The connection's API server with the broker's own credential (for the RBAC objects), or clients sharing its connections. */
  kubeConfig: KubeSource;
  connection: EksConnection;
  stsClient: STSClient;
  /** Host of the presigned URL; default the region's STS endpoint (the one the cluster accepts). */
  stsEndpoint?: string;
  /** The access entry's username template. Default {@link DEFAULT_EKS_USERNAME_TEMPLATE}. */
  usernameTemplate?: string;
  /** Clock of tokens and refreshes; default `() => new Date()`. */
  now?: () => Date;
  /** A token with less than this left is replaced (and pushed). Default 3 minutes. */
  refreshBeforeMs?: number;
  /** When given, live grants' tokens are refreshed on it every `refreshEveryMs` (default 20 s). */
  store?: CredentialStore;
  refreshEveryMs?: number;
  onRefreshError?: (grantId: string, error: unknown) => void;
}

/** The Kubernetes user of a grant's session, as the access entry's template renders it. */
export function eksUsername(template: string, grantId: string, roleArn: string): string {
  const session = fitStsName(grantId);
  const account = /^arn:[\w-]+:iam::(\d{12}):/.exec(roleArn)?.[1] ?? '';
  // EKS renders {{SessionName}} with '@' turned into '-' (e-mail-shaped names); {{SessionNameRaw}} keeps it.
  return template.replaceAll('{{AccountID}}', account).replaceAll('{{SessionNameRaw}}', session).replaceAll('{{SessionName}}', session.replaceAll('@', '-'));
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

/** Runs all, then throws the first failure: one failed call must not stop the others. */
async function all(tasks: Array<Promise<void>>): Promise<void> {
  const failed = (await Promise.allSettled(tasks)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Creates an object; when it already exists (a retried issue), replaces it so it says exactly this grant. */
async function ensure(action: string, create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!is(error, 409)) throw new CredentialError(action, error);
    await attempt(action.replace('create', 'replace'), replace);
  }
}

/** Issues, refreshes and removes EKS credentials for grants on one connection. */
export class EksGrantCredentials {
  readonly #rbac: RbacAuthorizationV1Api;
  readonly #o: EksGrantCredentialsOptions;
  readonly #connection: Connection;
  readonly #template: string;
  readonly #now: () => Date;
  readonly #refreshBeforeMs: number;
  readonly #sources = new Map<string, EksTokenSource>();
  readonly #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<string[]> | undefined;

  constructor(options: EksGrantCredentialsOptions) {
    this.#o = options;
    this.#rbac = clientsOf(options.kubeConfig).api(RbacAuthorizationV1Api);
    // The token source never reads `ca`: the sidecar trusts the API server with its own bundle.
    this.#connection = { ...options.connection, ca: '', mode: 'eks' };
    this.#template = options.usernameTemplate ?? DEFAULT_EKS_USERNAME_TEMPLATE;
    this.#now = options.now ?? ((): Date => new Date());
    this.#refreshBeforeMs = options.refreshBeforeMs ?? 3 * 60_000;
    if (options.store) {
      this.#timer = setInterval(() => void this.refreshDue(), options.refreshEveryMs ?? 20_000);
      this.#timer.unref();
    }
  }

  /** The Kubernetes user a grant's RoleBindings name. */
  username(grantId: string): string {
    return eksUsername(this.#template, grantId, this.#o.connection.roleArn);
  }

  /**
   * The grant's first credential. STS comes first, so a refused AssumeRole leaves nothing in the
   * cluster; then the Role and RoleBinding in each target namespace (cluster-wide grants only: a
   * ClusterRole and ClusterRoleBinding).
   */
  async issue(grant: Grant): Promise<Credential> {
    const credential = await this.mint(grant);
    const name = grantObjectName(grant.id);
    // The TokenRequest objects' metadata and rules, with the access entry's user as the subject.
    const subjects: RbacV1Subject[] = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: this.username(grant.id) }];
    const tasks: Array<Promise<void>> = [];
    if (isClusterWide(grant.namespaces)) {
      const binding = { ...clusterRoleBindingFor(grant, ''), subjects };
      tasks.push(ensure('create cluster role', () => this.#rbac.createClusterRole({ body: clusterRoleFor(grant) }), () => this.#rbac.replaceClusterRole({ name, body: clusterRoleFor(grant) })));
      tasks.push(ensure('create cluster role binding', () => this.#rbac.createClusterRoleBinding({ body: binding }), () => this.#rbac.replaceClusterRoleBinding({ name, body: binding })));
    } else {
      for (const target of grant.namespaces) {
        const binding = { ...roleBindingFor(grant, target, ''), subjects };
        tasks.push(ensure(`create role in ${target}`, () => this.#rbac.createNamespacedRole({ namespace: target, body: roleFor(grant, target) }), () => this.#rbac.replaceNamespacedRole({ name, namespace: target, body: roleFor(grant, target) })));
        tasks.push(ensure(`create role binding in ${target}`, () => this.#rbac.createNamespacedRoleBinding({ namespace: target, body: binding }), () => this.#rbac.replaceNamespacedRoleBinding({ name, namespace: target, body: binding })));
      }
    }
    await all(tasks);
    return credential;
  }

  /**
   * A token of the grant's session that the cluster accepts for at least `refreshBeforeMs` more
   * (the cached one while it does). A refused AssumeRole is a CredentialError naming STS's code.
   */
  async mint(grant: Grant): Promise<Credential> {
    const source = this.#sources.get(grant.id) ?? createEksTokenSource({
      connection: this.#connection, grant, stsClient: this.#o.stsClient, now: this.#now, refreshBeforeMs: this.#refreshBeforeMs,
      endpoint: this.#o.stsEndpoint ?? stsEndpoint(this.#o.connection.region),
    });
    this.#sources.set(grant.id, source);
    const token = await attempt('EKS credential', () => source.token());
    return { grantId: grant.id, kind: 'bearer-token', token: token.token, expiresAt: token.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'), server: this.#o.connection.server };
  }

  /**
   * Replaces the credential of every live grant whose token has less than `refreshBeforeMs` left
   * and pushes it on the grant's stream (the store's `setCredential`); nothing while frozen. Stored
   * credentials are the truth, so a restarted broker refreshes what its predecessor issued. Returns
   * the grant ids.
   */
  refreshDue(): Promise<string[]> {
    const store = this.#o.store;
    if (store === undefined) return Promise.resolve([]);
    this.#refreshing ??= (async () => {
      const refreshed: string[] = [];
      try {
        // A fresh credential on the stream must not look like a way back in during a freeze.
        if ((await store.frozen()) !== undefined) return refreshed;
        const live = await store.list({ connection: this.#o.connection.name });
        const ids = new Set(live.map((r) => r.grant.id));
        for (const id of this.#sources.keys()) if (!ids.has(id)) this.#sources.delete(id);
        for (const { grant } of live) {
          try {
            // No credential yet: `issue` is still making it and stores it itself.
            const current = await store.getCredential(grant);
            if (current === undefined || Date.parse(current.expiresAt) - this.#now().getTime() > this.#refreshBeforeMs) continue;
            if (await store.setCredential(grant, await this.mint(grant))) refreshed.push(grant.id);
          } catch (error) {
            this.#o.onRefreshError?.(grant.id, error);
          }
        }
      } catch (error) {
        this.#o.onRefreshError?.('*', error);
      }
      return refreshed;
    })().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** Removes what the grant created; without known namespaces it finds the objects by label. */
  async revoke(ref: GrantObjectsRef): Promise<void> {
    this.#sources.delete(ref.id);
    const name = grantObjectName(ref.id);
    const tasks: Array<Promise<void>> = [];
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

  /** Deletes the RBAC objects of every grant `isLive` no longer knows (the start-up sweep). */
  async sweep(isLive: (grantId: string) => Promise<boolean>): Promise<string[]> {
    const selector = { labelSelector: GRANT_LABEL };
    const lists = await attempt('list grant objects', () => Promise.all([
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

  /** Stops the refresher. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  async #labelledNamespaces(id: string): Promise<string[]> {
    const labelSelector = `${GRANT_LABEL}=${id}`;
    const [bindings, roles] = await attempt('list grant objects', () => Promise.all([this.#rbac.listRoleBindingForAllNamespaces({ labelSelector }), this.#rbac.listRoleForAllNamespaces({ labelSelector })]));
    return [...new Set([...bindings.items, ...roles.items].map((o) => o.metadata?.namespace).filter((n): n is string => typeof n === 'string'))];
  }
}
