// The broker in TokenRequest mode holding exactly deploy/rbac/broker.yaml (its own service account's
// token) against the API double's RBAC: grants work end to end; a scope above the ceiling fails closed
// at its Role; the broker's credential binds nothing it does not hold, cluster-admin least of all.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { CredentialError, GRANT_LABEL, kubeConfigFor } from '../../src/broker/credentials/tokenrequest.ts';
import { startBroker, type BrokerService } from '../../src/broker/service.ts';
import { envNameOf, loadConfig } from '../../src/config/index.ts';
import type { Credential } from '../../src/contracts/index.ts';
import { DEFAULT_POLICY_FILE } from '../../src/policy/index.ts';
import { BrokerClient } from '../../sidecar/broker.ts';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { AGENT_NS, AGENTGATE_NS, attrs, CONNECTION, decide, openStream, until, urlAttrs } from './harness.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const RBAC_FILE = fileURLToPath(new URL('../../deploy/rbac/broker.yaml', import.meta.url));
const BROKER_USER = `system:serviceaccount:${AGENTGATE_NS}:agentgate-broker`;
const TTL_MS = 3000;

let kube: KubeApiServer;
let redis: RedisServer;
let dir: string;
let caPem: string;
let brokerToken: string;
let broker: BrokerService;

const LEFTOVER = 'g-leftover';

function leftovers(): KubeObject[] {
  const metadata = (namespace?: string): KubeObject['metadata'] => ({ name: `agentgate-grant-${LEFTOVER}`, ...(namespace ? { namespace } : {}), labels: { [GRANT_LABEL]: LEFTOVER } });
  const roleRef = (kind: string): Record<string, string> => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name: `agentgate-grant-${LEFTOVER}` });
  const subjects = [{ kind: 'ServiceAccount', name: `agentgate-grant-${LEFTOVER}`, namespace: AGENTGATE_NS }];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(AGENTGATE_NS) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: metadata(AGENT_NS), rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: metadata(AGENT_NS), roleRef: roleRef('Role'), subjects },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: metadata(), rules: [{ nonResourceURLs: ['/api'], verbs: ['get'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: metadata(), roleRef: roleRef('ClusterRole'), subjects },
  ];
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-least-privilege-'));
  caPem = await readFile(join(TLS, 'ca.crt'), 'utf8');
  const rbac = parseAllDocuments(await readFile(RBAC_FILE, 'utf8')).map((doc) => doc.toJS() as KubeObject);
  kube = await createKubeApiServer({
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENT_NS, labels: { 'agentgate.io/inject': 'enabled' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENTGATE_NS } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agentgate-agent', namespace: AGENT_NS } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: AGENT_NS }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: AGENT_NS }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } },
      ...rbac,
      // What a grant left while no broker ran: the start-up sweep must be able to remove it.
      ...leftovers(),
    ],
  });
  const admin = kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, kube.adminToken).makeApiClient(CoreV1Api);
  const minted = await admin.createNamespacedServiceAccountToken({ name: 'agentgate-broker', namespace: AGENTGATE_NS, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3600 } } });
  brokerToken = minted.status?.token ?? '';
  redis = await startRedis();
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, await readFile(DEFAULT_POLICY_FILE, 'utf8'));
  const loaded = loadConfig({
    role: 'broker',
    env: {
      [envNameOf('broker.redisUrl')]: redis.url, [envNameOf('broker.tls.certFile')]: join(TLS, 'server.crt'), [envNameOf('broker.tls.keyFile')]: join(TLS, 'server.key'),
      [envNameOf('broker.policyFile')]: policyFile, [envNameOf('broker.listen.host')]: '127.0.0.1', [envNameOf('broker.redisKeyPrefix')]: 'ag:',
      [envNameOf('connection.name')]: CONNECTION, [envNameOf('connection.server')]: kube.url, [envNameOf('webhook.namespace')]: AGENTGATE_NS,
    },
  });
  if (!loaded.ok) throw new Error(`config: ${JSON.stringify(loaded.errors)}`);
  broker = await startBroker({
    // Port 0 (a free port) is no valid configured port, so it is set after loading.
    config: { ...loaded.config, broker: { ...loaded.config.broker, listen: { host: '127.0.0.1', port: 0 } } },
    log: pino({ level: 'silent' }), auditStdout: null, heartbeatSeconds: 2, expiryBackoffMs: 100, maxGrantTtlMs: TTL_MS,
    kubeConfig: kubeConfigFor({ name: 'double', server: kube.url, ca: kube.caPem }, brokerToken),
  });
});

test.after.always(async () => {
  await broker?.close();
  await Promise.all([redis?.close(), kube?.close()]);
  await rm(dir, { recursive: true, force: true });
});

