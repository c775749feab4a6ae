// Runs the real agentgate CLI (bin/agentgate.js) with the Node running the tests (Node 24), and
// runCli in-process with captured streams for the cases that need no process of their own.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from '../../src/cli/command.ts';
import { commands } from '../../src/cli/commands/index.ts';
import { runCli } from '../../src/cli/run.ts';

const bin = fileURLToPath(new URL('../../bin/agentgate.js', import.meta.url));

/** What one run of the CLI printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

// Each CLI start costs about half a second of CPU; more at once than there are cores only
// makes every one of them slower and risks the timeout.
let running = 0;
const waiting: (() => void)[] = [];
const limit = Math.max(2, availableParallelism());

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs `agentgate ...args` as a process with only `env` (plus PATH) in its environment. */
export function agentgate(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return slot(() => new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  }));
}

/** Runs the same CLI in-process: same dispatcher and table, captured streams. */
export async function agentgateInProcess(args: readonly string[], env: Record<string, string> = {}, extra: readonly Command[] = []): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    commands: [...commands, ...extra],
  });
  return { code, stdout, stderr };
}
