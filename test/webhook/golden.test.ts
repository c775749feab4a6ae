// Golden tests of the mutating webhook: each AdmissionReview in golden/ (as the API server sends
// it, after the ServiceAccount plugin) against its pinned patch or refusal. Every patched pod is
// checked against the Kubernetes schema, the restricted Pod Security Standard (sidecar), the
// validating webhook, and reinvocation (injecting the result again changes nothing).
import { readdir } from 'node:fs/promises';
import test from 'ava';
import jsonpatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import { decodeReview, type AdmissionReviewResponse } from '../../webhook/admission.ts';
import type { InjectOptions, JsonPatchOp } from '../../webhook/inject/index.ts';
import { mutateReview, reviewInputs, validateReview } from '../../webhook/review.ts';
import { validateOptions } from '../../webhook/validate/index.ts';
import { expectGolden } from '../helpers/golden.ts';
import { restrictedViolations } from '../helpers/pss.ts';
import { goldenDir, irsaOptions, lookups, options, readRequest } from './fixtures.ts';

type Expect = { patched: true; warnings?: string[]; emptyPatch?: boolean; wholePodRestricted?: boolean } | { refused: string };
interface Row {
  scenario: string;
  says: string;
  expect: Expect;
  options?: InjectOptions;
}

const patched = (extra: Omit<Extract<Expect, { patched: true }>, 'patched'> = {}): Expect => ({ patched: true, ...extra });

