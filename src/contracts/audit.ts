// POST /v1/audit: the sidecar sends audit events in batches (spooled to disk while the broker
// is away); event ids make re-sending a batch harmless.
import * as z from 'zod';
import { RequestAttributesSchema } from './attributes.ts';
import { BrokerApiVersion } from './broker-v1.ts';
import { AgentIdentitySchema } from './identity.ts';
import { boundedText, GrantId, OpaqueId, Timestamp, Uid } from './names.ts';
import { ReasonCodeString } from './reasons.ts';

/** The most events one batch may carry; the sidecar splits larger spools. */
export const MAX_AUDIT_BATCH = 1000;

/**
 * One request, its decision and its outcome. `response.code` is the HTTP status the agent got
 * (0 when the connection ended without one); `masked` counts the values the sidecar masked.
 */
export const AuditEventSchema = z.object({
  id: z.uuid({ message: 'must be a UUID' }),
  time: Timestamp,
  identity: AgentIdentitySchema,
  requestId: OpaqueId,
  attributes: RequestAttributesSchema,
  decision: z.object({ outcome: z.enum(['allow', 'approval-required', 'deny']), code: ReasonCodeString }),
  grantId: GrantId.optional(),
  response: z.object({
    code: z.number().int().refine((c) => c === 0 || (c >= 100 && c <= 599), 'must be an HTTP status, or 0 for none'),
    bytes: z.number().int().min(0),
    durationMs: z.number().min(0),
  }),
  command: boundedText(1024).optional(),
  sessionId: boundedText(128).optional(),
  masked: z.number().int().min(0),
});

/** One audited request. */
export type AuditEvent = z.infer<typeof AuditEventSchema>;

/** POST /v1/audit body. `instance` tells apart the sidecar's restarts within one pod. */
export const AuditBatchSchema = z.object({
  apiVersion: BrokerApiVersion,
  sidecar: z.object({ podUid: Uid, instance: OpaqueId }),
  events: z.array(AuditEventSchema).min(1, 'must hold at least one event').max(MAX_AUDIT_BATCH, `must hold at most ${MAX_AUDIT_BATCH} events`),
});

/** POST /v1/audit body. */
export type AuditBatch = z.infer<typeof AuditBatchSchema>;

/** POST /v1/audit answer: how many events were stored (duplicates of stored ids count as accepted). */
export const AuditAcceptedSchema = z.object({
  apiVersion: BrokerApiVersion,
  accepted: z.number().int().min(0).max(MAX_AUDIT_BATCH),
});

/** POST /v1/audit answer. */
export type AuditAccepted = z.infer<typeof AuditAcceptedSchema>;
