/**
 * A real `redis-server` for tests: each test file that needs Redis starts its own on a free
 * loopback port, in its own temporary directory, and stops it at the end. No mock of Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** The server's working directory (AOF files live here). */
  dir: string;
  /** Stop the server (SIGTERM, then wait for exit). */
  stop(): Promise<void>;
  /** Stop and start again on the same port and directory: with `persistent`, data survives. */
  restart(): Promise<void>;
  /** Stop and remove the directory. */
  close(): Promise<void>;
}

/** Options for startRedis. */
export interface RedisOptions {
  /** AOF with `appendfsync always`, for tests that restart the server and expect their data back. */
  persistent?: boolean;
  /** Milliseconds to wait for the server to answer PING. */
  startTimeoutMs?: number;
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// ava runs every test file in its own process. Each process takes ports from a block of its own
// (by pid), outside the kernel's ephemeral range, so a server restarted on its port cannot lose
// it to a server another file starts in the moment the port is free.
const BLOCK = 16;
const blockBase = 20_000 + (process.pid % 750) * BLOCK; // 20000-31999: below 32768
let nextInBlock = 0;

/** A free TCP port on 127.0.0.1 from this process's own block (released before redis binds it). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BLOCK; tried++) {
    const port = blockBase + (nextInBlock++ % BLOCK);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in 127.0.0.1:${blockBase}-${blockBase + BLOCK - 1}`);
}

/** Resolve when `PING` answers `+PONG`, or reject at the deadline. */
async function waitForPing(port: number, deadline: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} before it answered`);
    const answered = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')); });
      socket.once('error', () => { socket.destroy(); resolve(false); });
      socket.once('timeout', () => { socket.destroy(); resolve(false); });
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Start a redis-server. Fails with a clear message when the binary is missing. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async (): Promise<void> => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no',
      '--protected-mode', 'yes', '--loglevel', 'warning', '--logfile', '',
      '--appendonly', options.persistent ? 'yes' : 'no',
      ...(options.persistent ? ['--appendfsync', 'always'] : []),
    ];
    const started = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    started.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await new Promise<void>((resolve, reject) => {
      started.once('spawn', () => resolve());
      started.once('error', (error) => reject(new Error(`cannot start redis-server (is it installed? .ci/run installs it): ${error.message}`)));
    });
    child = started;
    await waitForPing(port, Date.now() + (options.startTimeoutMs ?? 10_000), started).catch((error: Error) => {
      started.kill('SIGKILL');
      throw new Error(`${error.message}\n${stderr}`);
    });
  };

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  // A port picked by freePort can be taken before redis binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    restart: async () => { await stop(); await launch(); },
    close: async () => { await stop(); await rm(dir, { recursive: true, force: true }); },
  };
}
