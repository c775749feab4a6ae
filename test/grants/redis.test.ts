// The Redis client against real redis-servers: TLS with an ACL user, the key layout's hash tags,
// URL mistakes, AOF restart mid-grant, and failing fast (closed) while Redis is down.
// Serial: the restart tests free a port for a moment, and a concurrently started server could take it.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startRedis } from '../helpers/redis.ts';
import { createRedis, keys, RedisUnavailableError } from '../../src/redis/client.ts';
import { GrantStore } from '../../src/grants/index.ts';
import { eventually, podsGrant } from './helpers.ts';

const TLS = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const PASSWORD = 'p@ss:w/rd';

/** A TLS-only redis-server whose default user is off and whose one ACL user has PASSWORD. */
async function startTlsRedis(): Promise<{ port: number; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-redis-tls-'));
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--tls-cert-file', `${TLS}server.crt`, '--tls-key-file', `${TLS}server.key`, '--tls-ca-cert-file', `${TLS}ca.crt`, '--tls-auth-clients', 'no',
    '--user', 'default', 'off', '--user', 'agentgate', 'on', `>${PASSWORD}`, '~*', '&*', '+@all',
  ], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const probe = createRedis(`rediss://agentgate:${encodeURIComponent(PASSWORD)}@localhost:${port}`, { keyPrefix: 'probe:', tls: { caFile: `${TLS}ca.crt` } });
  try {
    await eventually(() => probe.ready().then(() => true, () => false), 10_000, 'TLS redis-server up');
  } finally {
    await probe.close();
  }
  return { port, stop };
}

test.serial('rediss:// with the CA and an ACL user from the URL connects and stores grants', async (t) => {
  const server = await startTlsRedis();
  t.teardown(() => server.stop());
  const redis = createRedis(`rediss://agentgate:${encodeURIComponent(PASSWORD)}@localhost:${server.port}`, { keyPrefix: 'tls:', tls: { caFile: `${TLS}ca.crt` } });
  t.teardown(() => redis.close());
  await redis.ready();
  t.is(await redis.client.call('ACL', 'WHOAMI'), 'agentgate');
  const store = new GrantStore({ redis });
  const grant = await store.create(podsGrant());
  t.is((await store.get(grant.id))?.grant.id, grant.id);
});

const refused: Array<{ name: string; url: (port: number) => string; caFile: string; message: RegExp }> = [
  { name: 'a server certificate from another CA', url: (p) => `rediss://agentgate:${encodeURIComponent(PASSWORD)}@localhost:${p}`, caFile: 'other-ca.crt', message: /^Redis is unavailable \(connect\): .*(self[- ]signed|unable to verify|certificate)/i },
  { name: 'a wrong password', url: (p) => `rediss://agentgate:wrong@localhost:${p}`, caFile: 'ca.crt', message: /^Redis is unavailable \(connect\): WRONGPASS/ },
  { name: 'the disabled default user', url: (p) => `rediss://localhost:${p}`, caFile: 'ca.crt', message: /^Redis is unavailable \(connect\): NOAUTH|^Redis is unavailable \(connect\): NOPERM/ },
];
for (const row of refused) {
  test.serial(`TLS connection refused, as RedisUnavailableError: ${row.name}`, async (t) => {
    const server = await startTlsRedis();
    t.teardown(() => server.stop());
    const redis = createRedis(row.url(server.port), { keyPrefix: 'tls:', tls: { caFile: `${TLS}${row.caFile}` }, connectTimeoutMs: 1000 });
    t.teardown(() => redis.close());
    const error = await t.throwsAsync(redis.ready(), { instanceOf: RedisUnavailableError });
    t.is(error?.code, 'redis-unavailable');
    t.regex(error?.message ?? '', row.message);
    t.false((error?.message ?? '').includes(PASSWORD));
  });
}

