// The STS double through real clients: the AWS SDK for AssumeRole (its limits, trust table and
// errors) and GetCallerIdentity, SigV4 refusals, the wire format pinned byte for byte, and the
// AWS CLI (Debian's awscli) as a second, independent signer.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { createStsServer } from './sts/server.ts';
import type { StsServer } from './sts/server.ts';
import { presignedUrl, rawGet, stsClientFor } from './sts/sdk.ts';
import { canonicalRequest, sha256Hex, signingKey, stringToSign } from './sts/sigv4.ts';
import type { SignatureClaim } from './sts/sigv4.ts';
import type { TestCredentials } from './sts/sdk.ts';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/agentgate-prod`;
const BROKER: TestCredentials = { accessKeyId: 'AKIAEXAMPLEBROKER001', secretAccessKey: 'broker-secret-key-0000000000000000000000' };
const PLAIN: TestCredentials = { accessKeyId: 'AKIAEXAMPLEPLAIN0001', secretAccessKey: 'plain-secret-key-00000000000000000000000' };
const STRANGER: TestCredentials = { accessKeyId: 'AKIAEXAMPLESTRANGER1', secretAccessKey: 'stranger-secret-key-00000000000000000000' };
const IRSA: TestCredentials = { accessKeyId: 'ASIAEXAMPLEIRSA00001', secretAccessKey: 'irsa-secret-key-000000000000000000000000', sessionToken: 'irsa-session-token' };

/** The double's clock runs at real time plus this offset, so SDK signing stays in step. */
let offsetMs = 0;
let sts: StsServer;

test.before(async () => {
  sts = await createStsServer({
    now: () => Date.now() + offsetMs,
    principals: [
      { ...BROKER, arn: `arn:aws:iam::${ACCOUNT}:user/broker` },
      { ...PLAIN, arn: `arn:aws:iam::${ACCOUNT}:user/plain` },
      { ...STRANGER, arn: `arn:aws:iam::${ACCOUNT}:user/stranger` },
      { ...IRSA, sessionToken: 'irsa-session-token', arn: `arn:aws:iam::${ACCOUNT}:role/agentgate-broker`, sessionName: 'botocore-session-1' },
    ],
    roles: [{
      arn: ROLE,
      maxSessionDuration: 7200,
      trust: {
        [`arn:aws:iam::${ACCOUNT}:user/broker`]: ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'],
        [`arn:aws:iam::${ACCOUNT}:user/plain`]: ['sts:AssumeRole'],
        [`arn:aws:iam::${ACCOUNT}:role/agentgate-broker`]: ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'],
      },
    }],
  });
});
test.after.always(async () => {
  await sts.close();
});

test.serial('AssumeRole through the AWS SDK issues a session whose keys sign GetCallerIdentity', async (t) => {
  const before = Date.now();
  const out = await stsClientFor(sts, BROKER).send(new AssumeRoleCommand({
    RoleArn: ROLE, RoleSessionName: 'grant-7f3a', SourceIdentity: 'reporter', DurationSeconds: 900,
    Tags: [{ Key: 'agentgate:agent', Value: 'reporter' }, { Key: 'agentgate:grant', Value: 'grant-7f3a' }],
  }));
  t.regex(out.Credentials?.AccessKeyId ?? '', /^ASIA[A-Z2-7]{16}$/);
  t.is(out.SourceIdentity, 'reporter');
  t.is(out.AssumedRoleUser?.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agentgate-prod/grant-7f3a`);
  t.regex(out.AssumedRoleUser?.AssumedRoleId ?? '', /^AROA[A-Z2-7]{17}:grant-7f3a$/);
  const expiresIn = (out.Credentials?.Expiration?.getTime() ?? 0) - before;
  t.true(expiresIn > 898_000 && expiresIn < 910_000, `expires in ${expiresIn} ms`);
  const session = sts.sessions.at(-1);
  t.deepEqual(session?.tags, { 'agentgate:agent': 'reporter', 'agentgate:grant': 'grant-7f3a' });

  const c = out.Credentials;
  const who = await stsClientFor(sts, { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretAccessKey ?? '', sessionToken: c?.SessionToken ?? '' }).send(new GetCallerIdentityCommand({}));
  t.like(who, { Arn: out.AssumedRoleUser?.Arn, UserId: out.AssumedRoleUser?.AssumedRoleId, Account: ACCOUNT });
});

