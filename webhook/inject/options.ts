// The injection's settings as one typed, checked object (InjectOptions), built once by a factory
// from explicit values or from the webhook's configuration section, never read per request.
import { defaultPodLayout, type EnvVar, type PodLayout } from '../../src/contracts/pod-layout.ts';

/** One operator rule exempting pods from injection; every field given must match. */
export interface OptOutRule {
  namespace?: string;
  /** The pod's own service account (before injection), `default` when unset. */
  serviceAccount?: string;
  podLabels?: Record<string, string>;
}

/** A projected service-account token the operator allows in agent pods (e.g. AWS IRSA). */
export interface AllowedTokenVolume {
  volumeName: string;
  audience: string;
}

/** Compute resources of the sidecar, as Kubernetes quantities. */
export interface SidecarResources {
  requests: { cpu: string; memory: string };
  limits: { cpu?: string | undefined; memory: string };
}

/** Everything the injection decides from, besides the pod and its namespace. */
export interface InjectOptions {
  layout: PodLayout;
  sidecarImage: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Arguments to the image's entrypoint (the agentgate CLI). */
  sidecarArgs: readonly string[];
  /** Extra sidecar environment the operator sets (broker URL, connection name, log level). */
  sidecarEnv: readonly EnvVar[];
  resources: SidecarResources;
  /** The uid and gid the sidecar runs as (non-root, for the restricted Pod Security Standard). */
  sidecarUser: number;
  optOut: readonly OptOutRule[];
  /** agentgate's own namespace: never injected, and guarded against grant identities. */
  agentgateNamespace: string;
  allowedTokenVolumes: readonly AllowedTokenVolume[];
  /** Capabilities an agent container may add, upper case without `CAP_`. */
  safeCapabilities: readonly string[];
  /** Written to the policy-profile annotation. */
  policyProfile: string;
  /** Written to the injected-version annotation; a change makes reinvocation re-inject. */
  version: string;
  /** False on clusters before 1.29, which lack native sidecars: injection is refused. */
  nativeSidecars: boolean;
  /** The cluster's gitVersion as read from /version, named in the refusal when it is too old. */
  clusterVersion?: string;
}

/**
 * The capabilities the baseline Pod Security Standard allows adding. Docker's default set minus
 * NET_RAW; none of them lets a container leave its namespaces or read another's memory.
 */
export const baselineCapabilities: readonly string[] = Object.freeze([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);

/** Capabilities no configuration can allow: each lets an agent reach around the sidecar. */
export const forbiddenCapabilities: readonly string[] = Object.freeze(['ALL', 'NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE']);

/** The values `injectOptions` starts from. */
export const injectDefaults: Omit<InjectOptions, 'sidecarImage'> = Object.freeze({
  layout: defaultPodLayout,
  imagePullPolicy: 'IfNotPresent',
  sidecarArgs: Object.freeze(['sidecar']),
  sidecarEnv: Object.freeze([]),
  resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  sidecarUser: 65532,
  optOut: Object.freeze([]),
  agentgateNamespace: 'agentgate-system',
  allowedTokenVolumes: Object.freeze([]),
  safeCapabilities: baselineCapabilities,
  policyProfile: 'default',
  version: '0.1.0',
  nativeSidecars: true,
});

/** Normalises a capability name as the runtimes read it: upper case, `CAP_` prefix optional. */
export function capabilityName(raw: string): string {
  const upper = raw.toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

const millicores = /^(\d+(?:\.\d+)?)(m?)$/;

function cpuMillis(quantity: string): number | undefined {
  const match = millicores.exec(quantity);
  if (!match) return undefined;
  return match[2] === 'm' ? Number(match[1]) : Number(match[1]) * 1000;
}

/**
 * Builds checked options: the defaults overridden by `values`. Throws one Error listing every
 * problem, at start, so a bad setting never reaches an admission.
 */
export function injectOptions(values: Partial<InjectOptions> & { sidecarImage: string }): InjectOptions {
  const options: InjectOptions = { ...injectDefaults, ...values };
  const problems: string[] = [];
  if (options.sidecarImage.trim() === '') problems.push('sidecarImage: an image reference is required');
  const cpu = cpuMillis(options.resources.requests.cpu);
  // Below 100m the sidecar's TLS handshakes and masking make every agent call visibly slow.
  if (cpu === undefined || cpu < 100) problems.push(`resources.requests.cpu: ${options.resources.requests.cpu} is not a CPU quantity of at least 100m`);
  if (!Number.isInteger(options.sidecarUser) || options.sidecarUser <= 0) problems.push(`sidecarUser: ${options.sidecarUser} must be a non-root uid`);
  for (const cap of options.safeCapabilities) {
    if (forbiddenCapabilities.includes(capabilityName(cap))) problems.push(`safeCapabilities: ${cap} can never be allowed`);
  }
  for (const env of options.sidecarEnv) {
    if (env.name.startsWith('KUBERNETES_')) problems.push(`sidecarEnv: ${env.name} would point the sidecar away from the real API server`);
  }
  for (const [index, rule] of options.optOut.entries()) {
    if (rule.namespace === undefined && rule.serviceAccount === undefined && rule.podLabels === undefined) {
      problems.push(`optOut[${index}]: an empty rule would exempt every pod`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid injection options:\n  ${problems.join('\n  ')}`);
  return Object.freeze({ ...options, safeCapabilities: options.safeCapabilities.map(capabilityName) });
}

/**
 * The part of the webhook's configuration section (src/config `webhook`) that injection reads.
 * Declared here structurally so this library does not depend on the configuration module.
 */
export interface WebhookSettings {
  sidecarImage: string;
  sidecarResources: { requests: { cpu: string; memory: string }; limits: { cpu?: string | undefined; memory: string } };
  optOut: readonly { namespace?: string | undefined; serviceAccount?: string | undefined; podLabels?: Record<string, string> | undefined }[];
  namespace: string;
  allowedTokenVolumes?: readonly AllowedTokenVolume[] | undefined;
}

/** Builds the options from the webhook's configuration section, plus what it does not hold. */
export function injectOptionsFromConfig(webhook: WebhookSettings, extra: Partial<InjectOptions> = {}): InjectOptions {
  const optOut: OptOutRule[] = webhook.optOut.map((rule) => {
    const out: OptOutRule = {};
    if (rule.namespace !== undefined) out.namespace = rule.namespace;
    if (rule.serviceAccount !== undefined) out.serviceAccount = rule.serviceAccount;
    if (rule.podLabels !== undefined) out.podLabels = rule.podLabels;
    return out;
  });
  return injectOptions({
    ...extra,
    sidecarImage: webhook.sidecarImage,
    resources: webhook.sidecarResources,
    optOut,
    agentgateNamespace: webhook.namespace,
    ...(webhook.allowedTokenVolumes ? { allowedTokenVolumes: webhook.allowedTokenVolumes } : {}),
  });
}
