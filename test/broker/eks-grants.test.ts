// The broker in EKS mode against a real redis-server, the STS double and the API double (EKS verifier):
// a decision yields a grant whose EKS token opens exactly its scope, and nothing once its bindings are
// gone; tokens are refreshed on the stream before their 15 minutes end; STS refusing fails closed.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { assumeGrantRole, eksToken } from '../../src/broker/credentials/eks.ts';
import { eksUsername, EksGrantCredentials } from '../../src/broker/credentials/eks-grants.ts';
import { GRANT_LABEL, kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { startBroker, type BrokerService, type BrokerServiceOptions } from '../../src/broker/service.ts';
import { envNameOf, loadConfig, type ConfigFor } from '../../src/config/index.ts';
import type { Credential } from '../../src/contracts/index.ts';
import { DEFAULT_POLICY_FILE } from '../../src/policy/index.ts';
import { BrokerClient } from '../../sidecar/broker.ts';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { createEksVerifier } from '../doubles/sts/eks-verifier.ts';
import { stsClientFor } from '../doubles/sts/sdk.ts';
import { createStsServer, type StsServer } from '../doubles/sts/server.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { AGENT_NS, AGENTGATE_NS, attrs, CONNECTION, decide, openStream, until, urlAttrs, type OpenStream } from './harness.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/agentgate-test`;
const UNTRUSTING_ROLE = `arn:aws:iam::${ACCOUNT}:role/agentgate-untrusting`;
const BROKER_USER = `arn:aws:iam::${ACCOUNT}:user/broker`;
const BROKER_KEYS = { accessKeyId: 'AKIAEXAMPLEBROKER001', secretAccessKey: 'broker-secret-key-0000000000000000000000' };
const CLUSTER = 'test-cluster';
const TTL_MS = 3000;

// One clock for STS, the cluster's authenticator and the broker's tokens; tests move it forward.
let offsetMs = 0;
const nowMs = (): number => Date.now() + offsetMs;

let sts: StsServer;
let kube: KubeApiServer;
let redis: RedisServer;
let dir: string;
let caPem: string;
let broker: BrokerService;
const brokers: BrokerService[] = [];
const quiet = pino({ level: 'silent' });

async function brokerConfig(env: Record<string, string>): Promise<ConfigFor<'broker'>> {
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, await readFile(DEFAULT_POLICY_FILE, 'utf8'));
  const loaded = loadConfig({
    role: 'broker',
    env: {
      [envNameOf('broker.redisUrl')]: redis.url, [envNameOf('broker.tls.certFile')]: join(TLS, 'server.crt'), [envNameOf('broker.tls.keyFile')]: join(TLS, 'server.key'),
      [envNameOf('broker.policyFile')]: policyFile, [envNameOf('broker.listen.host')]: '127.0.0.1', [envNameOf('broker.redisKeyPrefix')]: 'ag:',
      [envNameOf('connection.name')]: CONNECTION, [envNameOf('connection.server')]: kube.url, [envNameOf('webhook.namespace')]: AGENTGATE_NS,
      [envNameOf('connection.mode')]: 'eks', [envNameOf('connection.roleArn')]: ROLE, [envNameOf('connection.region')]: 'eu-west-1',
      [envNameOf('connection.clusterName')]: CLUSTER, [envNameOf('connection.stsEndpoint')]: sts.url,
      ...env,
    },
  });
  if (!loaded.ok) throw new Error(`config: ${JSON.stringify(loaded.errors)}`);
  // Port 0 (a free port) is no valid configured port, so it is set after loading.
  return { ...loaded.config, broker: { ...loaded.config.broker, listen: { host: '127.0.0.1', port: 0 } } };
}

async function startEksBroker(env: Record<string, string> = {}, extra: Partial<BrokerServiceOptions> = {}): Promise<BrokerService> {
  const started = await startBroker({
    config: await brokerConfig(env), log: quiet, auditStdout: null, heartbeatSeconds: 2, expiryBackoffMs: 100, maxGrantTtlMs: TTL_MS,
    kubeConfig: kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, kube.adminToken),
    eks: { stsClient: stsClientFor(sts, BROKER_KEYS), now: () => new Date(nowMs()), refreshEveryMs: 100 },
    ...extra,
  });
  brokers.push(started);
  return started;
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-eks-grants-'));
  caPem = await readFile(join(TLS, 'ca.crt'), 'utf8');
  sts = await createStsServer({
    now: nowMs,
    principals: [{ ...BROKER_KEYS, arn: BROKER_USER }],
    roles: [
      { arn: ROLE, trust: { [BROKER_USER]: ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'] } },
      { arn: UNTRUSTING_ROLE, trust: {} },
    ],
  });
  kube = await createKubeApiServer({
    eksVerifier: createEksVerifier({ clusterName: CLUSTER, stsEndpoint: sts.url, caPem: sts.caPem, roleArn: ROLE, now: nowMs }),
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENT_NS, labels: { 'agentgate.io/inject': 'enabled' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENTGATE_NS } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agentgate-agent', namespace: AGENT_NS } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: AGENT_NS }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'other' }, spec: { containers: [{ name: 'db', image: 'postgres' }] } },
    ],
  });
  redis = await startRedis();
  broker = await startEksBroker();
});

test.after.always(async () => {
  offsetMs = 0;
  await Promise.all(brokers.map((b) => b.close()));
  await Promise.all([redis?.close(), kube?.close(), sts?.close()]);
  await rm(dir, { recursive: true, force: true });
});

/** An injected pod of `agent` and the sidecar's broker client with its projected token. */
async function sidecarOf(agent: string, target: BrokerService = broker): Promise<{ client: BrokerClient; uid: string }> {
  const pod = kube.objects.create({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `${agent}-${randomUUID().slice(0, 8)}`, namespace: AGENT_NS, annotations: { 'agentgate.io/agent': agent, 'agentgate.io/original-service-account': agent, 'agentgate.io/owner': 'null', 'agentgate.io/policy-profile': 'default', 'agentgate.io/injected-version': 'test' } },
    spec: { serviceAccountName: 'agentgate-agent', containers: [{ name: 'agent', image: 'agent' }] },
  });
  const core = kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, kube.adminToken).makeApiClient(CoreV1Api);
  const answer = await core.createNamespacedServiceAccountToken({
    name: 'agentgate-agent', namespace: AGENT_NS,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['agentgate-broker'], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' } } },
  });
  const file = join(dir, `token-${randomUUID()}`);
  await writeFile(file, answer.status?.token ?? '');
  return { client: new BrokerClient({ url: target.url, ca: caPem, tokenPath: file, timeoutMs: 5000 }), uid: pod.metadata.uid ?? '' };
}

/** A call to the API double with a bearer token: status and parsed body. */
function call(token: string, path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(`${kube.url}${path}`, { method, ca: kube.caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(text ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) as Record<string, unknown> : {} }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

const credentialsOn = (stream: OpenStream, grantId: string): Credential[] =>
  stream.events.map((e) => e.event).flatMap((e) => (e.type === 'credential' && e.credential.grantId === grantId ? [e.credential] : []));

const objectsOf = (id: string): string[] =>
  ['roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'clusterroles.rbac.authorization.k8s.io', 'clusterrolebindings.rbac.authorization.k8s.io', 'serviceaccounts']
    .flatMap((r) => kube.objects.list(r).filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`))
    .sort();

