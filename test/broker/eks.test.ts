// EKS credentials of a grant end to end: STS names fitted from hostile input, AssumeRole through
// the AWS SDK against the STS double, the EKS token's format, its acceptance by the verifier and by
// the API double under real kubectl, and its refusal when expired, for another cluster, signed
// with the wrong key or tampered with; the token source's caching and refresh.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assumeGrantRole, createEksTokenSource, EKS_TOKEN_PREFIX, EksCredentialError, eksToken, fitStsName } from '../../src/broker/credentials/eks.ts';
import type { SigningCredentials } from '../../src/broker/credentials/eks.ts';
import { ConnectionSchema } from '../../src/contracts/identity.ts';
import type { Connection } from '../../src/contracts/identity.ts';
import { GrantSchema } from '../../src/contracts/stream.ts';
import type { Grant } from '../../src/contracts/stream.ts';
import { createKubeApiServer } from '../doubles/kube-api/server.ts';
import { createEksVerifier } from '../doubles/sts/eks-verifier.ts';
import { createStsServer } from '../doubles/sts/server.ts';
import type { StsServer } from '../doubles/sts/server.ts';
import { presignedUrl, stsClientFor } from '../doubles/sts/sdk.ts';
import { kubectl } from '../helpers/kubectl.ts';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/agentgate-prod`;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/someone-else`;
const BROKER = { accessKeyId: 'AKIAEXAMPLEBROKER001', secretAccessKey: 'broker-secret-key-0000000000000000000000' };
const STS_NAME = /^[\w+=,.@-]{2,64}$/;

let offsetMs = 0;
const now = (): number => Date.now() + offsetMs;
let sts: StsServer;

test.before(async () => {
  sts = await createStsServer({
    now,
    principals: [{ ...BROKER, arn: `arn:aws:iam::${ACCOUNT}:user/broker` }],
    roles: [ROLE, OTHER_ROLE].map((arn) => ({ arn, trust: { [`arn:aws:iam::${ACCOUNT}:user/broker`]: ['sts:AssumeRole' as const, 'sts:SetSourceIdentity' as const, 'sts:TagSession' as const] } })),
  });
});
test.after.always(async () => {
  await sts.close();
});

const CA = readFileSync(fileURLToPath(new URL('../fixtures/tls/ca.crt', import.meta.url)), 'utf8');

/** A validated EKS connection; the tests never dial `server`, only STS. */
function connection(overrides: Partial<Connection> = {}): Connection {
  return ConnectionSchema.parse({ name: 'prod', server: 'https://prod.example', ca: CA, mode: 'eks', roleArn: ROLE, region: 'eu-west-1', clusterName: 'prod', ...overrides });
}

function grant(id: string, minutes: number, agent = 'reporter'): Grant {
  const created = new Date(now());
  return GrantSchema.parse({
    id, identity: { connection: 'prod', namespace: 'payments', agent },
    rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }], namespaces: ['payments'],
    reason: 'investigate a failed payout', createdAt: created.toISOString(), expiresAt: new Date(created.getTime() + minutes * 60_000).toISOString(),
  });
}

const client = (): ReturnType<typeof stsClientFor> => stsClientFor(sts, BROKER, 'eu-west-1', offsetMs);

// ---------------------------------------------------------------------------------------------
// fitStsName

