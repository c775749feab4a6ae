// Who an agent is (AgentIdentity) and which cluster it reaches (Connection). Grants are keyed by
// (connection, namespace, agent), so replicas of one agent share them; audit adds the pod uid.
import { X509Certificate } from 'node:crypto';
import * as z from 'zod';
import { ApiVersionString, DnsLabel, DnsSubdomain, HttpsUrl, Kind, Uid } from './names.ts';

/** The controller that owns the pod (its top-level owner, e.g. a Deployment), or null for a bare pod. */
export const OwnerSchema = z.object({
  kind: Kind,
  name: DnsSubdomain,
  apiVersion: ApiVersionString.optional(),
});

/** The owner of an agent's pod. */
export type Owner = z.infer<typeof OwnerSchema>;

/** The key grants are stored under: replicas of one agent in one namespace share it. */
export const IdentityKeySchema = z.object({
  connection: DnsLabel,
  namespace: DnsLabel,
  agent: DnsSubdomain,
});

/** The key grants are stored under. */
export type IdentityKey = z.infer<typeof IdentityKeySchema>;

/**
 * An agent's identity as the webhook stamps it and the broker derives it from the sidecar's
 * token. `agent` is the pod's original service account unless the operator maps it otherwise;
 * `podName` is for people reading the audit; `podUid` identifies the pod, as names are reused.
 */
export const AgentIdentitySchema = IdentityKeySchema.extend({
  originalServiceAccount: DnsSubdomain,
  owner: OwnerSchema.nullable(),
  podUid: Uid,
  podName: DnsSubdomain.optional(),
});

/** An agent's identity. */
export type AgentIdentity = z.infer<typeof AgentIdentitySchema>;

/** The identity key of an identity (drops the per-pod fields). */
export function identityKey(identity: AgentIdentity): IdentityKey {
  return { connection: identity.connection, namespace: identity.namespace, agent: identity.agent };
}

const pemBlock = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/** True when `pem` holds one or more PEM certificates, each of which parses as X.509. */
function isCertificateBundle(pem: string): boolean {
  const blocks = pem.match(pemBlock);
  if (!blocks) return false;
  // Anything outside the blocks but whitespace is a paste error worth refusing early.
  if (pem.replace(pemBlock, '').trim() !== '') return false;
  try {
    for (const block of blocks) new X509Certificate(block);
    return true;
  } catch {
    return false;
  }
}

const Pem = z.string().max(256 * 1024, 'must be at most 256 KiB').refine(isCertificateBundle, 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)');

const eksOnly = ['roleArn', 'region', 'clusterName'] as const;

/**
 * One cluster agentgate reaches. In `eks` mode credentials come from STS (the connection's IAM
 * role, session named after the grant), so the role, region and cluster name are required; in
 * `tokenrequest` mode they are meaningless and refused, so a half-converted configuration is
 * caught at start.
 */
export const ConnectionSchema = z
  .object({
    name: DnsLabel,
    server: HttpsUrl,
    ca: Pem,
    mode: z.enum(['eks', 'tokenrequest']),
    roleArn: z
      .string()
      .regex(/^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/agentgate')
      .optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1').optional(),
    clusterName: z
      .string()
      .regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, "must be an EKS cluster name: up to 100 letters, digits, '-' and '_', starting with a letter or digit")
      .optional(),
  })
  .superRefine((connection, ctx) => {
    for (const field of eksOnly) {
      const set = connection[field] !== undefined;
      if (connection.mode === 'eks' && !set) ctx.addIssue({ code: 'custom', path: [field], message: 'is required when mode is eks' });
      if (connection.mode === 'tokenrequest' && set) ctx.addIssue({ code: 'custom', path: [field], message: 'is only allowed when mode is eks' });
    }
  });

/** One cluster agentgate reaches. */
export type Connection = z.infer<typeof ConnectionSchema>;

/**
 * The value of the `agentgate.io/owner` annotation: the owner as compact JSON with keys in a
 * fixed order, or `null` for a bare pod (the annotation is always present on an injected pod).
 */
export function formatOwnerAnnotation(owner: Owner | null): string {
  if (owner === null) return 'null';
  const ordered: Owner = { kind: owner.kind, name: owner.name };
  if (owner.apiVersion !== undefined) ordered.apiVersion = owner.apiVersion;
  return JSON.stringify(ordered);
}

/** Reads the `agentgate.io/owner` annotation; undefined when it is not what the webhook writes. */
export function parseOwnerAnnotation(value: string): Owner | null | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (json === null) return null;
  const parsed = OwnerSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