test.serial('a decision yields a grant whose EKS token opens exactly the granted scope, and nothing once its bindings are gone', async (t) => {
  const { client, uid } = await sidecarOf('eks-bot');
  t.teardown(() => client.close());
  const stream = await openStream(client);
  t.teardown(() => stream.close());
  await until(() => stream.events.some((e) => e.event.type === 'hello'), 5000, 'hello');

  const answer = await decide(client, attrs('list', 'pods', AGENT_NS), uid);
  if (!answer.ok) return t.fail(JSON.stringify(answer));
  t.like(answer.value, { outcome: 'allow', reason: { code: 'grant-created' } });
  const grantId = answer.value.grant?.id ?? '';
  await until(() => credentialsOn(stream, grantId).length > 0, 5000, 'credential on the stream');
  const [credential] = credentialsOn(stream, grantId);
  if (!credential) return t.fail('no credential');
  t.is(credential.server, kube.url);
  t.regex(credential.token, /^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
  t.true(Date.parse(credential.expiresAt) > Date.now() + 14 * 60_000, 'an EKS token lives 15 minutes, far past the 3-second grant');

  // One STS session per grant: named after it, the agent as source identity, both as tags.
  t.like(sts.sessions.find((s) => s.sessionName === grantId), { roleArn: ROLE, sourceIdentity: 'eks-bot', tags: { 'agentgate:agent': 'eks-bot', 'agentgate:grant': grantId } });
  // A Role with exactly the grant's rules, bound to the access entry's user; no service account.
  const name = `agentgate-grant-${grantId}`;
  t.deepEqual(objectsOf(grantId), [`Role/${AGENT_NS}/${name}`, `RoleBinding/${AGENT_NS}/${name}`]);
  const record = await broker.store.get(grantId);
  t.deepEqual(kube.objects.get('roles.rbac.authorization.k8s.io', AGENT_NS, name)?.rules, record?.grant.rules);
  t.deepEqual(kube.objects.get('rolebindings.rbac.authorization.k8s.io', AGENT_NS, name)?.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `agentgate:grant:${grantId}` }]);

  const who = await call(credential.token, '/apis/authentication.k8s.io/v1/selfsubjectreviews', 'POST', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  t.like(who.body, { status: { userInfo: { username: `agentgate:grant:${grantId}` } } });
  const rows: Array<[string, string, string, number]> = [
    // Granted: read pods in its own namespace
    ['list pods in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/pods`, 200],
    ['get a pod in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/pods/web-0`, 200],
    ['read its configmaps (the default policy scope)', 'GET', `/api/v1/namespaces/${AGENT_NS}/configmaps`, 200],
    // Not granted
    ['list secrets in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/secrets`, 403],
    ['list pods in another namespace', 'GET', '/api/v1/namespaces/other/pods', 403],
    ['list pods cluster-wide', 'GET', '/api/v1/pods', 403],
    ['delete a pod in its namespace', 'DELETE', `/api/v1/namespaces/${AGENT_NS}/pods/web-0`, 403],
  ];
  for (const [what, method, path, status] of rows) t.is((await call(credential.token, path, method)).status, status, what);

  await until(() => stream.events.some((e) => e.event.type === 'revocation' && e.event.grantId === grantId && e.event.reason === 'expired'), TTL_MS + 5000, 'expiry on the stream');
  await until(() => objectsOf(grantId).length === 0, 5000, 'the grant\'s Role and RoleBinding deleted');
  // The token still authenticates (STS honours it for 15 minutes), as a user who may do nothing.
  t.true(Date.parse(credential.expiresAt) > Date.now() + 60_000, 'the token itself is still within its lifetime');
  const after = await call(credential.token, `/api/v1/namespaces/${AGENT_NS}/pods`);
  t.is(after.status, 403);
  t.deepEqual(after.body, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
    message: `pods is forbidden: User "agentgate:grant:${grantId}" cannot list resource "pods" in API group "" in the namespace "${AGENT_NS}"`,
    details: { kind: 'pods' },
  });
});

test.serial('a cluster-wide grant (discovery) gets a ClusterRole and ClusterRoleBinding to the session user, and nothing namespaced', async (t) => {
  const { client, uid } = await sidecarOf('discovery-bot');
  t.teardown(() => client.close());
  const answer = await decide(client, urlAttrs('/apis'), uid);
  if (!answer.ok) return t.fail(JSON.stringify(answer));
  t.deepEqual(answer.value.grant?.namespaces, ['*']);
  const grantId = answer.value.grant?.id ?? '';
  const name = `agentgate-grant-${grantId}`;
  t.deepEqual(objectsOf(grantId), [`ClusterRole//${name}`, `ClusterRoleBinding//${name}`]);
  t.deepEqual(kube.objects.get('clusterrolebindings.rbac.authorization.k8s.io', '', name)?.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `agentgate:grant:${grantId}` }]);
  await broker.lifecycle.revoke(grantId);
  t.deepEqual(objectsOf(grantId), [], 'revoked at once');
});

