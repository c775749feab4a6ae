// Changes to pods that already exist: an UPDATE may not touch what injection set up, and a debug
// container added through pods/ephemeralcontainers gets the agent env and mount like the others.
import { ANNOTATION_PREFIX } from './annotations.ts';
import { agentContainerOps } from './agent-env.ts';
import { obj, objects, sameJson, str, stringMap, type JsonObject } from './json.ts';
import type { InjectOptions } from './options.ts';
import type { InjectResult } from './pod.ts';
import { combine, containerFindings, tokenFindings, type Refusal, type SecretTypes } from './refusals.ts';
import { agentgateVolumeNames } from './sidecar.ts';
import { isServiceAccountPath } from './token-volume.ts';

/** True when the pod carries agentgate's sidecar among its init containers. */
export function isInjected(pod: unknown, options: InjectOptions): boolean {
  return objects(obj(obj(pod).spec).initContainers).some((c) => c.name === options.layout.sidecar.containerName);
}

function agentgateAnnotations(pod: unknown): Record<string, string> {
  const all = stringMap(obj(obj(pod).metadata).annotations);
  return Object.fromEntries(Object.entries(all).filter(([key]) => key.startsWith(ANNOTATION_PREFIX)));
}

function byName(list: unknown, name: string): JsonObject | undefined {
  return objects(list).find((item) => item.name === name);
}

/**
 * Reviews a pod UPDATE. agentgate.io/ annotations are the webhook's on every pod; on an injected
 * pod the sidecar (and its place), its volumes and the service account settings are frozen too.
 * Nothing is ever patched on UPDATE: the API server only lets images and a few fields change.
 */
export function reviewPodUpdate(oldPod: unknown, newPod: unknown, options: InjectOptions): InjectResult {
  const findings: Refusal[] = [];
  if (!sameJson(agentgateAnnotations(oldPod), agentgateAnnotations(newPod))) {
    findings.push({ code: 'agentgate-annotation-changed', message: 'metadata.annotations under agentgate.io/ changed: leave them as they are, only agentgate writes them' });
  }
  if (isInjected(oldPod, options)) {
    const oldSpec = obj(obj(oldPod).spec);
    const newSpec = obj(obj(newPod).spec);
    const name = options.layout.sidecar.containerName;
    const oldIndex = objects(oldSpec.initContainers).findIndex((c) => c.name === name);
    const newIndex = objects(newSpec.initContainers).findIndex((c) => c.name === name);
    if (oldIndex !== newIndex || !sameJson(byName(oldSpec.initContainers, name), byName(newSpec.initContainers, name))) {
      findings.push({ code: 'sidecar-changed', message: `init container ${name} changed: revert the change, the agentgate sidecar of a running pod cannot be modified` });
    }
    for (const volume of agentgateVolumeNames(options)) {
      if (!sameJson(byName(oldSpec.volumes, volume), byName(newSpec.volumes, volume))) {
        findings.push({ code: 'sidecar-changed', message: `volume ${volume} changed: revert the change, agentgate's volumes cannot be modified` });
      }
    }
    for (const field of ['serviceAccountName', 'serviceAccount', 'automountServiceAccountToken'] as const) {
      if (!sameJson(oldSpec[field], newSpec[field])) {
        findings.push({ code: 'service-account-changed', message: `spec.${field} changed: revert it, an injected pod keeps agentgate's zero-permission service account` });
      }
    }
  }
  const refusal = combine(findings);
  return refusal ? { refused: refusal } : { patch: [], warnings: [] };
}

function ephemeralFindings(container: JsonObject, options: InjectOptions, secretTypes: SecretTypes): Refusal[] {
  const field = 'ephemeral container';
  const name = str(container.name) ?? '';
  const { sidecar, brokerToken, sharedVolume, auditSpool } = options.layout;
  const out = containerFindings(container, field, options);
  if (name.startsWith('agentgate-')) {
    out.push({ code: 'agentgate-name-collision', message: `${field} ${name}: rename it, container names starting with 'agentgate-' are reserved for agentgate` });
  }
  if (container.targetContainerName === sidecar.containerName) {
    out.push({ code: 'ephemeral-targets-sidecar', message: `${field} ${name} targets ${sidecar.containerName}: target an agent container instead (kubectl debug --target=<container>)` });
  }
  for (const mount of objects(container.volumeMounts)) {
    const path = str(mount.mountPath) ?? '';
    if (mount.name === brokerToken.volumeName) {
      out.push({ code: 'ephemeral-broker-token', message: `${field} ${name} mounts ${brokerToken.volumeName}: remove the mount, only the sidecar may read its broker token` });
    } else if (mount.name === auditSpool.volumeName) {
      out.push({ code: 'audit-spool-mount', message: `${field} ${name} mounts ${auditSpool.volumeName}: remove the mount, only the sidecar may write its audit spool` });
    } else if (isServiceAccountPath(path) && mount.name !== sharedVolume.name) {
      out.push({ code: 'service-account-path-mount', message: `${field} ${name} mounts ${str(mount.name) ?? ''} at ${path}: mount it elsewhere, agentgate places the sidecar's credentials there` });
    }
  }
  out.push(...tokenFindings({ ephemeralContainers: [container] }, options, secretTypes));
  return out;
}

/**
 * Handles pods/ephemeralcontainers (`kubectl debug`) on an injected pod: each new debug container
 * gets the agent env and mount; one that is privileged, adds a refused capability, targets the
 * sidecar or mounts the broker token is refused. Existing ephemeral containers are immutable
 * (the API server enforces it), so only names absent from `oldPod` are new.
 */
export function injectEphemeral(oldPod: unknown, newPod: unknown, options: InjectOptions, secretTypes: SecretTypes = new Map()): InjectResult {
  if (!isInjected(newPod, options)) return { patch: [], warnings: [] };
  const existing = new Set(objects(obj(obj(oldPod).spec).ephemeralContainers).map((c) => c.name));
  const added = objects(obj(obj(newPod).spec).ephemeralContainers)
    .map((container, index) => ({ container, index }))
    .filter(({ container }) => !existing.has(container.name));
  const refusal = combine(added.flatMap(({ container }) => ephemeralFindings(container, options, secretTypes)));
  if (refusal) return { refused: refusal };
  const warnings: string[] = [];
  // No plugin volume is left on an injected pod; an empty set keeps user mounts as they are.
  const patch = added.flatMap(({ container, index }) => agentContainerOps(container, `/spec/ephemeralContainers/${index}`, new Set(), options, 'ephemeral container', warnings));
  return { patch, warnings };
}
