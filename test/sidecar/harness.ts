// The sidecar between real kubectl and the API double, with the broker double deciding: a
// per-test world in a temp dir, a kubeconfig as an agent pod would have it, and a trivial masker
// of the tests' own (Secret data values only) standing in for src/masking.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pino } from 'pino';
import { loadConfig, envNameOf, type ConfigFor } from '../../src/config/index.ts';
import type { AgentIdentity } from '../../src/contracts/index.ts';
import { startSidecar, type Sidecar, type SidecarDeps } from '../../sidecar/start.ts';
import type { MaskResponse } from '../../sidecar/mask.ts';
import { createBrokerDouble, type BrokerDouble } from '../doubles/broker/server.ts';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { kubeconfigYaml } from '../doubles/kube-api/kubeconfig.ts';

/** What the tests' masker writes over Secret values (base64 of a recognisable text). */
export const TEST_MARKER = Buffer.from('masked-by-test').toString('base64');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function maskSecrets(value: unknown): number {
  if (!isObj(value)) return 0;
  let count = 0;
  if (value.kind === 'Secret' && isObj(value.data)) {
    for (const k of Object.keys(value.data)) {
      value.data[k] = TEST_MARKER;
      count++;
    }
  }
  if (Array.isArray(value.items)) for (const item of value.items) count += maskSecrets(item);
  if (isObj(value.object)) count += maskSecrets(value.object);
  return count;
}

/** The tests' masker: JSON bodies parsed whole (watches line by line); unparseable JSON fails (502). */
export const testMasker: MaskResponse = (target) => {
  let count = 0;
  const json = target.contentType === 'application/json';
  let buffered = '';
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (!json) return done(null, chunk);
      buffered += chunk.toString('utf8');
      if (!target.watch) return done();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      try {
        const out = lines.filter((l) => l !== '').map((line) => {
          const event = JSON.parse(line) as unknown;
          count += maskSecrets(event);
          return `${JSON.stringify(event)}\n`;
        });
        done(null, out.join(''));
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      if (!json || buffered === '') return done();
      try {
        const object = JSON.parse(buffered) as unknown;
        count += maskSecrets(object);
        done(null, target.watch ? `${JSON.stringify(object)}\n` : JSON.stringify(object));
      } catch (error) {
        done(error as Error);
      }
    },
  });
  return { stream, masked: () => count };
};

/** The grant user's token at the API double; its group is bound to cluster-admin there, so only the sidecar limits it. */
export const GRANT_TOKEN = 'grant-token-one';
/** A second valid token, for credential rotation. */
export const GRANT_TOKEN_2 = 'grant-token-two';

