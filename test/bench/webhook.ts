/**
 * Admission latency and RSS of the real `agentgate webhook` process (the CLI, against the API
 * double), over HTTPS with keep-alive at 200 admissions/s, for a typical pod and a 64 KB pod spec.
 * The baseline is a bare node:https server with the same certificate that parses the review and
 * answers a bare allow, measured in the same run.
 *
 * Method: server on one CPU, load generator (and the API double) on another (taskset); open loop
 * (requests leave on a fixed schedule whether or not earlier ones answered) and latency counted
 * from the scheduled time, so a stalled server cannot hide its stall by slowing the sender
 * (coordinated omission); a warm-up before each measured phase; GC pauses from `--trace-gc`;
 * RSS and peak RSS from /proc. Details of each run, load average included, go to stderr.
 * Both servers run as the image runs code: bundled (the webhook as scripts/build.ts makes it,
 * the baseline as this file bundled) with the Node flags of the Dockerfile's ENTRYPOINT, its
 * environment and the webhook container's NODE_OPTIONS (src/contracts/runtime.ts): the same runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, createServer as createHttpsServer, request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench, Figure } from './measure.ts';

const RATE = 200;
// WEBHOOK_BENCH_SECONDS shortens a run while developing; figures are reported at 20 s.
const SECONDS = Number(process.env.WEBHOOK_BENCH_SECONDS ?? '20');
const WARMUP_SECONDS = 3;
const root = new URL('../../', import.meta.url);
const tls = fileURLToPath(new URL('test/fixtures/tls/', root));
const self = fileURLToPath(import.meta.url);
const quiet = '--disable-warning=ExperimentalWarning';
// WEBHOOK_BENCH_SERVER_FLAGS adds Node flags to both servers (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
// Imported when measuring only: the bare server runs a bundle of this module and must load nothing more.
const serverFlags = async (): Promise<string[]> => [...(await (await import('../helpers/shipped.ts')).imageNodeFlags()), '--trace-gc', ...(process.env.WEBHOOK_BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean)];

type Review = { request: { namespace: string; object: { metadata: { namespace: string }; spec: { containers: { env?: { name: string; value: string }[] }[] } } } };

/** The bare-pod golden review in the labelled namespace `agents`, its first container's env grown to `bytes`. */
async function review(bytes: number): Promise<string> {
  // Read here, not imported at the top: the bare server runs this module and must not load the
  // webhook's libraries (zod among them), or its RSS would not be a baseline.
  const base = JSON.parse(await readFile(new URL('../webhook/golden/bare-pod.request.json', import.meta.url), 'utf8')) as Review;
  const container = base.request.object.spec.containers[0];
  if (container) {
    container.env ??= [];
    for (let i = 0; JSON.stringify(base).length < bytes; i++) container.env.push({ name: `SETTING_${i}`, value: 'x'.repeat(100) });
  }
  return JSON.stringify(base);
}

/** The baseline server (`--serve-bare PORT TLS_DIR`): parses the review for its uid and answers allowed. */
async function serveBare(port: number, tlsDir: string): Promise<void> {
  const [cert, key] = await Promise.all([readFile(join(tlsDir, 'server.crt')), readFile(join(tlsDir, 'server.key'))]);
  const server = createHttpsServer({ cert, key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let uid = '';
      if (req.method === 'POST') uid = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } }).request.uid;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.method === 'POST' ? JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }) : 'ok');
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

/** `command args` run on `cpu` (taskset, util-linux), or unpinned when there is no second CPU. */
function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
  return cpu === undefined || !taskset ? [command, args] : [taskset, ['-c', String(cpu), command, ...args]];
}

/** One open-loop phase, as the parent asks the load generator for it. */
interface LoadJob {
  port: number;
  body: string;
  rate: number;
  seconds: number;
}

