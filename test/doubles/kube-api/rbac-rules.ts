/**
 * RBAC policy rules of the API double: matching a request (plugin/pkg/auth/authorizer/rbac),
 * resolving bindings to rules, and the coverage arithmetic of escalation checks
 * (pkg/registry/rbac/validation). Read from the store on every call, never cached. Test code only.
 */
import type { KubeObject, RequestAttributes, StoreReader, UserInfo } from './types.ts';

/** rbac.authorization.k8s.io/v1 PolicyRule. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Store keys of the four RBAC resources. */
export const RBAC_GROUP = 'rbac.authorization.k8s.io';
export const ROLES = `roles.${RBAC_GROUP}`;
export const CLUSTER_ROLES = `clusterroles.${RBAC_GROUP}`;
export const ROLE_BINDINGS = `rolebindings.${RBAC_GROUP}`;
export const CLUSTER_ROLE_BINDINGS = `clusterrolebindings.${RBAC_GROUP}`;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The `rules` of a Role or ClusterRole, tolerant of missing fields. */
export function rulesOf(object: KubeObject | undefined): PolicyRule[] {
  const rules = object?.rules;
  if (!Array.isArray(rules)) return [];
  return rules.filter(isRecord).map((r) => {
    const rule: PolicyRule = { verbs: strings(r.verbs) };
    for (const field of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) {
      const list = strings(r[field]);
      if (list.length > 0) rule[field] = list;
    }
    return rule;
  });
}

const has = (set: string[] | undefined, value: string): boolean => (set ?? []).includes(value);
const hasAll = (set: string[] | undefined, values: string[] | undefined): boolean => (values ?? []).every((v) => has(set, v));

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`),
  );
}

/** Whether a URL pattern (exact, `*`, or a prefix ending in `*`) covers a path. */
export function nonResourceURLCovers(pattern: string, path: string): boolean {
  if (pattern === '*' || pattern === path) return true;
  return pattern.endsWith('*') && path.startsWith(pattern.replace(/\*+$/, ''));
}

/** RuleAllows: does one rule allow the request? */
export function ruleAllows(attrs: RequestAttributes, rule: PolicyRule): boolean {
  const verbOk = has(rule.verbs, '*') || has(rule.verbs, attrs.verb);
  if (!attrs.isResourceRequest) return verbOk && (rule.nonResourceURLs ?? []).some((u) => nonResourceURLCovers(u, attrs.path));
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const groupOk = has(rule.apiGroups, '*') || has(rule.apiGroups, attrs.apiGroup);
  // A rule with resourceNames never matches a request without a name (list, watch, create).
  const nameOk = !rule.resourceNames?.length || rule.resourceNames.includes(attrs.name);
  return verbOk && groupOk && resourceMatches(rule, combined, attrs.subresource) && nameOk;
}

/** utilerrors.NewAggregate(...).Error(): one message alone, several deduplicated in brackets. */
export function aggregateError(messages: string[]): string {
  const unique = [...new Set(messages)];
  if (unique.length === 1) return unique[0] ?? '';
  return unique.length === 0 ? '' : `[${unique.join(', ')}]`;
}

interface Subject {
  kind: string;
  name: string;
  namespace: string;
}

function subjectsOf(binding: KubeObject): Subject[] {
  const subjects = Array.isArray(binding.subjects) ? binding.subjects : [];
  return subjects.filter(isRecord).map((s) => ({
    kind: typeof s.kind === 'string' ? s.kind : '',
    name: typeof s.name === 'string' ? s.name : '',
    namespace: typeof s.namespace === 'string' ? s.namespace : '',
  }));
}

/** appliesToUser; a ServiceAccount subject without a namespace takes the binding's. */
function applies(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return ns !== '' && user.username === `system:serviceaccount:${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') return `ServiceAccount ${JSON.stringify(`${subject.name}/${subject.namespace || bindingNamespace}`)}`;
  return `${subject.kind} ${JSON.stringify(subject.name)}`;
}

/** A binding's roleRef. */
export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** The roleRef of a binding object. */
export function roleRefOf(binding: KubeObject): RoleRef {
  const ref = isRecord(binding.roleRef) ? binding.roleRef : {};
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return { apiGroup: text(ref.apiGroup), kind: text(ref.kind), name: text(ref.name) };
}

/**
 * How a missing role is worded: the authorizer reads through listers (`role.rbac... "x" not found`),
 * the RBAC registry through storage (`roles.rbac... "x" not found`).
 */
export type NotFoundStyle = 'lister' | 'storage';

/** GetRoleReferenceRules: the rules a roleRef points at, or the error text. */
export function roleRefRules(store: StoreReader, ref: RoleRef, bindingNamespace: string, style: NotFoundStyle): { rules: PolicyRule[]; error?: string } {
  if (ref.kind !== 'Role' && ref.kind !== 'ClusterRole') return { rules: [], error: `unsupported role reference kind: ${JSON.stringify(ref.kind)}` };
  const role = ref.kind === 'Role' ? store.get(ROLES, bindingNamespace, ref.name) : store.get(CLUSTER_ROLES, '', ref.name);
  if (role) return { rules: rulesOf(role) };
  const noun = ref.kind === 'Role' ? 'role' : 'clusterrole';
  const resource = style === 'lister' ? noun : `${noun}s`;
  return { rules: [], error: `${resource}.${RBAC_GROUP} ${JSON.stringify(ref.name)} not found` };
}

