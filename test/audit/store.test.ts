// The audit store against a real redis-server: chained appends, stdout lines without
// credentials, idempotency by event id, refused batches, and two writers racing on one chain.
import test from 'ava';
import type { Redis } from 'ioredis';
import { AuditEventInvalidError, canonicalJson, createAuditStore, entryHash, GENESIS_HASH, verifyAudit } from '../../src/audit/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { auditEvent, auditEvents, brokerRedis, collector, prefix, untilReady } from './fixtures.ts';

let server: RedisServer;
let redis: Redis;
test.before(async () => {
  server = await startRedis();
  redis = brokerRedis(server.url);
  await untilReady(redis);
});
test.after.always(async () => {
  redis?.disconnect();
  await server?.close();
});

test('appended events form one chain from the genesis, in order, each hash over (prev, seq, type, data)', async (t) => {
  const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: null });
  const first = await store.append(auditEvents(3));
  const second = await store.append(auditEvents(2));
  t.deepEqual([...first.stored, ...second.stored].map((ref) => ref.seq), [0, 1, 2, 3, 4]);
  const raw = await redis.xrange(store.keys.stream, '-', '+');
  t.is(raw.length, 5);
  let prev = GENESIS_HASH;
  for (const [index, [id, fields]] of raw.entries()) {
    const map = Object.fromEntries(fields.flatMap((_, i) => (i % 2 === 0 ? [[fields[i] ?? '', fields[i + 1] ?? '']] : [])));
    t.is(map.prev, prev, `entry ${index} links to the one before`);
    t.is(map.hash, entryHash({ seq: index, type: 'event', data: String(map.data), prev }), `entry ${index} hash`);
    t.is(map.data, canonicalJson(JSON.parse(String(map.data))), `entry ${index} data is canonical JSON`);
    t.is(id, [...first.stored, ...second.stored][index]?.streamId ?? '');
    prev = String(map.hash);
  }
  t.deepEqual(await redis.hgetall(store.keys.head), { seq: '4', hash: prev, id: raw[4]?.[0] ?? '' });
  t.true((await verifyAudit(store)).ok);
});

test('every stored event is written to stdout as one JSON line, and credential-shaped strings are masked first', async (t) => {
  const out = collector();
  const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: out.stream });
  const leaky = auditEvent({ command: 'kubectl get --token=abc.def.ghi -H Authorization: Bearer sk-live-123456' });
  const withExtra = { ...auditEvent(), token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' };
  const result = await store.append([auditEvent(), leaky, withExtra]);
  t.is(result.stored.length, 3);
  t.is(result.redacted, 1);
  const lines = out.lines() as { component: string; seq: number; streamId: string; hash: string; event: { id: string; command?: string } }[];
  t.deepEqual(lines.map((line) => line.seq), [0, 1, 2]);
  t.deepEqual(lines.map((line) => line.event.id), result.stored.map((ref) => ref.eventId));
  t.true(lines.every((line) => line.component === 'audit' && line.streamId !== '' && line.hash.length === 64));
  for (const text of [out.text(), JSON.stringify(await redis.xrange(store.keys.stream, '-', '+'))]) {
    t.notRegex(text, /sk-live-123456|abc\.def\.ghi|eyJhbGciOiJSUzI1NiJ9/, 'no credential in stdout nor in Redis');
    t.notRegex(text, /"token"/, 'fields outside the contract are dropped');
  }
  t.regex(lines[1]?.event.command ?? '', /Bearer \[REDACTED\]/);
});

test('appends are idempotent by event id: a re-sent batch, or a batch repeating an id, stores each event once', async (t) => {
  const out = collector();
  const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: out.stream });
  const batch = auditEvents(4);
  const cases = [
    { name: 'the first send stores all', events: batch, stored: 4, duplicates: 0 },
    { name: 'the same batch again stores nothing', events: batch, stored: 0, duplicates: 4 },
    { name: 'a batch overlapping a stored one stores only the new events', events: [...batch.slice(2), ...auditEvents(2)], stored: 2, duplicates: 2 },
    { name: 'an id repeated inside one batch is stored once', events: (() => { const e = auditEvent(); return [e, e, { ...e }]; })(), stored: 1, duplicates: 0 },
  ];
  for (const row of cases) {
    const result = await store.append(row.events);
    t.is(result.stored.length, row.stored, row.name);
    t.is(result.duplicates, row.duplicates, row.name);
  }
  t.is(await redis.xlen(store.keys.stream), 7);
  t.is(out.lines().length, 7, 'duplicates are not written to stdout again');
  // A second store (another replica, or the broker after a restart) knows nothing locally.
  const replica = createAuditStore({ redis, keyPrefix: store.keys.stream.replace('{audit}:stream', ''), stdout: null });
  t.is((await replica.append(batch)).duplicates, 4);
  t.true((await verifyAudit(store)).ok);
});

