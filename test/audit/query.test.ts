// Queries over a real redis-server: each filter alone and combined, time bounds on the events'
// own time, bounded pages with a cursor, the JSON-lines export, and `agentgate audit`'s output.
import test from 'ava';
import type { Redis } from 'ioredis';
import { auditCommand, AuditQueryError, auditRecords, createAuditStore, exportAudit, MAX_PAGE_SIZE, queryAudit, type AuditFilters, type AuditStore } from '../../src/audit/index.ts';
import type { AuditEvent } from '../../src/contracts/audit.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { auditEvent, auditEvents, brokerRedis, collector, prefix, untilReady } from './fixtures.ts';

let server: RedisServer;
let redis: Redis;
let store: AuditStore;
let keyPrefix: string;
const now = Date.now();
const ago = (ms: number) => new Date(now - ms).toISOString();
const HOUR = 3_600_000;

// One event per distinguishing value; `tag` names it so expectations read as names.
const corpus: Record<string, AuditEvent> = {
  coderRecent: auditEvent({ agent: 'coder', time: ago(10 * 60_000) }),
  coderOld: auditEvent({ agent: 'coder', time: ago(3 * HOUR) }),
  reviewer: auditEvent({ agent: 'reviewer', time: ago(20 * 60_000), verb: 'get' }),
  staging: auditEvent({ agent: 'coder', connection: 'staging', time: ago(30 * 60_000) }),
  teamB: auditEvent({ agent: 'coder', namespace: 'team-b', time: ago(40 * 60_000) }),
  crossNs: auditEvent({ agent: 'coder', targetNamespace: 'payments', verb: 'delete', resource: 'deployments', outcome: 'deny', code: 'policy-deny', time: ago(50 * 60_000) }),
  pending: auditEvent({ agent: 'coder', verb: 'create', outcome: 'approval-required', time: ago(2 * HOUR) }),
};
const tagOf = new Map(Object.entries(corpus).map(([tag, event]) => [event.id, tag]));
const tags = (events: readonly { event: AuditEvent }[]) => events.map((record) => tagOf.get(record.event.id) ?? 'other').sort();

test.before(async () => {
  server = await startRedis();
  redis = brokerRedis(server.url);
  await untilReady(redis);
  keyPrefix = prefix();
  store = createAuditStore({ redis, keyPrefix, stdout: null });
  // Arrival order differs from event time on purpose: the old event arrives last, as from a spool.
  const { coderOld, ...rest } = corpus;
  await store.append(Object.values(rest));
  await store.append([coderOld]);
  await store.trim();
});
test.after.always(async () => {
  redis?.disconnect();
  await server?.close();
});

const rows: { name: string; filters: AuditFilters; expected: string[] }[] = [
  // Identity.
  { name: 'agent', filters: { agent: 'reviewer' }, expected: ['reviewer'] },
  { name: 'connection', filters: { connection: 'staging' }, expected: ['staging'] },
  { name: "the agent's namespace", filters: { namespace: 'team-b' }, expected: ['teamB'] },
  { name: 'an agent that never acted', filters: { agent: 'nobody' }, expected: [] },
  // Request.
  { name: 'verb', filters: { verb: 'delete' }, expected: ['crossNs'] },
  { name: 'resource', filters: { resource: 'deployments' }, expected: ['crossNs'] },
  { name: 'the namespace the request addressed', filters: { targetNamespace: 'payments' }, expected: ['crossNs'] },
  // Decision.
  { name: 'outcome deny', filters: { outcome: 'deny' }, expected: ['crossNs'] },
  { name: 'outcome approval-required', filters: { outcome: 'approval-required' }, expected: ['pending'] },
  { name: 'reason code', filters: { code: 'policy-deny' }, expected: ['crossNs'] },
  // Time, on the events' own time (the old event arrived last).
  { name: 'since 1h', filters: { since: '1h' }, expected: ['coderRecent', 'crossNs', 'reviewer', 'staging', 'teamB'] },
  { name: 'since 1h for agent coder', filters: { agent: 'coder', since: '1h' }, expected: ['coderRecent', 'crossNs', 'staging', 'teamB'] },
  { name: 'until 1h ago', filters: { until: '1h' }, expected: ['coderOld', 'pending'] },
  { name: 'between two RFC 3339 times', filters: { since: ago(35 * 60_000), until: ago(15 * 60_000) }, expected: ['reviewer', 'staging'] },
  // Combined.
  { name: 'coder in team-a allowed', filters: { agent: 'coder', namespace: 'team-a', connection: 'prod-eu', outcome: 'allow' }, expected: ['coderOld', 'coderRecent'] },
];

