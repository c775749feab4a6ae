/**
 * Shared pieces of the admission chain tests: a map-backed store, tiny real HTTPS webhooks on the
 * fixture certificate, and builders for pods, webhook configurations and admission attributes.
 */
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { AdmissionAttributes, KubeObject, StoreReader } from '../doubles/kube-api/types.ts';
import { findKind, resourceKey } from '../doubles/kube-api/resources.ts';
import { StatusError } from '../doubles/kube-api/status.ts';

const TLS = new URL('../fixtures/tls/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, TLS), 'utf8');

/** caBundle values: the CA that signed server.crt, and an unrelated one. */
export const CA_BUNDLE = Buffer.from(read('ca.crt')).toString('base64');
export const OTHER_CA_BUNDLE = Buffer.from(read('other-ca.crt')).toString('base64');

/** A StoreReader over a fixed list of objects (the real store is the server's; this is its interface). */
export function memoryStore(objects: KubeObject[]): StoreReader {
  const keyOf = (obj: KubeObject): string => {
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const info = findKind(group ?? '', obj.kind);
    if (!info || !version) throw new Error(`memoryStore: unknown kind ${obj.apiVersion} ${obj.kind}`);
    return resourceKey(info);
  };
  return {
    get: (resource, namespace, name) => objects.find((o) => keyOf(o) === resource && (o.metadata.namespace ?? '') === namespace && o.metadata.name === name),
    list: (resource, namespace) => objects.filter((o) => keyOf(o) === resource && (namespace === undefined || o.metadata.namespace === namespace)),
  };
}

/** The objects every namespace-scoped test needs: the namespace and its default service account. */
export function namespaceWithDefaultSA(name: string, labels?: Record<string, string>): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } },
  ];
}

/** A defaulted-enough pod with one container. */
export function pod(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team', ...metadata }, spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec } };
}

/** AdmissionAttributes for a write of `object` (pods unless the overrides say otherwise). */
export function attributes(object: KubeObject | undefined, overrides: Partial<AdmissionAttributes> = {}): AdmissionAttributes {
  return {
    operation: 'CREATE',
    resource: { group: '', version: 'v1', resource: 'pods' },
    subResource: '',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    namespace: object?.metadata.namespace ?? 'team',
    name: object?.metadata.name ?? '',
    object,
    oldObject: undefined,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', metadata: {} },
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    dryRun: false,
    ...overrides,
  };
}

/** A webhook configuration object of either kind. */
export function webhookConfiguration(kind: 'Mutating' | 'Validating', name: string, webhooks: Array<Record<string, unknown>>): KubeObject {
  return { apiVersion: 'admissionregistration.k8s.io/v1', kind: `${kind}WebhookConfiguration`, metadata: { name }, webhooks };
}

/** One webhook entry with the defaults the apiserver would have filled in, on pods CREATE. */
export function hook(name: string, clientConfig: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    clientConfig: { caBundle: CA_BUNDLE, ...clientConfig },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
    ...extra,
  };
}

/** An AdmissionReview as a webhook receives it. */
export interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; operation: string; object: KubeObject | null; oldObject: KubeObject | null; dryRun: boolean; [field: string]: unknown };
}

/** What a test webhook answers: the `response` fields beside uid, or a raw body with a status code. */
export type Answer = Record<string, unknown> | { raw: string; status: number } | 'hang';

/** A running HTTPS test webhook that records every review it receives. */
export interface TestWebhook {
  url: string;
  port: number;
  reviews: Review[];
  close(): Promise<void>;
}

/** Starts an HTTPS webhook on a free port with the fixture server certificate. */
export async function startWebhook(answer: (review: Review) => Answer): Promise<TestWebhook> {
  const reviews: Review[] = [];
  const server = https.createServer({ cert: read('server.crt'), key: read('server.key') }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
      reviews.push(review);
      const a = answer(review);
      if (a === 'hang') return;
      if ('raw' in a && typeof a.raw === 'string') {
        res.writeHead(Number(a.status), { 'content-type': 'text/plain' }).end(a.raw);
        return;
      }
      const body = { apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request.uid, ...a } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/mutate`,
    port,
    reviews,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A JSONPatch answer. */
export function patched(ops: unknown[]): Record<string, unknown> {
  return { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

/** Runs `fn` and returns the StatusError it throws (fails the test through the caller's assertion otherwise). */
export async function statusOf(fn: () => Promise<unknown>): Promise<StatusError['status'] | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    if (err instanceof StatusError) return err.status;
    throw err;
  }
}
