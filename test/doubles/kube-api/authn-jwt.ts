/**
 * The API double's service-account token signer: ES256 JWTs in compact form, signed and checked
 * with one P-256 key made per authenticator, with the claims kube-apiserver puts in them. Test code only.
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';

/** A `{name, uid}` reference inside the `kubernetes.io` claim. */
export interface ClaimRef {
  name: string;
  uid: string;
}

/** The private claim kube-apiserver adds under `kubernetes.io` (pkg/serviceaccount/claims.go). */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: ClaimRef;
  pod?: ClaimRef;
  secret?: ClaimRef;
  node?: { name: string; uid?: string };
}

/** The claims of a service-account token, as the real issuer writes them. */
export interface ServiceAccountClaims {
  aud: string[];
  exp: number;
  iat: number;
  iss: string;
  jti: string;
  'kubernetes.io': KubernetesClaim;
  nbf: number;
  sub: string;
}

/** What `read` finds in a token. */
export type ReadResult =
  /** Not a token of this issuer (wrong issuer, not a JWT, unsupported algorithm): other authenticators may try it. */
  | { kind: 'foreign' }
  /** Our issuer, but the signature does not verify: go-jose's text, as the real server reports it. */
  | { kind: 'bad-signature'; error: string }
  | { kind: 'signed'; claims: ServiceAccountClaims };

/** A signer and verifier of service-account tokens for one issuer. */
export interface TokenSigner {
  readonly issuer: string;
  /** Sign claims into a compact JWS. */
  sign(claims: ServiceAccountClaims): string;
  /** Read and verify a token. */
  read(token: string): ReadResult;
  /** The public key as a JWKS, as `/openid/v1/jwks` serves it. */
  jwks(): { keys: JsonWebKey[] };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Make a signer with a fresh P-256 key. The key id is the base64url SHA-256 of the DER public
 * key, as kube-apiserver derives it.
 */
export function createTokenSigner(issuer: string): TokenSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = b64url(createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest());
  const header = b64url(JSON.stringify({ alg: 'ES256', kid }));
  return {
    issuer,
    sign(claims) {
      const input = `${header}.${b64url(JSON.stringify(claims))}`;
      // JWS wants the raw r||s form, not DER.
      const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${b64url(signature)}`;
    },
    read(token) {
      return readToken(token.trim(), issuer, publicKey);
    },
    jwks() {
      const jwk = publicKey.export({ format: 'jwk' });
      return { keys: [{ ...jwk, use: 'sig', kid, alg: 'ES256' }] };
    },
  };
}

function readToken(token: string, issuer: string, publicKey: KeyObject): ReadResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { kind: 'foreign' };
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  // Like hasCorrectIssuer: a token of another issuer is left to the other authenticators.
  const payload = decodeJson(payloadPart);
  if (!isRecord(payload) || payload.iss !== issuer) return { kind: 'foreign' };
  // go-jose refuses to parse a JWS whose algorithm is not on the allowed list (so `none` and
  // HS256 never reach signature checking), and the authenticator then stays silent.
  const header = decodeJson(headerPart);
  if (!isRecord(header) || header.alg !== 'ES256') return { kind: 'foreign' };
  const signature = Buffer.from(signaturePart, 'base64url');
  const valid =
    signature.length === 64 &&
    verify('sha256', Buffer.from(`${headerPart}.${payloadPart}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!valid) return { kind: 'bad-signature', error: 'go-jose/go-jose: error in cryptographic primitive' };
  const claims = toClaims(payload);
  if (!claims) return { kind: 'bad-signature', error: 'service account token claims could not be validated due to unexpected private claim' };
  return { kind: 'signed', claims };
}

function toRef(value: unknown): ClaimRef | undefined {
  if (!isRecord(value)) return undefined;
  return { name: typeof value.name === 'string' ? value.name : '', uid: typeof value.uid === 'string' ? value.uid : '' };
}

function toClaims(payload: Record<string, unknown>): ServiceAccountClaims | undefined {
  const kube = payload['kubernetes.io'];
  if (!isRecord(kube) || typeof kube.namespace !== 'string') return undefined;
  const serviceaccount = toRef(kube.serviceaccount);
  if (!serviceaccount) return undefined;
  const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a): a is string => typeof a === 'string') : [];
  const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const claim: KubernetesClaim = { namespace: kube.namespace, serviceaccount };
  const pod = toRef(kube.pod);
  if (pod) claim.pod = pod;
  const secret = toRef(kube.secret);
  if (secret) claim.secret = secret;
  if (isRecord(kube.node) && typeof kube.node.name === 'string') {
    claim.node = { name: kube.node.name };
    if (typeof kube.node.uid === 'string') claim.node.uid = kube.node.uid;
  }
  return {
    aud,
    exp: num(payload.exp),
    iat: num(payload.iat),
    iss: String(payload.iss),
    jti: typeof payload.jti === 'string' ? payload.jti : '',
    'kubernetes.io': claim,
    nbf: num(payload.nbf),
    sub: typeof payload.sub === 'string' ? payload.sub : '',
  };
}
