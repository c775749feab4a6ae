// Failing closed on a full audit spool (503 audit-spool-full as kubectl prints it, until the broker
// takes the backlog, with no event lost), the /metrics families, and shutdown flushing the audit
// to the spool when the broker is away.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createAuditSpool } from '../../src/audit/spool.ts';
import type { AuditEvent } from '../../src/contracts/index.ts';
import { kubectl } from '../helpers/kubectl.ts';
import { grantPodReads, startWorld, until } from './harness.ts';

const PODS = '/api/v1/namespaces/agents/pods';

async function spoolDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-spool-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject).end();
  });
}

test('a full audit spool refuses requests with 503 audit-spool-full until the broker takes the backlog; no event is lost', async (t) => {
  const dir = await spoolDir(t);
  const spool = await createAuditSpool({ dir, maxBytes: 1024 * 1024, maxFiles: 1 });
  const world = await startWorld({ deps: { spool, brokerTimeoutMs: 3000 } });
  t.teardown(() => world.close());
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}` };
  const served: number[] = [];
  const get = async (): Promise<{ status: number; body: string }> => {
    const reply = await world.call('GET', PODS, { headers });
    served.push(reply.status);
    return reply;
  };
  const auditor = world.sidecar.auditor;
  // The auditor also flushes on its own timer, so a phase waits until its events are where it expects them
  // (sent or spooled) instead of trusting one flush to have taken them all.
  const settled = async (what: string, check: () => boolean): Promise<void> =>
    until(async () => {
      await auditor.flush();
      return auditor.stats.queued() === 0 && check();
    }, 5000, what);
  t.is((await get()).status, 200, 'the decision is cached from here on');
  await settled('the first event to reach the broker', () => auditor.stats.sent >= 1);

  // The broker refuses audit batches (decisions come from the cache): the first batch fills the spool.
  world.broker.mode = 'error';
  t.is((await get()).status, 200);
  await settled('the second event to be spooled', () => auditor.stats.spooled >= 1);
  t.is(spool.stats().files, 1);
  t.false(world.sidecar.spoolGate?.isClosed(), 'one batch fills the spool without closing the gate');
  // The next batch does not fit: the gate closes.
  t.is((await get()).status, 200);
  await settled('the gate to close', () => world.sidecar.spoolGate?.isClosed() === true);

  const refused = await get();
  t.is(refused.status, 503);
  t.like(JSON.parse(refused.body), { reason: 'ServiceUnavailable', details: { causes: [{ reason: 'audit-spool-full' }] } });
  const printed = await kubectl('1.31', ['get', '--raw', PODS], { kubeconfig: world.kubeconfig });
  t.is(printed.stderr, "Error from server (ServiceUnavailable): agentgate: this pod's audit spool is full, so requests are refused until its audit events reach the broker; retry shortly\n");
  t.regex(await metrics(world.sidecar.healthPort), /^agentgate_sidecar_audit_spool_full 1$/m);

  // The broker is back: the backlog drains and the gate opens.
  world.broker.mode = 'up';
  await world.sidecar.auditor.flush();
  await until(() => world.sidecar.spoolGate?.isClosed() === false, 5000, 'the gate to open');
  t.is((await get()).status, 200);
  t.is(spool.stats().files, 0);
  await world.sidecar.auditor.flush();
  // Every request that was answered 200 is in the audit the broker holds.
  const events = world.broker.auditBatches.flatMap((b) => b.events).filter((e) => e.attributes.path === PODS);
  t.is(events.filter((e) => e.response.code === 200).length, served.filter((s) => s === 200).length);
  t.true(events.some((e) => e.response.code === 503 && e.decision.code === 'audit-spool-full'));
  t.is(new Set(events.map((e) => e.id)).size, events.length, 'no event sent twice');
});

test('/metrics: decision latency, cache hits and misses, upstream errors, masked values, audit queue', async (t) => {
  const world = await startWorld({ upstreamUrl: 'https://127.0.0.1:1', deps: { brokerTimeoutMs: 3000 } });
  t.teardown(() => world.close());
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}` };
  for (let i = 0; i < 3; i++) t.is((await world.call('GET', PODS, { headers })).status, 503, 'the API server is unreachable');
  const text = await metrics(world.sidecar.healthPort);
  const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"+.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  t.is(value('agentgate_sidecar_decision_cache_misses_total'), 1);
  t.is(value('agentgate_sidecar_decision_cache_hits_total'), 2);
  t.is(value('agentgate_sidecar_decision_duration_seconds_count{cached="false"}'), 1);
  t.is(value('agentgate_sidecar_decision_duration_seconds_count{cached="true"}'), 2);
  t.is(value('agentgate_sidecar_decision_duration_seconds_bucket{cached="true",le="+Inf"}'), 2);
  t.is(value('agentgate_sidecar_upstream_errors_total{code="503"}'), 3);
  t.is(value('agentgate_sidecar_requests_total{outcome="allow",code="grant-live"}'), 3);
  t.is(value('agentgate_sidecar_masked_values_total'), 0);
  t.is(value('agentgate_sidecar_open_responses'), 0);
  t.is(value('agentgate_sidecar_upstream_connections'), 0, 'refused connections are not counted as open');
  t.true(value('agentgate_sidecar_audit_queue_events') >= 0);
  t.regex(text, /^# TYPE agentgate_sidecar_decision_duration_seconds histogram$/m);
});

test('/metrics counts the kept-alive connections to the API server', async (t) => {
  const world = await startWorld({ deps: { brokerTimeoutMs: 3000 } });
  t.teardown(() => world.close());
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}` };
  const connections = async (): Promise<number> => Number(/^agentgate_sidecar_upstream_connections (\d+)$/m.exec(await metrics(world.sidecar.healthPort))?.[1] ?? Number.NaN);
  t.is(await connections(), 0, 'none before the first request');
  for (let i = 0; i < 3; i++) t.is((await world.call('GET', PODS, { headers })).status, 200);
  t.is(await connections(), 1, 'three requests in series share one connection');
});

test('shutdown flushes the audit queue to the spool when the broker is away', async (t) => {
  const dir = await spoolDir(t);
  const world = await startWorld({ deps: { spool: await createAuditSpool({ dir, maxBytes: 1024 * 1024, maxFiles: 100 }), brokerTimeoutMs: 3000 } });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await world.close();
  });
  grantPodReads(world);
  const headers = { authorization: `Bearer ${await world.token()}` };
  t.is((await world.call('GET', PODS, { headers })).status, 200);
  await world.sidecar.auditor.flush();
  const delivered = world.broker.auditBatches.length;
  world.broker.mode = 'error';
  for (let i = 0; i < 3; i++) t.is((await world.call('GET', PODS, { headers })).status, 200);
  await world.close();
  closed = true;
  t.is(world.broker.auditBatches.length, delivered, 'the broker took nothing more');
  // A later start finds the events in the spool, in order.
  const reopened = await createAuditSpool({ dir, maxBytes: 1024 * 1024, maxFiles: 100 });
  const spooled: AuditEvent[] = [];
  await reopened.drain(async (events) => void spooled.push(...events));
  t.is(spooled.filter((e) => e.attributes.path === PODS && e.response.code === 200).length, 3);
});
