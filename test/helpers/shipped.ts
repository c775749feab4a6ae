// agentgate as the container image runs it: the bundle of scripts/build.ts, started with the
// Node flags of the Dockerfile's ENTRYPOINT. The bundle tests and `npm run bench` use this, so
// what they measure is what ships, not the sources under type stripping.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle } from '../../scripts/build.ts';
import { freePort } from './redis.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The Node flags of the image's ENTRYPOINT (between `node` and the script). */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(`${root}Dockerfile`, 'utf8');
  const line = [...dockerfile.matchAll(/^ENTRYPOINT (\[.*\])$/gm)].at(-1)?.[1];
  if (line === undefined) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const entrypoint = JSON.parse(line) as string[];
  if (entrypoint[0] !== 'node' || entrypoint.at(-1) !== 'dist/agentgate.js') throw new Error(`unexpected ENTRYPOINT ${line}`);
  return entrypoint.slice(1, -1);
}

/** The environment the image's final stage sets (`ENV NAME=value` lines after its last FROM). */
export async function imageEnv(): Promise<Record<string, string>> {
  const dockerfile = await readFile(`${root}Dockerfile`, 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  return Object.fromEntries([...finalStage.matchAll(/^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]));
}

/** Builds the bundle into `outdir`; throws when esbuild warned (a warning there is a broken import). */
export async function buildShipped(outdir: string): Promise<string> {
  const warnings = await buildBundle(outdir);
  if (warnings.length > 0) throw new Error(`the bundle built with warnings:\n${warnings.join('\n')}`);
  return `${outdir}/agentgate.js`;
}

/** The argv (after process.execPath) that runs `agentgate ...args` as the image does. */
export async function shippedArgs(script: string, args: readonly string[]): Promise<string[]> {
  return [...(await imageNodeFlags()), script, ...args];
}

/** A shipped `agentgate sidecar` process, ready (its /readyz answered 200). */
export interface ShippedSidecar {
  process: ChildProcess;
  apiPort: number;
  healthPort: number;
  /** The pod-local token it wrote to the shared dir. */
  token: string;
  /** Spawn to the first 200 from /readyz, as the kubelet's probe would see it. */
  readyMs: number;
  stop(): Promise<void>;
}

/** What the shipped sidecar is pointed at. */
export interface ShippedSidecarOptions {
  script: string;
  dir: string;
  upstreamUrl: string;
  brokerUrl: string;
  brokerToken: string;
  /** CA of both the upstream's and the broker's certificates. */
  caFile: string;
  /** Prepended to the command (e.g. `taskset -c 1`). */
  wrap?: string[];
  env?: Record<string, string>;
}

async function readyz(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200;
  } catch {
    return false;
  }
}

/** Starts the bundle's `agentgate sidecar` with the image's Node flags and waits until it is ready. */
export async function startShippedSidecar(options: ShippedSidecarOptions): Promise<ShippedSidecar> {
  const [apiPort, healthPort] = [await freePort(), await freePort()];
  await mkdir(join(options.dir, 'shared'), { recursive: true });
  await mkdir(join(options.dir, 'spool'), { recursive: true });
  await writeFile(join(options.dir, 'broker-token'), `${options.brokerToken}\n`);
  const argv = [...(options.wrap ?? []), process.execPath, ...(await shippedArgs(options.script, ['sidecar']))];
  const t0 = performance.now();
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      ...(await imageEnv()),
      AGENTGATE_LOG_LEVEL: 'warn',
      AGENTGATE_SIDECAR_API_PORT: String(apiPort),
      AGENTGATE_SIDECAR_HEALTH_HOST: '127.0.0.1',
      AGENTGATE_SIDECAR_HEALTH_PORT: String(healthPort),
      AGENTGATE_SIDECAR_BROKER_URL: options.brokerUrl,
      AGENTGATE_SIDECAR_BROKER_CA_FILE: options.caFile,
      AGENTGATE_SIDECAR_BROKER_TOKEN_PATH: join(options.dir, 'broker-token'),
      AGENTGATE_SIDECAR_UPSTREAM_URL: options.upstreamUrl,
      AGENTGATE_SIDECAR_UPSTREAM_CA_FILE: options.caFile,
      AGENTGATE_SIDECAR_SHARED_DIR: join(options.dir, 'shared'),
      AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR: join(options.dir, 'spool'),
      AGENTGATE_POD_NAMESPACE: 'default',
      AGENTGATE_POD_NAME: 'agent-0',
      AGENTGATE_POD_UID: '0f4e7a52-5b1c-4d8e-9a3f-2c6d8e1f0a7b',
      ...options.env,
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 15_000;
  let readyMs: number;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the shipped sidecar exited with ${child.exitCode} before it was ready:\n${stderr}`);
    if (await readyz(healthPort)) {
      readyMs = performance.now() - t0;
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the shipped sidecar was not ready within 15 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const token = (await readFile(join(options.dir, 'shared', 'token'), 'utf8')).trim();
  return {
    process: child, apiPort, healthPort, token, readyMs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
