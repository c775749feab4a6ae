// The audit store: audit events appended to one Redis Stream as a SHA-256 hash chain, each
// stored event also written to stdout as a JSON line for log shippers, with retention trimming.
import type { Writable } from 'node:stream';
import * as z from 'zod';
import type { Logger } from 'pino';
import { AuditEventSchema, type AuditEvent } from '../contracts/audit.ts';
import { sanitize } from '../log/redact.ts';
import { canonicalJson, chainData, type ChainEntry } from './chain.ts';
import { AuditChainContendedError, AuditEventInvalidError } from './errors.ts';
import { checkRetention, trimAudit, trimDue, type AuditRetention, type TrimResult } from './retention.ts';
import { auditRedisAccess, GENESIS_HEAD, type AuditKeys, type AuditRedis, type AuditRedisAccess, type ChainHead } from './scripts.ts';

/** Options of createAuditStore. */
export interface AuditStoreOptions {
  /**
   * The ioredis client. Give it `enableOfflineQueue: false` (and a small `maxRetriesPerRequest`)
   * so that a command issued while Redis is away fails at once instead of waiting in a queue;
   * the store refuses on its own when the client is not `ready`, and bounds each call by `timeoutMs`.
   */
  redis: AuditRedis;
  /** The installation's key prefix (broker.redisKeyPrefix), e.g. `agentgate:`. */
  keyPrefix: string;
  /** How long entries are kept; trimmed after appends when due (5 % slack) and by `trim()`. */
  retention?: AuditRetention;
  /** Where stored events go as JSON lines (default process.stdout; null: nowhere). */
  stdout?: Writable | null;
  /** Deadline of each Redis call, in ms (default 2000). */
  timeoutMs?: number;
  /** Append attempts while other writers move the head (default 50). */
  maxAttempts?: number;
  /** For trim failures after an append (the append itself has succeeded by then). */
  logger?: Pick<Logger, 'warn'>;
  /** The clock retention ages are measured against (ms since the epoch). */
  now?: () => number;
}

/** One stored event's place in the chain. */
export interface StoredRef {
  eventId: string;
  streamId: string;
  seq: number;
  hash: string;
}

/** What append did. */
export interface AppendResult {
  /** Events newly stored, in order. */
  stored: StoredRef[];
  /** Events whose id was already stored (a re-sent batch): skipped, and counted as accepted. */
  duplicates: number;
  /** Events in which a credential-shaped string was masked before storing. */
  redacted: number;
}

/** Counters since the store was created. */
export interface AuditStoreStats {
  appended: number;
  duplicates: number;
  redacted: number;
  /** Append attempts refused because another writer moved the head first. */
  conflicts: number;
  trims: number;
  trimFailures: number;
}

/**
 * The audit store of one installation. Entries get their stream id from Redis (`XADD *`, the
 * arrival time), not from the event's time: stream ids must grow, and events arrive out of
 * time order (many sidecars, batches that waited in a spool for hours), so an id from the event
 * time would be refused or would need inventing. The event's own time stays in the event, and
 * queries filter on it; the chain order is the order of arrival, numbered by `seq`.
 */
export interface AuditStore {
  readonly keys: AuditKeys;
  readonly retention: AuditRetention;
  /** Redis access for readers (query, verify): calls with the store's deadline and typed failures. */
  readonly access: AuditRedisAccess;
  /**
   * Appends events atomically, in order, chained after the current head. Idempotent by event
   * id: events already stored are skipped, so a batch re-sent after a lost answer stores nothing
   * twice. Fails with AuditStoreUnavailableError when Redis is away (nothing stored, keep the batch),
   * AuditEventInvalidError for an event outside the contract (nothing stored).
   */
  append(events: readonly unknown[]): Promise<AppendResult>;
  /** Trims what retention says is due now, leaving a marker. */
  trim(): Promise<TrimResult>;
  stats(): AuditStoreStats;
}

const EventList = z.array(AuditEventSchema);

/** Validates, masks credential-shaped strings (events never carry tokens), and drops repeated ids. */
function prepare(events: readonly unknown[]): { events: AuditEvent[]; data: Map<string, string>; redacted: number } {
  const parsed = EventList.safeParse(events);
  if (!parsed.success) {
    throw new AuditEventInvalidError(parsed.error.issues.map((issue) => `events${issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('')}: ${issue.message}`));
  }
  const seen = new Set<string>();
  const out: AuditEvent[] = [];
  const data = new Map<string, string>();
  let redacted = 0;
  for (const event of parsed.data) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    // The contract has no field for a credential, but a command line or a selector could
    // carry one pasted by an agent: mask it, as the logs would, before it is stored forever.
    const safe = sanitize(event) as AuditEvent;
    // sanitize keeps key order, so plain JSON tells whether it changed anything.
    if (JSON.stringify(safe) !== JSON.stringify(event)) redacted++;
    out.push(safe);
    data.set(safe.id, canonicalJson(safe));
  }
  return { events: out, data, redacted };
}

