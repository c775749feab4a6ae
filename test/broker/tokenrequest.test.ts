// TokenRequest credentials end to end: a real redis-server, the Kubernetes API double with real
// RBAC, the expiry worker, and the minted token used as a sidecar would use it (raw HTTPS and kubectl).
import test from 'ava';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { kubectl } from '../helpers/kubectl.ts';
import { createRedis, RedisUnavailableError, type AgentgateRedis } from '../../src/redis/client.ts';
import { CredentialError, GRANT_LABEL, kubeConfigFor, TokenRequestCredentials } from '../../src/broker/credentials/tokenrequest.ts';
import { GrantExpiry, GrantLifecycle, GrantStore, readEvents, type NewGrant } from '../../src/grants/index.ts';
import { eventually } from '../grants/helpers.ts';

const AGENTGATE_NS = 'agentgate-system';
let api: KubeApiServer;
let redisServer: RedisServer;
let redis: AgentgateRedis;
let store: GrantStore;
let expiry: GrantExpiry;
let credentials: TokenRequestCredentials;
let grants: GrantLifecycle;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-tokenrequest-'));
  api = await createKubeApiServer({
    seed: [
      ...['payments', 'orders', AGENTGATE_NS].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-0', namespace: 'payments' }, spec: { containers: [{ name: 'api', image: 'nginx' }] } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments' }, data: { password: 'aHVudGVyMg==' } },
    ],
  });
  redisServer = await startRedis();
  redis = createRedis(redisServer.url, { keyPrefix: 'tr:', commandTimeoutMs: 2000, connectTimeoutMs: 5000 });
  await redis.ready();
  store = new GrantStore({ redis });
  expiry = new GrantExpiry({ redis, backoffMs: 200 });
  credentials = new TokenRequestCredentials({ kubeConfig: kubeConfigFor({ name: 'double', server: api.url, ca: api.caPem }, api.adminToken), server: api.url, namespace: AGENTGATE_NS });
  grants = new GrantLifecycle({ store, expiry, credentialsFor: () => credentials });
  expiry.startWorker((job) => grants.expire(job));
});
test.after.always(async () => {
  await expiry?.close();
  await redis?.close();
  await redisServer?.close();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let agents = 0;
function podsGrant(overrides: Partial<NewGrant> = {}): NewGrant {
  agents += 1;
  return {
    identity: { connection: 'double', namespace: 'payments', agent: `bot-${agents}` },
    rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }],
    namespaces: ['payments'],
    reason: 'triage',
    ttlMs: 60_000,
    ...overrides,
  };
}

