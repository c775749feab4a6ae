/**
 * The processes of the sidecar benchmark, one per mode, each started pinned to a core by
 * sidecar.ts and answering one JSON line on stdout once it listens:
 * - `upstream`: an API-server stand-in (HTTPS, keep-alive) serving one pod, a LIST of 100 pods and
 *   a LIST of 100 Secrets as fixed JSON;
 * - `broker`: the broker double that grants them and takes the audit (on the load core: in a
 *   cluster the broker runs on another node, so its work is not the proxy's core's);
 * (the sidecar itself runs as shipped, see test/helpers/shipped.ts; the bare pass-through is
 * passthrough.ts);
 * - `client`: one client in series over keep-alive, printing the latency of each target.
 */
import { readFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';

const tls = new URL('../fixtures/tls/', import.meta.url);
const say = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);

/** The paths the benchmark requests, and what the upstream answers to each. */
export const BENCH_PATHS = {
  get: '/api/v1/namespaces/default/pods/web-0',
  /** The same pod, its resourceVersion new on every answer: an object that changed since it was last read. */
  getChanging: '/api/v1/namespaces/default/pods/web-changing',
  pods: '/api/v1/namespaces/default/pods',
  secrets: '/api/v1/namespaces/default/secrets',
} as const;

async function upstream(): Promise<void> {
  const { list, pod, secret } = await import('../masking/fixtures.ts');
  const [cert, key] = await Promise.all([readFile(new URL('server.crt', tls)), readFile(new URL('server.key', tls))]);
  const bodies = new Map<string, Buffer>([
    [BENCH_PATHS.get, Buffer.from(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', ...pod(0) }))],
    [BENCH_PATHS.pods, Buffer.from(JSON.stringify(list('PodList', Array.from({ length: 100 }, (_, i) => pod(i)))))],
    [BENCH_PATHS.secrets, Buffer.from(JSON.stringify(list('SecretList', Array.from({ length: 100 }, (_, i) => secret(i)))))],
  ]);
  // A fixed-width resourceVersion, rewritten in place for each answer: the bytes differ every time, the length does not.
  const changing = Buffer.from((bodies.get(BENCH_PATHS.get) ?? Buffer.alloc(0)).toString().replace('"resourceVersion":"1000"', '"resourceVersion":"1000000000"'));
  const versionAt = changing.indexOf('"resourceVersion":"1000000000"') + '"resourceVersion":"'.length;
  if (versionAt < '"resourceVersion":"'.length) throw new Error('the pod to change has no resourceVersion 1000');
  let version = 1_000_000_000;
  bodies.set(BENCH_PATHS.getChanging, changing);
  const server = createServer({ cert, key }, (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    let body = bodies.get(path);
    if (path === BENCH_PATHS.getChanging) {
      changing.write(String(++version), versionAt, 'latin1');
      // A copy each time: the answer before may still be on its way out.
      body = Buffer.from(changing);
    }
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  say({ upstreamUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, sizes: Object.fromEntries([...bodies].map(([p, b]) => [p, b.length])) });
}

/** The broker double that grants the benchmark's reads (its own process: in a cluster the broker is on another node). */
async function broker(): Promise<void> {
  const { createBrokerDouble } = await import('../doubles/broker/server.ts');
  const double = await createBrokerDouble({ token: 'bench-broker-token' });
  double.addGrant({ id: 'g-bench', rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'secrets'] }], namespaces: ['default'], token: 'bench-grant-token' });
  double.table.push({ name: 'bench', when: () => true, outcome: 'allow', grantId: 'g-bench', cacheForMs: 30 * 60_000 });
  say({ brokerUrl: double.url });
}

/** p50 and p99 latency (ms) of GETs in series per target, targets interleaved round by round. */
async function client(targets: Array<{ name: string; port: number; path?: string }>, path: string, token: string, rounds: number, perRound: number): Promise<void> {
  const agents = new Map(targets.map((target) => [target.name, new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false })]));
  const once = (target: { name: string; port: number; path?: string }): Promise<number> => new Promise((resolve, reject) => {
    const t0 = performance.now();
    request({ agent: agents.get(target.name), host: '127.0.0.1', port: target.port, path: target.path ?? path, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${target.name}: HTTP ${res.statusCode}`))));
    }).on('error', reject).end();
  });
  const latencies = new Map<string, number[]>(targets.map((target) => [target.name, []]));
  for (const target of targets) for (let i = 0; i < 200; i++) await once(target);
  for (let r = 0; r < rounds; r++) {
    for (const target of targets) for (let i = 0; i < perRound; i++) latencies.get(target.name)?.push(await once(target));
  }
  const percentile = (values: number[], q: number): number => [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor((q / 100) * values.length))] ?? Number.NaN;
  say(Object.fromEntries([...latencies].map(([name, values]) => [name, { p50: percentile(values, 50), p99: percentile(values, 99), count: values.length }])));
  for (const agent of agents.values()) agent.destroy();
}

const [mode, ...args] = import.meta.main ? process.argv.slice(2) : [];
if (mode === 'upstream') await upstream();
else if (mode === 'broker') await broker();
else if (mode === 'client') {
  const spec = JSON.parse(args[0] ?? '{}') as { targets: Array<{ name: string; port: number; path?: string }>; path: string; token: string; rounds: number; perRound: number };
  await client(spec.targets, spec.path, spec.token, spec.rounds, spec.perRound);
}