const badUrls: Array<{ name: string; url: string; tls?: { caFile: string }; message: string }> = [
  { name: 'not a URL', url: 'localhost:6379', message: 'Redis URL must start with redis:// or rediss://, got localhost://' },
  { name: 'http scheme', url: 'http://localhost:6379', message: 'Redis URL must start with redis:// or rediss://, got http://' },
  { name: 'database that is not a number', url: 'redis://localhost:6379/grants', message: 'Redis URL path must be a database number, got /grants' },
  { name: 'TLS files with a plain URL', url: 'redis://localhost:6379', tls: { caFile: '/x/ca.crt' }, message: 'Redis TLS files are set but the URL is redis://; use rediss:// to connect with TLS' },
  { name: 'garbage with a password', url: 'redis//:hunter2@', message: 'Redis URL is not a URL (expected redis://[user:password@]host:port[/db])' },
];
for (const row of badUrls) {
  test.serial(`createRedis refuses ${row.name}`, (t) => {
    const error = t.throws(() => createRedis(row.url, { keyPrefix: 'x:', ...(row.tls ? { tls: row.tls } : {}) }), { instanceOf: TypeError });
    t.is(error?.message, row.message);
  });
}

test.serial('keys: every key of one identity carries the same hash tag, other identities another', (t) => {
  const k = keys('agentgate:');
  const id = { connection: 'prod', namespace: 'payments', agent: 'bot' };
  const tag = (key: string): string => /\{([^}]*)\}/.exec(key)?.[1] ?? key;
  const own = [k.grant(id, 'g-1'), k.credential(id, 'g-1'), k.identityGrants(id), k.identityEvents(id), k.identitySeq(id)];
  t.deepEqual(new Set(own.map(tag)), new Set(['prod/payments/bot']));
  t.not(tag(k.grant({ ...id, agent: 'bot2' }, 'g-1')), 'prod/payments/bot');
  t.is(k.grant(id, 'g-1'), 'agentgate:{prod/payments/bot}:grant:g-1');
  t.is(k.bullPrefix, 'agentgate:{bullmq}');
  t.throws(() => keys('a{b}:'), { instanceOf: TypeError, message: 'Redis key prefix must be 1 to 64 letters, digits, \':\', \'_\', \'.\' or \'-\', got "a{b}:"' });
});

test.serial('Redis restarted from its AOF mid-grant: the grant survives with its original end', async (t) => {
  const server = await startRedis({ persistent: true });
  t.teardown(() => server.close());
  const redis = createRedis(server.url, { keyPrefix: 'aof:', commandTimeoutMs: 500, connectTimeoutMs: 1000 });
  t.teardown(() => redis.close());
  await redis.ready();
  const store = new GrantStore({ redis });
  const grant = await store.create(podsGrant());
  await store.setCredential(grant, { grantId: grant.id, kind: 'bearer-token', token: 't', expiresAt: grant.expiresAt, server: 'https://127.0.0.1:6443' });
  await server.restart();
  const record = await eventually(() => store.get(grant.id).catch(() => undefined), 10_000, 'grant readable after restart');
  t.deepEqual(record, { grant });
  t.is(await redis.client.call('PEXPIRETIME', redis.keys.grant(grant.identity, grant.id)), Date.parse(grant.expiresAt));
  t.is((await store.getCredential(grant))?.token, 't');
  t.deepEqual((await store.list()).map((r) => r.grant.id), [grant.id]);
});

test.serial('Redis down: create, get and list fail fast and closed with RedisUnavailableError, then recover', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.close());
  const redis = createRedis(server.url, { keyPrefix: 'down:', commandTimeoutMs: 500, connectTimeoutMs: 1000 });
  t.teardown(() => redis.close());
  await redis.ready();
  const store = new GrantStore({ redis });
  const grant = await store.create(podsGrant());
  await server.stop();
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['create grant', () => store.create(podsGrant())],
    ['get grant', () => store.get(grant.id)],
    ['list grants', () => store.listFor(grant.identity)],
    ['read freeze', () => store.frozen()],
  ];
  for (const [operation, call] of calls) {
    const started = performance.now();
    const error = await t.throwsAsync(call(), { instanceOf: RedisUnavailableError });
    t.true(performance.now() - started < 1000, `${operation} failed in ${Math.round(performance.now() - started)} ms`);
    t.is(error?.code, 'redis-unavailable');
    t.true(error?.message.startsWith(`Redis is unavailable (${operation}): `), error?.message);
  }
  // This server keeps nothing across restarts; recovery means new grants work again, unaided.
  await server.restart();
  const again = await eventually(() => store.create(podsGrant()).catch(() => undefined), 10_000, 'reconnected');
  t.deepEqual((await store.listFor(grant.identity)).map((r) => r.grant.id), [again.id]);
});
