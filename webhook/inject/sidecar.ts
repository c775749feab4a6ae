// The sidecar container and its two volumes exactly as the webhook writes them. Every field the
// API server would default is written out, so a reinvocation compares equal and patches nothing.
import type { JsonObject } from './json.ts';
import type { InjectOptions } from './options.ts';

/** The sidecar reads its settings from AGENTGATE_ + the configuration path (src/config naming rule). */
const SIDECAR_ENV = {
  apiPort: 'AGENTGATE_SIDECAR_API_PORT',
  healthPort: 'AGENTGATE_SIDECAR_HEALTH_PORT',
  sharedDir: 'AGENTGATE_SIDECAR_SHARED_DIR',
  brokerTokenPath: 'AGENTGATE_SIDECAR_BROKER_TOKEN_PATH',
  upstreamCaFile: 'AGENTGATE_SIDECAR_UPSTREAM_CA_FILE',
  auditSpoolDir: 'AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR',
} as const;

/** The ConfigMap every namespace holds with the cluster CA (the root CA publisher keeps it). */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
const CA_FILE = 'ca.crt';

function fieldEnv(name: string, fieldPath: string): JsonObject {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

function probe(path: string, port: number, periodSeconds: number, failureThreshold: number): JsonObject {
  return {
    httpGet: { path, port, scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds,
    successThreshold: 1,
    failureThreshold,
  };
}

/**
 * The sidecar as a native sidecar (an init container with `restartPolicy: Always`), meeting the
 * restricted Pod Security Standard. It keeps the kubelet's KUBERNETES_SERVICE_* variables (the
 * real API server) and gets the cluster CA beside its broker token, so it alone can reach the API.
 */
export function sidecarContainer(options: InjectOptions): JsonObject {
  const { layout } = options;
  const { sidecar, sharedVolume, brokerToken, auditSpool } = layout;
  const limits: JsonObject = { memory: options.resources.limits.memory };
  if (options.resources.limits.cpu !== undefined) limits.cpu = options.resources.limits.cpu;
  return {
    name: sidecar.containerName,
    image: options.sidecarImage,
    args: [...options.sidecarArgs],
    ports: [{ name: 'agentgate-probe', containerPort: sidecar.healthPort, protocol: 'TCP' }],
    env: [
      fieldEnv(sidecar.env.podName, 'metadata.name'),
      fieldEnv(sidecar.env.podNamespace, 'metadata.namespace'),
      fieldEnv(sidecar.env.podUid, 'metadata.uid'),
      fieldEnv(sidecar.env.podIp, 'status.podIP'),
      { name: SIDECAR_ENV.apiPort, value: String(sidecar.apiPort) },
      { name: SIDECAR_ENV.healthPort, value: String(sidecar.healthPort) },
      { name: SIDECAR_ENV.sharedDir, value: sharedVolume.sidecarMountPath },
      { name: SIDECAR_ENV.brokerTokenPath, value: `${brokerToken.mountPath}/${brokerToken.fileName}` },
      { name: SIDECAR_ENV.upstreamCaFile, value: `${brokerToken.mountPath}/${CA_FILE}` },
      { name: SIDECAR_ENV.auditSpoolDir, value: auditSpool.mountPath },
      ...options.sidecarEnv.map((env) => ({ name: env.name, value: env.value })),
    ],
    resources: { limits, requests: { cpu: options.resources.requests.cpu, memory: options.resources.requests.memory } },
    volumeMounts: [
      { name: sharedVolume.name, mountPath: sharedVolume.sidecarMountPath },
      { name: brokerToken.volumeName, readOnly: true, mountPath: brokerToken.mountPath },
      // The root filesystem is read-only: the audit spool needs a writable volume of its own.
      { name: auditSpool.volumeName, mountPath: auditSpool.mountPath },
    ],
    // The kubelet probes the pod IP; the health listener serves only these paths there.
    livenessProbe: probe(sidecar.healthPath, sidecar.healthPort, 10, 3),
    readinessProbe: probe(sidecar.readyPath, sidecar.healthPort, 5, 3),
    // Fast and patient: the agent containers start only once this succeeds.
    startupProbe: probe(sidecar.healthPath, sidecar.healthPort, 1, 120),
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: options.imagePullPolicy,
    restartPolicy: 'Always',
    securityContext: {
      capabilities: { drop: ['ALL'] },
      privileged: false,
      runAsUser: options.sidecarUser,
      runAsGroup: options.sidecarUser,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

/** The memory-backed volume the sidecar fills with ca.crt, token and namespace for the agents. */
export function sharedVolumeOf(options: InjectOptions): JsonObject {
  const { sharedVolume } = options.layout;
  return { name: sharedVolume.name, emptyDir: { medium: sharedVolume.medium, sizeLimit: '1Mi' } };
}

/** The disk-backed volume where the sidecar spools audit batches while the broker is unreachable. */
export function auditSpoolVolumeOf(options: InjectOptions): JsonObject {
  const { auditSpool } = options.layout;
  return { name: auditSpool.volumeName, emptyDir: { sizeLimit: auditSpool.sizeLimit } };
}

/**
 * The sidecar's own credentials: a token with the broker's audience (useless at the API server)
 * and the cluster CA, against which the sidecar verifies the API server, so DNS or hostAliases
 * tricks in the pod cannot redirect it.
 */
export function brokerTokenVolumeOf(options: InjectOptions): JsonObject {
  const { brokerToken } = options.layout;
  return {
    name: brokerToken.volumeName,
    projected: {
      sources: [
        { serviceAccountToken: { audience: brokerToken.audience, expirationSeconds: brokerToken.expirationSeconds, path: brokerToken.fileName } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: CA_FILE, path: CA_FILE }] } },
      ],
      defaultMode: 420,
    },
  };
}

/** The read-only mount that replaces the service-account directory in every other container. */
export function agentMountOf(options: InjectOptions): JsonObject {
  const { sharedVolume } = options.layout;
  return { name: sharedVolume.name, readOnly: true, mountPath: sharedVolume.agentMountPath };
}

/** The names of the volumes agentgate owns in a pod. */
export function agentgateVolumeNames(options: InjectOptions): string[] {
  return [options.layout.sharedVolume.name, options.layout.brokerToken.volumeName, options.layout.auditSpool.volumeName];
}
