// GET /v1/stream?since=<seq>: newline-delimited JSON the sidecar holds open. It carries the
// agent's grants, their credentials and revocations as they happen, so a grant's end reaches
// the sidecar at once rather than at its next decision request.
import * as z from 'zod';
import { AccessRequestStatusSchema } from './access-request.ts';
import { boundedText, DnsLabel, GrantId, HttpsUrl, isAfter, Timestamp } from './names.ts';
import { IdentityKeySchema } from './identity.ts';
import { checkRulesScope, PolicyRuleList, TargetNamespaces } from './rbac.ts';
import { parseWith, type Result } from './result.ts';

/**
 * A grant: rules resolved when it was granted (a roleRef becomes that role's rules at that
 * moment), the namespaces they are bound in, and its lifetime. `approvedBy` is absent when
 * policy granted it on demand.
 */
export const GrantSchema = z
  .object({
    id: GrantId,
    identity: IdentityKeySchema,
    rules: PolicyRuleList.min(1, 'must hold at least one rule'),
    namespaces: TargetNamespaces,
    reason: boundedText(1000),
    approvedBy: boundedText(253).optional(),
    accessRequestId: DnsLabel.optional(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
  })
  .superRefine((grant, ctx) => {
    checkRulesScope(grant.rules, grant.namespaces, ctx, ['rules']);
    if (isAfter(grant.expiresAt, grant.createdAt) === false) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after createdAt' });
  });

/** A grant. */
export type Grant = z.infer<typeof GrantSchema>;

/**
 * The credential of a grant. It may outlive the grant (TokenRequest ≥ 10 min, STS ≥ 15 min):
 * the sidecar stops using it when the grant ends, whatever `expiresAt` says. A newer credential
 * for the same grant replaces the older one. The token is a secret: never log this event.
 */
export const CredentialSchema = z.object({
  grantId: GrantId,
  kind: z.literal('bearer-token'),
  token: z.string().min(1, 'must not be empty').max(16384, 'must be at most 16384 characters'),
  expiresAt: Timestamp,
  server: HttpsUrl,
});

/** The credential of a grant. */
export type Credential = z.infer<typeof CredentialSchema>;

// Every event carries `seq`, increasing per identity key; `hello` and `heartbeat` carry the
// latest seq without taking one. A sidecar reconnects with `?since=<last seq seen>`; when the
// broker no longer holds that point, its hello says `resumed: false` and it sends the full
// current state (every live grant and credential) before anything else.
const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** `hello`: the first line of every stream. */
export const HelloEventSchema = z.object({
  type: z.literal('hello'),
  seq: Seq,
  brokerVersion: boundedText(64),
  contract: z.literal('v1'),
  heartbeatSeconds: z.number().int().min(1).max(300),
  resumed: z.boolean(),
});

/** `grant`: a grant was created or changed (same id: replace). */
export const GrantEventSchema = z.object({ type: z.literal('grant'), seq: Seq, grant: GrantSchema });

/** `credential`: the credential to forward with for a grant. */
export const CredentialEventSchema = z.object({ type: z.literal('credential'), seq: Seq, credential: CredentialSchema });

/** `revocation`: stop using a grant (or every grant: `all`) now. */
export const RevocationEventSchema = z.object({
  type: z.literal('revocation'),
  seq: Seq,
  grantId: z.string().refine((s) => s === 'all' || GrantId.safeParse(s).success, 'must be a grant id or "all"'),
  reason: z.enum(['expired', 'revoked', 'frozen']),
});

/**
 * `access-request`: an access request of this agent changed phase, so a sidecar holding an
 * agent's request for approval learns of a denial without polling. (Not in the first sketch of
 * the contract; added because `approval-required` otherwise has no end but a timeout.)
 */
export const AccessRequestEventSchema = z.object({
  type: z.literal('access-request'),
  seq: Seq,
  id: DnsLabel,
  status: AccessRequestStatusSchema,
});

/** `heartbeat`: the stream is alive; sent every `heartbeatSeconds` when nothing else is. */
export const HeartbeatEventSchema = z.object({ type: z.literal('heartbeat'), seq: Seq, time: Timestamp });

/** One line of the stream. */
export const StreamEventSchema = z.discriminatedUnion('type', [
  HelloEventSchema,
  GrantEventSchema,
  CredentialEventSchema,
  RevocationEventSchema,
  AccessRequestEventSchema,
  HeartbeatEventSchema,
]);

/** One line of the stream. */
export type StreamEvent = z.infer<typeof StreamEventSchema>;

/** What a reader gets for an event type newer than it: only its seq, to skip it and resume after. */
export interface UnknownStreamEvent {
  type: 'unknown';
  eventType: string;
  seq: number;
}

const knownTypes: ReadonlySet<string> = new Set(StreamEventSchema.options.map((option) => option.shape.type.value));
const Envelope = z.object({ type: z.string().min(1), seq: Seq });

/**
 * Reads one NDJSON line from the stream as the sidecar should: known events are validated in
 * full; an event of a type this build does not know (a newer broker) is returned as
 * `UnknownStreamEvent` to be skipped, provided it has a `type` and a `seq`.
 */
export function parseStreamLine(line: string): Result<StreamEvent | UnknownStreamEvent> {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, errors: [{ path: '$', message: 'must be one JSON object per line' }] };
  }
  const envelope = Envelope.safeParse(json);
  if (envelope.success && !knownTypes.has(envelope.data.type)) {
    return { ok: true, value: { type: 'unknown', eventType: envelope.data.type, seq: envelope.data.seq } };
  }
  return parseWith(StreamEventSchema, json);
}

/** Serialises an event as one stream line. */
export function formatStreamLine(event: StreamEvent): string {
  return `${JSON.stringify(event)}\n`;
}
