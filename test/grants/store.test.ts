// GrantStore against a real redis-server: the TTL is the truth, indexes pruned on read, revocation
// (one, all, by agent, by namespace), freeze, credentials, events, and no way to extend a grant.
import test from 'ava';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { GrantConflictError, GrantInvalidError, readEvents, type GrantEvent } from '../../src/grants/index.ts';
import { eventually, podsGrant, storeOn } from './helpers.ts';

let server: RedisServer;
test.before(async () => {
  server = await startRedis();
});
test.after.always(async () => {
  await server?.close();
});

const credentialFor = (grantId: string) => ({ grantId, kind: 'bearer-token' as const, token: 'eyJhbGciOi.secret.token', expiresAt: '2099-01-01T00:00:00Z', server: 'https://127.0.0.1:6443' });

test('a created grant is stored with its expiry as the key TTL and indexed twice', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const before = Date.now();
  const grant = await store.create(podsGrant({ approvedBy: 'alice@example.com' }));
  t.regex(grant.id, /^g-[0-9a-f]{24}$/);
  t.is(Date.parse(grant.expiresAt) - Date.parse(grant.createdAt), 60_000);
  t.true(Date.parse(grant.createdAt) >= before - 1);
  const k = redis.keys;
  const expireTime = await redis.client.call('PEXPIRETIME', k.grant(grant.identity, grant.id));
  t.is(expireTime, Date.parse(grant.expiresAt), 'the key ends exactly at expiresAt');
  t.is(await redis.client.zscore(k.identityGrants(grant.identity), grant.id), String(Date.parse(grant.expiresAt)));
  t.is(await redis.client.zscore(k.allGrants, `prod/payments/triage-bot/${grant.id}`), String(Date.parse(grant.expiresAt)));
  t.deepEqual(await store.get(grant.id), { grant });
  t.deepEqual((await store.listFor(grant.identity)).map((r) => r.grant.id), [grant.id]);
});

test('a grant ends with its TTL: get, listFor and list drop it and prune both indexes', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const short = await store.create(podsGrant({ ttlMs: 1000 }));
  const long = await store.create(podsGrant());
  await eventually(async () => (await store.get(short.id)) === undefined, 5000, 'short grant gone');
  t.deepEqual((await store.listFor(short.identity)).map((r) => r.grant.id), [long.id]);
  t.deepEqual((await store.list()).map((r) => r.grant.id), [long.id]);
  t.is(await redis.client.zscore(redis.keys.identityGrants(short.identity), short.id), null);
  t.is(await redis.client.zscore(redis.keys.allGrants, `prod/payments/triage-bot/${short.id}`), null);
});

test('an agent cannot extend a grant: ids are never reused, the end never moves, the length is capped', async (t) => {
  const ids = ['g-fixed', 'g-fixed'];
  const { store, redis } = await storeOn(t, server, { newId: () => ids.shift() ?? 'g-other' });
  const first = await store.create(podsGrant({ ttlMs: 60_000 }));
  const error = await t.throwsAsync(store.create(podsGrant({ ttlMs: 8 * 3600_000 })), { instanceOf: GrantConflictError });
  t.is(error?.code, 'grant-exists');
  t.is(error?.message, 'grant g-fixed already exists; a grant cannot be replaced or extended, only a new one created');
  t.deepEqual(await store.get('g-fixed'), { grant: first });
  t.is(await redis.client.call('PEXPIRETIME', redis.keys.grant(first.identity, first.id)), Date.parse(first.expiresAt));
  t.is(await redis.client.zscore(redis.keys.allGrants, `prod/payments/triage-bot/${first.id}`), String(Date.parse(first.expiresAt)), 'the refused create did not move the global index entry');
  // Asking again gives a second, separate grant; the first still ends when it did.
  const second = await store.create(podsGrant({ ttlMs: 120_000 }));
  t.is(second.id, 'g-other');
  t.is((await store.get(first.id))?.grant.expiresAt, first.expiresAt);
  const tooLong = await t.throwsAsync(store.create(podsGrant({ ttlMs: 8 * 3600_000 + 1 })), { instanceOf: GrantInvalidError });
  t.deepEqual(tooLong?.issues, [{ path: '$.ttlMs', message: 'must be a whole number of milliseconds between 1000 and 28800000' }]);
  // The store's surface has nothing that writes an existing grant.
  const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(store));
  t.deepEqual(methods.filter((m) => /extend|update|renew|touch|set(?!Credential)/i.test(m)), []);
});

