// Escaping the gate as someone who can create pods in a labelled namespace: every pod shape that
// would leave a credential reachable from an agent container (its own tokens, the sidecar's broker
// token, pod certificates, service-account-token Secrets, shared process namespaces, host
// namespaces, privileges, debug containers) is refused with its reason code, whatever spelling the
// pod uses; and the Secrets and TokenRequests that would smuggle a token in later are refused too.
import test from 'ava';
import jsonpatch, { type Operation } from 'fast-json-patch';
import type { ReasonCode } from '../../src/contracts/reasons.ts';
import type { AdmissionRequest, UserInfo } from '../../webhook/admission.ts';
import { injectEphemeral, injectPod } from '../../webhook/inject/index.ts';
import { validateAdmission, validateOptions } from '../../webhook/validate/index.ts';
import { options } from '../webhook/fixtures.ts';

type Json = Record<string, unknown>;

/** The volume the ServiceAccount admission plugin adds before any webhook runs. */
const pluginVolume = {
  name: 'kube-api-access-x7k2p',
  projected: {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
  },
};
const pluginMount = { name: pluginVolume.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };

/** A pod as the API server hands it to the mutating webhook, with `change` applied to its spec. */
function pod(change: (spec: Json, app: Json) => void = () => {}): Json {
  const app: Json = { name: 'agent', image: 'agent:1', volumeMounts: [pluginMount] };
  const spec: Json = { serviceAccountName: 'agent-a', containers: [app], volumes: [pluginVolume] };
  change(spec, app);
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-0', namespace: 'agents' }, spec };
}

const mountAt = (path: string, volume = 'data') => (spec: Json, app: Json) => {
  spec.volumes = [pluginVolume, { name: volume, emptyDir: {} }];
  app.volumeMounts = [pluginMount, { name: volume, mountPath: path }];
};

const secretTypes = new Map<string, string | null>([['legacy-token', 'kubernetes.io/service-account-token'], ['app-config', 'Opaque'], ['not-yet', null]]);