test('a batch with an event outside the contract is refused whole with a typed error, nothing stored', async (t) => {
  const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: null });
  const rows = [
    { name: 'an id that is no UUID', event: { ...auditEvent(), id: 'not-a-uuid' }, path: /events\[1\]\.id/ },
    { name: 'an unknown outcome', event: { ...auditEvent(), decision: { outcome: 'maybe', code: 'x' } }, path: /events\[1\]\.decision\.outcome/ },
    { name: 'not an object', event: 'hello', path: /events\[1\]/ },
  ];
  for (const row of rows) {
    const error = await t.throwsAsync(store.append([auditEvent(), row.event]), { instanceOf: AuditEventInvalidError }, row.name);
    t.is(error?.code, 'audit-event-invalid', row.name);
    t.regex(error?.issues.join('\n') ?? '', row.path, row.name);
  }
  t.is(await redis.xlen(store.keys.stream), 0);
});

test('two broker replicas appending at once keep one valid chain with every event exactly once', async (t) => {
  const keyPrefix = prefix();
  const other = brokerRedis(server.url);
  t.teardown(() => other.disconnect());
  await untilReady(other);
  const a = createAuditStore({ redis, keyPrefix, stdout: null });
  const b = createAuditStore({ redis: other, keyPrefix, stdout: null });
  const batches = Array.from({ length: 40 }, () => auditEvents(5));
  const results = await Promise.all(batches.map((batch, i) => (i % 2 === 0 ? a : b).append(batch)));
  t.is(results.reduce((sum, r) => sum + r.stored.length, 0), 200);
  const seqs = results.flatMap((r) => r.stored.map((ref) => ref.seq)).sort((x, y) => x - y);
  t.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i), 'seq numbers run without holes or repeats');
  t.true(a.stats().conflicts + b.stats().conflicts > 0, 'the writers really raced');
  const verified = await verifyAudit(a);
  t.true(verified.ok, JSON.stringify(verified.firstBreak));
  t.is(verified.checked, 200);
  // Each batch is contiguous: an append is atomic, not interleaved with another's.
  for (const r of results) t.deepEqual(r.stored.map((ref) => ref.seq - (r.stored[0]?.seq ?? 0)), [0, 1, 2, 3, 4]);
});

test('retention by length trims automatically after appends and leaves a marker that verification accepts', async (t) => {
  const store = createAuditStore({ redis, keyPrefix: prefix(), stdout: null, retention: { maxLen: 20 } });
  for (let i = 0; i < 10; i++) await store.append(auditEvents(5));
  const length = await redis.xlen(store.keys.stream);
  t.true(length <= 20 + 1 + 5, `stream length ${length} stays near maxLen`);
  t.true(store.stats().trims >= 1);
  const verified = await verifyAudit(store);
  t.true(verified.ok, JSON.stringify(verified.firstBreak));
  t.true(verified.trimmed.length >= 1);
  // Every entry ever appended (50 events and the markers) is either still there or before the
  // newest marker's range end (older markers may have been trimmed themselves).
  t.is(verified.head?.seq, 50 + store.stats().trims - 1);
  const trimmedThrough = Math.max(...verified.trimmed.map((range) => range.lastSeq));
  t.is(length, (verified.head?.seq ?? 0) - trimmedThrough);
});

test('the factory refuses a retention that makes no sense', (t) => {
  for (const retention of [{ maxLen: 0 }, { maxLen: 1.5 }, { maxAgeMs: -1 }]) {
    t.throws(() => createAuditStore({ redis, keyPrefix: prefix(), stdout: null, retention }), { instanceOf: RangeError }, JSON.stringify(retention));
  }
});