/** Reads a script reply: `ok` with the new stream ids, or `conflict` with the real head. */
function readReply(reply: unknown): { ok: true; ids: string[]; length: number; firstId: string } | { ok: false; head: ChainHead; stored: string[] } {
  if (!Array.isArray(reply)) throw new TypeError('unexpected reply from the audit append script');
  if (reply[0] === 'ok') return { ok: true, ids: (reply[1] as unknown[]).map(String), length: Number(reply[2]), firstId: String(reply[3]) };
  const stored = Array.isArray(reply[3]) ? reply[3].map(String) : [];
  return { ok: false, head: { seq: Number(reply[1]), hash: String(reply[2]), id: '' }, stored };
}

/** Creates the audit store. Checks its options here; connects nothing (the client is the caller's). */
export function createAuditStore(options: AuditStoreOptions): AuditStore {
  const retention = options.retention ?? {};
  checkRetention(retention);
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxAttempts = options.maxAttempts ?? 50;
  const now = options.now ?? Date.now;
  const stdout = options.stdout === undefined ? process.stdout : options.stdout;
  const access = auditRedisAccess(options.redis, options.keyPrefix, timeoutMs);
  const stats: AuditStoreStats = { appended: 0, duplicates: 0, redacted: 0, conflicts: 0, trims: 0, trimFailures: 0 };
  // The head after this replica's last append: with one writer, the first guess is right and an
  // append is one round trip; with several, a wrong guess costs one more (the script answers the head).
  let guess: ChainHead = GENESIS_HEAD;
  let trimming: Promise<TrimResult> | undefined;

  const trim = (): Promise<TrimResult> => {
    trimming ??= trimAudit(access, retention, now())
      .then((result) => {
        if (result.removed > 0) stats.trims++;
        return result;
      })
      .finally(() => { trimming = undefined; });
    return trimming;
  };

  const write = (events: readonly AuditEvent[], refs: readonly StoredRef[]) => {
    if (!stdout) return;
    const lines = refs.map((ref, i) => JSON.stringify({ component: 'audit', streamId: ref.streamId, seq: ref.seq, hash: ref.hash, event: events[i] })).join('\n');
    if (lines) stdout.write(`${lines}\n`);
  };

  const append = async (input: readonly unknown[]): Promise<AppendResult> => {
    const prepared = prepare(input);
    const known = new Set<string>();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const pending = prepared.events.filter((event) => !known.has(event.id));
      if (pending.length === 0) break;
      const entries: Omit<ChainEntry, 'streamId'>[] = [];
      let head = guess;
      for (const event of pending) {
        const entry = chainData(head.seq, head.hash, 'event', event.id, prepared.data.get(event.id) ?? canonicalJson(event));
        entries.push(entry);
        head = { seq: entry.seq, hash: entry.hash, id: '' };
      }
      const args = [String(guess.seq), guess.hash, String(entries.length)];
      for (const entry of entries) args.push(String(entry.seq), entry.type, entry.eventId, entry.data, entry.prev, entry.hash);
      const reply = readReply(await access.append(args));
      if (!reply.ok) {
        stats.conflicts++;
        guess = reply.head;
        for (const id of reply.stored) known.add(id);
        // Several replicas racing: after a few rounds, step aside for a random moment.
        if (attempt >= 3) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)));
        continue;
      }
      const refs = entries.map((entry, i) => ({ eventId: entry.eventId, streamId: reply.ids[i] ?? '', seq: entry.seq, hash: entry.hash }));
      guess = { ...head, id: refs.at(-1)?.streamId ?? '' };
      stats.appended += refs.length;
      stats.duplicates += prepared.events.length - pending.length;
      stats.redacted += prepared.redacted;
      write(pending, refs);
      if (trimDue(retention, reply.length, reply.firstId, now())) {
        await trim().catch((error: unknown) => {
          stats.trimFailures++;
          options.logger?.warn({ err: error }, 'audit retention trim failed; the next append tries again');
        });
      }
      return { stored: refs, duplicates: prepared.events.length - pending.length, redacted: prepared.redacted };
    }
    if (prepared.events.every((event) => known.has(event.id))) {
      stats.duplicates += prepared.events.length;
      return { stored: [], duplicates: prepared.events.length, redacted: prepared.redacted };
    }
    throw new AuditChainContendedError(`the audit head kept moving; ${maxAttempts} append attempts failed`);
  };

  return { keys: access.keys, retention, access, append, trim, stats: () => ({ ...stats }) };
}
