// The service-account controller: keeps agentgate's zero-permission account (automount off) in
// every namespace labelled for injection, and creates it on demand for a pod-label opt-in, so the
// account exists before the API server's ServiceAccount plugin looks for it on reinvocation.
import { apiErrorText, corePath, httpCode, type KubeClient } from './client.ts';
import { listWatch, type WatchedObject } from './list-watch.ts';

/** The fields of a ServiceAccount the controller reads and writes. */
interface ServiceAccount extends WatchedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: WatchedObject['metadata'] & { annotations?: Record<string, string> };
  automountServiceAccountToken?: boolean;
}

/** Settings of the controller. */
export interface ServiceAccountControllerOptions {
  kube: KubeClient;
  /** The zero-permission account, `agentgate-agent` by default (the pod layout's). */
  name: string;
  /** The namespace label that selects namespaces for injection, as `key=value`. */
  labelSelector: string;
  /** Label stamped on the accounts it creates, so an operator can find them. */
  managedBy?: string;
  retryMs?: number;
  onError?: (error: unknown) => void;
  onCreated?: (namespace: string) => void;
}

/** The running controller. */
export interface ServiceAccountController {
  /** Makes sure the account exists (and keeps automount off) in `namespace`; cached once done. */
  ensure(namespace: string): Promise<void>;
  /** Starts the list/watch loops (on the leader only); they end when `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** True once the labelled namespaces have been listed and reconciled. */
  synced(): boolean;
}

/** Builds the controller; nothing runs until `run` or `ensure` is called. */
export function createServiceAccountController(options: ServiceAccountControllerOptions): ServiceAccountController {
  const { kube, name } = options;
  // Namespaces where the account is known to be right; a deletion seen by the watch removes one.
  const known = new Set<string>();
  const pending = new Map<string, Promise<void>>();
  let synced = false;

  const desired = (namespace: string): ServiceAccount => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': options.managedBy ?? 'agentgate' },
      annotations: { 'agentgate.io/purpose': 'zero-permission account of agentgate agent pods: never bind a role to it' },
    },
    // Injected pods set automount off themselves; the account says so too, for anything else using it.
    automountServiceAccountToken: false,
  });

  async function reconcile(namespace: string): Promise<void> {
    let current: ServiceAccount | undefined;
    try {
      current = await kube.get<ServiceAccount>(corePath('serviceaccounts', namespace, name));
    } catch (error) {
      if (httpCode(error) !== 404) throw new Error(`service account ${namespace}/${name} could not be read: ${apiErrorText(error)}`, { cause: error });
    }
    if (!current) {
      try {
        await kube.create(corePath('serviceaccounts', namespace), desired(namespace));
        options.onCreated?.(namespace);
      } catch (error) {
        // Another replica (or an earlier review) created it meanwhile.
        if (httpCode(error) !== 409) throw new Error(`service account ${namespace}/${name} could not be created: ${apiErrorText(error)}`, { cause: error });
      }
    } else if (current.automountServiceAccountToken !== false) {
      await kube.replace(corePath('serviceaccounts', namespace, name), { ...current, automountServiceAccountToken: false });
    }
    known.add(namespace);
  }

  function ensure(namespace: string): Promise<void> {
    if (known.has(namespace)) return Promise.resolve();
    let running = pending.get(namespace);
    if (!running) {
      running = reconcile(namespace).finally(() => pending.delete(namespace));
      pending.set(namespace, running);
    }
    return running;
  }

  const report = (error: unknown): void => options.onError?.(error);

  return {
    ensure,
    synced: () => synced,
    async run(signal) {
      const namespaces = listWatch<WatchedObject>({
        kube,
        path: '/api/v1/namespaces',
        query: { labelSelector: options.labelSelector },
        onObject: async (type, ns) => {
          const namespace = ns.metadata?.name;
          if (!namespace || type === 'DELETED') {
            if (namespace) known.delete(namespace);
            return;
          }
          // A listed namespace is checked for real, not from the cache: this is the repair path.
          if (type === 'LISTED') known.delete(namespace);
          await ensure(namespace).catch(report);
        },
        onSynced: () => (synced = true),
        onError: report,
        signal,
        ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      });
      const accounts = listWatch<ServiceAccount>({
        kube,
        path: '/api/v1/serviceaccounts',
        query: { fieldSelector: `metadata.name=${name}` },
        onObject: async (type, account) => {
          const namespace = account.metadata?.namespace;
          if (!namespace) return;
          if (type === 'DELETED' || account.automountServiceAccountToken !== false) {
            known.delete(namespace);
            const ns = await kube.get<WatchedObject>(corePath('namespaces', undefined, namespace)).catch(() => undefined);
            const [key, value] = options.labelSelector.split('=');
            if (ns && key && ns.metadata?.labels?.[key] === value) await ensure(namespace).catch(report);
          }
        },
        onError: report,
        signal,
        ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      });
      await Promise.all([namespaces, accounts]);
    },
  };
}
