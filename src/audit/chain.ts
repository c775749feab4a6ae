// The audit hash chain: canonical JSON, the hash of one stream entry, and the encoding of
// entries as Redis Stream fields. Store, retention and verification all hash through here.
import { createHash } from 'node:crypto';
import type { AuditEvent } from '../contracts/audit.ts';

/** The `prev` of the very first entry: 64 zeros (no entry before it). */
export const GENESIS_HASH = '0'.repeat(64);

/** The kinds of stream entries: an audit event, or the marker a retention trim leaves. */
export type EntryType = 'event' | 'trim';

/**
 * What a retention trim removed, recorded in a `trim` entry so verification can tell trimming
 * (the removed range ends exactly where the stream now starts) from deletion (it does not).
 */
export interface TrimMarker {
  reason: 'retention';
  /** Seq of the first and last removed entries; `removed` = lastSeq - firstSeq + 1. */
  firstSeq: number;
  lastSeq: number;
  /** Stream id and hash of the last removed entry: the next kept entry's `prev`. */
  lastId: string;
  lastHash: string;
  removed: number;
  /** When the trim ran (RFC 3339). */
  at: string;
  maxLen?: number;
  maxAgeMs?: number;
}

/** One decoded stream entry, as stored (before any check). */
export interface ChainEntry {
  /** The Redis Stream id (`<ms>-<n>`), assigned by Redis at append time. */
  streamId: string;
  /** Position in the chain: 0 for the first entry ever, +1 per entry, never reused. */
  seq: number;
  type: EntryType;
  /** The event id for `event` entries (the idempotency key), '' for markers. */
  eventId: string;
  /** The canonical JSON of the event or the marker, exactly as hashed. */
  data: string;
  prev: string;
  hash: string;
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth, no whitespace, and
 * undefined members dropped: the shape of RFC 8785 (JCS) for the values audit entries hold
 * (strings, finite numbers, booleans, null), so one value has exactly one text to hash.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

/**
 * The hash of one entry: SHA-256 (hex) over the canonical JSON of {data, prev, seq, type}.
 * `seq` is inside the hash so a deleted entry shows as a gap in the numbering and a moved
 * one as a step back; `type` is inside so an event cannot be relabelled as a trim marker.
 */
export function entryHash(entry: { seq: number; type: EntryType; data: string; prev: string }): string {
  // `data` is already canonical JSON, so it is spliced in rather than parsed and re-encoded.
  const text = `{"data":${entry.data},"prev":${JSON.stringify(entry.prev)},"seq":${entry.seq},"type":${JSON.stringify(entry.type)}}`;
  return createHash('sha256').update(text).digest('hex');
}

/** Builds the next entry of the chain after (`prevSeq`, `prevHash`); its stream id comes later. */
export function chainEntry(prevSeq: number, prevHash: string, type: EntryType, value: AuditEvent | TrimMarker): Omit<ChainEntry, 'streamId'> {
  return chainData(prevSeq, prevHash, type, type === 'event' ? (value as AuditEvent).id : '', canonicalJson(value));
}

/** chainEntry for data already in canonical JSON (kept across retries of one append). */
export function chainData(prevSeq: number, prevHash: string, type: EntryType, eventId: string, data: string): Omit<ChainEntry, 'streamId'> {
  const seq = prevSeq + 1;
  return { seq, type, eventId, data, prev: prevHash, hash: entryHash({ seq, type, data, prev: prevHash }) };
}

/** The Redis Stream fields of an entry, in the order they are written. */
export function entryFields(entry: Omit<ChainEntry, 'streamId'>): string[] {
  const fields = ['seq', String(entry.seq), 'type', entry.type];
  if (entry.eventId !== '') fields.push('eid', entry.eventId);
  fields.push('data', entry.data, 'prev', entry.prev, 'hash', entry.hash);
  return fields;
}

/**
 * Decodes one XRANGE item. Returns a string saying what is wrong when the fields are not an
 * entry this store writes (a field missing, a seq that is not a number, an unknown type).
 */
export function decodeEntry(streamId: string, fields: readonly string[]): ChainEntry | string {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] ?? '', fields[i + 1] ?? '');
  const seqText = map.get('seq');
  const type = map.get('type');
  const data = map.get('data');
  const prev = map.get('prev');
  const hash = map.get('hash');
  if (seqText === undefined || type === undefined || data === undefined || prev === undefined || hash === undefined) {
    return 'a field (seq, type, data, prev or hash) is missing';
  }
  if (!/^(0|[1-9]\d{0,15})$/.test(seqText)) return `seq ${JSON.stringify(seqText)} is not a chain position`;
  if (type !== 'event' && type !== 'trim') return `type ${JSON.stringify(type)} is unknown`;
  return { streamId, seq: Number(seqText), type, eventId: map.get('eid') ?? '', data, prev, hash };
}

/** The millisecond part of a stream id. */
export function streamIdMs(streamId: string): number {
  return Number(streamId.split('-')[0]);
}

/** The smallest stream id after `streamId` (XTRIM MINID keeps ids >= it, so it removes `streamId`). */
export function nextStreamId(streamId: string): string {
  const [ms = '0', n = '0'] = streamId.split('-');
  return `${ms}-${(BigInt(n) + 1n).toString()}`;
}
