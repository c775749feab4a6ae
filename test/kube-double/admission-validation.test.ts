// Built-in validation after mutating admission: the OpenAPI schema through kubernetes-models and
// the pod rules (names, mounts, native sidecars, what an update may change), as 422 Invalid.
import test from 'ava';
import { createAdmission } from '../doubles/kube-api/admission.ts';
import type { AdmissionAttributes, KubeObject } from '../doubles/kube-api/types.ts';
import { attributes, memoryStore, namespaceWithDefaultSA, pod, statusOf } from './admission-helpers.ts';

type Json = Record<string, unknown>;
const admission = createAdmission({ store: memoryStore(namespaceWithDefaultSA('team')) });
const UPDATABLE = 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

const createRows: Array<{ name: string; spec: Json; message?: string }> = [
  // schema (kubernetes-models' OpenAPI)
  { name: 'a container without a name', spec: { containers: [{ image: 'busybox' }] }, message: 'Pod "p" is invalid: spec.containers[0].name: Required value' },
  { name: 'a port of the wrong type', spec: { containers: [{ name: 'app', image: 'busybox', ports: [{ containerPort: 'http' }] }] }, message: 'Pod "p" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: "string": spec.containers[0].ports[0].containerPort in body must be of type integer: "string"' },
  // names
  { name: 'two containers with one name', spec: { containers: [{ name: 'app', image: 'a' }, { name: 'app', image: 'b' }] }, message: 'Pod "p" is invalid: spec.containers[1].name: Duplicate value: "app"' },
  { name: 'an init container named like a container', spec: { initContainers: [{ name: 'app', image: 'a' }] }, message: 'Pod "p" is invalid: spec.initContainers[0].name: Duplicate value: "app"' },
  { name: 'two volumes with one name', spec: { volumes: [{ name: 'data', emptyDir: {} }, { name: 'data', emptyDir: {} }] }, message: 'Pod "p" is invalid: spec.volumes[1].name: Duplicate value: "data"' },
  { name: 'a container without an image', spec: { containers: [{ name: 'app' }] }, message: 'Pod "p" is invalid: spec.containers[0].image: Required value' },
  // mounts
  { name: 'a mount of a volume that does not exist', spec: { containers: [{ name: 'app', image: 'a', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] }, message: 'Pod "p" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "data"' },
  {
    name: 'two mounts at one path in one container',
    spec: { volumes: [{ name: 'a', emptyDir: {} }, { name: 'b', emptyDir: {} }], containers: [{ name: 'app', image: 'a', volumeMounts: [{ name: 'a', mountPath: '/data' }, { name: 'b', mountPath: '/data' }] }] },
    message: 'Pod "p" is invalid: spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
  },
  {
    name: 'one path mounted in two containers is fine',
    spec: { volumes: [{ name: 'a', emptyDir: {} }], containers: [{ name: 'x', image: 'a', volumeMounts: [{ name: 'a', mountPath: '/data' }] }, { name: 'y', image: 'a', volumeMounts: [{ name: 'a', mountPath: '/data' }] }] },
  },
  // restartPolicy and native sidecars
  { name: 'restartPolicy on a regular container', spec: { containers: [{ name: 'app', image: 'a', restartPolicy: 'Always' }] }, message: 'Pod "p" is invalid: spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers' },
  { name: 'an init container with restartPolicy Never', spec: { initContainers: [{ name: 'side', image: 'a', restartPolicy: 'Never' }] }, message: 'Pod "p" is invalid: spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"' },
  { name: 'a native sidecar (init container with restartPolicy Always)', spec: { initContainers: [{ name: 'side', image: 'a', restartPolicy: 'Always' }] } },
  // ephemeral containers only through their subresource
  { name: 'ephemeral containers on create', spec: { ephemeralContainers: [{ name: 'debug', image: 'a' }] }, message: 'Pod "p" is invalid: spec.ephemeralContainers: Forbidden: cannot be set on create' },
  // several errors are listed together
  {
    name: 'several errors at once',
    spec: { containers: [{ name: 'app', image: 'a', restartPolicy: 'Always' }, { name: 'app', image: 'b' }] },
    message: 'Pod "p" is invalid: [spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers, spec.containers[1].name: Duplicate value: "app"]',
  },
];

for (const row of createRows) {
  test(`create: ${row.name}`, async (t) => {
    const status = await statusOf(() => admission.admit(attributes(pod('p', row.spec))));
    if (!row.message) {
      t.is(status, undefined);
      return;
    }
    t.is(status?.code, 422);
    t.is(status?.reason, 'Invalid');
    t.is(status?.message, row.message);
    t.is(status?.details?.kind, 'Pod');
    t.is(status?.details?.name, 'p');
  });
}

test('the Status of an invalid pod carries one cause per field error', async (t) => {
  const status = await statusOf(() => admission.admit(attributes(pod('p', { containers: [{ name: 'app', image: 'a' }, { name: 'app', image: 'b' }] }))));
  t.deepEqual(status?.details?.causes, [{ reason: 'FieldValueDuplicate', message: 'Duplicate value: "app"', field: 'spec.containers[1].name' }]);
});

/** A pod as the store holds it after a successful create. */
async function stored(spec: Json = {}): Promise<KubeObject> {
  const { object } = await admission.admit(attributes(pod('u', spec)));
  if (!object) throw new Error('create failed');
  return object;
}

function edit(obj: KubeObject, change: (spec: Json) => void): KubeObject {
  const copy = structuredClone(obj);
  change(copy.spec as Json);
  return copy;
}

const containers = (spec: Json): Json[] => spec.containers as Json[];

const updateRows: Array<{ name: string; base?: Json; change: (spec: Json) => void; subResource?: string; message?: string | RegExp }> = [
  // allowed changes
  { name: 'a new container image', change: (s) => { (containers(s)[0] as Json).image = 'busybox:2'; } },
  { name: 'an added toleration', change: (s) => { (s.tolerations as Json[]).push({ key: 'x', operator: 'Exists' }); } },
  { name: 'a changed tolerationSeconds', change: (s) => { ((s.tolerations as Json[])[0] as Json).tolerationSeconds = 60; } },
  { name: 'activeDeadlineSeconds set for the first time', change: (s) => { s.activeDeadlineSeconds = 30; } },
  // refused changes
  { name: 'activeDeadlineSeconds raised', base: { activeDeadlineSeconds: 30 }, change: (s) => { s.activeDeadlineSeconds = 60; }, message: 'Pod "u" is invalid: spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value' },
  { name: 'a removed toleration', change: (s) => { (s.tolerations as Json[]).pop(); }, message: 'Pod "u" is invalid: spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds' },
  { name: 'an added container', change: (s) => { containers(s).push({ name: 'more', image: 'a' }); }, message: 'Pod "u" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers' },
  { name: 'a changed service account', change: (s) => { s.serviceAccountName = 'other'; s.serviceAccount = 'other'; }, message: new RegExp(`^Pod "u" is invalid: spec: Forbidden: ${UPDATABLE.replace(/[[\]().*`]/g, '\\$&')}\\n  core\\.PodSpec\\{\\n`) },
  { name: 'hostNetwork turned on', change: (s) => { s.hostNetwork = true; }, message: /^Pod "u" is invalid: spec: Forbidden: pod updates may not change fields other than .*\n\+ \tHostNetwork: true,/s },
  { name: 'ephemeral containers added by a plain update', change: (s) => { s.ephemeralContainers = [{ name: 'debug', image: 'a' }]; }, message: /^Pod "u" is invalid: spec: Forbidden: pod updates may not change fields other than / },
  // the ephemeralcontainers subresource
  { name: 'ephemeral containers added through their subresource', subResource: 'ephemeralcontainers', change: (s) => { s.ephemeralContainers = [{ name: 'debug', image: 'a' }]; } },
  {
    name: 'an existing ephemeral container removed through the subresource',
    base: { ephemeralContainers: [{ name: 'debug', image: 'a' }] }, subResource: 'ephemeralcontainers',
    change: (s) => { s.ephemeralContainers = []; },
    message: 'Pod "u" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debug" may not be removed\n',
  },
];

for (const row of updateRows) {
  test(`update: ${row.name}`, async (t) => {
    let old = await stored();
    // A base with ephemeral containers cannot be created; the store would hold it after a subresource write.
    if (row.base) old = edit(old, (s) => Object.assign(s, row.base));
    const next = edit(old, row.change);
    const attrs: AdmissionAttributes = attributes(next, { operation: 'UPDATE', oldObject: old, subResource: row.subResource ?? '' });
    const status = await statusOf(() => admission.admit(attrs));
    if (row.message === undefined) {
      t.is(status, undefined);
      return;
    }
    t.is(status?.code, 422);
    if (typeof row.message === 'string') t.is(status?.message, row.message);
    else t.regex(status?.message ?? '', row.message);
  });
}

test('a status update is not held to the spec rules', async (t) => {
  const old = await stored();
  const next = edit(old, (s) => { s.nodeName = 'node-1'; });
  const status = await statusOf(() => admission.admit(attributes(next, { operation: 'UPDATE', oldObject: old, subResource: 'status' })));
  t.is(status, undefined);
});

test('objects of other kinds are checked against their own schema', async (t) => {
  const group = 'rbac.authorization.k8s.io';
  const role = { apiVersion: `${group}/v1`, kind: 'Role', metadata: { name: 'r', namespace: 'team' }, rules: [{ verbs: 'get' }] };
  const status = await statusOf(() => admission.admit(attributes(role, { resource: { group, version: 'v1', resource: 'roles' }, kind: { group, version: 'v1', kind: 'Role' } })));
  t.is(status?.code, 422);
  t.is(status?.message, 'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Invalid value: "string": rules[0].verbs in body must be of type array: "string"');
});
