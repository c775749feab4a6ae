// The pod shapes an agent pod may not have, because each would let the agent reach the API (or
// the node) around the sidecar. Every finding names the field and what to change.
import type { ReasonCode } from '../../src/contracts/reasons.ts';
import { obj, objects, str, type JsonObject } from './json.ts';
import { capabilityName, type InjectOptions } from './options.ts';
import { agentgateVolumeNames } from './sidecar.ts';
import { foreignTokens, isServiceAccountPath, pluginVolumeNames, podCertificateVolumes, secretUses, TOKEN_MOUNT_PATH } from './token-volume.ts';

/** Why a pod is refused: a stable code and a message that says what to change. */
export interface Refusal {
  code: ReasonCode;
  message: string;
}

/**
 * The looked-up type of each Secret the pod uses (see `referencedSecrets`): the Secret's `type`,
 * or null when it does not exist. A Secret missing from the map could not be looked up.
 */
export type SecretTypes = ReadonlyMap<string, string | null>;

/** The Secret type that holds a long-lived service-account token. */
export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';

/** The three container lists, with how a message names one of their containers. */
export const containerLists = [
  ['initContainers', 'init container'],
  ['containers', 'container'],
  ['ephemeralContainers', 'ephemeral container'],
] as const;

/** Merges findings into one refusal: the first finding's code, every message, so one edit fixes all. */
export function combine(findings: Refusal[]): Refusal | undefined {
  const [first] = findings;
  if (!first) return undefined;
  return { code: first.code, message: findings.map((f) => f.message).join('; ') };
}

/** Privilege and capability findings for one container; `field` names its kind ("init container"). */
export function containerFindings(container: JsonObject, field: string, options: InjectOptions): Refusal[] {
  const out: Refusal[] = [];
  const name = str(container.name) ?? '';
  const security = obj(container.securityContext);
  if (security.privileged === true) {
    out.push({ code: 'privileged-pod', message: `${field} ${name} is privileged: remove securityContext.privileged, agent containers cannot be privileged` });
  }
  const add: unknown = obj(security.capabilities).add;
  const added: unknown[] = Array.isArray(add) ? add : [];
  const refused = added.filter((cap) => typeof cap !== 'string' || !options.safeCapabilities.includes(capabilityName(cap)));
  if (refused.length > 0) {
    out.push({
      code: 'capability-not-allowed',
      message: `${field} ${name} adds the capabilities ${refused.map(String).join(', ')}: remove them from securityContext.capabilities.add (allowed: ${options.safeCapabilities.join(', ')})`,
    });
  }
  return out;
}

function mountFindings(container: JsonObject, field: string, spec: JsonObject, options: InjectOptions): Refusal[] {
  const out: Refusal[] = [];
  const name = str(container.name) ?? '';
  const plugin = pluginVolumeNames(objects(spec.volumes));
  const { sharedVolume, brokerToken, auditSpool } = options.layout;
  for (const mount of objects(container.volumeMounts)) {
    const volume = str(mount.name) ?? '';
    const path = str(mount.mountPath) ?? '';
    if (volume === brokerToken.volumeName) {
      out.push({ code: 'service-account-token-volume', message: `${field} ${name} mounts ${volume}, the sidecar's broker token: only the sidecar may mount it` });
    } else if (volume === auditSpool.volumeName) {
      // An agent that could write the spool could forge or erase the record of what it did.
      out.push({ code: 'audit-spool-mount', message: `${field} ${name} mounts ${volume}, the sidecar's audit spool: only the sidecar may mount it` });
    } else if (isServiceAccountPath(path) && !plugin.has(volume) && volume !== sharedVolume.name) {
      out.push({ code: 'service-account-path-mount', message: `${field} ${name} mounts volume ${volume} at ${path}: mount it elsewhere, agentgate places the sidecar's credentials in ${TOKEN_MOUNT_PATH}` });
    }
  }
  return out;
}

function nameFindings(spec: JsonObject, options: InjectOptions): Refusal[] {
  const out: Refusal[] = [];
  const sidecarName = options.layout.sidecar.containerName;
  for (const [list, field] of containerLists) {
    for (const container of objects(spec[list])) {
      const name = str(container.name) ?? '';
      // Our sidecar among the init containers is a previous injection: it is rewritten, never trusted.
      const ours = list === 'initContainers' && name === sidecarName;
      if (name.startsWith('agentgate-') && !ours) {
        out.push({ code: 'agentgate-name-collision', message: `${field} ${name}: rename it, container names starting with 'agentgate-' are reserved for agentgate` });
      }
    }
  }
  const ours = agentgateVolumeNames(options);
  for (const volume of objects(spec.volumes)) {
    const name = str(volume.name) ?? '';
    if (name.startsWith('agentgate-') && !ours.includes(name)) {
      out.push({ code: 'agentgate-name-collision', message: `volume ${name}: rename it, volume names starting with 'agentgate-' are reserved for agentgate` });
    }
  }
  return out;
}

