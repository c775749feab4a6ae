// EKS credentials of a grant: assume the connection's IAM role through STS (the session named
// after the grant, the agent as source identity, both in session tags) and turn the session into an
// EKS bearer token, a presigned GetCallerIdentity URL the cluster's authenticator replays to STS.
import { createHash, createHmac } from 'node:crypto';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Connection } from '../../contracts/identity.ts';
import type { Grant } from '../../contracts/stream.ts';

/** The prefix the EKS authenticator recognises; the rest is the unpadded base64url presigned URL. */
export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** The header that binds a token to one cluster; it is signed, so STS refuses it elsewhere. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** STS honours a presigned GetCallerIdentity for 15 minutes after X-Amz-Date, and EKS with it. */
export const EKS_TOKEN_LIFETIME_MS = 15 * 60 * 1000;
/** The presign expiry `aws eks get-token` uses; STS ignores it for this action, EKS checks it. */
const PRESIGN_EXPIRES_SECONDS = 60;
/** STS's minimum session; sessions are kept short since the grant, not the session, bounds access. */
const MIN_SESSION_SECONDS = 900;
/** The broker's own credentials are a role session (IRSA, Pod Identity), so this is role chaining. */
const MAX_CHAINED_SESSION_SECONDS = 3600;
const STS_NAME_MAX = 64;
const STS_NAME_INVALID = /[^\w+=,.@-]/gu;

/** Session tag key of the agent's name; tags show in CloudTrail beside the session name. */
export const SESSION_TAG_AGENT = 'agentgate:agent';
/** Session tag key of the grant id. */
export const SESSION_TAG_GRANT = 'agentgate:grant';

/** Temporary AWS credentials of one grant. */
export interface GrantCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** Credentials that can sign a token (a session from {@link assumeGrantRole}, or any other). */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** An EKS bearer token and the moment the cluster stops accepting it. */
export interface EksToken {
  token: string;
  expiresAt: Date;
}

/** Why EKS credentials could not be made; `code` is stable, the message is for people. */
export class EksCredentialError extends Error {
  readonly code: 'not-eks-connection' | 'assume-role-failed' | 'incomplete-sts-response' | 'grant-ended';
  constructor(code: EksCredentialError['code'], message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'EksCredentialError';
    this.code = code;
  }
}

/**
 * Fits any text to STS's names (RoleSessionName, SourceIdentity): 2–64 characters of
 * `[\w+=,.@-]`. Text that already fits is returned unchanged, so a grant id is its own session
 * name and the cluster's user is predictable. Anything else (other characters, too short, too
 * long) is cleaned and suffixed with a hash of the original, so two different inputs never
 * collapse onto one name, which would merge their audit trails and their RBAC users.
 */
export function fitStsName(input: string): string {
  if (input.length >= 2 && input.length <= STS_NAME_MAX && !/[^\w+=,.@-]/u.test(input)) return input;
  const digest = createHash('sha256').update(input, 'utf8').digest('hex').slice(0, 8);
  const cleaned = input.replace(STS_NAME_INVALID, '-').slice(0, STS_NAME_MAX - digest.length - 1);
  return `${cleaned}-${digest}`;
}

/** The session length to ask for: the grant's remaining time, within STS's and role chaining's bounds. */
function sessionSeconds(grant: Grant, now: Date): number {
  const remaining = Math.ceil((Date.parse(grant.expiresAt) - now.getTime()) / 1000);
  return Math.min(MAX_CHAINED_SESSION_SECONDS, Math.max(MIN_SESSION_SECONDS, remaining));
}

/**
 * Assumes the connection's IAM role for one grant. The session is named after the grant (the EKS
 * access entry's `{{SessionName}}` turns it into the Kubernetes user the grant's RoleBindings
 * name), the agent is the source identity (which sticks through any further role chaining), and
 * both are session tags. The session may outlive the grant: access ends with the grant because
 * the bindings are deleted and the sidecar stops using it.
 */
export async function assumeGrantRole(connection: Connection, grant: Grant, stsClient: STSClient, now: Date = new Date()): Promise<GrantCredentials> {
  if (connection.mode !== 'eks' || connection.roleArn === undefined) {
    throw new EksCredentialError('not-eks-connection', `connection ${connection.name} is not in eks mode with a roleArn`);
  }
  let out;
  try {
    out = await stsClient.send(new AssumeRoleCommand({
      RoleArn: connection.roleArn,
      RoleSessionName: fitStsName(grant.id),
      SourceIdentity: fitStsName(grant.identity.agent),
      DurationSeconds: sessionSeconds(grant, now),
      Tags: [
        { Key: SESSION_TAG_AGENT, Value: grant.identity.agent },
        { Key: SESSION_TAG_GRANT, Value: grant.id },
      ],
    }));
  } catch (err) {
    const code = err instanceof Error ? err.name : 'Error';
    const message = err instanceof Error ? err.message : String(err);
    throw new EksCredentialError('assume-role-failed', `AssumeRole of ${connection.roleArn} for grant ${grant.id} failed: ${code}: ${message}`, { cause: err });
  }
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
    throw new EksCredentialError('incomplete-sts-response', `AssumeRole of ${connection.roleArn} returned no complete credentials`);
  }
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
}

