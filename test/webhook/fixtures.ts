// What the webhook tests share: the injection options, and the cluster facts the server would
// look up (namespace labels, Secret types) as small tables.
import { readFile } from 'node:fs/promises';
import { injectOptions, type InjectOptions } from '../../webhook/inject/index.ts';
import type { ReviewLookups } from '../../webhook/review.ts';

/** The options every golden scenario uses unless its row says otherwise. */
export const options: InjectOptions = injectOptions({
  sidecarImage: 'ghcr.io/agentgate/agentgate:0.1.0',
  sidecarEnv: [{ name: 'AGENTGATE_SIDECAR_BROKER_URL', value: 'https://agentgate-broker.agentgate-system.svc:8443' }],
});

/** The same with AWS IRSA allow-listed. */
export const irsaOptions: InjectOptions = injectOptions({ ...options, allowedTokenVolumes: [{ volumeName: 'aws-iam-token', audience: 'sts.amazonaws.com' }] });

const namespaces: Record<string, Record<string, string>> = {
  agents: { 'kubernetes.io/metadata.name': 'agents', 'agentgate.io/inject': 'enabled' },
  'restricted-agents': { 'kubernetes.io/metadata.name': 'restricted-agents', 'agentgate.io/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' },
  'team-a': { 'kubernetes.io/metadata.name': 'team-a' },
  plain: { 'kubernetes.io/metadata.name': 'plain' },
  'agentgate-system': { 'kubernetes.io/metadata.name': 'agentgate-system', 'agentgate.io/inject': 'enabled' },
};

const secrets: Record<string, string> = {
  'db-credentials': 'Opaque',
  'api-keys': 'Opaque',
  'legacy-sa-token': 'kubernetes.io/service-account-token',
};

/** Table-backed lookups: unknown namespaces have no labels, `flaky-secret` cannot be read. */
export const lookups: ReviewLookups = {
  namespaceLabels: async (name) => namespaces[name] ?? { 'kubernetes.io/metadata.name': name },
  secretType: async (_namespace, name) => {
    if (name === 'flaky-secret') throw new Error('secrets "flaky-secret" is forbidden: the webhook lost its permission');
    return secrets[name] ?? null;
  },
};

/** The folder of the webhook's golden files. */
export const goldenDir = new URL('./golden/', import.meta.url);

/** Reads a golden request. */
export async function readRequest(scenario: string): Promise<unknown> {
  return JSON.parse(await readFile(new URL(`${scenario}.request.json`, goldenDir), 'utf8')) as unknown;
}
