/**
 * The sidecar against direct requests to the same upstream, Debian's nginx (a plain TLS reverse
 * proxy with upstream keep-alive) and a bare Node.js TLS pass-through, all in one run: load
 * generators (wrk for 32 connections, a Node client for one client in series) on core 0, the
 * proxies and the upstream on core 1 (`taskset`), the broker double on core 0 too (in a cluster it
 * runs on another node). GET of one object (cached decision), unchanged (so its masking comes
 * from the sidecar's mask memo) and changed on every read (masked every time), LIST of 100
 * pods, LIST of 100 Secrets with masking; RSS idle and at peak under load; time to ready.
 * The sidecar runs as the image runs it (the bundle, the ENTRYPOINT's Node flags: see
 * test/helpers/shipped.ts), and so does the bare pass-through it is compared with. The sidecar's
 * transport alone (transport.ts: its server and upstream client, none of its per-request work) and
 * the CPU each process spends per GET (user + system, /proc) say where the sidecar's time goes.
 * Every target is warmed to a steady rate by one rule before its measured run (`warm`), then the
 * targets of a load are measured in interleaved rounds (`compare`); the one-client latencies and a
 * 32-connection GET of the unchanged pod are also measured cold, before any load.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { buildShipped, imageEnv, imageNodeFlags, startShippedSidecar } from '../helpers/shipped.ts';
import { BENCH_PATHS } from './sidecar-serve.ts';
import type { Bench, Figure } from './measure.ts';

const run = promisify(execFile);
const SERVE = fileURLToPath(new URL('./sidecar-serve.ts', import.meta.url));
const PASSTHROUGH = fileURLToPath(new URL('./passthrough.ts', import.meta.url));
const TRANSPORT = fileURLToPath(new URL('./transport.ts', import.meta.url));
const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_CORE = '0';
const SERVER_CORE = '1';
const WARM_MAX_ROUNDS = 20;
const MEASURE_S = 2;
const MEASURE_ROUNDS = 5;

interface Child {
  process: ChildProcess;
  line: Record<string, unknown>;
  readyMs: number;
}

/** Starts `sidecar-serve.ts MODE` (or, with `bundled`, that script with the image's Node flags) pinned to `core`; resolves with its first stdout line. */
async function start(core: string, args: string[], bundled?: string): Promise<Child> {
  const t0 = performance.now();
  const script = bundled === undefined ? ['--disable-warning=ExperimentalWarning', SERVE] : [...(await imageNodeFlags()), bundled];
  // A bundled process runs with the image's environment too, as the shipped sidecar does.
  const env = bundled === undefined ? process.env : { ...process.env, ...(await imageEnv()) };
  const child = spawn('taskset', ['-c', core, process.execPath, ...script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const line = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sidecar-serve ${args[0] ?? ''} exited (${String(code)}) before it was ready`)));
  });
  return { process: child, line: JSON.parse(line) as Record<string, unknown>, readyMs: performance.now() - t0 };
}

/** Installs Debian's nginx and wrk when missing (the benchmark drives the real binaries). */
async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['nginx', 'wrk', 'taskset']) {
    try {
      await run('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]);
    } catch {
      missing.push(tool === 'taskset' ? 'util-linux' : tool);
    }
  }
  if (missing.length === 0) return;
  await run('sh', ['-c', `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`]);
}

async function waitForPort(port: number, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** nginx as a plain TLS reverse proxy: one worker on the server core, upstream keep-alive. */
async function startNginx(dir: string, upstreamUrl: string, port: number): Promise<ChildProcess> {
  const upstream = new URL(upstreamUrl);
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream api { server ${upstream.hostname}:${upstream.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${TLS}server.crt;
    ssl_certificate_key ${TLS}server.key;
    keepalive_requests 1000000;
    location / {
      proxy_pass https://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
    }
  }
}
`);
  const nginx = spawn('taskset', ['-c', SERVER_CORE, 'nginx', '-p', dir, '-c', conf, '-e', `${dir}/error.log`], { stdio: 'ignore' });
  await waitForPort(port);
  return nginx;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** CPU time (user and system, every thread) a process has used so far, in microseconds, from /proc. */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / (await clockTicks());
}
let ticks: Promise<number> | undefined;
const clockTicks = (): Promise<number> => (ticks ??= run('getconf', ['CLK_TCK']).then(({ stdout }) => Number(stdout.trim()) || 100));

/** One wrk measurement: requests/s, and the CPU each watched process spent per request meanwhile (µs). */
interface Rate {
  rps: number;
  cpuPerRequest: Record<string, number>;
  /** The warm-up rounds' rates (req/s), first to last. */
  warmup: number[];
}

const wrkArgs = (port: number, path: string, token: string, seconds: number): string[] =>
  ['-c', LOAD_CORE, 'wrk', '-t1', '-c32', `-d${String(seconds)}s`, '-H', `Authorization: Bearer ${token}`, '-H', 'Accept: application/json', `https://127.0.0.1:${String(port)}${path}`];

/** One wrk run of `seconds`: its requests/s and request count, after checking every answer was a 2xx. */
async function wrkRun(port: number, path: string, token: string, seconds: number): Promise<{ rps: number; requests: number }> {
  const { stdout } = await run('taskset', wrkArgs(port, path, token, seconds));
  if (/Non-2xx or 3xx responses/.test(stdout)) throw new Error(`wrk on ${String(port)}${path}: some answers were not 2xx:\n${stdout}`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN), requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? Number.NaN) };
}

