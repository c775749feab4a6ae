// How one policy rule matches one request, by RBAC's own matching rules (so a rule's match can
// become a grant's Role unchanged), how specific that match is, and the scope a match grants.
import type { RequestAttributes } from '../contracts/attributes.ts';
import type { PolicyRule } from '../contracts/rbac.ts';
import { CLUSTER_SCOPE, SELF_NAMESPACE, type PolicyIdentity, type PolicyMatch } from './schema.ts';

/**
 * How specific a match is, compared component by component, first difference wins:
 * 1. object: the rule names objects (`names`) 1, else 0;
 * 2. resource: exact (`pods`, `pods/exec`) 2, `*∕subresource` 1, `*` or left out 0
 *    (for URL rules: exact path 2, `prefix*` 1, `*` 0);
 * 3. namespace: a name or `$cluster` 2, `$self` 1, `*` or left out 0;
 * 4. verb: named 1, `*` or left out 0;
 * 5. API group: named 1, `*` or left out 0;
 * 6. identity: how many of agents (other than `*`), agentNamespaces, profiles, connections it sets.
 * Equal tuples are broken by order in the file (the earlier rule wins).
 */
export type Specificity = readonly [number, number, number, number, number, number];

/** Negative when `a` is less specific than `b`, positive when more, 0 when equal. */
export function compareSpecificity(a: Specificity, b: Specificity): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const listed = (values: readonly string[] | undefined, value: string): boolean => values === undefined || values.includes('*') || values.includes(value);
const named = (values: readonly string[] | undefined, value: string): number => (values !== undefined && values.includes(value) ? 1 : 0);

/** RBAC's ResourceMatches: `*`, the exact `resource/subresource`, or `*∕subresource`. Returns the rank, or -1. */
export function resourceRank(patterns: readonly string[] | undefined, resource: string, subresource: string): number {
  if (patterns === undefined) return 0;
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  if (patterns.includes(combined)) return 2;
  if (subresource !== '' && patterns.includes(`*/${subresource}`)) return 1;
  return patterns.includes('*') ? 0 : -1;
}

/** RBAC's NonResourceURLMatches: exact, `*`, or a prefix ending in `*`. Returns the rank, or -1. */
function urlRank(patterns: readonly string[], path: string): number {
  if (patterns.includes(path)) return 2;
  if (patterns.some((p) => p !== '*' && p.endsWith('*') && path.startsWith(p.slice(0, -1)))) return 1;
  return patterns.includes('*') ? 0 : -1;
}

function namespaceRank(patterns: readonly string[] | undefined, namespace: string, self: string): number {
  if (patterns === undefined) return 0;
  if (namespace === '' ? patterns.includes(CLUSTER_SCOPE) : patterns.includes(namespace)) return 2;
  if (namespace !== '' && namespace === self && patterns.includes(SELF_NAMESPACE)) return 1;
  return patterns.includes('*') ? 0 : -1;
}

/** True when the identity selectors of `match` take in `identity`. */
export function matchesIdentity(match: PolicyMatch, identity: PolicyIdentity): boolean {
  if (!listed(match.agents, identity.agent)) return false;
  if (!listed(match.agentNamespaces, identity.namespace)) return false;
  if (!listed(match.connections, identity.connection)) return false;
  if (match.profiles !== undefined && (identity.profile === undefined || !match.profiles.includes(identity.profile))) return false;
  return true;
}

function identityRank(match: PolicyMatch): number {
  const explicit = (values: readonly string[] | undefined) => (values !== undefined && !values.includes('*') ? 1 : 0);
  return explicit(match.agents) + explicit(match.agentNamespaces) + (match.profiles !== undefined ? 1 : 0) + explicit(match.connections);
}

/** The specificity of `match` for this request, or undefined when it does not match. */
export function matchRule(match: PolicyMatch, identity: PolicyIdentity, a: RequestAttributes): Specificity | undefined {
  if (!matchesIdentity(match, identity) || !listed(match.verbs, a.verb)) return undefined;
  const verb = named(match.verbs, a.verb);
  const who = identityRank(match);
  if (!a.isResourceRequest) {
    if (match.nonResourceURLs === undefined) return undefined;
    const url = urlRank(match.nonResourceURLs, a.path);
    return url < 0 ? undefined : [0, url, 0, verb, 0, who];
  }
  if (match.nonResourceURLs !== undefined || !listed(match.apiGroups, a.apiGroup)) return undefined;
  // As in RBAC, a rule naming objects never matches a request without a name (create, list).
  if (match.names !== undefined && !match.names.includes(a.name)) return undefined;
  const resource = resourceRank(match.resources, a.resource, a.subresource);
  const namespace = namespaceRank(match.namespaces, a.namespace, identity.namespace);
  if (resource < 0 || namespace < 0) return undefined;
  return [match.names !== undefined ? 1 : 0, resource, namespace, verb, named(match.apiGroups, a.apiGroup), who];
}

/** What a grant holds: RBAC rules and the namespaces they are bound in (`["*"]`: cluster-wide). */
export interface PolicyScope {
  rules: PolicyRule[];
  namespaces: string[];
}

/** The namespaces a rule's `namespaces` stands for when granted to `identity`. */
export function resolveNamespaces(patterns: readonly string[] | undefined, identity: PolicyIdentity): string[] {
  if (patterns === undefined || patterns.includes('*') || patterns.includes(CLUSTER_SCOPE)) return ['*'];
  return [...new Set(patterns.map((p) => (p === SELF_NAMESPACE ? identity.namespace : p)))];
}

/** The rule's match as one RBAC rule, for the agent (`scope: rule`). */
export function ruleScope(match: PolicyMatch, identity: PolicyIdentity): PolicyScope {
  if (match.nonResourceURLs !== undefined) {
    return { rules: [{ verbs: [...(match.verbs ?? ['*'])], nonResourceURLs: [...match.nonResourceURLs] }], namespaces: ['*'] };
  }
  const rule: PolicyRule = { verbs: [...(match.verbs ?? ['*'])], apiGroups: [...(match.apiGroups ?? ['*'])], resources: [...(match.resources ?? ['*'])] };
  if (match.names !== undefined) rule.resourceNames = [...match.names];
  return { rules: [rule], namespaces: resolveNamespaces(match.namespaces, identity) };
}

/** Exactly the request as one RBAC rule (`scope: request`, and what an approval asks for by default). */
export function requestScope(a: RequestAttributes): PolicyScope {
  if (!a.isResourceRequest) return { rules: [{ verbs: [a.verb], nonResourceURLs: [a.path] }], namespaces: ['*'] };
  const rule: PolicyRule = { verbs: [a.verb], apiGroups: [a.apiGroup], resources: [a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`] };
  if (a.name !== '') rule.resourceNames = [a.name];
  return { rules: [rule], namespaces: a.namespace === '' ? ['*'] : [a.namespace] };
}
