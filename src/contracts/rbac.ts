// PolicyRule exactly as rbac.authorization.k8s.io/v1 defines it, with the API server's own
// validation rules, because grants are stored as rules and bound as generated Roles.
import * as z from 'zod';
import { DNS_LABEL } from './names.ts';

const stringList = z.array(z.string());

/**
 * Checks a rule as the API server's ValidatePolicyRule does. `namespaced` is true for rules
 * that end up in a Role (they cannot name non-resource URLs). Returns one issue per problem,
 * each attached to the field it is about.
 */
export function policyRuleIssues(rule: PolicyRule, namespaced: boolean): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  if (rule.verbs.length === 0) issues.push({ path: 'verbs', message: 'verbs must contain at least one value' });
  if ((rule.nonResourceURLs ?? []).length > 0) {
    if (namespaced) {
      issues.push({ path: 'nonResourceURLs', message: 'namespaced rules cannot apply to non-resource URLs' });
    }
    if ((rule.apiGroups ?? []).length > 0 || (rule.resources ?? []).length > 0 || (rule.resourceNames ?? []).length > 0) {
      issues.push({ path: 'nonResourceURLs', message: 'rules cannot apply to both regular resources and non-resource URLs' });
    }
    return issues;
  }
  if ((rule.apiGroups ?? []).length === 0) {
    issues.push({ path: 'apiGroups', message: 'resource rules must supply at least one api group' });
  }
  if ((rule.resources ?? []).length === 0) {
    issues.push({ path: 'resources', message: 'resource rules must supply at least one resource' });
  }
  return issues;
}

const PolicyRuleShape = z.object({
  verbs: stringList,
  apiGroups: stringList.optional(),
  resources: stringList.optional(),
  resourceNames: stringList.optional(),
  nonResourceURLs: stringList.optional(),
});

/** A PolicyRule as a ClusterRole may hold it (non-resource URLs allowed). */
export const PolicyRuleSchema = PolicyRuleShape.superRefine((rule, ctx) => {
  for (const issue of policyRuleIssues(rule, false)) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
});

/** One rule of RBAC: which verbs on which resources (or non-resource URLs). */
export type PolicyRule = z.infer<typeof PolicyRuleShape>;

/** At most this many rules in one grant or access request: a bound on messages and Slack posts. */
export const MAX_RULES = 64;

/** A bounded list of cluster-form rules. */
export const PolicyRuleList = z.array(PolicyRuleSchema).max(MAX_RULES, `must hold at most ${MAX_RULES} rules`);

/**
 * The target namespaces of a grant or request: DNS labels, or exactly `["*"]` for cluster-wide
 * (all namespaces and cluster-scoped resources, bound by a ClusterRoleBinding).
 */
export const TargetNamespaces = z
  .array(
    z.string().refine((s) => s === '*' || (s.length <= 63 && DNS_LABEL.test(s)), 'must be a namespace name (DNS-1123 label) or "*"'),
  )
  .min(1, 'must name at least one namespace, or "*" for cluster-wide')
  .max(50, 'must name at most 50 namespaces')
  .refine((list) => !list.includes('*') || list.length === 1, '"*" (cluster-wide) must be the only entry');

/** True when the namespaces mean cluster-wide. */
export function isClusterWide(namespaces: readonly string[]): boolean {
  return namespaces.length === 1 && namespaces[0] === '*';
}

/**
 * Adds the namespaced-rule issues for rules that will be bound in Roles (not cluster-wide).
 * `at` is the path of the rules array inside the checked object.
 */
export function checkRulesScope(rules: readonly PolicyRule[], namespaces: readonly string[], ctx: z.RefinementCtx, at: PropertyKey[]): void {
  if (isClusterWide(namespaces)) return;
  rules.forEach((rule, index) => {
    if ((rule.nonResourceURLs ?? []).length > 0) {
      ctx.addIssue({ code: 'custom', path: [...at, index, 'nonResourceURLs'], message: 'namespaced rules cannot apply to non-resource URLs' });
    }
  });
}
