// The contracts' functions beside the schemas: stream line reading, contract negotiation, the
// reason and error tables, durations, owner annotations, the frozen layout, hostile inputs.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import {
  brokerError,
  brokerErrorStatus,
  BrokerErrors,
  checkContractHeader,
  contracts,
  defaultPodLayout,
  durationSeconds,
  formatOwnerAnnotation,
  formatPath,
  formatStreamLine,
  identityKey,
  isKnownReason,
  parseConnection,
  parseOwnerAnnotation,
  parseStreamLine,
  policyRuleIssues,
  reason,
  ReasonCodeString,
  Reasons,
  toAccessRequestCreate,
  toAccessRequestObject,
  validate,
  type AccessRequest,
  type AgentIdentity,
  type ContractName,
  type Owner,
  type StreamEvent,
} from '../../src/contracts/index.ts';
import { readGolden } from '../helpers/golden.ts';

const heartbeat: StreamEvent = { type: 'heartbeat', seq: 7, time: '2026-03-01T12:00:00Z' };

const streamLines: Array<{ name: string; line: string; expected: unknown }> = [
  { name: 'a known event is returned as sent', line: formatStreamLine(heartbeat).trimEnd(), expected: { ok: true, value: heartbeat } },
  {
    name: 'an event type from a newer broker is returned as unknown, with its seq, to be skipped',
    line: '{"type":"grant-batch","seq":12,"grants":[]}',
    expected: { ok: true, value: { type: 'unknown', eventType: 'grant-batch', seq: 12 } },
  },
  {
    name: 'an unknown event without a seq is an error (the reader could not resume after it)',
    line: '{"type":"grant-batch"}',
    expected: { ok: false, errors: [{ path: '$.type', message: "Invalid discriminator value. Expected 'hello' | 'grant' | 'credential' | 'revocation' | 'access-request' | 'heartbeat'" }] },
  },
  {
    name: 'a known type with a bad field is an error, not skipped',
    line: '{"type":"heartbeat","seq":8,"time":"yesterday"}',
    expected: { ok: false, errors: [{ path: '$.time', message: 'must be an RFC 3339 time in UTC, such as 2026-01-02T15:04:05Z' }] },
  },
  { name: 'a line that is not JSON', line: '{"type":"heartbeat",', expected: { ok: false, errors: [{ path: '$', message: 'must be one JSON object per line' }] } },
  { name: 'a JSON value that is not an object', line: '42', expected: { ok: false, errors: [{ path: '$', message: 'Invalid input: expected object, received number' }] } },
];

for (const row of streamLines) {
  test(`parseStreamLine: ${row.name}`, (t) => {
    t.deepEqual(parseStreamLine(row.line), row.expected);
  });
}

test('formatStreamLine writes one line per event', (t) => {
  t.is(formatStreamLine(heartbeat), '{"type":"heartbeat","seq":7,"time":"2026-03-01T12:00:00Z"}\n');
});

const contractHeaders: Array<{ name: string; value: string | undefined; accepted: boolean }> = [
  { name: 'absent header means v1', value: undefined, accepted: true },
  { name: 'v1', value: 'v1', accepted: true },
  { name: 'upper case V1', value: 'V1', accepted: true },
  { name: 'a newer minor of v1', value: 'v1.3', accepted: true },
  { name: 'surrounding spaces', value: ' v1 ', accepted: true },
  { name: 'v2 is another major', value: 'v2', accepted: false },
  { name: 'v10 is not v1', value: 'v10', accepted: false },
  { name: 'v1beta1 is not v1', value: 'v1beta1', accepted: false },
  { name: 'empty header', value: '', accepted: false },
];

for (const row of contractHeaders) {
  test(`checkContractHeader: ${row.name}`, (t) => {
    const error = checkContractHeader(row.value);
    if (row.accepted) {
      t.is(error, undefined);
      return;
    }
    t.is(error?.code, 'contract-unsupported');
    t.is(brokerErrorStatus(error?.code ?? ''), 400);
    t.true(validate('broker-error', error).ok);
  });
}

test('checkContractHeader bounds how much of a hostile header it echoes', (t) => {
  t.is(checkContractHeader(`v2${'x'.repeat(10_000)}`)?.message, `This broker speaks contract v1; the sidecar asked for "v2${'x'.repeat(30)}".`);
});

