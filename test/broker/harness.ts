// One broker world for the broker's tests: a real redis-server, the Kubernetes API double with
// agentgate's namespaces, an injected agent pod (identity annotations as the webhook stamps them),
// and the real broker between them; sidecar tokens come from the double's TokenRequest API.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadConfig, envNameOf, type ConfigFor } from '../../src/config/index.ts';
import { BROKER_API_VERSION, BrokerPaths, parseDecision, parseStreamLine, type AgentIdentity, type Decision, type RequestAttributes, type StreamEvent } from '../../src/contracts/index.ts';
import { kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { startBroker, type BrokerService, type BrokerServiceOptions } from '../../src/broker/service.ts';
import { DEFAULT_POLICY_FILE } from '../../src/policy/index.ts';
import { BrokerClient, type BrokerAnswer } from '../../sidecar/broker.ts';
import type { MaskResponse } from '../../sidecar/mask.ts';
import { startSidecar, type Sidecar } from '../../sidecar/start.ts';
import { kubeconfigYaml } from '../doubles/kube-api/kubeconfig.ts';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
export const AGENTGATE_NS = 'agentgate-system';
export const AGENT_NS = 'agents';
export const CONNECTION = 'test';

/** One world. */
export interface BrokerWorld {
  dir: string;
  kube: KubeApiServer;
  redis: RedisServer;
  broker: BrokerService;
  config: ConfigFor<'broker'>;
  caPem: string;
  /** Creates a pod running as agentgate-agent; `injected` (default true) stamps the identity annotations. */
  pod(name: string, options?: { injected?: boolean; agent?: string; namespace?: string }): KubeObject;
  /** A projected token of the pod (audience agentgate-broker unless said otherwise). */
  podToken(pod: KubeObject, audience?: string): Promise<string>;
  /** The sidecar's broker client over a token file. */
  client(token: string): Promise<BrokerClient>;
  /** A token of a service account in agentgate's namespace, bound (or not) to the agentgate operator role. */
  operatorToken(name: string, operator: boolean): Promise<string>;
  /** Stops the broker and starts another on the same Redis (a broker restart). */
  restartBroker(): Promise<void>;
  close(): Promise<void>;
}

const quiet = pino({ level: 'silent' });

/** Attributes of a request as the sidecar parses it. */
export function attrs(verb: string, resource: string, namespace: string, extra: Partial<RequestAttributes> = {}): RequestAttributes {
  const [res = '', sub = ''] = resource.split('/');
  return { isResourceRequest: true, path: `/api/v1/namespaces/${namespace}/${res}`, verb, apiGroup: '', apiVersion: 'v1', resource: res, subresource: sub, namespace, name: '', ...extra };
}

/** A non-resource request (discovery). */
export function urlAttrs(path: string): RequestAttributes {
  return { isResourceRequest: false, path, verb: 'get', apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
}

/** Asks for a decision as the sidecar does. */
export function decide(client: BrokerClient, attributes: RequestAttributes, podUid?: string): Promise<BrokerAnswer<Decision>> {
  return client.post(BrokerPaths.decisions, { apiVersion: BROKER_API_VERSION, requestId: randomUUID(), attributes, ...(podUid ? { identity: { podUid } } : {}) }, parseDecision);
}

/** A stream held open, collecting events with their arrival time. */
export interface OpenStream {
  events: Array<{ at: number; event: StreamEvent | { type: 'unknown' } }>;
  status: number;
  close(): void;
}

/** Opens GET /v1/stream with the client. */
export async function openStream(client: BrokerClient, since?: number): Promise<OpenStream> {
  const stop = new AbortController();
  const opened = await client.stream(since === undefined ? BrokerPaths.stream : `${BrokerPaths.stream}?since=${since}`, stop.signal);
  if (!opened.ok) return { events: [], status: opened.kind === 'refused' ? opened.status : 0, close: () => stop.abort() };
  const events: OpenStream['events'] = [];
  const lines = createInterface({ input: opened.res, crlfDelay: Infinity });
  opened.res.on('error', () => lines.close());
  void (async () => {
    try {
      for await (const line of lines) {
        const parsed = parseStreamLine(line);
        if (parsed.ok) events.push({ at: performance.now(), event: parsed.value });
      }
    } catch {
      // aborted
    }
  })();
  return { events, status: 200, close: () => { stop.abort(); opened.res.destroy(); } };
}

/** Options of a world. */
export interface BrokerWorldOptions {
  broker?: Partial<Omit<BrokerServiceOptions, 'config' | 'log'>>;
  env?: Record<string, string>;
  persistentRedis?: boolean;
  kubeVersion?: string;
}

/** Starts the world. */
export async function startBrokerWorld(options: BrokerWorldOptions = {}): Promise<BrokerWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-broker-'));
  const kube = await createKubeApiServer({
    version: options.kubeVersion ?? '1.31',
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENT_NS, labels: { 'agentgate.io/inject': 'enabled' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENTGATE_NS } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agentgate-agent', namespace: AGENT_NS } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: AGENT_NS }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'other' }, spec: { containers: [{ name: 'db', image: 'postgres' }] } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: AGENT_NS }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'agentgate-operator' },
        rules: [{ apiGroups: ['agentgate.io'], resources: ['grants', 'accessrequests'], verbs: ['list', 'get', 'create', 'delete', 'deletecollection', 'freeze'] }],
      },
    ],
  });
  const redis = await startRedis({ persistent: options.persistentRedis ?? false });
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, await readFile(DEFAULT_POLICY_FILE, 'utf8'));
  const env: Record<string, string> = {
    [envNameOf('broker.redisUrl')]: redis.url,
    [envNameOf('broker.tls.certFile')]: join(TLS, 'server.crt'),
    [envNameOf('broker.tls.keyFile')]: join(TLS, 'server.key'),
    [envNameOf('broker.policyFile')]: policyFile,
    [envNameOf('broker.listen.host')]: '127.0.0.1',
    [envNameOf('broker.redisKeyPrefix')]: 'ag:',
    [envNameOf('connection.name')]: CONNECTION,
    [envNameOf('connection.server')]: kube.url,
    [envNameOf('webhook.namespace')]: AGENTGATE_NS,
    ...options.env,
  };
  const loaded = loadConfig({ role: 'broker', env });
  if (!loaded.ok) throw new Error(`config: ${JSON.stringify(loaded.errors)}`);
  const config: ConfigFor<'broker'> = { ...loaded.config, broker: { ...loaded.config.broker, listen: { host: '127.0.0.1', port: 0 as number } } };
  const kubeConfig = kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, kube.adminToken);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const caPem = await readFile(join(TLS, 'ca.crt'), 'utf8');
  const start = (): Promise<BrokerService> => startBroker({ config, log: quiet, kubeConfig, auditStdout: null, heartbeatSeconds: 2, expiryBackoffMs: 100, ...options.broker });
  let broker = await start();
  let files = 0;

  const world: BrokerWorld = {
    dir, kube, redis, config, caPem,
    get broker() {
      return broker;
    },
    pod(name, opts = {}) {
      const injected = opts.injected ?? true;
      const agent = opts.agent ?? 'agent-a';
      const annotations: Record<string, string> = injected
        ? { 'agentgate.io/agent': agent, 'agentgate.io/original-service-account': agent, 'agentgate.io/owner': 'null', 'agentgate.io/policy-profile': 'default', 'agentgate.io/injected-version': 'test' }
        : {};
      return kube.objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: opts.namespace ?? AGENT_NS, annotations }, spec: { serviceAccountName: 'agentgate-agent', containers: [{ name: 'agent', image: 'agent' }] } });
    },
    async podToken(pod, audience = 'agentgate-broker') {
      const answer = await core.createNamespacedServiceAccountToken({
        name: 'agentgate-agent', namespace: pod.metadata.namespace ?? AGENT_NS,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' } } },
      });
      return answer.status?.token ?? '';
    },
    async client(token) {
      const file = join(dir, `token-${++files}`);
      await writeFile(file, token);
      return new BrokerClient({ url: broker.url, ca: caPem, tokenPath: file, timeoutMs: 5000 });
    },
    async operatorToken(name, operator) {
      kube.objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: AGENTGATE_NS } });
      if (operator) {
        kube.objects.create({
          apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `operator-${name}` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agentgate-operator' },
          subjects: [{ kind: 'ServiceAccount', name, namespace: AGENTGATE_NS }],
        });
      }
      const answer = await core.createNamespacedServiceAccountToken({ name, namespace: AGENTGATE_NS, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3600 } } });
      return answer.status?.token ?? '';
    },
    async restartBroker() {
      await broker.close();
      broker = await start();
    },
    async close() {
      await broker.close();
      await Promise.all([redis.close(), kube.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await mkdir(join(dir, 'shared'), { recursive: true });
  return world;
}

/** Polls `check` until it holds or the deadline passes. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An injected agent pod with the real sidecar in front of the double, and a kubeconfig for kubectl to it. */
export interface AgentSidecar {
  identity: AgentIdentity;
  sidecar: Sidecar;
  kubeconfig: string;
}

/**
 * Creates the pod `podName` (identity annotations for `agent`) in the agents' namespace and starts
 * the real sidecar for it against `world`'s broker and API double, with `maskResponse` as its mask stage.
 */
export async function startAgentSidecar(world: BrokerWorld, podName: string, agent: string, maskResponse: MaskResponse): Promise<AgentSidecar> {
  const pod = world.pod(podName, { agent });
  const podUid = pod.metadata.uid ?? '';
  const dir = join(world.dir, podName);
  const shared = join(dir, 'shared');
  await mkdir(shared, { recursive: true });
  const tokenFile = join(dir, 'broker-token');
  await writeFile(tokenFile, await world.podToken(pod));
  const loaded = loadConfig({
    role: 'sidecar',
    env: {
      [envNameOf('sidecar.brokerUrl')]: world.broker.url,
      [envNameOf('sidecar.brokerTokenPath')]: tokenFile,
      [envNameOf('sidecar.sharedDir')]: shared,
      [envNameOf('sidecar.upstream.url')]: world.kube.url,
      [envNameOf('sidecar.upstream.caFile')]: world.kube.caFile,
      [envNameOf('pod.namespace')]: AGENT_NS,
      [envNameOf('pod.uid')]: podUid,
      [envNameOf('sidecar.health.host')]: '127.0.0.1',
    },
  });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const sc = loaded.config.sidecar;
  const config: ConfigFor<'sidecar'> = { ...loaded.config, sidecar: { ...sc, api: { ...sc.api, port: 0 }, health: { ...sc.health, port: 0 } } };
  const identity: AgentIdentity = { connection: CONNECTION, namespace: AGENT_NS, agent, originalServiceAccount: agent, owner: null, podUid, podName };
  const sidecar = await startSidecar(config, { log: pino({ level: 'silent' }), maskResponse, identity, brokerCa: world.caPem, brokerTimeoutMs: 5000 });
  await sidecar.streamConnected;
  const kubeconfig = join(dir, 'kubeconfig');
  const token = (await readFile(join(shared, 'token'), 'utf8')).trim();
  await writeFile(kubeconfig, kubeconfigYaml({ server: sidecar.apiUrl, caPem: sidecar.caPem, token, user: 'agent', namespace: AGENT_NS }));
  return { identity, sidecar, kubeconfig };
}
