// The grant-expiry queue on a real redis-server with BullMQ: due at the grant's end, idempotent by
// grant id, cancellable, and a failing expiry retried with exponential backoff until it succeeds.
import test from 'ava';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { GrantExpiry, type ExpiryJob } from '../../src/grants/index.ts';
import { connect, eventually } from './helpers.ts';

let server: RedisServer;
test.before(async () => {
  server = await startRedis();
});
test.after.always(async () => {
  await server?.close();
});

const identity = { connection: 'prod', namespace: 'payments', agent: 'bot' };
const grantEnding = (id: string, inMs: number) => ({ id, identity, namespaces: ['payments'], expiresAt: new Date(Date.now() + inMs).toISOString() });

test('the job runs once, at the grant end, even when scheduled twice', async (t) => {
  const redis = await connect(t, server);
  const expiry = new GrantExpiry({ redis });
  t.teardown(() => expiry.close());
  const runs: Array<{ job: ExpiryJob; at: number }> = [];
  expiry.startWorker(async (job) => {
    runs.push({ job, at: Date.now() });
  });
  const grant = grantEnding('g-twice', 1500);
  await expiry.schedule(grant);
  await expiry.schedule(grant);
  const job = await expiry.job('g-twice');
  t.is(job?.id, 'g-twice');
  t.true(await job?.isDelayed());
  await eventually(async () => runs.length > 0, 10_000, 'job ran');
  const lateBy = (runs[0]?.at ?? 0) - Date.parse(grant.expiresAt);
  t.true(lateBy >= 0 && lateBy < 3000, `ran ${lateBy} ms after the end`);
  t.deepEqual(runs[0]?.job, { grantId: 'g-twice', identity, namespaces: ['payments'], expiresAt: grant.expiresAt });
  // Give a duplicate the chance to show up: a second, later grant's job runs after it would have.
  await expiry.schedule(grantEnding('g-marker', 200));
  await eventually(async () => runs.some((r) => r.job.grantId === 'g-marker'), 10_000, 'marker ran');
  t.is(runs.filter((r) => r.job.grantId === 'g-twice').length, 1);
});

test('a cancelled job never runs', async (t) => {
  const redis = await connect(t, server);
  const expiry = new GrantExpiry({ redis });
  t.teardown(() => expiry.close());
  const ran: string[] = [];
  expiry.startWorker(async (job) => {
    ran.push(job.grantId);
  });
  await expiry.schedule(grantEnding('g-cancelled', 800));
  t.true(await expiry.cancel('g-cancelled'));
  t.false(await expiry.cancel('g-cancelled'));
  await expiry.schedule(grantEnding('g-after', 1000));
  await eventually(async () => ran.includes('g-after'), 10_000, 'later job ran');
  t.deepEqual(ran, ['g-after']);
});

test('a failing expiry is retried with exponential backoff until it succeeds', async (t) => {
  const redis = await connect(t, server);
  const expiry = new GrantExpiry({ redis, backoffMs: 200, attempts: 5 });
  t.teardown(() => expiry.close());
  const attempts: number[] = [];
  const failures: string[] = [];
  expiry.startWorker(async () => {
    attempts.push(Date.now());
    if (attempts.length < 3) throw new Error(`API server unreachable (attempt ${attempts.length})`);
  }, { onFailure: (job, error) => failures.push(`${job?.grantId ?? '?'}: ${error.message}`) });
  await expiry.schedule(grantEnding('g-retry', 100));
  await eventually(async () => attempts.length === 3 && (await expiry.job('g-retry')) === undefined, 15_000, 'third attempt succeeded');
  t.deepEqual(failures, ['g-retry: API server unreachable (attempt 1)', 'g-retry: API server unreachable (attempt 2)']);
  const [a = 0, b = 0, c = 0] = attempts;
  t.true(b - a >= 200, `first retry after ${b - a} ms (backoff 200 ms)`);
  t.true(c - b >= 400, `second retry after ${c - b} ms (backoff doubled)`);
});

test('a job that keeps failing is kept as failed after its attempts, for the sweep and operators', async (t) => {
  const redis = await connect(t, server);
  const expiry = new GrantExpiry({ redis, backoffMs: 50, attempts: 2 });
  t.teardown(() => expiry.close());
  expiry.startWorker(async () => {
    throw new Error('forbidden: cannot delete rolebindings');
  });
  await expiry.schedule(grantEnding('g-stuck', 50));
  const job = await eventually(async () => {
    const found = await expiry.job('g-stuck');
    return (await found?.isFailed()) ? found : undefined;
  }, 15_000, 'job failed for good');
  t.is(job.attemptsMade, 2);
  t.is(job.failedReason, 'forbidden: cannot delete rolebindings');
});
