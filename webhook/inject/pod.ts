// injectPod: the pure mutation of an agent pod on CREATE, as a JSONPatch against the pod the API
// server sent. Idempotent: on reinvocation it only fixes what later webhooks added or changed.
import { agentContainer, agentContainerOps } from './agent-env.ts';
import { annotationOps, identityAnnotations, identityOf } from './annotations.ts';
import { mergeInPlace, obj, objects, setOp, str, type JsonPatchOp } from './json.ts';
import type { InjectOptions } from './options.ts';
import { combine, malformed, podFindings, type Refusal, type SecretTypes } from './refusals.ts';
import { auditSpoolVolumeOf, brokerTokenVolumeOf, sharedVolumeOf, sidecarContainer } from './sidecar.ts';
import { pluginVolumeNames } from './token-volume.ts';

/** The outcome of an injection: a patch (maybe empty) with admission warnings, or a refusal. */
export type InjectResult = { patch: JsonPatchOp[]; warnings: string[] } | { refused: Refusal };

/**
 * The patch that turns `pod` (as submitted, after the ServiceAccount plugin) into an agent pod:
 * the sidecar first among the init containers, the plugin's token volume and mounts removed,
 * the zero-permission service account without automount, every other container pointed at the
 * sidecar, and the identity annotations. `secretTypes` holds the looked-up type of every Secret
 * the pod uses (`referencedSecrets`). Pure: the same input always gives the same patch.
 */
export function injectPod(pod: unknown, namespace: string, options: InjectOptions, secretTypes: SecretTypes = new Map()): InjectResult {
  const problem = malformed(pod);
  if (problem !== undefined) return { refused: { code: 'pod-malformed', message: `${problem}: the pod cannot be patched safely` } };
  const podObject = obj(pod);
  const spec = obj(podObject.spec);
  const found = identityOf(podObject, namespace, options);
  if ('refused' in found) return found;
  const refusal = combine(podFindings(spec, options, secretTypes));
  if (refusal) return { refused: refusal };

  const { layout } = options;
  const volumes = objects(spec.volumes);
  const plugin = pluginVolumeNames(volumes);
  const warnings: string[] = [];
  const patch: JsonPatchOp[] = [];

  // The sidecar goes first so it starts before every other init container, and is rewritten
  // to the canonical one whatever the submitted pod carried under its name.
  const others = objects(spec.initContainers).filter((c) => c.name !== layout.sidecar.containerName);
  const initContainers = [sidecarContainer(options), ...others.map((c) => agentContainer(c, plugin, options, 'init container', warnings))];
  patch.push(...setOp('/spec/initContainers', spec.initContainers, initContainers));
  objects(spec.containers).forEach((c, i) => patch.push(...agentContainerOps(c, `/spec/containers/${i}`, plugin, options, 'container', warnings)));

  const replaces = new Map([
    [layout.sharedVolume.name, sharedVolumeOf(options)],
    [layout.brokerToken.volumeName, brokerTokenVolumeOf(options)],
    [layout.auditSpool.volumeName, auditSpoolVolumeOf(options)],
  ]);
  const wantedVolumes = mergeInPlace(volumes, (v) => str(v.name), replaces, (v) => plugin.has(str(v.name) ?? ''));
  patch.push(...setOp('/spec/volumes', spec.volumes, wantedVolumes));

  patch.push(...setOp('/spec/serviceAccountName', spec.serviceAccountName, layout.serviceAccountName));
  // The deprecated alias: the API server would otherwise keep whichever it reads first.
  if (spec.serviceAccount !== undefined) patch.push(...setOp('/spec/serviceAccount', spec.serviceAccount, layout.serviceAccountName));
  patch.push(...setOp('/spec/automountServiceAccountToken', spec.automountServiceAccountToken, false));
  patch.push(...annotationOps(podObject, identityAnnotations(found.identity, options)));
  return { patch, warnings };
}
