// Grants end to end, as the sidecar calls the broker: a decision yields a grant and (on the
// stream) its credential, which opens exactly the granted scope in the API double's real RBAC and
// nothing else; at the grant's end its bindings go and the credential stops working although the
// token itself is still within its lifetime. Plus discovery, approvals and guardrails.
import test from 'ava';
import https from 'node:https';
import type { Credential } from '../../src/contracts/index.ts';
import { GRANT_LABEL } from '../../src/broker/credentials/tokenrequest.ts';
import { AGENT_NS, AGENTGATE_NS, attrs, decide, openStream, startBrokerWorld, until, urlAttrs, type BrokerWorld } from './harness.ts';

let world: BrokerWorld;
const TTL_MS = 3000;
test.before(async () => {
  world = await startBrokerWorld({ broker: { maxGrantTtlMs: TTL_MS } });
});
test.after.always(async () => {
  await world?.close();
});

function call(token: string, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${world.kube.url}${path}`, { method, ca: world.kube.caPem, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const objectsOf = (id: string): number =>
  ['roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io'].flatMap((r) => world.kube.objects.list(r)).filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length
  + world.kube.objects.list('serviceaccounts', AGENTGATE_NS).filter((o) => o.metadata.labels?.[GRANT_LABEL] === id).length;

test('list pods in its own namespace: a grant with a credential that opens exactly that, ending with the grant', async (t) => {
  const pod = world.pod('agent-grants', { agent: 'grants-bot' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const stream = await openStream(client);
  t.teardown(() => stream.close());
  await until(() => stream.events.some((e) => e.event.type === 'hello'), 5000, 'hello');

  const answer = await decide(client, attrs('list', 'pods', AGENT_NS), pod.metadata.uid);
  if (!answer.ok) return t.fail(JSON.stringify(answer));
  const decision = answer.value;
  t.is(decision.outcome, 'allow');
  t.is(decision.reason.code, 'grant-created');
  const grantId = decision.grant?.id ?? '';
  t.deepEqual(decision.grant?.namespaces, [AGENT_NS]);
  t.is(decision.credentialRef?.grantId, grantId);

  await until(() => stream.events.some((e) => e.event.type === 'credential' && e.event.credential.grantId === grantId), 5000, 'credential on the stream');
  t.true(stream.events.some((e) => e.event.type === 'grant' && e.event.grant.id === grantId));
  const credential = stream.events.map((e) => e.event).find((e): e is { type: 'credential'; seq: number; credential: Credential } => e.type === 'credential')?.credential;
  if (!credential) return t.fail('no credential');

  // What the grant opens, and what it does not.
  const cases: Array<[string, string, string, number]> = [
    ['list pods in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/pods`, 200],
    ['get one pod in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/pods/web-0`, 200],
    ['list secrets in its namespace', 'GET', `/api/v1/namespaces/${AGENT_NS}/secrets`, 403],
    ['list pods in another namespace', 'GET', '/api/v1/namespaces/other/pods', 403],
    ['list pods cluster-wide', 'GET', '/api/v1/pods', 403],
    ['delete a pod in its namespace', 'DELETE', `/api/v1/namespaces/${AGENT_NS}/pods/web-0`, 403],
  ];
  for (const [name, method, path, status] of cases) t.is(await call(credential.token, path, method), status, name);

  // A second request under the same grant is answered from it, not with another grant.
  const again = await decide(client, attrs('get', 'pods', AGENT_NS, { name: 'web-0' }), pod.metadata.uid);
  t.true(again.ok && again.value.reason.code === 'grant-live' && again.value.grant?.id === grantId, JSON.stringify(again));

  // The end: the revocation reaches the stream, the bindings go, the token stops opening anything.
  await until(() => stream.events.some((e) => e.event.type === 'revocation' && e.event.grantId === grantId && e.event.reason === 'expired'), TTL_MS + 5000, 'expiry on the stream');
  await until(() => objectsOf(grantId) === 0, 5000, 'grant objects removed');
  t.true(Date.parse(credential.expiresAt) > Date.now() + 60_000, 'the token itself is still within its lifetime');
  t.is(await call(credential.token, `/api/v1/namespaces/${AGENT_NS}/pods`), 401);
  t.is(await world.broker.store.get(grantId), undefined);
});

