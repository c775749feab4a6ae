// The kubectl matrix: real kubectl 1.27, 1.31, 1.33 and 1.35 against the API double, asserting on
// what a user sees. One double per kubectl version (same minor); versions run side by side, the
// steps of one version one after another.
import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { KUBECTL_VERSIONS, kubectl, startKubectl } from '../helpers/kubectl.ts';
import type { KubectlResult } from '../helpers/kubectl.ts';

interface Lane {
  api: KubeApiServer;
  dir: string;
  kubeconfig: string;
  viewerKubeconfig: string;
  queue: Promise<unknown>;
}

const lanes = new Map<string, Promise<Lane>>();
const VIEWER_TOKEN = 'viewer-token-0123456789';

async function openLane(version: string): Promise<Lane> {
  const api = await createKubeApiServer({ version, staticTokens: { [VIEWER_TOKEN]: { username: 'viewer', groups: ['viewers'] } } });
  api.objects.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'viewers' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'viewers' }] });
  const dir = await mkdtemp(join(tmpdir(), `kubectl-${version}-`));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  const viewerKubeconfig = join(dir, 'viewer.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  await api.writeKubeconfig(viewerKubeconfig, VIEWER_TOKEN);
  return { api, dir, kubeconfig, viewerKubeconfig, queue: Promise.resolve() };
}

function lane(version: string): Promise<Lane> {
  let l = lanes.get(version);
  if (!l) {
    l = openLane(version);
    lanes.set(version, l);
  }
  return l;
}

/** Runs `fn` after the previous step of the same version, so one kubectl per version runs at once. */
async function step<T>(version: string, fn: (l: Lane) => Promise<T>): Promise<T> {
  const l = await lane(version);
  const run = l.queue.then(() => fn(l));
  l.queue = run.catch(() => undefined);
  return run;
}

