// The webhook's small Kubernetes client against the API double: kubeconfig loading, error codes,
// watches, and the namespace-label cache behind the review lookups (trusted only when it says
// "labelled", confirmed live otherwise, so a freshly labelled namespace is injected at once).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createKubeApiServer, type KubeApiServer } from '../doubles/kube-api/server.ts';
import { apiErrorText, httpCode, kubeClient, type KubeClient } from '../../webhook/kube/client.ts';
import { kubeLookups, namespaceLabelCache } from '../../webhook/kube/lookups.ts';

let api: KubeApiServer;
let dir: string;
let kubeconfig: string;
test.before(async () => {
  api = await createKubeApiServer({ version: '1.33' });
  dir = await mkdtemp(join(tmpdir(), 'agentgate-kube-client-'));
  kubeconfig = join(dir, 'admin.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
});
test.after.always(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const inject = { key: 'agentgate.io/inject', value: 'enabled' };
type Namespace = { metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> } };

/** The real client, with its GETs of single namespaces counted (the hot path must make none). */
function counted(kube: KubeClient): KubeClient & { namespaceReads: () => number } {
  let reads = 0;
  return {
    ...kube,
    get: (path, query) => {
      if (/^\/api\/v1\/namespaces\/[^/]+$/.test(path)) reads++;
      return kube.get(path, query);
    },
    namespaceReads: () => reads,
  };
}

async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

async function label(kube: KubeClient, name: string, labels: Record<string, string>): Promise<void> {
  const current = await kube.get<Namespace>(`/api/v1/namespaces/${name}`);
  await kube.replace(`/api/v1/namespaces/${name}`, { ...current, metadata: { ...current.metadata, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
}

test('a missing object is a KubeApiError with its HTTP code and the Status message', async (t) => {
  const kube = await kubeClient(kubeconfig);
  const error = await t.throwsAsync(kube.get('/api/v1/namespaces/nowhere'));
  t.is(httpCode(error), 404);
  t.is(apiErrorText(error), 'HTTP 404: namespaces "nowhere" not found');
  t.is(httpCode(new Error('ECONNREFUSED')), undefined, 'a call that got no answer has no code');
});

const badKubeconfigs: { name: string; yaml: string; message: RegExp }[] = [
  { name: 'an exec credential (not run by the webhook)', yaml: 'apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n', message: /uses an exec or auth-provider credential/ },
  { name: 'a current context naming no cluster', yaml: 'apiVersion: v1\nkind: Config\ncurrent-context: missing\n', message: /names no usable API server/ },
];
for (const row of badKubeconfigs) {
  test(`a kubeconfig with ${row.name} is refused at start`, async (t) => {
    const file = join(dir, `${row.name.replace(/\W+/g, '-')}.kubeconfig`);
    await writeFile(file, row.yaml);
    await t.throwsAsync(kubeClient(file), { message: row.message });
  });
}

test('namespace labels: cached when labelled (no API call), confirmed live otherwise, and a fresh label applies at once', async (t) => {
  const admin = await kubeClient(kubeconfig);
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cached-agents', labels: { [inject.key]: inject.value } } });
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'later-agents' } });
  const kube = counted(admin);
  const cache = namespaceLabelCache({ kube, retryMs: 50 });
  const controller = new AbortController();
  const running = cache.run(controller.signal);
  t.teardown(async () => {
    controller.abort();
    await running;
  });
  const lookups = kubeLookups(kube, { inject, cache });
  t.true(await eventually(() => cache.get('cached-agents') !== undefined), 'the cache never listed the namespaces');

  const before = kube.namespaceReads();
  for (let i = 0; i < 5; i++) t.is((await lookups.namespaceLabels('cached-agents'))[inject.key], inject.value);
  t.is(kube.namespaceReads(), before, 'a labelled namespace in the cache is answered without an API call');

  // Labelled now: whether or not the watch has delivered it yet, the answer is "labelled".
  await label(admin, 'later-agents', { [inject.key]: inject.value });
  t.is((await lookups.namespaceLabels('later-agents'))[inject.key], inject.value);

  // The label removed: the cache still says "labelled" until the watch event, then reads live.
  await label(admin, 'cached-agents', {});
  t.true(await eventually(() => cache.get('cached-agents')?.[inject.key] === undefined), 'the watch never delivered the change');
  const reads = kube.namespaceReads();
  t.is((await lookups.namespaceLabels('cached-agents'))[inject.key], undefined);
  t.is(kube.namespaceReads(), reads + 1, 'an unlabelled answer is confirmed by a live read');

  await t.throwsAsync(lookups.namespaceLabels('never-created'), { message: 'namespace never-created could not be read: HTTP 404: namespaces "never-created" not found' });
});
