// Access requests over the v1 contract (POST /v1/accessrequests, GET /v1/accessrequests/{id}) as
// the sidecar's virtual API calls them; their expiry; audit batches of another pod; /metrics.
import test from 'ava';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { BROKER_API_VERSION, BrokerPaths, parseAccessRequest, type AccessRequestSpec } from '../../src/contracts/index.ts';
import { AccessRequestStore } from '../../src/broker/accessrequests.ts';
import { createRedis } from '../../src/redis/client.ts';
import { AGENT_NS, attrs, decide, startBrokerWorld, type BrokerWorld } from './harness.ts';

let world: BrokerWorld;
test.before(async () => {
  world = await startBrokerWorld();
});
test.after.always(async () => {
  await world?.close();
});

const spec = (overrides: Partial<AccessRequestSpec> = {}): AccessRequestSpec => ({
  rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'] }],
  namespaces: ['other'],
  duration: '30m',
  reason: 'read the feature flags of the other team',
  ...overrides,
});

test('an agent asks through its sidecar: created once per requestId, readable by it and by nobody else', async (t) => {
  const mine = world.pod('ar-mine', { agent: 'asker' });
  const theirs = world.pod('ar-theirs', { agent: 'someone-else' });
  const client = await world.client(await world.podToken(mine));
  const other = await world.client(await world.podToken(theirs));
  t.teardown(() => { client.close(); other.close(); });
  const requestId = randomUUID();
  const body = { apiVersion: BROKER_API_VERSION, requestId, spec: spec() };
  const first = await client.post(BrokerPaths.accessRequests, body, parseAccessRequest);
  const retried = await client.post(BrokerPaths.accessRequests, body, parseAccessRequest);
  if (!first.ok || !retried.ok) return t.fail(JSON.stringify([first, retried]));
  t.is(retried.value.id, first.value.id, 'a retry with the same requestId is the same request');
  t.deepEqual(first.value.identity, { connection: 'test', namespace: AGENT_NS, agent: 'asker' });
  t.is(first.value.status.phase, 'Pending');

  const got = await getRequest(await world.podToken(mine), first.value.id);
  t.is(got.status, 200);
  t.is((JSON.parse(got.body) as { id: string }).id, first.value.id);
  const stranger = await getRequest(await world.podToken(theirs), first.value.id);
  t.is(stranger.status, 404);
  t.is((JSON.parse(stranger.body) as { code: string }).code, 'not-found');
});

function getRequest(token: string, id: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(`${world.broker.url}${BrokerPaths.accessRequest(id)}`, { ca: world.caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('requests the guardrails forbid, or outside the contract, are refused with their code', async (t) => {
  const pod = world.pod('ar-bad', { agent: 'bad-asker' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const rows: Array<[string, AccessRequestSpec, number, string]> = [
    ['service account tokens', spec({ rules: [{ verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts/token'] }] }), 403, 'serviceaccount-token'],
    ['the impersonate verb', spec({ rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['users'] }] }), 403, 'verb-impersonate'],
    ['a duration past 8h', spec({ duration: '9h' }), 400, 'bad-request'],
    ['no reason', spec({ reason: ' ' }), 400, 'bad-request'],
  ];
  for (const [name, s, status, code] of rows) {
    const answer = await client.post(BrokerPaths.accessRequests, { apiVersion: BROKER_API_VERSION, requestId: randomUUID(), spec: s }, parseAccessRequest);
    t.true(!answer.ok && answer.kind === 'refused' && answer.status === status && answer.error?.code === code, `${name}: ${JSON.stringify(answer)}`);
  }
});

test('a pending request nobody decides reads as Expired once its time is up', async (t) => {
  const redis = createRedis(world.redis.url, { keyPrefix: 'expiry-test:' });
  t.teardown(() => redis.close());
  await redis.ready();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const pending: string[] = [];
  const store = new AccessRequestStore({ redis, pendingMs: 60_000, now: () => now, onPending: (r) => pending.push(r.id) });
  const request = await store.create({ identity: { connection: 'test', namespace: AGENT_NS, agent: 'slow' }, spec: spec() });
  t.deepEqual(pending, [request.id], 'the approval hook heard of it');
  now += 59_999;
  t.is((await store.get(request.id))?.status.phase, 'Pending');
  now += 1;
  const expired = await store.get(request.id);
  t.is(expired?.status.phase, 'Expired');
  t.is(expired?.status.decidedAt, '2030-01-01T00:01:00Z');
  t.is(await store.settle(request.id, { phase: 'Granted', grantId: 'g-late' }), undefined, 'an expired request cannot be granted');
});

test('audit events of another pod are refused; /metrics counts decisions', async (t) => {
  const pod = world.pod('ar-audit', { agent: 'auditor' });
  const client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());
  const decided = await decide(client, attrs('list', 'pods', AGENT_NS), pod.metadata.uid);
  t.true(decided.ok);
  const foreign = '11111111-2222-4333-8444-555555555555';
  const batch = {
    apiVersion: BROKER_API_VERSION,
    sidecar: { podUid: pod.metadata.uid, instance: 'one' },
    events: [{
      id: randomUUID(), time: new Date().toISOString(),
      identity: { connection: 'test', namespace: AGENT_NS, agent: 'auditor', originalServiceAccount: 'auditor', owner: null, podUid: foreign },
      requestId: 'r1', attributes: attrs('list', 'pods', AGENT_NS), decision: { outcome: 'allow', code: 'grant-live' },
      response: { code: 200, bytes: 1, durationMs: 1 }, masked: 0,
    }],
  };
  const refused = await client.post(BrokerPaths.audit, batch, (v) => ({ ok: true as const, value: v }));
  t.true(!refused.ok && refused.kind === 'refused' && refused.status === 403 && refused.error?.code === 'identity-invalid', JSON.stringify(refused));

  const metrics = await new Promise<string>((resolve, reject) => {
    https.get(`${world.broker.url}/metrics`, { ca: world.caPem }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  t.regex(metrics, /agentgate_broker_decisions_total\{outcome="allow",code="grant-created"\} \d+/);
  t.regex(metrics, /agentgate_broker_errors_total\{route="audit",code="identity-invalid"\} 1/);
  t.regex(metrics, /agentgate_broker_streams_open 0/);
});
