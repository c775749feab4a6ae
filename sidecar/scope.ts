// Stage 4: the sidecar enforces a grant's rules itself, as the API server's RBAC authorizer
// evaluates PolicyRules (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac, RuleAllows), plus
// the grant's namespaces, so a broker mistake or a broad upstream binding cannot widen access.
import type { PolicyRule } from '../src/contracts/rbac.ts';
import { isClusterWide } from '../src/contracts/rbac.ts';
import type { RequestAttributes } from '../src/request/index.ts';

/** What a grant allows: its rules, in its namespaces (`["*"]`: everywhere). */
export interface GrantScope {
  rules: readonly PolicyRule[];
  namespaces: readonly string[];
}

const has = (list: readonly string[] | undefined, value: string): boolean => list !== undefined && (list.includes('*') || list.includes(value));

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // "*/scale" covers the scale subresource of every resource; nothing else is a wildcard.
    if (subresource !== '' && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceMatches(rule: PolicyRule, path: string): boolean {
  for (const url of rule.nonResourceURLs ?? []) {
    if (url === '*' || url === path) return true;
    if (url.endsWith('*') && path.startsWith(url.slice(0, -1))) return true;
  }
  return false;
}

/** Whether one rule allows the request, exactly as RBAC's RuleAllows decides. */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.isResourceRequest) return nonResourceMatches(rule, a.path);
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

/**
 * Whether the grant covers the request: one of its rules allows it, in one of its namespaces.
 * Cluster-scoped requests (no namespace) and non-resource URLs need a cluster-wide grant, as a
 * RoleBinding never reaches them.
 */
export function scopeAllows(scope: GrantScope, a: RequestAttributes): boolean {
  if (!isClusterWide(scope.namespaces)) {
    if (!a.isResourceRequest || a.namespace === '' || !scope.namespaces.includes(a.namespace)) return false;
  }
  for (const rule of scope.rules) if (ruleAllows(rule, a)) return true;
  return false;
}

/** A short text naming the request the way `kubectl auth can-i` would, for refusals. */
export function describeRequest(a: RequestAttributes): string {
  if (!a.isResourceRequest) return `${a.verb} ${a.path}`;
  const resource = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.apiGroup ? `.${a.apiGroup}` : ''}`;
  const name = a.name ? ` ${a.name}` : '';
  const where = a.namespace ? ` in namespace ${a.namespace}` : ' (cluster-wide)';
  return `${a.verb} ${resource}${name}${where}`;
}
