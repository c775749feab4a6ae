/**
 * Kubeconfig files for the double: one cluster with the test CA inline, one user with a bearer
 * token, one context made current, as `kubectl config view --raw` would show them.
 */
import { stringify } from 'yaml';

/** What goes into one kubeconfig. */
export interface KubeconfigInput {
  server: string;
  caPem: string;
  token: string;
  /** The user entry's name; the cluster is `kube-double`, the context `<user>@kube-double`. */
  user?: string;
  namespace?: string;
}

/** The kubeconfig as YAML. */
export function kubeconfigYaml(input: KubeconfigInput): string {
  const user = input.user ?? 'kubernetes-admin';
  const context = `${user}@kube-double`;
  const ctx: Record<string, string> = { cluster: 'kube-double', user };
  if (input.namespace) ctx.namespace = input.namespace;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kube-double', cluster: { server: input.server, 'certificate-authority-data': Buffer.from(input.caPem).toString('base64') } }],
    users: [{ name: user, user: { token: input.token } }],
    contexts: [{ name: context, context: ctx }],
    'current-context': context,
    preferences: {},
  });
}