for (const row of rows) {
  test(`query by ${row.name}`, async (t) => {
    const page = await queryAudit(store, row.filters, { now });
    t.deepEqual(tags(page.records), [...row.expected].sort());
    t.is(page.cursor, undefined, 'a small result is one page');
  });
}

test('bad filters are refused with a typed error naming what was expected', async (t) => {
  const bad: { name: string; filters: AuditFilters; message: RegExp }[] = [
    { name: 'a bare number as since', filters: { since: '30' }, message: /since "30" is neither a duration/ },
    { name: 'a date without time', filters: { until: 'yesterday' }, message: /until "yesterday"/ },
    { name: 'an unknown outcome', filters: { outcome: 'maybe' as AuditFilters['outcome'] }, message: /outcome "maybe" is not one of allow, approval-required, deny/ },
  ];
  for (const row of bad) {
    const error = await t.throwsAsync(queryAudit(store, row.filters), { instanceOf: AuditQueryError }, row.name);
    t.regex(error?.message ?? '', row.message, row.name);
  }
  await t.throwsAsync(queryAudit(store, {}, { cursor: '(0-0' }), { instanceOf: AuditQueryError });
});

test('pages are bounded and a cursor reads on, oldest first, without repeats', async (t) => {
  const own = createAuditStore({ redis, keyPrefix: prefix(), stdout: null });
  const events = auditEvents(25);
  await own.append(events);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await queryAudit(own, {}, { limit: 10, ...(cursor ? { cursor } : {}) });
    t.true(page.records.length <= 10);
    seen.push(...page.records.map((record) => record.event.id));
    cursor = page.cursor;
    pages++;
  } while (cursor !== undefined);
  t.deepEqual(seen, events.map((event) => event.id));
  t.is(pages, 3);
  t.is((await queryAudit(own, {}, { limit: 1_000_000 })).records.length, 25, `a page is cut to ${MAX_PAGE_SIZE}`);
  t.is(MAX_PAGE_SIZE, 1000);
});

test('export writes every match as a JSON line {streamId, seq, hash, event}, across pages', async (t) => {
  const own = createAuditStore({ redis, keyPrefix: prefix(), stdout: null });
  const events = [...auditEvents(1200, { agent: 'bulk' }), ...auditEvents(5, { agent: 'other' })];
  for (let i = 0; i < events.length; i += 500) await own.append(events.slice(i, i + 500));
  const out = collector();
  t.is(await exportAudit(own, { agent: 'bulk' }, out.stream), 1200);
  const lines = out.lines() as { streamId: string; seq: number; hash: string; event: AuditEvent }[];
  t.is(lines.length, 1200);
  t.deepEqual(lines.map((line) => line.event.id), events.slice(0, 1200).map((event) => event.id));
  t.deepEqual(lines.map((line) => line.seq), Array.from({ length: 1200 }, (_, i) => i));
  t.true(lines.every((line) => /^\d+-\d+$/.test(line.streamId) && /^[0-9a-f]{64}$/.test(line.hash)));
  let count = 0;
  for await (const record of auditRecords(own, { agent: 'other' })) count += record.event.identity.agent === 'other' ? 1 : 0;
  t.is(count, 5);
});

test('agentgate audit prints matching events as text or JSON lines; bad filters exit 2, no Redis exits 1', async (t) => {
  const text = await auditCommand({ redisUrl: server.url, keyPrefix, filters: { agent: 'reviewer', since: '1h' } });
  t.is(text.exitCode, 0);
  t.is(text.stdout, `${corpus.reviewer?.time}  prod-eu/team-a/reviewer  get pods -n team-a  allow (grant-live)  200\n`);
  const json = await auditCommand({ redisUrl: server.url, keyPrefix, filters: { agent: 'coder' }, output: 'json', limit: 2 });
  t.is(json.exitCode, 0);
  const lines = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: AuditEvent });
  t.is(lines.length, 2, 'limit stops the listing');
  t.true(lines.every((line) => line.event.identity.agent === 'coder'));
  const none = await auditCommand({ redisUrl: server.url, keyPrefix, filters: { agent: 'nobody' } });
  t.deepEqual(none, { exitCode: 0, stdout: '', stderr: 'no audit events match\n' });
  const bad = await auditCommand({ redisUrl: 'redis://127.0.0.1:1', keyPrefix, filters: { since: 'soon' } });
  t.is(bad.exitCode, 2, 'a bad filter is a usage error, found before connecting');
  t.regex(bad.stderr, /since "soon"/);
  const down = await auditCommand({ redisUrl: 'redis://127.0.0.1:1', keyPrefix, filters: {}, timeoutMs: 1000 });
  t.is(down.exitCode, 1);
  t.regex(down.stderr, /cannot read the audit store at redis:\/\/127\.0\.0\.1:1/);
});
