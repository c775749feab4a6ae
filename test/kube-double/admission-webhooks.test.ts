// Mutating and validating webhooks called over real HTTPS: patches, call failures and
// failurePolicy, caBundle trust, timeouts, denials, dryRun, service references and review versions.
import test from 'ava';
import { createAdmission, type AdmissionOptions } from '../doubles/kube-api/admission.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import {
  attributes, closedPort, hook, memoryStore, namespaceWithDefaultSA, OTHER_CA_BUNDLE, patched, pod, startWebhook, statusOf, webhookConfiguration,
  type Answer, type Review, type TestWebhook,
} from './admission-helpers.ts';

type Json = Record<string, unknown>;
const labelsOf = (obj: KubeObject | undefined): Record<string, string> | undefined => obj?.metadata.labels;

function chain(configs: KubeObject[], extra: Partial<AdmissionOptions> = {}): ReturnType<typeof createAdmission> {
  return createAdmission({ store: memoryStore([...namespaceWithDefaultSA('team'), ...configs]), ...extra });
}

async function webhook(t: { teardown: (fn: () => Promise<void>) => void }, answer: (review: Review) => Answer): Promise<TestWebhook> {
  const server = await startWebhook(answer);
  t.teardown(() => server.close());
  return server;
}

test('a mutating webhook receives an AdmissionReview v1 after the ServiceAccount plugin and its JSONPatch is applied', async (t) => {
  const wh = await webhook(t, () => ({ ...patched([{ op: 'add', path: '/metadata/labels', value: { injected: 'true' } }]), warnings: ['sidecar added'] }));
  const admission = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: wh.url })])]);
  const { object, warnings } = await admission.admit(attributes(pod('web')));
  t.deepEqual(labelsOf(object), { injected: 'true' });
  t.deepEqual(warnings, ['sidecar added']);
  const review = wh.reviews[0];
  t.is(review?.apiVersion, 'admission.k8s.io/v1');
  t.is(review?.kind, 'AdmissionReview');
  const req = (review?.request ?? {}) as Json;
  t.regex(String(req.uid), /^[0-9a-f-]{36}$/);
  t.deepEqual(req.kind, { group: '', version: 'v1', kind: 'Pod' });
  t.deepEqual(req.resource, { group: '', version: 'v1', resource: 'pods' });
  t.deepEqual(req.requestResource, { group: '', version: 'v1', resource: 'pods' });
  t.is(req.subResource, undefined);
  t.is(req.name, 'web');
  t.is(req.namespace, 'team');
  t.is(req.operation, 'CREATE');
  t.deepEqual(req.userInfo, { username: 'alice', groups: ['system:authenticated'] });
  t.is(req.oldObject, null);
  t.is(req.dryRun, false);
  t.deepEqual(req.options, { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', metadata: {} });
  const sent = req.object as KubeObject;
  t.regex(String(((sent.spec as Json).volumes as Json[])[0]?.name), /^kube-api-access-/, 'the webhook sees the token volume the plugin added');
});

test('failurePolicy Fail refuses while the webhook is down, with the apiserver\'s message', async (t) => {
  const port = await closedPort();
  const admission = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: `https://127.0.0.1:${port}/mutate` })])]);
  const status = await statusOf(() => admission.admit(attributes(pod('web'))));
  const cause = `failed calling webhook "inject.agentgate.io": failed to call webhook: Post "https://127.0.0.1:${port}/mutate?timeout=10s": dial tcp 127.0.0.1:${port}: connect: connection refused`;
  t.deepEqual(status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `Internal error occurred: ${cause}`, reason: 'InternalError', details: { causes: [{ message: cause }] }, code: 500 });
});

test('failurePolicy Ignore lets the request through while the webhook is down', async (t) => {
  const port = await closedPort();
  const admission = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: `https://127.0.0.1:${port}/mutate` }, { failurePolicy: 'Ignore' })])]);
  const { object } = await admission.admit(attributes(pod('web')));
  t.is(object?.metadata.name, 'web');
});

