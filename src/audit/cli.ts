// The operator's audit tools as functions the CLI wires in: `agentgate audit` (filtered events,
// as text or JSON lines) and `agentgate audit verify` (0: chain intact, 1: broken or unreadable).
import { Redis } from 'ioredis';
import { maskString } from '../log/redact.ts';
import { AuditQueryError } from './errors.ts';
import { auditRecords, parseTimeBound, type AuditFilters, type AuditRecord } from './query.ts';
import { createAuditStore, type AuditStore } from './store.ts';
import { verifyAudit, type VerifyResult } from './verify.ts';

/** What a command produced: the CLI prints `stdout` and `stderr` and exits with `exitCode`. */
export interface AuditCommandOutput {
  /** 0 success (or chain intact), 1 failure (Redis unreachable, or chain broken), 2 bad filters. */
  exitCode: 0 | 1 | 2;
  stdout: string;
  stderr: string;
}

/** Options shared by the audit commands. */
export interface AuditConnectionOptions {
  /** `redis://` or `rediss://` (TLS), with credentials if Redis needs them. */
  redisUrl: string;
  /** broker.redisKeyPrefix (default `agentgate:`). */
  keyPrefix?: string;
  /** Deadline of connecting and of each Redis call, in ms (default 5000). */
  timeoutMs?: number;
}

/** Options of `agentgate audit`. */
export interface AuditCommandOptions extends AuditConnectionOptions {
  filters: AuditFilters;
  /** `text` (default): one readable line per event; `json`: JSON lines `{streamId, seq, hash, event}`. */
  output?: 'text' | 'json';
  /** Stop after this many events. */
  limit?: number;
}

/** Options of `agentgate audit verify`. */
export interface AuditVerifyCommandOptions extends AuditConnectionOptions {
  /** `text` (default) or `json` (the VerifyResult). */
  output?: 'text' | 'json';
}

async function withStore<T>(options: AuditConnectionOptions, use: (store: AuditStore) => Promise<T>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  // A CLI run wants an answer, not a reconnect loop: no retries, no offline queue.
  const redis = new Redis(options.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(createAuditStore({ redis, keyPrefix: options.keyPrefix ?? 'agentgate:', stdout: null, timeoutMs }));
  } finally {
    redis.disconnect();
  }
}

function failure(options: AuditConnectionOptions, error: unknown): AuditCommandOutput {
  const why = error instanceof Error ? error.message : String(error);
  const usage = error instanceof AuditQueryError;
  const text = usage ? `agentgate audit: ${why}\n` : `agentgate audit: cannot read the audit store at ${maskString(options.redisUrl)}: ${maskString(why)}\n`;
  return { exitCode: usage ? 2 : 1, stdout: '', stderr: text };
}

/** One event as a line for people. */
export function formatRecord(record: AuditRecord): string {
  const { event } = record;
  const a = event.attributes;
  const target = a.isResourceRequest
    ? `${a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` -n ${a.namespace}` : ''}`
    : a.path;
  const who = `${event.identity.connection}/${event.identity.namespace}/${event.identity.agent}`;
  return `${event.time}  ${who}  ${a.verb} ${target}  ${event.decision.outcome} (${event.decision.code})  ${event.response.code}`;
}

/** `agentgate audit [filters]`: matching events, oldest first. */
export async function auditCommand(options: AuditCommandOptions): Promise<AuditCommandOutput> {
  const now = Date.now();
  try {
    // Bad filters are a usage error before any connection is tried.
    if (options.filters.since !== undefined) parseTimeBound(options.filters.since, now, 'since');
    if (options.filters.until !== undefined) parseTimeBound(options.filters.until, now, 'until');
    if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 1)) throw new AuditQueryError(`limit must be a positive integer, not ${options.limit}`);
    const lines = await withStore(options, async (store) => {
      const out: string[] = [];
      for await (const record of auditRecords(store, options.filters, now)) {
        out.push(options.output === 'json' ? JSON.stringify(record) : formatRecord(record));
        if (options.limit !== undefined && out.length >= options.limit) break;
      }
      return out;
    });
    return { exitCode: 0, stdout: lines.map((line) => `${line}\n`).join(''), stderr: lines.length === 0 && options.output !== 'json' ? 'no audit events match\n' : '' };
  } catch (error) {
    return failure(options, error);
  }
}

/** The verification result for people. */
export function formatVerifyResult(result: VerifyResult): string {
  const removed = result.trimmed.reduce((sum, range) => sum + range.removed, 0);
  const trims = result.trimmed.length === 0 ? 'no retention trims' : `${result.trimmed.length} retention trim(s) removing ${removed} entries, each with its marker`;
  if (result.ok) return `audit chain intact: ${result.checked} entries checked, ${trims}\n`;
  const broken = result.firstBreak;
  return `audit chain BROKEN: ${broken?.kind} at entry ${broken?.id}: ${broken?.detail}\n${result.checked} entries checked, ${trims}\n`;
}

/** `agentgate audit verify`: exit 0 when the chain is intact, 1 when broken (or Redis unreadable). */
export async function auditVerifyCommand(options: AuditVerifyCommandOptions): Promise<AuditCommandOutput> {
  try {
    const result = await withStore(options, (store) => verifyAudit(store));
    const stdout = options.output === 'json' ? `${JSON.stringify(result)}\n` : formatVerifyResult(result);
    return { exitCode: result.ok ? 0 : 1, stdout, stderr: '' };
  } catch (error) {
    return failure(options, error);
  }
}