const refused: Array<{ name: string; pod: Json; code: ReasonCode }> = [
  // --- the pod's own credentials
  { name: 'a projected token with the broker audience', pod: pod((spec, app) => { spec.volumes = [pluginVolume, { name: 'tok', projected: { sources: [{ serviceAccountToken: { audience: 'agentgate-broker', path: 'token' } }] } }]; app.volumeMounts = [{ name: 'tok', mountPath: '/tok' }]; }), code: 'service-account-token-volume' },
  { name: 'a projected API token hidden beside a ConfigMap', pod: pod((spec) => { spec.volumes = [pluginVolume, { name: 'cfg', projected: { sources: [{ configMap: { name: 'c' } }, { serviceAccountToken: { path: 't' } }] } }]; }), code: 'service-account-token-volume' },
  { name: 'a look-alike of the plugin volume with a fourth source', pod: pod((spec) => { spec.volumes = [{ ...pluginVolume, name: 'kube-api-access-fake', projected: { sources: [...pluginVolume.projected.sources, { secret: { name: 'app-config' } }] } }, pluginVolume]; }), code: 'service-account-token-volume' },
  { name: 'a pod certificate (podCertificate projection)', pod: pod((spec) => { spec.volumes = [pluginVolume, { name: 'cert', projected: { sources: [{ podCertificate: { signerName: 'kubernetes.io/kube-apiserver-client-pod', keyType: 'ED25519', credentialBundlePath: 'creds.pem' } }] } }]; }), code: 'service-account-token-volume' },
  { name: 'a service-account-token Secret as a volume', pod: pod((spec) => { spec.volumes = [pluginVolume, { name: 's', secret: { secretName: 'legacy-token' } }]; }), code: 'service-account-token-secret-use' },
  { name: 'a service-account-token Secret through envFrom', pod: pod((_spec, app) => { app.envFrom = [{ secretRef: { name: 'legacy-token' } }]; }), code: 'service-account-token-secret-use' },
  { name: 'a service-account-token Secret through secretKeyRef', pod: pod((_spec, app) => { app.env = [{ name: 'T', valueFrom: { secretKeyRef: { name: 'legacy-token', key: 'token' } } }]; }), code: 'service-account-token-secret-use' },
  // --- the sidecar's credentials
  { name: 'an agent container mounting the broker-token volume', pod: pod((spec, app) => { spec.volumes = [pluginVolume, { name: 'agentgate-broker-token', emptyDir: {} }]; app.volumeMounts = [{ name: 'agentgate-broker-token', mountPath: '/steal' }]; }), code: 'service-account-token-volume' },
  { name: 'an init container mounting the broker-token volume', pod: pod((spec) => { spec.volumes = [pluginVolume, { name: 'agentgate-broker-token', emptyDir: {} }]; spec.initContainers = [{ name: 'early', image: 'x', volumeMounts: [{ name: 'agentgate-broker-token', mountPath: '/steal' }] }]; }), code: 'service-account-token-volume' },
  { name: "shareProcessNamespace (the sidecar's /proc/<pid>/root and environ)", pod: pod((spec) => { spec.shareProcessNamespace = true; }), code: 'share-process-namespace' },
  { name: 'hostPID', pod: pod((spec) => { spec.hostPID = true; }), code: 'host-namespace' },
  { name: 'hostNetwork (the loopback API from the node)', pod: pod((spec) => { spec.hostNetwork = true; }), code: 'host-namespace' },
  { name: 'hostIPC', pod: pod((spec) => { spec.hostIPC = true; }), code: 'host-namespace' },
  { name: 'a hostPath to the kubelet pod directories', pod: pod((spec) => { spec.volumes = [pluginVolume, { name: 'pods', hostPath: { path: '/var/lib/kubelet/pods' } }]; }), code: 'host-path' },
  { name: 'a privileged agent', pod: pod((_spec, app) => { app.securityContext = { privileged: true }; }), code: 'privileged-pod' },
  { name: 'SYS_PTRACE spelled CAP_sys_ptrace', pod: pod((_spec, app) => { app.securityContext = { capabilities: { add: ['CAP_sys_ptrace'] } }; }), code: 'capability-not-allowed' },
  { name: 'NET_ADMIN (redirect the sidecar upstream)', pod: pod((_spec, app) => { app.securityContext = { capabilities: { add: ['NET_ADMIN'] } }; }), code: 'capability-not-allowed' },
  { name: 'a container named like the sidecar', pod: pod((spec) => { spec.containers = [{ name: 'agentgate-sidecar', image: 'evil' }]; }), code: 'agentgate-name-collision' },
  { name: "agentgate's zero-permission account chosen directly", pod: pod((spec) => { spec.serviceAccountName = 'agentgate-agent'; }), code: 'agentgate-name-collision' },
  // --- the service-account directory under another spelling
  { name: 'a mount at the exact service-account path', pod: pod(mountAt('/var/run/secrets/kubernetes.io/serviceaccount')), code: 'service-account-path-mount' },
  { name: 'the path with a double slash', pod: pod(mountAt('/var/run/secrets/kubernetes.io//serviceaccount')), code: 'service-account-path-mount' },
  { name: 'the path with a trailing slash', pod: pod(mountAt('/var/run/secrets/kubernetes.io/serviceaccount/')), code: 'service-account-path-mount' },
  { name: 'the path with a dot segment', pod: pod(mountAt('/var/run/secrets/kubernetes.io/./serviceaccount')), code: 'service-account-path-mount' },
  { name: 'the /run alias of /var/run', pod: pod(mountAt('/run/secrets/kubernetes.io/serviceaccount')), code: 'service-account-path-mount' },
  { name: 'a file inside the directory', pod: pod(mountAt('/var/run/secrets/kubernetes.io/serviceaccount//token')), code: 'service-account-path-mount' },
];

for (const row of refused) {
  test(`pod refused: ${row.name}`, (t) => {
    const result = injectPod(row.pod, 'agents', options, secretTypes);
    t.true('refused' in result, 'not admitted');
    if ('refused' in result) t.is(result.refused.code, row.code);
  });
}