/** Latency figures of one phase, in ms from each request's scheduled time. */
interface LoadResult {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** How late the sender itself was at worst (its own stalls, included in the latencies). */
  maxSendLagMs: number;
  /**
   * TLS connections the sender opened: 1 to 3 when the server keeps up; a stall (often another
   * process on the server's core) opens up to 64, and the server's RSS grows with them (~80 KB
   * each while open, measured, not all given back to the OS): read the RSS figures with this one.
   */
  connections: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** The load generator's side: runs each job it is sent and answers its LoadResult. */
function serveLoad(): void {
  const ca = readFile(join(tls, 'ca.crt'));
  // A failed request fails the phase, and the parent says so rather than waiting forever.
  process.on('message', (job: LoadJob) => void openLoop(job, ca).then(
    (result) => process.send?.(result),
    (error: unknown) => process.send?.({ error: error instanceof Error ? error.message : String(error) }),
  ));
  process.on('disconnect', () => process.exit(0));
}

async function openLoop(job: LoadJob, caFile: Promise<Buffer>): Promise<LoadResult> {
  const ca = await caFile;
  // Keep-alive as the API server's webhook client; enough sockets that a slow answer does not
  // serialise the next ones (they would queue here, and the schedule-based clock still counts it).
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca, servername: 'localhost' });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(job.body) };
  let connections = 0;
  const send = (due: number): Promise<number> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: job.port, path: '/mutate', method: 'POST', agent, headers }, (res) => {
      if (!req.reusedSocket) connections++;
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - due) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(job.body);
  });
  const pending: Promise<number>[] = [];
  const total = job.seconds * job.rate;
  const begin = performance.now() + 5;
  let maxSendLagMs = 0;
  for (let i = 0; i < total; i++) {
    const due = begin + (i * 1000) / job.rate;
    const wait = due - performance.now();
    // Node truncates a timer's delay to whole milliseconds: rounded up, a request never leaves before it is due.
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - due);
    pending.push(send(due));
  }
  const latencies = (await Promise.all(pending)).sort((a, b) => a - b);
  agent.destroy();
  const round = (n: number): number => Number(n.toFixed(3));
  return { count: latencies.length, p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), p999: round(percentile(latencies, 99.9)), max: round(latencies.at(-1) ?? NaN), maxSendLagMs: round(maxSendLagMs), connections };
}

/** Runs one phase on the load generator child. */
async function runLoad(load: ChildProcess, job: LoadJob): Promise<LoadResult> {
  const answer = once(load, 'message') as Promise<[LoadResult | { error: string }]>;
  load.send(job);
  const [result] = await answer;
  if ('error' in result) throw new Error(`webhook bench: a review failed during the load: ${result.error}`);
  return result;
}

/** GC work of a phase, from the server's `--trace-gc` lines. */
interface GcSummary {
  count: number;
  pauseMs: number;
  maxPauseMs: number;
  markCompacts: number;
}

