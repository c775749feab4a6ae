// The one table of decision reason codes: stable machine codes with the default human text
// reused in Status messages, logs, metric labels and Slack posts. Agents read the text.
import * as z from 'zod';

/** Every reason code agentgate issues, with its default text (what happened, what to do next). */
export const Reasons = Object.freeze({
  // Grants and approvals.
  'grant-live': 'Allowed under a live grant.',
  'grant-created': 'Allowed: policy granted this access on demand.',
  'no-grant': 'No grant covers this request. Ask for access with an AccessRequest (apis/agentgate.io/v1alpha1/accessrequests).',
  'approval-pending': 'This request needs a human approval; it has been asked for and is waiting.',
  'approval-denied': 'An approver denied this access. Do not retry the same request; ask a person if it is needed.',
  'approval-expired': 'Nobody decided on the approval in time. Ask again later or with a narrower scope.',
  'policy-deny': 'Policy denies this request for this agent.',
  frozen: 'agentgate is frozen by an operator: no new access is granted and live grants are suspended.',
  revoked: 'The grant for this access was revoked by an operator.',
  // Identity and infrastructure.
  'identity-invalid': 'The caller could not be identified as an injected agent pod.',
  'not-injected': 'This pod was not injected by agentgate, so it cannot be given access.',
  'broker-unavailable': 'The agentgate broker cannot be reached; retry shortly.',
  'redis-unavailable': 'The agentgate broker cannot read its grant store; retry shortly.',
  // Guardrails that always deny.
  'binds-cluster-admin': 'Binding to the cluster-admin role is never allowed.',
  'binds-system-masters': 'Binding to the system:masters group is never allowed.',
  'verb-escalate': "The RBAC 'escalate' verb is never allowed.",
  'verb-bind': "The RBAC 'bind' verb is never allowed.",
  'verb-impersonate': "The 'impersonate' verb is never allowed.",
  'privileged-pod': 'Privileged containers are never allowed.',
  'host-path': 'hostPath volumes are never allowed.',
  'host-namespace': 'Pods sharing the host network, PID or IPC namespace are never allowed.',
  'namespace-delete': 'Deleting a namespace is never allowed.',
  'agentgate-namespace': "agentgate's own namespace cannot be touched.",
  'agentgate-webhook': "agentgate's admission webhook configurations cannot be touched.",
  'agentgate-rbac': "agentgate's own roles and bindings cannot be touched.",
  'serviceaccount-token': 'Requesting service account tokens (serviceaccounts/token) is never allowed.',
  'service-account-token-secret': 'Service-account-token Secrets cannot be created or read.',
  'nodes-proxy': 'The nodes/proxy subresource (direct kubelet access) is never allowed.',
  'csr-approval': 'Approving certificate signing requests is never allowed.',
  'workload-not-injected': 'Workloads can only be created in namespaces labelled for agentgate injection.',
  // Guardrails that need a human approval.
  'exposure-host-port': 'Exposing a pod on a host port needs a human approval.',
  'exposure-node-port': 'Exposing a Service as NodePort needs a human approval.',
  'exposure-load-balancer': 'Exposing a Service as LoadBalancer needs a human approval.',
  // Policy outcomes that need a human (appended with the policy engine).
  'policy-approval': 'Policy requires a human approval for this request; it will be asked for on your behalf.',
  'policy-no-rule': 'No policy rule covers this request, so it needs a human approval.',
  // Admission of agent pods (the webhook refuses to inject, or refuses a change to an injected pod).
  'share-process-namespace': 'Agent pods cannot share one process namespace between containers (shareProcessNamespace).',
  'capability-not-allowed': 'Agent containers cannot add this Linux capability (never NET_ADMIN, NET_RAW, SYS_ADMIN or SYS_PTRACE).',
  'service-account-token-volume': 'Agent pods cannot mount their own service-account token: the sidecar is their only way to the API.',
  'service-account-token-secret-use': 'Agent pods cannot use a kubernetes.io/service-account-token Secret (volume, secretKeyRef or envFrom).',
  'secret-type-unknown': 'The type of a Secret the pod uses could not be checked; retry shortly.',
  'service-account-path-mount': 'Agent containers cannot mount their own volume at /var/run/secrets/kubernetes.io/serviceaccount: agentgate places its own there.',
  'agentgate-name-collision': "Names starting with 'agentgate-' (containers, volumes, the agentgate-agent service account) are reserved for agentgate.",
  'native-sidecar-unsupported': 'agentgate needs native sidecars (Kubernetes 1.29 or later); this cluster is older, so the pod is not admitted.',
  'pod-malformed': 'The pod could not be patched safely, so it is refused rather than admitted without the sidecar.',
  'sidecar-changed': "The agentgate sidecar and its volumes cannot be changed on an injected pod.",
  'service-account-changed': 'The service account of an injected pod cannot be changed.',
  'agentgate-annotation-changed': "agentgate.io/ annotations are written by agentgate only and cannot be changed.",
  'ephemeral-targets-sidecar': 'A debug container cannot target the agentgate sidecar; target an agent container instead.',
  'ephemeral-broker-token': "A debug container cannot mount the sidecar's broker token.",
  'sidecar-missing': 'This agent pod lacks a correct agentgate sidecar (a later mutating webhook may have changed it), so it is refused.',
  'binds-agent-service-account': 'Nothing may be bound to the zero-permission agentgate-agent service account.',
  'role-aggregation': 'Aggregated ClusterRoles cannot be written by grant identities: their rules come from other roles.',
  // Audit (appended with the audit store): the sidecar fails closed rather than act unaudited.
  'audit-spool-full': "This pod's audit spool is full, so requests are refused until its audit events reach the broker; retry shortly.",
  // Masking (appended with the masking library).
  'masked-value-write-back': 'The request carries a value agentgate masked when it was read; writing it back would overwrite the real value. Send the real value, or patch only the fields you mean to change.',
  // Admission: the sidecar's audit spool is the sidecar's alone.
  'audit-spool-mount': "Agent containers cannot mount the sidecar's audit spool: it holds the record of what the agent did.",
} as const);

/** A reason code agentgate knows. */
export type ReasonCode = keyof typeof Reasons;

/** True when `code` is in the table (a newer broker may send codes this build does not know). */
export function isKnownReason(code: string): code is ReasonCode {
  return Object.hasOwn(Reasons, code);
}

/**
 * A reason code on the wire. Open within v1: a newer broker may add codes, so readers accept any
 * kebab-case code, branch on the decision's outcome (never on an unknown code) and show the text.
 */
export const ReasonCodeString = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'must be a kebab-case reason code such as no-grant');

/** A reason as sent: the code and the text for people (usually the table's, sometimes more precise). */
export const ReasonSchema = z.object({
  code: ReasonCodeString,
  message: z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
});

/** A reason as sent. */
export type Reason = z.infer<typeof ReasonSchema>;

/** Builds a reason with the table's text, or a more precise one. */
export function reason(code: ReasonCode, message: string = Reasons[code]): Reason {
  return { code, message };
}