test('the SigV4 check reproduces the worked example of AWS\'s SigV4 documentation', (t) => {
  // IAM ListUsers signed by AKIDEXAMPLE on 2015-08-30: AWS publishes each intermediate value.
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const req = {
    method: 'GET', path: '/', body: Buffer.alloc(0),
    query: [['Action', 'ListUsers'], ['Version', '2010-05-08']] as Array<[string, string]>,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', host: 'iam.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
  };
  const claim: SignatureClaim = {
    accessKeyId: 'AKIDEXAMPLE', scope: '20150830/us-east-1/iam/aws4_request', region: 'us-east-1', service: 'iam', amzDate: '20150830T123600Z',
    signedHeaders: ['content-type', 'host', 'x-amz-date'], signature: '', sessionToken: undefined, presigned: false, expiresSeconds: undefined,
  };
  const canonical = canonicalRequest(req, claim);
  const key = signingKey(secret, '20150830', 'us-east-1', 'iam');
  t.is(key.toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9', 'derived signing key');
  t.is(sha256Hex(canonical), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59', 'hash of the canonical request');
  t.is(createHmac('sha256', key).update(stringToSign(canonical, claim)).digest('hex'), '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7', 'signature');
});

interface LimitRow {
  name: string;
  caller?: TestCredentials;
  input: Partial<AssumeRoleCommandInput>;
  code: string;
  message: string | RegExp;
}

const tags = (n: number): AssumeRoleCommandInput['Tags'] => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));