const admitted: Array<{ name: string; pod: Json }> = [
  { name: 'a plain agent pod', pod: pod() },
  { name: 'a mount beside the service-account directory', pod: pod(mountAt('/var/run/secrets/kubernetes.io/serviceaccounts')) },
  { name: 'an Opaque Secret through envFrom', pod: pod((_spec, app) => { app.envFrom = [{ secretRef: { name: 'app-config' } }]; }) },
];

for (const row of admitted) {
  test(`pod admitted without a credential: ${row.name}`, (t) => {
    const result = injectPod(row.pod, 'agents', options, secretTypes);
    t.false('refused' in result);
    if ('refused' in result) return;
    const patched = jsonpatch.applyPatch(structuredClone(row.pod), result.patch as Operation[]).newDocument as { spec: Json };
    const spec = patched.spec as { automountServiceAccountToken?: boolean; serviceAccountName?: string; volumes: Json[]; initContainers: Json[]; containers: Json[] };
    t.false(spec.automountServiceAccountToken);
    t.is(spec.serviceAccountName, 'agentgate-agent');
    // The only token left is the broker's, in a volume that only the sidecar mounts.
    const tokenVolumes = spec.volumes.filter((v) => JSON.stringify(v).includes('serviceAccountToken')).map((v) => v.name);
    t.deepEqual(tokenVolumes, ['agentgate-broker-token']);
    const mounting = [...spec.initContainers, ...spec.containers].filter((c) => JSON.stringify(c.volumeMounts ?? []).includes('agentgate-broker-token')).map((c) => c.name);
    t.deepEqual(mounting, ['agentgate-sidecar']);
    for (const c of spec.containers) t.deepEqual((c.env as Json[]).find((e) => e.name === 'KUBERNETES_SERVICE_HOST'), { name: 'KUBERNETES_SERVICE_HOST', value: '127.0.0.1' });
  });
}

test('an agent container may not mount the sidecar\'s audit spool, which only the sidecar mounts', (t) => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'agents' }, spec: {
    serviceAccountName: 'default',
    containers: [{ name: 'agent', image: 'a', volumeMounts: [{ name: 'agentgate-audit-spool', mountPath: '/spool' }] }],
  } };
  const refused = injectPod(pod, 'agents', options, secretTypes);
  t.true('refused' in refused);
  if ('refused' in refused) t.is(refused.refused.code, 'audit-spool-mount');
  const clean = structuredClone(pod);
  delete (clean.spec.containers[0] as Json).volumeMounts;
  const injected = injectPod(clean, 'agents', options, secretTypes);
  if ('refused' in injected) return t.fail(injected.refused.message);
  const spec = jsonpatch.applyPatch(structuredClone(clean), injected.patch as Operation[]).newDocument.spec as unknown as { initContainers: Json[]; volumes: Json[] };
  const sidecar = spec.initContainers[0] as { volumeMounts: Json[]; env: Json[] };
  t.deepEqual(sidecar.volumeMounts.find((m) => m.name === 'agentgate-audit-spool'), { name: 'agentgate-audit-spool', mountPath: '/var/run/agentgate/audit-spool' });
  t.deepEqual(sidecar.env.find((e) => e.name === 'AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR'), { name: 'AGENTGATE_SIDECAR_AUDIT_SPOOL_DIR', value: '/var/run/agentgate/audit-spool' });
  t.deepEqual(spec.volumes.find((v) => v.name === 'agentgate-audit-spool'), { name: 'agentgate-audit-spool', emptyDir: { sizeLimit: '64Mi' } });
});