test('broker error codes are kebab-case, carry an error status and build valid bodies', (t) => {
  for (const [code, entry] of Object.entries(BrokerErrors)) {
    t.true(ReasonCodeString.safeParse(code).success, code);
    t.true(entry.status >= 400 && entry.status <= 599, code);
    t.true(validate('broker-error', brokerError(code as keyof typeof BrokerErrors)).ok, code);
  }
  t.deepEqual(brokerError('rate-limited', 'slow down', 3), { apiVersion: 'agentgate.io/v1', code: 'rate-limited', message: 'slow down', retryAfterSeconds: 3 });
  t.is(brokerErrorStatus('a-code-from-a-newer-broker'), 500);
  t.is(brokerErrorStatus('toString'), 500);
});

// The codes the broker issue names; the table may hold more, never fewer.
const requiredReasons = [
  'grant-live', 'grant-created', 'no-grant', 'approval-pending', 'approval-denied', 'approval-expired', 'policy-deny',
  'broker-unavailable', 'redis-unavailable', 'frozen', 'revoked', 'identity-invalid', 'not-injected',
  'binds-cluster-admin', 'binds-system-masters', 'verb-escalate', 'verb-bind', 'verb-impersonate', 'privileged-pod',
  'host-path', 'host-namespace', 'namespace-delete', 'agentgate-namespace', 'agentgate-webhook', 'agentgate-rbac',
  'serviceaccount-token', 'service-account-token-secret', 'nodes-proxy', 'csr-approval', 'workload-not-injected',
  'exposure-host-port', 'exposure-node-port', 'exposure-load-balancer',
];

test('the reason table holds every required code, each kebab-case with a sentence for people', (t) => {
  for (const code of requiredReasons) t.true(isKnownReason(code), code);
  for (const [code, text] of Object.entries(Reasons)) {
    t.true(ReasonCodeString.safeParse(code).success, code);
    t.regex(text, /^\S.*\.$/, code);
    t.true(validate('decision', { apiVersion: 'agentgate.io/v1', requestId: 'r', outcome: 'deny', reason: { code, message: text } }).ok, code);
  }
  t.false(isKnownReason('hasOwnProperty'));
  t.deepEqual(reason('no-grant'), { code: 'no-grant', message: Reasons['no-grant'] });
  t.deepEqual(reason('policy-deny', 'Profile readonly denies writes.'), { code: 'policy-deny', message: 'Profile readonly denies writes.' });
});

const durations: Array<{ name: string; input: string; seconds: number | undefined }> = [
  { name: 'minutes', input: '30m', seconds: 1800 },
  { name: 'hours and minutes', input: '1h30m', seconds: 5400 },
  { name: 'all three units', input: '1h2m3s', seconds: 3723 },
  { name: 'seconds only', input: '90s', seconds: 90 },
  { name: 'empty string', input: '', seconds: undefined },
  { name: 'days are not a unit', input: '1d', seconds: undefined },
  { name: 'units out of order', input: '30m1h', seconds: undefined },
  { name: 'a bare number', input: '60', seconds: undefined },
  { name: 'fractions', input: '1.5h', seconds: undefined },
  { name: 'a negative duration', input: '-5m', seconds: undefined },
];

for (const row of durations) {
  test(`durationSeconds: ${row.name}`, (t) => {
    t.is(durationSeconds(row.input), row.seconds);
  });
}

const owners: Array<{ name: string; owner: Owner | null; annotation: string }> = [
  { name: 'a bare pod', owner: null, annotation: 'null' },
  { name: 'an owner without apiVersion', owner: { kind: 'Job', name: 'nightly' }, annotation: '{"kind":"Job","name":"nightly"}' },
  { name: 'keys in a fixed order', owner: { apiVersion: 'apps/v1', name: 'coder', kind: 'Deployment' }, annotation: '{"kind":"Deployment","name":"coder","apiVersion":"apps/v1"}' },
];

for (const row of owners) {
  test(`owner annotation: ${row.name}`, (t) => {
    t.is(formatOwnerAnnotation(row.owner), row.annotation);
    t.deepEqual(parseOwnerAnnotation(row.annotation), row.owner);
  });
}

test('owner annotation: what the webhook never writes reads as undefined', (t) => {
  for (const value of ['', 'Deployment/coder', '{"kind":"deployment","name":"x"}', '[]', '{"kind":"Job"}']) {
    t.is(parseOwnerAnnotation(value), undefined, value);
  }
});

test('the default pod layout is deep-frozen and valid', (t) => {
  t.true(validate('pod-layout', defaultPodLayout).ok);
  t.true(Object.isFrozen(defaultPodLayout) && Object.isFrozen(defaultPodLayout.sidecar) && Object.isFrozen(defaultPodLayout.agentEnv[0]));
  t.throws(() => {
    (defaultPodLayout.sidecar as { apiPort: number }).apiPort = 443;
  }, { instanceOf: TypeError });
});

