// Guardrails on RBAC objects: bindings to cluster-admin or system:masters, bindings to agentgate's
// zero-permission account, and roles that could grant more than they hold.
import { isObject, obj, objects, str } from '../inject/json.ts';
import type { Refusal } from '../inject/refusals.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The subjects of a binding that name `serviceAccount` (as a ServiceAccount or its username). */
function bindsServiceAccount(subjects: unknown, serviceAccount: string): boolean {
  return objects(subjects).some((s) => {
    if (s.kind === 'ServiceAccount') return s.name === serviceAccount;
    return s.kind === 'User' && typeof s.name === 'string' && /^system:serviceaccount:[^:]+:(.+)$/.exec(s.name)?.[1] === serviceAccount;
  });
}

/**
 * Findings that hold for every writer: nothing may bind a role to agentgate's zero-permission
 * service account, whose whole point is to hold no permission.
 */
export function bindingFindingsForAll(kind: string, object: unknown, zeroPermissionAccount: string): Refusal[] {
  if (kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return [];
  if (!bindsServiceAccount(obj(object).subjects, zeroPermissionAccount)) return [];
  return [{ code: 'binds-agent-service-account', message: `subjects name ${zeroPermissionAccount}: remove it, agentgate's agent service account must hold no permission` }];
}

/** Guardrail findings for a binding written by a grant identity. */
export function bindingGuardrails(kind: string, object: unknown): Refusal[] {
  if (kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return [];
  const out: Refusal[] = [];
  const roleRef = obj(obj(object).roleRef);
  if (roleRef.kind === 'ClusterRole' && roleRef.name === 'cluster-admin') {
    out.push({ code: 'binds-cluster-admin', message: `roleRef is ClusterRole cluster-admin: grant identities cannot bind cluster-admin, bind a narrower role` });
  }
  if (objects(obj(object).subjects).some((s) => s.kind === 'Group' && s.name === 'system:masters')) {
    out.push({ code: 'binds-system-masters', message: 'subjects include Group system:masters: grant identities cannot bind to system:masters' });
  }
  return out;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

const sensitive = [
  // escalate and bind act on roles; impersonate on users, groups, service accounts and their details.
  { verb: 'escalate', code: 'verb-escalate', groups: [RBAC_GROUP], resources: ['roles', 'clusterroles'] },
  { verb: 'bind', code: 'verb-bind', groups: [RBAC_GROUP], resources: ['roles', 'clusterroles'] },
  { verb: 'impersonate', code: 'verb-impersonate', groups: ['', 'authentication.k8s.io'], resources: ['users', 'groups', 'serviceaccounts', 'uids', 'userextras'] },
] as const;

function covers(values: string[], wanted: readonly string[]): boolean {
  return values.includes('*') || values.some((v) => wanted.includes(v.split('/')[0] ?? v));
}

/**
 * Guardrail findings for a Role or ClusterRole written by a grant identity. A verb named
 * explicitly is refused on any resource; `*` is refused where it reaches the resources that verb
 * acts on, so `verbs: ["*"]` on ConfigMaps stays possible. An aggregated ClusterRole is refused:
 * its rules would come from whatever roles its selector picks.
 */
export function roleGuardrails(kind: string, object: unknown): Refusal[] {
  if (kind !== 'Role' && kind !== 'ClusterRole') return [];
  const out: Refusal[] = [];
  objects(obj(object).rules).forEach((rule, index) => {
    const verbs = strings(rule.verbs);
    const groups = strings(rule.apiGroups);
    const resources = strings(rule.resources);
    for (const s of sensitive) {
      const explicit = verbs.includes(s.verb);
      const wildcard = verbs.includes('*') && covers(groups, s.groups) && covers(resources, s.resources);
      if (explicit || wildcard) {
        out.push({ code: s.code, message: `rules[${index}] ${explicit ? `grants '${s.verb}'` : `grants '*', which includes '${s.verb}' on ${s.resources.join('/')}`}: remove it, grant identities cannot write roles with '${s.verb}'` });
      }
    }
  });
  const aggregation = obj(object).aggregationRule;
  if (kind === 'ClusterRole' && isObject(aggregation) && objects(aggregation.clusterRoleSelectors).length > 0) {
    out.push({ code: 'role-aggregation', message: `aggregationRule is set on ClusterRole ${str(obj(obj(object).metadata).name) ?? ''}: list the rules explicitly instead` });
  }
  return out;
}
