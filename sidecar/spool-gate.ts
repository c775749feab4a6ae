// Fail closed on a full audit spool: once the spool refuses a batch, the sidecar refuses new
// requests (503 audit-spool-full) until a drain to the broker has freed room, so no request is
// forwarded that could not be audited. Batches refused meanwhile wait in a bounded memory overflow.
import type { Logger } from 'pino';
import type { AuditEvent } from '../src/contracts/index.ts';
import type { Status } from '../src/kube/status.ts';
import { AuditSpoolFullError } from '../src/audit/errors.ts';
import type { AuditSpool } from '../src/audit/spool.ts';
import type { DrainResult, SpoolStats } from '../src/audit/spool.ts';
import { refusal } from './refusals.ts';

/**
 * Events of requests already in flight when the spool filled, and the refusals recorded while the
 * gate is closed. Bounded, as an agent that keeps calling while the broker is away must not grow
 * the sidecar's memory; past the bound the auditor drops (and logs) the events.
 */
const MAX_OVERFLOW_EVENTS = 10_000;

/** The gated spool, and the check the pipeline runs before each request. */
export interface SpoolGate {
  /** The spool to give the auditor. */
  readonly spool: AuditSpool;
  /** The refusal while the spool is full, else undefined. */
  admit(): Status | undefined;
  /** True while requests are refused. */
  isClosed(): boolean;
  /** Events held in memory (lost if the process ends before the broker takes them). */
  overflowEvents(): number;
}

/** Wraps `inner` so that its first AuditSpoolFullError closes the gate, and a drain that empties the backlog opens it. */
export function gateAuditSpool(inner: AuditSpool, log: Logger): SpoolGate {
  let closed = false;
  let overflow: AuditEvent[][] = [];
  let overflowCount = 0;
  const status = refusal('audit-spool-full');

  const add = async (events: readonly AuditEvent[]): Promise<void> => {
    // Behind a non-empty overflow, later batches queue there too: the broker gets them in order.
    if (overflow.length === 0) {
      try {
        await inner.add(events);
        return;
      } catch (error) {
        if (!(error instanceof AuditSpoolFullError)) throw error;
        if (!closed) log.error({ stats: inner.stats() }, 'the audit spool is full: refusing requests until the broker takes the backlog');
        closed = true;
      }
    }
    if (overflowCount + events.length > MAX_OVERFLOW_EVENTS) throw new AuditSpoolFullError(`the audit spool and its memory overflow are full: batch of ${events.length} events refused`);
    overflow.push([...events]);
    overflowCount += events.length;
  };

  const drain = async (send: (events: AuditEvent[]) => Promise<unknown>): Promise<DrainResult> => {
    const result = await inner.drain(send);
    if (result.error !== undefined) return result;
    let sent = result.sent;
    while (overflow.length > 0) {
      const batch = overflow[0] as AuditEvent[];
      try {
        await send(batch);
      } catch (error) {
        return { ...result, sent, remaining: result.remaining + overflow.length, error };
      }
      overflow = overflow.slice(1);
      overflowCount -= batch.length;
      sent++;
    }
    if (closed) {
      closed = false;
      log.info({ stats: inner.stats() }, 'the audit backlog reached the broker: accepting requests again');
    }
    return { ...result, sent };
  };

  const stats = (): SpoolStats => {
    const s = inner.stats();
    // The auditor drains only when the spool reports files: count the overflow as one.
    return { ...s, files: s.files + (overflow.length > 0 ? 1 : 0) };
  };

  return {
    spool: { add, drain, stats },
    admit: () => (closed ? status : undefined),
    isClosed: () => closed,
    overflowEvents: () => overflowCount,
  };
}