const callFailures: Array<{ name: string; answer: (r: Review) => Answer; extra?: Json; caBundle?: string; cap?: number; reason: (url: string) => string }> = [
  {
    name: 'a certificate not signed by the caBundle',
    answer: () => ({ allowed: true }), caBundle: OTHER_CA_BUNDLE,
    reason: (url) => `failed to call webhook: Post "${url}?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
  },
  {
    name: 'a webhook slower than its timeoutSeconds',
    answer: () => 'hang', extra: { timeoutSeconds: 1 },
    reason: (url) => `failed to call webhook: Post "${url}?timeout=1s": context deadline exceeded`,
  },
  {
    name: 'the double\'s timeout cap cuts the wait but the URL keeps the configured timeout',
    answer: () => 'hang', cap: 0.3,
    reason: (url) => `failed to call webhook: Post "${url}?timeout=10s": context deadline exceeded`,
  },
  {
    name: 'a response with another uid',
    answer: () => ({ uid: 'not-the-request-uid', allowed: true }),
    reason: () => 'received invalid webhook response: expected response.uid="<uid>", got "not-the-request-uid"',
  },
  {
    name: 'a patch without patchType',
    answer: () => ({ allowed: true, patch: Buffer.from('[]').toString('base64') }),
    reason: () => 'received invalid webhook response: webhook returned response.patch but not response.patchType',
  },
  {
    name: 'an HTTP 500 with a text body',
    answer: () => ({ raw: 'boom', status: 500 }),
    reason: () => 'failed to call webhook: an error on the server ("boom") has prevented the request from succeeding',
  },
];

for (const row of callFailures) {
  for (const policy of ['Fail', 'Ignore'] as const) {
    test(`call failure, failurePolicy ${policy}: ${row.name}`, async (t) => {
      const wh = await webhook(t, row.answer);
      const config = webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: wh.url, ...(row.caBundle ? { caBundle: row.caBundle } : {}) }, { failurePolicy: policy, ...row.extra })]);
      const admission = chain([config], row.cap ? { webhookTimeoutCapSeconds: row.cap } : {});
      const started = Date.now();
      if (policy === 'Ignore') {
        const { object } = await admission.admit(attributes(pod('web')));
        t.is(object?.metadata.name, 'web');
        return;
      }
      const status = await statusOf(() => admission.admit(attributes(pod('web'))));
      const uid = String(wh.reviews[0]?.request.uid ?? '<uid>');
      t.is(status?.code, 500);
      t.is(status?.message, `Internal error occurred: failed calling webhook "inject.agentgate.io": ${row.reason(wh.url).replace('<uid>', uid)}`);
      t.true(Date.now() - started < 5000);
    });
  }
}

const patchErrors = [
  { name: 'remove of a missing key', ops: [{ op: 'remove', path: '/metadata/labels' }], message: 'Internal error occurred: error in remove for path: \'/metadata/labels\': Unable to remove nonexistent key: labels: missing value' },
  { name: 'remove below a missing parent', ops: [{ op: 'remove', path: '/spec/nothing/here' }], message: 'Internal error occurred: remove operation does not apply: doc is missing path: "/spec/nothing/here": missing value' },
  { name: 'replace of a missing key', ops: [{ op: 'replace', path: '/spec/hostNetwork', value: true }], message: 'Internal error occurred: replace operation does not apply: doc is missing key: /spec/hostNetwork: missing value' },
  { name: 'add below a missing parent', ops: [{ op: 'add', path: '/metadata/annotations/a', value: 'b' }], message: 'Internal error occurred: add operation does not apply: doc is missing path: "/metadata/annotations/a": missing value' },
  { name: 'a failed test operation', ops: [{ op: 'test', path: '/metadata/name', value: 'other' }], message: 'Internal error occurred: testing value /metadata/name failed: test failed' },
  { name: 'an unknown operation', ops: [{ op: 'merge', path: '/metadata' }], message: 'Internal error occurred: Unexpected kind: merge' },
];

for (const row of patchErrors) {
  test(`an invalid patch is refused even under failurePolicy Ignore: ${row.name}`, async (t) => {
    const wh = await webhook(t, () => patched(row.ops));
    const admission = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: wh.url }, { failurePolicy: 'Ignore' })])]);
    const status = await statusOf(() => admission.admit(attributes(pod('web'))));
    t.is(status?.code, 500);
    t.is(status?.reason, 'InternalError');
    t.is(status?.message, row.message);
  });
}

const denials: Array<{ name: string; kind: 'Mutating' | 'Validating'; response: Json; code: number; reason: string | undefined; message: string }> = [
  { name: 'mutating, with message and code', kind: 'Mutating', response: { allowed: false, status: { code: 403, reason: 'Forbidden', message: 'hostNetwork escapes the gate' } }, code: 403, reason: 'Forbidden', message: 'admission webhook "gate.agentgate.io" denied the request: hostNetwork escapes the gate' },
  { name: 'mutating, without status', kind: 'Mutating', response: { allowed: false }, code: 400, reason: undefined, message: 'admission webhook "gate.agentgate.io" denied the request without explanation' },
  { name: 'validating, with a code below 400', kind: 'Validating', response: { allowed: false, status: { code: 200, message: 'privileged containers are not allowed' } }, code: 400, reason: undefined, message: 'admission webhook "gate.agentgate.io" denied the request: privileged containers are not allowed' },
  { name: 'validating, reason only', kind: 'Validating', response: { allowed: false, status: { reason: 'NotAcceptable' } }, code: 400, reason: 'NotAcceptable', message: 'admission webhook "gate.agentgate.io" denied the request: NotAcceptable' },
];

for (const row of denials) {
  test(`a webhook's denial becomes the apiserver's error: ${row.name}`, async (t) => {
    const wh = await webhook(t, () => row.response);
    const admission = chain([webhookConfiguration(row.kind, 'gate', [hook('gate.agentgate.io', { url: wh.url })])]);
    const status = await statusOf(() => admission.admit(attributes(pod('web'))));
    t.is(status?.code, row.code);
    t.is(status?.reason, row.reason);
    t.is(status?.message, row.message);
    t.is(status?.status, 'Failure');
  });
}

test('validating webhooks see the final object, run after built-in validation, and their patches are ignored', async (t) => {
  const mutating = await webhook(t, () => patched([{ op: 'add', path: '/metadata/labels', value: { injected: 'true' } }]));
  const validating = await webhook(t, () => patched([{ op: 'add', path: '/metadata/annotations', value: { sneaky: 'true' } }]));
  const admission = chain([
    webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: mutating.url })]),
    webhookConfiguration('Validating', 'gate', [hook('gate.agentgate.io', { url: validating.url })]),
  ]);
  const { object } = await admission.admit(attributes(pod('web')));
  t.is(object?.metadata.annotations, undefined);
  t.deepEqual(labelsOf(validating.reviews[0]?.request.object ?? undefined), { injected: 'true' });
  const invalidPod = pod('bad', { containers: [{ name: 'app', image: 'x' }, { name: 'app', image: 'y' }] });
  const before = validating.reviews.length;
  const status = await statusOf(() => admission.admit(attributes(invalidPod)));
  t.is(status?.code, 422);
  t.is(validating.reviews.length, before, 'an invalid object never reaches validating webhooks');
});

test('dryRun: a webhook with side effects refuses it, NoneOnDryRun is called with dryRun true', async (t) => {
  const wh = await webhook(t, () => ({ allowed: true }));
  const unsafe = chain([webhookConfiguration('Validating', 'gate', [hook('gate.agentgate.io', { url: wh.url }, { sideEffects: 'Some', failurePolicy: 'Ignore' })])]);
  const status = await statusOf(() => unsafe.admit(attributes(pod('web'), { dryRun: true })));
  t.is(status?.code, 400);
  t.is(status?.reason, 'BadRequest');
  t.is(status?.message, 'admission webhook "gate.agentgate.io" does not support dry run');
  t.is(wh.reviews.length, 0);
  const safe = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { url: wh.url }, { sideEffects: 'NoneOnDryRun' })])]);
  await safe.admit(attributes(pod('web'), { dryRun: true }));
  t.is(wh.reviews[0]?.request.dryRun, true);
});

test('a service reference is dialled through the resolver and verified against the service\'s DNS name', async (t) => {
  const wh = await webhook(t, () => patched([{ op: 'add', path: '/metadata/labels', value: { via: 'service' } }]));
  const resolved: unknown[] = [];
  const serviceResolver = (namespace: string, name: string, port: number, path: string): string => {
    resolved.push([namespace, name, port, path]);
    return `https://127.0.0.1:${wh.port}`;
  };
  const good = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { service: { namespace: 'default', name: 'kubernetes', path: '/mutate' } })])], { serviceResolver });
  const { object } = await good.admit(attributes(pod('web')));
  t.deepEqual(labelsOf(object), { via: 'service' });
  t.deepEqual(resolved, [['default', 'kubernetes', 443, '/mutate']]);

  const wrongName = chain([webhookConfiguration('Mutating', 'inject', [hook('inject.agentgate.io', { service: { namespace: 'agentgate', name: 'webhook', path: '/mutate', port: 8443 } })])], { serviceResolver });
  const status = await statusOf(() => wrongName.admit(attributes(pod('web'))));
  t.is(status?.message, 'Internal error occurred: failed calling webhook "inject.agentgate.io": failed to call webhook: Post "https://webhook.agentgate.svc:8443/mutate?timeout=10s": tls: failed to verify certificate: x509: certificate is valid for localhost, kubernetes.default.svc, kubernetes, not webhook.agentgate.svc');
});

