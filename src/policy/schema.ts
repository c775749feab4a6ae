// The AccessPolicy file format (apiVersion agentgate.io/v1alpha1): rules that match an agent, its
// cluster and a request's attributes, each with an outcome: allow (on demand), approve or deny.
// Field messages are written for the operator who reads them with a file and line in front.
import * as z from 'zod';
import { durationSeconds, MAX_ACCESS_SECONDS, MIN_ACCESS_SECONDS } from '../contracts/access-request.ts';
import { RESOURCE_VERBS } from '../contracts/attributes.ts';
import { DNS_LABEL } from '../contracts/names.ts';

/** The `apiVersion` of a policy file. */
export const POLICY_API_VERSION = 'agentgate.io/v1alpha1';

/** The `kind` of a policy file. */
export const POLICY_KIND = 'AccessPolicy';

/** The namespace pattern that means the requesting agent's own namespace. */
export const SELF_NAMESPACE = '$self';

/** The namespace pattern that means "no namespace": cluster-scoped objects and all-namespace lists. */
export const CLUSTER_SCOPE = '$cluster';

/**
 * Verbs a rule may name. Requests carry the RESOURCE_VERBS (or, for non-resource URLs, a lower-case
 * HTTP method); escalate, bind, impersonate and approve only reach policy through RBAC bodies, so
 * they are accepted here for deny rules that want to say so.
 */
export const POLICY_VERBS: ReadonlySet<string> = new Set([...RESOURCE_VERBS, 'escalate', 'bind', 'impersonate', 'approve', 'use', 'post', 'put', 'head', 'options', '*']);

