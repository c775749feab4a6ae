// `audit verify`: walks the hash chain from the first entry to the recorded head and reports
// the first break (an edited entry, a gap, entries out of order); retention trims are accepted
// when a chained marker names exactly the entry the stream now starts after.
import { GENESIS_HASH, decodeEntry, entryHash, type ChainEntry, type TrimMarker } from './chain.ts';
import { readHead } from './scripts.ts';
import type { AuditStore } from './store.ts';

/** Where the chain first breaks. */
export interface AuditBreak {
  /** Stream id of the entry at fault (for a gap: the entry after it; at the end: the recorded head). */
  id: string;
  /** `edited`: content changed; `gap`: entries deleted without a trim marker; `reordered`: an entry moved. */
  kind: 'edited' | 'gap' | 'reordered';
  detail: string;
}

/** One retention trim, as its marker records it. */
export interface TrimmedRange {
  markerId: string;
  firstSeq: number;
  lastSeq: number;
  removed: number;
  at: string;
}

/** The result of a verification. */
export interface VerifyResult {
  ok: boolean;
  /** Entries examined. */
  checked: number;
  firstBreak?: AuditBreak;
  /** Trims whose markers are still in the stream, oldest first. */
  trimmed: TrimmedRange[];
  /** The recorded head (absent for a store never written to). */
  head?: { seq: number; hash: string };
}

const PAGE = 1000;

function parseMarker(data: string): TrimMarker | undefined {
  try {
    const value = JSON.parse(data) as Partial<TrimMarker>;
    if (typeof value.lastSeq !== 'number' || typeof value.lastHash !== 'string' || typeof value.firstSeq !== 'number' || typeof value.removed !== 'number') return undefined;
    return value as TrimMarker;
  } catch {
    return undefined;
  }
}

/** Why an entry's own content is wrong, or undefined when it hashes to what it says. */
function contentProblem(entry: ChainEntry): string | undefined {
  if (entryHash(entry) !== entry.hash) return `entry seq ${entry.seq} does not match its hash: its content was changed`;
  let data: unknown;
  try {
    data = JSON.parse(entry.data);
  } catch {
    return `entry seq ${entry.seq} holds data that is not JSON`;
  }
  if (entry.type === 'event' && (data as { id?: unknown }).id !== entry.eventId) return `entry seq ${entry.seq} has an event id field that differs from its hashed event`;
  if (entry.type === 'trim' && !parseMarker(entry.data)) return `entry seq ${entry.seq} is a trim marker without its range`;
  return undefined;
}