/** One test's world. */
export interface World {
  dir: string;
  kube: KubeApiServer;
  broker: BrokerDouble;
  sidecar: Sidecar;
  /** How long startSidecar took until both listeners accepted and the files were written. */
  startMs: number;
  identity: AgentIdentity;
  /** kubeconfig of the agent (sidecar CA, pod-local token, namespace agents). */
  kubeconfig: string;
  /** The pod-local token as written to the shared dir. */
  token(): Promise<string>;
  /** A raw HTTPS request to the sidecar. */
  call(method: string, path: string, options?: { headers?: Record<string, string>; body?: string | Buffer }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  close(): Promise<void>;
}

/** Options of a world. */
export interface WorldOptions {
  kubeVersion?: string;
  /** Override the upstream (a hostile server) instead of the API double. */
  upstreamUrl?: string;
  deps?: Partial<SidecarDeps>;
  env?: Record<string, string>;
}

const quiet = pino({ level: 'silent' });

/** Starts the API double, the broker double and a sidecar between them. */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-sidecar-'));
  const kube = await createKubeApiServer({
    version: options.kubeVersion ?? '1.31',
    staticTokens: {
      [GRANT_TOKEN]: { username: 'agentgate:grant:one', groups: ['agentgate:grants'] },
      [GRANT_TOKEN_2]: { username: 'agentgate:grant:one', groups: ['agentgate:grants'] },
    },
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'agents' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'grants-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'agentgate:grants' }] },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'agents' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'other' }, spec: { containers: [{ name: 'db', image: 'postgres' }] } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: 'agents' }, type: 'Opaque', data: { password: Buffer.from('hunter2-real').toString('base64') } },
    ],
  });
  const brokerToken = 'projected-broker-token';
  const broker = await createBrokerDouble({ token: brokerToken });
  await writeFile(join(dir, 'broker-token'), `${brokerToken}\n`);
  const shared = join(dir, 'shared');
  await import('node:fs/promises').then((fs) => fs.mkdir(shared));
  const env: Record<string, string> = {
    [envNameOf('sidecar.brokerUrl')]: broker.url,
    [envNameOf('sidecar.brokerTokenPath')]: join(dir, 'broker-token'),
    [envNameOf('sidecar.sharedDir')]: shared,
    [envNameOf('sidecar.upstream.url')]: options.upstreamUrl ?? kube.url,
    [envNameOf('sidecar.upstream.caFile')]: kube.caFile,
    [envNameOf('pod.namespace')]: 'agents',
    [envNameOf('pod.uid')]: '0f4e7a52-5b1c-4d8e-9a3f-2c6d8e1f0a7b',
    [envNameOf('sidecar.health.host')]: '127.0.0.1',
    ...options.env,
  };
  const loaded = loadConfig({ role: 'sidecar', env });
  if (!loaded.ok) throw new Error(`config: ${JSON.stringify(loaded.errors)}`);
  const config: ConfigFor<'sidecar'> = { ...loaded.config, sidecar: { ...loaded.config.sidecar, api: { ...loaded.config.sidecar.api, port: 0 as number }, health: { ...loaded.config.sidecar.health, port: 0 as number } } };
  const identity: AgentIdentity = { connection: 'test', namespace: 'agents', agent: 'agent-a', originalServiceAccount: 'agent-a', owner: null, podUid: '0f4e7a52-5b1c-4d8e-9a3f-2c6d8e1f0a7b' };
  const startedAt = performance.now();
  const sidecar = await startSidecar(config, { log: quiet, maskResponse: testMasker, identity, brokerCa: broker.caPem, brokerTimeoutMs: 500, ...options.deps });
  const startMs = performance.now() - startedAt;
  await sidecar.streamConnected;
  const token = async (): Promise<string> => (await readFile(join(shared, 'token'), 'utf8')).trim();
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigYaml({ server: sidecar.apiUrl, caPem: sidecar.caPem, token: await token(), user: 'agent', namespace: 'agents' }));

  const call: World['call'] = (method, path, opts = {}) => new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: sidecar.apiPort, method, path, ca: sidecar.caPem, servername: 'localhost', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });

  return {
    dir, kube, broker, sidecar, startMs, identity, kubeconfig, token, call,
    async close() {
      await sidecar.close();
      await Promise.all([broker.close(), kube.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A grant over pods (read) in `agents`, and the discovery every kubectl command starts with. */
export function grantPodReads(world: World, opts: { id?: string; ttlMs?: number } = {}): string {
  const id = opts.id ?? 'g-pods';
  world.broker.addGrant({ id: 'g-discovery', rules: [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/*'] }], namespaces: ['*'], token: GRANT_TOKEN });
  world.broker.addGrant({ id, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/log'] }], namespaces: ['agents'], token: GRANT_TOKEN, ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}) });
  world.broker.table.push(
    { name: 'discovery', when: (a) => !a.isResourceRequest, outcome: 'allow', grantId: 'g-discovery', cacheForMs: 60_000 },
    { name: 'pods in agents', when: (a) => a.resource === 'pods' && a.namespace === 'agents', outcome: 'allow', grantId: id, cacheForMs: 60_000 },
  );
  return id;
}

/** Polls `check` until it holds or the deadline passes. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One unlabelled sample from the sidecar's /metrics on its health port (NaN when absent). */
export function metric(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve(Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN)));
    }).on('error', reject);
  });
}
