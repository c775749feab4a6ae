// Redis going away under the audit store (a real redis-server with AOF): a restart mid-stream
// keeps the chain and its events; while Redis is down, appends fail fast with a typed error, the
// batches wait in the spool, and drain after Redis is back with no loss and no duplicates.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AuditStoreUnavailableError, auditRecords, createAuditSpool, createAuditStore, verifyAudit } from '../../src/audit/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { auditEvents, brokerRedis, collector, prefix, untilReady } from './fixtures.ts';

let server: RedisServer;
let redis: Redis;
test.before(async () => {
  server = await startRedis({ persistent: true });
  redis = brokerRedis(server.url);
  await untilReady(redis);
});
test.after.always(async () => {
  redis?.disconnect();
  await server?.close();
});

async function storedIds(store: ReturnType<typeof createAuditStore>): Promise<string[]> {
  const ids: string[] = [];
  for await (const record of auditRecords(store, {})) ids.push(record.event.id);
  return ids;
}

test.serial('a Redis restart mid-stream keeps the chain and every event; a restarted broker chains on', async (t) => {
  const keyPrefix = prefix();
  const store = createAuditStore({ redis, keyPrefix, stdout: null });
  const before = auditEvents(5);
  await store.append(before);
  await server.restart();
  await untilReady(redis);
  const after = auditEvents(5);
  await store.append(after);
  // A broker started afresh (no local knowledge of the head) goes on from the stored head.
  const restarted = createAuditStore({ redis, keyPrefix, stdout: null });
  const later = auditEvents(3);
  const result = await restarted.append(later);
  t.deepEqual(result.stored.map((ref) => ref.seq), [10, 11, 12]);
  const verified = await verifyAudit(restarted);
  t.true(verified.ok, JSON.stringify(verified.firstBreak));
  t.is(verified.checked, 13);
  t.deepEqual(await storedIds(store), [...before, ...after, ...later].map((event) => event.id));
});

test.serial('with Redis down, append fails fast and typed; the spool keeps the batches and drains them once Redis is back', async (t) => {
  const keyPrefix = prefix();
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-spool-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = collector();
  const store = createAuditStore({ redis, keyPrefix, stdout: out.stream, timeoutMs: 1000 });
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  // A client left at ioredis's defaults queues commands while it reconnects: the store refuses anyway.
  const queueing = new Redis(server.url);
  queueing.on('error', () => undefined);
  t.teardown(() => queueing.disconnect());
  await untilReady(queueing);
  const queueingStore = createAuditStore({ redis: queueing, keyPrefix, stdout: null, timeoutMs: 1000 });

  const stored = auditEvents(3);
  await store.append(stored);
  // This batch reached Redis, but say its answer was lost: the sender spools it and sends it again.
  await spool.add(stored);

  await server.stop();
  const down = [auditEvents(4), auditEvents(2)];
  for (const [name, writer] of [['broker client', store], ['client with an offline queue', queueingStore]] as const) {
    for (const batch of down) {
      const started = performance.now();
      const error = await t.throwsAsync(writer.append(batch), { instanceOf: AuditStoreUnavailableError }, name);
      t.is(error?.code, 'audit-store-unavailable', name);
      t.true(performance.now() - started < 500, `${name}: failed in ${Math.round(performance.now() - started)} ms`);
    }
  }
  for (const batch of down) await spool.add(batch);
  const whileDown = await spool.drain((events) => store.append(events));
  t.is(whileDown.sent, 0, 'nothing leaves the spool while Redis is down');
  t.true(whileDown.error instanceof AuditStoreUnavailableError);
  t.is(spool.stats().files, 3);

  await server.restart();
  await untilReady(redis);
  const drained = await spool.drain((events) => store.append(events));
  t.deepEqual(drained, { sent: 3, remaining: 0, quarantined: 0 });
  const expected = [...stored, ...down.flat()].map((event) => event.id);
  t.deepEqual(await storedIds(store), expected, 'every event once, in order');
  t.deepEqual(out.lines().map((line) => (line as { event: { id: string } }).event.id), expected, 'stdout saw each event once');
  const verified = await verifyAudit(store);
  t.true(verified.ok, JSON.stringify(verified.firstBreak));
  t.is(verified.checked, 9);
});

test.serial('an append Redis does not answer in time fails typed; if it lands later, sending the batch again stores nothing twice', async (t) => {
  const keyPrefix = prefix();
  const store = createAuditStore({ redis, keyPrefix, stdout: null, timeoutMs: 300 });
  await store.append(auditEvents(2));
  const admin = brokerRedis(server.url);
  t.teardown(() => admin.disconnect());
  await untilReady(admin);
  // CLIENT PAUSE WRITE holds every script: the append is sent, and answered only after the pause.
  await admin.client('PAUSE', 1500, 'WRITE');
  const batch = auditEvents(3);
  const started = performance.now();
  await t.throwsAsync(store.append(batch), { instanceOf: AuditStoreUnavailableError, message: /did not answer within 300 ms/ });
  t.true(performance.now() - started < 1000);
  // The held script runs when the pause ends and, the head being unchanged, stores the batch.
  const deadline = Date.now() + 5000;
  while ((await admin.xlen(store.keys.stream)) < 5) {
    if (Date.now() > deadline) throw new Error('the held append never landed');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const again = await store.append(batch);
  t.deepEqual([again.stored.length, again.duplicates], [0, 3]);
  t.is(await admin.xlen(store.keys.stream), 5);
  t.true((await verifyAudit(store)).ok);
});
