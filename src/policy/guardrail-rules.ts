// Guardrails on permissions: which RBAC rules would hand out something no grant may hold. Used on
// the scopes allow rules grant on demand (checked when a policy loads) and on Role bodies.
import type { PolicyRule } from '../contracts/rbac.ts';
import type { ReasonCode } from '../contracts/reasons.ts';

/** One permission no grant may carry, and the guardrail that says so. */
interface ForbiddenPermission {
  code: ReasonCode;
  /** Empty: any verb the rule names. */
  verbs: readonly string[];
  apiGroup: string;
  /** Resources as RBAC combines them (`nodes/proxy`); a trailing `/` means any subresource of it. */
  resources: readonly string[];
  /** Only name-addressed permissions (update, delete…) of objects agentgate owns. */
  agentgateNamed?: boolean;
  /** Also refused inside Role and ClusterRole bodies, not only in grants. */
  inBodies: boolean;
  what: string;
}

const RBAC = 'rbac.authorization.k8s.io';

// The `*` verb and the `*` resource reach these too (RBAC's own matching): that is the point of
// checking permissions rather than verb names, e.g. `verbs: ["*"]` on roles includes escalate.
const FORBIDDEN: readonly ForbiddenPermission[] = [
  { code: 'verb-escalate', verbs: ['escalate'], apiGroup: RBAC, resources: ['roles', 'clusterroles'], inBodies: true, what: 'escalate on roles' },
  { code: 'verb-bind', verbs: ['bind'], apiGroup: RBAC, resources: ['roles', 'clusterroles'], inBodies: true, what: 'bind on roles' },
  { code: 'verb-impersonate', verbs: ['impersonate'], apiGroup: '', resources: ['users', 'groups', 'serviceaccounts', 'uids'], inBodies: true, what: 'impersonate' },
  { code: 'verb-impersonate', verbs: ['impersonate'], apiGroup: 'authentication.k8s.io', resources: ['userextras/', 'uids'], inBodies: true, what: 'impersonate' },
  { code: 'serviceaccount-token', verbs: ['create'], apiGroup: '', resources: ['serviceaccounts/token'], inBodies: true, what: 'serviceaccounts/token' },
  { code: 'nodes-proxy', verbs: [], apiGroup: '', resources: ['nodes/proxy'], inBodies: true, what: 'nodes/proxy' },
  { code: 'nodes-proxy', verbs: ['proxy'], apiGroup: '', resources: ['nodes'], inBodies: true, what: 'proxy on nodes' },
  { code: 'csr-approval', verbs: ['update', 'patch'], apiGroup: 'certificates.k8s.io', resources: ['certificatesigningrequests/approval'], inBodies: true, what: 'certificatesigningrequests/approval' },
  { code: 'csr-approval', verbs: ['approve'], apiGroup: 'certificates.k8s.io', resources: ['signers'], inBodies: true, what: 'approve on signers' },
  { code: 'namespace-delete', verbs: ['delete', 'deletecollection'], apiGroup: '', resources: ['namespaces'], inBodies: false, what: 'deleting namespaces' },
  {
    code: 'agentgate-rbac',
    verbs: ['update', 'patch', 'delete', 'deletecollection'],
    apiGroup: RBAC,
    resources: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'],
    agentgateNamed: true,
    inBodies: false,
    what: "changing agentgate's roles and bindings (its per-grant Roles live in the agents' namespaces)",
  },
  {
    code: 'agentgate-webhook',
    verbs: ['update', 'patch', 'delete', 'deletecollection'],
    apiGroup: 'admissionregistration.k8s.io',
    resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
    agentgateNamed: true,
    inBodies: false,
    what: "changing agentgate's webhook configurations",
  },
];

/** True for the names agentgate gives its own objects: `agentgate`, `agentgate-*`, `agentgate:*`. */
export function isAgentgateName(name: string): boolean {
  return name === 'agentgate' || name.startsWith('agentgate-') || name.startsWith('agentgate:');
}

function coversResource(ruleResources: readonly string[], wanted: string): boolean {
  return ruleResources.some((r) => {
    if (r === '*' || r === wanted) return true;
    if (wanted.endsWith('/')) return r.startsWith(wanted);
    const slash = wanted.indexOf('/');
    return slash > 0 && r === `*${wanted.slice(slash)}`;
  });
}

/** A permission a rule would grant that a guardrail forbids. */
export interface ForbiddenGrant {
  code: ReasonCode;
  message: string;
}

/**
 * The guardrails a rule would break if it were granted (`where: 'grant'`) or written into a Role
 * (`where: 'body'`, where only the never-allowed permissions count: the API server's escalation
 * check already stops a grant identity from writing a Role wider than its own grant).
 */
export function forbiddenInRule(rule: PolicyRule, where: 'grant' | 'body'): ForbiddenGrant[] {
  if ((rule.nonResourceURLs ?? []).length > 0) return [];
  const found: ForbiddenGrant[] = [];
  const groups = rule.apiGroups ?? [];
  for (const f of FORBIDDEN) {
    if (where === 'body' && !f.inBodies) continue;
    const verbOk = rule.verbs.includes('*') || (f.verbs.length === 0 ? rule.verbs.length > 0 : f.verbs.some((v) => rule.verbs.includes(v)));
    if (!verbOk || !(groups.includes('*') || groups.includes(f.apiGroup))) continue;
    if (!f.resources.some((r) => coversResource(rule.resources ?? [], r))) continue;
    const names = rule.resourceNames ?? [];
    if (f.agentgateNamed && names.length > 0 && !names.some(isAgentgateName)) continue;
    if (found.some((x) => x.code === f.code)) continue;
    found.push({ code: f.code, message: `would grant ${f.what}` });
  }
  return found;
}
