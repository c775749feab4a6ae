// Admission end to end: real kubectl 1.31 and 1.33 against the API double, with tiny real HTTPS
// webhooks, asserting on what kubectl prints. One double per version; versions run side by side,
// the steps of one version one after another, each in its own namespace that its webhooks select.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { kubectl } from '../helpers/kubectl.ts';
import type { KubectlResult } from '../helpers/kubectl.ts';
import { CA_BUNDLE, patched, startWebhook } from './admission-helpers.ts';
import { call } from './call.ts';
import type { Answer, Review, TestWebhook } from './admission-helpers.ts';

type Json = Record<string, unknown>;

const VERSIONS = ['1.31', '1.33'] as const;
const MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Lane {
  v: string;
  api: KubeApiServer;
  dir: string;
  kubeconfig: string;
  queue: Promise<unknown>;
}

const lanes = new Map<string, Promise<Lane>>();

async function openLane(v: string): Promise<Lane> {
  const api = await createKubeApiServer({ version: v });
  const dir = await mkdtemp(join(tmpdir(), `admission-e2e-${v}-`));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  return { v, api, dir, kubeconfig, queue: Promise.resolve() };
}

/** Runs `fn` after the previous step of the same version: one kubectl and one set of webhooks at a time. */
async function step<T>(v: string, fn: (l: Lane) => Promise<T>): Promise<T> {
  let pending = lanes.get(v);
  if (!pending) {
    pending = openLane(v);
    lanes.set(v, pending);
  }
  const l = await pending;
  const run = l.queue.then(() => fn(l));
  l.queue = run.catch(() => undefined);
  return run;
}

