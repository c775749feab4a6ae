// agentgate's MutatingWebhookConfiguration and ValidatingWebhookConfiguration, as the chart
// installs them: which requests reach the webhook, and what the API server does when it is down.
import { defaultPodLayout, type PodLayout } from '../src/contracts/pod-layout.ts';
import { GRANT_SERVICE_ACCOUNT_PREFIX } from './validate/grant-identity.ts';

/** How the API server reaches the webhook: the Service (in a cluster) or a URL (tests, out of cluster). */
export type ClientConfigOf = (path: '/mutate' | '/validate') => { url: string } | { service: { namespace: string; name: string; path: string; port: number } };

/** Settings of {@link webhookConfigurations}. */
export interface WebhookConfigurationOptions {
  names: { mutating: string; validating: string };
  agentgateNamespace: string;
  clientConfig: ClientConfigOf;
  /** Base64 PEM CA bundle; omitted when self-bootstrapped TLS patches it in later. */
  caBundle?: string;
  eksSessionPrefix: string;
  layout?: PodLayout;
  timeoutSeconds?: number;
}

type Json = Record<string, unknown>;

const NAME_LABEL = 'kubernetes.io/metadata.name';

function cel(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The Service-backed client config of an in-cluster install. */
export function serviceClientConfig(namespace: string, name: string, port = 443): ClientConfigOf {
  return (path) => ({ service: { namespace, name, path, port } });
}

/** Both configurations, as objects ready to apply. */
export function webhookConfigurations(options: WebhookConfigurationOptions): { mutating: Json; validating: Json } {
  const layout = options.layout ?? defaultPodLayout;
  const { labels } = layout;
  const excluded = { key: NAME_LABEL, operator: 'NotIn', values: [options.agentgateNamespace, 'kube-system'] };
  const labelled = { matchLabels: { [labels.namespaceInject]: labels.namespaceInjectValue }, matchExpressions: [excluded] };
  const anyNamespace = { matchExpressions: [excluded] };
  const optIn = { matchExpressions: [{ key: labels.podAgent, operator: 'Exists' }] };
  const clientConfig = (path: '/mutate' | '/validate'): Json => ({ ...options.clientConfig(path), ...(options.caBundle ? { caBundle: options.caBundle } : {}) });
  const common = { admissionReviewVersions: ['v1'], failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: options.timeoutSeconds ?? 10 };
  const podRules = [
    { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'], scope: 'Namespaced' },
    { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'], scope: 'Namespaced' },
  ];
  // The mutating webhook creates the zero-permission account on demand, but never on a dry run.
  const mutatingHook = (name: string, selectors: Json): Json => ({
    name, clientConfig: clientConfig('/mutate'), rules: podRules, ...selectors, sideEffects: 'NoneOnDryRun', reinvocationPolicy: 'IfNeeded', ...common,
  });
  const validatingHook = (name: string, selectors: Json, rules: Json[], extra: Json = {}): Json => ({
    name, clientConfig: clientConfig('/validate'), rules, ...selectors, sideEffects: 'None', ...common, ...extra,
  });
  const grantUser = `system:serviceaccount:${options.agentgateNamespace}:${GRANT_SERVICE_ACCOUNT_PREFIX}`;
  const isGrant = `request.userInfo.username.startsWith(${cel(grantUser)})${options.eksSessionPrefix ? ` || request.userInfo.username.startsWith(${cel(options.eksSessionPrefix)})` : ''}`;
  const grantOnly = { matchConditions: [{ name: 'grant-identity', expression: isGrant }] };
  const write = ['CREATE', 'UPDATE'];
  const guardrailRules = [
    { apiGroups: [''], apiVersions: ['v1'], operations: write, resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers', 'podtemplates'], scope: '*' },
    { apiGroups: ['apps'], apiVersions: ['v1'], operations: write, resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], scope: '*' },
    { apiGroups: ['batch'], apiVersions: ['v1'], operations: write, resources: ['jobs', 'cronjobs'], scope: '*' },
    { apiGroups: ['rbac.authorization.k8s.io'], apiVersions: ['v1'], operations: write, resources: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'], scope: '*' },
    { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['namespaces'], scope: '*' },
    // Service-account tokens by any route: a token Secret, or a TokenRequest (which could carry
    // the broker's audience for the agent account and pass for a sidecar).
    { apiGroups: [''], apiVersions: ['v1'], operations: write, resources: ['secrets'], scope: 'Namespaced' },
    { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['serviceaccounts/token'], scope: 'Namespaced' },
  ];
  // Token Secrets in agent namespaces, whoever writes them: an agent pod could mount one later.
  const tokenSecretRules = [{ apiGroups: [''], apiVersions: ['v1'], operations: write, resources: ['secrets'], scope: 'Namespaced' }];
  const isTokenSecret = { matchConditions: [{ name: 'service-account-token-secret', expression: "has(object.type) && object.type == 'kubernetes.io/service-account-token'" }] };
  const bindingRules = [{ apiGroups: ['rbac.authorization.k8s.io'], apiVersions: ['v1'], operations: write, resources: ['rolebindings', 'clusterrolebindings'], scope: '*' }];
  // Only bindings naming the zero-permission account reach the webhook: other writers are never slowed.
  const namesAgentAccount = { matchConditions: [{ name: 'binds-agent-account', expression: `has(object.subjects) && object.subjects.exists(s, s.kind == 'ServiceAccount' && s.name == ${cel(layout.serviceAccountName)})` }] };
  return {
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: options.names.mutating, labels: { 'app.kubernetes.io/name': 'agentgate' } },
      webhooks: [
        mutatingHook('inject.agentgate.io', { namespaceSelector: labelled, objectSelector: {} }),
        mutatingHook('opt-in.agentgate.io', { namespaceSelector: anyNamespace, objectSelector: optIn }),
      ],
    },
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: options.names.validating, labels: { 'app.kubernetes.io/name': 'agentgate' } },
      webhooks: [
        validatingHook('pods.agentgate.io', { namespaceSelector: labelled, objectSelector: {} }, podRules),
        validatingHook('opt-in-pods.agentgate.io', { namespaceSelector: anyNamespace, objectSelector: optIn }, podRules),
        validatingHook('guardrails.agentgate.io', { namespaceSelector: {}, objectSelector: {} }, guardrailRules, grantOnly),
        validatingHook('own-namespace.agentgate.io', { namespaceSelector: { matchLabels: { [NAME_LABEL]: options.agentgateNamespace } }, objectSelector: {} }, [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['*'], resources: ['*/*'], scope: 'Namespaced' }], grantOnly),
        validatingHook('agent-account-bindings.agentgate.io', { namespaceSelector: {}, objectSelector: {} }, bindingRules, namesAgentAccount),
        validatingHook('token-secrets.agentgate.io', { namespaceSelector: labelled, objectSelector: {} }, tokenSecretRules, isTokenSecret),
      ],
    },
  };
}