const fitRows: Array<{ name: string; input: string; expected?: string; prefix?: string }> = [
  // Inputs that already fit are kept, so a grant id is its own session name.
  { name: 'grant id kept as is', input: 'g-7f3a9c21', expected: 'g-7f3a9c21' },
  { name: 'every allowed punctuation kept', input: 'a_b+c=d,e.f@g-h', expected: 'a_b+c=d,e.f@g-h' },
  { name: 'exactly 64 characters kept', input: 'x'.repeat(64), expected: 'x'.repeat(64) },
  { name: 'exactly 2 characters kept', input: 'ab', expected: 'ab' },
  // Too short or too long
  { name: 'empty string', input: '', prefix: '-' },
  { name: 'one character', input: 'a', prefix: 'a-' },
  { name: '65 characters', input: 'y'.repeat(65), prefix: 'y'.repeat(55) },
  { name: 'a 253-character DNS subdomain agent name', input: `${'agent.'.repeat(42)}x`, prefix: 'agent.agent.' },
  // Characters outside [\w+=,.@-]
  { name: 'slash, colon and space', input: 'team/agent:one two', prefix: 'team-agent-one-two-' },
  { name: 'aws: prefix loses its colon', input: 'aws:federated', prefix: 'aws-federated-' },
  { name: 'newline and tab', input: 'agent\n\tinjected', prefix: 'agent--injected-' },
  { name: 'Cyrillic look-alike letters', input: 'аgent', prefix: '-gent-' },
  { name: 'emoji (one code point, two UTF-16 units)', input: '🤖bot', prefix: '-bot-' },
  { name: 'percent-encoded slash stays literal', input: 'a%2Fb', prefix: 'a-2Fb-' },
  { name: 'NUL byte', input: 'ag\u0000ent', prefix: 'ag-ent-' },
];

for (const row of fitRows) {
  test(`fitStsName: ${row.name}`, (t) => {
    const out = fitStsName(row.input);
    t.regex(out, STS_NAME);
    t.is(fitStsName(row.input), out, 'deterministic');
    if (row.expected !== undefined) t.is(out, row.expected);
    if (row.prefix !== undefined) {
      t.true(out.startsWith(row.prefix), `${out} starts with ${row.prefix}`);
      t.regex(out, /-[0-9a-f]{8}$/, 'suffixed with a hash of the original');
    }
  });
}

test('fitStsName keeps look-alike inputs apart: names that clean to the same text still differ', (t) => {
  const inputs = ['team/a', 'team:a', 'team a', 'team-a', 'team\na', 'y'.repeat(65), `${'y'.repeat(65)}z`];
  const outputs = new Set(inputs.map(fitStsName));
  t.is(outputs.size, inputs.length);
});

// ---------------------------------------------------------------------------------------------
// AssumeRole of a grant

test('assumeGrantRole names the session after the grant, the agent as source identity and both in tags', async (t) => {
  const g = grant('g-names-1', 30);
  const creds = await assumeGrantRole(connection(), g, client(), new Date(now()));
  const session = sts.sessions.find((s) => s.accessKeyId === creds.accessKeyId);
  t.like(session, { roleArn: ROLE, sessionName: 'g-names-1', sourceIdentity: 'reporter', tags: { 'agentgate:agent': 'reporter', 'agentgate:grant': 'g-names-1' } });
  t.is(session?.sessionToken, creds.sessionToken);
});

const durationRows: Array<{ name: string; minutes: number; seconds: number }> = [
  { name: 'a 5-minute grant gets STS\'s minimum of 15 minutes', minutes: 5, seconds: 900 },
  { name: 'a 30-minute grant gets 30 minutes', minutes: 30, seconds: 1800 },
  { name: 'a 3-hour grant is capped at the one hour of role chaining', minutes: 180, seconds: 3600 },
];
for (const row of durationRows) {
  test(`assumeGrantRole session length: ${row.name}`, async (t) => {
    const creds = await assumeGrantRole(connection(), grant(`g-dur-${row.minutes}`, row.minutes), client());
    const session = sts.sessions.find((s) => s.accessKeyId === creds.accessKeyId);
    t.is(session?.durationSeconds, row.seconds);
  });
}

