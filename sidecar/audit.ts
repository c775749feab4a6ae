// Stage 7: one audit event per request, recorded off the hot path and sent to the broker in
// batches (POST /v1/audit). While the broker is unreachable, batches go to the spool (a bounded
// disk queue of src/audit/spool.ts) when one is given, else to a bounded memory queue that drops the oldest.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BROKER_API_VERSION, BrokerPaths, MAX_AUDIT_BATCH, parseAuditAccepted, type AgentIdentity, type AuditBatch, type AuditEvent } from '../src/contracts/index.ts';
import type { AuditSpool } from '../src/audit/spool.ts';
import type { BrokerClient } from './broker.ts';

export type { AuditSpool };

/** The parts of an event the request path knows; the auditor adds id, time and identity. */
export type AuditRecord = Omit<AuditEvent, 'id' | 'time' | 'identity'>;

/** Options of the auditor. */
export interface AuditorOptions {
  broker: BrokerClient;
  identity: AgentIdentity;
  /** Tells apart this sidecar's restarts within one pod. */
  instance: string;
  spool?: AuditSpool;
  log: Logger;
  /** How often queued events are sent; default 1 s. */
  flushIntervalMs?: number;
  /** Events kept in memory while the broker is away and there is no spool; default 10 000. */
  maxQueued?: number;
}

/** The auditor. */
export interface Auditor {
  /** Queues one event; never blocks, never throws. */
  record(record: AuditRecord): void;
  /** Sends everything queued (and spooled) now; on SIGTERM. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
  readonly stats: { sent: number; spooled: number; dropped: number; queued(): number };
}

const BATCH = Math.min(500, MAX_AUDIT_BATCH);

/** The audit's times are to the second: the text of the current one is made once a second, not per event (it was 1.8 µs of each). */
let stampSecond = Number.NaN;
let stampText = '';
function secondStamp(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampText = new Date(second * 1000).toISOString().replace('.000Z', 'Z');
  }
  return stampText;
}

/** Starts the auditor. */
export function createAuditor(options: AuditorOptions): Auditor {
  const { broker, identity, spool, log } = options;
  const maxQueued = options.maxQueued ?? 10_000;
  let queue: AuditEvent[] = [];
  let sending: Promise<void> | undefined;
  const stats = { sent: 0, spooled: 0, dropped: 0, queued: () => queue.length };

  async function send(events: AuditEvent[]): Promise<boolean> {
    const batch: AuditBatch = { apiVersion: BROKER_API_VERSION, sidecar: { podUid: identity.podUid, instance: options.instance }, events };
    const answer = await broker.post(BrokerPaths.audit, batch, parseAuditAccepted);
    if (!answer.ok) log.warn({ kind: answer.kind, detail: answer.detail, events: events.length }, 'audit batch not delivered');
    return answer.ok;
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const events = queue.slice(0, BATCH);
      if (await send(events)) {
        queue = queue.slice(events.length);
        stats.sent += events.length;
        continue;
      }
      if (spool !== undefined) {
        queue = queue.slice(events.length);
        try {
          await spool.add(events);
          stats.spooled += events.length;
        } catch (error) {
          stats.dropped += events.length;
          log.error({ err: error, events: events.length }, 'audit events lost: the spool refused them');
        }
        continue;
      }
      return;
    }
    // The broker took the live events: now the spooled ones, oldest first (the spool keeps a batch until it was taken).
    if (spool !== undefined && spool.stats().files > 0) {
      await spool.drain(async (events) => {
        if (!(await send(events))) throw new Error('the broker did not take the batch');
        stats.sent += events.length;
      });
    }
  }

  function flush(): Promise<void> {
    sending ??= drain().finally(() => (sending = undefined));
    return sending;
  }

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 1000);
  timer.unref();

  return {
    record(record) {
      queue.push({ id: randomUUID(), time: secondStamp(), identity, ...record });
      if (queue.length > maxQueued) {
        const over = queue.length - maxQueued;
        queue.splice(0, over);
        stats.dropped += over;
      }
      if (queue.length >= BATCH) void flush();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
      // One more pass for events recorded while the last one ran.
      await flush();
    },
    stats,
  };
}