/** An injected pod of `agent` and the sidecar's broker client with its projected token. */
async function sidecarOf(agent: string): Promise<{ client: BrokerClient; uid: string }> {
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
  return { client: new BrokerClient({ url: broker.url, ca: caPem, tokenPath: file, timeoutMs: 5000 }), uid: pod.metadata.uid ?? '' };
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

const objectsOf = (id: string): number =>
  ['roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'clusterroles.rbac.authorization.k8s.io', 'clusterrolebindings.rbac.authorization.k8s.io', 'serviceaccounts']
    .flatMap((r) => kube.objects.list(r)).filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length;

test('the broker runs as its own service account, not as admin', async (t) => {
  const who = await call(brokerToken, '/apis/authentication.k8s.io/v1/selfsubjectreviews', 'POST', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  t.like(who.body, { status: { userInfo: { username: BROKER_USER } } });
  t.is((await call(brokerToken, `/api/v1/namespaces/${AGENT_NS}/secrets`)).status, 403);
});

test('the start-up sweep removes what a grant left while no broker ran, with that RBAC', async (t) => {
  await until(() => objectsOf(LEFTOVER) === 0, 5000, 'the leftover account, roles and bindings swept');
  t.is(objectsOf(LEFTOVER), 0);
});

test('grants work end to end with exactly that RBAC: issued, used, and removed at their end by the broker itself', async (t) => {
  const { client, uid } = await sidecarOf('least-bot');
  t.teardown(() => client.close());
  const stream = await openStream(client);
  t.teardown(() => stream.close());
  const answer = await decide(client, attrs('list', 'pods', AGENT_NS), uid);
  if (!answer.ok) return t.fail(JSON.stringify(answer));
  t.like(answer.value, { outcome: 'allow', reason: { code: 'grant-created' } });
  const grantId = answer.value.grant?.id ?? '';
  await until(() => stream.events.some((e) => e.event.type === 'credential' && e.event.credential.grantId === grantId), 5000, 'credential');
  const credential = stream.events.map((e) => e.event).find((e): e is { type: 'credential'; seq: number; credential: Credential } => e.type === 'credential')?.credential;
  if (!credential) return t.fail('no credential');
  t.is((await call(credential.token, `/api/v1/namespaces/${AGENT_NS}/pods`)).status, 200, 'the grant opens pods');
  t.is((await call(credential.token, `/api/v1/namespaces/${AGENT_NS}/secrets`)).status, 403, 'and not secrets');

  const discovery = await decide(client, urlAttrs('/apis'), uid);
  t.true(discovery.ok && discovery.value.outcome === 'allow' && discovery.value.grant?.namespaces[0] === '*', `a cluster-wide discovery grant: ${JSON.stringify(discovery)}`);

  await until(() => stream.events.some((e) => e.event.type === 'revocation' && e.event.grantId === grantId), TTL_MS + 5000, 'expiry');
  await until(() => objectsOf(grantId) === 0, 5000, 'the broker deleted the grant\'s account, Role and RoleBinding');
  t.is((await call(credential.token, `/api/v1/namespaces/${AGENT_NS}/pods`)).status, 401, 'the deleted account\'s token is dead');
});

test('an approved scope above the ceiling fails closed at its Role, with the escalation refusal, and leaves nothing behind', async (t) => {
  const { client, uid } = await sidecarOf('ceiling-bot');
  t.teardown(() => client.close());
  const asked = await decide(client, attrs('list', 'secrets', AGENT_NS), uid);
  if (!asked.ok || asked.value.approvalRequestId === undefined) return t.fail(JSON.stringify(asked));
  const error = await t.throwsAsync(broker.approve(asked.value.approvalRequestId, 'alice@example.com'), { instanceOf: CredentialError });
  t.is(error?.status, 403);
  t.regex(error?.message ?? '', new RegExp(`^create role in ${AGENT_NS} failed \\(HTTP 403\\): roles\\.rbac\\.authorization\\.k8s\\.io "agentgate-grant-g-[0-9a-f]{24}" is forbidden: .* is attempting to grant RBAC permissions not currently held`));
  const cause = error?.cause;
  if (!(cause instanceof ApiException)) return t.fail('the cause is the API server\'s answer');
  const status = JSON.parse(String(cause.body)) as { message: string; reason: string };
  t.is(status.reason, 'Forbidden');
  t.regex(status.message, new RegExp(
    `^roles\\.rbac\\.authorization\\.k8s\\.io "agentgate-grant-g-[0-9a-f]{24}" is forbidden: user "${BROKER_USER}" \\(groups=\\[[^\\]]*\\]\\) `
    + 'is attempting to grant RBAC permissions not currently held:\\n\\{APIGroups:\\[""\\], Resources:\\["secrets"\\], Verbs:\\["list"\\]\\}$',
  ));
  t.is((await broker.accessRequests.get(asked.value.approvalRequestId))?.status.phase, 'Pending', 'still waiting: nothing was granted');
  t.deepEqual(await broker.store.listFor({ connection: CONNECTION, namespace: AGENT_NS, agent: 'ceiling-bot' }), []);
  const grantId = /"agentgate-grant-(g-[0-9a-f]{24})"/.exec(status.message)?.[1] ?? '';
  await until(() => objectsOf(grantId) === 0, 5000, 'the half-made grant\'s account and binding removed');
});

const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', roleKind: 'Role' | 'ClusterRole', role: string, namespace?: string): Record<string, unknown> => ({
  apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name: `try-${role}`, ...(namespace ? { namespace } : {}) },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory' }],
});