test.after.always(async () => {
  for (const pending of lanes.values()) {
    const { api, dir } = await pending;
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});

function ok(r: KubectlResult): string {
  if (r.code !== 0) throw new Error(`kubectl failed (${String(r.code)}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function run(l: Lane, args: string[]): Promise<KubectlResult> {
  return kubectl(l.v, args, { kubeconfig: l.kubeconfig });
}

/** Writes `objects` as a YAML manifest in the lane's directory and returns its path. */
async function manifest(l: Lane, name: string, ...objects: unknown[]): Promise<string> {
  const file = join(l.dir, `${name}.yaml`);
  await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

/** A namespace of the test's own (with its default service account, as the controller would add). */
function namespace(l: Lane, name: string): string {
  l.api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

function pod(name: string, ns: string, spec: Json = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec } };
}

async function webhook(t: ExecutionContext, answer: (review: Review) => Answer): Promise<TestWebhook> {
  const server = await startWebhook(answer);
  t.teardown(() => server.close());
  return server;
}

/** One webhook entry on pod CREATE in namespace `ns` only, so steps never see each other's hooks. */
function hook(name: string, ns: string, clientConfig: Json, extra: Json = {}): Json {
  return {
    name,
    clientConfig: { caBundle: CA_BUNDLE, ...clientConfig },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...extra,
  };
}

/** Creates a webhook configuration with kubectl and deletes it when the test ends. */
async function configure(t: ExecutionContext, l: Lane, kind: 'Mutating' | 'Validating', name: string, webhooks: Json[]): Promise<void> {
  const file = await manifest(l, `config-${name}`, { apiVersion: 'admissionregistration.k8s.io/v1', kind: `${kind}WebhookConfiguration`, metadata: { name }, webhooks });
  const resource = `${kind.toLowerCase()}webhookconfigurations`;
  t.teardown(() => void l.api.objects.delete(`${resource}.admissionregistration.k8s.io`, '', name));
  t.is(ok(await run(l, ['create', '-f', file])).trim(), `${kind.toLowerCase()}webhookconfiguration.admissionregistration.k8s.io/${name} created`);
}

async function getPod(l: Lane, ns: string, name: string): Promise<{ text: string; pod: KubeObject }> {
  const text = ok(await run(l, ['get', 'pod', name, '-n', ns, '-o', 'yaml']));
  return { text, pod: parse(text) as KubeObject };
}

const specOf = (p: KubeObject | null | undefined): Json => (p?.spec ?? {}) as Json;
const listOf = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

/** The webhooks' JSONPatch: an `injected-by` label (the pods here carry no labels of their own). */
const labelPatch = (by: string) => (): Answer => patched([{ op: 'add', path: '/metadata/labels', value: { 'injected-by': by } }]);

for (const v of VERSIONS) {
  test(`kubectl ${v}: apply of a bare pod shows the ServiceAccount step's token volume and mounts`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'sa-step');
    const file = await manifest(l, 'bare', pod('bare', ns, { initContainers: [{ name: 'setup', image: 'busybox' }] }));
    t.is(ok(await run(l, ['apply', '-f', file])).trim(), 'pod/bare created');
    const { text, pod: got } = await getPod(l, ns, 'bare');
    const volume = listOf(specOf(got).volumes)[0] ?? {};
    const volumeName = String(volume.name);
    t.regex(volumeName, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    t.deepEqual(volume.projected, {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    });
    for (const c of [...listOf(specOf(got).initContainers), ...listOf(specOf(got).containers)]) {
      t.deepEqual(c.volumeMounts, [{ mountPath: MOUNT, name: volumeName, readOnly: true }], `mounts of ${String(c.name)}`);
    }
    t.is(specOf(got).serviceAccountName, 'default');
    // kubectl prints the mount as a user sees it: sorted keys, the generated name.
    t.true(text.includes(`    volumeMounts:\n    - mountPath: ${MOUNT}\n      name: ${volumeName}\n      readOnly: true\n`));
  }));

  test(`kubectl ${v}: a mutating webhook is honoured by clientConfig.url and by clientConfig.service`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'mutate');
    const byUrl = await webhook(t, labelPatch('url'));
    const byService = await webhook(t, labelPatch('service'));
    // The fixture certificate is valid for kubernetes.default.svc, the one service name it can serve.
    l.api.registerService('default', 'kubernetes', `https://127.0.0.1:${byService.port}`, 443);
    await configure(t, l, 'Mutating', 'by-url', [hook('url.e2e.agentgate.io', ns, { url: byUrl.url }, { objectSelector: { matchExpressions: [{ key: 'via', operator: 'In', values: ['url'] }] } })]);
    await configure(t, l, 'Mutating', 'by-service', [hook('service.e2e.agentgate.io', ns, { service: { namespace: 'default', name: 'kubernetes', path: '/mutate', port: 443 } }, { objectSelector: { matchExpressions: [{ key: 'via', operator: 'In', values: ['service'] }] } })]);

    for (const via of ['url', 'service'] as const) {
      const p = pod(`via-${via}`, ns);
      p.metadata.labels = { via };
      // The webhook replaces the labels it is shown, so what comes back proves which one ran.
      const file = await manifest(l, `via-${via}`, p);
      t.is(ok(await run(l, ['create', '-f', file])).trim(), `pod/via-${via} created`);
      const { text } = await getPod(l, ns, `via-${via}`);
      t.true(text.includes(`  labels:\n    injected-by: ${via}\n`), `the ${via} webhook's patch shows in get -o yaml`);
    }
    t.is(byUrl.reviews.length, 1);
    t.is(byService.reviews.length, 1);
    t.is(byService.reviews[0]?.request.dryRun, false);
  }));

  test(`kubectl ${v}: a service reference is verified against the service's DNS name, and an unregistered one fails`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'service-names');
    const wh = await webhook(t, labelPatch('service'));
    l.api.registerService('agentgate-system', 'agentgate-webhook', `https://127.0.0.1:${wh.port}`);
    await configure(t, l, 'Mutating', 'service-names', [
      hook('registered.e2e.agentgate.io', ns, { service: { namespace: 'agentgate-system', name: 'agentgate-webhook', path: '/mutate' } }, { objectSelector: { matchLabels: { case: 'registered' } } }),
      hook('unregistered.e2e.agentgate.io', ns, { service: { namespace: 'agentgate-system', name: 'ghost', path: '/mutate' } }, { objectSelector: { matchLabels: { case: 'unregistered' } } }),
    ]);
    const registered = pod('registered', ns);
    registered.metadata.labels = { case: 'registered' };
    const file = await manifest(l, 'registered', registered);
    const wrongName = await run(l, ['create', '-f', file]);
    t.is(wrongName.code, 1);
    // Dialled through the registration, but the fixture certificate does not name agentgate-webhook.
    t.is(wrongName.stderr.trim(), `Error from server (InternalError): error when creating "${file}": Internal error occurred: failed calling webhook "registered.e2e.agentgate.io": failed to call webhook: Post "https://agentgate-webhook.agentgate-system.svc:443/mutate?timeout=10s": tls: failed to verify certificate: x509: certificate is valid for localhost, kubernetes.default.svc, kubernetes, not agentgate-webhook.agentgate-system.svc`);
    t.is(wh.reviews.length, 0, 'the TLS handshake failed before any review was sent');

    const unregistered = pod('unregistered', ns);
    unregistered.metadata.labels = { case: 'unregistered' };
    const file2 = await manifest(l, 'unregistered', unregistered);
    const missing = await run(l, ['create', '-f', file2]);
    t.is(missing.code, 1);
    // The real server's service resolver fails before dialling, with no network involved.
    const prefix = `Error from server (InternalError): error when creating "${file2}": Internal error occurred: failed calling webhook "unregistered.e2e.agentgate.io": failed to call webhook: Post "https://ghost.agentgate-system.svc:443/mutate?timeout=10s": `;
    t.is(missing.stderr.trim(), `${prefix}service "ghost" not found`);
  }));

  test(`kubectl ${v}: failurePolicy Fail with the webhook stopped refuses create with the apiserver's message`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'webhook-down');
    const wh = await startWebhook(labelPatch('never'));
    await configure(t, l, 'Mutating', 'down', [hook('down.e2e.agentgate.io', ns, { url: wh.url })]);
    await wh.close();
    const file = await manifest(l, 'down', pod('blocked', ns));
    const r = await run(l, ['create', '-f', file]);
    t.is(r.code, 1);
    t.is(r.stderr.trim(), `Error from server (InternalError): error when creating "${file}": Internal error occurred: failed calling webhook "down.e2e.agentgate.io": failed to call webhook: Post "https://127.0.0.1:${wh.port}/mutate?timeout=10s": dial tcp 127.0.0.1:${wh.port}: connect: connection refused`);
    t.is(l.api.objects.get('pods', ns, 'blocked'), undefined);
  }));

  test(`kubectl ${v}: reinvocationPolicy IfNeeded runs the first webhook again on the container a later one added`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'reinvoke');
    // The stamper gives every container it is shown an env var it lacks.
    const stamper = await webhook(t, (review) => {
      const containers = listOf(specOf(review.request.object).containers);
      const ops = containers.flatMap((c, i): Json[] => {
        const env = listOf(c.env);
        if (env.some((e) => e.name === 'STAMPED')) return [];
        const entry = { name: 'STAMPED', value: 'yes' };
        return env.length === 0 ? [{ op: 'add', path: `/spec/containers/${i}/env`, value: [entry] }] : [{ op: 'add', path: `/spec/containers/${i}/env/-`, value: entry }];
      });
      return ops.length > 0 ? patched(ops) : { allowed: true };
    });
    const adder = await webhook(t, (review) => {
      const has = listOf(specOf(review.request.object).containers).some((c) => c.name === 'helper');
      return has ? { allowed: true } : patched([{ op: 'add', path: '/spec/containers/-', value: { name: 'helper', image: 'busybox' } }]);
    });
    await configure(t, l, 'Mutating', 'reinvoke', [
      hook('stamp.e2e.agentgate.io', ns, { url: stamper.url }, { reinvocationPolicy: 'IfNeeded' }),
      hook('add.e2e.agentgate.io', ns, { url: adder.url }),
    ]);
    const file = await manifest(l, 'reinvoked', pod('reinvoked', ns));
    t.is(ok(await run(l, ['create', '-f', file])).trim(), 'pod/reinvoked created');
    const { pod: got } = await getPod(l, ns, 'reinvoked');
    const containers = listOf(specOf(got).containers);
    t.deepEqual(containers.map((c) => [c.name, c.env]), [['app', [{ name: 'STAMPED', value: 'yes' }]], ['helper', [{ name: 'STAMPED', value: 'yes' }]]]);
    t.is(stamper.reviews.length, 2, 'the IfNeeded webhook is called again');
    t.is(adder.reviews.length, 1, 'a Never webhook is not');
    t.deepEqual(listOf(specOf(stamper.reviews[1]?.request.object).containers).map((c) => c.name), ['app', 'helper']);
  }));

  const denials: Array<{ name: string; status: Json; printed: (file: string) => string }> = [
    {
      name: 'a message only: code 400 without reason',
      status: { message: 'pods here need an owner label' },
      printed: (file) => `Error from server: error when creating "${file}": admission webhook "deny.e2e.agentgate.io" denied the request: pods here need an owner label`,
    },
    {
      name: 'a Forbidden reason and code 403',
      status: { code: 403, reason: 'Forbidden', message: 'agents may not create privileged pods' },
      printed: (file) => `Error from server (Forbidden): error when creating "${file}": admission webhook "deny.e2e.agentgate.io" denied the request: agents may not create privileged pods`,
    },
    {
      // kubectl words an Invalid without causes itself.
      name: 'no message: the reason stands in',
      status: { code: 422, reason: 'Invalid' },
      printed: (file) => `The request is invalid: error when creating "${file}": admission webhook "deny.e2e.agentgate.io" denied the request: Invalid`,
    },
  ];

  test(`kubectl ${v}: a validating webhook's denial, as kubectl prints it`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'deny');
    let status: Json = {};
    const gate = await webhook(t, () => ({ allowed: false, status }));
    await configure(t, l, 'Validating', 'deny', [hook('deny.e2e.agentgate.io', ns, { url: gate.url })]);
    for (const [i, row] of denials.entries()) {
      status = row.status;
      const file = await manifest(l, `denied-${i}`, pod(`denied-${i}`, ns));
      const r = await run(l, ['apply', '-f', file]);
      t.is(r.code, 1, row.name);
      t.is(r.stderr.trim(), row.printed(file), row.name);
    }
    t.is(gate.reviews.length, denials.length);
    t.is(gate.reviews[0]?.request.object?.metadata.name, 'denied-0', 'the validating webhook sees the final object');
  }));

  test(`kubectl ${v}: apply --dry-run=server reaches a sideEffects None webhook and is refused for Some`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'dry-run');
    const safe = await webhook(t, labelPatch('dry-run'));
    const unsafe = await webhook(t, () => ({ allowed: true }));
    await configure(t, l, 'Mutating', 'dry-safe', [hook('safe.e2e.agentgate.io', ns, { url: safe.url }, { sideEffects: 'None', objectSelector: { matchLabels: { effects: 'none' } } })]);
    await configure(t, l, 'Mutating', 'dry-unsafe', [hook('unsafe.e2e.agentgate.io', ns, { url: unsafe.url }, { sideEffects: 'Some', objectSelector: { matchLabels: { effects: 'some' } } })]);

    const allowed = pod('dry-none', ns);
    allowed.metadata.labels = { effects: 'none' };
    const file = await manifest(l, 'dry-none', allowed);
    t.is(ok(await run(l, ['apply', '--dry-run=server', '-f', file])).trim(), 'pod/dry-none created (server dry run)');
    t.is(safe.reviews.length, 1);
    t.is(safe.reviews[0]?.request.dryRun, true);
    t.is(l.api.objects.get('pods', ns, 'dry-none'), undefined, 'nothing is stored');
    const printed = ok(await run(l, ['apply', '--dry-run=server', '-f', file, '-o', 'yaml']));
    t.true(printed.includes('    injected-by: dry-run\n'), 'the dry-run answer carries the webhook\'s patch');

    const refused = pod('dry-some', ns);
    refused.metadata.labels = { effects: 'some' };
    const file2 = await manifest(l, 'dry-some', refused);
    const r = await run(l, ['apply', '--dry-run=server', '-f', file2]);
    t.is(r.code, 1);
    t.is(r.stderr.trim(), `Error from server (BadRequest): error when creating "${file2}": admission webhook "unsafe.e2e.agentgate.io" does not support dry run`);
    t.is(unsafe.reviews.length, 0);
  }));

  test(`kubectl ${v}: a pod whose service account does not exist is refused with the real message`, (t) => step(v, async (l) => {
    const ns = namespace(l, 'sa-missing');
    const file = await manifest(l, 'ghost', pod('ghostly', ns, { serviceAccountName: 'ghost' }));
    const r = await run(l, ['apply', '-f', file]);
    t.is(r.code, 1);
    t.is(r.stderr.trim(), `Error from server (Forbidden): error when creating "${file}": pods "ghostly" is forbidden: error looking up service account ${ns}/ghost: serviceaccount "ghost" not found`);
    t.is(l.api.objects.get('pods', ns, 'ghostly'), undefined);
  }));
}

