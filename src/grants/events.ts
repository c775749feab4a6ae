// Reading an identity's grant events back from its Redis Stream, for the broker's sidecar stream
// (GET /v1/stream?since=<seq>). Design: each state change appends to the identity's stream in the
// same script that makes it (so nothing changes unannounced), then PUBLISHes a wake-up on one
// channel; a relay subscribes once, and on a wake-up (or a reconnect with `since`) reads the stream
// from the sidecar's last seq. Credential events carry only the grant id: the token stays in its
// own key, which ends with the grant, and never sits in the stream's history.
import type { IdentityKey } from '../contracts/identity.ts';
import type { Grant } from '../contracts/stream.ts';
import { GrantSchema } from '../contracts/stream.ts';
import { guarded, type AgentgateRedis } from '../redis/client.ts';

/** One stored event; `seq` increases per identity. */
export type GrantEvent =
  | { seq: number; type: 'grant'; grant: Grant }
  | { seq: number; type: 'credential'; grantId: string }
  | { seq: number; type: 'revocation'; grantId: string; reason: 'expired' | 'revoked' | 'frozen' };

/** What a reader gets: the events after `since`, and whether that point was still held. */
export interface EventPage {
  events: GrantEvent[];
  /** False when events after `since` were trimmed away: send the full current state instead. */
  resumed: boolean;
  /** The identity's latest seq (0 before its first event). */
  latest: number;
}

/** A wake-up from the events channel. */
export type EventNotice = { identity: string; seq: number } | { freeze: boolean };

type Entry = [id: string, fields: string[]];

function seqOf(id: string): number {
  return Number(id.slice(id.indexOf('-') + 1));
}

function toEvent(entry: Entry): GrantEvent | undefined {
  const [id, flat] = entry;
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i] ?? '', flat[i + 1] ?? '');
  const seq = seqOf(id);
  const grantId = f.get('grantId') ?? '';
  switch (f.get('type')) {
    case 'grant': {
      const parsed = GrantSchema.safeParse(JSON.parse(f.get('grant') ?? 'null'));
      return parsed.success ? { seq, type: 'grant', grant: parsed.data } : undefined;
    }
    case 'credential':
      return { seq, type: 'credential', grantId };
    case 'revocation': {
      const reason = f.get('reason');
      return reason === 'expired' || reason === 'revoked' || reason === 'frozen' ? { seq, type: 'revocation', grantId, reason } : undefined;
    }
    default:
      return undefined;
  }
}

/** Reads the events of `identity` after `since` (at most `count`). */
export async function readEvents(redis: AgentgateRedis, identity: IdentityKey, since: number, count = 500): Promise<EventPage> {
  const k = redis.keys;
  return guarded('read events', async () => {
    const [first, page, latest] = await Promise.all([
      redis.client.xrange(k.identityEvents(identity), '-', '+', 'COUNT', 1) as Promise<Entry[]>,
      redis.client.xrange(k.identityEvents(identity), `(0-${since}`, '+', 'COUNT', count) as Promise<Entry[]>,
      redis.client.get(k.identitySeq(identity)),
    ]);
    const oldest = first[0] ? seqOf(first[0][0]) : undefined;
    const latestSeq = latest === null ? 0 : Number(latest);
    // Resumable when nothing after `since` was trimmed: the oldest kept event follows it directly,
    // or nothing happened since.
    const resumed = since <= latestSeq && (latestSeq === since || (oldest !== undefined && oldest <= since + 1));
    return { events: page.map(toEvent).filter((e) => e !== undefined), resumed, latest: latestSeq };
  });
}

/** Parses a wake-up message; undefined for anything else on the channel. */
export function parseEventNotice(message: string): EventNotice | undefined {
  try {
    const json: unknown = JSON.parse(message);
    if (typeof json !== 'object' || json === null) return undefined;
    const o = json as Record<string, unknown>;
    if (typeof o.identity === 'string' && typeof o.seq === 'number') return { identity: o.identity, seq: o.seq };
    if (typeof o.freeze === 'boolean') return { freeze: o.freeze };
  } catch {
    return undefined;
  }
  return undefined;
}