test('a webhook that only speaks v1beta1 gets a v1beta1 review', async (t) => {
  const wh = await webhook(t, () => ({ allowed: true }));
  const admission = chain([webhookConfiguration('Validating', 'gate', [hook('gate.agentgate.io', { url: wh.url }, { admissionReviewVersions: ['v1beta1'] })])]);
  await admission.admit(attributes(pod('web')));
  t.is(wh.reviews[0]?.apiVersion, 'admission.k8s.io/v1beta1');
});

test('webhook configurations themselves are never sent to webhooks', async (t) => {
  const wh = await webhook(t, () => ({ allowed: false }));
  const everything = { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], scope: '*' }] };
  const config = webhookConfiguration('Validating', 'gate', [hook('gate.agentgate.io', { url: wh.url }, everything)]);
  const admission = chain([config]);
  const group = 'admissionregistration.k8s.io';
  await admission.admit(attributes(config, {
    namespace: '', name: 'gate',
    resource: { group, version: 'v1', resource: 'validatingwebhookconfigurations' },
    kind: { group, version: 'v1', kind: 'ValidatingWebhookConfiguration' },
  }));
  t.is(wh.reviews.length, 0);
  const status = await statusOf(() => admission.admit(attributes(pod('web'))));
  t.is(status?.code, 400, 'the same webhook does see pods');
});
