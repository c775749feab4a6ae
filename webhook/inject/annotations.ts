// Who the agent is, derived from the pod as submitted, and stamped in agentgate.io/ annotations
// that only the webhook writes: whatever the submitted pod carried under that prefix is replaced.
import { formatOwnerAnnotation, type Owner } from '../../src/contracts/identity.ts';
import { DnsSubdomain, Kind } from '../../src/contracts/names.ts';
import { obj, objects, pointerToken, setOp, str, stringMap, type JsonObject, type JsonPatchOp } from './json.ts';
import type { InjectOptions } from './options.ts';
import type { Refusal } from './refusals.ts';

/** The prefix of the annotations only agentgate writes. */
export const ANNOTATION_PREFIX = 'agentgate.io/';

/**
 * An agent's identity as far as admission knows it. The pod's uid and (with generateName) its
 * name are assigned after admission, so the broker completes the identity from the token.
 */
export interface PodIdentity {
  namespace: string;
  /** The agent's name: its original service account. */
  agent: string;
  originalServiceAccount: string;
  owner: Owner | null;
}

/**
 * The pod's controlling owner, lifted to the Deployment for a ReplicaSet whose name is
 * `<deployment>-<pod-template-hash>` with the pod's own `pod-template-hash` label. That is a
 * hint from naming, not a lookup: the webhook does not read the ReplicaSet, and the owner is
 * for people and audit (grants are keyed by the agent), so a wrong hint misleads no decision.
 */
export function ownerOf(pod: JsonObject): Owner | null {
  const metadata = obj(pod.metadata);
  const ref = objects(metadata.ownerReferences).find((r) => r.controller === true);
  const kind = str(ref?.kind);
  const name = str(ref?.name);
  if (!ref || !kind || !name || !Kind.safeParse(kind).success || !DnsSubdomain.safeParse(name).success) return null;
  const apiVersion = str(ref.apiVersion);
  const hash = stringMap(metadata.labels)['pod-template-hash'];
  if (kind === 'ReplicaSet' && apiVersion === 'apps/v1' && hash && name.endsWith(`-${hash}`) && name.length > hash.length + 1) {
    return { kind: 'Deployment', name: name.slice(0, -hash.length - 1), apiVersion: 'apps/v1' };
  }
  return apiVersion ? { kind, name, apiVersion } : { kind, name };
}

/**
 * The pod's identity. Its original service account is `spec.serviceAccountName` (`default` when
 * unset), except on a pod already switched to agentgate's zero-permission account (a
 * reinvocation): then the stamped annotation is read back. A pod submitted with that account and
 * no such annotation is refused. The annotation can only name a service account of the same
 * namespace, which a pod's author may use directly anyway.
 */
export function identityOf(pod: JsonObject, namespace: string, options: InjectOptions): { identity: PodIdentity } | { refused: Refusal } {
  const spec = obj(pod.spec);
  const { layout } = options;
  let original = str(spec.serviceAccountName) || str(spec.serviceAccount) || 'default';
  if (original === layout.serviceAccountName) {
    const stamped = stringMap(obj(pod.metadata).annotations)[layout.annotations.originalServiceAccount];
    if (stamped === undefined || stamped === layout.serviceAccountName || !DnsSubdomain.safeParse(stamped).success) {
      return {
        refused: {
          code: 'agentgate-name-collision',
          message: `spec.serviceAccountName ${layout.serviceAccountName} is agentgate's zero-permission account: set the agent's own service account instead, agentgate switches it`,
        },
      };
    }
    original = stamped;
  }
  return { identity: { namespace, agent: original, originalServiceAccount: original, owner: ownerOf(pod) } };
}

/** The annotations an injected pod carries. */
export function identityAnnotations(identity: PodIdentity, options: InjectOptions): Record<string, string> {
  const keys = options.layout.annotations;
  return {
    [keys.agent]: identity.agent,
    [keys.originalServiceAccount]: identity.originalServiceAccount,
    [keys.owner]: formatOwnerAnnotation(identity.owner),
    [keys.policyProfile]: options.policyProfile,
    [keys.injectedVersion]: options.version,
  };
}

/** The ops that make the pod's agentgate.io/ annotations exactly `wanted`, leaving others alone. */
export function annotationOps(pod: JsonObject, wanted: Record<string, string>): JsonPatchOp[] {
  const metadata = obj(pod.metadata);
  if (metadata.annotations === undefined || metadata.annotations === null) return [{ op: 'add', path: '/metadata/annotations', value: wanted }];
  const current = stringMap(metadata.annotations);
  const ops: JsonPatchOp[] = [];
  for (const key of Object.keys(obj(metadata.annotations))) {
    if (key.startsWith(ANNOTATION_PREFIX) && !(key in wanted)) ops.push({ op: 'remove', path: `/metadata/annotations/${pointerToken(key)}` });
  }
  for (const [key, value] of Object.entries(wanted)) ops.push(...setOp(`/metadata/annotations/${pointerToken(key)}`, current[key], value));
  return ops;
}
