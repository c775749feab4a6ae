/**
 * Admission latency over HTTPS with keep-alive at 200 admissions/s (open loop: requests are sent
 * on schedule whether or not earlier ones answered), for a typical pod and a 64 KB pod spec: p50,
 * p99 and RSS. The baseline is the same server in the same run answering a bare allow (the same
 * review for a pod in a namespace not labelled for injection: decoded and looked up, not injected).
 * The server runs in a child process (this module run with `--serve`), so the load generator
 * takes no CPU from it and RSS is the server's alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { startWebhookServer } from '../../webhook/server.ts';
import { lookups, options, readRequest } from '../webhook/fixtures.ts';
import type { Bench, Figure } from './measure.ts';

const RATE = 200;
const DURATION_MS = 5000;
const WARMUP_MS = 1000;
const tls = new URL('../fixtures/tls/', import.meta.url);

type Review = { request: { namespace: string; object: { metadata: { namespace: string }; spec: { containers: { env?: { name: string; value: string }[] }[] } } } };

/** The bare-pod golden review, moved to `namespace`, its first container's env grown to `bytes`. */
async function review(namespace: string, bytes: number): Promise<string> {
  const base = structuredClone(await readRequest('bare-pod')) as Review;
  base.request.namespace = namespace;
  base.request.object.metadata.namespace = namespace;
  const container = base.request.object.spec.containers[0];
  if (container) {
    container.env ??= [];
    for (let i = 0; JSON.stringify(base).length < bytes; i++) container.env.push({ name: `SETTING_${i}`, value: 'x'.repeat(100) });
  }
  return JSON.stringify(base);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Latencies (ms) of reviews sent at RATE per second for DURATION_MS, after a warm-up. */
async function load(server: { port: number }, body: string, ca: Buffer): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca, servername: 'localhost' });
  const send = (): Promise<number> => new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request({ host: '127.0.0.1', port: server.port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  const run = async (ms: number): Promise<number[]> => {
    const pending: Promise<number>[] = [];
    const begin = performance.now();
    for (let i = 0; i < (ms * RATE) / 1000; i++) {
      const due = begin + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(send());
    }
    return Promise.all(pending);
  };
  await run(WARMUP_MS);
  const latencies = await run(DURATION_MS);
  agent.destroy();
  return latencies.sort((a, b) => a - b);
}

interface Measured {
  typical: { p50: number; p99: number; baseP50: number; baseP99: number };
  large: { p50: number; p99: number; baseP50: number; baseP99: number };
  rssMiB: number;
  baseRssMiB: number;
}

/** The child: serves until its parent disconnects, answers `rss` messages with its RSS in MiB. */
async function serve(): Promise<void> {
  const [cert, key] = await Promise.all(['server.crt', 'server.key'].map((f) => readFile(new URL(f, tls))));
  const server = await startWebhookServer({ cert: cert as Buffer, key: key as Buffer, host: '127.0.0.1', port: 0, inject: options, lookups });
  process.on('message', (message) => {
    if (message === 'rss') process.send?.({ rss: process.memoryUsage().rss / (1024 * 1024) });
  });
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
  process.send?.({ port: server.port });
}

async function ask<T>(child: ChildProcess, key: string, message?: string): Promise<T> {
  const answer = new Promise<T>((resolve) => {
    const listen = (m: unknown): void => {
      if (typeof m === 'object' && m !== null && key in m) {
        child.off('message', listen);
        resolve((m as Record<string, T>)[key] as T);
      }
    };
    child.on('message', listen);
  });
  if (message) child.send(message);
  return answer;
}

async function measureAll(): Promise<Measured> {
  const ca = await readFile(new URL('ca.crt', tls));
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--disable-warning=ExperimentalWarning'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const server = { port: await ask<number>(child, 'port') };
    const bodies = { typical: await review('agents', 0), large: await review('agents', 64 * 1024) };
    const bare = { typical: await review('plain', 0), large: await review('plain', 64 * 1024) };
    // Baselines first, so the baseline RSS is not inflated by the injection runs.
    const baseTypical = await load(server, bare.typical, ca);
    const baseLarge = await load(server, bare.large, ca);
    const baseRssMiB = await ask<number>(child, 'rss', 'rss');
    const typical = await load(server, bodies.typical, ca);
    const large = await load(server, bodies.large, ca);
    const rssMiB = await ask<number>(child, 'rss', 'rss');
    return {
      rssMiB, baseRssMiB,
      typical: { p50: percentile(typical, 50), p99: percentile(typical, 99), baseP50: percentile(baseTypical, 50), baseP99: percentile(baseTypical, 99) },
      large: { p50: percentile(large, 50), p99: percentile(large, 99), baseP50: percentile(baseLarge, 50), baseP99: percentile(baseLarge, 99) },
    };
  } finally {
    child.disconnect();
    await once(child, 'exit');
  }
}

if (process.argv.includes('--serve') && process.argv[1] === fileURLToPath(import.meta.url)) await serve();

let measured: Promise<Measured> | undefined;
const measuredOnce = (): Promise<Measured> => (measured ??= measureAll());

function figure(name: string, value: number, baseline: number, unit: string, baselineName: string): Figure {
  const round = (n: number): number => Number(n.toFixed(3));
  return { name, value: round(value), unit, baseline: round(baseline), ratio: Number((value / baseline).toFixed(2)), baselineName };
}

const bareAllow = 'same HTTPS server answering a bare allow';

/** One figure per number; all from one measurement run (the first bench run triggers it). */
export const webhookBenches: Bench[] = [
  { name: 'webhook-typical-pod-p50', run: async () => { const m = await measuredOnce(); return figure('webhook-typical-pod-p50', m.typical.p50, m.typical.baseP50, 'ms', bareAllow); } },
  { name: 'webhook-typical-pod-p99', run: async () => { const m = await measuredOnce(); return figure('webhook-typical-pod-p99', m.typical.p99, m.typical.baseP99, 'ms', bareAllow); } },
  { name: 'webhook-64k-pod-p50', run: async () => { const m = await measuredOnce(); return figure('webhook-64k-pod-p50', m.large.p50, m.large.baseP50, 'ms', bareAllow); } },
  { name: 'webhook-64k-pod-p99', run: async () => { const m = await measuredOnce(); return figure('webhook-64k-pod-p99', m.large.p99, m.large.baseP99, 'ms', bareAllow); } },
  { name: 'webhook-rss', run: async () => { const m = await measuredOnce(); return figure('webhook-rss', m.rssMiB, m.baseRssMiB, 'MiB', `RSS after the ${bareAllow} runs`); } },
];

/** The first webhook figure, for a benches list that takes one Bench per module. */
export const webhookBench: Bench = webhookBenches[0] as Bench;
