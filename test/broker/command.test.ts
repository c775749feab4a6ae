// `agentgate broker` through the CLI: it starts with the broker role's configuration, sweeps the
// cluster objects of grants that ended while no broker ran, serves until its signal, and refuses
// configurations it cannot run with (exit 78, naming the field).
import test from 'ava';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.ts';
import { GRANT_LABEL } from '../../src/broker/credentials/tokenrequest.ts';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { startRedis, freePort, type RedisServer } from '../helpers/redis.ts';
import { AGENTGATE_NS, until } from './harness.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
let kube: KubeApiServer;
let redis: RedisServer;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-broker-cli-'));
  kube = await createKubeApiServer({
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENTGATE_NS } },
      // What a grant left behind while no broker ran: its grant is long gone from Redis.
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agentgate-grant-g-leftover', namespace: AGENTGATE_NS, labels: { [GRANT_LABEL]: 'g-leftover' } } },
    ],
  });
  redis = await startRedis();
});
test.after.always(async () => {
  await redis?.close();
  await kube?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(port: number): Record<string, string> {
  return {
    AGENTGATE_BROKER_REDIS_URL: redis.url,
    AGENTGATE_BROKER_TLS_CERT_FILE: join(TLS, 'server.crt'),
    AGENTGATE_BROKER_TLS_KEY_FILE: join(TLS, 'server.key'),
    AGENTGATE_BROKER_LISTEN_HOST: '127.0.0.1',
    AGENTGATE_BROKER_LISTEN_PORT: String(port),
    AGENTGATE_BROKER_POLICY_FILE: join(dir, 'absent-policy.yaml'),
    AGENTGATE_CONNECTION_SERVER: kube.url,
    AGENTGATE_LOG_LEVEL: 'silent',
  };
}

const healthz = (port: number): Promise<number> => new Promise((resolve) => {
  https.get(`https://127.0.0.1:${port}/readyz`, { ca: kube.caPem }, (res) => {
    res.resume();
    resolve(res.statusCode ?? 0);
  }).on('error', () => resolve(0));
});

test('agentgate broker serves until its signal, after sweeping what expired grants left', async (t) => {
  const kubeconfig = join(dir, 'broker.kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  const port = await freePort();
  const stop = new AbortController();
  let err = '';
  const running = runCli(['broker', '--kubeconfig', kubeconfig], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: env(port), signal: stop.signal });
  await until(async () => (await healthz(port)) === 200, 10_000, 'the broker ready (default policy, Redis)');
  await until(() => kube.objects.get('serviceaccounts', AGENTGATE_NS, 'agentgate-grant-g-leftover') === undefined, 5000, 'the leftover swept');
  stop.abort();
  t.is(await running, 0, err);
  t.is(await healthz(port), 0, 'the listener is closed');
});

test('configurations the broker cannot run with exit 78 and name the field', async (t) => {
  const rows: Array<{ name: string; args: string[]; env: Record<string, string>; message: RegExp }> = [
    { name: 'an unreadable kubeconfig', args: ['--kubeconfig', '/nonexistent/kubeconfig'], env: {}, message: /--kubeconfig \/nonexistent\/kubeconfig cannot be read \(ENOENT\)/ },
    { name: 'an unreadable TLS certificate', args: [], env: { AGENTGATE_BROKER_TLS_CERT_FILE: '/nonexistent/tls.crt' }, message: /broker\.tls\.certFile: \/nonexistent\/tls\.crt cannot be read \(ENOENT\)/ },
    { name: 'both TLS files unreadable: both named', args: [], env: { AGENTGATE_BROKER_TLS_CERT_FILE: '/nonexistent/tls.crt', AGENTGATE_BROKER_TLS_KEY_FILE: '/nonexistent/tls.key' }, message: /broker\.tls\.certFile: \/nonexistent\/tls\.crt cannot be read \(ENOENT\); broker\.tls\.keyFile: \/nonexistent\/tls\.key cannot be read \(ENOENT\)/ },
    { name: 'outside a pod without --kubeconfig', args: [], env: {}, message: /not running in a pod .*pass --kubeconfig FILE/ },
    { name: 'eks mode without the role to assume', args: [], env: { AGENTGATE_CONNECTION_MODE: 'eks', AGENTGATE_CONNECTION_REGION: 'eu-west-1', AGENTGATE_CONNECTION_CLUSTER_NAME: 'prod' }, message: /connection\.roleArn.*required when connection\.mode is eks/ },
    { name: 'eks mode with a username template outside the webhook\'s grant prefix', args: [], env: { AGENTGATE_CONNECTION_MODE: 'eks', AGENTGATE_CONNECTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/agentgate', AGENTGATE_CONNECTION_REGION: 'eu-west-1', AGENTGATE_CONNECTION_CLUSTER_NAME: 'prod', AGENTGATE_CONNECTION_EKS_USERNAME_TEMPLATE: 'eks:{{SessionName}}' }, message: /connection\.eksUsernameTemplate: eks:\{\{SessionName\}\} renders users such as eks:g-0, outside webhook\.eksSessionPrefix \(agentgate:grant:\)/ },
  ];
  for (const row of rows) {
    let err = '';
    const code = await runCli(['broker', ...row.args], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: { ...env(await freePort()), ...row.env } });
    t.is(code, 78, `${row.name}: ${err}`);
    t.regex(err, row.message, row.name);
  }
});

test('operator commands check their arguments before calling anything', async (t) => {
  const rows: Array<[string, string[], RegExp]> = [
    ['revoke with neither an id nor --all', ['revoke'], /name one grant, or --all/],
    ['revoke with both', ['revoke', 'g-1', '--all'], /name one grant, or --all/],
    ['revoke --agent without --all', ['revoke', 'g-1', '--agent', 'a'], /go with --all/],
    ['request without --reason', ['request', '--agent', 'a', '--namespace', 'n', '--verbs', 'get', '--resources', 'pods', '--duration', '30m'], /--reason is required/],
  ];
  for (const [name, args, message] of rows) {
    let err = '';
    const code = await runCli(args, { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: {} });
    t.is(code, 2, name);
    t.regex(err, message, name);
  }
});