const rows: Row[] = [
  // Pods injected on CREATE.
  { scenario: 'bare-pod', says: 'a bare pod gets the sidecar, the zero-permission account and the identity', expect: patched() },
  { scenario: 'deployment-template', says: "a Deployment's pod (generateName, ReplicaSet owner) is owned by the Deployment", expect: patched() },
  { scenario: 'job-pod', says: 'a Job pod keeps the Job as its owner', expect: patched() },
  { scenario: 'multi-containers', says: 'every init and app container is pointed at the sidecar, the sidecar runs first', expect: patched() },
  { scenario: 'mesh-native-sidecar', says: 'an existing native sidecar stays, after agentgate\'s', expect: patched() },
  { scenario: 'env-from', says: 'envFrom and secretKeyRef of Opaque Secrets are kept, agentgate env first', expect: patched() },
  {
    scenario: 'user-kubernetes-service-host',
    says: 'a user-set KUBERNETES_SERVICE_HOST is overwritten, with a warning',
    expect: patched({ warnings: ['container agent: KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT overwritten by agentgate: the sidecar at 127.0.0.1:17443 is this pod\'s API server'] }),
  },
  { scenario: 'custom-service-account', says: 'a custom service account becomes the agent name and is switched', expect: patched() },
  { scenario: 'automount-true', says: 'automountServiceAccountToken true is turned off', expect: patched() },
  { scenario: 'restricted-pss', says: 'a pod of a restricted namespace stays restricted', expect: patched({ wholePodRestricted: true }) },
  { scenario: 'pod-label-opt-in', says: 'a pod opting in with its label in an unlabelled namespace is injected', expect: patched() },
  { scenario: 'forged-agentgate-annotations', says: 'agentgate.io/ annotations the pod brings are replaced or removed', expect: patched() },
  { scenario: 'irsa-allow-listed', says: 'an allow-listed IRSA token volume is kept', expect: patched(), options: irsaOptions },
  { scenario: 'no-token-volume', says: 'a pod without the plugin volume still gets everything', expect: patched() },
  { scenario: 'not-an-agent', says: 'a pod of an unlabelled namespace without the label is left alone', expect: patched({ emptyPatch: true }) },
  // Reinvocation and injected pods.
  { scenario: 'already-injected', says: 'an injected pod gets no second sidecar and no patch', expect: patched({ emptyPatch: true }) },
  { scenario: 'reinvocation-added-container', says: 'a container another webhook added gets the env and mount', expect: patched() },
  { scenario: 'reinvocation-init-before-sidecar', says: 'an init container put before the sidecar is moved after it', expect: patched() },
  { scenario: 'ephemeral-container', says: 'a kubectl debug container gets the env and mount', expect: patched() },
  { scenario: 'update-agent-image', says: 'an image update of an agent container is allowed', expect: patched({ emptyPatch: true }) },
  // Refused on CREATE.
  { scenario: 'refused-host-network', says: 'hostNetwork', expect: { refused: 'host-namespace' } },
  { scenario: 'refused-host-pid', says: 'hostPID', expect: { refused: 'host-namespace' } },
  { scenario: 'refused-host-ipc', says: 'hostIPC', expect: { refused: 'host-namespace' } },
  { scenario: 'refused-share-process-namespace', says: 'shareProcessNamespace', expect: { refused: 'share-process-namespace' } },
  { scenario: 'refused-privileged', says: 'a privileged container', expect: { refused: 'privileged-pod' } },
  { scenario: 'refused-cap-net-admin', says: 'NET_ADMIN', expect: { refused: 'capability-not-allowed' } },
  { scenario: 'refused-cap-net-raw', says: 'NET_RAW', expect: { refused: 'capability-not-allowed' } },
  { scenario: 'refused-cap-sys-admin', says: 'SYS_ADMIN', expect: { refused: 'capability-not-allowed' } },
  { scenario: 'refused-cap-sys-ptrace', says: 'SYS_PTRACE', expect: { refused: 'capability-not-allowed' } },
  { scenario: 'refused-host-path', says: 'a hostPath volume', expect: { refused: 'host-path' } },
  { scenario: 'refused-projected-token', says: 'a projected token of another audience', expect: { refused: 'service-account-token-volume' } },
  { scenario: 'refused-irsa', says: 'the IRSA token when not allow-listed', expect: { refused: 'service-account-token-volume' } },
  { scenario: 'refused-secret-volume-sa-token', says: 'a service-account-token Secret as a volume', expect: { refused: 'service-account-token-secret-use' } },
  { scenario: 'refused-secret-key-ref-sa-token', says: 'a service-account-token Secret as secretKeyRef', expect: { refused: 'service-account-token-secret-use' } },
  { scenario: 'refused-env-from-sa-token', says: 'a service-account-token Secret as envFrom', expect: { refused: 'service-account-token-secret-use' } },
  { scenario: 'refused-secret-lookup-failed', says: 'a Secret whose type cannot be looked up (fail closed)', expect: { refused: 'secret-type-unknown' } },
  { scenario: 'refused-agentgate-volume', says: 'a volume named agentgate-*', expect: { refused: 'agentgate-name-collision' } },
  { scenario: 'refused-agentgate-container', says: 'an app container named agentgate-sidecar', expect: { refused: 'agentgate-name-collision' } },
  { scenario: 'refused-service-account-path', says: 'an own volume at the service-account path', expect: { refused: 'service-account-path-mount' } },
  { scenario: 'refused-zero-permission-account', says: 'a pod naming agentgate-agent itself', expect: { refused: 'agentgate-name-collision' } },
  { scenario: 'refused-several', says: 'several problems are named in one message', expect: { refused: 'host-namespace' } },
  // Refused on UPDATE and pods/ephemeralcontainers.
  { scenario: 'update-sidecar-image', says: "the sidecar's image cannot be changed", expect: { refused: 'sidecar-changed' } },
  { scenario: 'update-agentgate-annotation', says: 'agentgate.io/ annotations cannot be changed', expect: { refused: 'agentgate-annotation-changed' } },
  { scenario: 'ephemeral-netadmin', says: 'kubectl debug --profile=netadmin', expect: { refused: 'capability-not-allowed' } },
  { scenario: 'ephemeral-sysadmin', says: 'kubectl debug --profile=sysadmin (privileged)', expect: { refused: 'privileged-pod' } },
  { scenario: 'ephemeral-targets-sidecar', says: 'a debug container targeting the sidecar', expect: { refused: 'ephemeral-targets-sidecar' } },
  { scenario: 'ephemeral-broker-token', says: 'a debug container mounting the broker token', expect: { refused: 'ephemeral-broker-token' } },
];

async function run(row: Row) {
  const decoded = decodeReview(await readRequest(row.scenario));
  if ('status' in decoded) throw new Error(`${row.scenario}: ${decoded.status.message}`);
  const request = decoded.review.request;
  const inputs = await reviewInputs(request, lookups);
  return { request, inputs, response: mutateReview(request, row.options ?? options, inputs) };
}

function decodePatch(response: AdmissionReviewResponse): JsonPatchOp[] {
  return response.response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.response.patch, 'base64').toString('utf8')) as JsonPatchOp[]);
}

