// The broker's Kubernetes API clients: every client made from one KubeConfig shares one keep-alive
// connection pool. client-node's own `makeApiClient` builds a new undici Agent for every call, so
// each call paid a TCP connect and a TLS handshake (measured: over half of a grant's mint).
import {
  createConfiguration, KubeConfig, ServerConfiguration, setHeaderMiddleware, type ApiConstructor, type ApiType, type RequestContext,
} from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** API clients over one pool of connections to the API server. */
export interface KubeClients {
  /** An API client (CoreV1Api, RbacAuthorizationV1Api, ...) whose calls share the pool. */
  api<T extends ApiType>(type: ApiConstructor<T>): T;
  /** Closes the pooled connections once their calls are answered; later calls open a new pool. */
  close(): Promise<void>;
}

/** Options of {@link kubeClients}. */
export interface KubeClientsOptions {
  /**
   * How long one pool is used before the next call opens a new one (default 60 s), so that TLS
   * material read per call (a rotated CA or client certificate file, an exec plugin's new
   * certificate) is in use within a minute, as the token file is.
   */
  maxAgeMs?: number;
  now?: () => number;
}

/** `kubeConfig` or clients made from it: what the broker's parts accept. */
export type KubeSource = KubeConfig | KubeClients;

/** The clients of a source: its own pool for a bare KubeConfig. */
export function clientsOf(source: KubeSource): KubeClients {
  return source instanceof KubeConfig ? kubeClients(source) : source;
}

/**
 * Clients over `kubeConfig`. The KubeConfig still authenticates every call (the bearer token file
 * re-read, exec plugins, client certificates), then the call goes out on the pool's dispatcher
 * instead of the fresh one client-node made for it, which is never connected.
 */
export function kubeClients(kubeConfig: KubeConfig, options: KubeClientsOptions = {}): KubeClients {
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  let pool: { dispatcher: Dispatcher; since: number } | undefined;
  const auth = {
    getName: () => 'agentgate keep-alive kubeconfig authentication',
    async applySecurityAuthentication(context: RequestContext): Promise<void> {
      await kubeConfig.applySecurityAuthentication(context);
      const fresh = context.getDispatcher();
      // No dispatcher: client-node uses fetch's global one, which already keeps connections alive.
      if (fresh === undefined) return;
      // A replaced pool is not closed: a call may hold it between here and its fetch. Its idle
      // connections end by themselves (undici's keep-alive timeout) and never hold the process.
      if (pool === undefined || now() - pool.since >= maxAgeMs) pool = { dispatcher: fresh, since: now() };
      context.setDispatcher(pool.dispatcher);
    },
  };
  return {
    api(type) {
      const cluster = kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error('No active cluster!');
      return new type(createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: auth },
        middleware: [setHeaderMiddleware('User-Agent', 'agentgate-broker')],
      }));
    },
    async close() {
      const current = pool;
      pool = undefined;
      if (current !== undefined) await current.dispatcher.close().catch(() => undefined);
    },
  };
}
