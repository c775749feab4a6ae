// Authentication of the API double: bearer parsing, service-account tokens bound to live objects,
// TokenRequest and TokenReview with the real server's error texts.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator, DEFAULT_ISSUER } from '../doubles/kube-api/authn.ts';
import type { Authenticator } from '../doubles/kube-api/authn.ts';
import { StatusError } from '../doubles/kube-api/status.ts';
import type { KubeObject, StoreReader, UserInfo } from '../doubles/kube-api/types.ts';
import { kubectl } from '../helpers/kubectl.ts';

/** A map-backed StoreReader the test mutates to delete and re-create objects. */
class MemoryStore implements StoreReader {
  readonly objects = new Map<string, KubeObject>();
  put(resource: string, object: KubeObject): void {
    this.objects.set(`${resource}|${object.metadata.namespace ?? ''}|${object.metadata.name ?? ''}`, object);
  }
  remove(resource: string, namespace: string, name: string): void {
    this.objects.delete(`${resource}|${namespace}|${name}`);
  }
  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(`${resource}|${namespace}|${name}`);
  }
  list(resource: string, namespace?: string): KubeObject[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${resource}|${namespace === undefined ? '' : `${namespace}|`}`)).map(([, v]) => v);
  }
}

const NS = 'agents';
const T0 = Date.parse('2025-06-01T12:00:00Z');

function serviceAccount(name: string, uid: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS, uid } };
}
function pod(name: string, uid: string, sa: string, deletionTimestamp?: string): KubeObject {
  const metadata: KubeObject['metadata'] = { name, namespace: NS, uid };
  if (deletionTimestamp) metadata.deletionTimestamp = deletionTimestamp;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { serviceAccountName: sa } };
}

interface World {
  store: MemoryStore;
  authn: Authenticator;
  clock: { ms: number };
  eksCalls: string[];
}

function world(): World {
  const store = new MemoryStore();
  store.put('serviceaccounts', serviceAccount('agent', 'sa-1'));
  store.put('serviceaccounts', serviceAccount('other', 'sa-9'));
  store.put('pods', pod('p1', 'pod-1', 'agent'));
  store.put('pods', pod('foreign', 'pod-9', 'other'));
  store.put('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1', namespace: NS, uid: 'sec-1' } });
  store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1', namespace: NS, uid: 'cm-1' } });
  const clock = { ms: T0 };
  const eksCalls: string[] = [];
  const authn = createAuthenticator({
    store,
    now: () => clock.ms,
    staticTokens: { 'admin-token': { username: 'admin', groups: ['system:masters'] } },
    eksVerifier: async (token) => {
      eksCalls.push(token);
      return token === 'k8s-aws-v1.good' ? { username: 'arn:aws:iam::1:role/x', groups: [] } : undefined;
    },
  });
  return { store, authn, clock, eksCalls };
}

function mint(w: World, body: unknown, sa = 'agent'): string {
  const status = w.authn.tokenRequest(NS, sa, body).status as { token: string };
  return status.token;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

const podBound = { spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'p1', uid: 'pod-1' } } };
const agentGroups = ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated'];

// --- authenticate: which headers and tokens open the API -------------------------------------

const authenticateRows: Array<{ name: string; header: (w: World) => string | undefined; setup?: (w: World) => void; want: string | undefined }> = [
  // header parsing, as apiserver's bearertoken authenticator does it
  { name: 'a static token authenticates', header: () => 'Bearer admin-token', want: 'admin' },
  { name: 'the scheme is case-insensitive', header: () => 'bEaReR admin-token', want: 'admin' },
  { name: 'surrounding whitespace is trimmed', header: () => '  Bearer admin-token  ', want: 'admin' },
  { name: 'a third word after the token is ignored', header: () => 'Bearer admin-token extra', want: 'admin' },
  { name: 'no header is no user', header: () => undefined, want: undefined },
  { name: 'Basic is not Bearer', header: () => 'Basic YWRtaW46eA==', want: undefined },
  { name: 'two spaces leave an empty token', header: () => 'Bearer  admin-token', want: undefined },
  { name: 'a look-alike static token fails', header: () => 'Bearer admin-token2', want: undefined },
  { name: 'an unknown opaque token fails', header: () => 'Bearer nonsense', want: undefined },
  // service-account tokens
  { name: 'an unbound service-account token authenticates', header: (w) => `Bearer ${mint(w, {})}`, want: 'system:serviceaccount:agents:agent' },
  { name: 'a pod-bound token authenticates while the pod lives', header: (w) => `Bearer ${mint(w, podBound)}`, want: 'system:serviceaccount:agents:agent' },
  { name: 'a token for another audience does not open the API', header: (w) => `Bearer ${mint(w, { spec: { audiences: ['agentgate-broker'] } })}`, want: undefined },
  { name: 'a token whose audiences include the API opens it', header: (w) => `Bearer ${mint(w, { spec: { audiences: ['agentgate-broker', DEFAULT_ISSUER] } })}`, want: 'system:serviceaccount:agents:agent' },
  {
    name: 'an expired token within the 60s leeway still works',
    header: (w) => { const t = mint(w, {}); w.clock.ms = T0 + (3600 + 59) * 1000; return `Bearer ${t}`; },
    want: 'system:serviceaccount:agents:agent',
  },
  { name: 'an expired token fails', header: (w) => { const t = mint(w, {}); w.clock.ms = T0 + (3600 + 61) * 1000; return `Bearer ${t}`; }, want: undefined },
  { name: 'a token of a deleted service account fails', header: (w) => `Bearer ${mint(w, {})}`, setup: (w) => w.store.remove('serviceaccounts', NS, 'agent'), want: undefined },
  { name: 'a token of a re-created service account (new uid) fails', header: (w) => `Bearer ${mint(w, {})}`, setup: (w) => w.store.put('serviceaccounts', serviceAccount('agent', 'sa-2')), want: undefined },
  { name: 'a token bound to a deleted pod fails', header: (w) => `Bearer ${mint(w, podBound)}`, setup: (w) => w.store.remove('pods', NS, 'p1'), want: undefined },
  { name: 'a pod re-created with the same name does not revive the token', header: (w) => `Bearer ${mint(w, podBound)}`, setup: (w) => w.store.put('pods', pod('p1', 'pod-2', 'agent')), want: undefined },
  {
    name: 'a pod deleted over a minute ago (still terminating) fails',
    header: (w) => `Bearer ${mint(w, podBound)}`,
    setup: (w) => w.store.put('pods', pod('p1', 'pod-1', 'agent', new Date(T0 - 120_000).toISOString())),
    want: undefined,
  },
  {
    name: 'a pod whose graceful deletion is still ahead keeps its token',
    header: (w) => `Bearer ${mint(w, podBound)}`,
    setup: (w) => w.store.put('pods', pod('p1', 'pod-1', 'agent', new Date(T0 + 30_000).toISOString())),
    want: 'system:serviceaccount:agents:agent',
  },
  { name: 'a token bound to a deleted secret fails', header: (w) => `Bearer ${mint(w, { spec: { boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: 's1' } } })}`, setup: (w) => w.store.remove('secrets', NS, 's1'), want: undefined },
  // forgeries
  {
    name: 'a payload changed to another namespace fails the signature',
    header: (w) => {
      const [h, p, s] = mint(w, {}).split('.');
      const forged = Buffer.from(Buffer.from(p ?? '', 'base64url').toString().replaceAll('agents', 'kube-system')).toString('base64url');
      return `Bearer ${h}.${forged}.${s}`;
    },
    want: undefined,
  },
  { name: 'a flipped signature fails', header: (w) => { const t = mint(w, {}); return `Bearer ${t.slice(0, -2)}${t.endsWith('AA') ? 'BA' : 'AA'}`; }, want: undefined },
  {
    name: 'alg none with a copied payload fails',
    header: (w) => { const p = mint(w, {}).split('.')[1]; return `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`; },
    want: undefined,
  },
  {
    name: 'a token of another double (same issuer, other key) fails',
    header: () => { const other = world(); return `Bearer ${mint(other, {})}`; },
    want: undefined,
  },
  // EKS tokens go to the verifier
  { name: 'an EKS token the verifier accepts authenticates', header: () => 'Bearer k8s-aws-v1.good', want: 'arn:aws:iam::1:role/x' },
  { name: 'an EKS token the verifier refuses fails', header: () => 'Bearer k8s-aws-v1.bad', want: undefined },
];

for (const row of authenticateRows) {
  test(`authenticate: ${row.name}`, async (t) => {
    const w = world();
    const header = row.header(w);
    row.setup?.(w);
    const user = await w.authn.authenticate(header);
    t.is(user?.username, row.want);
    if (user) t.true(user.groups.includes('system:authenticated'));
  });
}

test('authenticate: EKS tokens reach only the verifier', async (t) => {
  const w = world();
  await w.authn.authenticate('Bearer k8s-aws-v1.good');
  await w.authn.authenticate('Bearer admin-token');
  t.deepEqual(w.eksCalls, ['k8s-aws-v1.good']);
});

test('authenticate: a pod-bound service-account user is what 1.29+ reports', async (t) => {
  const w = world();
  const token = mint(w, podBound);
  const user = await w.authn.authenticate(`Bearer ${token}`);
  const expected: UserInfo = {
    username: 'system:serviceaccount:agents:agent',
    uid: 'sa-1',
    groups: agentGroups,
    extra: {
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': ['pod-1'],
      'authentication.kubernetes.io/credential-id': [`JTI=${String(payloadOf(token).jti)}`],
    },
  };
  t.deepEqual(user, expected);
});

// --- TokenRequest ---------------------------------------------------------------------------

test('tokenRequest: defaults and claims are the real issuer\'s', (t) => {
  const w = world();
  const out = w.authn.tokenRequest(NS, 'agent', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
  const status = out.status as { token: string; expirationTimestamp: string };
  t.like(out, { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: { name: 'agent', namespace: NS, creationTimestamp: '2025-06-01T12:00:00Z' } });
  t.deepEqual(out.spec, { audiences: [DEFAULT_ISSUER], expirationSeconds: 3600 });
  t.is(status.expirationTimestamp, '2025-06-01T13:00:00Z');
  const claims = payloadOf(status.token);
  t.like(claims, {
    iss: DEFAULT_ISSUER,
    sub: 'system:serviceaccount:agents:agent',
    aud: [DEFAULT_ISSUER],
    iat: T0 / 1000,
    nbf: T0 / 1000,
    exp: T0 / 1000 + 3600,
    'kubernetes.io': { namespace: NS, serviceaccount: { name: 'agent', uid: 'sa-1' } },
  });
  t.regex(String(claims.jti), /^[0-9a-f-]{36}$/);
  t.deepEqual(JSON.parse(Buffer.from(status.token.split('.')[0] ?? '', 'base64url').toString()).alg, 'ES256');
  t.not(payloadOf(mint(w, {})).jti, claims.jti, 'every token has its own jti');
});

test('tokenRequest: a pod binding lands in the claims', (t) => {
  const w = world();
  t.like(payloadOf(mint(w, podBound))['kubernetes.io'], { pod: { name: 'p1', uid: 'pod-1' } });
});

const refusals: Array<{ name: string; sa?: string; body: unknown; code: number; message: string }> = [
  { name: 'a duration under ten minutes', body: { spec: { expirationSeconds: 599 } }, code: 422, message: 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes' },
  { name: 'a duration over 2^32 seconds', body: { spec: { expirationSeconds: 2 ** 32 + 1 } }, code: 422, message: 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds' },
  { name: 'a missing service account (checked before the duration)', sa: 'nope', body: { spec: { expirationSeconds: 60 } }, code: 404, message: 'serviceaccounts "nope" not found' },
  { name: 'a missing bound pod', body: { spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'ghost' } } }, code: 404, message: 'pods "ghost" not found' },
  { name: 'a pod of another service account', body: { spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'foreign' } } }, code: 400, message: 'cannot bind token for serviceaccount "agent" to pod running with different serviceaccount name.' },
  {
    name: 'a pod uid that is not the live pod\'s',
    body: { spec: { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'p1', uid: 'pod-0' } } },
    code: 409,
    message: 'Operation cannot be fulfilled on Pod "p1": the UID in the bound object reference (pod-0) does not match the UID in record. The object might have been deleted and then recreated',
  },
  { name: 'an unsupported kind', body: { spec: { boundObjectRef: { apiVersion: 'v1', kind: 'ConfigMap', name: 'c1' } } }, code: 400, message: 'cannot bind token to object of type /v1, Kind=ConfigMap' },
  { name: 'a Pod of another group', body: { spec: { boundObjectRef: { apiVersion: 'example.com/v1', kind: 'Pod', name: 'p1' } } }, code: 400, message: 'cannot bind token to object of type example.com/v1, Kind=Pod' },
  { name: 'a body naming another service account', body: { metadata: { name: 'other' } }, code: 422, message: 'TokenRequest.authentication.k8s.io "agent" is invalid: metadata.name: Invalid value: "other": must match the service account name if specified' },
];

for (const row of refusals) {
  test(`tokenRequest refuses ${row.name}`, (t) => {
    const w = world();
    const error = t.throws(() => w.authn.tokenRequest(NS, row.sa ?? 'agent', row.body), { instanceOf: StatusError });
    t.is(error?.status.code, row.code);
    t.is(error?.status.message, row.message);
  });
}

// --- TokenReview ----------------------------------------------------------------------------

const reviewRows: Array<{ name: string; spec: (w: World) => Record<string, unknown>; setup?: (w: World) => void; error?: string; audiences?: string[]; username?: string }> = [
  { name: 'an opaque token', spec: () => ({ token: 'nonsense' }), error: 'invalid bearer token' },
  { name: 'alg none', spec: (w) => ({ token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${mint(w, {}).split('.')[1]}.` }), error: 'invalid bearer token' },
  { name: 'a broken signature', spec: (w) => ({ token: `${mint(w, {}).slice(0, -4)}AAAA` }), error: '[invalid bearer token, go-jose/go-jose: error in cryptographic primitive]' },
  {
    name: 'a broker token reviewed for the API',
    spec: (w) => ({ token: mint(w, { spec: { audiences: ['agentgate-broker'] } }) }),
    error: '[invalid bearer token, token audiences ["agentgate-broker"] is invalid for the target audiences ["https://kubernetes.default.svc"]]',
  },
  {
    name: 'an API token reviewed for the broker',
    spec: (w) => ({ token: mint(w, {}), audiences: ['agentgate-broker'] }),
    error: '[invalid bearer token, token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences ["agentgate-broker"]]',
  },
  { name: 'a broker token reviewed for the broker', spec: (w) => ({ token: mint(w, { ...podBound, spec: { ...podBound.spec, audiences: ['agentgate-broker', 'x'] } }), audiences: ['agentgate-broker', 'y'] }), audiences: ['agentgate-broker'], username: 'system:serviceaccount:agents:agent' },
  { name: 'an expired token', spec: (w) => ({ token: mint(w, {}) }), setup: (w) => { w.clock.ms += 3700_000; }, error: '[invalid bearer token, service account token has expired]' },
  { name: 'a token of a deleted service account', spec: (w) => ({ token: mint(w, {}) }), setup: (w) => w.store.remove('serviceaccounts', NS, 'agent'), error: '[invalid bearer token, serviceaccounts "agent" not found]' },
  { name: 'a token of a re-created service account', spec: (w) => ({ token: mint(w, {}) }), setup: (w) => w.store.put('serviceaccounts', serviceAccount('agent', 'sa-2')), error: '[invalid bearer token, service account UID (sa-2) does not match claim (sa-1)]' },
  { name: 'a token of a deleted pod', spec: (w) => ({ token: mint(w, podBound) }), setup: (w) => w.store.remove('pods', NS, 'p1'), error: '[invalid bearer token, service account token has been invalidated]' },
  { name: 'a token of a re-created pod', spec: (w) => ({ token: mint(w, podBound) }), setup: (w) => w.store.put('pods', pod('p1', 'pod-2', 'agent')), error: '[invalid bearer token, pod UID (pod-2) does not match service account pod ref claim (pod-1)]' },
  { name: 'a static token for the API', spec: () => ({ token: 'admin-token' }), audiences: [DEFAULT_ISSUER], username: 'admin' },
  { name: 'a static token for another audience', spec: () => ({ token: 'admin-token', audiences: ['agentgate-broker'] }), error: 'invalid bearer token' },
];

