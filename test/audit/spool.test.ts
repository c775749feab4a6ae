// The disk spool on a real temporary directory: durable batches sent oldest first and removed
// only after success, picked up again by a new process, and refused (never dropped) when full.
import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSpoolFullError, createAuditSpool } from '../../src/audit/index.ts';
import type { AuditEvent } from '../../src/contracts/audit.ts';
import { auditEvents } from './fixtures.ts';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-spool-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const ids = (batches: AuditEvent[][]) => batches.map((batch) => batch.map((event) => event.id));

test('batches are sent oldest first and each file is removed only once send resolved', async (t) => {
  const dir = await tempDir(t);
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  const batches = [auditEvents(2), auditEvents(1), auditEvents(3)];
  for (const batch of batches) await spool.add(batch);
  t.is(spool.stats().files, 3);
  t.is((await readdir(dir)).length, 3);
  const sent: AuditEvent[][] = [];
  const result = await spool.drain(async (events) => {
    // At the moment of sending, the batch is still on disk.
    t.is((await readdir(dir)).length, 3 - sent.length);
    sent.push(events);
  });
  t.deepEqual(result, { sent: 3, remaining: 0, quarantined: 0 });
  t.deepEqual(ids(sent), ids(batches));
  t.deepEqual(await readdir(dir), []);
  t.deepEqual(spool.stats(), { files: 0, bytes: 0, refusedBatches: 0, refusedEvents: 0 });
});

test('a failing send stops the drain and keeps that batch and every later one for the next drain', async (t) => {
  const dir = await tempDir(t);
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  const batches = [auditEvents(1), auditEvents(1), auditEvents(1)];
  for (const batch of batches) await spool.add(batch);
  let calls = 0;
  const refused = new Error('redis down');
  const first = await spool.drain(async () => {
    calls++;
    if (calls === 2) throw refused;
  });
  t.is(first.sent, 1);
  t.is(first.remaining, 2);
  t.is(first.error, refused);
  const sent: AuditEvent[][] = [];
  const second = await spool.drain(async (events) => { sent.push(events); });
  t.deepEqual(second, { sent: 2, remaining: 0, quarantined: 0 });
  t.deepEqual(ids(sent), ids(batches.slice(1)));
});

test('batches survive the process: a new spool on the same directory sends them in order', async (t) => {
  const dir = await tempDir(t);
  const before = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  const batches = Array.from({ length: 12 }, () => auditEvents(1));
  for (const batch of batches) await before.add(batch);
  // A write cut short by a crash leaves a temporary file: never acknowledged, so not sent.
  await writeFile(join(dir, '.tmp-0000000000000099-00000000-0000-0000-0000-000000000000.json'), '[{"id":');
  const after = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  t.is(after.stats().files, 12);
  await after.add(auditEvents(1)); // numbered after the batches found on disk
  const sent: AuditEvent[][] = [];
  t.like(await after.drain(async (events) => { sent.push(events); }), { sent: 13, remaining: 0 });
  t.deepEqual(ids(sent.slice(0, 12)), ids(batches));
  t.deepEqual(await readdir(dir), []);
});

test('when full, a new batch is refused with a typed error and counted; nothing older is dropped', async (t) => {
  const rows = [
    { name: 'by file count', maxFiles: 2, maxBytes: 1 << 20 },
    { name: 'by bytes', maxFiles: 100, maxBytes: 2 * JSON.stringify(auditEvents(1)).length + 200 },
  ];
  for (const row of rows) {
    const dir = await tempDir(t);
    const spool = await createAuditSpool({ dir, maxBytes: row.maxBytes, maxFiles: row.maxFiles });
    const kept = [auditEvents(1), auditEvents(1)];
    for (const batch of kept) await spool.add(batch);
    const error = await t.throwsAsync(spool.add(auditEvents(3)), { instanceOf: AuditSpoolFullError }, row.name);
    t.is(error?.code, 'audit-spool-full', row.name);
    t.like(spool.stats(), { files: 2, refusedBatches: 1, refusedEvents: 3 }, row.name);
    const sent: AuditEvent[][] = [];
    await spool.drain(async (events) => { sent.push(events); });
    t.deepEqual(ids(sent), ids(kept), `${row.name}: the oldest batches are the ones kept`);
    await spool.add(auditEvents(1));
    t.is(spool.stats().files, 1, `${row.name}: room again after a drain`);
  }
});

test('concurrent adds cannot overfill the spool', async (t) => {
  const dir = await tempDir(t);
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 5 });
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => spool.add(auditEvents(1))));
  t.is(results.filter((r) => r.status === 'fulfilled').length, 5);
  t.true(results.filter((r) => r.status === 'rejected').every((r) => r.status === 'rejected' && r.reason instanceof AuditSpoolFullError));
  t.is((await readdir(dir)).length, 5);
});

test('a file that is not a batch is moved to corrupt/, never sent, and the drain goes on', async (t) => {
  const dir = await tempDir(t);
  const spool0 = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  await spool0.add(auditEvents(1));
  await writeFile(join(dir, '0000000000000002-11111111-2222-3333-4444-555555555555.json'), '{"not":"a batch"}\n');
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 100 });
  await spool.add(auditEvents(1));
  let sent = 0;
  t.deepEqual(await spool.drain(async () => { sent++; }), { sent: 2, remaining: 0, quarantined: 1 });
  t.is(sent, 2);
  t.deepEqual(await readdir(join(dir, 'corrupt')), ['0000000000000002-11111111-2222-3333-4444-555555555555.json']);
});

test('bad limits and batch sizes are refused', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(createAuditSpool({ dir, maxBytes: 0, maxFiles: 1 }), { instanceOf: RangeError });
  await t.throwsAsync(createAuditSpool({ dir, maxBytes: 10, maxFiles: 0.5 }), { instanceOf: RangeError });
  const spool = await createAuditSpool({ dir, maxBytes: 1 << 20, maxFiles: 10 });
  await t.throwsAsync(spool.add([]), { instanceOf: RangeError });
});