test.serial('the token is refreshed before its 15 minutes end and pushed to the sidecars as a fresh credential', async (t) => {
  const { client } = await sidecarOf('refresh-bot');
  t.teardown(() => client.close());
  const stream = await openStream(client);
  t.teardown(() => stream.close());
  await until(() => stream.events.some((e) => e.event.type === 'hello'), 5000, 'hello');
  // Approved grants may last 30 minutes; this one is issued as an approval would issue it.
  const { grant, credential: first } = await broker.lifecycle.issue({
    identity: { connection: CONNECTION, namespace: AGENT_NS, agent: 'refresh-bot' },
    rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }], namespaces: [AGENT_NS], reason: 'refresh test', ttlMs: 30 * 60_000,
  });
  t.teardown(async () => {
    offsetMs = 0;
    await broker.lifecycle.revoke(grant.id);
  });
  await until(() => credentialsOn(stream, grant.id).length === 1, 5000, 'the first credential');
  const sessions = sts.sessions.filter((s) => s.sessionName === grant.id).length;

  offsetMs = 13 * 60_000;
  await until(() => credentialsOn(stream, grant.id).length === 2, 5000, 'a fresh credential inside the last 3 minutes');
  const fresh = credentialsOn(stream, grant.id)[1];
  if (!fresh) return t.fail('no fresh credential');
  t.not(fresh.token, first.token);
  t.true(Date.parse(fresh.expiresAt) - Date.parse(first.expiresAt) >= 13 * 60_000 - 1000, 'signed 13 minutes later');
  t.is(sts.sessions.filter((s) => s.sessionName === grant.id).length, sessions, 'the 30-minute session is reused: no second AssumeRole');
  t.deepEqual(await broker.store.getCredential(grant), fresh, 'what a reconnecting sidecar gets');

  offsetMs = 15 * 60_000 + 5000;
  t.is((await call(first.token, `/api/v1/namespaces/${AGENT_NS}/pods`)).status, 401, 'the first token is past its 15 minutes');
  t.is((await call(fresh.token, `/api/v1/namespaces/${AGENT_NS}/pods`)).status, 200, 'the fresh one opens the grant');
});

