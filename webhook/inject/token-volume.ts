// The `kube-api-access-*` volume the API server's ServiceAccount admission plugin adds before any
// webhook runs, and every other way a pod could carry a service-account token of its own.
import { posix } from 'node:path';
import { isObject, obj, objects, str, type JsonObject } from './json.ts';
import type { InjectOptions } from './options.ts';

/** The name prefix the ServiceAccount plugin gives its volume. */
export const TOKEN_VOLUME_PREFIX = 'kube-api-access-';
/** Where the ServiceAccount plugin mounts it. */
export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * True when a container mount path lands on or under the service-account directory. The API
 * server only forbids `..` in mount paths, so `//`, `/./` and a trailing `/` name the same
 * directory in other words; `/run/...` is the same place in images where /var/run links to /run.
 */
export function isServiceAccountPath(mountPath: string): boolean {
  const clean = posix.normalize(mountPath).replace(/(.)\/+$/, '$1');
  const under = (root: string): boolean => clean === root || clean.startsWith(`${root}/`);
  return under(TOKEN_MOUNT_PATH) || under(TOKEN_MOUNT_PATH.replace(/^\/var\/run\//, '/run/'));
}

function isStandardSources(sources: JsonObject[]): boolean {
  if (sources.length !== 3) return false;
  const [token, ca, ns] = sources as [JsonObject, JsonObject, JsonObject];
  const sat = obj(token.serviceAccountToken);
  // No audience: the plugin's token is for the API server itself.
  if (!isObject(token.serviceAccountToken) || sat.audience !== undefined || sat.path !== 'token') return false;
  const cm = obj(ca.configMap);
  const caItems = objects(cm.items);
  if (cm.name !== 'kube-root-ca.crt' || caItems.length !== 1 || caItems[0]?.key !== 'ca.crt' || caItems[0]?.path !== 'ca.crt') return false;
  const nsItems = objects(obj(ns.downwardAPI).items);
  return nsItems.length === 1 && nsItems[0]?.path === 'namespace' && obj(nsItems[0]?.fieldRef).fieldPath === 'metadata.namespace';
}

/**
 * True for the ServiceAccount plugin's volume: its name prefix and exactly its three sources
 * (token, kube-root-ca.crt, namespace). A look-alike with other sources is not removed silently:
 * it is refused as a token volume of the pod's own.
 */
export function isServiceAccountPluginVolume(volume: JsonObject): boolean {
  const name = str(volume.name);
  if (name === undefined || !name.startsWith(TOKEN_VOLUME_PREFIX)) return false;
  return isStandardSources(objects(obj(volume.projected).sources));
}

/** The names of the plugin's volumes in `volumes` (normally one). */
export function pluginVolumeNames(volumes: JsonObject[]): Set<string> {
  return new Set(volumes.filter(isServiceAccountPluginVolume).map((v) => String(v.name)));
}

/** A projected service-account token the pod carries besides the plugin's, described for a message. */
export interface ForeignToken {
  volume: string;
  audience: string | undefined;
}

/**
 * Projected `podCertificate` sources: the kubelet obtains an X.509 client certificate for the pod
 * (Kubernetes 1.34+), a credential of the pod's service account that the gate would not see.
 */
export function podCertificateVolumes(volumes: JsonObject[]): string[] {
  return volumes.filter((v) => objects(obj(v.projected).sources).some((source) => source.podCertificate !== undefined)).map((v) => str(v.name) ?? '');
}

/**
 * Projected `serviceAccountToken` sources other than the plugin's volume and agentgate's broker
 * token, minus those the operator allow-lists by volume name and audience (e.g. AWS IRSA's
 * `aws-iam-token` with audience `sts.amazonaws.com`).
 */
export function foreignTokens(volumes: JsonObject[], options: InjectOptions): ForeignToken[] {
  const found: ForeignToken[] = [];
  for (const volume of volumes) {
    const name = str(volume.name) ?? '';
    if (isServiceAccountPluginVolume(volume) || name === options.layout.brokerToken.volumeName) continue;
    for (const source of objects(obj(volume.projected).sources)) {
      if (!isObject(source.serviceAccountToken)) continue;
      const audience = str(source.serviceAccountToken.audience);
      const allowed = options.allowedTokenVolumes.some((a) => a.volumeName === name && a.audience === audience);
      if (!allowed) found.push({ volume: name, audience });
    }
  }
  return found;
}

/** Where a pod uses a Secret: for the message that names it. */
export interface SecretUse {
  secret: string;
  where: string;
}

function containerSecretUses(container: JsonObject, where: string, out: SecretUse[]): void {
  for (const env of objects(container.env)) {
    const name = str(obj(obj(env.valueFrom).secretKeyRef).name);
    if (name) out.push({ secret: name, where: `${where} env ${str(env.name) ?? ''} (secretKeyRef)` });
  }
  for (const from of objects(container.envFrom)) {
    const name = str(obj(from.secretRef).name);
    if (name) out.push({ secret: name, where: `${where} envFrom` });
  }
}

/**
 * Every Secret the pod reads, as volumes (plain or projected), `secretKeyRef` or `envFrom`, so
 * their types can be looked up: a `kubernetes.io/service-account-token` Secret is a standing
 * credential that would bypass the gate.
 */
export function secretUses(spec: JsonObject): SecretUse[] {
  const out: SecretUse[] = [];
  for (const volume of objects(spec.volumes)) {
    const where = `volume ${str(volume.name) ?? ''}`;
    const plain = str(obj(volume.secret).secretName);
    if (plain) out.push({ secret: plain, where });
    for (const source of objects(obj(volume.projected).sources)) {
      const projected = str(obj(source.secret).name);
      if (projected) out.push({ secret: projected, where });
    }
  }
  for (const [list, label] of [['initContainers', 'init container'], ['containers', 'container'], ['ephemeralContainers', 'ephemeral container']] as const) {
    for (const container of objects(spec[list])) containerSecretUses(container, `${label} ${str(container.name) ?? ''}`, out);
  }
  return out;
}

/** The distinct names of the Secrets a pod reads. */
export function referencedSecrets(spec: JsonObject): string[] {
  return [...new Set(secretUses(spec).map((u) => u.secret))].sort();
}
