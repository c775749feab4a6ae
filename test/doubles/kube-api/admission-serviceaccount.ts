/**
 * The built-in ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): defaults the
 * pod's service account, refuses a missing one, and mounts the projected `kube-api-access-*` token
 * volume into every container and init container. Test code only.
 */
import { randomInt } from 'node:crypto';
import type { AdmissionAttributes, KubeObject, StoreReader } from './types.ts';
import { forbidden } from './status.ts';

/** Where the plugin mounts the token, CA and namespace. */
export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Prefix of the token volume's name; an existing volume with it is reused. */
export const TOKEN_VOLUME_PREFIX = 'kube-api-access-';

// utilrand.String's alphabet: no vowels, no look-alikes, so generated names spell nothing.
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

type Json = Record<string, unknown>;

function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += ALPHANUMS[randomInt(ALPHANUMS.length)];
  return out;
}

/** Whether the plugin acts: pod CREATE without subresource. */
export function handlesServiceAccount(attrs: AdmissionAttributes): boolean {
  return attrs.operation === 'CREATE' && attrs.resource.group === '' && attrs.resource.resource === 'pods' && attrs.subResource === '';
}

/**
 * v1 ↔ internal round trip of the deprecated alias: `serviceAccount` fills an empty
 * `serviceAccountName`, and the v1 output always mirrors `serviceAccountName` into it.
 */
export function normalizeServiceAccountAlias(pod: KubeObject): void {
  const spec = pod.spec as Json | undefined;
  if (!spec) return;
  const name = typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : typeof spec.serviceAccount === 'string' ? spec.serviceAccount : '';
  if (name) {
    spec.serviceAccountName = name;
    spec.serviceAccount = name;
  } else {
    delete spec.serviceAccountName;
    delete spec.serviceAccount;
  }
}

function tokenVolume(name: string): Json {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
      defaultMode: 420,
    },
  };
}

function asList(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function mountToken(spec: Json): void {
  const volumes = asList(spec.volumes);
  const existing = volumes.find((v) => typeof v.name === 'string' && v.name.startsWith(TOKEN_VOLUME_PREFIX));
  const volumeName = existing ? String(existing.name) : `${TOKEN_VOLUME_PREFIX}${randomSuffix()}`;
  let needsVolume = false;
  // Init containers first, then containers; ephemeral containers are never touched by the plugin.
  for (const list of [spec.initContainers, spec.containers]) {
    for (const container of asList(list)) {
      const mounts = asList(container.volumeMounts);
      if (mounts.some((m) => m.mountPath === TOKEN_MOUNT_PATH)) continue;
      container.volumeMounts = [...mounts, { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH }];
      needsVolume = true;
    }
  }
  if (!existing && needsVolume) spec.volumes = [...volumes, tokenVolume(volumeName)];
}

/** Runs the plugin on `pod` in place; throws the plugin's 403 when the service account is missing. */
export function admitServiceAccount(pod: KubeObject, attrs: AdmissionAttributes, store: StoreReader): void {
  const spec = (pod.spec ?? (pod.spec = {})) as Json;
  const podName = attrs.name || pod.metadata.name || '';
  normalizeServiceAccountAlias(pod);
  if (pod.metadata.annotations && Object.hasOwn(pod.metadata.annotations, MIRROR_ANNOTATION)) {
    if (spec.serviceAccountName) throw forbidden('pods', '', podName, 'a mirror pod may not reference service accounts');
    return;
  }
  const saName = typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : 'default';
  spec.serviceAccountName = saName;
  spec.serviceAccount = saName;
  const sa = store.get('serviceaccounts', attrs.namespace, saName);
  if (!sa) {
    throw forbidden('pods', '', podName, `error looking up service account ${attrs.namespace}/${saName}: serviceaccount "${saName}" not found`);
  }
  // The pod's preference wins over the service account's; the default is to mount.
  const automount = typeof spec.automountServiceAccountToken === 'boolean' ? spec.automountServiceAccountToken : typeof sa.automountServiceAccountToken === 'boolean' ? sa.automountServiceAccountToken : true;
  if (automount) mountToken(spec);
  const saPullSecrets = asList(sa.imagePullSecrets);
  if (asList(spec.imagePullSecrets).length === 0 && saPullSecrets.length > 0) spec.imagePullSecrets = structuredClone(saPullSecrets);
}