/**
 * Warms a target the same way for every target: 1-second wrk rounds until two in a row agree within
 * 5 % (after at least three), or 20 rounds. A Node.js process runs its first ~15,000 requests in
 * code its JIT is still compiling on the same core (perf: compile 9 % of the CPU in the first
 * 3 seconds, 0.1 % by the third round), so a fixed short warm-up measures a cold process for the
 * Node targets and not for nginx. Returns the rounds' rates.
 */
async function warm(port: number, path: string, token: string): Promise<number[]> {
  const rates: number[] = [];
  for (let i = 0; i < WARM_MAX_ROUNDS; i++) {
    rates.push((await wrkRun(port, path, token, 1)).rps);
    const [a, b] = rates.slice(-2);
    if (rates.length >= 3 && a !== undefined && b !== undefined && Math.abs(a - b) <= 0.05 * Math.max(a, b)) break;
  }
  return rates;
}

/** A target of a comparison: its port, and the processes whose CPU per request is counted. */
interface Target {
  port: number;
  /** Its own path, instead of the comparison's. */
  path?: string;
  watch?: Record<string, number>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
};

/**
 * wrk with 32 connections on the load core against several targets: each is warmed (`warm`), then
 * the targets are measured in turn, round after round, and each figure is the median of its rounds.
 * This machine's rate drifts by a third from one 3-second run to the next even for the bare
 * pass-through (182–282 µs per GET over ten runs in one process), so targets measured one after the
 * other would compare different moments; interleaved rounds compare the same ones.
 */
async function compare<K extends string>(targets: Record<K, Target>, path: string, token: string): Promise<Record<K, Rate>> {
  const names = Object.keys(targets) as K[];
  const warmups = {} as Record<K, number[]>;
  for (const name of names) warmups[name] = await warm(targets[name].port, targets[name].path ?? path, token);
  const rounds = Object.fromEntries(names.map((name) => [name, [] as Array<{ rps: number; cpu: Record<string, number> }>])) as Record<K, Array<{ rps: number; cpu: Record<string, number> }>>;
  for (let round = 0; round < MEASURE_ROUNDS; round++) {
    for (const name of names) {
      const watch = targets[name].watch ?? {};
      const before = await Promise.all(Object.values(watch).map(cpuMicros));
      const { rps, requests } = await wrkRun(targets[name].port, targets[name].path ?? path, token, MEASURE_S);
      const after = await Promise.all(Object.values(watch).map(cpuMicros));
      rounds[name].push({ rps, cpu: Object.fromEntries(Object.keys(watch).map((w, i) => [w, ((after[i] ?? 0) - (before[i] ?? 0)) / requests])) });
    }
  }
  return Object.fromEntries(names.map((name) => {
    const measured = rounds[name];
    const cpuPerRequest = Object.fromEntries(Object.keys(targets[name].watch ?? {}).map((w) => [w, median(measured.map((m) => m.cpu[w] ?? Number.NaN))]));
    return [name, { rps: median(measured.map((m) => m.rps)), cpuPerRequest, warmup: warmups[name] }];
  })) as Record<K, Rate>;
}

