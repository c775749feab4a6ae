// Retention: trims the oldest stream entries by length or age and leaves a chained `trim`
// marker naming the last removed entry, so `audit verify` can tell trimming from deletion.
import { chainEntry, decodeEntry, entryHash, nextStreamId, streamIdMs, type ChainEntry, type TrimMarker } from './chain.ts';
import { AuditChainContendedError } from './errors.ts';
import { GENESIS_HEAD, readHead, type AuditRedisAccess, type ChainHead } from './scripts.ts';

/** How long audit entries are kept: at most `maxLen` entries, none older than `maxAgeMs`. */
export interface AuditRetention {
  maxLen?: number;
  maxAgeMs?: number;
}

/** What one trim did. */
export interface TrimResult {
  /** Entries removed (0: nothing was due). */
  removed: number;
  /** The marker entry appended (absent when nothing was removed). */
  marker?: { streamId: string; seq: number; hash: string };
  /**
   * Set when the trim stopped early at an entry that does not chain to the one before it:
   * retention never removes the evidence of tampering, so that entry stays for `audit verify`.
   */
  stoppedAt?: string;
}

const PAGE = 500;
const ATTEMPTS = 8;

/** Checks a retention setting at the factory, so a bad one fails at start, not at the first trim. */
export function checkRetention(retention: AuditRetention): void {
  if (retention.maxLen !== undefined && (!Number.isSafeInteger(retention.maxLen) || retention.maxLen < 1)) {
    throw new RangeError(`retention.maxLen must be a positive integer, not ${retention.maxLen}`);
  }
  if (retention.maxAgeMs !== undefined && (!Number.isSafeInteger(retention.maxAgeMs) || retention.maxAgeMs < 1)) {
    throw new RangeError(`retention.maxAgeMs must be a positive integer of milliseconds, not ${retention.maxAgeMs}`);
  }
}

/**
 * True when an automatic trim is due after an append. A little slack (5 %) lets entries pile up
 * before trimming, so trims (and their markers) come in batches rather than one per append.
 */
export function trimDue(retention: AuditRetention, length: number, firstId: string, now: number): boolean {
  if (retention.maxLen !== undefined && length > retention.maxLen + Math.max(1, Math.floor(retention.maxLen / 20))) return true;
  if (retention.maxAgeMs !== undefined && streamIdMs(firstId) < now - retention.maxAgeMs - Math.floor(retention.maxAgeMs / 20)) return true;
  return false;
}

/** The head a script would see: the head key, else the newest entry, else the genesis. */
export async function currentHead(access: AuditRedisAccess): Promise<ChainHead> {
  const head = await readHead(access);
  if (head) return head;
  const last = await access.call((redis) => redis.xrevrange(access.keys.stream, '+', '-', 'COUNT', 1));
  const item = last[0];
  if (!item) return GENESIS_HEAD;
  const entry = decodeEntry(item[0], item[1]);
  return typeof entry === 'string' ? GENESIS_HEAD : { seq: entry.seq, hash: entry.hash, id: entry.streamId };
}

interface Cut {
  first: ChainEntry;
  last: ChainEntry;
  count: number;
  stoppedAt?: string;
}

/** Finds the prefix of the stream that is due, stopping before any entry that breaks the chain. */
async function findCut(access: AuditRedisAccess, retention: AuditRetention, now: number, maxEntries: number): Promise<Cut | undefined> {
  const length = await access.call((redis) => redis.xlen(access.keys.stream));
  // The marker adds one entry, so trimming to maxLen removes one more than the excess.
  const byLength = retention.maxLen !== undefined && length > retention.maxLen ? length - retention.maxLen + 1 : 0;
  const cutoff = retention.maxAgeMs !== undefined ? now - retention.maxAgeMs : undefined;
  let first: ChainEntry | undefined;
  let last: ChainEntry | undefined;
  let count = 0;
  let start = '-';
  for (;;) {
    const page = await access.call((redis) => redis.xrange(access.keys.stream, start, '+', 'COUNT', PAGE));
    for (const [streamId, fields] of page) {
      const due = count < byLength || (cutoff !== undefined && streamIdMs(streamId) < cutoff);
      if (!due || count >= maxEntries) return first && last ? { first, last, count } : undefined;
      const entry = decodeEntry(streamId, fields);
      const broken =
        typeof entry === 'string' ||
        entryHash(entry) !== entry.hash ||
        (last !== undefined && (entry.seq !== last.seq + 1 || entry.prev !== last.hash));
      if (broken) return first && last ? { first, last, count, stoppedAt: streamId } : undefined;
      first ??= entry;
      last = entry;
      count++;
    }
    const tail = page.at(-1);
    if (!tail || page.length < PAGE) return first && last ? { first, last, count } : undefined;
    start = `(${tail[0]}`;
  }
}

/**
 * Removes what retention says is due (at most `maxEntries` per call) and appends the marker,
 * atomically: the script refuses if the head or the first entry moved since they were read,
 * and the whole plan is made again. Never removes an entry that breaks the chain, nor any after it.
 */
export async function trimAudit(access: AuditRedisAccess, retention: AuditRetention, now: number, maxEntries = 10_000): Promise<TrimResult> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const head = await currentHead(access);
    const cut = await findCut(access, retention, now, maxEntries);
    if (!cut) return { removed: 0 };
    const marker: TrimMarker = {
      reason: 'retention',
      firstSeq: cut.first.seq,
      lastSeq: cut.last.seq,
      lastId: cut.last.streamId,
      lastHash: cut.last.hash,
      removed: cut.count,
      at: new Date(now).toISOString(),
      ...(retention.maxLen !== undefined ? { maxLen: retention.maxLen } : {}),
      ...(retention.maxAgeMs !== undefined ? { maxAgeMs: retention.maxAgeMs } : {}),
    };
    const entry = chainEntry(head.seq, head.hash, 'trim', marker);
    const reply = await access.trim([
      String(head.seq), head.hash, cut.first.streamId, nextStreamId(cut.last.streamId), String(streamIdMs(cut.last.streamId)),
      String(entry.seq), entry.data, entry.prev, entry.hash,
    ]);
    if (Array.isArray(reply) && reply[0] === 'ok') {
      const removed = Number(reply[1]);
      return { removed, marker: { streamId: String(reply[2]), seq: entry.seq, hash: entry.hash }, ...(cut.stoppedAt ? { stoppedAt: cut.stoppedAt } : {}) };
    }
  }
  throw new AuditChainContendedError(`the audit head kept moving; retention trim gave up after ${ATTEMPTS} attempts`);
}
