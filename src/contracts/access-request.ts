// Access requests: what an agent asks for through its sidecar's virtual API
// (/apis/agentgate.io/v1alpha1/accessrequests) and the broker's v1 form of the same request.
import * as z from 'zod';
import { BrokerApiVersion, BROKER_API_VERSION } from './broker-v1.ts';
import { IdentityKeySchema } from './identity.ts';
import { boundedText, DnsLabel, GrantId, ObjectName, OpaqueId, Timestamp } from './names.ts';
import { checkRulesScope, PolicyRuleList, TargetNamespaces } from './rbac.ts';

/** An access request id, chosen by the broker; a DNS label because it is the virtual object's name. */
export const AccessRequestId = DnsLabel;

/** The longest access one request may ask for. Policy may allow less, never more. */
export const MAX_ACCESS_SECONDS = 8 * 3600;

/** The shortest: below a minute the approval round trip costs more than the access. */
export const MIN_ACCESS_SECONDS = 60;

const durationPattern = /^(?:(\d{1,5})h)?(?:(\d{1,5})m)?(?:(\d{1,6})s)?$/;

/** Reads a duration in the form Kubernetes writes `metav1.Duration` (`30m`, `1h30m`, `90s`); undefined if malformed. */
export function durationSeconds(duration: string): number | undefined {
  const match = durationPattern.exec(duration);
  if (!match || duration === '') return undefined;
  const [, h = '0', m = '0', s = '0'] = match;
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

const Duration = z.string().superRefine((value, ctx) => {
  const seconds = durationSeconds(value);
  if (seconds === undefined) ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30m, 1h or 1h30m' });
  else if (seconds < MIN_ACCESS_SECONDS || seconds > MAX_ACCESS_SECONDS) {
    ctx.addIssue({ code: 'custom', message: `must be between ${MIN_ACCESS_SECONDS / 60}m and ${MAX_ACCESS_SECONDS / 3600}h` });
  }
});

/** A reference to an existing role whose rules the grant takes when it is granted. */
export const RoleRefSchema = z
  .object({
    kind: z.enum(['Role', 'ClusterRole']),
    name: ObjectName,
    namespace: DnsLabel.optional(),
  })
  .superRefine((ref, ctx) => {
    if (ref.kind === 'Role' && ref.namespace === undefined) ctx.addIssue({ code: 'custom', path: ['namespace'], message: 'is required for a Role' });
    if (ref.kind === 'ClusterRole' && ref.namespace !== undefined) ctx.addIssue({ code: 'custom', path: ['namespace'], message: 'must be absent for a ClusterRole' });
  });

/** What is asked for: either explicit rules or a role reference, where, for how long and why. */
export const AccessRequestSpecSchema = z
  .object({
    rules: PolicyRuleList.min(1, 'must hold at least one rule').optional(),
    roleRef: RoleRefSchema.optional(),
    namespaces: TargetNamespaces,
    duration: Duration,
    /** Shown to the approver: say what the access is for. */
    reason: z
      .string()
      .max(1000, 'must be at most 1000 characters')
      .refine((s) => s.trim() !== '', 'is required: say what the access is for'),
  })
  .superRefine((spec, ctx) => {
    if ((spec.rules === undefined) === (spec.roleRef === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'exactly one of rules and roleRef must be set' });
    }
    if (spec.rules) checkRulesScope(spec.rules, spec.namespaces, ctx, ['rules']);
  });

/** What is asked for. */
export type AccessRequestSpec = z.infer<typeof AccessRequestSpecSchema>;

/** Where a request stands. `Approved` is a human's yes before the grant exists; `Granted` has it. */
export const AccessRequestStatusSchema = z
  .object({
    phase: z.enum(['Pending', 'Approved', 'Denied', 'Expired', 'Granted']),
    grantId: GrantId.optional(),
    decidedBy: boundedText(253).optional(),
    decidedAt: Timestamp.optional(),
    message: boundedText(1000).optional(),
  })
  .superRefine((status, ctx) => {
    if (status.phase === 'Granted' && status.grantId === undefined) ctx.addIssue({ code: 'custom', path: ['grantId'], message: 'is required when phase is Granted' });
    if (status.phase !== 'Granted' && status.grantId !== undefined) ctx.addIssue({ code: 'custom', path: ['grantId'], message: `must be absent when phase is ${status.phase}` });
    if (status.phase === 'Pending' && (status.decidedBy !== undefined || status.decidedAt !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['decidedAt'], message: 'must be absent while Pending' });
    }
  });

/** Where a request stands. */
export type AccessRequestStatus = z.infer<typeof AccessRequestStatusSchema>;

/**
 * POST /v1/accessrequests body. `requestId` makes the call idempotent: the sidecar retries with
 * the same id and gets the same request back.
 */
export const AccessRequestCreateSchema = z.object({
  apiVersion: BrokerApiVersion,
  requestId: OpaqueId,
  spec: AccessRequestSpecSchema,
});

/** POST /v1/accessrequests body. */
export type AccessRequestCreate = z.infer<typeof AccessRequestCreateSchema>;

/** An access request as the broker returns it (POST and GET /v1/accessrequests/{id}). */
export const AccessRequestSchema = z.object({
  apiVersion: BrokerApiVersion,
  id: AccessRequestId,
  identity: IdentityKeySchema,
  spec: AccessRequestSpecSchema,
  status: AccessRequestStatusSchema,
  createdAt: Timestamp,
});

/** An access request as the broker returns it. */
export type AccessRequest = z.infer<typeof AccessRequestSchema>;

/** The group/version of the sidecar's virtual API. */
export const ACCESS_REQUEST_API_VERSION = 'agentgate.io/v1alpha1';

/** The object the sidecar serves: Kubernetes-shaped so kubectl prints and parses it. */
export const AccessRequestObjectSchema = z.object({
  apiVersion: z.literal(ACCESS_REQUEST_API_VERSION, { message: `must be "${ACCESS_REQUEST_API_VERSION}"` }),
  kind: z.literal('AccessRequest', { message: 'must be "AccessRequest"' }),
  metadata: z.object({ name: AccessRequestId, namespace: DnsLabel, creationTimestamp: Timestamp }),
  spec: AccessRequestSpecSchema,
  status: AccessRequestStatusSchema,
});

/** The object the sidecar serves. */
export type AccessRequestObject = z.infer<typeof AccessRequestObjectSchema>;

/**
 * What an agent posts to the virtual API. The broker names requests, so `metadata` (name,
 * generateName) is ignored, and `status` is ignored as the API server ignores it on create.
 */
export const AccessRequestObjectInputSchema = z.object({
  apiVersion: AccessRequestObjectSchema.shape.apiVersion,
  kind: AccessRequestObjectSchema.shape.kind,
  spec: AccessRequestSpecSchema,
});

/** What an agent posts to the virtual API. */
export type AccessRequestObjectInput = z.infer<typeof AccessRequestObjectInputSchema>;

/** The virtual object for a broker access request (metadata.name is the request id). */
export function toAccessRequestObject(request: AccessRequest): AccessRequestObject {
  return {
    apiVersion: ACCESS_REQUEST_API_VERSION,
    kind: 'AccessRequest',
    metadata: { name: request.id, namespace: request.identity.namespace, creationTimestamp: request.createdAt },
    spec: request.spec,
    status: request.status,
  };
}

/** The broker call for an agent's posted object. */
export function toAccessRequestCreate(input: AccessRequestObjectInput, requestId: string): AccessRequestCreate {
  return { apiVersion: BROKER_API_VERSION, requestId, spec: input.spec };
}