const refusals: Array<{ name: string; method: string; path: string; body?: unknown; message: RegExp }> = [
  // Bindings to what it does not hold
  { name: 'a RoleBinding to cluster-admin', method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${AGENT_NS}/rolebindings`, body: binding('RoleBinding', 'ClusterRole', 'cluster-admin', AGENT_NS), message: /^rolebindings\.rbac\.authorization\.k8s\.io "try-cluster-admin" is forbidden: user "system:serviceaccount:agentgate-system:agentgate-broker" .* is attempting to grant RBAC permissions not currently held:/ },
  { name: 'a ClusterRoleBinding to cluster-admin', method: 'POST', path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', body: binding('ClusterRoleBinding', 'ClusterRole', 'cluster-admin'), message: /^clusterrolebindings\.rbac\.authorization\.k8s\.io "try-cluster-admin" is forbidden: user .* is attempting to grant RBAC permissions not currently held:/ },
  { name: 'a RoleBinding to edit (no bind: it does not hold edit)', method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${AGENT_NS}/rolebindings`, body: binding('RoleBinding', 'ClusterRole', 'edit', AGENT_NS), message: /is attempting to grant RBAC permissions not currently held:/ },
  { name: 'a Role with the escalate and bind verbs', method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${AGENT_NS}/roles`, body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'try-escalate' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'bind'] }] }, message: /is attempting to grant RBAC permissions not currently held:/ },
  // Changing what exists
  { name: 'rewriting the view ClusterRole (no update)', method: 'PUT', path: '/apis/rbac.authorization.k8s.io/v1/clusterroles/view', body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'view' }, rules: [] }, message: /cannot update resource "clusterroles"/ },
  // Reading or acting beyond its job
  { name: 'reading Secrets', method: 'GET', path: `/api/v1/namespaces/${AGENT_NS}/secrets/db-password`, message: /cannot get resource "secrets"/ },
  { name: 'a service account outside its namespace', method: 'POST', path: `/api/v1/namespaces/${AGENT_NS}/serviceaccounts`, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'try' } }, message: /cannot create resource "serviceaccounts" in API group "" in the namespace "agents"/ },
  { name: 'a token of an agent\'s service account', method: 'POST', path: `/api/v1/namespaces/${AGENT_NS}/serviceaccounts/agentgate-agent/token`, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [] } }, message: /cannot create resource "serviceaccounts\/token"/ },
];

for (const row of refusals) {
  test(`the broker's own credential cannot create or do: ${row.name}`, async (t) => {
    const answer = await call(brokerToken, row.path, row.method, row.body);
    t.is(answer.status, 403, JSON.stringify(answer.body));
    t.regex(String(answer.body.message), row.message);
  });
}

// What `kubectl auth can-i` would answer for the broker's account: the verbs that would let it
// step over its ceiling are not there at all (the API double does not serve impersonation, so it
// is asked, not tried).
const cannot: Array<{ name: string; attributes: Record<string, string> }> = [
  { name: 'impersonate users', attributes: { verb: 'impersonate', resource: 'users' } },
  { name: 'impersonate the system:masters group', attributes: { verb: 'impersonate', resource: 'groups', name: 'system:masters' } },
  { name: 'impersonate service accounts', attributes: { verb: 'impersonate', resource: 'serviceaccounts', namespace: AGENT_NS } },
  { name: 'escalate roles', attributes: { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: AGENT_NS } },
  { name: 'escalate clusterroles', attributes: { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' } },
  { name: 'bind cluster-admin', attributes: { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'cluster-admin' } },
  { name: 'bind edit', attributes: { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'edit' } },
  { name: 'patch clusterroles', attributes: { verb: 'patch', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'view' } },
  { name: 'update rolebindings', attributes: { verb: 'update', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: AGENT_NS } },
  { name: 'list secrets', attributes: { verb: 'list', resource: 'secrets', namespace: AGENT_NS } },
  { name: 'delete namespaces', attributes: { verb: 'delete', resource: 'namespaces', name: AGENT_NS } },
  { name: 'create pods', attributes: { verb: 'create', resource: 'pods', namespace: AGENT_NS } },
  { name: 'change webhook configurations', attributes: { verb: 'update', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' } },
];

test('the broker\'s account holds none of the verbs that would let it step over its ceiling', async (t) => {
  for (const row of cannot) {
    const review = await call(brokerToken, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'POST', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: row.attributes } });
    t.like(review, { status: 201, body: { status: { allowed: false } } }, row.name);
  }
  // The same question answers yes for what it needs, so a "no" above is not a broken review.
  const can = await call(brokerToken, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'POST', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' } } });
  t.like(can, { status: 201, body: { status: { allowed: true } } });
});
