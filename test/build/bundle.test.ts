// The production bundle (scripts/build.ts), run as the image runs it: it builds without a warning,
// holds no test code, its CLI answers, every role's code loads, and the bundled sidecar serves a
// request end to end (authenticate, decide through the broker double, forward, mask, audit).
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { createBrokerDouble } from '../doubles/broker/server.ts';
import { freePort } from '../helpers/redis.ts';
import { buildShipped, shippedArgs, startShippedSidecar } from '../helpers/shipped.ts';
import { startScriptedUpstream } from '../sidecar/upstream.ts';
import { startCluster } from '../webhook/service-harness.ts';
import { ROLE_NODE_OPTIONS } from '../../src/contracts/runtime.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const CA = join(TLS, 'ca.crt');
const MARKER_B64 = Buffer.from('agentgate-masked-data').toString('base64');

let built: Promise<{ dir: string; script: string }> | undefined;
function bundle(): Promise<{ dir: string; script: string }> {
  built ??= (async () => {
    // Inside the repository, as dist/ sits beside node_modules in the image: the broker's packages stay outside the bundle.
    await mkdir(join(root, '.cache'), { recursive: true });
    const dir = await mkdtemp(join(root, '.cache', 'bundle-'));
    return { dir, script: await buildShipped(join(dir, 'dist')) };
  })();
  return built;
}
test.after.always(async () => {
  if (built) await rm((await built).dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

test('the bundle builds without warnings and holds no test code', async (t) => {
  const { dir } = await bundle();
  const files = (await readdir(join(dir, 'dist'))).filter((f) => f.endsWith('.js'));
  t.true(files.includes('agentgate.js'));
  const leaks: string[] = [];
  for (const file of files) {
    const text = await readFile(join(dir, 'dist', file), 'utf8');
    // esbuild heads each bundled module with a comment naming its path.
    if (/^\/\/ test\//m.test(text) || /from "ava"/.test(text)) leaks.push(file);
  }
  t.deepEqual(leaks, []);
});

test('the bundled CLI answers --help and version with the image\'s Node flags', async (t) => {
  const { script } = await bundle();
  const help = await run(await shippedArgs(script, ['--help']));
  t.is(help.code, 0, help.stderr);
  for (const command of ['webhook', 'sidecar', 'broker', 'policy']) t.regex(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
  const version = await run(await shippedArgs(script, ['version']));
  t.is(version.code, 0, version.stderr);
  t.regex(version.stdout, /^agentgate \d+\.\d+\.\d+/);
});

test('every role of the bundle loads its code and reports what it cannot start with', async (t) => {
  const { script } = await bundle();
  const none = '/nonexistent';
  // Past the configuration schema, so each role's own chunk is loaded and checks its files.
  const sidecar = await run(await shippedArgs(script, ['sidecar']), { AGENTGATE_SIDECAR_BROKER_URL: 'https://127.0.0.1:1' });
  t.is(sidecar.code, 78, sidecar.stderr);
  t.regex(sidecar.stderr, /pod\.uid: missing/);
  t.regex(sidecar.stderr, /sidecar\.upstream\.caFile: cannot read/);
  const webhook = await run(await shippedArgs(script, ['webhook']), {
    NODE_OPTIONS: ROLE_NODE_OPTIONS.webhook,
    AGENTGATE_WEBHOOK_SIDECAR_IMAGE: 'agentgate:dev', AGENTGATE_WEBHOOK_KUBECONFIG: `${none}/kubeconfig`, AGENTGATE_WEBHOOK_TLS_CERT_FILE: `${none}/tls.crt`,
    AGENTGATE_WEBHOOK_TLS_KEY_FILE: `${none}/tls.key`, AGENTGATE_WEBHOOK_LEADER_ELECTION: 'false',
  });
  t.is(webhook.code, 1, webhook.stderr);
  t.regex(webhook.stderr, /nonexistent\/kubeconfig/);
  const broker = await run(await shippedArgs(script, ['broker']), {
    AGENTGATE_BROKER_REDIS_URL: 'redis://127.0.0.1:1', AGENTGATE_BROKER_TLS_CERT_FILE: `${none}/tls.crt`, AGENTGATE_BROKER_TLS_KEY_FILE: `${none}/tls.key`,
    AGENTGATE_BROKER_POLICY_FILE: `${none}/policy.yaml`,
  });
  t.is(broker.code, 78, broker.stderr);
  t.regex(broker.stderr, /broker\.tls\.(certFile|keyFile): \/nonexistent\/tls\.(crt|key) cannot be read \(ENOENT\)/);
});

test('the bundled sidecar serves a request: decided by the broker, forwarded, masked and audited', async (t) => {
  const { script, dir } = await bundle();
  const upstream = await startScriptedUpstream();
  t.teardown(() => upstream.close());
  upstream.respond = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'default' }, data: { password: Buffer.from('hunter2').toString('base64') } }));
  };
  const broker = await createBrokerDouble({ token: 'bundle-broker-token' });
  t.teardown(() => broker.close());
  broker.addGrant({ id: 'g-bundle', rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], namespaces: ['default'], token: 'bundle-grant-token' });
  broker.table.push({ name: 'bundle', when: () => true, outcome: 'allow', grantId: 'g-bundle' });
  const builtins = join(dir, 'sidecar-builtins.txt');
  const sidecar = await startShippedSidecar({
    script, dir: join(dir, 'sidecar'), upstreamUrl: upstream.url, brokerUrl: broker.url, brokerToken: 'bundle-broker-token', caFile: CA,
    env: { NODE_OPTIONS: `--import ${join(root, 'test/fixtures/record-builtins.mjs')}`, RECORD_BUILTINS_TO: builtins },
  });
  t.teardown(() => sidecar.stop());
  const caPem = await readFile(join(dir, 'sidecar', 'shared', 'ca.crt'));
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: sidecar.apiPort, path: '/api/v1/namespaces/default/secrets/db', ca: caPem, servername: 'localhost', headers: { authorization: `Bearer ${sidecar.token}`, accept: 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
  t.is(answer.status, 200, answer.body);
  t.is((JSON.parse(answer.body) as { data: { password: string } }).data.password, MARKER_B64);
  t.is(upstream.received.length, 1);
  t.is(upstream.received[0]?.headers.authorization, 'Bearer bundle-grant-token', 'forwarded with the grant credential, not the pod token');
  await sidecar.stop();
  t.true(broker.auditBatches.flatMap((b) => b.events).some((e) => e.attributes.resource === 'secrets' && e.response.code === 200), 'the request was audited (flushed at SIGTERM)');
  // What Node loaded for it: an ES import of node:http would have read its lazy exports and loaded
  // undici and http2 (sidecar/node-http.ts), about 5 MiB the sidecar has no use for.
  const loaded = (await readFile(builtins, 'utf8')).split('\n');
  t.true(loaded.includes('NativeModule https'), 'the record lists the modules the sidecar used');
  t.deepEqual(loaded.filter((m) => /^NativeModule (internal\/deps\/undici\/undici|http2)$/.test(m)), []);
});