test('discovery is granted on demand as a cluster-wide read of the discovery URLs only', async (t) => {
  const pod = world.pod('agent-discovery', { agent: 'discovery-bot' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  for (const path of ['/api', '/apis', '/version', '/openapi/v2', '/apis/apps/v1']) {
    const answer = await decide(client, urlAttrs(path));
    t.true(answer.ok && answer.value.outcome === 'allow', `${path}: ${JSON.stringify(answer)}`);
    if (answer.ok) t.deepEqual(answer.value.grant?.namespaces, ['*']);
  }
  const healthz = await decide(client, urlAttrs('/metrics'));
  t.true(healthz.ok && healthz.value.outcome === 'approval-required', 'other non-resource URLs fall to the policy default');
  const grants = await world.broker.store.listFor({ connection: 'test', namespace: AGENT_NS, agent: 'discovery-bot' });
  t.is(grants.length, 1, 'concurrent and repeated discovery shares one grant');
});

test('what policy does not grant on demand waits for a human, as one access request per scope', async (t) => {
  const pod = world.pod('agent-approval', { agent: 'approval-bot' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const rows: Array<{ name: string; a: Parameters<typeof decide>[1]; code: string }> = [
    { name: 'secrets are never read on demand', a: attrs('list', 'secrets', AGENT_NS), code: 'policy-no-rule' },
    { name: 'exec over a websocket GET is not a plain get', a: attrs('get', 'pods/exec', AGENT_NS, { name: 'web-0' }), code: 'policy-no-rule' },
    { name: 'another namespace', a: attrs('list', 'pods', 'other'), code: 'policy-no-rule' },
    { name: 'creating a service account is a named approval', a: attrs('create', 'serviceaccounts', AGENT_NS), code: 'policy-approval' },
  ];
  for (const row of rows) {
    const first = await decide(client, row.a, pod.metadata.uid);
    const second = await decide(client, row.a, pod.metadata.uid);
    if (!first.ok || !second.ok) return t.fail(JSON.stringify([first, second]));
    t.is(first.value.outcome, 'approval-required', row.name);
    t.is(first.value.reason.code, row.code, row.name);
    t.is(second.value.approvalRequestId, first.value.approvalRequestId, `${row.name}: the same request, not a second one`);
    const request = await world.broker.accessRequests.get(first.value.approvalRequestId ?? '');
    t.is(request?.status.phase, 'Pending', row.name);
  }
});

test('a guardrail refuses whatever policy says, with its reason code', async (t) => {
  const pod = world.pod('agent-guardrail', { agent: 'guard-bot' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const rows: Array<[string, Parameters<typeof decide>[1], string]> = [
    ['service account tokens', attrs('create', 'serviceaccounts/token', AGENT_NS, { name: 'default' }), 'serviceaccount-token'],
    ["agentgate's own namespace", attrs('list', 'pods', AGENTGATE_NS), 'agentgate-namespace'],
    ['deleting a namespace', { ...attrs('delete', 'namespaces', ''), name: 'payments', path: '/api/v1/namespaces/payments' }, 'namespace-delete'],
  ];
  for (const [name, a, code] of rows) {
    const answer = await decide(client, a, pod.metadata.uid);
    t.true(answer.ok && answer.value.outcome === 'deny' && answer.value.reason.code === code, `${name}: ${JSON.stringify(answer)}`);
  }
});

test('an approved access request becomes a grant the agent\'s stream receives', async (t) => {
  const pod = world.pod('agent-approved', { agent: 'approved-bot' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const stream = await openStream(client);
  t.teardown(() => stream.close());
  const asked = await decide(client, attrs('list', 'configmaps', 'other'), pod.metadata.uid);
  if (!asked.ok || asked.value.approvalRequestId === undefined) return t.fail(JSON.stringify(asked));
  const granted = await world.broker.approve(asked.value.approvalRequestId, 'alice@example.com');
  t.is(granted?.status.phase, 'Granted');
  t.is(granted?.status.decidedBy, 'alice@example.com');
  const grantId = granted?.status.grantId ?? '';
  await until(() => stream.events.some((e) => e.event.type === 'credential' && e.event.credential.grantId === grantId), 5000, 'credential');
  const now = await decide(client, attrs('list', 'configmaps', 'other'), pod.metadata.uid);
  t.true(now.ok && now.value.reason.code === 'grant-live' && now.value.grant?.id === grantId, JSON.stringify(now));
  const record = await world.broker.store.get(grantId);
  t.is(record?.grant.approvedBy, 'alice@example.com');
  t.is(record?.grant.accessRequestId, asked.value.approvalRequestId);
});