function hostFindings(spec: JsonObject): Refusal[] {
  const out: Refusal[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field] === true) {
      out.push({ code: 'host-namespace', message: `spec.${field} is true: remove it, agent pods cannot share the host's namespaces (the sidecar's loopback API and other pods would be exposed)` });
    }
  }
  if (spec.shareProcessNamespace === true) {
    out.push({ code: 'share-process-namespace', message: "spec.shareProcessNamespace is true: remove it, agent containers could otherwise read the sidecar's memory and credentials" });
  }
  for (const volume of objects(spec.volumes)) {
    if (volume.hostPath !== undefined) {
      out.push({ code: 'host-path', message: `volume ${str(volume.name) ?? ''} is a hostPath: use an emptyDir, a PersistentVolumeClaim or a ConfigMap instead` });
    }
  }
  return out;
}

/** Token findings: projected tokens and service-account-token Secrets the pod would hold. */
export function tokenFindings(spec: JsonObject, options: InjectOptions, secretTypes: SecretTypes): Refusal[] {
  const out: Refusal[] = [];
  for (const token of foreignTokens(objects(spec.volumes), options)) {
    out.push({
      code: 'service-account-token-volume',
      message: `volume ${token.volume} projects a service-account token${token.audience ? ` (audience ${token.audience})` : ''}: remove it, agent pods reach the API only through the sidecar${token.volume === 'aws-iam-token' ? ' (an operator can allow-list IRSA)' : ''}`,
    });
  }
  for (const volume of podCertificateVolumes(objects(spec.volumes))) {
    out.push({ code: 'service-account-token-volume', message: `volume ${volume} projects a pod certificate (podCertificate): remove it, it is a client credential of the pod's service account and agent pods reach the API only through the sidecar` });
  }
  for (const use of secretUses(spec)) {
    const type = secretTypes.get(use.secret);
    if (type === SERVICE_ACCOUNT_TOKEN_TYPE) {
      out.push({ code: 'service-account-token-secret-use', message: `${use.where} uses Secret ${use.secret} of type ${SERVICE_ACCOUNT_TOKEN_TYPE}: remove it, agent pods cannot hold service-account tokens` });
    } else if (type === undefined) {
      out.push({ code: 'secret-type-unknown', message: `${use.where} uses Secret ${use.secret}, whose type could not be looked up: retry shortly` });
    }
  }
  return out;
}

/**
 * Every reason to refuse injecting `spec`, or none. The sidecar found among the init containers
 * is skipped: it is a previous injection, which the patch rewrites to the canonical one.
 */
export function podFindings(spec: JsonObject, options: InjectOptions, secretTypes: SecretTypes): Refusal[] {
  const out: Refusal[] = [];
  if (!options.nativeSidecars) {
    const cluster = options.clusterVersion ? `this cluster runs Kubernetes ${options.clusterVersion}, which is older than 1.29` : 'this cluster is older than Kubernetes 1.29';
    out.push({ code: 'native-sidecar-unsupported', message: `${cluster} and lacks native sidecars (init containers with restartPolicy Always): upgrade the cluster, agentgate cannot inject its sidecar before 1.29` });
    return out;
  }
  out.push(...hostFindings(spec));
  const sidecarName = options.layout.sidecar.containerName;
  for (const [list, field] of containerLists) {
    for (const container of objects(spec[list])) {
      if (list === 'initContainers' && container.name === sidecarName) continue;
      out.push(...containerFindings(container, field, options), ...mountFindings(container, field, spec, options));
    }
  }
  out.push(...tokenFindings(spec, options, secretTypes), ...nameFindings(spec, options));
  return out;
}

/** The structural problems that make a pod unsafe to patch (refused, never admitted unmutated). */
export function malformed(pod: unknown): string | undefined {
  const spec = obj(obj(pod).spec);
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) return 'spec.containers is missing or empty';
  for (const [list] of containerLists) {
    const value = spec[list];
    if (value !== undefined && !Array.isArray(value)) return `spec.${list} is not a list`;
    for (const container of Array.isArray(value) ? value : []) {
      if (typeof obj(container).name !== 'string') return `spec.${list} holds a container without a name`;
    }
  }
  if (spec.volumes !== undefined && !Array.isArray(spec.volumes)) return 'spec.volumes is not a list';
  return undefined;
}
