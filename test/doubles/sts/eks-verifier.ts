/**
 * An EKS token verifier for the Kubernetes API double, doing what the cluster's authenticator
 * (aws-iam-authenticator) does: decode the `k8s-aws-v1.` token, check the presigned URL's form,
 * replay it to STS (here the double) with this cluster's `x-k8s-aws-id`, and map the assumed
 * role's session name to a user through an access entry's username template. Test code only.
 */
import { request } from 'node:https';
import type { UserInfo } from '../kube-api/types.ts';

const PREFIX = 'k8s-aws-v1.';
/** aws-iam-authenticator refuses longer tokens before decoding them. */
const MAX_TOKEN_LENGTH = 4096;
/** Tokens are honoured for 15 minutes after X-Amz-Date, whatever X-Amz-Expires says. */
const TOKEN_WINDOW_MS = 15 * 60 * 1000;
const ALLOWED_PARAMS = new Set(['action', 'version', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-security-token', 'x-amz-signature', 'x-amz-signedheaders']);

/** Options of {@link createEksVerifier}. */
export interface EksVerifierOptions {
  /** This cluster's name: the `x-k8s-aws-id` a token must have been signed for. */
  clusterName: string;
  /** The STS endpoint tokens must point at (the double's `url`). */
  stsEndpoint: string;
  /** CA that signed the STS endpoint's certificate. */
  caPem: string;
  /** The IAM role whose sessions the access entry maps (matched without its path, as EKS does). */
  roleArn: string;
  /** The access entry's username. Default `agentgate:grant:{{SessionName}}`. */
  usernameTemplate?: string;
  /** The access entry's Kubernetes groups. Default none. */
  groups?: string[];
  /** Largest X-Amz-Expires accepted. Default 60 (what `aws eks get-token` sends). */
  maxExpiresSeconds?: number;
  /** Clock in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

/** What one token came to: a user, or why it was refused (the authenticator's wording). */
export type EksVerification = { ok: true; user: UserInfo } | { ok: false; reason: string };

/** A verifier: call it as the API double's `eksVerifier`, or `check` it for the reason. */
export interface EksVerifier {
  (token: string): Promise<UserInfo | undefined>;
  check(token: string): Promise<EksVerification>;
}

/** `arn:aws:iam::ACCOUNT:role/NAME` of an assumed-role ARN or a role ARN (path dropped). */
function canonicalRoleArn(arn: string): string | undefined {
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  if (assumed) return `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}`;
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  return role ? `arn:${role[1]}:iam::${role[2]}:role/${role[3]}` : undefined;
}

function renderTemplate(template: string, v: { account: string; sessionName: string; accessKeyId: string }): string {
  return template
    .replaceAll('{{AccountID}}', v.account)
    // {{SessionName}} turns '@' into '-' (email-shaped session names); {{SessionNameRaw}} keeps it.
    .replaceAll('{{SessionNameRaw}}', v.sessionName)
    .replaceAll('{{SessionName}}', v.sessionName.replaceAll('@', '-'))
    .replaceAll('{{AccessKeyID}}', v.accessKeyId);
}

function getJson(url: string, headers: Record<string, string>, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('STS request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function field(json: unknown, ...path: string[]): unknown {
  let at = json;
  for (const key of path) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Builds a verifier bound to one cluster and one access entry. */
export function createEksVerifier(opts: EksVerifierOptions): EksVerifier {
  const stsHost = new URL(opts.stsEndpoint).host;
  const template = opts.usernameTemplate ?? 'agentgate:grant:{{SessionName}}';
  const canonicalMapped = canonicalRoleArn(opts.roleArn);
  if (!canonicalMapped) throw new TypeError(`createEksVerifier: roleArn must be an IAM role ARN, got ${opts.roleArn}`);
  const mappedRole: string = canonicalMapped;
  const maxExpires = opts.maxExpiresSeconds ?? 60;
  const now = opts.now ?? Date.now;
  const refuse = (reason: string): EksVerification => ({ ok: false, reason });

  async function check(token: string): Promise<EksVerification> {
    if (token.length > MAX_TOKEN_LENGTH) return refuse('token is too large');
    if (!token.startsWith(PREFIX)) return refuse(`token is missing expected "${PREFIX}" prefix`);
    const encoded = token.slice(PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return refuse('illegal base64 data in token');
    let url: URL;
    try {
      url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
    } catch {
      return refuse('token is not a URL');
    }
    if (url.protocol !== 'https:') return refuse(`unexpected scheme "${url.protocol.slice(0, -1)}" in pre-signed URL`);
    if (url.host !== stsHost) return refuse(`unexpected hostname "${url.host}" in pre-signed URL`);
    if (url.pathname !== '/') return refuse('unexpected path in pre-signed URL');
    const params = new Map<string, string>();
    for (const [key, value] of url.searchParams) {
      const lower = key.toLowerCase();
      if (!ALLOWED_PARAMS.has(lower)) return refuse(`non-whitelisted query parameter "${key}"`);
      if (params.has(lower)) return refuse(`duplicate query parameter found: "${key}"`);
      params.set(lower, value);
    }
    if (params.get('action') !== 'GetCallerIdentity') return refuse('unexpected action parameter in pre-signed URL');
    if (!(params.get('x-amz-signedheaders') ?? '').split(';').some((h) => h.toLowerCase() === 'x-k8s-aws-id')) {
      return refuse('client did not sign the x-k8s-aws-id header in the pre-signed URL');
    }
    const expiresText = params.get('x-amz-expires') ?? '';
    const expires = /^\d+$/.test(expiresText) ? Number(expiresText) : NaN;
    if (!(expires >= 0 && expires <= maxExpires)) return refuse(`invalid X-Amz-Expires parameter in pre-signed URL: ${expiresText}`);
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(params.get('x-amz-date') ?? '');
    if (!date) return refuse('X-Amz-Date parameter must be present in pre-signed URL, in ISO-8601 basic format');
    const signedAt = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
    if (now() > signedAt + TOKEN_WINDOW_MS) return refuse(`X-Amz-Date parameter is expired (15 minute expiration) ${new Date(signedAt).toISOString()}`);

    // The header is this cluster's name, not the token's: a token signed for another cluster
    // fails STS's signature check, which is what binds a token to one cluster.
    let answer;
    try {
      answer = await getJson(url.href, { 'x-k8s-aws-id': opts.clusterName, accept: 'application/json' }, opts.caPem);
    } catch (err) {
      return refuse(`error during GET: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (answer.status !== 200) {
      // Only the code and the first line: STS's full message echoes the canonical request,
      // session token included, which has no place in a test log.
      const code = field(safeJson(answer.body), 'Error', 'Code');
      const message = field(safeJson(answer.body), 'Error', 'Message');
      const line = typeof message === 'string' ? message.split('\n')[0] : '';
      return refuse(`error from AWS (expected 200, got ${answer.status}): ${typeof code === 'string' ? code : 'unknown'}: ${line ?? ''}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      return refuse('STS answered with something other than JSON');
    }
    const result = ['GetCallerIdentityResponse', 'GetCallerIdentityResult'];
    const arn = field(json, ...result, 'Arn');
    const userId = field(json, ...result, 'UserId');
    const account = field(json, ...result, 'Account');
    if (typeof arn !== 'string' || typeof userId !== 'string' || typeof account !== 'string') return refuse('STS answer lacks Arn, UserId or Account');
    const [principalId, sessionName, ...extra] = userId.split(':');
    if (!principalId || !sessionName || extra.length > 0 || !arn.startsWith('arn:') || !arn.endsWith(`/${sessionName}`)) return refuse(`malformed UserId "${userId}"`);
    const canonical = canonicalRoleArn(arn);
    if (canonical !== mappedRole) return refuse(`ARN is not mapped: ${canonical ?? arn}`);
    const accessKeyId = (params.get('x-amz-credential') ?? '').split('/')[0] ?? '';
    const user: UserInfo = {
      username: renderTemplate(template, { account, sessionName, accessKeyId }),
      uid: `aws-iam-authenticator:${account}:${principalId}`,
      groups: [...(opts.groups ?? [])],
      extra: { arn: [arn], canonicalArn: [mappedRole], sessionName: [sessionName], accessKeyId: [accessKeyId], principalId: [principalId] },
    };
    return { ok: true, user };
  }

  const verify = async (token: string): Promise<UserInfo | undefined> => {
    const outcome = await check(token);
    return outcome.ok ? outcome.user : undefined;
  };
  return Object.assign(verify, { check });
}