/** The regional STS endpoint of `region` (China regions live under amazonaws.com.cn). */
export function stsEndpoint(region: string): string {
  return `https://sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** RFC 3986 encoding as SigV4 wants it: all but unreserved characters, uppercase hex. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * SigV4 query presigning of `GET /?Action=GetCallerIdentity` (AWS's published algorithm: canonical
 * request, string to sign, key derived from the secret by date, region and service). Written here
 * rather than taken from `@smithy/signature-v4`, which is only a transitive dependency; the tests
 * check it against that signer byte for byte.
 */
function presignGetCallerIdentity(credentials: SigningCredentials, clusterName: string, region: string, host: string, now: Date): string {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const scope = `${amzDate.slice(0, 8)}/${region}/sts/aws4_request`;
  const params: Array<[string, string]> = [
    ['Action', 'GetCallerIdentity'],
    ['Version', '2011-06-15'],
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(PRESIGN_EXPIRES_SECONDS)],
    ['X-Amz-SignedHeaders', `host;${CLUSTER_ID_HEADER}`],
  ];
  if (credentials.sessionToken) params.push(['X-Amz-Security-Token', credentials.sessionToken]);
  // Keys are distinct, so sorting the encoded pairs sorts by key as the canonical query requires.
  const query = params.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).sort().join('&');
  const canonicalRequest = ['GET', '/', query, `host:${host}\n${CLUSTER_ID_HEADER}:${clusterName}\n`, `host;${CLUSTER_ID_HEADER}`, sha256Hex('')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, amzDate.slice(0, 8));
  for (const part of [region, 'sts', 'aws4_request']) key = hmac(key, part);
  return `https://${host}/?${query}&X-Amz-Signature=${hmac(key, stringToSign).toString('hex')}`;
}

/**
 * An EKS bearer token: `GetCallerIdentity` presigned with SigV4 for 60 seconds with the
 * `x-k8s-aws-id: <clusterName>` header signed, as `k8s-aws-v1.` + unpadded base64url of the URL.
 * The cluster accepts it for 15 minutes after signing (never past the credentials' own expiry).
 * `endpoint` defaults to the regional STS endpoint; tests point it at the STS double.
 */
export function eksToken(credentials: SigningCredentials, clusterName: string, region: string, now: Date, endpoint: string = stsEndpoint(region)): EksToken {
  const signedUrl = presignGetCallerIdentity(credentials, clusterName, region, new URL(endpoint).host, now);
  const lifetimeEnd = now.getTime() + EKS_TOKEN_LIFETIME_MS;
  const credentialEnd = credentials.expiration?.getTime() ?? Infinity;
  return {
    token: EKS_TOKEN_PREFIX + Buffer.from(signedUrl, 'utf8').toString('base64url'),
    expiresAt: new Date(Math.min(lifetimeEnd, credentialEnd)),
  };
}

/** Options of {@link createEksTokenSource}. */
export interface EksTokenSourceOptions {
  connection: Connection;
  grant: Grant;
  stsClient: STSClient;
  /** Default `() => new Date()`. */
  now?: () => Date;
  /** Mint a new token this long before the current one stops being accepted. Default 60 s. */
  refreshBeforeMs?: number;
  /** STS endpoint of the presigned URL; default the connection region's. */
  endpoint?: string;
}

/** The EKS token of one grant, minted on demand and kept fresh. */
export interface EksTokenSource {
  /** A token the cluster accepts for at least `refreshBeforeMs` more. */
  token(): Promise<EksToken>;
}

/**
 * Caches a grant's session and token. A token is reused until `refreshBeforeMs` before it ends;
 * the role is assumed again only when the session itself is about to end, and concurrent callers
 * share one refresh. After the grant's end it refuses: a stale grant never gets a fresh token.
 */
export function createEksTokenSource(opts: EksTokenSourceOptions): EksTokenSource {
  const { connection, grant, stsClient } = opts;
  if (connection.mode !== 'eks' || connection.clusterName === undefined || connection.region === undefined) {
    throw new EksCredentialError('not-eks-connection', `connection ${connection.name} is not in eks mode with a clusterName and region`);
  }
  const { clusterName, region } = connection;
  const now = opts.now ?? ((): Date => new Date());
  const refreshBeforeMs = opts.refreshBeforeMs ?? 60_000;
  const grantEnd = Date.parse(grant.expiresAt);
  let session: GrantCredentials | undefined;
  let current: EksToken | undefined;
  let inflight: Promise<EksToken> | undefined;

  async function refresh(): Promise<EksToken> {
    const at = now();
    // A session about to end would only yield a token as short; take a new one instead.
    if (!session || session.expiration.getTime() - at.getTime() <= 2 * refreshBeforeMs) {
      session = await assumeGrantRole(connection, grant, stsClient, at);
    }
    current = eksToken(session, clusterName, region, at, opts.endpoint ?? stsEndpoint(region));
    return current;
  }

  return {
    token() {
      const at = now().getTime();
      if (at >= grantEnd) return Promise.reject(new EksCredentialError('grant-ended', `grant ${grant.id} ended at ${grant.expiresAt}`));
      if (current && current.expiresAt.getTime() - at > refreshBeforeMs) return Promise.resolve(current);
      inflight ??= refresh().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
  };
}
