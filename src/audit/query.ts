// Reading the audit: filters on identity, time, verb, namespace and decision, bounded pages
// with a cursor, and a streaming export as JSON lines.
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { AuditEventSchema, type AuditEvent } from '../contracts/audit.ts';
import { parseDuration } from '../config/units.ts';
import { decodeEntry, streamIdMs } from './chain.ts';
import { AuditQueryError } from './errors.ts';
import type { AuditStore } from './store.ts';

/** Filters of a query; every one given must match (AND). Times are the events' own `time`. */
export interface AuditFilters {
  agent?: string;
  connection?: string;
  /** The agent's namespace (its identity). */
  namespace?: string;
  podUid?: string;
  /** The namespace the request addressed (`attributes.namespace`). */
  targetNamespace?: string;
  verb?: string;
  resource?: string;
  outcome?: AuditEvent['decision']['outcome'];
  /** Reason code of the decision. */
  code?: string;
  grantId?: string;
  /** A duration back from now (`1h`, `30m`) or an RFC 3339 time. */
  since?: string;
  until?: string;
}

/** One event as read back: its place in the chain and the event. */
export interface AuditRecord {
  streamId: string;
  seq: number;
  hash: string;
  event: AuditEvent;
}

/** One page of a query. */
export interface AuditPage {
  records: AuditRecord[];
  /** Pass back to read on; absent at the end of the stream. */
  cursor?: string;
}

/** Largest page a query returns; asking for more is cut to this. */
export const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;
/** Entries examined per page at most, so a selective filter over a long stream still answers promptly. */
const SCAN_BUDGET = 20_000;
const CHUNK = 500;
/**
 * The stream is ordered by arrival, not by event time. An event arrives after it happened (it may
 * wait in a spool for hours), so a `since` bound on event time can start the scan at that time;
 * this allowance covers a sidecar clock ahead of Redis's.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;
const OUTCOMES = new Set(['allow', 'approval-required', 'deny']);

/** Parses `since`/`until`: a duration back from `now`, or an RFC 3339 time. */
export function parseTimeBound(text: string, now: number, flag: string): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return now - duration;
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new AuditQueryError(`${flag} ${JSON.stringify(text)} is neither a duration back from now (such as 1h or 30m) nor an RFC 3339 time (such as 2026-03-01T12:00:00Z)`);
}

interface Compiled {
  match(event: AuditEvent): boolean;
  start: string;
}

function compile(filters: AuditFilters, now: number): Compiled {
  if (filters.outcome !== undefined && !OUTCOMES.has(filters.outcome)) {
    throw new AuditQueryError(`outcome ${JSON.stringify(filters.outcome)} is not one of allow, approval-required, deny`);
  }
  const since = filters.since !== undefined ? parseTimeBound(filters.since, now, 'since') : undefined;
  const until = filters.until !== undefined ? parseTimeBound(filters.until, now, 'until') : undefined;
  const checks: ((event: AuditEvent) => boolean)[] = [];
  const equal = (wanted: string | undefined, pick: (event: AuditEvent) => string | undefined) => {
    if (wanted !== undefined) checks.push((event) => pick(event) === wanted);
  };
  equal(filters.agent, (e) => e.identity.agent);
  equal(filters.connection, (e) => e.identity.connection);
  equal(filters.namespace, (e) => e.identity.namespace);
  equal(filters.podUid, (e) => e.identity.podUid);
  equal(filters.targetNamespace, (e) => e.attributes.namespace);
  equal(filters.verb, (e) => e.attributes.verb);
  equal(filters.resource, (e) => e.attributes.resource);
  equal(filters.outcome, (e) => e.decision.outcome);
  equal(filters.code, (e) => e.decision.code);
  equal(filters.grantId, (e) => e.grantId);
  if (since !== undefined) checks.push((event) => Date.parse(event.time) >= since);
  if (until !== undefined) checks.push((event) => Date.parse(event.time) <= until);
  return {
    match: (event) => checks.every((check) => check(event)),
    start: since !== undefined ? `${Math.max(0, since - CLOCK_SKEW_MS)}-0` : '-',
  };
}

/** Reads an entry as an event record; markers and entries that do not decode are not events. */
function toRecord(streamId: string, fields: string[]): AuditRecord | undefined {
  const entry = decodeEntry(streamId, fields);
  if (typeof entry === 'string' || entry.type !== 'event') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(entry.data);
  } catch {
    return undefined;
  }
  const parsed = AuditEventSchema.safeParse(json);
  return parsed.success ? { streamId, seq: entry.seq, hash: entry.hash, event: parsed.data } : undefined;
}

/** Options of one page. */
export interface PageOptions {
  /** Records per page (default 100, at most MAX_PAGE_SIZE). */
  limit?: number;
  /** The cursor of the previous page. */
  cursor?: string;
  now?: number;
}

/**
 * One page of matching events, oldest first. A page may hold fewer than `limit` records and
 * still carry a cursor when its scan budget ran out on a selective filter: read on with it.
 */
export async function queryAudit(store: AuditStore, filters: AuditFilters, options: PageOptions = {}): Promise<AuditPage> {
  const limit = Math.min(Math.max(1, Math.floor(options.limit ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);
  const compiled = compile(filters, options.now ?? Date.now());
  if (options.cursor !== undefined && !/^\d+-\d+$/.test(options.cursor)) throw new AuditQueryError(`cursor ${JSON.stringify(options.cursor)} is not a stream id`);
  let start = options.cursor !== undefined ? `(${options.cursor}` : compiled.start;
  const records: AuditRecord[] = [];
  let scanned = 0;
  for (;;) {
    const chunk = await store.access.call((redis) => redis.xrange(store.keys.stream, start, '+', 'COUNT', CHUNK));
    for (const [streamId, fields] of chunk) {
      scanned++;
      const record = toRecord(streamId, fields);
      if (record && compiled.match(record.event)) records.push(record);
      if (records.length >= limit || scanned >= SCAN_BUDGET) return { records, cursor: streamId };
    }
    const last = chunk.at(-1);
    if (!last || chunk.length < CHUNK) return { records };
    start = `(${last[0]}`;
  }
}

/** Every matching event, oldest first, page by page (memory stays at one page). */
export async function* auditRecords(store: AuditStore, filters: AuditFilters, now = Date.now()): AsyncGenerator<AuditRecord> {
  let cursor: string | undefined;
  do {
    const page = await queryAudit(store, filters, { limit: MAX_PAGE_SIZE, now, ...(cursor !== undefined ? { cursor } : {}) });
    yield* page.records;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/**
 * Writes every matching record to `out` as JSON lines (`{streamId, seq, hash, event}`), waiting
 * for `out` to drain when it pushes back. Returns how many were written.
 */
export async function exportAudit(store: AuditStore, filters: AuditFilters, out: Writable, now = Date.now()): Promise<number> {
  let count = 0;
  for await (const record of auditRecords(store, filters, now)) {
    if (!out.write(`${JSON.stringify(record)}\n`)) await once(out, 'drain');
    count++;
  }
  return count;
}

/** The arrival time of a record (its stream id), for display. */
export function arrivedAt(record: AuditRecord): string {
  return new Date(streamIdMs(record.streamId)).toISOString();
}