const invalid: Array<{ name: string; input: Parameters<typeof podsGrant>[0]; issues: Array<{ path: string; message: string }> }> = [
  { name: 'TTL below a second', input: { ttlMs: 999 }, issues: [{ path: '$.ttlMs', message: 'must be a whole number of milliseconds between 1000 and 28800000' }] },
  { name: 'fractional TTL', input: { ttlMs: 1500.5 }, issues: [{ path: '$.ttlMs', message: 'must be a whole number of milliseconds between 1000 and 28800000' }] },
  { name: 'no rules', input: { rules: [] }, issues: [{ path: '$.grant.rules', message: 'must hold at least one rule' }] },
  { name: 'rule without verbs', input: { rules: [{ verbs: [], apiGroups: [''], resources: ['pods'] }] }, issues: [{ path: '$.grant.rules[0].verbs', message: 'verbs must contain at least one value' }] },
  { name: 'non-resource URL in a namespaced grant', input: { rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }] }, issues: [{ path: '$.grant.rules[0].nonResourceURLs', message: 'namespaced rules cannot apply to non-resource URLs' }] },
  { name: 'star mixed with namespaces', input: { namespaces: ['*', 'payments'] }, issues: [{ path: '$.grant.namespaces', message: '"*" (cluster-wide) must be the only entry' }] },
  { name: 'upper-case namespace', input: { namespaces: ['Payments'] }, issues: [{ path: '$.grant.namespaces[0]', message: 'must be a namespace name (DNS-1123 label) or "*"' }] },
  { name: 'agent name with a slash (would break the key layout)', input: { identity: { connection: 'prod', namespace: 'payments', agent: 'a/b' } }, issues: [{ path: '$.grant.identity.agent', message: "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit" }] },
];
for (const row of invalid) {
  test(`refused before anything is written: ${row.name}`, async (t) => {
    const { store, redis } = await storeOn(t, server);
    const error = await t.throwsAsync(store.create(podsGrant(row.input)), { instanceOf: GrantInvalidError });
    t.is(error?.code, 'grant-invalid');
    t.deepEqual(error?.issues, row.issues);
    t.deepEqual(await redis.client.keys(`${redis.keys.prefix}*`), []);
  });
}

test('revoke ends one grant at once, announces it, and is a no-op the second time', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const grant = await store.create(podsGrant());
  await store.setCredential(grant, credentialFor(grant.id));
  const revoked = await store.revoke(grant.id);
  t.deepEqual(revoked, { grant });
  t.is(await store.get(grant.id), undefined);
  t.is(await store.getCredential(grant), undefined);
  t.is(await store.revoke(grant.id), undefined);
  const page = await readEvents(redis, grant.identity, 0);
  t.deepEqual(page.events.map((e: GrantEvent) => [e.seq, e.type]), [[1, 'grant'], [2, 'credential'], [3, 'revocation']]);
  t.deepEqual(page.events[2], { seq: 3, type: 'revocation', grantId: grant.id, reason: 'revoked' });
  t.true(page.resumed);
  t.is(page.latest, 3);
});

const filters: Array<{ name: string; filter: { connection?: string; namespace?: string; agent?: string }; revoked: string[] }> = [
  { name: 'all', filter: {}, revoked: ['a1', 'a2', 'b1', 'c1'] },
  { name: 'by agent across namespaces', filter: { agent: 'bot-a' }, revoked: ['a1', 'a2'] },
  { name: 'by namespace', filter: { namespace: 'payments' }, revoked: ['a1', 'b1'] },
  { name: 'by connection', filter: { connection: 'staging' }, revoked: ['c1'] },
  { name: 'agent and namespace together', filter: { agent: 'bot-a', namespace: 'orders' }, revoked: ['a2'] },
  { name: 'look-alike agent name matches nothing', filter: { agent: 'bot' }, revoked: [] },
];
for (const row of filters) {
  test(`revokeWhere: ${row.name}`, async (t) => {
    const names = ['a1', 'a2', 'b1', 'c1'];
    const { store } = await storeOn(t, server, { newId: () => `g-${names.shift() ?? 'x'}` });
    const made = [
      await store.create(podsGrant({ identity: { connection: 'prod', namespace: 'payments', agent: 'bot-a' } })),
      await store.create(podsGrant({ identity: { connection: 'prod', namespace: 'orders', agent: 'bot-a' }, namespaces: ['orders'] })),
      await store.create(podsGrant({ identity: { connection: 'prod', namespace: 'payments', agent: 'bot-b' } })),
      await store.create(podsGrant({ identity: { connection: 'staging', namespace: 'web', agent: 'bot-c' }, namespaces: ['web'] })),
    ];
    const revoked = await store.revokeWhere(row.filter);
    t.deepEqual(revoked.map((r) => r.grant.id.slice(2)).sort(), row.revoked);
    const left = (await store.list()).map((r) => r.grant.id.slice(2)).sort();
    t.deepEqual(left, made.map((g) => g.id.slice(2)).filter((id) => !row.revoked.includes(id)).sort());
  });
}

