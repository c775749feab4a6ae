// PodLayout: the names, paths and ports the webhook writes into a pod and the sidecar reads.
// One frozen default, pinned by a golden file, so the two sides cannot drift apart.
import * as z from 'zod';
import { DnsLabel } from './names.ts';

const Port = z.number().int().min(1).max(65535);
const AbsolutePath = z.string().regex(/^\/[A-Za-z0-9._/-]*[^/]$/, 'must be an absolute path without a trailing slash');
const FileName = z.string().regex(/^(?!\.\.?$)[A-Za-z0-9._-]+$/, "must be a plain file name (not '.' or '..')");
const QualifiedKey = z.string().regex(/^agentgate\.io\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be an agentgate.io/ key');
const EnvVarSchema = z.object({ name: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name'), value: z.string() });

/** A container environment variable. */
export type EnvVar = z.infer<typeof EnvVarSchema>;

/**
 * The variables that point an in-cluster client at the sidecar. The kubelet names the
 * `KUBERNETES_PORT_443_TCP*` family after the `kubernetes` Service's port (443); container env
 * wins over the kubelet's service env, so overriding these names is enough. A cluster whose
 * `kubernetes` Service is not on 443 would need the names built from its port.
 */
export function kubernetesServiceEnv(host: string, port: number): EnvVar[] {
  const address = `tcp://${host}:${port}`;
  return [
    { name: 'KUBERNETES_SERVICE_HOST', value: host },
    { name: 'KUBERNETES_SERVICE_PORT', value: String(port) },
    { name: 'KUBERNETES_SERVICE_PORT_HTTPS', value: String(port) },
    { name: 'KUBERNETES_PORT', value: address },
    { name: 'KUBERNETES_PORT_443_TCP', value: address },
    { name: 'KUBERNETES_PORT_443_TCP_PROTO', value: 'tcp' },
    { name: 'KUBERNETES_PORT_443_TCP_PORT', value: String(port) },
    { name: 'KUBERNETES_PORT_443_TCP_ADDR', value: host },
  ];
}

/** The shape of a pod layout; a deployment may override the defaults and is checked with this. */
export const PodLayoutSchema = z
  .object({
    sidecar: z.object({
      containerName: DnsLabel,
      /** Loopback only: the pod's containers share the network namespace, nothing else should reach it. */
      apiHost: z.literal('127.0.0.1'),
      apiPort: Port,
      /** On the pod IP, for the kubelet's probes; serves only healthPath and readyPath. */
      healthPort: Port,
      healthPath: AbsolutePath,
      readyPath: AbsolutePath,
      /** Downward-API variables the webhook sets in the sidecar (the sidecar learns its pod from them). */
      env: z.object({ podName: z.string(), podNamespace: z.string(), podUid: z.string(), podIp: z.string() }),
    }),
    sharedVolume: z.object({
      name: DnsLabel,
      medium: z.literal('Memory'),
      sidecarMountPath: AbsolutePath,
      agentMountPath: z.literal('/var/run/secrets/kubernetes.io/serviceaccount'),
      files: z.object({ ca: FileName, token: FileName, namespace: FileName }),
    }),
    /**
     * The sidecar's audit spool: a disk-backed emptyDir of its own, mounted in the sidecar only
     * (the shared volume is readable by the agents), where audit batches wait for the broker.
     */
    auditSpool: z.object({
      volumeName: DnsLabel,
      mountPath: AbsolutePath,
      sizeLimit: z.string().regex(/^[0-9]+(Ki|Mi|Gi)$/, 'must be a quantity such as 64Mi'),
    }),
    brokerToken: z.object({
      volumeName: DnsLabel,
      /** Mounted in the sidecar only: an agent holding it could talk to the broker as its sidecar. */
      mountPath: AbsolutePath,
      fileName: FileName,
      audience: z.string().min(1),
      expirationSeconds: z.number().int().min(600, 'must be at least 600 (the projected-token minimum)').max(86400),
    }),
    annotations: z.object({
      agent: QualifiedKey,
      originalServiceAccount: QualifiedKey,
      owner: QualifiedKey,
      policyProfile: QualifiedKey,
      injectedVersion: QualifiedKey,
    }),
    labels: z.object({
      namespaceInject: QualifiedKey,
      namespaceInjectValue: z.string(),
      podAgent: QualifiedKey,
    }),
    serviceAccountName: DnsLabel,
    agentEnv: z.array(EnvVarSchema),
  })
  .superRefine((layout, ctx) => {
    if (layout.sidecar.apiPort === layout.sidecar.healthPort) {
      ctx.addIssue({ code: 'custom', path: ['sidecar', 'healthPort'], message: 'must differ from apiPort' });
    }
    const expected = JSON.stringify(kubernetesServiceEnv(layout.sidecar.apiHost, layout.sidecar.apiPort));
    if (JSON.stringify(layout.agentEnv) !== expected) {
      ctx.addIssue({ code: 'custom', path: ['agentEnv'], message: 'must be kubernetesServiceEnv(sidecar.apiHost, sidecar.apiPort)' });
    }
  });

/** A pod layout. */
export type PodLayout = z.infer<typeof PodLayoutSchema>;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// 17443/17080: outside the ports agents' own servers commonly take (80/443, 3000, 5000, 6443,
// 8080/8443, 9090/9443 for webhooks and metrics), outside the service-mesh ranges that may share
// the pod (Istio 15000-15099, Linkerd 4140-4191), and below the Linux ephemeral range
// (32768-60999), so the kernel never hands them out as source ports.
const API_PORT = 17443;

/** The layout every injected pod has. Deep-frozen: copy it to derive a variant. */
export const defaultPodLayout: PodLayout = deepFreeze({
  sidecar: {
    containerName: 'agentgate-sidecar',
    apiHost: '127.0.0.1',
    apiPort: API_PORT,
    healthPort: 17080,
    healthPath: '/healthz',
    readyPath: '/readyz',
    env: {
      podName: 'AGENTGATE_POD_NAME',
      podNamespace: 'AGENTGATE_POD_NAMESPACE',
      podUid: 'AGENTGATE_POD_UID',
      podIp: 'AGENTGATE_POD_IP',
    },
  },
  sharedVolume: {
    name: 'agentgate-kube-api-access',
    medium: 'Memory',
    sidecarMountPath: '/var/run/agentgate/shared',
    agentMountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
    files: { ca: 'ca.crt', token: 'token', namespace: 'namespace' },
  },
  auditSpool: {
    volumeName: 'agentgate-audit-spool',
    mountPath: '/var/run/agentgate/audit-spool',
    sizeLimit: '64Mi',
  },
  brokerToken: {
    volumeName: 'agentgate-broker-token',
    mountPath: '/var/run/secrets/agentgate.io/broker',
    fileName: 'token',
    audience: 'agentgate-broker',
    expirationSeconds: 3600,
  },
  annotations: {
    agent: 'agentgate.io/agent',
    originalServiceAccount: 'agentgate.io/original-service-account',
    owner: 'agentgate.io/owner',
    policyProfile: 'agentgate.io/policy-profile',
    injectedVersion: 'agentgate.io/injected-version',
  },
  labels: {
    namespaceInject: 'agentgate.io/inject',
    namespaceInjectValue: 'enabled',
    podAgent: 'agentgate.io/agent',
  },
  serviceAccountName: 'agentgate-agent',
  agentEnv: kubernetesServiceEnv('127.0.0.1', API_PORT),
});
