// End to end through the API double with real kubectl 1.31 and 1.33: a labelled namespace gets
// injected pods (sidecar, zero-permission account, identity annotations), kubectl debug gets the
// agent env, a pod-label opt-in creates the account on demand (never on dry run), and a grant
// identity's privileged Deployment is refused whether created, patched or applied server-side.
import { request as httpsRequest } from 'node:https';
import test from 'ava';
import { parse } from 'yaml';
import { eventually, installConfigurations, serviceConfig, startCluster, startService, type Cluster } from './service-harness.ts';

type Json = Record<string, unknown>;

/** The value at a path of keys and indices in parsed kubectl output. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) current = typeof current === 'object' && current !== null ? (current as Record<string | number, unknown>)[key] : undefined;
  return current;
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

let cluster: Cluster;
let webhookPort = 0;
let stop: () => Promise<void> = async () => undefined;

test.before(async () => {
  cluster = await startCluster({ version: '1.31' });
  const started = await startService(cluster, serviceConfig(cluster));
  stop = started.stop;
  webhookPort = started.service.server.port;
  await cluster.run('1.33', ['create', 'namespace', 'agentgate-system']);
  await installConfigurations(cluster, started.service.server.url.replace('127.0.0.1', 'localhost'), cluster.api.caPem);
});
test.after.always(async () => {
  await stop();
  await cluster?.close();
});

function pod(name: string, namespace: string, labels: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { serviceAccountName: 'default', containers: [{ name: 'app', image: 'busybox', command: ['sleep', '3600'] }] },
  });
}

async function getYaml(version: string, args: string[]): Promise<Json> {
  const result = await cluster.run(version, ['get', ...args, '-o', 'yaml']);
  if (result.code !== 0) throw new Error(result.stderr);
  return parse(result.stdout) as Json;
}

function envOf(container: unknown): Record<string, unknown> {
  return Object.fromEntries(list(at(container, 'env')).map((e) => [String(e.name), e.value]));
}

for (const version of ['1.31', '1.33']) {
  const ns = `agents-${version.replace('.', '')}`;

  test.serial(`kubectl ${version}: a pod in a labelled namespace shows the sidecar, the zero-permission account and the identity`, async (t) => {
    t.is((await cluster.run(version, ['create', 'namespace', ns])).code, 0);
    t.is((await cluster.run(version, ['label', 'namespace', ns, 'agentgate.io/inject=enabled'])).code, 0);
    // The controller keeps the account in every labelled namespace, before any pod arrives.
    t.true(await eventually(() => cluster.api.objects.get('serviceaccounts', ns, 'agentgate-agent') !== undefined), 'agentgate-agent was not created');
    const sa = await getYaml(version, ['serviceaccount', 'agentgate-agent', '-n', ns]);
    t.is(at(sa, 'automountServiceAccountToken'), false);

    const applied = await cluster.run(version, ['apply', '-f', '-'], pod('agent', ns));
    t.is(applied.code, 0, applied.stderr);
    t.is(applied.stdout.trim(), 'pod/agent created');
    const got = await getYaml(version, ['pod', 'agent', '-n', ns]);
    t.is(at(got, 'spec', 'initContainers', 0, 'name'), 'agentgate-sidecar');
    t.is(at(got, 'spec', 'initContainers', 0, 'restartPolicy'), 'Always');
    t.is(at(got, 'spec', 'serviceAccountName'), 'agentgate-agent');
    t.is(at(got, 'spec', 'automountServiceAccountToken'), false);
    t.false(list(at(got, 'spec', 'volumes')).some((v) => String(v.name).startsWith('kube-api-access-')), 'the ServiceAccount plugin volume is gone');
    t.like(at(got, 'metadata', 'annotations') as Json, {
      'agentgate.io/agent': 'default',
      'agentgate.io/original-service-account': 'default',
      'agentgate.io/policy-profile': 'default',
      'agentgate.io/injected-version': '0.1.0-test',
    });
    t.like(envOf(at(got, 'spec', 'containers', 0)), { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '17443' });
  });

  test.serial(`kubectl ${version}: kubectl debug adds an ephemeral container with the agent env and mount`, async (t) => {
    const debug = await cluster.run(version, ['debug', 'agent', '-n', ns, '--image=busybox', '--target=app', '--container=debugger', '--', 'sleep', '60']);
    t.is(debug.code, 0, debug.stderr);
    const got = await getYaml(version, ['pod', 'agent', '-n', ns]);
    const ephemeral = at(got, 'spec', 'ephemeralContainers', 0);
    t.is(at(ephemeral, 'name'), 'debugger');
    t.like(envOf(ephemeral), { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '17443' });
    t.true(list(at(ephemeral, 'volumeMounts')).some((m) => m.name === 'agentgate-kube-api-access' && m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'));

    const sidecarTarget = await cluster.run(version, ['debug', 'agent', '-n', ns, '--image=busybox', '--target=agentgate-sidecar', '--container=peek']);
    t.not(sidecarTarget.code, 0);
    t.regex(sidecarTarget.stderr, /admission webhook "inject\.agentgate\.io" denied the request: ephemeral container peek targets agentgate-sidecar: target an agent container instead/);
  });

  test.serial(`kubectl ${version}: a pod-label opt-in creates the account on demand, but not on a dry run`, async (t) => {
    const plain = `plain-${version.replace('.', '')}`;
    const dry = `dry-${version.replace('.', '')}`;
    for (const name of [plain, dry]) t.is((await cluster.run(version, ['create', 'namespace', name])).code, 0);
    t.is(cluster.api.objects.get('serviceaccounts', plain, 'agentgate-agent'), undefined);

    const dryRun = await cluster.run(version, ['apply', '--dry-run=server', '-f', '-'], pod('opt-in', dry, { 'agentgate.io/agent': 'helper' }));
    t.is(cluster.api.objects.get('serviceaccounts', dry, 'agentgate-agent'), undefined, `a dry run created the account (${dryRun.stdout}${dryRun.stderr})`);

    const applied = await cluster.run(version, ['apply', '-f', '-'], pod('opt-in', plain, { 'agentgate.io/agent': 'helper' }));
    t.is(applied.code, 0, applied.stderr);
    t.not(cluster.api.objects.get('serviceaccounts', plain, 'agentgate-agent'), undefined);
    const got = await getYaml(version, ['pod', 'opt-in', '-n', plain]);
    t.is(at(got, 'spec', 'serviceAccountName'), 'agentgate-agent');
    t.is(at(got, 'spec', 'initContainers', 0, 'name'), 'agentgate-sidecar');

    const unlabelled = await cluster.run(version, ['apply', '-f', '-'], pod('bystander', plain));
    t.is(unlabelled.code, 0, unlabelled.stderr);
    t.is(at(await getYaml(version, ['pod', 'bystander', '-n', plain]), 'spec', 'serviceAccountName'), 'default');
  });
}

test.serial('a grant identity\'s privileged Deployment is refused whether created, patched or applied server-side', async (t) => {
  const version = '1.33';
  const run = (args: string[], input?: string, kubeconfig?: string) => cluster.run(version, args, input, kubeconfig);
  t.is((await run(['create', 'namespace', 'work'])).code, 0);
  t.is((await run(['create', 'serviceaccount', 'agentgate-grant-x', '-n', 'agentgate-system'])).code, 0);
  // As JSON: kubectl create rolebinding sends protobuf, which the double does not decode for RBAC kinds.
  const binding = await run(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'grant-x-edit', namespace: 'work' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'ServiceAccount', name: 'agentgate-grant-x', namespace: 'agentgate-system' }],
  }));
  t.is(binding.code, 0, binding.stderr);
  const token = await run(['create', 'token', 'agentgate-grant-x', '-n', 'agentgate-system']);
  t.is(token.code, 0, token.stderr);
  const grantConfig = `${cluster.dir}/grant.kubeconfig`;
  await cluster.api.writeKubeconfig(grantConfig, token.stdout.trim());

  const deployment = (privileged: boolean) => JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'work' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', ...(privileged ? { securityContext: { privileged: true } } : {}) }] } },
    },
  });
  const refusal = /admission webhook "guardrails\.agentgate\.io" denied the request: spec\.template\.spec\.containers\[0\] \(web\) is privileged: grant identities cannot create privileged containers/;

  const created = await run(['create', '-f', '-'], deployment(true), grantConfig);
  t.not(created.code, 0);
  t.regex(created.stderr, refusal, 'create');

  const plain = await run(['create', '-f', '-'], deployment(false), grantConfig);
  t.is(plain.code, 0, plain.stderr);
  const patched = await run(['patch', 'deployment', 'web', '-n', 'work', '--type=strategic', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'web', securityContext: { privileged: true } }] } } } })], undefined, grantConfig);
  t.not(patched.code, 0);
  t.regex(patched.stderr, refusal, 'strategic merge patch');
  const jsonPatched = await run(['patch', 'deployment', 'web', '-n', 'work', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/template/spec/containers/0/securityContext', value: { privileged: true } }])], undefined, grantConfig);
  t.not(jsonPatched.code, 0);
  t.regex(jsonPatched.stderr, refusal, 'JSON patch');
  const applied = await run(['apply', '--server-side', '--field-manager=agent', '-f', '-'], deployment(true), grantConfig);
  t.not(applied.code, 0);
  t.regex(applied.stderr, refusal, 'server-side apply');

  // The administrator is not a grant identity: the same write passes.
  const admin = await run(['apply', '--server-side', '--field-manager=admin', '-f', '-'], deployment(true));
  t.is(admin.code, 0, admin.stderr);
});

test.serial('a service-account-token Secret is refused in a labelled namespace for any writer, and a grant identity cannot request tokens', async (t) => {
  const version = '1.33';
  const run = (args: string[], input?: string, kubeconfig?: string) => cluster.run(version, args, input, kubeconfig);
  t.is((await run(['create', 'namespace', 'tokens'])).code, 0);
  t.is((await run(['label', 'namespace', 'tokens', 'agentgate.io/inject=enabled'])).code, 0);
  t.is((await run(['create', 'namespace', 'plain'])).code, 0);
  const tokenSecret = (namespace: string) => JSON.stringify({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token',
    metadata: { name: 'long-lived', namespace, annotations: { 'kubernetes.io/service-account.name': 'default' } },
  });
  const refused = await run(['create', '-f', '-'], tokenSecret('tokens'));
  t.not(refused.code, 0);
  t.regex(refused.stderr, /admission webhook "token-secrets\.agentgate\.io" denied the request: Secret long-lived is of type kubernetes\.io\/service-account-token in a namespace labelled for agentgate/);
  const elsewhere = await run(['create', '-f', '-'], tokenSecret('plain'));
  t.is(elsewhere.code, 0, elsewhere.stderr);
  const opaque = await run(['create', 'secret', 'generic', 'app', '-n', 'tokens', '--from-literal=k=v']);
  t.is(opaque.code, 0, opaque.stderr);

  // A grant identity allowed by RBAC to create tokens is still refused by the guardrail.
  const grant = await run(['create', 'serviceaccount', 'agentgate-grant-tok', '-n', 'agentgate-system']);
  t.is(grant.code, 0, grant.stderr);
  const rbac = await run(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'tokens', namespace: 'tokens' }, rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tokens', namespace: 'tokens' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tokens' }, subjects: [{ kind: 'ServiceAccount', name: 'agentgate-grant-tok', namespace: 'agentgate-system' }] },
    ],
  }));
  t.is(rbac.code, 0, rbac.stderr);
  const token = await run(['create', 'token', 'agentgate-grant-tok', '-n', 'agentgate-system']);
  const grantConfig = `${cluster.dir}/grant-tok.kubeconfig`;
  await cluster.api.writeKubeconfig(grantConfig, token.stdout.trim());
  const minted = await run(['create', 'token', 'default', '-n', 'tokens', '--audience', 'agentgate-broker'], undefined, grantConfig);
  t.not(minted.code, 0);
  t.regex(minted.stderr, /admission webhook "guardrails\.agentgate\.io" denied the request: serviceaccounts\/default\/token: grant identities cannot request service-account tokens/);
});

test.serial('GET /metrics counts the admissions of this run by result and reason', async (t) => {
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: webhookPort, path: '/metrics', ca: cluster.api.caPem, servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
  t.regex(body, /agentgate_webhook_admissions_total\{webhook="mutate",result="patched",reason="none"\} [1-9]/);
  t.regex(body, /agentgate_webhook_admissions_total\{webhook="validate",result="denied",reason="privileged-pod"\} [1-9]/);
  t.regex(body, /agentgate_webhook_admission_duration_seconds_count\{webhook="mutate"\} [1-9]/);
});
