// The API double as the server versions agentgate meets (1.28, 1.29, 1.31, 1.33), seen by kubectl
// 1.33 and by raw requests: /version, the aggregated discovery forms each serves, and native
// sidecars, which a 1.28 server (SidecarContainers off by default) drops without an error.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import type { KubeApiServer } from '../doubles/kube-api/server.ts';
import { kubectl } from '../helpers/kubectl.ts';
import type { KubectlResult } from '../helpers/kubectl.ts';
import { call } from './call.ts';
import { CA_BUNDLE, patched, startWebhook } from './admission-helpers.ts';

type Json = Record<string, unknown>;

const CLIENT = '1.33';
const SERVERS = ['1.28', '1.29', '1.31', '1.33'] as const;
const V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

interface Lane {
  api: KubeApiServer;
  dir: string;
  kubeconfig: string;
  queue: Promise<unknown>;
}

const lanes = new Map<string, Promise<Lane>>();

async function openLane(version: string): Promise<Lane> {
  const api = await createKubeApiServer({ version });
  const dir = await mkdtemp(join(tmpdir(), `versions-${version}-`));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  return { api, dir, kubeconfig, queue: Promise.resolve() };
}

/** Runs `fn` after the previous step on the same server version. */
async function step<T>(version: string, fn: (l: Lane) => Promise<T>): Promise<T> {
  let pending = lanes.get(version);
  if (!pending) {
    pending = openLane(version);
    lanes.set(version, pending);
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

const minor = (version: string): number => Number(version.split('.')[1]);

for (const version of SERVERS) {
  test(`server ${version}: kubectl ${CLIENT} version reports the server's gitVersion`, (t) => step(version, async (l) => {
    const r = await kubectl(CLIENT, ['version', '-o', 'json'], { kubeconfig: l.kubeconfig });
    const out = JSON.parse(ok(r)) as { clientVersion: Json; serverVersion: Json };
    t.regex(String(out.clientVersion.gitVersion), /^v1\.33\./);
    t.is(out.serverVersion.gitVersion, `v${version}.0`);
    t.is(out.serverVersion.minor, String(minor(version)));
    // Compatibility versions appear in /version from 1.33.
    t.is(out.serverVersion.emulationMinor, minor(version) >= 33 ? String(minor(version)) : undefined);
    // kubectl's own skew check reads the same field.
    const skewed = minor(version) < 32;
    t.is(r.stderr.includes(`WARNING: version difference between client (1.33) and server (${version}) exceeds the supported minor version skew of +/-1`), skewed);
  }));

  test(`server ${version}: aggregated discovery forms follow the version`, (t) => step(version, async (l) => {
    // What kubectl 1.27-1.29 sends: v2beta1 where it is still served (before 1.33), else legacy.
    const old = await call(l.api, 'GET', '/apis', { accept: `${V2BETA1},application/json` });
    t.is(old.status, 200);
    t.is(old.headers['content-type'], minor(version) < 33 ? V2BETA1 : 'application/json');
    t.is(old.json.kind, minor(version) < 33 ? 'APIGroupDiscoveryList' : 'APIGroupList');
    const only = await call(l.api, 'GET', '/api', { accept: V2BETA1 });
    t.is(only.status, minor(version) < 33 ? 200 : 406);
    if (minor(version) >= 30) {
      // apidiscovery.k8s.io/v2 arrived in 1.30.
      const current = await call(l.api, 'GET', '/apis', { accept: `${V2},${V2BETA1},application/json` });
      t.is(current.headers['content-type'], V2);
    }
  }));

  test(`server ${version}: an init container with restartPolicy Always is ${minor(version) < 29 ? 'dropped to a plain init container' : 'kept as a native sidecar'}`, (t) => step(version, async (l) => {
    const sidecar = (name: string): Json => ({ name, image: 'busybox', restartPolicy: 'Always' });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'with-sidecar', namespace: 'default' }, spec: { initContainers: [sidecar('proxy')], containers: [{ name: 'app', image: 'busybox' }] } };
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'with-sidecar', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: pod.spec } },
    };
    // A webhook that adds a second sidecar, as agentgate's injector does.
    const injector = await startWebhook(() => patched([{ op: 'add', path: '/spec/initContainers/-', value: sidecar('injected') }]));
    t.teardown(() => injector.close());
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'inject' },
      webhooks: [{
        name: 'inject.versions.agentgate.io', clientConfig: { url: injector.url, caBundle: CA_BUNDLE },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'],
      }],
    };
    const file = join(l.dir, 'sidecar.yaml');
    await writeFile(file, [config, pod, deployment].map((o) => stringify(o)).join('---\n'));
    t.is(ok(await kubectl(CLIENT, ['apply', '-f', file], { kubeconfig: l.kubeconfig })).trim(), [
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/inject created', 'pod/with-sidecar created', 'deployment.apps/with-sidecar created',
    ].join('\n'));
    const policies = (resource: string, path: string): Promise<string> =>
      kubectl(CLIENT, ['get', resource, 'with-sidecar', '-o', `jsonpath={range ${path}[*]}{.name}={.restartPolicy};{end}`], { kubeconfig: l.kubeconfig }).then(ok);
    const kept = minor(version) >= 29 ? 'Always' : '';
    t.is(await policies('pod', '.spec.initContainers'), `proxy=${kept};injected=${kept};`);
    t.is(await policies('deployment', '.spec.template.spec.initContainers'), `proxy=${kept};`);
    // The field is dropped after mutating admission: the webhook still saw the client's sidecar.
    t.is(listOf(specOf(injector.reviews[0]?.request.object).initContainers)[0]?.restartPolicy, 'Always');
  }));
}

const specOf = (o: unknown): Json => ((o as { spec?: Json } | null)?.spec ?? {});
const listOf = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
