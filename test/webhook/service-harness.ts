// What the webhook's end-to-end tests share: the API double with a kubeconfig, the webhook
// service started against it (fixture TLS or self-bootstrapped), and its webhook configurations
// installed with real kubectl as the chart would.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig, type ConfigFor } from '../../src/config/index.ts';
import { createKubeApiServer, type KubeApiServer, type KubeApiServerOptions } from '../doubles/kube-api/server.ts';
import { kubectl, type KubectlResult } from '../helpers/kubectl.ts';
import { serviceClientConfig, webhookConfigurations } from '../../webhook/configurations.ts';
import { kubeClient } from '../../webhook/kube/client.ts';
import { startWebhookService, type WebhookService, type WebhookServiceOptions } from '../../webhook/service.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** A double, a temp dir and the admin kubeconfig. */
export interface Cluster {
  api: KubeApiServer;
  dir: string;
  kubeconfig: string;
  run(version: string, args: string[], input?: string, kubeconfig?: string): Promise<KubectlResult>;
  close(): Promise<void>;
}

/** Starts a double and writes its admin kubeconfig. */
export async function startCluster(options: KubeApiServerOptions = {}): Promise<Cluster> {
  const api = await createKubeApiServer(options);
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-webhook-e2e-'));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  return {
    api, dir, kubeconfig,
    run: (version, args, input, config) => kubectl(version, args, { kubeconfig: config ?? kubeconfig, ...(input === undefined ? {} : { input }) }),
    async close() {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The webhook role's configuration for the double: fixture TLS unless `selfSigned`. */
export function serviceConfig(cluster: Cluster, extraEnv: Record<string, string> = {}, selfSigned = false): ConfigFor<'webhook'> {
  const env: Record<string, string> = {
    AGENTGATE_WEBHOOK_SIDECAR_IMAGE: 'ghcr.io/agentgate/agentgate:0.1.0',
    AGENTGATE_WEBHOOK_KUBECONFIG: cluster.kubeconfig,
    AGENTGATE_WEBHOOK_LISTEN_HOST: '127.0.0.1',
    // The double serves no coordination.k8s.io Leases: one replica, leading by configuration.
    AGENTGATE_WEBHOOK_LEADER_ELECTION: 'false',
    ...(selfSigned ? {} : { AGENTGATE_WEBHOOK_TLS_CERT_FILE: `${TLS}server.crt`, AGENTGATE_WEBHOOK_TLS_KEY_FILE: `${TLS}server.key` }),
    ...extraEnv,
  };
  const loaded = loadConfig({ role: 'webhook', env, argv: [] });
  if (!loaded.ok) throw new Error(`test configuration invalid: ${JSON.stringify(loaded.errors)}`);
  // Port 0 (a free port) is not a valid configured port; tests set it after validation.
  return { ...loaded.config, webhook: { ...loaded.config.webhook, listen: { ...loaded.config.webhook.listen, port: 0 } } };
}

/** Starts the webhook service against `cluster`; stopped by the returned `stop`. */
export async function startService(cluster: Cluster, config: ConfigFor<'webhook'>, extra: Partial<WebhookServiceOptions> = {}): Promise<{ service: WebhookService; stop: () => Promise<void> }> {
  const controller = new AbortController();
  const service = await startWebhookService({
    config, logger: pino({ level: 'silent' }), signal: controller.signal, buildVersion: '0.1.0-test', identity: 'webhook-0', kube: await kubeClient(cluster.kubeconfig),
    timings: { watchRetryMs: 200, tlsWaitMs: 100 }, ...extra,
  });
  return { service, stop: async () => { controller.abort(); await service.done; } };
}

/**
 * Installs agentgate's two webhook configurations with kubectl apply, pointing at `url`, or at the
 * Service `agentgate-system/agentgate-webhook` when `url` is 'service' (register it on the double).
 */
export async function installConfigurations(cluster: Cluster, url: string, caPem: string, version = '1.33'): Promise<void> {
  const { mutating, validating } = webhookConfigurations({
    names: { mutating: 'agentgate', validating: 'agentgate' },
    agentgateNamespace: 'agentgate-system',
    clientConfig: url === 'service' ? serviceClientConfig('agentgate-system', 'agentgate-webhook') : (path) => ({ url: `${url}${path}` }),
    caBundle: Buffer.from(caPem).toString('base64'),
    eksSessionPrefix: 'agentgate:grant:',
  });
  const result = await cluster.run(version, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [mutating, validating] }));
  if (result.code !== 0) throw new Error(`kubectl apply of the webhook configurations failed: ${result.stderr}`);
}

/** Polls `check` until it is true or the deadline passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}