/** Called per rule with its source (`ClusterRoleBinding "x" of ...`), or per resolution error. Return false to stop. */
export type RuleVisitor = (source: string, rule: PolicyRule | undefined, error: string | undefined) => boolean;

/** VisitRulesFor: ClusterRoleBindings first, then the namespace's RoleBindings. */
export function visitRulesFor(store: StoreReader, user: UserInfo, namespace: string, style: NotFoundStyle, visit: RuleVisitor): void {
  const passes: Array<{ bindings: KubeObject[]; kind: string }> = [{ bindings: store.list(CLUSTER_ROLE_BINDINGS), kind: 'ClusterRoleBinding' }];
  if (namespace) passes.push({ bindings: store.list(ROLE_BINDINGS, namespace), kind: 'RoleBinding' });
  for (const { bindings, kind } of passes) {
    for (const binding of bindings) {
      const bindingNamespace = kind === 'RoleBinding' ? (binding.metadata.namespace ?? namespace) : '';
      const subject = subjectsOf(binding).find((s) => applies(user, s, bindingNamespace));
      if (!subject) continue;
      const ref = roleRefOf(binding);
      const { rules, error } = roleRefRules(store, ref, bindingNamespace, style);
      const bindingName = kind === 'RoleBinding' ? `${binding.metadata.name ?? ''}/${bindingNamespace}` : (binding.metadata.name ?? '');
      const source = `${kind} ${JSON.stringify(bindingName)} of ${ref.kind} ${JSON.stringify(ref.name)} to ${describeSubject(subject, bindingNamespace)}`;
      if (error !== undefined) {
        if (!visit(source, undefined, error)) return;
        continue;
      }
      for (const rule of rules) if (!visit(source, rule, undefined)) return;
    }
  }
}

/** All rules a user holds in a namespace ('' = cluster-wide only), with resolution errors. */
export function collectRules(store: StoreReader, user: UserInfo, namespace: string, style: NotFoundStyle): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRulesFor(store, user, namespace, style, (_source, rule, error) => {
    if (rule) rules.push(rule);
    if (error !== undefined) errors.push(error);
    return true;
  });
  return { rules, errors };
}

/** BreakdownRule: one rule per group × resource × verb (× name), and per URL × verb. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) {
        if (rule.resourceNames?.length) {
          for (const name of rule.resourceNames) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
        } else {
          out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
        }
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs) out.push({ nonResourceURLs: [url], verbs: [verb] });
  return out;
}

function resourceCoversAll(owned: string[] | undefined, wanted: string[] | undefined): boolean {
  if (has(owned, '*') || hasAll(owned, wanted)) return true;
  return (wanted ?? []).every((path) => {
    if (has(owned, path)) return true;
    const slash = path.indexOf('/');
    return slash >= 0 && has(owned, `*/${path.slice(slash + 1)}`);
  });
}

function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, '*') || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, '*') || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = (sub.nonResourceURLs ?? []).every((path) => (owner.nonResourceURLs ?? []).some((p) => nonResourceURLCovers(p, path)));
  const names = sub.resourceNames?.length ? !owner.resourceNames?.length || hasAll(owner.resourceNames, sub.resourceNames) : !owner.resourceNames?.length;
  return verbs && groups && resources && urls && names;
}

/** Covers: whether the owner's rules cover every atomic permission of the requested ones, and which do not. */
export function covers(owned: PolicyRule[], requested: PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing = requested.flatMap(breakdown).filter((sub) => !owned.some((o) => ruleCovers(o, sub)));
  return { covered: missing.length === 0, missing };
}

/** CompactRules: merge single-group, single-resource rules that differ only by verb. */
export function compactRules(rules: PolicyRule[]): PolicyRule[] {
  const simple = new Map<string, PolicyRule>();
  const out: PolicyRule[] = [];
  for (const rule of rules) {
    const isSimple = !rule.nonResourceURLs?.length && (rule.resourceNames?.length ?? 0) <= 1 && rule.apiGroups?.length === 1 && rule.resources?.length === 1;
    if (!isSimple) {
      out.push(rule);
      continue;
    }
    const key = JSON.stringify([rule.apiGroups, rule.resources, rule.resourceNames ?? null]);
    const seen = simple.get(key);
    if (seen) seen.verbs.push(...rule.verbs);
    else simple.set(key, { ...rule, verbs: [...rule.verbs] });
  }
  return [...out, ...simple.values()];
}

/** PolicyRule.CompactString: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`. */
export function compactString(rule: PolicyRule): string {
  const q = (list: string[]): string => `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
  const parts: string[] = [];
  if (rule.apiGroups?.length) parts.push(`APIGroups:${q(rule.apiGroups)}`);
  if (rule.resources?.length) parts.push(`Resources:${q(rule.resources)}`);
  if (rule.nonResourceURLs?.length) parts.push(`NonResourceURLs:${q(rule.nonResourceURLs)}`);
  if (rule.resourceNames?.length) parts.push(`ResourceNames:${q(rule.resourceNames)}`);
  if (rule.verbs.length) parts.push(`Verbs:${q(rule.verbs)}`);
  return `{${parts.join(', ')}}`;
}