test.serial('a refresh round renews only tokens inside the last 3 minutes, and none while agentgate is frozen', async (t) => {
  const { grant, credential } = await broker.lifecycle.issue({
    identity: { connection: CONNECTION, namespace: AGENT_NS, agent: 'round-bot' },
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], namespaces: [AGENT_NS], reason: 'refresh round test', ttlMs: 30 * 60_000,
  });
  t.teardown(() => broker.lifecycle.revoke(grant.id));
  // A second provider on the same store with its own clock, so the broker's own rounds stay idle.
  const round = (minutes: number): EksGrantCredentials => {
    const credentials = new EksGrantCredentials({
      kubeConfig: kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, kube.adminToken),
      connection: { name: CONNECTION, server: kube.url, roleArn: ROLE, region: 'eu-west-1', clusterName: CLUSTER },
      stsClient: stsClientFor(sts, BROKER_KEYS), stsEndpoint: sts.url, store: broker.store, refreshEveryMs: 3_600_000,
      now: () => new Date(Date.now() + minutes * 60_000),
    });
    t.teardown(() => credentials.close());
    return credentials;
  };
  t.deepEqual(await round(11).refreshDue(), [], 'four minutes left: kept');
  await broker.store.freeze('incident-commander');
  try {
    t.deepEqual(await round(13).refreshDue(), [], 'frozen: nothing pushed');
  } finally {
    await broker.store.unfreeze();
  }
  t.deepEqual((await broker.store.getCredential(grant))?.token, credential.token);
  t.deepEqual(await round(13).refreshDue(), [grant.id], 'two minutes left: renewed');
  t.notDeepEqual((await broker.store.getCredential(grant))?.token, credential.token);
});