test('assumeGrantRole fits a hostile agent name and refuses non-EKS connections with a stable code', async (t) => {
  const g = grant('g-hostile', 30, `${'agent.'.repeat(20)}end`);
  const creds = await assumeGrantRole(connection(), g, client());
  const session = sts.sessions.find((s) => s.accessKeyId === creds.accessKeyId);
  t.regex(session?.sourceIdentity ?? '', STS_NAME);
  t.is(session?.tags['agentgate:agent'], g.identity.agent, 'the tag keeps the full name (tags allow 256 characters)');
  const notEks = await t.throwsAsync(assumeGrantRole({ name: 'kind', server: 'https://kind.example', ca: CA, mode: 'tokenrequest' }, g, client()));
  t.true(notEks instanceof EksCredentialError);
  t.is((notEks as EksCredentialError).code, 'not-eks-connection');
  const refused = await t.throwsAsync(assumeGrantRole(connection({ roleArn: `arn:aws:iam::${ACCOUNT}:role/not-trusting` }), g, client()));
  t.is((refused as EksCredentialError).code, 'assume-role-failed');
  t.regex(refused?.message ?? '', /AccessDenied: User: arn:aws:iam::111122223333:user\/broker is not authorized to perform: sts:AssumeRole/);
});

// ---------------------------------------------------------------------------------------------
// The token

