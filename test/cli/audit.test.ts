// `agentgate audit` and `agentgate audit verify` through the CLI against a real redis-server:
// filters reach the store, the chain verifies, a tampered entry makes verify exit 1, and a
// missing Redis URL is a configuration error that names the variable.
import test from 'ava';
import { Redis } from 'ioredis';
import { createAuditStore } from '../../src/audit/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { auditEvent, brokerRedis, untilReady } from '../audit/fixtures.ts';
import { agentgateInProcess } from './helpers.ts';

let server: RedisServer;
test.before(async () => {
  server = await startRedis();
  const redis = brokerRedis(server.url);
  await untilReady(redis);
  const store = createAuditStore({ redis, keyPrefix: 'agentgate:', retention: {}, stdout: null });
  await store.append([auditEvent({ agent: 'coder', verb: 'list' }), auditEvent({ agent: 'coder', verb: 'get' }), auditEvent({ agent: 'reviewer', verb: 'list', outcome: 'deny' })]);
  redis.disconnect();
});
test.after.always(async () => { await server?.close(); });

const env = () => ({ AGENTGATE_BROKER_REDIS_URL: server.url });

test.serial('audit --agent --json prints only that agent\'s events as JSON lines', async (t) => {
  const run = await agentgateInProcess(['audit', '--agent', 'coder', '--json'], env());
  t.is(run.code, 0, run.stderr);
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: { identity: { agent: string }; attributes: { verb: string } } });
  t.deepEqual(events.map((e) => [e.event.identity.agent, e.event.attributes.verb]), [['coder', 'list'], ['coder', 'get']]);
});

test.serial('audit with a bad outcome filter is a usage error', async (t) => {
  const run = await agentgateInProcess(['audit', '--outcome', 'maybe'], env());
  t.is(run.code, 2);
  t.regex(run.stderr, /outcome "maybe" is not one of allow, approval-required, deny/);
});

test.serial('audit verify exits 0 on an intact chain, then 1 after an entry is edited', async (t) => {
  const intact = await agentgateInProcess(['audit', 'verify'], env());
  t.is(intact.code, 0, intact.stdout + intact.stderr);
  const raw = new Redis(server.url);
  t.teardown(() => raw.disconnect());
  const streams = (await raw.keys('agentgate:*')).filter((key) => key.includes('stream'));
  t.is(streams.length, 1, `audit stream key among ${streams.join(', ')}`);
  const entries = (await raw.xrange(streams[0] as string, '-', '+')) as Array<[string, string[]]>;
  const [id, fields] = entries[1] as [string, string[]];
  // Tamper: rewrite the second entry's payload under the same id.
  const edited = fields.map((value) => value.replace('"verb":"get"', '"verb":"delete"'));
  t.notDeepEqual(edited, fields, 'the edit changed the entry');
  const all = entries.map(([entryId, values]) => [entryId, entryId === id ? edited : values] as const);
  await raw.del(streams[0] as string);
  for (const [entryId, values] of all) await raw.xadd(streams[0] as string, entryId, ...values);
  const broken = await agentgateInProcess(['audit', 'verify'], env());
  t.is(broken.code, 1);
  t.regex(broken.stdout + broken.stderr, new RegExp(id.replace('-', '\\-')));
});

test('audit without a Redis URL exits 78 and names the variable', async (t) => {
  const run = await agentgateInProcess(['audit'], {});
  t.is(run.code, 78);
  t.regex(run.stderr, /AGENTGATE_BROKER_REDIS_URL/);
});
