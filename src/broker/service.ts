// `agentgate broker` assembled: Redis, grants and their expiry worker, the connection's credentials
// (TokenRequest, or EKS through STS), the policy (reloaded from its file), the audit store, access
// requests, the stream relay and the HTTPS server; a start-up sweep by one replica; an orderly stop.
import { access, readFile } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { STSClient } from '@aws-sdk/client-sts';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createAuditStore, type AuditStore } from '../audit/index.ts';
import type { ConfigFor } from '../config/index.ts';
import type { AccessRequest } from '../contracts/access-request.ts';
import { defaultPodLayout } from '../contracts/pod-layout.ts';
import { GrantExpiry, GrantLifecycle, GrantStore } from '../grants/index.ts';
import { createPolicyStore, DEFAULT_POLICY_FILE, formatPolicyIssue, type PolicyStore } from '../policy/index.ts';
import { createRedis, guarded, type AgentgateRedis } from '../redis/client.ts';
import { AccessRequestStore } from './accessrequests.ts';
import { denyAccessRequest, grantAccessRequest } from './approve.ts';
import { EksGrantCredentials, eksUsername } from './credentials/eks-grants.ts';
import { TokenRequestCredentials } from './credentials/tokenrequest.ts';
import { createDecider } from './decide.ts';
import { createDecisionAuditor, type DecisionAuditor } from './decision-audit.ts';
import { createIdentifier } from './identity.ts';
import { kubeAccess, type KubeAccess } from './kube.ts';
import { kubeClients } from './kube-clients.ts';
import { BrokerMetrics } from './metrics.ts';
import { startBrokerServer, type BrokerServer } from './server.ts';
import { StreamRelay } from './stream.ts';

/** A configuration the broker cannot start with (the CLI exits 78 on it). */
export class BrokerConfigError extends Error {
  override name = 'BrokerConfigError';
}

/** Options of {@link startBroker}; all but config and log have defaults for production. */
export interface BrokerServiceOptions {
  config: ConfigFor<'broker'>;
  log: Logger;
  /** Aborting it stops the broker (the CLI's SIGTERM). */
  signal?: AbortSignal;
  /** The broker's own credential to the cluster; default the in-cluster service account. */
  kubeConfig?: KubeConfig;
  brokerVersion?: string;
  /** Cap on every grant's lifetime (tests use seconds). */
  maxGrantTtlMs?: number;
  heartbeatSeconds?: number;
  identityCacheMs?: number;
  /** How often the policy file is read again (default 5 s; ConfigMap updates swap a symlink, which fs.watch misses). */
  policyReloadMs?: number;
  /** Where audit events are written as JSON lines besides Redis (default stdout; null: nowhere). */
  auditStdout?: Writable | null;
  /** The approval queue's hook (the approvals issue plugs Slack in here). */
  onPending?: (request: AccessRequest) => void;
  /** First retry delay of a failed expiry job (default 1 s). */
  expiryBackoffMs?: number;
  /** EKS mode only: the STS client (default: region and endpoint from the connection, the SDK's credential chain), token clock and refresh. */
  eks?: { stsClient?: STSClient; now?: () => Date; refreshBeforeMs?: number; refreshEveryMs?: number };
}

/** A running broker. */
export interface BrokerService {
  url: string;
  port: number;
  redis: AgentgateRedis;
  store: GrantStore;
  lifecycle: GrantLifecycle;
  accessRequests: AccessRequestStore;
  audit: AuditStore;
  auditor: DecisionAuditor;
  policy: PolicyStore;
  relay: StreamRelay;
  kube: KubeAccess;
  metrics: BrokerMetrics;
  /** The approvals issue's entry points: a human's yes (a grant now) or no. */
  approve(id: string, by: string): Promise<AccessRequest | undefined>;
  deny(id: string, by: string, message?: string): Promise<AccessRequest | undefined>;
  /** Resolves once the broker has stopped. */
  done: Promise<void>;
  close(): Promise<void>;
}

const INJECTED_REFRESH_MS = 30_000;
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

async function readPolicy(file: string, log: Logger): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    log.warn({ file }, 'policy file not found: deciding with the default policy');
    return readFile(DEFAULT_POLICY_FILE, 'utf8');
  }
}

/**
 * The EKS side of the connection, checked before anything starts: the config loader already asks
 * for the three eks fields, but a caller passing a config object may not have loaded it.
 */
