// `agentgate webhook` assembled: configuration → injection options, cluster version, TLS (mounted
// files or self-bootstrapped), the service-account controller under leader election, the HTTPS
// server, and a graceful stop when the CLI's signal aborts (SIGTERM).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ConfigFor } from '../src/config/index.ts';
import { injectOptionsFromConfig, type InjectOptions } from './inject/options.ts';
import { apiErrorText, kubeClient, type KubeClient } from './kube/client.ts';
import { supportsNativeSidecars, watchClusterVersion, type ClusterVersion } from './kube/cluster-version.ts';
import { kubeLeaseStore, runLeaderElection, type LeaseStore } from './kube/leader.ts';
import { kubeLookups, namespaceLabelCache } from './kube/lookups.ts';
import { createServiceAccountController } from './kube/service-accounts.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';
import type { TlsBundle } from './tls/self-signed.ts';
import { grantIdentityPredicate, validateOptions } from './validate/index.ts';

/** Intervals, overridable by tests; production uses the defaults. */
export interface ServiceTimings {
  /** How often TLS material is checked (renewal on the leader, reload everywhere). Default 1 h. */
  tlsCheckMs?: number;
  /** How often a follower looks for the leader's Secret at start. Default 1 s. */
  tlsWaitMs?: number;
  leaseDurationMs?: number;
  renewMs?: number;
  retryMs?: number;
  watchRetryMs?: number;
}

/** Settings of {@link startWebhookService}. */
export interface WebhookServiceOptions {
  config: ConfigFor<'webhook'>;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT: the service stops gracefully. */
  signal: AbortSignal;
  /** This build's version, the default injection version. */
  buildVersion: string;
  /** The replica's identity in the Lease (the pod name). */
  identity?: string;
  /** The client, when not built from `webhook.kubeconfig` (tests). */
  kube?: KubeClient;
  /** The Lease, when not coordination.k8s.io's (tests against a server without leases). */
  leaseStore?: LeaseStore;
  timings?: ServiceTimings;
}