test.after.always(async () => {
  for (const l of lanes.values()) {
    const { api, dir } = await l;
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});

function ok(r: KubectlResult): string {
  if (r.code !== 0) throw new Error(`kubectl failed (${String(r.code)}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function pod(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } };
}

for (const v of KUBECTL_VERSIONS) {
  test(`kubectl ${v}: get prints the server's table and -o yaml the object`, (t) => step(v, async ({ api, kubeconfig }) => {
    api.objects.create(pod('table-pod'));
    const table = ok(await kubectl(v, ['get', 'pods'], { kubeconfig }));
    t.regex(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    t.regex(table, /\ntable-pod\s+1\/1\s+Running\s+0\s+\d+s\n/);
    const yaml = ok(await kubectl(v, ['get', 'pod', 'table-pod', '-o', 'yaml'], { kubeconfig }));
    t.regex(yaml, /^apiVersion: v1\nkind: Pod\n/);
    t.regex(yaml, /\n {2}name: table-pod\n/);
    t.regex(yaml, /\n {2}phase: Running\n/);
    const missing = await kubectl(v, ['get', 'pod', 'nope'], { kubeconfig });
    t.is(missing.code, 1);
    t.is(missing.stderr.trim(), 'Error from server (NotFound): pods "nope" not found');
  }));

  test(`kubectl ${v}: get -w prints a pod created while it watches`, (t) => step(v, async ({ api, kubeconfig }) => {
    const watch = await startKubectl(v, ['get', 'pods', '-w', '-l', 'watch=me'], { kubeconfig });
    try {
      const created = pod('watched-pod', { watch: 'me' });
      const deadline = Date.now() + 15_000;
      // Create once the watch is established: the double counts open watches on pods.
      while (Date.now() < deadline && !api.objects.get('pods', 'default', 'watched-pod')) {
        if (await watchOpen(api)) api.objects.create(created);
        else await new Promise((r) => setTimeout(r, 50));
      }
      const out = await watch.waitFor(/watched-pod\s+1\/1\s+Running/);
      t.regex(out, /NAME\s+READY\s+STATUS/);
    } finally {
      await watch.stop();
    }
  }));

  test(`kubectl ${v}: describe pod shows its state and events`, (t) => step(v, async ({ api, kubeconfig }) => {
    const p = api.objects.create(pod('described'));
    api.objects.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'described.1', namespace: 'default' }, involvedObject: { kind: 'Pod', namespace: 'default', name: 'described', uid: p.metadata.uid, apiVersion: 'v1' }, reason: 'Pulled', message: 'Container image "nginx:1.27" already present on machine', type: 'Normal', source: { component: 'kubelet' }, count: 1, firstTimestamp: p.metadata.creationTimestamp, lastTimestamp: p.metadata.creationTimestamp });
    const out = ok(await kubectl(v, ['describe', 'pod', 'described'], { kubeconfig }));
    t.regex(out, /^Name:\s+described$/m);
    t.regex(out, /^Status:\s+Running$/m);
    t.regex(out, /Normal\s+Pulled\s+\S+\s+kubelet\s+Container image "nginx:1.27" already present on machine/);
  }));

  test(`kubectl ${v}: create, patch (strategic, merge, json) and delete`, (t) => step(v, async ({ api, kubeconfig }) => {
    t.is(ok(await kubectl(v, ['create', 'configmap', 'settings', '--from-literal=color=blue'], { kubeconfig })).trim(), 'configmap/settings created');
    t.is(ok(await kubectl(v, ['patch', 'configmap', 'settings', '-p', '{"data":{"size":"L"}}'], { kubeconfig })).trim(), 'configmap/settings patched');
    t.is(ok(await kubectl(v, ['patch', 'configmap', 'settings', '--type=merge', '-p', '{"data":{"color":null}}'], { kubeconfig })).trim(), 'configmap/settings patched');
    t.is(ok(await kubectl(v, ['patch', 'configmap', 'settings', '--type=json', '-p', '[{"op":"add","path":"/data/shape","value":"round"}]'], { kubeconfig })).trim(), 'configmap/settings patched');
    t.is(ok(await kubectl(v, ['patch', 'configmap', 'settings', '--type=merge', '-p', '{"data":{"shape":"round"}}'], { kubeconfig })).trim(), 'configmap/settings patched (no change)');
    t.deepEqual(api.objects.get('configmaps', 'default', 'settings')?.data, { size: 'L', shape: 'round' });
    // kubectl 1.35 names the namespace; older ones do not.
    t.regex(ok(await kubectl(v, ['delete', 'configmap', 'settings'], { kubeconfig })).trim(), /^configmap "settings" deleted( from default namespace)?$/);
    t.is(api.objects.get('configmaps', 'default', 'settings'), undefined);
  }));

  test(`kubectl ${v}: apply, client-side then server-side`, (t) => step(v, async ({ api, kubeconfig, dir }) => {
    const file = join(dir, 'applied.yaml');
    const manifest = (color: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels:\n    color: ${color}\ndata:\n  color: ${color}\n`;
    await writeFile(file, manifest('blue'));
    t.is(ok(await kubectl(v, ['apply', '-f', file], { kubeconfig })).trim(), 'configmap/applied created');
    await writeFile(file, manifest('green'));
    t.is(ok(await kubectl(v, ['apply', '-f', file], { kubeconfig })).trim(), 'configmap/applied configured');
    const stored = api.objects.get('configmaps', 'default', 'applied');
    t.is(stored?.metadata.labels?.color, 'green');
    t.regex(stored?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'] ?? '', /"color":"green"/);
    const ssa = join(dir, 'ssa.yaml');
    await writeFile(ssa, manifest('red').replace('name: applied', 'name: ssa'));
    t.is(ok(await kubectl(v, ['apply', '--server-side', '-f', ssa], { kubeconfig })).trim(), 'configmap/ssa serverside-applied');
    await writeFile(ssa, manifest('teal').replace('name: applied', 'name: ssa'));
    t.is(ok(await kubectl(v, ['apply', '--server-side', '-f', ssa], { kubeconfig })).trim(), 'configmap/ssa serverside-applied');
    const applied = api.objects.get('configmaps', 'default', 'ssa');
    t.deepEqual(applied?.data, { color: 'teal' });
    t.true((applied?.metadata.managedFields ?? []).some((m) => m.manager === 'kubectl' && m.operation === 'Apply'));
  }));

  test(`kubectl ${v}: edit with a scripted editor`, (t) => step(v, async ({ api, kubeconfig, dir }) => {
    api.objects.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'edited', namespace: 'default' }, data: { color: 'blue' } });
    const editor = join(dir, 'editor.sh');
    await writeFile(editor, '#!/bin/sh\nsed -i "s/color: blue/color: green/" "$1"\n');
    await chmod(editor, 0o755);
    const out = ok(await kubectl(v, ['edit', 'configmap', 'edited'], { kubeconfig, env: { KUBE_EDITOR: editor } }));
    t.is(out.trim(), 'configmap/edited edited');
    t.deepEqual(api.objects.get('configmaps', 'default', 'edited')?.data, { color: 'green' });
  }));

  test(`kubectl ${v}: logs -f streams lines appended later`, (t) => step(v, async ({ api, kubeconfig }) => {
    api.objects.create(pod('logger'));
    api.setPodLogs('default', 'logger', 'app', ['first line', 'second line']);
    const logs = await startKubectl(v, ['logs', '-f', 'logger'], { kubeconfig });
    try {
      await logs.waitFor(/second line\n/);
      api.appendPodLog('default', 'logger', 'app', ['third line']);
      t.is(await logs.waitFor(/third line\n/), 'first line\nsecond line\nthird line\n');
    } finally {
      await logs.stop();
    }
    t.is(ok(await kubectl(v, ['logs', 'logger', '--tail=1'], { kubeconfig })), 'third line\n');
  }));

  test(`kubectl ${v}: auth can-i and whoami, and a 403 for a viewer`, (t) => step(v, async ({ kubeconfig, viewerKubeconfig }) => {
    t.is(ok(await kubectl(v, ['auth', 'can-i', 'create', 'pods'], { kubeconfig })).trim(), 'yes');
    const no = await kubectl(v, ['auth', 'can-i', 'create', 'pods'], { kubeconfig: viewerKubeconfig });
    t.is(no.code, 1);
    t.is(no.stdout.trim(), 'no');
    t.is(ok(await kubectl(v, ['auth', 'can-i', 'list', 'pods'], { kubeconfig: viewerKubeconfig })).trim(), 'yes');
    const who = ok(await kubectl(v, ['auth', 'whoami'], { kubeconfig: viewerKubeconfig }));
    t.regex(who, /Username\s+viewer/);
    t.regex(who, /Groups\s+\[viewers system:authenticated\]/);
    const denied = await kubectl(v, ['get', 'secrets'], { kubeconfig: viewerKubeconfig });
    t.is(denied.code, 1);
    t.is(denied.stderr.trim(), 'Error from server (Forbidden): secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default"');
  }));
}

/** Whether a watch on pods is open (kubectl has listed and started watching). */
async function watchOpen(api: KubeApiServer): Promise<boolean> {
  return api.openWatches('pods') > 0;
}