async function verifyOnce(store: AuditStore): Promise<VerifyResult & { firstId: string }> {
  // The head is read first: entries appended during the walk chain on after it and are
  // walked too (an entry moved to the end is found there, as out of order).
  const head = await readHead(store.access);
  const trimmed: TrimmedRange[] = [];
  const markers: TrimMarker[] = [];
  let firstBreak: (AuditBreak & { missing?: [number, number] }) | undefined;
  const breakAt = (found: AuditBreak & { missing?: [number, number] }) => { firstBreak ??= found; };
  let checked = 0;
  let first: ChainEntry | undefined;
  let previous: ChainEntry | undefined;
  let start = '-';
  let maxSeq = -1;
  let headEntry: ChainEntry | undefined;
  for (;;) {
    const page = await store.access.call((redis) => redis.xrange(store.keys.stream, start, '+', 'COUNT', PAGE));
    for (const [streamId, fields] of page) {
      checked++;
      const entry = decodeEntry(streamId, fields);
      if (typeof entry === 'string') {
        breakAt({ id: streamId, kind: 'edited', detail: `entry ${streamId} is not an audit entry: ${entry}` });
        continue;
      }
      const missing = firstBreak?.missing;
      if (firstBreak && missing && entry.seq >= missing[0] && entry.seq <= missing[1]) {
        // The "missing" entry is here after all, later in the stream: it was moved, not deleted.
        firstBreak = { id: entry.streamId, kind: 'reordered', detail: `entry seq ${entry.seq} was moved: it appears after seq ${missing[0] - 1}` };
      }
      const problem = contentProblem(entry);
      if (problem) breakAt({ id: streamId, kind: 'edited', detail: problem });
      if (!first) first = entry;
      else if (previous) {
        if (entry.seq === previous.seq + 1 && entry.prev !== previous.hash) {
          breakAt({ id: previous.streamId, kind: 'edited', detail: `entry seq ${previous.seq} was rewritten (its hash recomputed): the next entry links to a different hash` });
        } else if (entry.seq > previous.seq + 1) {
          breakAt({ id: streamId, kind: 'gap', detail: `entries seq ${previous.seq + 1} to ${entry.seq - 1} are missing before this entry, and no trim marker covers them`, missing: [previous.seq + 1, entry.seq - 1] });
        } else if (entry.seq <= previous.seq) {
          breakAt({ id: streamId, kind: 'reordered', detail: `entry seq ${entry.seq} comes after seq ${previous.seq}` });
        }
      }
      if (entry.type === 'trim' && !problem) {
        const marker = parseMarker(entry.data);
        if (marker) {
          markers.push(marker);
          trimmed.push({ markerId: streamId, firstSeq: marker.firstSeq, lastSeq: marker.lastSeq, removed: marker.removed, at: String(marker.at) });
        }
      }
      if (head && entry.seq === head.seq) headEntry = entry;
      maxSeq = Math.max(maxSeq, entry.seq);
      previous = entry;
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) break;
    start = `(${last[0]}`;
  }

  // The start: the genesis, or exactly where a trim marker says retention stopped.
  let startBreak: AuditBreak | undefined;
  if (first) {
    const begin = first;
    if (begin.seq === 0 && begin.prev !== GENESIS_HASH) {
      startBreak = { id: begin.streamId, kind: 'edited', detail: 'the first entry ever does not link to the genesis' };
    } else if (begin.seq > 0 && !markers.some((m) => m.lastSeq === begin.seq - 1 && m.lastHash === begin.prev)) {
      const covered = Math.max(-1, ...markers.map((m) => m.lastSeq));
      startBreak = { id: begin.streamId, kind: 'gap', detail: `entries seq ${covered + 1} to ${begin.seq - 1} before the first entry are missing, and no trim marker covers them` };
    }
  }
  // The end: the newest entry must be the recorded head, or entries were cut off the end.
  let endBreak: AuditBreak | undefined;
  if (head) {
    if (maxSeq < head.seq) endBreak = { id: head.id, kind: 'gap', detail: `entries seq ${maxSeq + 1} to ${head.seq} at the end are missing` };
    else if (headEntry && headEntry.hash !== head.hash) endBreak = { id: headEntry.streamId, kind: 'edited', detail: `entry seq ${head.seq} is not the one recorded as the head` };
  } else if (previous) {
    endBreak = { id: previous.streamId, kind: 'edited', detail: 'the stream holds entries but the chain head record is missing' };
  }

  const found = startBreak ?? (firstBreak ? { id: firstBreak.id, kind: firstBreak.kind, detail: firstBreak.detail } : undefined) ?? endBreak;
  return {
    ok: found === undefined,
    checked,
    ...(found ? { firstBreak: found } : {}),
    trimmed,
    ...(head ? { head: { seq: head.seq, hash: head.hash } } : {}),
    firstId: first?.streamId ?? '',
  };
}

/**
 * Verifies the audit chain: every entry hashes to what it says, links to the one before, and
 * seq numbers run without holes from the genesis (or from the last trim marker) to the head.
 * A break found while a retention trim moved the start is checked once more before it is reported.
 */
export async function verifyAudit(store: AuditStore): Promise<VerifyResult> {
  let result = await verifyOnce(store);
  if (!result.ok) {
    const again = await verifyOnce(store);
    if (again.firstId !== result.firstId) result = again;
  }
  const { firstId: _firstId, ...rest } = result;
  return rest;
}