/** A running webhook service. */
export interface WebhookService {
  server: WebhookServer;
  cluster: () => ClusterVersion;
  /** The CA bundle clients should trust (the Secret's, or the mounted chain). */
  caBundle: () => string;
  /** True while this replica leads. */
  leading: () => boolean;
  /** Resolves when everything has stopped after the signal aborted. */
  done: Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The injection options of a cluster at `version`, from the configuration. */
export function serviceInjectOptions(config: ConfigFor<'webhook'>, buildVersion: string, version: ClusterVersion): InjectOptions {
  const { webhook } = config;
  const brokerUrl = webhook.brokerUrl ?? `https://agentgate-broker.${webhook.namespace}.svc:8443`;
  return injectOptionsFromConfig(webhook, {
    sidecarEnv: [{ name: 'AGENTGATE_SIDECAR_BROKER_URL', value: brokerUrl }],
    policyProfile: webhook.policyProfile,
    version: webhook.injectionVersion ?? buildVersion,
    nativeSidecars: supportsNativeSidecars(version),
    clusterVersion: version.gitVersion,
  });
}

/** Starts the service; resolves once the server listens (TLS material in hand). */
export async function startWebhookService(options: WebhookServiceOptions): Promise<WebhookService> {
  // The logger carries its component already (createLogger), as every role's does.
  const { config, logger: log, signal } = options;
  const { webhook } = config;
  const timings = options.timings ?? {};
  const kube = options.kube ?? await kubeClient(webhook.kubeconfig);
  const identity = options.identity ?? config.pod.name ?? hostname();

  const optionsFor = (version: ClusterVersion): InjectOptions => serviceInjectOptions(config, options.buildVersion, version);
  const versionWatch = await watchClusterVersion({
    read: () => kube.get('/version'),
    intervalMs: webhook.clusterVersionInterval,
    onChange: (version) => {
      inject = optionsFor(version);
      log.info({ clusterVersion: version.gitVersion, nativeSidecars: inject.nativeSidecars }, 'cluster version changed');
    },
    onError: (error) => log.warn({ error: apiErrorText(error) }, 'cluster version could not be read; keeping the last one'),
  });
  let inject = optionsFor(versionWatch.current());
  if (!inject.nativeSidecars) {
    log.error({ clusterVersion: versionWatch.current().gitVersion }, 'the cluster is older than Kubernetes 1.29 and lacks native sidecars: every agent pod will be refused (native-sidecar-unsupported)');
  }
  const isGrantIdentity = grantIdentityPredicate(webhook.namespace, webhook.eksSessionPrefix);
  const configurationNames = [webhook.configurations.mutating, webhook.configurations.validating];

  const accounts = createServiceAccountController({
    kube,
    name: inject.layout.serviceAccountName,
    labelSelector: `${inject.layout.labels.namespaceInject}=${inject.layout.labels.namespaceInjectValue}`,
    ...(timings.watchRetryMs === undefined ? {} : { retryMs: timings.watchRetryMs }),
    onError: (error) => log.warn({ error: apiErrorText(error) }, 'service-account controller'),
    onCreated: (namespace) => log.info({ namespace, serviceAccount: inject.layout.serviceAccountName }, 'created the zero-permission service account'),
  });

  // TLS: mounted files are re-read on each check (cert-manager renews them in place).
  const mounted = webhook.tls.certFile && webhook.tls.keyFile ? { certFile: webhook.tls.certFile, keyFile: webhook.tls.keyFile } : undefined;
  // node-forge (10 MiB) is loaded only when this replica makes its own certificates.
  const bootstrap = mounted ? undefined : (await import('./tls/self-signed.ts')).selfSignedTls({
    kube,
    namespace: webhook.namespace,
    secretName: webhook.tlsSecret,
    serviceName: webhook.serviceName,
    configurations: webhook.configurations,
  });
  let leading = false;
  let material: { cert: string; key: string; caBundle: string } | undefined;
  const readMaterial = async (): Promise<typeof material> => {
    if (mounted) {
      const [cert, key] = await Promise.all([readFile(mounted.certFile, 'utf8'), readFile(mounted.keyFile, 'utf8')]);
      return { cert, key, caBundle: cert };
    }
    const bundle: TlsBundle | undefined = leading || !webhook.leaderElection ? await bootstrap?.reconcile() : await bootstrap?.load();
    return bundle ? { cert: bundle.serving.certPem, key: bundle.serving.keyPem, caBundle: bundle.caBundle } : undefined;
  };

  const tasks: Promise<unknown>[] = [];
  // Every replica serves reviews, so every replica keeps the namespace labels (not only the leader).
  const namespaces = namespaceLabelCache({
    kube,
    ...(timings.watchRetryMs === undefined ? {} : { retryMs: timings.watchRetryMs }),
    onError: (error) => log.warn({ error: apiErrorText(error) }, 'namespace label cache'),
  });
  tasks.push(namespaces.run(signal));
  const leaderWork = (leaderSignal: AbortSignal): void => {
    leading = true;
    log.info({ identity }, 'leading: running the service-account controller and certificate rotation');
    tasks.push(accounts.run(leaderSignal));
    // Renew at once on taking over, so a follower's stale view never lingers.
    if (bootstrap) tasks.push(bootstrap.reconcile().then(() => undefined, (error: unknown) => log.warn({ error: apiErrorText(error) }, 'certificate reconcile failed')));
  };
  if (webhook.leaderElection) {
    tasks.push(runLeaderElection({
      store: options.leaseStore ?? kubeLeaseStore(kube, webhook.namespace, webhook.leaseName),
      identity,
      ...(timings.leaseDurationMs === undefined ? {} : { leaseDurationMs: timings.leaseDurationMs }),
      ...(timings.renewMs === undefined ? {} : { renewMs: timings.renewMs }),
      ...(timings.retryMs === undefined ? {} : { retryMs: timings.retryMs }),
      onStartedLeading: leaderWork,
      onStoppedLeading: () => {
        leading = false;
        log.warn({ identity }, 'lost the lease: no longer leading');
      },
      onError: (error) => log.warn({ error: apiErrorText(error) }, 'leader election'),
      signal,
    }));
  } else {
    leaderWork(signal);
  }

  // A follower waits for the leader's Secret: it cannot serve without a certificate.
  while (!material && !signal.aborted) {
    try {
      material = await readMaterial();
    } catch (error) {
      log.warn({ error: apiErrorText(error) }, 'TLS material not available yet');
    }
    if (!material) await sleep(timings.tlsWaitMs ?? 1000, signal);
  }
  if (!material) throw new Error('stopped before TLS material was available');

  const server = await startWebhookServer({
    cert: material.cert,
    key: material.key,
    host: webhook.listen.host,
    port: webhook.listen.port,
    inject: () => inject,
    validate: (current) => validateOptions(current, { isGrantIdentity, webhookConfigurationNames: configurationNames }),
    lookups: kubeLookups(kube, {
      inject: { key: inject.layout.labels.namespaceInject, value: inject.layout.labels.namespaceInjectValue },
      cache: namespaces,
      ensureServiceAccount: (namespace) => accounts.ensure(namespace),
    }),
    ready: () => !signal.aborted,
  });
  log.info({ port: server.port, tls: mounted ? 'mounted' : 'self-bootstrapped', clusterVersion: versionWatch.current().gitVersion }, 'webhook listening');

  tasks.push((async () => {
    while (!signal.aborted) {
      await sleep(timings.tlsCheckMs ?? 3_600_000, signal);
      if (signal.aborted) return;
      try {
        const next = await readMaterial();
        if (next && material && (next.cert !== material.cert || next.key !== material.key)) {
          server.setCertificate(next.cert, next.key);
          log.info('serving a renewed certificate');
        }
        if (next) material = next;
      } catch (error) {
        log.warn({ error: apiErrorText(error) }, 'TLS check failed; serving the current certificate');
      }
    }
  })());

  const done = (async () => {
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info('stopping: finishing in-flight reviews');
    versionWatch.stop();
    await server.close();
    await Promise.allSettled(tasks);
    log.info('stopped');
  })();

  return {
    server,
    cluster: () => versionWatch.current(),
    caBundle: () => material?.caBundle ?? '',
    leading: () => leading,
    done,
  };
}