test('the bundled webhook, on its container\'s NODE_OPTIONS, bootstraps its TLS, serves and admits a pod with the sidecar patch', async (t) => {
  const { script, dir } = await bundle();
  const cluster = await startCluster();
  t.teardown(() => cluster.close());
  const namespaces = [{ name: 'agents', labels: { 'agentgate.io/inject': 'enabled' } }, { name: 'agentgate-system' }].map((metadata) => JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata }));
  const ns = await cluster.run('1.33', ['apply', '-f', '-'], namespaces.join('\n---\n'));
  t.is(ns.code, 0, ns.stderr);
  const port = await freePort();
  // No certificate files: the webhook makes its CA and serving certificate and keeps them in a Secret.
  const child = spawn(process.execPath, await shippedArgs(script, ['webhook']), {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '', NODE_OPTIONS: ROLE_NODE_OPTIONS.webhook, AGENTGATE_LOG_LEVEL: 'info',
      AGENTGATE_WEBHOOK_SIDECAR_IMAGE: 'ghcr.io/agentgate/agentgate:0.1.0', AGENTGATE_WEBHOOK_KUBECONFIG: cluster.kubeconfig,
      AGENTGATE_WEBHOOK_LISTEN_HOST: '127.0.0.1', AGENTGATE_WEBHOOK_LISTEN_PORT: String(port), AGENTGATE_WEBHOOK_LEADER_ELECTION: 'false',
    },
  });
  // Its log (stdout) and its reports (stderr), both shown when it fails.
  let stderr = '';
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    stderr += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => void child.kill('SIGKILL'));
  const secretCa = async (): Promise<Buffer | undefined> => {
    const got = await cluster.run('1.33', ['get', 'secret', 'agentgate-webhook-tls', '-n', 'agentgate-system', '-o', 'jsonpath={.data.ca\\.crt}']);
    return got.code === 0 && got.stdout.length > 0 ? Buffer.from(got.stdout, 'base64') : undefined;
  };
  let ca: Buffer | undefined;
  const post = (path: string, body: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: path === '/healthz' ? 'GET' : 'POST', ca, servername: 'agentgate-webhook.agentgate-system.svc', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the bundled webhook exited with ${child.exitCode}: ${stderr}`);
    ca ??= await secretCa();
    // Verified against the CA the webhook put in its Secret, for the name the API server dials.
    const health = ca === undefined ? undefined : await post('/healthz', '').catch(() => undefined);
    if (health?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`the bundled webhook did not answer /healthz within 15 s (its Secret ${ca === undefined ? 'was not made' : 'holds a CA'}): ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const review = await readFile(new URL('../webhook/golden/bare-pod.request.json', import.meta.url), 'utf8');
  const answer = await post('/mutate', review);
  t.is(answer.status, 200, answer.body);
  const response = (JSON.parse(answer.body) as { response: { allowed: boolean; patchType?: string; patch?: string } }).response;
  t.true(response.allowed, answer.body);
  t.is(response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as Array<{ path: string; value?: unknown }>;
  t.true(patch.some((op) => op.path === '/spec/serviceAccountName' && op.value === 'agentgate-agent'), 'the zero-permission account');
  t.true(patch.some((op) => op.path.startsWith('/spec/initContainers') && JSON.stringify(op.value).includes('"restartPolicy":"Always"')), 'the native sidecar');
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
  // Its log: JSON lines, each naming its component once (a repeated key is invalid for many log pipelines).
  const lines = stdout.split('\n').filter(Boolean);
  t.true(lines.length > 0, 'the webhook logged at info');
  for (const line of lines) t.is(line.match(/"component":/g)?.length, 1, line);
});
