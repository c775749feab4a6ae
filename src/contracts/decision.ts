// POST /v1/decisions: the sidecar sends one request's attributes (and a bounded summary of its
// body), the broker answers allow, approval-required or deny with a reason from the table.
import * as z from 'zod';
import { RequestAttributesSchema } from './attributes.ts';
import { BrokerApiVersion } from './broker-v1.ts';
import { ApiVersionString, boundedText, DnsLabel, GrantId, isAfter, Kind, ObjectName, OpaqueId, Timestamp, Uid } from './names.ts';
import { checkRulesScope, PolicyRuleList, TargetNamespaces } from './rbac.ts';
import { ReasonSchema } from './reasons.ts';

const Name = boundedText(253);

/**
 * What the broker's early guardrail check needs from a write's body, extracted by the sidecar
 * so bodies themselves (Secrets, ConfigMaps) never leave the pod. Every list is bounded; when
 * the sidecar had to cut, `truncated` is true and the broker treats the body as unknown. This
 * check only gives a friendlier refusal: the validating webhook enforces the same guardrails
 * on the final object.
 */
export const BodySummarySchema = z.object({
  kind: Kind,
  apiVersion: ApiVersionString,
  name: ObjectName.optional(),
  namespace: Name.optional(),
  /** RoleBinding / ClusterRoleBinding. */
  roleRef: z.object({ apiGroup: Name, kind: Kind, name: Name }).optional(),
  subjects: z.array(z.object({ kind: Kind, name: Name, namespace: Name.optional() })).max(100).optional(),
  /** Role / ClusterRole. */
  rules: PolicyRuleList.optional(),
  /** Pods and anything with a pod template (Deployment, Job, CronJob…). */
  podSpec: z
    .object({
      privileged: z.boolean(),
      hostPath: z.boolean(),
      hostNamespaces: z.array(z.enum(['network', 'pid', 'ipc'])).max(3),
      hostPorts: z.array(z.number().int().min(1).max(65535)).max(100),
      serviceAccountName: Name.optional(),
    })
    .optional(),
  /** Services. */
  serviceType: boundedText(32).optional(),
  /** Secrets. */
  secretType: boundedText(253).optional(),
  truncated: z.boolean(),
});

/** What the broker's early guardrail check needs from a write's body. */
export type BodySummary = z.infer<typeof BodySummarySchema>;

/**
 * A decision request. The broker takes the identity from the sidecar's token (TokenReview with
 * the pod binding); the sidecar sends only the pod uid it was started with, and the broker
 * refuses with `identity-invalid` when the two disagree.
 */
export const DecisionRequestSchema = z.object({
  apiVersion: BrokerApiVersion,
  requestId: OpaqueId,
  identity: z.object({ podUid: Uid }).optional(),
  attributes: RequestAttributesSchema,
  body: BodySummarySchema.optional(),
  /** kubectl's `Kubectl-Command` header: the command path only, e.g. `kubectl get`. */
  command: boundedText(1024).optional(),
  /** kubectl's `Kubectl-Session` header: one id per kubectl invocation. */
  sessionId: boundedText(128).optional(),
});

/** A decision request. */
export type DecisionRequest = z.infer<typeof DecisionRequestSchema>;

/** The part of a grant a decision carries: enough for the sidecar to enforce and cache it. */
export const GrantSummarySchema = z
  .object({
    id: GrantId,
    rules: PolicyRuleList.min(1, 'must hold at least one rule'),
    namespaces: TargetNamespaces,
    expiresAt: Timestamp,
  })
  .superRefine((grant, ctx) => checkRulesScope(grant.rules, grant.namespaces, ctx, ['rules']));

/** The part of a grant a decision carries. */
export type GrantSummary = z.infer<typeof GrantSummarySchema>;

/**
 * A decision. `allow` names the grant and the credential to forward with (the credential
 * itself arrives on the stream); `approval-required` names the access request a human will
 * decide; `deny` carries neither. `cacheUntil` lets the sidecar reuse the answer for the same
 * attributes until then (never past the grant's expiry).
 */
export const DecisionSchema = z
  .object({
    apiVersion: BrokerApiVersion,
    requestId: OpaqueId,
    outcome: z.enum(['allow', 'approval-required', 'deny']),
    reason: ReasonSchema,
    grant: GrantSummarySchema.optional(),
    credentialRef: z.object({ grantId: GrantId }).optional(),
    /** The access request a human will decide (GET /v1/accessrequests/{id}). */
    approvalRequestId: DnsLabel.optional(),
    cacheUntil: Timestamp.optional(),
  })
  .superRefine((d, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (d.outcome === 'allow') {
      if (!d.grant) issue('grant', 'is required when outcome is allow');
      if (!d.credentialRef) issue('credentialRef', 'is required when outcome is allow');
      if (d.grant && d.credentialRef && d.credentialRef.grantId !== d.grant.id) issue('credentialRef', 'must name the same grant as grant.id');
      if (d.grant && d.cacheUntil && isAfter(d.cacheUntil, d.grant.expiresAt) === true) issue('cacheUntil', 'must not be later than grant.expiresAt');
    } else {
      if (d.grant) issue('grant', `must be absent when outcome is ${d.outcome}`);
      if (d.credentialRef) issue('credentialRef', `must be absent when outcome is ${d.outcome}`);
    }
    if (d.outcome === 'approval-required' && !d.approvalRequestId) issue('approvalRequestId', 'is required when outcome is approval-required');
    if (d.outcome !== 'approval-required' && d.approvalRequestId) issue('approvalRequestId', `must be absent when outcome is ${d.outcome}`);
  });

/** A decision. */
export type Decision = z.infer<typeof DecisionSchema>;
