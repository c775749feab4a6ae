// Redis outages: while Redis is down the broker fails closed (decisions 503 redis-unavailable)
// and refuses audit batches with 503 so the sidecar keeps them spooled; after Redis restarts from
// its AOF and the broker restarts, the grant made before is still live and the audit is intact.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { AuditAcceptedSchema, BROKER_API_VERSION, BrokerPaths, type AuditBatch } from '../../src/contracts/index.ts';
import { parseWith } from '../../src/contracts/result.ts';
import { queryAudit, verifyAudit } from '../../src/audit/index.ts';
import { AGENT_NS, attrs, decide, openStream, startBrokerWorld, until, type BrokerWorld } from './harness.ts';

let world: BrokerWorld;
test.before(async () => {
  world = await startBrokerWorld({ persistentRedis: true });
});
test.after.always(async () => {
  await world?.close();
});

const parseAccepted = (value: unknown) => parseWith(AuditAcceptedSchema, value);

function batchFor(podUid: string, podName: string): AuditBatch {
  const time = new Date().toISOString();
  return {
    apiVersion: BROKER_API_VERSION,
    sidecar: { podUid, instance: randomUUID() },
    events: [{
      id: randomUUID(), time,
      identity: { connection: 'test', namespace: AGENT_NS, agent: 'outage-bot', originalServiceAccount: 'outage-bot', owner: null, podUid, podName },
      requestId: `req-${randomUUID().slice(0, 8)}`,
      attributes: attrs('list', 'pods', AGENT_NS),
      decision: { outcome: 'allow', code: 'grant-live' },
      response: { code: 200, bytes: 512, durationMs: 3 },
      command: 'kubectl get',
      masked: 0,
    }],
  };
}

function readyz(): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${world.broker.url}/readyz`, { ca: world.caPem }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

test.serial('Redis down: decisions fail closed and audit batches are refused; after a Redis and broker restart the grant and the audit are still there', async (t) => {
  const pod = world.pod('agent-outage', { agent: 'outage-bot' });
  const uid = pod.metadata.uid ?? '';
  let client = await world.client(await world.podToken(pod));
  t.teardown(() => client.close());

  const granted = await decide(client, attrs('list', 'pods', AGENT_NS), uid);
  if (!granted.ok || !granted.value.grant) return t.fail(JSON.stringify(granted));
  const grantId = granted.value.grant.id;
  const before = batchFor(uid, 'agent-outage');
  const accepted = await client.post(BrokerPaths.audit, before, parseAccepted);
  t.true(accepted.ok && accepted.value.accepted === 1, JSON.stringify(accepted));
  await until(async () => {
    await world.broker.auditor.flush();
    return world.broker.auditor.stats.queued() === 0;
  }, 5000, 'decision events stored');

  await world.redis.stop();
  const refusedDecision = await decide(client, attrs('get', 'pods', AGENT_NS, { name: 'web-0' }), uid);
  t.false(refusedDecision.ok);
  if (!refusedDecision.ok && refusedDecision.kind === 'refused') {
    t.is(refusedDecision.status, 503);
    t.is(refusedDecision.error?.code, 'redis-unavailable');
  } else t.fail(JSON.stringify(refusedDecision));
  const refusedAudit = await client.post(BrokerPaths.audit, batchFor(uid, 'agent-outage'), parseAccepted);
  t.true(!refusedAudit.ok && refusedAudit.kind === 'refused' && refusedAudit.status === 503 && refusedAudit.error?.code === 'redis-unavailable', JSON.stringify(refusedAudit));
  const stream = await openStream(client);
  t.is(stream.status, 503, 'no stream while Redis is away: the sidecar serves nothing from cache');
  stream.close();
  t.is(await readyz(), 503);

  await world.redis.restart();
  await world.restartBroker();
  client.close();
  client = await world.client(await world.podToken(pod));
  await until(async () => (await readyz()) === 200, 10_000, 'ready again');

  const after = await decide(client, attrs('get', 'pods', AGENT_NS, { name: 'web-0' }), uid);
  t.true(after.ok && after.value.reason.code === 'grant-live' && after.value.grant?.id === grantId, JSON.stringify(after));
  const resumed = await openStream(client);
  t.teardown(() => resumed.close());
  await until(() => resumed.events.some((e) => e.event.type === 'credential' && e.event.credential.grantId === grantId), 5000, 'the credential again');

  // The sidecar's event and the broker's own decision events survived, and the chain is whole.
  const page = await queryAudit(world.broker.audit, { agent: 'outage-bot' }, { limit: 100 });
  t.true(page.records.some((r) => r.event.id === before.events[0]?.id), 'the sidecar batch survived');
  t.true(page.records.some((r) => r.event.grantId === grantId && r.event.decision.code === 'grant-created'), 'the broker decision event survived');
  const verified = await verifyAudit(world.broker.audit);
  t.true(verified.ok, JSON.stringify(verified));
  // The batch refused during the outage is accepted when the sidecar sends it again.
  const resent = await client.post(BrokerPaths.audit, batchFor(uid, 'agent-outage'), parseAccepted);
  t.true(resent.ok && resent.value.accepted === 1);
});