test('the serviceResolver option answers for services registerService does not name, which wins where both do', async (t) => {
  const fromOption = await webhook(t, labelPatch('option'));
  const fromRegistry = await webhook(t, labelPatch('registry'));
  const asked: unknown[] = [];
  const api = await createKubeApiServer({
    serviceResolver: (namespace, name, port, path) => {
      asked.push([namespace, name, port, path]);
      return `https://127.0.0.1:${fromOption.port}`;
    },
  });
  t.teardown(() => api.close());
  const config = (name: string): KubeObject => ({
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name },
    webhooks: [hook(`${name}.e2e.agentgate.io`, 'default', { service: { namespace: 'default', name: 'kubernetes', path: '/mutate', port: 443 } })],
  });
  api.objects.create(config('resolved'));
  const first = await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: pod('first', 'default') });
  t.is(first.status, 201);
  t.deepEqual(first.json.metadata?.labels, { 'injected-by': 'option' });
  t.deepEqual(asked, [['default', 'kubernetes', 443, '/mutate']]);

  api.registerService('default', 'kubernetes', `https://127.0.0.1:${fromRegistry.port}`);
  const second = await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: pod('second', 'default') });
  t.deepEqual(second.json.metadata?.labels, { 'injected-by': 'registry' });
  t.is(asked.length, 1, 'the option is not asked once the service is registered');
  t.throws(() => api.registerService('default', 'kubernetes', '127.0.0.1:8443'), { message: 'registerService: url must be absolute, like https://127.0.0.1:8443, got "127.0.0.1:8443"' });
});