test.serial('STS refusing AssumeRole fails the decision closed with the STS error, and leaves no grant and no RBAC', async (t) => {
  const refusing = await startEksBroker({ [envNameOf('connection.roleArn')]: UNTRUSTING_ROLE, [envNameOf('broker.redisKeyPrefix')]: 'refusing:' });
  const { client, uid } = await sidecarOf('refused-bot', refusing);
  t.teardown(() => client.close());
  const before = kube.objects.list('roles.rbac.authorization.k8s.io').length;
  const answer = await decide(client, attrs('list', 'pods', AGENT_NS), uid);
  if (answer.ok || answer.kind !== 'refused') return t.fail(JSON.stringify(answer));
  t.is(answer.status, 503);
  t.is(answer.error?.code, 'unavailable');
  t.regex(answer.error?.message ?? '', new RegExp(
    '^The grant\'s credential could not be made in the cluster; retry shortly\\. \\(EKS credential failed: AssumeRole of arn:aws:iam::111122223333:role/agentgate-untrusting '
    + 'for grant g-[0-9a-f]{24} failed: AccessDenied: User: arn:aws:iam::111122223333:user/broker is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/agentgate-untrusting\\)$',
  ));
  t.deepEqual(await refusing.store.listFor({ connection: CONNECTION, namespace: AGENT_NS, agent: 'refused-bot' }), [], 'the grant was taken back');
  t.is(kube.objects.list('roles.rbac.authorization.k8s.io').length, before, 'nothing was created in the cluster');
});

const templateRows: Array<{ name: string; template: string; expected: string }> = [
  { name: 'the documented default', template: 'agentgate:grant:{{SessionName}}', expected: 'agentgate:grant:g-0123456789abcdef01234567' },
  { name: 'with the account id', template: 'agentgate:grant:{{AccountID}}:{{SessionName}}', expected: `agentgate:grant:${ACCOUNT}:g-0123456789abcdef01234567` },
  { name: 'the raw session name', template: 'agentgate:grant:{{SessionNameRaw}}', expected: 'agentgate:grant:g-0123456789abcdef01234567' },
];

test('the user the broker binds is the user the access entry\'s template maps the grant\'s session to', async (t) => {
  const id = 'g-0123456789abcdef01234567';
  const now = new Date();
  const grant = {
    id, identity: { connection: CONNECTION, namespace: AGENT_NS, agent: 'template-bot' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }],
    namespaces: [AGENT_NS], reason: 'template test', createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 60_000).toISOString(),
  };
  const session = await assumeGrantRole({ name: CONNECTION, server: kube.url, ca: caPem, mode: 'eks', roleArn: ROLE, region: 'eu-west-1', clusterName: CLUSTER }, grant, stsClientFor(sts, BROKER_KEYS), now);
  const token = eksToken(session, CLUSTER, 'eu-west-1', new Date(), sts.url).token;
  for (const row of templateRows) {
    const verified = await createEksVerifier({ clusterName: CLUSTER, stsEndpoint: sts.url, caPem: sts.caPem, roleArn: ROLE, usernameTemplate: row.template, now: nowMs }).check(token);
    t.like(verified, { ok: true, user: { username: row.expected } }, `${row.name}: the cluster's side`);
    t.is(eksUsername(row.template, id, ROLE), row.expected, `${row.name}: the broker's side`);
  }
});