test('eksToken is k8s-aws-v1. + unpadded base64url of a 60-second presigned GetCallerIdentity with x-k8s-aws-id signed', async (t) => {
  const at = new Date('2026-03-01T10:00:00.000Z');
  const creds: SigningCredentials = { accessKeyId: 'ASIAEXAMPLE000000001', secretAccessKey: 's', sessionToken: 'tok+en/=', expiration: new Date('2026-03-01T10:20:00Z') };
  const { token, expiresAt } = eksToken(creds, 'prod', 'eu-west-1', at);
  t.true(token.startsWith(EKS_TOKEN_PREFIX));
  const body = token.slice(EKS_TOKEN_PREFIX.length);
  t.regex(body, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
  const url = new URL(Buffer.from(body, 'base64url').toString('utf8'));
  t.is(`${url.protocol}//${url.host}${url.pathname}`, 'https://sts.eu-west-1.amazonaws.com/');
  t.like(Object.fromEntries(url.searchParams), {
    Action: 'GetCallerIdentity', Version: '2011-06-15', 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': 'ASIAEXAMPLE000000001/20260301/eu-west-1/sts/aws4_request', 'X-Amz-Date': '20260301T100000Z',
    'X-Amz-Expires': '60', 'X-Amz-SignedHeaders': 'host;x-k8s-aws-id', 'X-Amz-Security-Token': 'tok+en/=',
  });
  t.regex(url.searchParams.get('X-Amz-Signature') ?? '', /^[0-9a-f]{64}$/);
  t.is(expiresAt.toISOString(), '2026-03-01T10:15:00.000Z', '15 minutes after signing');
  const short = eksToken({ ...creds, expiration: new Date('2026-03-01T10:05:00Z') }, 'prod', 'eu-west-1', at);
  t.is(short.expiresAt.toISOString(), '2026-03-01T10:05:00.000Z', 'never past the session');
});

test('eksToken\'s hand-written SigV4 presign matches the AWS SDK\'s signer (@smithy/signature-v4) exactly', async (t) => {
  const at = new Date('2026-03-01T10:00:07.123Z');
  for (const creds of [
    { accessKeyId: 'ASIAEXAMPLE000000001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2lu+/=token' },
    { accessKeyId: 'AKIAEXAMPLE000000002', secretAccessKey: 'long-term-key' },
  ]) {
    const ours = new URL(Buffer.from(eksToken(creds, 'prod-cluster_1', 'eu-west-1', at, sts.url).token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    const theirs = new URL(await presignedUrl(sts, creds, { Action: 'GetCallerIdentity' }, { headers: { 'x-k8s-aws-id': 'prod-cluster_1' }, at, expiresIn: 60 }));
    t.deepEqual(Object.fromEntries(ours.searchParams), Object.fromEntries(theirs.searchParams), creds.accessKeyId);
  }
});

/** A token of a fresh grant session, signed now against the double. */
async function freshToken(clusterName = 'prod', id = 'g-token-1', roleArn = ROLE): Promise<{ token: string; creds: SigningCredentials }> {
  const creds = await assumeGrantRole(connection({ roleArn }), grant(id, 30), client(), new Date(now()));
  return { creds, token: eksToken(creds, clusterName, 'eu-west-1', new Date(now()), sts.url).token };
}

function verifier(opts: { clusterName?: string; groups?: string[]; usernameTemplate?: string } = {}): ReturnType<typeof createEksVerifier> {
  return createEksVerifier({ clusterName: opts.clusterName ?? 'prod', stsEndpoint: sts.url, caPem: sts.caPem, roleArn: ROLE, now, ...opts });
}

const editUrl = (token: string, edit: (url: string) => string): string =>
  EKS_TOKEN_PREFIX + Buffer.from(edit(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8')), 'utf8').toString('base64url');

test.serial('the verifier accepts a fresh token through the STS double and maps the session name to the user', async (t) => {
  const { token, creds } = await freshToken('prod', 'g-accept-1');
  const calls = sts.calls.length;
  const outcome = await verifier({ groups: ['agentgate:grants'] }).check(token);
  t.deepEqual(outcome, {
    ok: true,
    user: {
      username: 'agentgate:grant:g-accept-1',
      uid: `aws-iam-authenticator:${ACCOUNT}:${/AROA[A-Z2-7]{17}/.exec(JSON.stringify(outcome))?.[0] ?? 'missing'}`,
      groups: ['agentgate:grants'],
      extra: {
        arn: [`arn:aws:sts::${ACCOUNT}:assumed-role/agentgate-prod/g-accept-1`], canonicalArn: [ROLE], sessionName: ['g-accept-1'],
        accessKeyId: [creds.accessKeyId], principalId: [/AROA[A-Z2-7]{17}/.exec(JSON.stringify(outcome))?.[0] ?? 'missing'],
      },
    },
  });
  t.like(sts.calls.at(calls), { action: 'GetCallerIdentity', presigned: true, status: 200 }, 'the verifier asked STS');
  const templated = await verifier({ usernameTemplate: 'eks:{{AccountID}}:{{SessionName}}' }).check(token);
  t.like(templated, { ok: true, user: { username: `eks:${ACCOUNT}:g-accept-1` } });
});

test.serial('the verifier refuses a token after its 15 minutes, and STS refuses one whose session has ended', async (t) => {
  const { token } = await freshToken('prod', 'g-expire-1');
  try {
    offsetMs = 14 * 60_000;
    t.like(await verifier().check(token), { ok: true }, 'still accepted at 14 minutes');
    offsetMs = 15 * 60_000 + 1000;
    const expired = await verifier().check(token);
    t.like(expired, { ok: false });
    t.regex(expired.ok ? '' : expired.reason, /^X-Amz-Date parameter is expired \(15 minute expiration\)/);
    // A token signed late in a 15-minute session: inside its own window, but the session is gone.
    offsetMs = 0;
    const creds = await assumeGrantRole(connection(), grant('g-expire-2', 5), client());
    offsetMs = 14 * 60_000;
    const late = eksToken(creds, 'prod', 'eu-west-1', new Date(now()), sts.url).token;
    offsetMs = 15 * 60_000 + 1000;
    const outcome = await verifier().check(late);
    t.regex(outcome.ok ? '' : outcome.reason, /got 403\): ExpiredToken: The security token included in the request is expired$/);
  } finally {
    offsetMs = 0;
  }
});

const refusalRows: Array<{ name: string; make: (fresh: { token: string; creds: SigningCredentials }) => Promise<string> | string; reason: RegExp }> = [
  // Bound to another cluster or another key
  { name: 'presented to another cluster (signed x-k8s-aws-id: staging)', make: async () => (await freshToken('staging', 'g-other-cluster')).token, reason: /got 403\): SignatureDoesNotMatch: The request signature we calculated does not match/ },
  { name: 'signed with the wrong secret key', make: ({ creds }) => eksToken({ ...creds, secretAccessKey: 'not-the-key' }, 'prod', 'eu-west-1', new Date(now()), sts.url).token, reason: /SignatureDoesNotMatch/ },
  { name: 'signed with another session\'s token', make: ({ creds }) => eksToken({ ...creds, sessionToken: 'IQoJforged' }, 'prod', 'eu-west-1', new Date(now()), sts.url).token, reason: /InvalidClientTokenId/ },
  { name: 'a session of a role with no access entry', make: async () => (await freshToken('prod', 'g-unmapped', OTHER_ROLE)).token, reason: /^ARN is not mapped: arn:aws:iam::111122223333:role\/someone-else$/ },
  { name: 'the broker\'s own user, not a role session', make: () => eksToken(BROKER, 'prod', 'eu-west-1', new Date(now()), sts.url).token, reason: /^malformed UserId "AIDA/ },
  // Tampered URLs: signed parts fail at STS, unsigned forms fail here first
  { name: 'X-Amz-Expires lowered from 60 to 59', make: ({ token }) => editUrl(token, (u) => u.replace('X-Amz-Expires=60', 'X-Amz-Expires=59')), reason: /SignatureDoesNotMatch/ },
  { name: 'X-Amz-Date moved one second', make: ({ token }) => editUrl(token, (u) => u.replace(/(X-Amz-Date=\d{8}T\d{4})(\d{2})/, (_, a: string, s: string) => `${a}${String((Number(s) + 1) % 60).padStart(2, '0')}`)), reason: /SignatureDoesNotMatch/ },
  { name: 'one signature digit changed', make: ({ token }) => editUrl(token, (u) => u.replace(/X-Amz-Signature=(.)/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`)), reason: /SignatureDoesNotMatch/ },
  { name: 'action changed to AssumeRole', make: ({ token }) => editUrl(token, (u) => u.replace('Action=GetCallerIdentity', 'Action=AssumeRole')), reason: /^unexpected action parameter in pre-signed URL$/ },
  { name: 'an extra query parameter', make: ({ token }) => editUrl(token, (u) => `${u}&RoleArn=x`), reason: /^non-whitelisted query parameter "RoleArn"$/ },
  { name: 'a duplicated parameter in another case', make: ({ token }) => editUrl(token, (u) => `${u}&action=GetCallerIdentity`), reason: /^duplicate query parameter found: "action"$/ },
  { name: 'another STS host', make: ({ token }) => editUrl(token, (u) => u.replace('127.0.0.1', 'localhost')), reason: /^unexpected hostname "localhost:\d+" in pre-signed URL$/ },
  { name: 'plain http', make: ({ token }) => editUrl(token, (u) => u.replace('https:', 'http:')), reason: /^unexpected scheme "http" in pre-signed URL$/ },
  { name: 'another path', make: ({ token }) => editUrl(token, (u) => u.replace('/?', '/x?')), reason: /^unexpected path in pre-signed URL$/ },
  { name: 'x-k8s-aws-id not among the signed headers', make: async ({ creds }) => EKS_TOKEN_PREFIX + Buffer.from(await presignedUrl(sts, creds, { Action: 'GetCallerIdentity' })).toString('base64url'), reason: /^client did not sign the x-k8s-aws-id header in the pre-signed URL$/ },
  { name: 'presigned for 900 seconds', make: async ({ creds }) => EKS_TOKEN_PREFIX + Buffer.from(await presignedUrl(sts, creds, { Action: 'GetCallerIdentity' }, { headers: { 'x-k8s-aws-id': 'prod' }, expiresIn: 900 })).toString('base64url'), reason: /^invalid X-Amz-Expires parameter in pre-signed URL: 900$/ },
  // Not a token at all
  { name: 'base64 with padding', make: ({ token }) => `${token}==`, reason: /^illegal base64 data in token$/ },
  { name: 'no k8s-aws-v1. prefix', make: ({ token }) => token.slice(EKS_TOKEN_PREFIX.length), reason: /^token is missing expected "k8s-aws-v1." prefix$/ },
  { name: 'over 4096 characters', make: ({ token }) => token + 'A'.repeat(4096), reason: /^token is too large$/ },
];

for (const row of refusalRows) {
  test(`the verifier refuses a token: ${row.name}`, async (t) => {
    const fresh = await freshToken('prod', `g-refuse-${refusalRows.indexOf(row)}`);
    const outcome = await verifier().check(await row.make(fresh));
    t.false(outcome.ok);
    t.regex(outcome.ok ? '' : outcome.reason, row.reason);
  });
}

// ---------------------------------------------------------------------------------------------
// Through the API double, with real kubectl

test.serial('kubectl with the grant\'s EKS token reads pods in the bound namespace, nothing else, and nothing once expired', async (t) => {
  const api = await createKubeApiServer({
    eksVerifier: verifier(),
    seed: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'payout-worker', namespace: 'payments' }, spec: { containers: [{ name: 'app', image: 'payout:1' }] } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'agentgate-g-kubectl-1', namespace: 'payments' }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'agentgate-g-kubectl-1', namespace: 'payments' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'agentgate-g-kubectl-1' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'agentgate:grant:g-kubectl-1' }],
      },
    ],
  });
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-eks-'));
  t.teardown(async () => {
    offsetMs = 0;
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  const { token } = await freshToken('prod', 'g-kubectl-1');
  const kubeconfig = join(dir, 'config');
  await api.writeKubeconfig(kubeconfig, token);

  const pods = await kubectl('1.33', ['get', 'pods', '-n', 'payments', '-o', 'name'], { kubeconfig });
  t.is(pods.stdout.trim(), 'pod/payout-worker', pods.stderr);
  const whoami = await kubectl('1.33', ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig });
  t.is(whoami.stdout, 'agentgate:grant:g-kubectl-1', whoami.stderr);
  const elsewhere = await kubectl('1.33', ['get', 'pods', '-n', 'default'], { kubeconfig });
  t.regex(elsewhere.stderr, /pods is forbidden: User "agentgate:grant:g-kubectl-1" cannot list resource "pods" in API group "" in the namespace "default"/);

  await api.writeKubeconfig(kubeconfig, (await freshToken('staging', 'g-kubectl-1')).token);
  const otherCluster = await kubectl('1.33', ['get', 'pods', '-n', 'payments'], { kubeconfig });
  t.regex(otherCluster.stderr, /You must be logged in to the server \(Unauthorized\)/);

  await api.writeKubeconfig(kubeconfig, token);
  offsetMs = 16 * 60_000;
  const expired = await kubectl('1.33', ['get', 'pods', '-n', 'payments'], { kubeconfig });
  t.regex(expired.stderr, /You must be logged in to the server \(Unauthorized\)/);
});

// ---------------------------------------------------------------------------------------------
// The token source

test.serial('createEksTokenSource reuses its token, refreshes it before its 15 minutes end, re-assumes only for a new session, and stops at the grant\'s end', async (t) => {
  const g = grant('g-source-1', 40);
  const stsClient = client();
  const source = createEksTokenSource({ connection: connection(), grant: g, stsClient, now: () => new Date(now()), endpoint: sts.url });
  const sessionsOf = (): number => sts.sessions.filter((s) => s.sessionName === 'g-source-1').length;
  try {
    const [a, b] = await Promise.all([source.token(), source.token()]);
    t.is(a, b, 'concurrent callers share one refresh');
    t.is(sessionsOf(), 1);
    offsetMs = 13 * 60_000;
    stsClient.config.systemClockOffset = offsetMs;
    t.is(await source.token(), a, 'reused while more than a minute is left');
    offsetMs = 14 * 60_000 + 5000;
    stsClient.config.systemClockOffset = offsetMs;
    const c = await source.token();
    t.not(c.token, a.token, 'refreshed inside the last minute');
    t.is(sessionsOf(), 1, 'the 40-minute grant\'s session (2400 s) still has long to run');
    t.like(await verifier().check(c.token), { ok: true, user: { username: 'agentgate:grant:g-source-1' } });
    offsetMs = 41 * 60_000;
    stsClient.config.systemClockOffset = offsetMs;
    const ended = await t.throwsAsync(source.token());
    t.is((ended as EksCredentialError).code, 'grant-ended');
  } finally {
    offsetMs = 0;
  }
});