/** Resident and peak resident memory of a process, in MiB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));
const figure = (name: string, value: number, unit: string, baseline: number, baselineName: string, digits = 3): Figure => ({
  name, value: round(value, digits), unit, baseline: round(baseline, digits), ratio: round(value / baseline, 2), baselineName,
});

/** Runs every measurement once; each bench picks its figure. */
async function measureAll(): Promise<Map<string, Figure>> {
  await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-bench-nginx-'));
  // The bundles live inside the repository, as dist/ sits beside node_modules in the image.
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  const bundles = await mkdtemp(join(ROOT, '.cache', 'bench-sidecar-'));
  const children: ChildProcess[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const shipped = await buildShipped(join(bundles, 'dist'));
    // The baseline runs bundled too, with the same Node flags: neither pays for type stripping.
    await build({ entryPoints: [PASSTHROUGH], outfile: join(bundles, 'passthrough.js'), bundle: true, format: 'esm', platform: 'node', target: 'node24', logLevel: 'error' });
    await build({ entryPoints: [TRANSPORT], outfile: join(bundles, 'transport.js'), bundle: true, format: 'esm', platform: 'node', target: 'node24', logLevel: 'error' });
    const upstream = await start(SERVER_CORE, ['upstream']);
    children.push(upstream.process);
    const upstreamUrl = String(upstream.line.upstreamUrl);
    const sizes = upstream.line.sizes as Record<string, number>;
    const broker = await start(LOAD_CORE, ['broker']);
    children.push(broker.process);
    const shippedSidecar = await startShippedSidecar({
      script: shipped, dir: join(dir, 'sidecar'), upstreamUrl, brokerUrl: String(broker.line.brokerUrl), brokerToken: 'bench-broker-token',
      caFile: join(TLS, 'ca.crt'), wrap: ['taskset', '-c', SERVER_CORE], env: { AGENTGATE_LOG_LEVEL: 'error', AGENTGATE_SIDECAR_DECISION_CACHE_TTL: '5m' },
    });
    stops.push(() => shippedSidecar.stop());
    const sidecar = { process: shippedSidecar.process, readyMs: shippedSidecar.readyMs, line: { token: shippedSidecar.token, port: shippedSidecar.apiPort } };
    const passthrough = await start(SERVER_CORE, [upstreamUrl, TLS], join(bundles, 'passthrough.js'));
    children.push(passthrough.process);
    const transport = await start(SERVER_CORE, [upstreamUrl, TLS], join(bundles, 'transport.js'));
    children.push(transport.process);
    const nginxPort = await freePort();
    const nginx = await startNginx(dir, upstreamUrl, nginxPort);
    children.push(nginx);
    const token = String(sidecar.line.token);
    const ports = { direct: Number(new URL(upstreamUrl).port), sidecar: Number(sidecar.line.port), nginx: nginxPort, passthrough: Number(passthrough.line.port), transport: Number(transport.line.port) };
    const idle = { sidecar: await memory(sidecar.process.pid ?? 0), passthrough: await memory(passthrough.process.pid ?? 0) };

    // One client in series, targets interleaved round by round so each sees the same machine: first
    // cold (the processes have served nothing yet), then again once every target is warm.
    type Series = Record<'direct' | 'sidecar' | 'sidecarChanging' | 'nginx', { p50: number; p99: number }>;
    // The cold series leaves out the changing pod, so that "cold" means the 3,000 requests of the unchanged one only.
    const series = async (changing: boolean): Promise<Series> => {
      const targets = [{ name: 'direct', port: ports.direct }, { name: 'sidecar', port: ports.sidecar }, ...(changing ? [{ name: 'sidecarChanging', port: ports.sidecar, path: BENCH_PATHS.getChanging }] : []), { name: 'nginx', port: ports.nginx }];
      const client = await start(LOAD_CORE, ['client', JSON.stringify({ targets, path: BENCH_PATHS.get, token, rounds: 10, perRound: 300 })]);
      return client.line as Series;
    };
    const coldLatencies = await series(false);
    // 32 connections on the sidecar still cold (3,000 requests served), before any warm-up.
    const coldGet = await wrkRun(ports.sidecar, BENCH_PATHS.get, token, 3);

    // CPU per request of each proxy and of the upstream behind it: the throughput ratio's why.
    const upstreamPid = upstream.process.pid ?? 0;
    const nginxWorker = Number((await run('pgrep', ['-P', String(nginx.pid ?? 0)])).stdout.trim().split('\n')[0]);
    const gets = await compare({
      sidecar: { port: ports.sidecar, watch: { proxy: sidecar.process.pid ?? 0, upstream: upstreamPid } },
      sidecarChanging: { port: ports.sidecar, path: BENCH_PATHS.getChanging, watch: { proxy: sidecar.process.pid ?? 0, upstream: upstreamPid } },
      nginx: { port: ports.nginx, watch: { proxy: nginxWorker, upstream: upstreamPid } },
      passthrough: { port: ports.passthrough, watch: { proxy: passthrough.process.pid ?? 0, upstream: upstreamPid } },
      transport: { port: ports.transport, watch: { proxy: transport.process.pid ?? 0, upstream: upstreamPid } },
    }, BENCH_PATHS.get, token);
    const latencies = await series(true);
    const p = (name: keyof Series, q: 50 | 99, from = latencies): number => from[name][q === 50 ? 'p50' : 'p99'];
    const pods = await compare({ sidecar: { port: ports.sidecar }, nginx: { port: ports.nginx }, passthrough: { port: ports.passthrough } }, BENCH_PATHS.pods, token);
    // The pass-through serves the same loads, so its peak memory covers what the sidecar's does.
    const secrets = await compare({ sidecar: { port: ports.sidecar }, passthrough: { port: ports.passthrough } }, BENCH_PATHS.secrets, token);
    const rate = {
      getSidecar: gets.sidecar.rps,
      getNginx: gets.nginx.rps,
      getPassthrough: gets.passthrough.rps,
      podsSidecar: pods.sidecar.rps,
      podsNginx: pods.nginx.rps,
      podsPassthrough: pods.passthrough.rps,
      secretsSidecar: secrets.sidecar.rps,
      secretsPassthrough: secrets.passthrough.rps,
    };
    const loaded = { sidecar: await memory(sidecar.process.pid ?? 0), passthrough: await memory(passthrough.process.pid ?? 0) };
    const secretsMB = (sizes[BENCH_PATHS.secrets] ?? 0) / 1e6;

    const UNCHANGED = 'an unchanged pod, so its masking comes from the mask memo';
    const interleaved = `median of ${MEASURE_ROUNDS} interleaved ${MEASURE_S}-s rounds after a warm-up`;
    const figures: Figure[] = [
      figure('sidecar-get-added-latency-p50', p('sidecar', 50) - p('direct', 50), 'ms', p('nginx', 50) - p('direct', 50), `nginx, added over direct (one client in series; the sidecar: ${UNCHANGED})`),
      figure('sidecar-get-added-latency-p99', p('sidecar', 99) - p('direct', 99), 'ms', p('nginx', 99) - p('direct', 99), `nginx, added over direct (one client in series; the sidecar: ${UNCHANGED})`),
      figure('sidecar-get-added-latency-p50-cold', p('sidecar', 50, coldLatencies) - p('direct', 50, coldLatencies), 'ms', p('nginx', 50, coldLatencies) - p('direct', 50, coldLatencies), `nginx, added over direct (one client in series, before any load; the sidecar: ${UNCHANGED})`),
      figure('sidecar-get-added-latency-p99-cold', p('sidecar', 99, coldLatencies) - p('direct', 99, coldLatencies), 'ms', p('nginx', 99, coldLatencies) - p('direct', 99, coldLatencies), `nginx, added over direct (one client in series, before any load; the sidecar: ${UNCHANGED})`),
      figure('sidecar-get-32c-throughput', rate.getSidecar, 'req/s', rate.getNginx, `nginx, 32 connections, ${interleaved} (the sidecar: ${UNCHANGED}; its 1-s warm-up rounds: ${gets.sidecar.warmup.map((r) => Math.round(r)).join(', ')} req/s)`, 0),
      figure('sidecar-get-changing-added-latency-p50', p('sidecarChanging', 50) - p('direct', 50), 'ms', p('nginx', 50) - p('direct', 50), 'nginx, added over direct (one client in series; the sidecar: a pod new on every read, so never from the mask memo)'),
      figure('sidecar-get-changing-added-latency-p99', p('sidecarChanging', 99) - p('direct', 99), 'ms', p('nginx', 99) - p('direct', 99), 'nginx, added over direct (one client in series; the sidecar: a pod new on every read, so never from the mask memo)'),
      figure('sidecar-get-changing-32c-throughput', gets.sidecarChanging.rps, 'req/s', rate.getNginx, `nginx on the unchanged pod, 32 connections, ${interleaved} (the sidecar: a pod new on every read, so never from the mask memo)`, 0),
      figure('sidecar-get-changing-32c-cpu-per-request', gets.sidecarChanging.cpuPerRequest.proxy ?? Number.NaN, 'µs', gets.nginx.cpuPerRequest.proxy ?? Number.NaN, `nginx worker, CPU per GET at 32 connections (user + system, /proc), ${interleaved}`, 0),
      figure('sidecar-get-32c-throughput-cold', coldGet.rps, 'req/s', rate.getNginx, `nginx, 32 connections, ${interleaved} (the sidecar here: ${UNCHANGED}, its first 3 s of load, after only the 3,000 one-client requests)`, 0),
      figure('node-passthrough-get-32c-throughput', rate.getPassthrough, 'req/s', rate.getNginx, `nginx, 32 connections, ${interleaved}`, 0),
      figure('sidecar-get-32c-cpu-per-request', gets.sidecar.cpuPerRequest.proxy ?? Number.NaN, 'µs', gets.nginx.cpuPerRequest.proxy ?? Number.NaN, `nginx worker, CPU per GET at 32 connections (user + system, /proc), ${interleaved} (the sidecar: ${UNCHANGED})`, 0),
      figure('node-passthrough-get-32c-cpu-per-request', gets.passthrough.cpuPerRequest.proxy ?? Number.NaN, 'µs', gets.nginx.cpuPerRequest.proxy ?? Number.NaN, `nginx worker, CPU per GET at 32 connections (user + system, /proc), ${interleaved}`, 0),
      figure('sidecar-transport-get-32c-throughput', gets.transport.rps, 'req/s', rate.getNginx, `nginx, 32 connections, ${interleaved}`, 0),
      figure('sidecar-transport-get-32c-cpu-per-request', gets.transport.cpuPerRequest.proxy ?? Number.NaN, 'µs', gets.nginx.cpuPerRequest.proxy ?? Number.NaN, `nginx worker, CPU per GET at 32 connections (user + system, /proc), ${interleaved}`, 0),
      figure('sidecar-upstream-get-cpu-per-request', gets.sidecar.cpuPerRequest.upstream ?? Number.NaN, 'µs', gets.nginx.cpuPerRequest.upstream ?? Number.NaN, 'the same upstream behind nginx (it shares the proxies\' core)', 0),
      figure('sidecar-list-100-pods-32c-throughput', rate.podsSidecar, 'req/s', rate.podsNginx, `nginx, 32 connections, ${interleaved}`, 0),
      figure('node-passthrough-list-100-pods-32c-throughput', rate.podsPassthrough, 'req/s', rate.podsNginx, `nginx, 32 connections, ${interleaved}`, 0),
      figure('sidecar-list-100-secrets-masked-32c', rate.secretsSidecar * secretsMB, 'MB/s', rate.secretsPassthrough * secretsMB, `bare Node.js TLS pass-through (unmasked), 32 connections, ${interleaved}`, 1),
      figure('sidecar-rss-idle', idle.sidecar.rss, 'MiB', idle.passthrough.rss, 'bare Node.js TLS pass-through, idle', 1),
      figure('sidecar-rss-peak-under-load', loaded.sidecar.peak, 'MiB', loaded.passthrough.peak, 'bare Node.js TLS pass-through, peak over the same loads (GET, LIST of pods, LIST of Secrets)', 1),
      figure('sidecar-ready', sidecar.readyMs, 'ms', passthrough.readyMs, 'bare Node.js TLS pass-through, spawn to listening (the sidecar: spawn to its first 200 from /readyz)', 0),
    ];
    return new Map(figures.map((f) => [f.name, f]));
  } finally {
    await Promise.all(stops.map((stop) => stop()));
    for (const child of children) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
    await rm(bundles, { recursive: true, force: true });
  }
}

