// Which pods are agents: every pod of a namespace labelled for injection, or a pod that opts in
// with its own label; only the operator's configuration exempts pods, never the pod itself.
import { obj, str, stringMap, type JsonObject } from './json.ts';
import type { InjectOptions, OptOutRule } from './options.ts';

/** The label the API server sets on every namespace with the namespace's name (immutable). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Namespaces never injected: agentgate's own (it would gate itself) and the control plane's. */
export function isExcludedNamespace(namespace: string, options: InjectOptions): boolean {
  return namespace === options.agentgateNamespace || namespace === 'kube-system';
}

function matchesRule(rule: OptOutRule, namespace: string, serviceAccount: string, labels: Record<string, string>): boolean {
  if (rule.namespace !== undefined && rule.namespace !== namespace) return false;
  if (rule.serviceAccount !== undefined && rule.serviceAccount !== serviceAccount) return false;
  for (const [key, value] of Object.entries(rule.podLabels ?? {})) if (labels[key] !== value) return false;
  return true;
}

/**
 * True when injection applies to the pod. The namespace's name is read from its
 * `kubernetes.io/metadata.name` label (the API server sets it on every namespace), falling back
 * to the pod's metadata. The pod label's value is a display name, never part of the identity.
 */
export function isAgentPod(pod: JsonObject, namespaceLabels: Record<string, string>, options: InjectOptions): boolean {
  const metadata = obj(pod.metadata);
  const namespace = namespaceLabels[NAMESPACE_NAME_LABEL] ?? str(metadata.namespace) ?? '';
  if (isExcludedNamespace(namespace, options)) return false;
  const { labels: keys } = options.layout;
  const labels = stringMap(metadata.labels);
  const selected = namespaceLabels[keys.namespaceInject] === keys.namespaceInjectValue || Object.hasOwn(labels, keys.podAgent);
  if (!selected) return false;
  const spec = obj(pod.spec);
  const serviceAccount = str(spec.serviceAccountName) || str(spec.serviceAccount) || 'default';
  return !options.optOut.some((rule) => matchesRule(rule, namespace, serviceAccount, labels));
}