const limitRows: LimitRow[] = [
  // RoleSessionName: 2–64 of [\w+=,.@-]
  { name: 'session name of one character', input: { RoleSessionName: 'g' }, code: 'ValidationError', message: "1 validation error detected: Value 'g' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2" },
  { name: 'session name of 65 characters', input: { RoleSessionName: 'g'.repeat(65) }, code: 'ValidationError', message: /at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64$/ },
  { name: 'session name with a slash', input: { RoleSessionName: 'grant/1' }, code: 'ValidationError', message: "1 validation error detected: Value 'grant/1' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*" },
  { name: 'session name with a space and a colon', input: { RoleSessionName: 'agent gate:1' }, code: 'ValidationError', message: /regular expression pattern/ },
  { name: 'session name with a non-ASCII letter', input: { RoleSessionName: 'grant-é' }, code: 'ValidationError', message: /regular expression pattern/ },
  // SourceIdentity: same limits
  { name: 'source identity of one character', input: { SourceIdentity: 'a' }, code: 'ValidationError', message: /at 'sourceIdentity' failed to satisfy constraint: Member must have length greater than or equal to 2/ },
  { name: 'source identity with a colon (aws: prefix)', input: { SourceIdentity: 'aws:agent' }, code: 'ValidationError', message: /at 'sourceIdentity' .*regular expression pattern/ },
  { name: 'two violations are counted together', input: { RoleSessionName: 'x', SourceIdentity: 'y' }, code: 'ValidationError', message: /^2 validation errors detected: .*roleSessionName.*; .*sourceIdentity/ },
  // DurationSeconds: 900–43200 and the role's maximum
  { name: 'duration below 900', input: { DurationSeconds: 899 }, code: 'ValidationError', message: "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900" },
  { name: 'duration above 43200', input: { DurationSeconds: 43201 }, code: 'ValidationError', message: /Member must have value less than or equal to 43200/ },
  { name: 'duration above the role maximum', input: { DurationSeconds: 7201 }, code: 'ValidationError', message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.' },
  { name: 'role chaining above one hour', caller: IRSA, input: { DurationSeconds: 3601 }, code: 'ValidationError', message: 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.' },
  // Tags: at most 50, keys and values of the tag alphabet
  { name: '51 session tags', input: { Tags: tags(51) }, code: 'ValidationError', message: /at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50/ },
  { name: 'tag key with a comma', input: { Tags: [{ Key: 'a,b', Value: 'v' }] }, code: 'ValidationError', message: /at 'tags.1.member.key' .*regular expression pattern/ },
  { name: 'tag value over 256 characters', input: { Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }, code: 'ValidationError', message: /at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256/ },
  // Trust table
  { name: 'principal the role does not trust', caller: STRANGER, input: {}, code: 'AccessDenied', message: `User: arn:aws:iam::${ACCOUNT}:user/stranger is not authorized to perform: sts:AssumeRole on resource: ${ROLE}` },
  { name: 'role that does not exist', input: { RoleArn: `arn:aws:iam::${ACCOUNT}:role/nope` }, code: 'AccessDenied', message: /not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role\/nope$/ },
  { name: 'source identity without sts:SetSourceIdentity', caller: PLAIN, input: { SourceIdentity: 'reporter' }, code: 'AccessDenied', message: /not authorized to perform: sts:SetSourceIdentity on resource/ },
  { name: 'session tags without sts:TagSession', caller: PLAIN, input: { Tags: tags(1) }, code: 'AccessDenied', message: /not authorized to perform: sts:TagSession on resource/ },
];

for (const row of limitRows) {
  test(`AssumeRole refuses: ${row.name}`, async (t) => {
    const input: AssumeRoleCommandInput = { RoleArn: ROLE, RoleSessionName: 'grant-1', ...row.input };
    const err = await t.throwsAsync(stsClientFor(sts, row.caller ?? BROKER).send(new AssumeRoleCommand(input)));
    t.is(err?.name, row.code);
    if (typeof row.message === 'string') t.is(err?.message, row.message);
    else t.regex(err?.message ?? '', row.message);
  });
}

test('AssumeRole accepts the limits themselves: 2 and 64 characters, 900 and the role maximum, 50 tags', async (t) => {
  for (const input of [
    { RoleSessionName: 'ab', SourceIdentity: 'cd', DurationSeconds: 900 },
    { RoleSessionName: `${'a'.repeat(60)}+=,.@-`.slice(0, 64), SourceIdentity: 'x'.repeat(64), DurationSeconds: 7200, Tags: tags(50) },
  ]) {
    const out = await stsClientFor(sts, BROKER).send(new AssumeRoleCommand({ RoleArn: ROLE, ...input }));
    t.is(out.AssumedRoleUser?.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agentgate-prod/${input.RoleSessionName}`);
  }
});

const signingRows: Array<{ name: string; credentials: TestCredentials; code: string; message: RegExp; clockOffsetMs?: number }> = [
  { name: 'wrong secret key', credentials: { ...BROKER, secretAccessKey: 'not-the-secret' }, code: 'SignatureDoesNotMatch', message: /^The request signature we calculated does not match the signature you provided/ },
  { name: 'unknown access key', credentials: { ...BROKER, accessKeyId: 'AKIAUNKNOWNKEY000001' }, code: 'InvalidClientTokenId', message: /^The security token included in the request is invalid\.$/ },
  { name: 'session key without its token', credentials: { accessKeyId: IRSA.accessKeyId, secretAccessKey: IRSA.secretAccessKey }, code: 'InvalidClientTokenId', message: /is invalid/ },
  { name: 'session key with another token', credentials: { ...IRSA, sessionToken: 'forged' }, code: 'InvalidClientTokenId', message: /is invalid/ },
  { name: 'long-term key with a token', credentials: { ...BROKER, sessionToken: 'irsa-session-token' }, code: 'InvalidClientTokenId', message: /is invalid/ },
  { name: 'signed 6 minutes in the past', credentials: BROKER, clockOffsetMs: -6 * 60_000, code: 'SignatureDoesNotMatch', message: /^Signature expired: \d{8}T\d{6}Z is now earlier than/ },
  { name: 'signed 6 minutes in the future', credentials: BROKER, clockOffsetMs: 6 * 60_000, code: 'SignatureDoesNotMatch', message: /^Signature not yet current/ },
];

for (const row of signingRows) {
  test(`GetCallerIdentity refuses: ${row.name}`, async (t) => {
    const err = await t.throwsAsync(stsClientFor(sts, row.credentials, 'eu-west-1', row.clockOffsetMs ?? 0).send(new GetCallerIdentityCommand({})));
    t.is(err?.name, row.code);
    t.regex(err?.message ?? '', row.message);
  });
}

test.serial('session credentials sign until they expire, then ExpiredToken', async (t) => {
  const out = await stsClientFor(sts, BROKER).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'short-lived', DurationSeconds: 900 }));
  const c = out.Credentials;
  const session = { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretAccessKey ?? '', sessionToken: c?.SessionToken ?? '' };
  try {
    offsetMs = 890_000;
    const who = await stsClientFor(sts, session, 'eu-west-1', offsetMs).send(new GetCallerIdentityCommand({}));
    t.is(who.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/agentgate-prod/short-lived`);
    offsetMs = 901_000;
    const err = await t.throwsAsync(stsClientFor(sts, session, 'eu-west-1', offsetMs).send(new GetCallerIdentityCommand({})));
    t.is(err?.name, 'ExpiredToken');
    t.is(err?.message, 'The security token included in the request is expired');
  } finally {
    offsetMs = 0;
  }
});

/** Replaces what changes per run (ids, keys, times) so a body can be pinned. */
function normalise(body: string): string {
  return body
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'REQUEST-ID')
    .replace(/ASIA[A-Z2-7]{16}/g, 'ACCESS-KEY-ID')
    .replace(/<SecretAccessKey>[^<]+</, '<SecretAccessKey>SECRET<')
    .replace(/<SessionToken>[^<]+</, '<SessionToken>TOKEN<')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g, 'TIME');
}

