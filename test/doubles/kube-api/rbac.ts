/**
 * RBAC authorization of the API double: decisions, the 403 the real server writes, escalation
 * prevention on Role/Binding writes, and the rules behind SelfSubjectRulesReview. Every call reads
 * the RBAC objects from the store, so a deleted binding closes access at once. `aggregationRule` on
 * ClusterRoles is not evaluated (only its rules count; bootstrap roles come pre-aggregated). Test code only.
 */
import { forbidden, notFound, statusError } from './status.ts';
import type { StatusError } from './status.ts';
import type { KubeObject, RequestAttributes, StoreReader, UserInfo } from './types.ts';
import {
  RBAC_GROUP, aggregateError, collectRules, compactRules, compactString, covers, roleRefOf, roleRefRules, ruleAllows, rulesOf, visitRulesFor,
} from './rbac-rules.ts';
import type { PolicyRule } from './rbac-rules.ts';

export { bootstrapRbacObjects } from './rbac-bootstrap.ts';
export type { PolicyRule } from './rbac-rules.ts';

/** The group kube-apiserver always allows, ahead of RBAC (its privileged loopback group). */
export const PRIVILEGED_GROUP = 'system:masters';

/** An authorization decision and the authorizer's reason text. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** SubjectRulesReviewStatus rules, as authorization.k8s.io/v1 serializes them. */
export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/** A NonResourceRule of SubjectRulesReviewStatus. */
export interface NonResourceRule {
  verbs: string[];
  nonResourceURLs: string[];
}

/** What RulesFor returns for SelfSubjectRulesReview. */
export interface UserRules {
  resourceRules: ResourceRule[];
  nonResourceRules: NonResourceRule[];
  incomplete: boolean;
  /** Set when a binding points at a missing role (the real server reports, and does not fail). */
  evaluationError?: string;
}

/** The double's RBAC authorizer. */
export interface Authorizer {
  authorize(user: UserInfo, attrs: RequestAttributes): Decision;
  /** The 403 for a denied request, worded as the real server words it (with the RBAC reason, if any). */
  forbiddenError(user: UserInfo, attrs: RequestAttributes): StatusError;
  /** Escalation prevention for Role/ClusterRole/RoleBinding/ClusterRoleBinding writes; throws a StatusError. */
  checkEscalation(user: UserInfo, op: 'create' | 'update', obj: KubeObject, namespace: string): void;
  rulesFor(user: UserInfo, namespace: string): UserRules;
}

/** Options of `createAuthorizer`. */
export interface AuthorizerOptions {
  store: StoreReader;
}

/** forbiddenMessage of apiserver's responsewriters, before the authorizer's reason. */
function forbiddenMessage(user: UserInfo, attrs: RequestAttributes): string {
  const who = `User ${JSON.stringify(user.username)} cannot ${attrs.verb}`;
  if (!attrs.isResourceRequest) return `${who} path ${JSON.stringify(attrs.path)}`;
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const what = `${who} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(attrs.apiGroup)}`;
  return attrs.namespace ? `${what} in the namespace ${JSON.stringify(attrs.namespace)}` : `${what} at the cluster scope`;
}