type Json = Record<string, unknown> & { spec: Record<string, unknown> & { initContainers?: Json[]; containers: Json[]; ephemeralContainers?: Json[]; volumes?: Json[] } };

/** The invariants of an injected pod, each as a failure line. */
function injectedProblems(pod: Json): string[] {
  const problems: string[] = [];
  const inits = pod.spec.initContainers ?? [];
  if (inits[0]?.name !== 'agentgate-sidecar') problems.push('the sidecar is not the first init container');
  if (inits.filter((c) => c.name === 'agentgate-sidecar').length !== 1) problems.push('not exactly one sidecar');
  if (pod.spec.serviceAccountName !== 'agentgate-agent') problems.push('serviceAccountName is not agentgate-agent');
  if (pod.spec.automountServiceAccountToken !== false) problems.push('automount is not false');
  if ((pod.spec.volumes ?? []).some((v) => String(v.name).startsWith('kube-api-access-'))) problems.push('the plugin token volume is left');
  for (const c of [...inits.slice(1), ...pod.spec.containers, ...(pod.spec.ephemeralContainers ?? [])]) {
    const env = (c.env ?? []) as Json[];
    const mounts = (c.volumeMounts ?? []) as Json[];
    if (!env.some((e) => e.name === 'KUBERNETES_SERVICE_HOST' && e.value === '127.0.0.1')) problems.push(`${String(c.name)} lacks KUBERNETES_SERVICE_HOST`);
    if (!mounts.some((m) => m.name === 'agentgate-kube-api-access' && m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount' && m.readOnly === true)) problems.push(`${String(c.name)} lacks the credentials mount`);
    if (mounts.some((m) => m.name === 'agentgate-broker-token' || String(m.name).startsWith('kube-api-access-'))) problems.push(`${String(c.name)} mounts a token`);
  }
  return problems;
}

for (const row of rows) {
  test(`${row.scenario}: ${row.says}`, async (t) => {
    const { request, inputs, response } = await run(row);
    t.is(response.response.uid, request.uid);
    if ('refused' in row.expect) {
      t.false(response.response.allowed);
      t.is(response.response.status?.details?.causes?.[0]?.reason, row.expect.refused);
      await expectGolden(t, `../webhook/golden/${row.scenario}.response.json`, response);
      return;
    }
    t.true(response.response.allowed, response.response.status?.message);
    t.deepEqual(response.response.warnings ?? [], row.expect.warnings ?? []);
    const patch = decodePatch(response);
    if (row.expect.emptyPatch) {
      t.deepEqual(patch, []);
      t.is(response.response.patchType, undefined);
    } else {
      t.is(response.response.patchType, 'JSONPatch');
      t.true(patch.length > 0);
    }
    await expectGolden(t, `../webhook/golden/${row.scenario}.patch.json`, patch);
    const result = jsonpatch.applyPatch(structuredClone(request.object), patch as jsonpatch.Operation[], true, false).newDocument as Json;
    t.notThrows(() => new Pod(result as never).validate(), 'the patched pod fails the Kubernetes schema');
    if (row.scenario === 'not-an-agent') return;
    t.deepEqual(injectedProblems(result), []);
    t.deepEqual(restrictedViolations(result, ['agentgate-sidecar']), [], 'the sidecar breaks the restricted Pod Security Standard');
    if (row.expect.wholePodRestricted) t.deepEqual(restrictedViolations(result), []);
    // Reinvocation: the API server sends the result again, and nothing changes.
    const again = mutateReview({ ...request, object: result }, row.options ?? options, inputs);
    t.deepEqual(decodePatch(again), [], 'a reinvocation would patch again');
    // The validating webhook accepts the final pod.
    const validated = validateReview({ ...request, object: result }, validateOptions(row.options ?? options), inputs);
    t.true(validated.response.allowed, validated.response.status?.message);
  });
}

test('every golden request has a row, and only the expected golden files exist', async (t) => {
  const files = await readdir(goldenDir);
  const scenarios = files.filter((f) => f.endsWith('.request.json')).map((f) => f.slice(0, -'.request.json'.length)).sort();
  t.deepEqual(scenarios, rows.map((r) => r.scenario).sort());
  const expected = rows.flatMap((r) => [`${r.scenario}.request.json`, `${r.scenario}.${'refused' in r.expect ? 'response' : 'patch'}.json`]).sort();
  t.deepEqual(files.sort(), expected);
  t.true(rows.length >= 25);
});