test('the wire format is the Query API\'s: AssumeRole, GetCallerIdentity and ErrorResponse in XML, and JSON on request', async (t) => {
  const assumed = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'AssumeRole', RoleArn: ROLE, RoleSessionName: 'wire', SourceIdentity: 'reporter' }));
  t.is(assumed.status, 200);
  t.is(assumed.contentType, 'text/xml');
  t.is(normalise(assumed.body), `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>reporter</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/agentgate-prod/wire</Arn>
      <AssumedRoleId>${/<AssumedRoleId>(AROA[A-Z2-7]{17}):wire</.exec(assumed.body)?.[1] ?? 'missing'}:wire</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ACCESS-KEY-ID</AccessKeyId>
      <SecretAccessKey>SECRET</SecretAccessKey>
      <SessionToken>TOKEN</SessionToken>
      <Expiration>TIME</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>REQUEST-ID</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`);

  const who = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity' }));
  t.is(normalise(who.body), `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::111122223333:user/broker</Arn>
    <UserId>${/AIDA[A-Z2-7]{17}/.exec(who.body)?.[0] ?? 'missing'}</UserId>
    <Account>111122223333</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>REQUEST-ID</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`);

  const denied = await rawGet(sts, await presignedUrl(sts, STRANGER, { Action: 'AssumeRole', RoleArn: ROLE, RoleSessionName: 'wire' }));
  t.is(denied.status, 403);
  t.is(normalise(denied.body), `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::111122223333:user/stranger is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/agentgate-prod</Message>
  </Error>
  <RequestId>REQUEST-ID</RequestId>
</ErrorResponse>
`);

  const json = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity' }), { accept: 'application/json' });
  t.is(json.contentType, 'application/json');
  t.like(JSON.parse(json.body), { GetCallerIdentityResponse: { GetCallerIdentityResult: { Arn: `arn:aws:iam::${ACCOUNT}:user/broker`, Account: ACCOUNT } } });
  const jsonError = await rawGet(sts, (await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity' })).replace(/X-Amz-Signature=(.)/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`), { accept: 'application/json' });
  t.like(JSON.parse(jsonError.body), { Error: { Type: 'Sender', Code: 'SignatureDoesNotMatch' } });
});

test('a presigned GET is honoured 15 minutes after X-Amz-Date whatever X-Amz-Expires says, and refused after', async (t) => {
  const signedAt = new Date(Date.now() - 14 * 60_000);
  const fresh = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity' }, { at: signedAt, expiresIn: 60 }));
  t.is(fresh.status, 200);
  const stale = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity' }, { at: new Date(Date.now() - 16 * 60_000), expiresIn: 60 }));
  t.is(stale.status, 403);
  t.regex(stale.body, /<Code>SignatureDoesNotMatch<\/Code>\s*<Message>Signature expired: /);
});

test('unknown actions and versions are InvalidAction; requests without a signature are refused', async (t) => {
  const unknown = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetSessionToken' }));
  t.regex(unknown.body, /<Code>InvalidAction<\/Code>\s*<Message>Could not find operation GetSessionToken for version 2011-06-15</);
  const oldVersion = await rawGet(sts, await presignedUrl(sts, BROKER, { Action: 'GetCallerIdentity', Version: '2010-01-01' }));
  t.regex(oldVersion.body, /<Code>InvalidAction<\/Code>/);
  const unsigned = await rawGet(sts, `${sts.url}/?Action=GetCallerIdentity&Version=2011-06-15`);
  t.is(unsigned.status, 403);
  t.regex(unsigned.body, /<Code>MissingAuthenticationToken<\/Code>/);
});

test('the AWS CLI assumes the role and signs get-caller-identity with the session (a second real client)', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'agentgate-awscli-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const aws = async (creds: TestCredentials, args: string[]): Promise<unknown> => {
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/bin:/bin', HOME: home, AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_CA_BUNDLE: sts.caFile,
      AWS_DEFAULT_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1',
      ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    };
    // Debian's awscli package, not whatever `aws` comes first on PATH.
    const { stdout } = await promisify(execFile)('/usr/bin/aws', ['sts', ...args, '--endpoint-url', sts.url, '--output', 'json'], { env, timeout: 30_000 });
    return JSON.parse(stdout);
  };
  const assumed = await aws(BROKER, ['assume-role', '--role-arn', ROLE, '--role-session-name', 'cli-grant', '--source-identity', 'reporter', '--duration-seconds', '900', '--tags', 'Key=agentgate:agent,Value=reporter']) as { Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string }; SourceIdentity: string };
  t.is(assumed.SourceIdentity, 'reporter');
  const session = { accessKeyId: assumed.Credentials.AccessKeyId, secretAccessKey: assumed.Credentials.SecretAccessKey, sessionToken: assumed.Credentials.SessionToken };
  t.like(await aws(session, ['get-caller-identity']), { Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/agentgate-prod/cli-grant`, Account: ACCOUNT });
});
