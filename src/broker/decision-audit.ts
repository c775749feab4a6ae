// The broker's own audit events (one per decision), batched into the audit store off the decision
// path: one append at a time keeps the hash chain's head guess right, so an append is one round
// trip; while Redis is away the batch waits in a bounded queue and is sent again.
import type { Logger } from 'pino';
import type { AuditEvent } from '../contracts/audit.ts';
import type { AuditStore } from '../audit/store.ts';

/** Options of {@link createDecisionAuditor}. */
export interface DecisionAuditorOptions {
  store: AuditStore;
  log: Pick<Logger, 'warn'>;
  /** Events held at most while the store is away; the oldest are dropped beyond (default 10 000). */
  maxQueue?: number;
  /** Events per append (default 500). */
  batch?: number;
  /** Wait after a failed append (default 500 ms). */
  retryMs?: number;
}

/** The decision auditor. */
export interface DecisionAuditor {
  record(event: AuditEvent): void;
  /** Sends what is queued now; resolves when the queue is empty or an append failed. */
  flush(): Promise<void>;
  readonly stats: { appended: number; dropped: number; failures: number; queued(): number };
  /** Flushes (bounded by `timeoutMs`) and stops. */
  close(timeoutMs?: number): Promise<void>;
}

/** Builds the auditor. */
export function createDecisionAuditor(options: DecisionAuditorOptions): DecisionAuditor {
  const maxQueue = options.maxQueue ?? 10_000;
  const batch = options.batch ?? 500;
  const retryMs = options.retryMs ?? 500;
  const queue: AuditEvent[] = [];
  const stats = { appended: 0, dropped: 0, failures: 0, queued: () => queue.length };
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const events = queue.slice(0, batch);
      try {
        await options.store.append(events);
      } catch (error) {
        stats.failures++;
        if (stats.failures === 1 || stats.failures % 100 === 0) options.log.warn({ err: error, queued: queue.length }, 'decision audit events wait: the audit store is unavailable');
        schedule(retryMs);
        return;
      }
      queue.splice(0, events.length);
      stats.appended += events.length;
    }
  }

  function flush(): Promise<void> {
    running ??= drain().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(ms: number): void {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, ms);
    timer.unref();
  }

  return {
    record(event) {
      queue.push(event);
      if (queue.length > maxQueue) {
        queue.shift();
        stats.dropped++;
      }
      // A microtask-free tick gathers the decisions of one burst into one append.
      schedule(5);
    },
    flush,
    stats,
    async close(timeoutMs = 2000) {
      clearTimeout(timer);
      timer = undefined;
      let limit: NodeJS.Timeout | undefined;
      await Promise.race([flush(), new Promise<void>((resolve) => (limit = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(limit);
      closed = true;
    },
  };
}
