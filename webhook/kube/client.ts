// The webhook's Kubernetes clients (@kubernetes/client-node 2), built once from a kubeconfig file
// or the pod's in-cluster service account, and the one place that reads their errors' HTTP codes.
import { AdmissionregistrationV1Api, ApiException, CoordinationV1Api, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';

/** The typed API groups the webhook calls. */
export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  admission: AdmissionregistrationV1Api;
  coordination: CoordinationV1Api;
  version: VersionApi;
}

/** Clients for `kubeconfig` (a file path), or for the in-cluster service account when unset. */
export function kubeClients(kubeconfig?: string): KubeClients {
  const config = new KubeConfig();
  if (kubeconfig) config.loadFromFile(kubeconfig);
  else config.loadFromCluster();
  // Outside a pod, loadFromCluster yields a server like "https://undefined:undefined", which
  // would fail later as a bare "Invalid URL": say what is missing instead.
  const server = config.getCurrentCluster()?.server ?? '';
  if (!URL.canParse(server) || server.includes('undefined')) {
    throw new Error(kubeconfig
      ? `the kubeconfig ${kubeconfig} names no usable API server (got "${server}")`
      : 'not running in a pod (no in-cluster API server address): set webhook.kubeconfig (AGENTGATE_WEBHOOK_KUBECONFIG) to a kubeconfig file');
  }
  return clientsFor(config);
}

/** Clients for an already loaded KubeConfig. */
export function clientsFor(config: KubeConfig): KubeClients {
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    admission: config.makeApiClient(AdmissionregistrationV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    version: config.makeApiClient(VersionApi),
  };
}

/** The HTTP status of a failed API call, or undefined when the call never got an answer. */
export function httpCode(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}

/** A short, credential-free text of a failed API call, for logs and refusal messages. */
export function apiErrorText(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = (error as ApiException<unknown>).body;
    let message = '';
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') message = parsed.message;
      } catch {
        // not a Status body
      }
    }
    return message ? `HTTP ${(error as ApiException<unknown>).code}: ${message}` : `HTTP ${(error as ApiException<unknown>).code}`;
  }
  return error instanceof Error ? error.message : String(error);
}