const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const resourceName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A list field: a non-empty YAML sequence of strings, each checked by `check` (undefined: valid). */
function list(check: (value: string) => string | undefined, what: string) {
  return z
    .array(
      z.string().superRefine((value, ctx) => {
        const problem = check(value);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
      { message: `must be a list of ${what}` },
    )
    .min(1, `must name at least one of ${what}, or be left out to match any`);
}

const verbProblem = (v: string) => (POLICY_VERBS.has(v) ? undefined : `"${v}" is not a Kubernetes verb`);

function apiGroupProblem(g: string): string | undefined {
  // Checked before the subdomain test: "core" and "v1" are valid subdomains but never what was meant.
  if (g === 'core') return '"core" is not an API group: the core group is ""';
  if (/^v\d+((alpha|beta)\d+)?$/.test(g)) return `"${g}" is a version, not an API group (the core group is "")`;
  if (g === '' || g === '*' || (g.length <= 253 && subdomain.test(g))) return undefined;
  if (g.includes('/')) return `"${g}" is a group/version: name only the group`;
  return `"${g}" is not an API group such as "" (core), apps or rbac.authorization.k8s.io`;
}

function resourceProblem(r: string): string | undefined {
  if (r === '*') return undefined;
  const [resource = '', sub, extra] = r.split('/');
  if (extra !== undefined) return `"${r}" has more than one "/": write resource/subresource`;
  // RBAC matches "*", "resource", "resource/sub" and "*/sub" only: "pods/*" would silently match nothing.
  if (sub === '*') return `"${r}" is not RBAC: list the subresources (pods/log) or use */subresource`;
  if (resource !== '*' && !resourceName.test(resource)) return `"${r}" is not a lower-case plural resource such as pods or pods/exec`;
  if (sub !== undefined && !resourceName.test(sub)) return `"${r}" has an invalid subresource`;
  return undefined;
}

function namespaceProblem(n: string): string | undefined {
  if (n === '*' || n === SELF_NAMESPACE || n === CLUSTER_SCOPE) return undefined;
  if (n.startsWith('$')) return `"${n}" is not a namespace pattern: use a name, ${SELF_NAMESPACE}, ${CLUSTER_SCOPE} or *`;
  return n.length <= 63 && DNS_LABEL.test(n) ? undefined : `"${n}" is not a namespace name (DNS-1123 label), ${SELF_NAMESPACE}, ${CLUSTER_SCOPE} or *`;
}

const nameProblem = (n: string) => (n === '' || n === '.' || n === '..' || n.includes('/') ? `"${n}" is not an object name` : undefined);
const labelOrAny = (what: string) => (v: string) => (v === '*' || (v.length <= 63 && DNS_LABEL.test(v)) ? undefined : `"${v}" is not ${what} (DNS-1123 label) or *`);
const subdomainOrAny = (what: string) => (v: string) => (v === '*' || (v.length <= 253 && subdomain.test(v)) ? undefined : `"${v}" is not ${what} (DNS-1123 subdomain) or *`);
const profileProblem = (v: string) => (/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(v) ? undefined : `"${v}" is not a profile name (a label value)`);
const urlProblem = (v: string) => (v === '*' || (/^\/\S*$/.test(v) && !v.slice(0, -1).includes('*')) ? undefined : `"${v}" is not a URL path such as /healthz or /apis/* (a * only at the end)`);

/**
 * What a rule matches. Every field is optional; a field left out matches anything. Identity:
 * `agents` (the agent name), `agentNamespaces` (where the agent runs), `profiles` (its policy
 * profile, see PolicyIdentity) and `connections` (the cluster). Request: `verbs`, `apiGroups`
 * (`""` is core), `resources` (RBAC forms: `pods`, `pods/exec`, `*∕scale` (any resource's scale), `*`; `*` takes in
 * every subresource too), `namespaces` (names, `$self`, `$cluster`, `*`), `names`, or
 * `nonResourceURLs` for paths such as /version (those rules match only non-resource requests).
 */
export const PolicyMatchSchema = z.strictObject({
  agents: list(subdomainOrAny('an agent name'), 'agent names').optional(),
  agentNamespaces: list(labelOrAny('a namespace name'), 'namespace names').optional(),
  profiles: list(profileProblem, 'profile names').optional(),
  connections: list(labelOrAny('a connection name'), 'connection names').optional(),
  verbs: list(verbProblem, 'verbs').optional(),
  apiGroups: list(apiGroupProblem, 'API groups').optional(),
  resources: list(resourceProblem, 'resources').optional(),
  namespaces: list(namespaceProblem, 'namespaces').optional(),
  names: list(nameProblem, 'object names').optional(),
  nonResourceURLs: list(urlProblem, 'URL paths').optional(),
});

/** What a rule matches. */
export type PolicyMatch = z.infer<typeof PolicyMatchSchema>;

/** A duration such as `30m` within the bounds of an access request. */
export const TtlSchema = z.string({ message: 'must be a duration such as 30m or 1h' }).superRefine((value, ctx) => {
  const seconds = durationSeconds(value);
  if (seconds === undefined) ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration such as 30m, 1h or 1h30m` });
  else if (seconds < MIN_ACCESS_SECONDS || seconds > MAX_ACCESS_SECONDS) {
    ctx.addIssue({ code: 'custom', message: `"${value}" must be between ${MIN_ACCESS_SECONDS / 60}m and ${MAX_ACCESS_SECONDS / 3600}h` });
  }
});

const Approvers = z.array(z.string().min(1, 'must not be empty').max(253, 'must be at most 253 characters'), { message: 'must be a list of approvers' });
const ruleNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * One rule. `outcome` decides the rest: `allow` grants on demand for `ttl` with `scope` (`rule`:
 * the rule's own match as RBAC, resolved for the agent; `request`: only what was asked);
 * `approve` asks `approvers` (empty: the broker's configured approvers) for `ttl`; `deny` refuses
 * with `reason`, which the agent reads. Allow rules must name their resources and namespaces,
 * because what they grant nobody looks at: see checkAllowRule in load.ts.
 */
export const PolicyRuleEntrySchema = z
  .strictObject({
    name: z.string({ message: 'must be a rule name' }).max(63, 'must be at most 63 characters').regex(ruleNamePattern, "must be a rule name: lowercase letters, digits and '-'"),
    description: z.string().max(1000, 'must be at most 1000 characters').optional(),
    match: PolicyMatchSchema,
    outcome: z.enum(['allow', 'approve', 'deny'], { message: 'must be allow, approve or deny' }),
    ttl: TtlSchema.optional(),
    scope: z.enum(['rule', 'request'], { message: 'must be rule or request' }).optional(),
    approvers: Approvers.optional(),
    reason: z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters').optional(),
  })
  .superRefine((rule, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (rule.outcome === 'deny') {
      if (rule.reason === undefined) issue('reason', 'is required when outcome is deny: the agent reads it');
      for (const field of ['ttl', 'scope', 'approvers'] as const) if (rule[field] !== undefined) issue(field, 'must be absent when outcome is deny');
    }
    if (rule.outcome === 'allow') {
      if (rule.ttl === undefined) issue('ttl', 'is required when outcome is allow');
      if (rule.approvers !== undefined) issue('approvers', 'must be absent when outcome is allow');
    }
    const m = rule.match;
    if (m.nonResourceURLs !== undefined) {
      for (const field of ['apiGroups', 'resources', 'namespaces', 'names'] as const) {
        if (m[field] !== undefined) ctx.addIssue({ code: 'custom', path: ['match', field], message: 'must be absent with nonResourceURLs: a rule matches resources or URL paths, not both' });
      }
    }
  });

/** One rule of a policy. */
export type PolicyRuleEntry = z.infer<typeof PolicyRuleEntrySchema>;

/** What happens when no rule matches. Never `allow`: a policy must fail closed. */
export const PolicyDefaultSchema = z.strictObject({
  outcome: z.enum(['approve', 'deny'], { message: 'must be approve or deny (a default never allows)' }).default('approve'),
  ttl: TtlSchema.default('1h'),
  approvers: Approvers.default([]),
});

/** A whole policy file. */
export const AccessPolicySchema = z
  .strictObject({
    apiVersion: z.literal(POLICY_API_VERSION, { message: `must be "${POLICY_API_VERSION}"` }),
    kind: z.literal(POLICY_KIND, { message: `must be "${POLICY_KIND}"` }),
    metadata: z.strictObject({ name: z.string().min(1).max(253), annotations: z.record(z.string(), z.string()).optional() }).optional(),
    default: PolicyDefaultSchema.prefault({}),
    /** Exposure (hostPort, NodePort, LoadBalancer) needs approval unless this says deny. */
    exposure: z.enum(['approve', 'deny'], { message: 'must be approve or deny' }).default('approve'),
    rules: z.array(PolicyRuleEntrySchema, { message: 'must be a list of rules' }).max(1000, 'must hold at most 1000 rules').default([]),
  })
  .superRefine((policy, ctx) => {
    const seen = new Map<string, number>();
    policy.rules.forEach((rule, index) => {
      const first = seen.get(rule.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', index, 'name'], message: `"${rule.name}" is already the name of rules[${first}]` });
      else seen.set(rule.name, index);
    });
  });

/** A validated policy. */
export type AccessPolicy = z.infer<typeof AccessPolicySchema>;

/**
 * Who asks, as policy sees it. `profile` is the agent's group: the value of the pod's
 * `agentgate.io/policy-profile` annotation, which only the webhook may set. The webhook should
 * take it from the agent's ServiceAccount (not from a pod label, which whoever creates the pod
 * chooses); policy only trusts that the annotation came from the webhook.
 */
export interface PolicyIdentity {
  connection: string;
  namespace: string;
  agent: string;
  profile?: string | undefined;
}