let measured: Promise<Map<string, Figure>> | undefined;

const NAMES = [
  'sidecar-get-added-latency-p50', 'sidecar-get-added-latency-p99', 'sidecar-get-added-latency-p50-cold', 'sidecar-get-added-latency-p99-cold',
  'sidecar-get-changing-added-latency-p50', 'sidecar-get-changing-added-latency-p99', 'sidecar-get-changing-32c-throughput', 'sidecar-get-changing-32c-cpu-per-request',
  'sidecar-get-32c-throughput', 'sidecar-get-32c-throughput-cold', 'node-passthrough-get-32c-throughput',
  'sidecar-get-32c-cpu-per-request', 'node-passthrough-get-32c-cpu-per-request', 'sidecar-transport-get-32c-throughput', 'sidecar-transport-get-32c-cpu-per-request', 'sidecar-upstream-get-cpu-per-request',
  'sidecar-list-100-pods-32c-throughput', 'node-passthrough-list-100-pods-32c-throughput', 'sidecar-list-100-secrets-masked-32c', 'sidecar-rss-idle', 'sidecar-rss-peak-under-load', 'sidecar-ready',
] as const;

/** The sidecar's figures, all from one measurement run (the first bench run starts it). */
export const sidecarBenches: Bench[] = NAMES.map((name) => ({
  name,
  async run() {
    measured ??= measureAll();
    const found = (await measured).get(name);
    if (found === undefined) throw new Error(`no figure ${name}`);
    return found;
  },
}));
