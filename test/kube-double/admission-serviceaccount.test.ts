// The built-in mutating plugins of the admission chain: ServiceAccount (token volume and mounts,
// missing accounts, automount), Priority and DefaultTolerationSeconds, with no webhook configured.
import test from 'ava';
import { createAdmission } from '../doubles/kube-api/admission.ts';
import { admitServiceAccount } from '../doubles/kube-api/admission-serviceaccount.ts';
import type { KubeObject } from '../doubles/kube-api/types.ts';
import { attributes, memoryStore, namespaceWithDefaultSA, pod, statusOf } from './admission-helpers.ts';

const MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const VOLUME_NAME = /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/;

type Json = Record<string, unknown>;
const spec = (obj: KubeObject | undefined): Json => (obj?.spec ?? {}) as Json;
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

const store = memoryStore([
  ...namespaceWithDefaultSA('team'),
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'quiet', namespace: 'team' }, automountServiceAccountToken: false },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'puller', namespace: 'team' }, imagePullSecrets: [{ name: 'registry' }] },
]);
const admission = createAdmission({ store });

test('a bare pod gains the default service account, the projected token volume and a read-only mount in every container', async (t) => {
  const input = pod('bare', {
    initContainers: [{ name: 'init', image: 'busybox' }],
    containers: [{ name: 'app', image: 'busybox' }, { name: 'side', image: 'busybox' }],
  });
  const { object } = await admission.admit(attributes(input));
  const s = spec(object);
  t.is(s.serviceAccountName, 'default');
  t.is(s.serviceAccount, 'default', 'the deprecated alias mirrors the name');
  const volumes = list(s.volumes);
  t.is(volumes.length, 1);
  const volume = volumes[0] ?? {};
  t.regex(String(volume.name), VOLUME_NAME);
  t.deepEqual(volume.projected, {
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
    defaultMode: 420,
  });
  for (const c of [...list(s.initContainers), ...list(s.containers)]) {
    t.deepEqual(c.volumeMounts, [{ name: volume.name, readOnly: true, mountPath: MOUNT }], `container ${String(c.name)}`);
  }
  t.is(input.spec && (input.spec as Json).volumes, undefined, 'the caller\'s object is not modified');
});

test('two pods get different token volume names', async (t) => {
  const names = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const { object } = await admission.admit(attributes(pod(`p${i}`)));
    names.add(String(list(spec(object).volumes)[0]?.name));
  }
  t.true(names.size > 1);
});

interface MountRow { name: string; input: KubeObject; check: (s: Json) => void }
const mountRows: Array<Omit<MountRow, 'check'> & { expectVolumes: number; expectMounts: Record<string, number>; expectSA: string }> = [
  // automount decisions: the pod wins, then the service account, then the default (mount)
  { name: 'automountServiceAccountToken false on the pod', input: pod('a', { automountServiceAccountToken: false }), expectVolumes: 0, expectMounts: { app: 0 }, expectSA: 'default' },
  { name: 'automountServiceAccountToken false on the service account', input: pod('b', { serviceAccountName: 'quiet' }), expectVolumes: 0, expectMounts: { app: 0 }, expectSA: 'quiet' },
  { name: 'the pod\'s true overrides the service account\'s false', input: pod('c', { serviceAccountName: 'quiet', automountServiceAccountToken: true }), expectVolumes: 1, expectMounts: { app: 1 }, expectSA: 'quiet' },
  // the deprecated alias is read when the name is empty
  { name: 'deprecated serviceAccount alone names the account', input: pod('d', { serviceAccount: 'quiet' }), expectVolumes: 0, expectMounts: { app: 0 }, expectSA: 'quiet' },
  // containers that already mount the path are skipped
  {
    name: 'a container that already mounts the token path is skipped',
    input: pod('e', { volumes: [{ name: 'own', emptyDir: {} }], containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'own', mountPath: MOUNT }] }, { name: 'other', image: 'x' }] }),
    expectVolumes: 2, expectMounts: { app: 1, other: 1 }, expectSA: 'default',
  },
  {
    name: 'no volume is added when every container already mounts the path',
    input: pod('f', { volumes: [{ name: 'own', emptyDir: {} }], containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'own', mountPath: MOUNT }] }] }),
    expectVolumes: 1, expectMounts: { app: 1 }, expectSA: 'default',
  },
];

