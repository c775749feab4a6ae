// The BullMQ queue `grant-expiry`: one delayed job per grant, id = grant id (adding it twice is a
// no-op), due at the grant's end, whose worker removes what the grant created in the cluster.
// Redis's TTL already ended the grant for the broker and the sidecars; this job ends it there.
import { Queue, Worker, type Job } from 'bullmq';
import type { IdentityKey } from '../contracts/identity.ts';
import type { Grant } from '../contracts/stream.ts';
import type { AgentgateRedis } from '../redis/client.ts';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** The queue's name. */
export const GRANT_EXPIRY_QUEUE = 'grant-expiry';

/** What the job carries: the grant itself is gone from Redis when the job runs. */
export interface ExpiryJob {
  grantId: string;
  identity: IdentityKey;
  namespaces: string[];
  expiresAt: string;
}

/** Options of {@link GrantExpiry}. */
export interface GrantExpiryOptions {
  redis: AgentgateRedis;
  /** Tries per job before it is left failed for the start-up sweep (default 12). */
  attempts?: number;
  /** First retry delay; it doubles each time (default 1 s, so 12 tries span about an hour). */
  backoffMs?: number;
  now?: () => number;
}

/** The queue side (schedule, cancel) and the worker side of grant expiry. */
export class GrantExpiry {
  readonly #queue: Queue<ExpiryJob>;
  readonly #redis: AgentgateRedis;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #now: () => number;
  readonly #workers: Array<Worker<ExpiryJob>> = [];

  constructor(options: GrantExpiryOptions) {
    this.#redis = options.redis;
    this.#attempts = options.attempts ?? 12;
    this.#backoffMs = options.backoffMs ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#queue = new Queue<ExpiryJob>(GRANT_EXPIRY_QUEUE, { connection: options.redis.bullConnection(false), prefix: options.redis.keys.bullPrefix });
    this.#queue.on('error', () => {});
  }

  /** Schedules the grant's end. Idempotent: the job id is the grant id. */
  async schedule(grant: Pick<Grant, 'id' | 'identity' | 'namespaces' | 'expiresAt'>): Promise<void> {
    const data: ExpiryJob = { grantId: grant.id, identity: grant.identity, namespaces: [...grant.namespaces], expiresAt: grant.expiresAt };
    await this.#queue.add('expire', data, {
      jobId: grant.id,
      delay: Math.max(0, Date.parse(grant.expiresAt) - this.#now()),
      attempts: this.#attempts,
      backoff: { type: 'exponential', delay: this.#backoffMs },
      removeOnComplete: true,
      // Kept a week for operators to see what could not be cleaned up; the sweep removes the objects.
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  /** Drops a grant's job (after a revocation that already cleaned up); false when there was none. */
  async cancel(grantId: string): Promise<boolean> {
    // remove() answers 1 for an absent id too, so look first.
    if (!(await this.#queue.getJob(grantId))) return false;
    await this.#queue.remove(grantId);
    return true;
  }

  /** The job of a grant, for tests and `agentgate grants` (state and attempts). */
  async job(grantId: string): Promise<Job<ExpiryJob> | undefined> {
    return (await this.#queue.getJob(grantId)) ?? undefined;
  }

  /**
   * Starts a worker that calls `expire` for each due job. A rejection is retried with exponential
   * backoff; `onFailure` sees every failed attempt (for logs and metrics).
   */
  startWorker(expire: (job: ExpiryJob) => Promise<void>, options: { concurrency?: number; onFailure?: (job: ExpiryJob | undefined, error: Error) => void } = {}): Worker<ExpiryJob> {
    const worker = new Worker<ExpiryJob>(GRANT_EXPIRY_QUEUE, async (job) => expire(job.data), {
      connection: this.#redis.bullConnection(true),
      prefix: this.#redis.keys.bullPrefix,
      concurrency: options.concurrency ?? 8,
    });
    worker.on('failed', (job, error) => options.onFailure?.(job?.data, error));
    worker.on('error', () => {});
    this.#workers.push(worker);
    return worker;
  }

  /**
   * Stops the workers and the queue, each step bounded by `timeoutMs`. BullMQ's graceful close
   * waits forever for a blocking read sent before a Redis restart, and its queue close rejects
   * unhandled while the connection is still reconnecting: so the queue's connection is probed
   * first, and the workers are forced (an interrupted expiry job is retried: revocation is
   * idempotent).
   */
  async close(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // Each probe is bounded too: with Redis gone, a BullMQ call may wait for a reconnect forever.
      const answered = await Promise.race([this.#queue.getJob('agentgate-close-probe').then(() => true, () => false), pause(500).then(() => false)]);
      if (answered) break;
      await pause(100);
    }
    const bounded = (work: Promise<unknown>): Promise<unknown> => Promise.race([work.catch(() => undefined), pause(timeoutMs)]);
    await bounded(Promise.all(this.#workers.map((w) => w.close(true))));
    await bounded(this.#queue.close());
    // Whatever did not close in time is cut, so no reconnect loop keeps the process alive.
    await bounded(Promise.all([...this.#workers.map((w) => w.disconnect()), this.#queue.disconnect()]));
  }
}
