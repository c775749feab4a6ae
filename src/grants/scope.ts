// resolveScope: a grant's scope as explicit rules, or a reference to a Role or ClusterRole read
// from the cluster at grant time, narrowed so that no permission a guardrail forbids is granted.
import type { PolicyRule } from '../contracts/rbac.ts';
import { isClusterWide, policyRuleIssues } from '../contracts/rbac.ts';
import type { ReasonCode } from '../contracts/reasons.ts';
import { forbiddenInRule } from '../policy/guardrail-rules.ts';
import { ScopeError } from './errors.ts';
import type { RoleRef } from './store.ts';

/** What is to be granted: explicit rules or a role reference (exactly one), and where. */
export interface ScopeInput {
  rules?: PolicyRule[];
  roleRef?: RoleRef;
  namespaces: string[];
}

/** A permission removed from a referenced role because a guardrail forbids granting it. */
export interface RemovedPermission {
  code: ReasonCode;
  apiGroup: string;
  resource: string;
  verb: string;
}

/** The scope as it is stored with the grant. */
export interface ResolvedScope {
  rules: PolicyRule[];
  namespaces: string[];
  roleRef?: RoleRef;
  /** What the referenced role holds that the grant leaves out. */
  removed: RemovedPermission[];
}

/**
 * The reads resolveScope needs, in the shape of `RbacAuthorizationV1Api` of @kubernetes/client-node
 * 2, so the real client is passed as it is.
 */
export interface RoleReader {
  readNamespacedRole(param: { name: string; namespace: string }): Promise<{ rules?: PolicyRule[] | undefined }>;
  readClusterRole(param: { name: string }): Promise<{ rules?: PolicyRule[] | undefined }>;
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

async function readRules(ref: RoleRef, kube: RoleReader): Promise<PolicyRule[]> {
  try {
    const role = ref.kind === 'Role' ? await kube.readNamespacedRole({ name: ref.name, namespace: ref.namespace ?? '' }) : await kube.readClusterRole({ name: ref.name });
    return (role.rules ?? []).map((r) => ({
      verbs: [...r.verbs],
      ...(r.apiGroups ? { apiGroups: [...r.apiGroups] } : {}),
      ...(r.resources ? { resources: [...r.resources] } : {}),
      ...(r.resourceNames && r.resourceNames.length > 0 ? { resourceNames: [...r.resourceNames] } : {}),
      ...(r.nonResourceURLs && r.nonResourceURLs.length > 0 ? { nonResourceURLs: [...r.nonResourceURLs] } : {}),
    }));
  } catch (error) {
    const where = ref.kind === 'Role' ? `${ref.kind} ${ref.namespace ?? ''}/${ref.name}` : `${ref.kind} ${ref.name}`;
    if (statusCode(error) === 404) throw new ScopeError('role-not-found', `${where} does not exist`, { cause: error });
    throw new ScopeError('kube-unavailable', `${where} could not be read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Drops the forbidden (group, resource, verb) triples of one rule. A rule whose forbidden part
 * hides behind a wildcard (`*` verb or resource) cannot be narrowed without listing everything the
 * cluster serves, so it is refused instead.
 */
function narrow(rule: PolicyRule, removed: RemovedPermission[]): PolicyRule[] {
  if (forbiddenInRule(rule, 'grant').length === 0) return [rule];
  if (rule.verbs.includes('*') || (rule.resources ?? []).includes('*') || (rule.apiGroups ?? []).includes('*')) {
    const codes = forbiddenInRule(rule, 'grant').map((f) => f.code).join(', ');
    throw new ScopeError('scope-guardrail', `a rule with a wildcard reaches a guardrail (${codes}) and cannot be granted: ${JSON.stringify(rule)}`);
  }
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      const verbs = rule.verbs.filter((verb) => {
        const probe: PolicyRule = { verbs: [verb], apiGroups: [group], resources: [resource], ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}) };
        const hits = forbiddenInRule(probe, 'grant');
        for (const hit of hits) removed.push({ code: hit.code, apiGroup: group, resource, verb });
        return hits.length === 0;
      });
      if (verbs.length === 0) continue;
      // Resources of one group with the same remaining verbs share a rule again.
      const twin = out.find((r) => r.apiGroups?.[0] === group && r.verbs.join() === verbs.join());
      if (twin) twin.resources?.push(resource);
      else out.push({ verbs, apiGroups: [group], resources: [resource], ...(rule.resourceNames ? { resourceNames: [...rule.resourceNames] } : {}) });
    }
  }
  return out;
}

/**
 * Resolves a scope into the rules stored with a grant. A Role reference applies in its own
 * namespace only; a ClusterRole reference applies in the listed namespaces (or cluster-wide for
 * `["*"]`). The role's rules are copied now: a later change to the role does not change the grant.
 */
export async function resolveScope(scope: ScopeInput, kube: RoleReader): Promise<ResolvedScope> {
  if ((scope.rules === undefined) === (scope.roleRef === undefined)) throw new ScopeError('scope-invalid', 'exactly one of rules and roleRef must be set');
  if (scope.namespaces.length === 0) throw new ScopeError('scope-invalid', 'a scope must name at least one namespace, or "*" for cluster-wide');
  const ref = scope.roleRef;
  if (ref?.kind === 'Role' && !(scope.namespaces.length === 1 && scope.namespaces[0] === ref.namespace)) {
    throw new ScopeError('role-namespace-mismatch', `Role ${ref.namespace ?? ''}/${ref.name} can only be granted in its own namespace ${JSON.stringify(ref.namespace)}, not in ${JSON.stringify(scope.namespaces)}`);
  }
  const source = scope.rules ?? (ref ? await readRules(ref, kube) : []);
  if (source.length === 0) throw new ScopeError('role-empty', `${ref?.kind ?? 'scope'} ${ref?.name ?? ''} has no rules to grant`.replace('  ', ' '));
  const namespaced = !isClusterWide(scope.namespaces);
  const removed: RemovedPermission[] = [];
  const rules: PolicyRule[] = [];
  for (const rule of source) {
    const issues = policyRuleIssues(rule, namespaced);
    // A ClusterRole may hold non-resource URLs, which a namespaced grant cannot carry: leave them out.
    if (ref && namespaced && (rule.nonResourceURLs ?? []).length > 0) continue;
    if (issues.length > 0) throw new ScopeError('scope-invalid', `rule ${JSON.stringify(rule)}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    // Explicit rules reaching a guardrail are refused whole; only a role reference is narrowed.
    if (!ref && forbiddenInRule(rule, 'grant').length > 0) {
      throw new ScopeError('scope-guardrail', `rule ${JSON.stringify(rule)} would grant what a guardrail forbids (${forbiddenInRule(rule, 'grant').map((f) => f.code).join(', ')})`);
    }
    rules.push(...narrow(rule, removed));
  }
  if (rules.length === 0) throw new ScopeError('role-empty', 'nothing is left to grant once the guardrails are applied');
  return { rules, namespaces: [...scope.namespaces], ...(ref ? { roleRef: ref } : {}), removed };
}