for (const row of mountRows) {
  test(`service account plugin: ${row.name}`, async (t) => {
    const { object } = await admission.admit(attributes(row.input));
    const s = spec(object);
    t.is(s.serviceAccountName, row.expectSA);
    t.is(list(s.volumes).length, row.expectVolumes);
    const all = [...list(s.containers), ...list(s.initContainers), ...list(s.ephemeralContainers)];
    for (const [name, count] of Object.entries(row.expectMounts)) {
      const c = all.find((x) => x.name === name);
      t.is(list(c?.volumeMounts).length, count, `mounts of ${name}`);
    }
  });
}

test('the plugin itself never mounts the token into ephemeral containers', (t) => {
  const input = pod('g', { ephemeralContainers: [{ name: 'debug', image: 'x' }] });
  admitServiceAccount(input, attributes(input), store);
  t.is(list(list(spec(input).containers)[0]?.volumeMounts).length, 1);
  t.is(list(list(spec(input).ephemeralContainers)[0]?.volumeMounts).length, 0);
});

test('an existing kube-api-access volume is reused rather than duplicated', async (t) => {
  const input = pod('reuse', { volumes: [{ name: 'kube-api-access-abcde', emptyDir: {} }] });
  const { object } = await admission.admit(attributes(input));
  const s = spec(object);
  t.deepEqual(list(s.volumes).map((v) => v.name), ['kube-api-access-abcde']);
  t.is(list(list(s.containers)[0]?.volumeMounts)[0]?.name, 'kube-api-access-abcde');
});

test('the service account\'s imagePullSecrets are copied to a pod that has none', async (t) => {
  const { object } = await admission.admit(attributes(pod('pull', { serviceAccountName: 'puller' })));
  t.deepEqual(spec(object).imagePullSecrets, [{ name: 'registry' }]);
});

const refusals = [
  { name: 'a named service account that does not exist', input: pod('x', { serviceAccountName: 'ghost' }), message: 'pods "x" is forbidden: error looking up service account team/ghost: serviceaccount "ghost" not found' },
  { name: 'a namespace without its default service account', input: pod('y', {}, { namespace: 'empty' }), message: 'pods "y" is forbidden: error looking up service account empty/default: serviceaccount "default" not found' },
  { name: 'an unknown priority class', input: pod('z', { priorityClassName: 'urgent' }), message: 'pods "z" is forbidden: no PriorityClass with name urgent was found' },
];

for (const row of refusals) {
  test(`refused with 403: ${row.name}`, async (t) => {
    const status = await statusOf(() => admission.admit(attributes(row.input, { namespace: row.input.metadata.namespace ?? '' })));
    t.is(status?.code, 403);
    t.is(status?.reason, 'Forbidden');
    t.is(status?.message, row.message);
  });
}

test('the plugins leave updates, subresources and other resources alone', async (t) => {
  const p = pod('upd');
  for (const attrs of [
    attributes(p, { operation: 'UPDATE', oldObject: p }),
    attributes(p, { subResource: 'status', operation: 'UPDATE', oldObject: p }),
    attributes({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'team' } }, { resource: { group: '', version: 'v1', resource: 'configmaps' }, kind: { group: '', version: 'v1', kind: 'ConfigMap' } }),
  ]) {
    const { object } = await admission.admit(attrs);
    t.is(spec(object).volumes, undefined, `${attrs.operation} ${attrs.resource.resource}/${attrs.subResource}`);
  }
});

test('Priority and DefaultTolerationSeconds default a created pod as the real plugins do', async (t) => {
  const { object } = await admission.admit(attributes(pod('prio', { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 }] })));
  const s = spec(object);
  t.is(s.priority, 0);
  t.is(s.preemptionPolicy, 'PreemptLowerPriority');
  t.deepEqual(s.tolerations, [
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 10 },
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ]);
});