function eksConnection(config: ConfigFor<'broker'>): { name: string; server: string; roleArn: string; region: string; clusterName: string } {
  const { name, server, roleArn, region, clusterName, eksUsernameTemplate } = config.connection;
  if (roleArn === undefined || region === undefined || clusterName === undefined) {
    const missing = Object.entries({ roleArn, region, clusterName }).filter(([, value]) => value === undefined).map(([field]) => `connection.${field}`);
    throw new BrokerConfigError(`${missing.join(', ')}: required when connection.mode is eks`);
  }
  // The webhook applies the guardrails to users under its prefix: a grant user outside it would escape them.
  const user = eksUsername(eksUsernameTemplate, 'g-0', roleArn);
  if (!user.startsWith(config.webhook.eksSessionPrefix)) {
    throw new BrokerConfigError(`connection.eksUsernameTemplate: ${eksUsernameTemplate} renders users such as ${user}, outside webhook.eksSessionPrefix (${config.webhook.eksSessionPrefix}), so the webhook's guardrails would not apply to grant sessions`);
  }
  return { name, server, roleArn, region, clusterName };
}

/** Starts the broker; resolves once it listens. */
export async function startBroker(options: BrokerServiceOptions): Promise<BrokerService> {
  const { config, log } = options;
  const eks = config.connection.mode === 'eks' ? eksConnection(config) : undefined;
  // Both files are read before either failure is reported: the operator fixes both at once.
  const tlsFiles = await Promise.allSettled([readFile(config.broker.tls.certFile), readFile(config.broker.tls.keyFile)]);
  const unreadable = (['certFile', 'keyFile'] as const).flatMap((field, i) => {
    const read = tlsFiles[i];
    if (read?.status !== 'rejected') return [];
    const error = read.reason as NodeJS.ErrnoException;
    return [`broker.tls.${field}: ${config.broker.tls[field]} cannot be read (${error.code ?? error.message})`];
  });
  if (unreadable.length > 0) throw new BrokerConfigError(unreadable.join('; '));
  const [cert, key] = tlsFiles.map((read) => (read as PromiseFulfilledResult<Buffer>).value) as [Buffer, Buffer];
  let kubeConfig = options.kubeConfig;
  if (kubeConfig === undefined) {
    try {
      await access(IN_CLUSTER_TOKEN);
    } catch {
      throw new BrokerConfigError(`not running in a pod (${IN_CLUSTER_TOKEN} is missing): pass --kubeconfig FILE with the broker's own credential`);
    }
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromCluster();
  }
  // One pool of keep-alive connections for every call the broker makes to the API server.
  const clients = kubeClients(kubeConfig);
  const kube = kubeAccess(clients);
  const redis = createRedis(config.broker.redisUrl, { keyPrefix: config.broker.redisKeyPrefix, connectionName: 'agentgate-broker' });
  await redis.ready().catch((error: unknown) => log.warn({ err: error }, 'Redis is not reachable yet: decisions fail closed until it is'));

  const store = new GrantStore({ redis });
  const expiry = new GrantExpiry({ redis, ...(options.expiryBackoffMs !== undefined ? { backoffMs: options.expiryBackoffMs } : {}) });
  const { stsClient, ...eksTuning } = options.eks ?? {};
  const stsEndpoint = config.connection.stsEndpoint;
  const credentials = eks
    ? new EksGrantCredentials({
      kubeConfig: clients, connection: eks, usernameTemplate: config.connection.eksUsernameTemplate, store, ...eksTuning,
      stsClient: stsClient ?? new STSClient({ region: eks.region, ...(stsEndpoint ? { endpoint: stsEndpoint } : {}) }),
      ...(stsEndpoint ? { stsEndpoint } : {}),
      onRefreshError: (grantId, error) => log.warn({ err: error, grantId }, 'EKS token refresh failed; retrying at the next round'),
    })
    : new TokenRequestCredentials({ kubeConfig: clients, server: config.connection.server, namespace: config.webhook.namespace });
  const lifecycle = new GrantLifecycle({ store, expiry, credentialsFor: () => credentials });
  expiry.startWorker((job) => lifecycle.expire(job), { onFailure: (job, error) => log.warn({ err: error, grantId: job?.grantId }, 'grant expiry failed; retrying') });

  const policy = createPolicyStore(() => readPolicy(config.broker.policyFile, log), {
    file: config.broker.policyFile,
    onErrors: (errors) => log.error({ errors: errors.map(formatPolicyIssue) }, 'policy refused; the last good policy stays in force'),
  });
  const loaded = await policy.reload();
  if (!loaded.ok) log.error('no valid policy: every decision answers 503 until the policy file is fixed');
  const reloadTimer = setInterval(() => void policy.reload(), options.policyReloadMs ?? 5000);
  reloadTimer.unref();

  // Guardrail `workload-not-injected` needs to know which namespaces are labelled for injection.
  const injected = new Set<string>();
  const core = clients.api(CoreV1Api);
  const { namespaceInject, namespaceInjectValue } = defaultPodLayout.labels;
  const refreshInjected = async (): Promise<void> => {
    try {
      const list = await core.listNamespace({ labelSelector: `${namespaceInject}=${namespaceInjectValue}` });
      injected.clear();
      for (const ns of list.items) if (ns.metadata?.name) injected.add(ns.metadata.name);
    } catch (error) {
      log.warn({ err: error }, 'injected namespaces could not be listed; keeping the last list');
    }
  };
  await refreshInjected();
  const injectedTimer = setInterval(() => void refreshInjected(), INJECTED_REFRESH_MS);
  injectedTimer.unref();

  const audit = createAuditStore({ redis: redis.client, keyPrefix: config.broker.redisKeyPrefix, logger: log, ...(options.auditStdout !== undefined ? { stdout: options.auditStdout } : {}) });
  const auditor = createDecisionAuditor({ store: audit, log });
  const accessRequests = new AccessRequestStore({
    redis,
    pendingMs: config.broker.approvalTimeout,
    onPending: options.onPending ?? ((request) => log.info({ accessRequest: request.id, identity: request.identity }, 'access request waits for a human')),
  });
  const maxGrantTtlMs = options.maxGrantTtlMs;
  const decider = createDecider({
    store, lifecycle, policy, accessRequests, audit: (event) => auditor.record(event),
    guardrails: { agentgateNamespace: config.webhook.namespace, isInjectedNamespace: (ns) => injected.has(ns) },
    ...(maxGrantTtlMs !== undefined ? { maxGrantTtlMs } : {}),
  });
  const relay = new StreamRelay({ redis, store, brokerVersion: options.brokerVersion ?? '0.0.0', log, ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}) });
  await relay.start();
  const identifier = createIdentifier({ kube, connection: config.connection.name, ...(options.identityCacheMs !== undefined ? { cacheMs: options.identityCacheMs } : {}) });
  const metrics = new BrokerMetrics();
  metrics.gauge('agentgate_broker_streams_open', 'Sidecar streams open on this replica.', () => relay.count());
  metrics.gauge('agentgate_broker_audit_queued', 'Decision audit events waiting for the audit store.', () => auditor.stats.queued());
  metrics.counter('agentgate_broker_audit_dropped_total', 'Decision audit events dropped because the queue was full.', () => auditor.stats.dropped);

  const server: BrokerServer = await startBrokerServer({
    host: config.broker.listen.host, port: config.broker.listen.port, cert, key, log, metrics,
    v1: { identifier, decider, relay, audit, accessRequests, metrics, log },
    operator: { identifier, kube, store, lifecycle, accessRequests, metrics, connection: config.connection.name },
    ready: async () => {
      const reasons: string[] = [];
      if (policy.current() === undefined) reasons.push('no valid policy loaded');
      await guarded('ready', () => redis.client.ping()).catch(() => reasons.push('Redis does not answer'));
      return { ok: reasons.length === 0, reasons };
    },
  });
  log.info({ url: server.url, connection: config.connection.name }, 'broker listening');

  // What expired while no broker ran: one replica sweeps (a Redis lock stands in for a Lease).
  void (async () => {
    try {
      const lock = await redis.client.set(`${config.broker.redisKeyPrefix}sweep-lock`, server.url, 'PX', 60_000, 'NX');
      if (lock === null) return;
      const swept = await credentials.sweep(async (id) => (await store.get(id)) !== undefined);
      if (swept.length > 0) log.info({ swept }, 'removed the cluster objects of grants that ended while the broker was down');
    } catch (error) {
      log.warn({ err: error }, 'start-up sweep failed; expiry jobs still clean up');
    }
  })();

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(reloadTimer);
      clearInterval(injectedTimer);
      if (credentials instanceof EksGrantCredentials) credentials.close();
      await relay.close();
      await server.close();
      await auditor.close();
      await expiry.close();
      await clients.close();
      await redis.close();
      log.info('broker stopped');
      resolveDone();
    })();
    return closing;
  };
  options.signal?.addEventListener('abort', () => void close(), { once: true });
  if (options.signal?.aborted) void close();

  const settle = { accessRequests, store, lifecycle, roles: kube, ...(maxGrantTtlMs !== undefined ? { maxGrantTtlMs } : {}) };
  return {
    url: server.url, port: server.port, redis, store, lifecycle, accessRequests, audit, auditor, policy, relay, kube, metrics,
    approve: (id, by) => grantAccessRequest(settle, id, by),
    deny: (id, by, message) => denyAccessRequest(settle, id, by, message),
    done, close,
  };
}
