// Starting the sidecar: the files the agent reads (written atomically), the loopback API and the
// health listener that answers only /healthz and /readyz, readiness within a second, token
// rotation with a grace period, and audit events reaching the broker in batches.
import { readdir, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import { kubectl } from '../helpers/kubectl.ts';
import { grantPodReads, startWorld, until } from './harness.ts';

function healthGet(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('start: ca.crt, token and namespace are in the shared dir, and the start takes under 1 s', async (t) => {
  const world = await startWorld();
  t.teardown(() => world.close());
  const shared = join(world.dir, 'shared');
  const files = (await readdir(shared)).sort();
  t.deepEqual(files, ['ca.crt', 'namespace', 'token'], 'no temp files left behind');
  t.is(await readFile(join(shared, 'ca.crt'), 'utf8'), world.sidecar.caPem);
  t.is(await readFile(join(shared, 'namespace'), 'utf8'), 'agents');
  const token = await world.token();
  t.regex(token, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');
  t.is((await stat(join(shared, 'token'))).mode & 0o777, 0o644);
  t.true(world.startMs < 1000, `ready ${Math.round(world.startMs)} ms after start`);
  t.log(`sidecar ready ${world.startMs.toFixed(1)} ms after startSidecar was called`);
});

test('health listener: only /healthz, /readyz and /metrics, everything else 404, never the API', async (t) => {
  const world = await startWorld();
  t.teardown(() => world.close());
  const port = world.sidecar.healthPort;
  const rows = [
    { name: 'healthz', path: '/healthz', status: 200, body: 'ok' },
    { name: 'readyz', path: '/readyz', status: 200, body: 'ok' },
    { name: 'readyz with a query', path: '/readyz?verbose', status: 200, body: 'ok' },
    { name: 'the API is not served here', path: '/api/v1/namespaces/agents/pods', status: 404, body: 'not found' },
    { name: 'metrics with a trailing slash is not metrics', path: '/metrics/', status: 404, body: 'not found' },
    { name: 'look-alike path', path: '/healthz/../api', status: 404, body: 'not found' },
  ];
  for (const row of rows) {
    const reply = await healthGet(port, row.path);
    t.is(reply.status, row.status, row.name);
    t.is(reply.body, row.body, row.name);
  }
});

test('token rotation: the file gets the new token, the old one keeps working during the grace period', async (t) => {
  const world = await startWorld();
  t.teardown(() => world.close());
  grantPodReads(world);
  const old = await world.token();
  const next = await world.sidecar.rotateToken();
  t.not(next, old);
  t.is(await world.token(), next);
  for (const token of [old, next]) {
    const reply = await world.call('GET', '/api/v1/namespaces/agents/pods', { headers: { authorization: `Bearer ${token}` } });
    t.is(reply.status, 200);
  }
});

test('audit: one event per request, tied to the agent, with kubectl command and session, sent in batches', async (t) => {
  const world = await startWorld();
  t.teardown(() => world.close());
  grantPodReads(world);
  const ok = await kubectl('1.33', ['get', 'pods'], { kubeconfig: world.kubeconfig });
  t.is(ok.code, 0, ok.stderr);
  const refused = await kubectl('1.33', ['get', 'secrets'], { kubeconfig: world.kubeconfig });
  t.is(refused.code, 1);
  await until(() => world.broker.auditBatches.flatMap((b) => b.events).some((e) => e.attributes.resource === 'secrets'), 5000, 'audit events');
  const events = world.broker.auditBatches.flatMap((b) => b.events);
  t.deepEqual(world.broker.violations, []);
  const list = events.find((e) => e.attributes.resource === 'pods' && e.attributes.verb === 'list');
  t.truthy(list);
  t.is(list?.decision.outcome, 'allow');
  t.is(list?.grantId, 'g-pods');
  t.is(list?.response.code, 200);
  t.true((list?.response.bytes ?? 0) > 0);
  t.is(list?.command, 'kubectl get');
  t.truthy(list?.sessionId);
  t.is(list?.identity.agent, 'agent-a');
  const denied = events.find((e) => e.attributes.resource === 'secrets');
  t.is(denied?.decision.outcome, 'deny');
  t.is(denied?.decision.code, 'no-grant');
  t.is(denied?.response.code, 403);
  t.is(world.broker.auditBatches[0]?.sidecar.podUid, world.identity.podUid);
});

test('audit: events wait while the broker is down and are delivered when it is back', async (t) => {
  const world = await startWorld();
  t.teardown(() => world.close());
  world.broker.mode = 'down';
  world.broker.dropStreams();
  const reply = await world.call('GET', '/api/v1/namespaces/agents/pods', { headers: { authorization: `Bearer ${await world.token()}` } });
  t.is(reply.status, 503);
  await world.sidecar.auditor.flush();
  t.is(world.sidecar.auditor.stats.queued(), 1, 'kept, not lost');
  world.broker.mode = 'up';
  await world.sidecar.auditor.flush();
  t.is(world.sidecar.auditor.stats.queued(), 0);
  const delivered = world.broker.auditBatches.flatMap((b) => b.events);
  t.is(delivered.length, 1);
  t.is(delivered[0]?.decision.code, 'broker-unavailable');
  t.is(delivered[0]?.response.code, 503);
});
