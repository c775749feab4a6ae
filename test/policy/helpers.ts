// Shared helpers of the policy tests: attributes from real request lines, body summaries with
// the sidecar's defaults, and policies loaded through the real loader.
import { parseRequest } from '../../src/request/attributes.ts';
import type { RequestAttributes } from '../../src/contracts/attributes.ts';
import type { BodySummary } from '../../src/contracts/decision.ts';
import { loadPolicy, formatPolicyIssue } from '../../src/policy/load.ts';
import type { AccessPolicy, PolicyIdentity } from '../../src/policy/schema.ts';

/** The agent most rows ask as. */
export const reporter: PolicyIdentity = { connection: 'prod', namespace: 'payments', agent: 'reporter' };

/** Attributes of a request line, exactly as the sidecar derives them. */
export function req(method: string, url: string): RequestAttributes {
  const parsed = parseRequest(method, url);
  if (!parsed.ok) throw new Error(`${method} ${url}: ${parsed.error.message}`);
  return parsed.attributes;
}

/** Attributes that no URL produces (verbs that reach policy from RBAC bodies or reviews). */
export function attrs(verb: string, apiGroup: string, resource: string, name = '', namespace = ''): RequestAttributes {
  return { isResourceRequest: true, path: '/', verb, apiGroup, apiVersion: 'v1', resource, subresource: '', namespace, name };
}

const noPod = { privileged: false, hostPath: false, hostNamespaces: [] as Array<'network' | 'pid' | 'ipc'>, hostPorts: [] as number[] };

/** A body summary; `pod` fields default to a harmless pod. */
export function body(kind: string, apiVersion: string, fields: Partial<Omit<BodySummary, 'podSpec'>> & { pod?: Partial<NonNullable<BodySummary['podSpec']>> } = {}): BodySummary {
  const { pod, ...rest } = fields;
  return { kind, apiVersion, truncated: false, ...rest, ...(pod !== undefined ? { podSpec: { ...noPod, ...pod } } : {}) };
}

/** Loads YAML through the real loader or throws with every error. */
export function policyOf(yaml: string): AccessPolicy {
  const loaded = loadPolicy(yaml, 'test-policy.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyIssue).join('\n'));
  return loaded.policy;
}
