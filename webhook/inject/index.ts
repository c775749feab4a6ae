// The injection library in one import: which pods are agents, the CREATE patch, UPDATE and
// ephemeral-container reviews. Pure apart from `lookupSecretTypes`, which calls what it is given.
import { obj } from './json.ts';
import type { SecretTypes } from './refusals.ts';
import { referencedSecrets } from './token-volume.ts';

export { injectPod, type InjectResult } from './pod.ts';
export { injectEphemeral, isInjected, reviewPodUpdate } from './update.ts';
export { isAgentPod, isExcludedNamespace, NAMESPACE_NAME_LABEL } from './select.ts';
export { ANNOTATION_PREFIX, identityAnnotations, identityOf, ownerOf, type PodIdentity } from './annotations.ts';
export { SERVICE_ACCOUNT_TOKEN_TYPE, containerFindings, type Refusal, type SecretTypes } from './refusals.ts';
export { referencedSecrets, isServiceAccountPluginVolume, TOKEN_MOUNT_PATH, TOKEN_VOLUME_PREFIX } from './token-volume.ts';
export { sidecarContainer, sharedVolumeOf, brokerTokenVolumeOf, agentMountOf } from './sidecar.ts';
export { injectOptions, injectOptionsFromConfig, injectDefaults, baselineCapabilities, forbiddenCapabilities, type InjectOptions, type WebhookSettings, type OptOutRule, type AllowedTokenVolume } from './options.ts';
export type { JsonObject, JsonPatchOp } from './json.ts';

/** Looks up the type of a Secret: its `type`, or null when it does not exist; throws when it cannot tell. */
export type SecretTypeLookup = (namespace: string, name: string) => Promise<string | null>;

/**
 * The types of the Secrets `pod` uses, looked up concurrently. A failed lookup leaves its name
 * out of the map, and injection then refuses the pod (`secret-type-unknown`): fail closed.
 */
export async function lookupSecretTypes(pod: unknown, namespace: string, secretType: SecretTypeLookup): Promise<SecretTypes> {
  const names = referencedSecrets(obj(obj(pod).spec));
  const types = new Map<string, string | null>();
  await Promise.all(
    names.map(async (name) => {
      try {
        types.set(name, await secretType(namespace, name));
      } catch {
        // Absent from the map: refused as unknown, never allowed unchecked.
      }
    }),
  );
  return types;
}