for (const row of reviewRows) {
  test(`tokenReview: ${row.name}`, (t) => {
    const w = world();
    const spec = row.spec(w);
    row.setup?.(w);
    const out = w.authn.tokenReview({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec });
    t.like(out, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1' });
    t.deepEqual(out.spec, spec);
    if (row.error !== undefined) {
      t.deepEqual(out.status, { user: {}, error: row.error });
    } else {
      t.like(out.status, { authenticated: true, audiences: row.audiences, user: { username: row.username } });
    }
  });
}

test('tokenReview: the user carries the pod binding the broker relies on', (t) => {
  const w = world();
  const token = mint(w, { spec: { ...podBound.spec, audiences: ['agentgate-broker'] } });
  const out = w.authn.tokenReview({ spec: { token, audiences: ['agentgate-broker'] } });
  t.deepEqual((out.status as { user: UserInfo }).user, {
    username: 'system:serviceaccount:agents:agent',
    uid: 'sa-1',
    groups: agentGroups,
    extra: {
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': ['pod-1'],
      'authentication.kubernetes.io/credential-id': [`JTI=${String(payloadOf(token).jti)}`],
    },
  });
});

test('tokenReview: an empty token is a bad request', (t) => {
  const error = t.throws(() => world().authn.tokenReview({ spec: {} }), { instanceOf: StatusError });
  t.like(error?.status, { code: 400, reason: 'BadRequest', message: 'token is required for TokenReview in authentication' });
});

test('jwks: publishes the verifying key', (t) => {
  const { keys } = world().authn.jwks();
  t.is(keys.length, 1);
  t.like(keys[0], { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
});

// --- through real kubectl and the whole double ------------------------------------------------

test('kubectl: a pod-bound token dies with its pod and a re-created pod does not revive it', async (t) => {
  // Imported here so that a server still being built fails this test alone, not the file.
  const { createKubeApiServer } = await import('../doubles/kube-api/server.ts');
  const api = await createKubeApiServer({ version: '1.33' });
  const dir = await mkdtemp(join(tmpdir(), 'authn-kubectl-'));
  t.teardown(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  const admin = join(dir, 'admin.kubeconfig');
  const agentConfig = join(dir, 'agent.kubeconfig');
  await api.writeKubeconfig(admin);
  const agentPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: NS }, spec: { serviceAccountName: 'agent', containers: [{ name: 'c', image: 'busybox' }] } };
  api.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  api.objects.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: NS } });
  api.objects.create(agentPod);

  const short = await kubectl('1.33', ['-n', NS, 'create', 'token', 'agent', '--duration=5m'], { kubeconfig: admin });
  t.is(short.stderr.trim(), 'error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes');
  const created = await kubectl('1.33', ['-n', NS, 'create', 'token', 'agent', '--bound-object-kind', 'Pod', '--bound-object-name', 'p1'], { kubeconfig: admin });
  t.is(created.code, 0, created.stderr);
  await api.writeKubeconfig(agentConfig, created.stdout.trim());

  const whoami = await kubectl('1.33', ['auth', 'whoami', '-o', 'json'], { kubeconfig: agentConfig });
  t.is(whoami.code, 0, whoami.stderr);
  const info = (JSON.parse(whoami.stdout) as { status: { userInfo: UserInfo } }).status.userInfo;
  t.is(info.username, 'system:serviceaccount:agents:agent');
  t.deepEqual(info.extra?.['authentication.kubernetes.io/pod-name'], ['p1']);

  api.objects.delete('pods', NS, 'p1');
  const afterDelete = await kubectl('1.33', ['get', '--raw', '/version'], { kubeconfig: agentConfig });
  t.is(afterDelete.stderr.trim(), 'error: You must be logged in to the server (Unauthorized)');
  api.objects.create(agentPod);
  const afterRecreate = await kubectl('1.33', ['get', '--raw', '/version'], { kubeconfig: agentConfig });
  t.is(afterRecreate.stderr.trim(), 'error: You must be logged in to the server (Unauthorized)');
});