test('freeze is a flag every reader sees, tells every identity with grants to stop, and is undone', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const a = await store.create(podsGrant());
  const b = await store.create(podsGrant({ identity: { connection: 'prod', namespace: 'orders', agent: 'bot-b' }, namespaces: ['orders'] }));
  const subscriber = redis.client.duplicate({ enableOfflineQueue: true });
  t.teardown(() => subscriber.disconnect());
  const notices: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => notices.push(message));
  await subscriber.subscribe(redis.keys.eventsChannel);
  t.is(await store.frozen(), undefined);
  await store.freeze('oncall@example.com');
  t.is((await store.frozen())?.by, 'oncall@example.com');
  for (const grant of [a, b]) {
    const events = (await readEvents(redis, grant.identity, 1)).events;
    t.deepEqual(events, [{ seq: 2, type: 'revocation', grantId: 'all', reason: 'frozen' }]);
  }
  // Grants stay (unfreezing resumes them); only decisions change.
  t.is((await store.list()).length, 2);
  await eventually(async () => notices.includes('{"freeze":true}'), 2000, 'freeze notice');
  await store.unfreeze();
  t.is(await store.frozen(), undefined);
  await eventually(async () => notices.includes('{"freeze":false}'), 2000, 'unfreeze notice');
});

test('a credential lives exactly as long as its grant and is never stored once the grant is gone', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const grant = await store.create(podsGrant());
  t.true(await store.setCredential(grant, credentialFor(grant.id)));
  t.deepEqual(await store.getCredential(grant), credentialFor(grant.id));
  t.is(await redis.client.call('PEXPIRETIME', redis.keys.credential(grant.identity, grant.id)), Date.parse(grant.expiresAt));
  // The stream carries the event, never the token.
  const raw = JSON.stringify(await redis.client.xrange(redis.keys.identityEvents(grant.identity), '-', '+'));
  t.false(raw.includes('secret'));
  await store.revoke(grant.id);
  t.false(await store.setCredential(grant, credentialFor(grant.id)));
  t.is(await store.getCredential(grant), undefined);
});

test('events resume after a seq, and say so when the point was trimmed away', async (t) => {
  const { store, redis } = await storeOn(t, server, { eventsMaxLen: 10 });
  const identity = podsGrant().identity;
  for (let i = 0; i < 60; i++) await store.revoke((await store.create(podsGrant())).id);
  const latest = await readEvents(redis, identity, 120);
  t.deepEqual(latest, { events: [], resumed: true, latest: 120 });
  const tail = await readEvents(redis, identity, 118);
  t.deepEqual(tail.events.map((e) => [e.seq, e.type]), [[119, 'grant'], [120, 'revocation']]);
  t.true(tail.resumed);
  const old = await readEvents(redis, identity, 0);
  t.false(old.resumed, 'events 1.. were trimmed: the reader must send the full state');
  t.true(old.events.length < 120);
  t.deepEqual(await readEvents(redis, identity, 500), { events: [], resumed: false, latest: 120 });
});

test('expire announces the end even though the TTL already removed the grant', async (t) => {
  const { store, redis } = await storeOn(t, server);
  const grant = await store.create(podsGrant({ ttlMs: 1000 }));
  await eventually(async () => (await redis.client.exists(redis.keys.grant(grant.identity, grant.id))) === 0, 5000, 'key expired');
  await store.expire(grant.identity, grant.id);
  const events = (await readEvents(redis, grant.identity, 1)).events;
  t.deepEqual(events, [{ seq: 2, type: 'revocation', grantId: grant.id, reason: 'expired' }]);
});