/** Collects a child's `--trace-gc` lines (its stdout) with their arrival time. */
function gcTracker(child: ChildProcess): { mark(): number; since(mark: number): GcSummary } {
  const events: { kind: string; pause: number }[] = [];
  let rest = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      // e.g. "[123:0x55d0]  5012 ms: Scavenge 9.1 (10.5) -> 8.2 (11.0) MB, pooled: 0 MB, 0.61 / 0.00 ms  (..."
      const match = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: ([A-Za-z -]+?) [\d.]+ \(.*?, ([\d.]+) \/ [\d.]+ ms/.exec(line);
      if (match) events.push({ kind: match[1] ?? '', pause: Number(match[2]) });
    }
  });
  return {
    mark: () => events.length,
    since(mark) {
      const phase = events.slice(mark);
      const round = (n: number): number => Number(n.toFixed(2));
      return {
        count: phase.length,
        pauseMs: round(phase.reduce((sum, e) => sum + e.pause, 0)),
        maxPauseMs: round(Math.max(0, ...phase.map((e) => e.pause))),
        markCompacts: phase.filter((e) => e.kind.startsWith('Mark')).length,
      };
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`webhook bench: ${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const healthy = (port: number, ca: Buffer) => (): Promise<boolean> => new Promise((resolve) => {
  request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost', agent: false }, (res) => {
    res.resume();
    resolve(res.statusCode === 200);
  }).on('error', () => resolve(false)).end();
});

/** RSS now and its peak (VmHWM) of a child, in MiB, from /proc. */
async function rssOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface ServerFigures {
  typical: LoadResult;
  large: LoadResult;
  /** RSS once listening, before any review; then after the load, and its peak. */
  idleRss: number;
  rss: { rss: number; peak: number };
  gc: { typical: GcSummary; large: GcSummary };
}

/** Loads one server (already listening on `port`, process `child`) with both bodies. */
async function measureServer(child: ChildProcess, port: number, load: ChildProcess, bodies: { typical: string; large: string }): Promise<ServerFigures> {
  const gc = gcTracker(child);
  const idleRss = (await rssOf(child.pid ?? 0)).rss;
  const phase = async (body: string): Promise<[LoadResult, GcSummary]> => {
    await runLoad(load, { port, body, rate: RATE, seconds: WARMUP_SECONDS });
    const mark = gc.mark();
    const result = await runLoad(load, { port, body, rate: RATE, seconds: SECONDS });
    return [result, gc.since(mark)];
  };
  const [typical, gcTypical] = await phase(bodies.typical);
  const [large, gcLarge] = await phase(bodies.large);
  return { typical, large, idleRss, rss: await rssOf(child.pid ?? 0), gc: { typical: gcTypical, large: gcLarge } };
}

interface Measured {
  webhook: ServerFigures;
  bare: ServerFigures;
}

async function measureAll(): Promise<Measured> {
  const cpus = availableParallelism();
  const [serverCpu, loadCpu] = cpus >= 2 ? [cpus - 1, cpus - 2] : [undefined, undefined];
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-bench-webhook-'));
  // The bundles live inside the repository, as dist/ sits beside node_modules in the image.
  await mkdir(fileURLToPath(new URL('.cache/', root)), { recursive: true });
  const bundles = await mkdtemp(fileURLToPath(new URL('.cache/bench-webhook-', root)));
  const children: ChildProcess[] = [];
  // Every process of the run gets the image's environment (MALLOC_ARENA_MAX among it), the servers as they ship.
  const imageEnvironment = await (await import('../helpers/shipped.ts')).imageEnv();
  const start = (cpu: number | undefined, args: string[], env: Record<string, string> = {}, ipc = false): ChildProcess => {
    const [command, argv] = pinned(cpu, process.execPath, args);
    const child = spawn(command, argv, { cwd: fileURLToPath(root), env: { ...process.env, ...imageEnvironment, ...env }, stdio: ['ignore', 'pipe', 'inherit', ...(ipc ? ['ipc' as const] : [])] });
    children.push(child);
    return child;
  };
  const loadAverage = loadavg().map((n) => n.toFixed(2)).join(' ');
  try {
    const ca = await readFile(join(tls, 'ca.crt'));
    const bodies = { typical: await review(0), large: await review(64 * 1024) };
    const load = start(loadCpu, [quiet, self, '--load'], {}, true);
    load.stdout?.resume();

    const [{ buildShipped }, { build }] = await Promise.all([import('../helpers/shipped.ts'), import('esbuild')]);
    const shipped = await buildShipped(join(bundles, 'dist'));
    const bareScript = join(bundles, 'bare.js');
    await build({ entryPoints: [self], outfile: bareScript, bundle: true, format: 'esm', platform: 'node', target: 'node24', packages: 'external', logLevel: 'error' });
    const flags = await serverFlags();
    // The webhook's container sets NODE_OPTIONS of its own; the baseline runs on the same runtime.
    const { ROLE_NODE_OPTIONS } = await import('../../src/contracts/runtime.ts');
    const serverEnv = { NODE_OPTIONS: ROLE_NODE_OPTIONS.webhook };
    const barePort = await freePort();
    const bare = start(serverCpu, [...flags, bareScript, '--serve-bare', String(barePort), tls], serverEnv);
    await until('the bare server listening', healthy(barePort, ca));
    const bareFigures = await measureServer(bare, barePort, load, bodies);
    await stop(bare);

    // The API double shares the load generator's core: in a cluster the API server is elsewhere.
    const kubeconfig = join(dir, 'kubeconfig');
    const seed = join(dir, 'seed.yaml');
    const namespace = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
    await writeFile(seed, [namespace('agents', { 'agentgate.io/inject': 'enabled' }), namespace('agentgate-system', {})].map((o) => JSON.stringify(o)).join('\n---\n'));
    const double = start(loadCpu, [quiet, 'test/doubles/kube-api/main.ts', '--port', '0', '--kubeconfig', kubeconfig, '--version', '1.33', '--seed', seed]);
    double.stdout?.resume();
    await until('the API double writing its kubeconfig', async () => (await stat(kubeconfig)).size > 0);

    const port = await freePort();
    const webhook = start(serverCpu, [...flags, shipped, 'webhook'], {
      ...serverEnv,
      AGENTGATE_WEBHOOK_SIDECAR_IMAGE: 'ghcr.io/agentgate/agentgate:0.1.0',
      AGENTGATE_WEBHOOK_KUBECONFIG: kubeconfig,
      AGENTGATE_WEBHOOK_LISTEN_HOST: '127.0.0.1',
      AGENTGATE_WEBHOOK_LISTEN_PORT: String(port),
      AGENTGATE_WEBHOOK_LEADER_ELECTION: 'false',
      AGENTGATE_WEBHOOK_TLS_CERT_FILE: join(tls, 'server.crt'),
      AGENTGATE_WEBHOOK_TLS_KEY_FILE: join(tls, 'server.key'),
    });
    await until('agentgate webhook listening', healthy(port, ca));
    const webhookFigures = await measureServer(webhook, port, load, bodies);
    await stop(webhook);
    await stop(double);
    load.disconnect();

    const summary = { loadAverageAtStart: loadAverage, loadAverageAtEnd: loadavg().map((n) => n.toFixed(2)).join(' '), pinned: serverCpu === undefined ? 'no (one CPU)' : `server on CPU ${serverCpu}, load generator and API double on CPU ${loadCpu}`, seconds: SECONDS, rate: RATE, nodeFlags: flags, nodeOptions: serverEnv.NODE_OPTIONS, webhook: webhookFigures, bare: bareFigures };
    process.stderr.write(`webhook bench details: ${JSON.stringify(summary)}\n`);
    return { webhook: webhookFigures, bare: bareFigures };
  } finally {
    await Promise.all(children.map(stop));
    await rm(dir, { recursive: true, force: true });
    await rm(bundles, { recursive: true, force: true });
  }
}

if (process.argv[1] === self && process.argv.includes('--serve-bare')) {
  const at = process.argv.indexOf('--serve-bare');
  await serveBare(Number(process.argv[at + 1]), process.argv[at + 2] ?? tls);
}
if (process.argv[1] === self && process.argv.includes('--load')) serveLoad();

let measured: Promise<Measured> | undefined;
const measuredOnce = (): Promise<Measured> => (measured ??= measureAll());

function figure(name: string, value: number, baseline: number, unit: string, baselineName: string): Figure {
  const round = (n: number): number => Number(n.toFixed(3));
  return { name, value: round(value), unit, baseline: round(baseline), ratio: Number((value / baseline).toFixed(2)), baselineName };
}

const bareAllow = 'bare node:https server answering allow (same TLS, keep-alive, rate)';
type Pick = (m: ServerFigures) => number;
const bench = (name: string, unit: string, pick: Pick, baselineName = bareAllow): Bench => ({
  name,
  run: async () => {
    const m = await measuredOnce();
    return figure(name, pick(m.webhook), pick(m.bare), unit, baselineName);
  },
});

/** One figure per number; all from one measurement run (the first bench run triggers it). */
export const webhookBenches: Bench[] = [
  bench('webhook-typical-pod-p50', 'ms', (m) => m.typical.p50),
  bench('webhook-typical-pod-p99', 'ms', (m) => m.typical.p99),
  bench('webhook-64k-pod-p50', 'ms', (m) => m.large.p50),
  bench('webhook-64k-pod-p99', 'ms', (m) => m.large.p99),
  bench('webhook-rss-idle', 'MiB', (m) => m.idleRss, `RSS of the ${bareAllow}, listening, before any review`),
  bench('webhook-rss', 'MiB', (m) => m.rss.rss, `RSS of the ${bareAllow}, after the same load`),
  bench('webhook-rss-peak', 'MiB', (m) => m.rss.peak, `peak RSS of the ${bareAllow}`),
];

/** The first webhook figure, for a benches list that takes one Bench per module. */
export const webhookBench: Bench = webhookBenches[0] as Bench;
