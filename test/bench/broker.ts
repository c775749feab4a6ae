/**
 * The broker's figures: decisions per second on a sidecar cache miss (HTTPS, TokenReview cached,
 * the grant found in Redis), against bare Redis GET round trips at the same concurrency; and the
 * p99 latency of minting a grant in TokenRequest mode (Redis, service account, Role, RoleBinding,
 * token) against the API double, against a bare TokenRequest call. Each starts its own world.
 * And decisions per second on the sidecar's cache hit, which is where most decisions are made.
 */
import { randomUUID } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { BROKER_API_VERSION, BrokerPaths, parseDecision } from '../../src/contracts/index.ts';
import { AGENT_NS, AGENTGATE_NS, attrs, startBrokerWorld } from '../broker/harness.ts';
import { opsPerSecond, type Bench, type Figure } from './measure.ts';

const CONCURRENCY = 16;
const round = (n: number): number => Number(n.toFixed(n < 10 ? 2 : 0));

function figure(name: string, value: number, baseline: number, unit: string, baselineName: string): Figure {
  return { name, value: round(value), unit, baseline: round(baseline), ratio: Number((value / baseline).toFixed(2)), baselineName };
}

/** Completed operations per second with `CONCURRENCY` callers looping for `ms`. */
async function rate(op: () => Promise<unknown>, ms: number): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      await op();
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
}

/** Decisions per second on a cache miss, through Redis. */
export const brokerDecisionsBench: Bench = {
  name: 'broker-decisions-cache-miss',
  async run() {
    const world = await startBrokerWorld();
    try {
      const pod = world.pod('bench-agent', { agent: 'bench-bot' });
      const client = await world.client(await world.podToken(pod));
      const a = attrs('list', 'pods', AGENT_NS);
      const ask = async (): Promise<void> => {
        const answer = await client.post(BrokerPaths.decisions, { apiVersion: BROKER_API_VERSION, requestId: randomUUID(), attributes: a, identity: { podUid: pod.metadata.uid } }, parseDecision);
        if (!answer.ok || answer.value.outcome !== 'allow') throw new Error(`decision failed: ${JSON.stringify(answer)}`);
      };
      await ask(); // the grant is made once; every later call finds it in Redis
      await rate(ask, 500);
      const value = await rate(ask, 2000);
      const redis = world.broker.redis.client;
      await redis.set('bench:key', 'x');
      await rate(() => redis.get('bench:key'), 500);
      const baseline = await rate(() => redis.get('bench:key'), 2000);
      client.close();
      return figure('broker-decisions-cache-miss', value, baseline, 'ops/s', `bare Redis GET round trips (${CONCURRENCY} in flight)`);
    } finally {
      await world.close();
    }
  },
};

/** Grant-minting latency p99 in TokenRequest mode (target at most 50 ms). */
export const brokerGrantMintBench: Bench = {
  name: 'broker-grant-mint-p99',
  async run() {
    const world = await startBrokerWorld();
    try {
      const { lifecycle } = world.broker;
      const mint = async (i: number): Promise<number> => {
        const started = performance.now();
        await lifecycle.issue({ identity: { connection: 'test', namespace: AGENT_NS, agent: `mint-${i}` }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }], namespaces: [AGENT_NS], reason: 'bench', ttlMs: 60_000 });
        return performance.now() - started;
      };
      const samples: number[] = [];
      for (let i = 0; i < 20; i++) await mint(i);
      for (let i = 20; i < 220; i++) samples.push(await mint(i));
      const core = kubeConfigFor({ name: 'd', server: world.kube.url, ca: world.kube.caPem }, world.kube.adminToken).makeApiClient(CoreV1Api);
      world.kube.objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bench-sa', namespace: AGENTGATE_NS } });
      const bare: number[] = [];
      const request = async (): Promise<number> => {
        const started = performance.now();
        await core.createNamespacedServiceAccountToken({ name: 'bench-sa', namespace: AGENTGATE_NS, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } } });
        return performance.now() - started;
      };
      for (let i = 0; i < 20; i++) await request();
      for (let i = 0; i < 200; i++) bare.push(await request());
      return figure('broker-grant-mint-p99', p99(samples), p99(bare), 'ms', 'a bare TokenRequest call, p99 (target: grant at most 50 ms)');
    } finally {
      await world.close();
    }
  },
};

/**
 * Decisions per second on the sidecar's cache hit (the hot path: the decision key, the cached
 * allow, its live grant and credential, and the sidecar's own scope check), on one core, against
 * a Map lookup of a ready-made key. The broker client points at a closed port: a miss would fail,
 * and the bench checks that none happened.
 */
export const sidecarCacheHitBench: Bench = {
  name: 'broker-decisions-sidecar-cache-hit',
  async run() {
    const [{ BrokerClient }, { createDecider }, { GrantState, decisionKey }] = await Promise.all([import('../../sidecar/broker.ts'), import('../../sidecar/decide.ts'), import('../../sidecar/grants.ts')]);
    const expiresAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const grant = { id: 'g-bench', rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/log', 'configmaps'] }], namespaces: [AGENT_NS], expiresAt };
    const state = new GrantState({ cacheTtlMs: 30 * 60_000, maxEntries: 10_000 });
    state.streamConnected = true;
    state.putGrant(grant);
    state.putCredential({ grantId: grant.id, kind: 'bearer-token', token: 'bench-token', expiresAt, server: 'https://kubernetes.default.svc' });
    const requests = ['web-0', 'web-1', 'web-2', 'api-0'].map((name) => attrs('get', 'pods', AGENT_NS, { name, path: `/api/v1/namespaces/${AGENT_NS}/pods/${name}` }));
    for (const attributes of requests) {
      state.remember(decisionKey(attributes), { apiVersion: BROKER_API_VERSION, requestId: 'r', outcome: 'allow', reason: { code: 'grant-live', message: 'Allowed under a live grant.' }, grant, credentialRef: { grantId: grant.id }, cacheUntil: expiresAt });
    }
    const broker = new BrokerClient({ url: 'https://127.0.0.1:1', tokenPath: '/nonexistent/token', timeoutMs: 100 });
    const decider = createDecider({ broker, state });
    const inputs = requests.map((attributes) => ({ requestId: 'r', attributes, cacheable: true }));
    const missesBefore = state.stats.cacheMisses;
    const value = opsPerSecond((i) => {
      const decided = decider.decide(inputs[i % inputs.length] as (typeof inputs)[number]);
      return !(decided instanceof Promise) && 'grant' in decided;
    });
    if (state.stats.cacheMisses !== missesBefore) throw new Error(`the cache-hit bench missed the cache ${state.stats.cacheMisses - missesBefore} times`);
    const ready = new Map(requests.map((attributes) => [decisionKey(attributes), attributes]));
    const keys = [...ready.keys()];
    const baseline = opsPerSecond((i) => ready.get(keys[i % keys.length] as string) !== undefined);
    broker.close();
    state.close();
    return figure('broker-decisions-sidecar-cache-hit', value, baseline, 'ops/s', 'a Map lookup of a ready-made key');
  },
};

/** The figures, in the order `npm run bench` prints them. */
export const brokerBenches: Bench[] = [brokerDecisionsBench, brokerGrantMintBench, sidecarCacheHitBench];