test('the agent env points every in-cluster client variable at the sidecar', (t) => {
  const env = Object.fromEntries(defaultPodLayout.agentEnv.map((e) => [e.name, e.value]));
  t.deepEqual(env, {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: '17443',
    KUBERNETES_SERVICE_PORT_HTTPS: '17443',
    KUBERNETES_PORT: 'tcp://127.0.0.1:17443',
    KUBERNETES_PORT_443_TCP: 'tcp://127.0.0.1:17443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '17443',
    KUBERNETES_PORT_443_TCP_ADDR: '127.0.0.1',
  });
});

test('formatPath quotes keys that are not identifiers', (t) => {
  t.is(formatPath([]), '$');
  t.is(formatPath(['spec', 'rules', 0, 'verbs']), '$.spec.rules[0].verbs');
  t.is(formatPath(['annotations', 'agentgate.io/agent']), '$.annotations["agentgate.io/agent"]');
});

test('policyRuleIssues: a namespaced rule cannot name non-resource URLs', (t) => {
  t.deepEqual(policyRuleIssues({ verbs: ['get'], nonResourceURLs: ['/healthz'] }, true), [
    { path: 'nonResourceURLs', message: 'namespaced rules cannot apply to non-resource URLs' },
  ]);
  t.deepEqual(policyRuleIssues({ verbs: ['get'], nonResourceURLs: ['/healthz'] }, false), []);
});

test('an access request converts to a valid virtual object and back to a valid broker call', async (t) => {
  const request = (await readGolden('contracts/access-request.granted.json')) as AccessRequest;
  const object = toAccessRequestObject(request);
  t.deepEqual(validate('access-request-object', object), { ok: true, value: object });
  t.is(object.metadata.name, request.id);
  t.is(object.metadata.namespace, 'team-a');
  const create = toAccessRequestCreate({ apiVersion: object.apiVersion, kind: object.kind, spec: object.spec }, 'req-9');
  t.deepEqual(validate('access-request-create', create), { ok: true, value: create });
});

test('identityKey keeps what grants are keyed by', async (t) => {
  const identity = (await readGolden('contracts/agent-identity.deployment.json')) as AgentIdentity;
  t.deepEqual(identityKey(identity), { connection: 'prod-eu', namespace: 'team-a', agent: 'coder' });
});

test('a connection CA may be a bundle, but only of certificates', async (t) => {
  const ca = await readFile(new URL('../fixtures/tls/ca.crt', import.meta.url), 'utf8');
  const other = await readFile(new URL('../fixtures/tls/other-ca.crt', import.meta.url), 'utf8');
  const base = { name: 'dev', server: 'https://127.0.0.1:6443', mode: 'tokenrequest' };
  t.true(parseConnection({ ...base, ca: ca + other }).ok);
  const key = await readFile(new URL('../fixtures/tls/ca.key', import.meta.url), 'utf8');
  t.false(parseConnection({ ...base, ca: ca + key }).ok);
  // The first base64 line holds the DER header: zeroing it leaves a well-formed PEM that is no certificate.
  const lines = ca.split('\n');
  lines[1] = 'A'.repeat(lines[1]?.length ?? 0);
  t.false(parseConnection({ ...base, ca: lines.join('\n') }).ok);
  t.false(parseConnection({ ...base, server: 'https://user:pw@example.com', ca }).ok);
});

const circular: Record<string, unknown> = { apiVersion: 'agentgate.io/v1' };
circular.self = circular;
const hostile: Array<{ name: string; value: unknown }> = [
  { name: 'undefined', value: undefined },
  { name: 'null', value: null },
  { name: 'a string', value: 'decision' },
  { name: 'an array', value: [] },
  { name: 'a circular object', value: circular },
  { name: 'an object whose getter throws', value: Object.defineProperty({}, 'apiVersion', { enumerable: true, get: () => { throw new Error('boom'); } }) },
  { name: 'a proxy that throws on every read', value: new Proxy({}, { get: () => { throw new Error('trap'); }, ownKeys: () => { throw new Error('trap'); } }) },
  { name: 'an object with __proto__ set', value: JSON.parse('{"__proto__":{"ok":true},"type":"hello"}') as unknown },
];

for (const row of hostile) {
  test(`validate never throws and reports issues for ${row.name}`, (t) => {
    for (const name of Object.keys(contracts) as ContractName[]) {
      let result: ReturnType<typeof validate> | undefined;
      t.notThrows(() => {
        result = validate(name, row.value);
      }, name);
      t.is(result?.ok, false, name);
      if (result && !result.ok) t.true(result.errors.length > 0 && result.errors.every((e) => e.path.startsWith('$') && e.message !== ''), name);
    }
  });
}
