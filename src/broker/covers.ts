// Whether a live grant covers a request, by RBAC's RuleAllows plus the grant's namespaces: the
// broker answers `grant-live` only for what the grant's Role would allow at the API server too.
import type { RequestAttributes } from '../contracts/attributes.ts';
import { isClusterWide, type PolicyRule } from '../contracts/rbac.ts';

const has = (list: readonly string[] | undefined, value: string): boolean => list !== undefined && (list.includes('*') || list.includes(value));

function resourceMatches(rule: PolicyRule, a: RequestAttributes): boolean {
  const combined = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`;
  return (rule.resources ?? []).some((r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`));
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

/** RBAC's RuleAllows for one rule. */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.isResourceRequest) return urlMatches(rule, a.path);
  if (!has(rule.apiGroups, a.apiGroup) || !resourceMatches(rule, a)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

/**
 * Whether a grant (its rules bound in its namespaces) covers the request. Cluster-scoped requests
 * and non-resource URLs need a cluster-wide grant: a RoleBinding never reaches them.
 */
export function grantCovers(grant: { rules: readonly PolicyRule[]; namespaces: readonly string[] }, a: RequestAttributes): boolean {
  if (!isClusterWide(grant.namespaces) && (!a.isResourceRequest || a.namespace === '' || !grant.namespaces.includes(a.namespace))) return false;
  return grant.rules.some((rule) => ruleAllows(rule, a));
}