/** Go's `%q` of a []string. */
function goQuoteList(values: string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(' ')}]`;
}

const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** Create the RBAC authorizer over the store. */
export function createAuthorizer(opts: AuthorizerOptions): Authorizer {
  const { store } = opts;

  function authorize(user: UserInfo, attrs: RequestAttributes): Decision {
    if (user.groups.includes(PRIVILEGED_GROUP)) return { allowed: true, reason: '' };
    let allowedBy: string | undefined;
    const errors: string[] = [];
    visitRulesFor(store, user, attrs.namespace, 'lister', (source, rule, error) => {
      if (rule && ruleAllows(attrs, rule)) {
        allowedBy = source;
        return false;
      }
      if (error !== undefined) errors.push(error);
      return true;
    });
    if (allowedBy !== undefined) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
    return { allowed: false, reason: errors.length > 0 ? `RBAC: ${aggregateError(errors)}` : '' };
  }

  function forbiddenError(user: UserInfo, attrs: RequestAttributes): StatusError {
    const { reason } = authorize(user, attrs);
    const message = reason ? `${forbiddenMessage(user, attrs)}: ${reason}` : forbiddenMessage(user, attrs);
    // NewForbidden with an empty GroupResource: no subject in the text, and empty details.
    if (!attrs.isResourceRequest) return statusError(403, 'Forbidden', `forbidden: ${message}`, {});
    return forbidden(attrs.resource, attrs.apiGroup, attrs.name, message);
  }

  /** ConfirmNoEscalation: the user's own rules in `namespace` must cover `rules`; returns the error text. */
  function escalationError(user: UserInfo, namespace: string, rules: PolicyRule[]): string | undefined {
    const owned = collectRules(store, user, namespace, 'storage');
    const { covered, missing } = covers(owned.rules, rules);
    if (covered) return undefined;
    const descriptions = [...new Set(compactRules(missing).map(compactString))].sort();
    let message = `user ${JSON.stringify(user.username)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`;
    if (owned.errors.length > 0) message += `; resolution errors: [${aggregateError(owned.errors)}]`;
    return message;
  }

  function allowedTo(user: UserInfo, verb: string, resource: string, apiGroup: string, namespace: string, name: string): boolean {
    return authorize(user, { isResourceRequest: true, path: '', verb, apiGroup, apiVersion: '*', resource, subresource: '', namespace, name }).allowed;
  }

  function checkEscalation(user: UserInfo, op: 'create' | 'update', obj: KubeObject, namespace: string): void {
    if (user.groups.includes(PRIVILEGED_GROUP)) return;
    const name = obj.metadata.name ?? '';
    const scope = obj.kind === 'Role' || obj.kind === 'RoleBinding' ? namespace : '';
    if (obj.kind === 'Role' || obj.kind === 'ClusterRole') {
      const resource = obj.kind === 'Role' ? 'roles' : 'clusterroles';
      // RoleEscalationAuthorized uses the request's name, which a create (POST to the collection) lacks.
      if (allowedTo(user, 'escalate', resource, RBAC_GROUP, scope, op === 'update' ? name : '')) return;
      const error = escalationError(user, scope, rulesOf(obj));
      if (error) throw forbidden(resource, RBAC_GROUP, name, error);
      if (obj.kind === 'ClusterRole' && obj.aggregationRule && escalationError(user, '', FULL_AUTHORITY)) {
        throw forbidden(resource, RBAC_GROUP, name, 'must have cluster-admin privileges to use the aggregationRule');
      }
      return;
    }
    if (obj.kind !== 'RoleBinding' && obj.kind !== 'ClusterRoleBinding') return;
    const resource = obj.kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings';
    const ref = roleRefOf(obj);
    // BindingAuthorized: `bind` on the referenced role, checked in the binding's namespace.
    const refResource = ref.kind === 'ClusterRole' ? 'clusterroles' : ref.kind === 'Role' ? 'roles' : '';
    if (refResource && allowedTo(user, 'bind', refResource, ref.apiGroup, scope, ref.name)) return;
    const { rules, error } = roleRefRules(store, ref, scope, 'storage');
    if (error !== undefined) {
      if (ref.kind === 'Role' || ref.kind === 'ClusterRole') throw notFound(refResource, RBAC_GROUP, ref.name);
      throw statusError(500, 'InternalError', `Internal error occurred: ${error}`, { causes: [{ message: error }] });
    }
    const escalation = escalationError(user, scope, rules);
    if (escalation) throw forbidden(resource, RBAC_GROUP, name, escalation);
  }

  function rulesFor(user: UserInfo, namespace: string): UserRules {
    const { rules, errors } = collectRules(store, user, namespace, 'lister');
    const result: UserRules = { resourceRules: [], nonResourceRules: [], incomplete: false };
    for (const rule of rules) {
      if (rule.resources?.length) {
        const out: ResourceRule = { verbs: rule.verbs };
        if (rule.apiGroups?.length) out.apiGroups = rule.apiGroups;
        out.resources = rule.resources;
        if (rule.resourceNames?.length) out.resourceNames = rule.resourceNames;
        result.resourceRules.push(out);
      }
      if (rule.nonResourceURLs?.length) result.nonResourceRules.push({ verbs: rule.verbs, nonResourceURLs: rule.nonResourceURLs });
    }
    if (errors.length > 0) result.evaluationError = aggregateError(errors);
    return result;
  }

  return { authorize, forbiddenError, checkEscalation, rulesFor };
}