test('kubectl debug: an ephemeral container may not reach the sidecar or its token under any spelling', (t) => {
  const injectedPod = { spec: { initContainers: [{ name: 'agentgate-sidecar', image: 'x' }], containers: [{ name: 'agent', image: 'a' }], ephemeralContainers: [] as Json[] } };
  const rows: Array<{ name: string; container: Json; code: ReasonCode }> = [
    { name: 'targets the sidecar (its process namespace)', container: { name: 'dbg', image: 'busybox', targetContainerName: 'agentgate-sidecar' }, code: 'ephemeral-targets-sidecar' },
    { name: 'mounts the broker token', container: { name: 'dbg', image: 'busybox', volumeMounts: [{ name: 'agentgate-broker-token', mountPath: '/t' }] }, code: 'ephemeral-broker-token' },
    { name: 'mounts the audit spool (to forge or erase the record)', container: { name: 'dbg', image: 'busybox', volumeMounts: [{ name: 'agentgate-audit-spool', mountPath: '/s' }] }, code: 'audit-spool-mount' },
    { name: 'privileged (sysadmin profile)', container: { name: 'dbg', image: 'busybox', securityContext: { privileged: true } }, code: 'privileged-pod' },
    { name: 'SYS_PTRACE to read another container', container: { name: 'dbg', image: 'busybox', securityContext: { capabilities: { add: ['SYS_PTRACE'] } } }, code: 'capability-not-allowed' },
    { name: 'a mount over the service-account path with a trailing slash', container: { name: 'dbg', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount/' }] }, code: 'service-account-path-mount' },
  ];
  for (const row of rows) {
    const next = { spec: { ...injectedPod.spec, ephemeralContainers: [row.container] } };
    const result = injectEphemeral(injectedPod, next, options, secretTypes);
    t.true('refused' in result, row.name);
    if ('refused' in result) t.is(result.refused.code, row.code, row.name);
  }
});

const grant: UserInfo = { username: 'system:serviceaccount:agentgate-system:agentgate-grant-7f3k2', groups: ['system:serviceaccounts'] };
const human: UserInfo = { username: 'alice@example.com', groups: ['system:authenticated'] };
const labelled = { 'kubernetes.io/metadata.name': 'agents', 'agentgate.io/inject': 'enabled' };
const unlabelled = { 'kubernetes.io/metadata.name': 'team-a' };

function secretRequest(type: string, userInfo: UserInfo, operation: 'CREATE' | 'UPDATE' = 'CREATE'): AdmissionRequest {
  return {
    uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Secret' }, resource: { group: '', version: 'v1', resource: 'secrets' }, namespace: 'agents', name: 'not-yet', operation, userInfo,
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-yet', namespace: 'agents', annotations: { 'kubernetes.io/service-account.name': 'deployer' } }, type },
  };
}

test('token smuggling after admission: service-account-token Secrets and TokenRequests are refused', (t) => {
  const vOptions = validateOptions(options);
  const tokenRequest: AdmissionRequest = {
    uid: 'u-2', kind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, resource: { group: '', version: 'v1', resource: 'serviceaccounts' }, subResource: 'token',
    namespace: 'agents', name: 'agentgate-agent', operation: 'CREATE', userInfo: grant,
    object: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['agentgate-broker'], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'agent-0' } } },
  };
  const rows: Array<{ name: string; request: AdmissionRequest; labels: Record<string, string>; code: ReasonCode | undefined }> = [
    { name: 'anyone creating a token Secret in a labelled namespace (a pod may already name it)', request: secretRequest('kubernetes.io/service-account-token', human), labels: labelled, code: 'service-account-token-secret' },
    { name: 're-creating a named Secret as a token Secret, by update', request: secretRequest('kubernetes.io/service-account-token', human, 'UPDATE'), labels: labelled, code: 'service-account-token-secret' },
    { name: 'a grant identity creating a token Secret anywhere', request: secretRequest('kubernetes.io/service-account-token', grant), labels: unlabelled, code: 'service-account-token-secret' },
    { name: 'a grant identity minting a broker-audience token bound to its pod', request: tokenRequest, labels: labelled, code: 'serviceaccount-token' },
    { name: 'an Opaque Secret in a labelled namespace', request: secretRequest('Opaque', human), labels: labelled, code: undefined },
    { name: 'a human creating a token Secret outside agent namespaces', request: secretRequest('kubernetes.io/service-account-token', human), labels: unlabelled, code: undefined },
  ];
  for (const row of rows) {
    const refusal = validateAdmission(row.request, vOptions, { namespaceLabels: row.labels, secretTypes: new Map() });
    t.is(refusal?.code, row.code, row.name);
  }
});
