// `agentgate sidecar` through the CLI dispatcher: a configuration it cannot run with exits 78 and
// names every problem; an unreachable broker at start is printed, requests fail closed (503), and
// SIGTERM flushes the audit of those requests to the spool before it exits 0; and
// sidecar.masking.memo switches the mask memo off.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { runCli } from '../../src/cli/run.ts';

const CA = fileURLToPath(new URL('../fixtures/tls/ca.crt', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** The environment of a sidecar in `dir` whose broker would be at `brokerPort` (nothing listens there). */
function sidecarEnv(dir: string, brokerPort: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AGENTGATE_LOG_LEVEL: 'silent',
    AGENTGATE_SIDECAR_BROKER_URL: `https://127.0.0.1:${brokerPort}`,
    AGENTGATE_SIDECAR_BROKER_CA_FILE: CA,
    AGENTGATE_SIDECAR_BROKER_TOKEN_PATH: join(dir, 'broker-token'),
    AGENTGATE_SIDECAR_BROKER_TIMEOUT: '500ms',
    AGENTGATE_SIDECAR_UPSTREAM_URL: 'https://127.0.0.1:1',
    AGENTGATE_SIDECAR_UPSTREAM_CA_FILE: CA,
    AGENTGATE_SIDECAR_SHARED_DIR: join(dir, 'shared'),
    AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR: join(dir, 'spool'),
    AGENTGATE_SIDECAR_HEALTH_HOST: '127.0.0.1',
    AGENTGATE_POD_NAMESPACE: 'agents',
    AGENTGATE_POD_UID: '0f4e7a52-5b1c-4d8e-9a3f-2c6d8e1f0a7b',
    AGENTGATE_POD_NAME: 'agent-0',
    ...extra,
  };
}

/** `agentgate sidecar` through the CLI in a fresh directory, its broker unreachable; `stop` ends it (SIGTERM). */
async function startCliSidecar(t: ExecutionContext, extra: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-cli-sidecar-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'shared'));
  await writeFile(join(dir, 'broker-token'), 'projected\n');
  const [apiPort, healthPort, brokerPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const output = { stderr: '' };
  const exited = runCli(['sidecar', '--sidecar.api.port', String(apiPort), '--sidecar.health.port', String(healthPort)], {
    stdout: { write: () => true },
    stderr: { write: (text: string) => (output.stderr += text) },
    signal: stop.signal,
    env: sidecarEnv(dir, brokerPort, extra),
  });
  return { dir, apiPort, healthPort, brokerPort, output, exited, stop: () => stop.abort() };
}

test('a sidecar configuration that cannot run exits 78 and names every problem at once', async (t) => {
  let stderr = '';
  const code = await runCli(['sidecar'], {
    stdout: { write: () => true },
    stderr: { write: (text: string) => (stderr += text) },
    env: {
      AGENTGATE_LOG_LEVEL: 'silent',
      AGENTGATE_SIDECAR_BROKER_URL: 'https://broker.agentgate-system.svc:8443',
      AGENTGATE_SIDECAR_UPSTREAM_CA_FILE: '/nonexistent/ca.crt',
      AGENTGATE_SIDECAR_BROKER_TOKEN_PATH: '/nonexistent/token',
      AGENTGATE_SIDECAR_SHARED_DIR: '/nonexistent/shared',
      AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR: '/dev/null/spool',
      AGENTGATE_SIDECAR_MASKING_DISABLED_PATTERNS: 'jwt,no-such-pattern',
    },
  });
  t.is(code, 78);
  const lines = stderr.split('\n');
  t.is(lines[0], 'agentgate sidecar: cannot start with this configuration (7 problems):');
  t.deepEqual(lines.slice(1, -1).map((l) => l.trim().split(':')[0]), [
    'pod.uid', 'pod.namespace', 'sidecar.masking.disabledPatterns', 'sidecar.upstream.caFile', 'sidecar.brokerTokenPath', 'sidecar.sharedDir', 'sidecar.audit.spoolDir',
  ]);
  t.true(stderr.includes("  pod.uid: missing; expected the pod's uid (AGENTGATE_POD_UID, which the webhook sets from metadata.uid)\n"), stderr);
  t.true(stderr.includes('  sidecar.upstream.caFile: cannot read "/nonexistent/ca.crt" (ENOENT); expected the API server\'s CA bundle\n'), stderr);
  t.true(stderr.includes('  sidecar.masking.disabledPatterns: got ["no-such-pattern"]; expected names among aws-access-key-id,'), stderr);
});

test('an unreachable broker at start is printed, requests fail closed, and SIGTERM spools their audit', async (t) => {
  const { dir, apiPort, brokerPort, output, exited, stop } = await startCliSidecar(t);
  const deadline = Date.now() + 15_000;
  while (!output.stderr.includes('cannot be reached') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(output.stderr, `agentgate sidecar: the broker at https://127.0.0.1:${brokerPort} cannot be reached (ECONNREFUSED); the agent's requests are refused with 503 until it answers; still trying\n`);

  // The agent's call fails closed, in kubectl's terms.
  const token = (await readFile(join(dir, 'shared', 'token'), 'utf8')).trim();
  const ca = await readFile(join(dir, 'shared', 'ca.crt'), 'utf8');
  const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: apiPort, path: '/api/v1/namespaces/agents/pods', ca, servername: 'localhost', headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(reply.status, 503);
  t.regex((JSON.parse(reply.body) as { message: string }).message, /^agentgate: the broker cannot be reached, so no decision could be made; retry shortly: ECONNREFUSED/);

  stop();
  t.is(await exited, 0);
  // The refused request's audit event did not reach the broker: it waits in the spool for the next start.
  const spooled = (await readdir(join(dir, 'spool'))).filter((name) => name.endsWith('.json'));
  t.is(spooled.length, 1);
  const events = JSON.parse(await readFile(join(dir, 'spool', spooled[0] ?? ''), 'utf8')) as Array<{ identity: { podName?: string }; response: { code: number } }>;
  t.deepEqual(events.map((e) => [e.identity.podName, e.response.code]), [['agent-0', 503]]);
});

test('sidecar.masking.memo: the mask memo is on by default and off when the configuration says false', async (t) => {
  const metricsOf = async (extra: Record<string, string>): Promise<string> => {
    const { healthPort, exited, stop } = await startCliSidecar(t, extra);
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          const answer = await fetch(`http://127.0.0.1:${healthPort}/metrics`);
          if (answer.status === 200) return await answer.text();
        } catch {
          // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error('the sidecar\'s /metrics never answered');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      stop();
      t.is(await exited, 0);
    }
  };
  t.regex(await metricsOf({}), /^agentgate_sidecar_mask_memo_hits_total 0$/m);
  const off = await metricsOf({ AGENTGATE_SIDECAR_MASKING_MEMO: 'false' });
  t.regex(off, /^agentgate_sidecar_held_bytes \d+$/m, 'the metrics are there');
  t.notRegex(off, /mask_memo/, 'but no memo');
});