/** One request with a bearer token, as the sidecar forwards it; resolves with the status code. */
function call(token: string, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${api.url}${path}`, { method, ca: api.caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const objectsOf = (id: string) => ({
  serviceAccounts: api.objects.list('serviceaccounts', AGENTGATE_NS).filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length,
  roles: api.objects.list('roles.rbac.authorization.k8s.io').filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length,
  roleBindings: api.objects.list('rolebindings.rbac.authorization.k8s.io').filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length,
});

test('the credential opens exactly the granted scope, through raw HTTPS and kubectl', async (t) => {
  const { grant, credential } = await grants.issue(podsGrant());
  t.teardown(() => grants.revoke(grant.id));
  t.deepEqual(objectsOf(grant.id), { serviceAccounts: 1, roles: 1, roleBindings: 1 });
  const role = api.objects.get('roles.rbac.authorization.k8s.io', 'payments', `agentgate-grant-${grant.id}`);
  t.deepEqual(role?.rules, [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }]);
  t.is(credential.server, api.url);
  t.true(Date.parse(credential.expiresAt) - Date.now() > 590_000, 'TokenRequest minimum of 600 s');
  t.deepEqual(await store.getCredential(grant), credential);
  const access: Array<[string, string, string, number]> = [
    ['list pods in the granted namespace', 'GET', '/api/v1/namespaces/payments/pods', 200],
    ['get one pod', 'GET', '/api/v1/namespaces/payments/pods/api-0', 200],
    ['read secrets', 'GET', '/api/v1/namespaces/payments/secrets', 403],
    ['pods in another namespace', 'GET', '/api/v1/namespaces/orders/pods', 403],
    ['delete a pod', 'DELETE', '/api/v1/namespaces/payments/pods/api-0', 403],
    ['list pods cluster-wide', 'GET', '/api/v1/pods', 403],
  ];
  for (const [name, method, path, status] of access) t.is(await call(credential.token, path, method), status, name);
  const kubeconfig = join(dir, `${grant.id}.kubeconfig`);
  await api.writeKubeconfig(kubeconfig, credential.token);
  const pods = await kubectl('1.31', ['get', 'pods', '-n', 'payments', '-o', 'name'], { kubeconfig });
  t.is(pods.code, 0, pods.stderr);
  t.is(pods.stdout, 'pod/api-0\n');
  const secrets = await kubectl('1.31', ['get', 'secrets', '-n', 'payments'], { kubeconfig });
  t.is(secrets.code, 1);
  t.regex(secrets.stderr, /Error from server \(Forbidden\): secrets is forbidden: User "system:serviceaccount:agentgate-system:agentgate-grant-g-[0-9a-f]{24}" cannot list resource "secrets" in API group "" in the namespace "payments"/);
});

test('at the end of the TTL the objects are gone and the token is refused although still within its lifetime', async (t) => {
  const { grant, credential } = await grants.issue(podsGrant({ ttlMs: 8000 }));
  t.is(await call(credential.token, '/api/v1/namespaces/payments/pods'), 200);
  t.truthy(await expiry.job(grant.id), 'an expiry job per grant, id = grant id');
  await eventually(async () => { const left = objectsOf(grant.id); return left.serviceAccounts === 0 && left.roles === 0 && left.roleBindings === 0; }, 20_000, 'objects removed by the expiry job');
  const lag = Date.now() - Date.parse(grant.expiresAt);
  // The job is due at the end; the bound leaves room for a loaded test machine.
  t.true(lag >= 0 && lag < 5000, `removed ${lag} ms after the end`);
  t.deepEqual(objectsOf(grant.id), { serviceAccounts: 0, roles: 0, roleBindings: 0 });
  t.true(Date.parse(credential.expiresAt) > Date.now() + 500_000, 'the token itself has not expired');
  t.is(await call(credential.token, '/api/v1/namespaces/payments/pods'), 401);
  t.is(await store.get(grant.id), undefined);
  const events = (await readEvents(redis, grant.identity, 0)).events.map((e) => (e.type === 'revocation' ? `revocation:${e.reason}` : e.type));
  t.deepEqual(events, ['grant', 'credential', 'revocation:expired']);
});

test('the token of a 30-minute grant lives until the grant ends, past the 10-minute minimum', async (t) => {
  const { grant, credential } = await grants.issue(podsGrant({ ttlMs: 30 * 60_000 }));
  t.teardown(() => grants.revoke(grant.id));
  const tokenEnd = Date.parse(credential.expiresAt);
  t.true(tokenEnd >= Date.parse(grant.expiresAt), `token ends ${credential.expiresAt}, grant ends ${grant.expiresAt}`);
  t.true(tokenEnd <= Date.parse(grant.expiresAt) + 5 * 60_000, 'and not much later');
  t.is(await call(credential.token, '/api/v1/namespaces/payments/pods'), 200);
});

test('revoke takes effect at once and cancels the expiry job', async (t) => {
  const { grant, credential } = await grants.issue(podsGrant());
  t.is(await call(credential.token, '/api/v1/namespaces/payments/pods'), 200);
  const revoked = await grants.revoke(grant.id);
  t.is(revoked?.id, grant.id);
  t.is(await call(credential.token, '/api/v1/namespaces/payments/pods'), 401);
  t.deepEqual(objectsOf(grant.id), { serviceAccounts: 0, roles: 0, roleBindings: 0 });
  t.is(await expiry.job(grant.id), undefined);
  t.is(await grants.revoke(grant.id), undefined, 'a second revoke finds nothing');
});

test('a grant over two namespaces binds in both; a cluster-wide one uses a ClusterRole', async (t) => {
  const two = await grants.issue(podsGrant({ namespaces: ['payments', 'orders'] }));
  t.teardown(() => grants.revoke(two.grant.id));
  t.is(await call(two.credential.token, '/api/v1/namespaces/orders/pods'), 200);
  t.deepEqual(objectsOf(two.grant.id), { serviceAccounts: 1, roles: 2, roleBindings: 2 });
  const wide = await grants.issue(podsGrant({ namespaces: ['*'], rules: [{ verbs: ['list'], apiGroups: [''], resources: ['namespaces'] }] }));
  t.is(await call(wide.credential.token, '/api/v1/namespaces'), 200);
  t.truthy(api.objects.get('clusterrolebindings.rbac.authorization.k8s.io', '', `agentgate-grant-${wide.grant.id}`));
  await grants.revoke(wide.grant.id);
  t.is(api.objects.get('clusterroles.rbac.authorization.k8s.io', '', `agentgate-grant-${wide.grant.id}`), undefined);
  t.is(api.objects.get('clusterrolebindings.rbac.authorization.k8s.io', '', `agentgate-grant-${wide.grant.id}`), undefined);
});

test('sweep removes what grants Redis no longer holds and keeps live ones', async (t) => {
  const live = await grants.issue(podsGrant());
  t.teardown(() => grants.revoke(live.grant.id));
  const lost = await grants.issue(podsGrant({ namespaces: ['payments', 'orders'] }));
  // As if the grant expired while the broker was down and its job was lost with it.
  await expiry.cancel(lost.grant.id);
  await redis.client.del(redis.keys.grant(lost.grant.identity, lost.grant.id));
  const swept = await credentials.sweep(async (id) => (await store.get(id)) !== undefined);
  t.true(swept.includes(lost.grant.id));
  t.false(swept.includes(live.grant.id));
  t.deepEqual(objectsOf(lost.grant.id), { serviceAccounts: 0, roles: 0, roleBindings: 0 });
  t.deepEqual(objectsOf(live.grant.id), { serviceAccounts: 1, roles: 1, roleBindings: 1 });
  t.is(await call(lost.credential.token, '/api/v1/namespaces/payments/pods'), 401);
});

test('a credential that cannot be issued revokes its grant (fail closed)', async (t) => {
  const input = podsGrant({ namespaces: ['payments', 'no-such-namespace'] });
  const error = await t.throwsAsync(grants.issue(input), { instanceOf: CredentialError });
  t.is(error?.status, 404);
  t.true(error?.message.startsWith('create role in no-such-namespace failed (HTTP 404)'), error?.message);
  t.deepEqual((await store.listFor(input.identity)).map((r) => r.grant.id), []);
  const leftovers = api.objects.list('serviceaccounts', AGENTGATE_NS).filter((o) => o.metadata.annotations?.['agentgate.io/identity'] === `double/payments/${input.identity.agent}`);
  t.deepEqual(leftovers, []);
});

test('mint renews the token of a live grant; both work until the grant ends', async (t) => {
  const { grant, credential } = await grants.issue(podsGrant());
  const renewed = await credentials.mint(grant);
  t.not(renewed.token, credential.token);
  t.is(await call(renewed.token, '/api/v1/namespaces/payments/pods'), 200);
  await grants.revoke(grant.id);
  t.is(await call(renewed.token, '/api/v1/namespaces/payments/pods'), 401);
});

test('Redis down: issuing fails fast with RedisUnavailableError and creates nothing in the cluster', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.close());
  const own = createRedis(server.url, { keyPrefix: 'down:', commandTimeoutMs: 2000, connectTimeoutMs: 5000 });
  t.teardown(() => own.close());
  await own.ready();
  const ownExpiry = new GrantExpiry({ redis: own });
  t.teardown(() => ownExpiry.close());
  const lifecycle = new GrantLifecycle({ store: new GrantStore({ redis: own }), expiry: ownExpiry, credentialsFor: () => credentials });
  await server.stop();
  const before = api.objects.list('serviceaccounts', AGENTGATE_NS).length;
  const started = performance.now();
  const error = await t.throwsAsync(lifecycle.issue(podsGrant()), { instanceOf: RedisUnavailableError });
  t.true(performance.now() - started < 1000, 'a refused connection fails at once, without waiting for the command timeout');
  t.is(error?.code, 'redis-unavailable');
  t.is(api.objects.list('serviceaccounts', AGENTGATE_NS).length, before);
});
