/**
 * Authentication of the API double: bearer tokens from a static table, service-account tokens the
 * double issued itself (bound to live objects, checked on every request), and EKS tokens handed to a
 * verifier; plus the TokenRequest and TokenReview APIs. Test code only.
 */
import { randomUUID } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { createTokenSigner } from './authn-jwt.ts';
import type { ClaimRef, ServiceAccountClaims, TokenSigner } from './authn-jwt.ts';
import { badRequest, conflict, invalid, notFound } from './status.ts';
import type { KubeObject, StoreReader, UserInfo } from './types.ts';

/** The issuer (and so the API audience) kube-apiserver uses unless configured otherwise. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc';
const AUTHENTICATED = 'system:authenticated';
const EKS_PREFIX = 'k8s-aws-v1.';
const INVALID_BEARER_TOKEN = 'invalid bearer token';
/** go-jose's default clock skew allowance, which the service-account validator inherits. */
const LEEWAY_SECONDS = 60;
const DEFAULT_EXPIRATION_SECONDS = 3600;
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;

/** Options of `createAuthenticator`. */
export interface AuthenticatorOptions {
  store: StoreReader;
  /** token → user, like `--token-auth-file`. */
  staticTokens?: Record<string, UserInfo>;
  /** The service-account issuer; also the API audience. Default `https://kubernetes.default.svc`. */
  issuer?: string;
  /** Verifies `k8s-aws-v1.` tokens, as the EKS authenticator webhook does. */
  eksVerifier?: (token: string) => Promise<UserInfo | undefined>;
  /** Clock in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

/** The double's authenticator and the token APIs that share its key. */
export interface Authenticator {
  readonly issuer: string;
  /** The audiences a token must carry to be used against the API itself. */
  readonly apiAudiences: string[];
  /** Authenticate an `Authorization` header value; undefined means 401. */
  authenticate(authorization: string | undefined): Promise<UserInfo | undefined>;
  /** POST .../namespaces/NS/serviceaccounts/NAME/token: an authentication.k8s.io/v1 TokenRequest. */
  tokenRequest(namespace: string, serviceAccountName: string, body: unknown): KubeObject;
  /**
   * POST /apis/authentication.k8s.io/v1/tokenreviews. Synchronous, so EKS tokens (which need the
   * asynchronous verifier) are not reviewed here: they come back unauthenticated.
   */
  tokenReview(body: unknown): KubeObject;
  /** The signing key as a JWKS (`/openid/v1/jwks`). */
  jwks(): { keys: JsonWebKey[] };
}

/** The user the real server gives a request with no credentials at all (anonymous auth on). */
export function anonymousUser(): UserInfo {
  return { username: 'system:anonymous', groups: ['system:unauthenticated'] };
}

/** The outcome of checking one token against a set of audiences. */
interface TokenOutcome {
  user?: UserInfo;
  audiences?: string[];
  error?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Go's `%q` of a []string: `["a" "b"]`. */
function goQuoteList(values: string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(' ')}]`;
}

/** The bearer token of a header, parsed as apiserver's bearertoken authenticator does. */
function bearerToken(authorization: string | undefined): string | undefined {
  const parts = (authorization ?? '').trim().split(' ');
  if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return undefined;
  // A second space leaves an empty token, which is refused, as in SplitN(auth, " ", 3).
  return parts[1] ? parts[1] : undefined;
}

/** AuthenticatedGroupAdder: every authenticated user is in system:authenticated. */
function withAuthenticated(user: UserInfo): UserInfo {
  const groups = user.groups.includes(AUTHENTICATED) ? [...user.groups] : [...user.groups, AUTHENTICATED];
  return { ...user, groups };
}

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function deletedBefore(object: KubeObject, limitMs: number): boolean {
  const at = object.metadata.deletionTimestamp;
  return typeof at === 'string' && Date.parse(at) < limitMs;
}

/** Create the double's authenticator. Its signing key lives as long as the returned object. */
export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const issuer = opts.issuer ?? DEFAULT_ISSUER;
  const apiAudiences = [issuer];
  const now = opts.now ?? Date.now;
  const signer: TokenSigner = createTokenSigner(issuer);
  const staticTokens = new Map(Object.entries(opts.staticTokens ?? {}));
  const { store } = opts;

  /** The bound-object checks of pkg/serviceaccount/claims.go Validate, in its order. */
  function validateClaims(claims: ServiceAccountClaims, nowMs: number): { user?: UserInfo; error?: string } {
    const seconds = nowMs / 1000;
    if (claims.nbf && seconds + LEEWAY_SECONDS < claims.nbf) return { error: 'service account token is not valid yet' };
    if (claims.exp && seconds - LEEWAY_SECONDS > claims.exp) return { error: 'service account token has expired' };
    const { namespace, serviceaccount: saRef, pod: podRef, secret: secretRef } = claims['kubernetes.io'];
    const invalidIfDeletedBefore = nowMs - LEEWAY_SECONDS * 1000;
    const sa = store.get('serviceaccounts', namespace, saRef.name);
    if (!sa) return { error: `serviceaccounts "${saRef.name}" not found` };
    if (deletedBefore(sa, invalidIfDeletedBefore)) return { error: `service account ${namespace}/${saRef.name} has been deleted` };
    if (sa.metadata.uid !== saRef.uid) return { error: `service account UID (${sa.metadata.uid ?? ''}) does not match claim (${saRef.uid})` };
    const boundCheck = (resource: string, ref: ClaimRef | undefined, label: string): string | undefined => {
      if (!ref) return undefined;
      const bound = store.get(resource, namespace, ref.name);
      if (!bound || deletedBefore(bound, invalidIfDeletedBefore)) return 'service account token has been invalidated';
      if (bound.metadata.uid !== ref.uid) return `${label} UID (${bound.metadata.uid ?? ''}) does not match service account ${label} ref claim (${ref.uid})`;
      return undefined;
    };
    const boundError = boundCheck('secrets', secretRef, 'secret') ?? boundCheck('pods', podRef, 'pod');
    if (boundError) return { error: boundError };
    const user: UserInfo = {
      username: `system:serviceaccount:${namespace}:${saRef.name}`,
      uid: saRef.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
    };
    const extra: Record<string, string[]> = {};
    if (podRef) {
      extra['authentication.kubernetes.io/pod-name'] = [podRef.name];
      extra['authentication.kubernetes.io/pod-uid'] = [podRef.uid];
    }
    if (claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    if (Object.keys(extra).length > 0) user.extra = extra;
    return { user };
  }

  /** Token authenticators in the real union's order: static file, service accounts (then webhooks). */
  function reviewSync(token: string, audiences: string[]): TokenOutcome {
    // Static tokens and webhooks are audience-agnostic: they answer only for the API's own audiences.
    const apiAuds = audiences.filter((a) => apiAudiences.includes(a));
    const fixed = staticTokens.get(token);
    if (fixed && apiAuds.length > 0) return { user: withAuthenticated(fixed), audiences: apiAuds };
    const read = signer.read(token);
    if (read.kind === 'foreign') return { error: INVALID_BEARER_TOKEN };
    // The real chain reports the service-account error beside the bearer-token authenticator's own.
    const fail = (error: string): TokenOutcome => ({ error: `[${INVALID_BEARER_TOKEN}, ${error}]` });
    if (read.kind === 'bad-signature') return fail(read.error);
    const tokenAuds = read.claims.aud;
    const matched = tokenAuds.filter((a) => audiences.includes(a));
    if (matched.length === 0) return fail(`token audiences ${goQuoteList(tokenAuds)} is invalid for the target audiences ${goQuoteList(audiences)}`);
    const checked = validateClaims(read.claims, now());
    if (!checked.user) return fail(checked.error ?? 'service account token could not be validated');
    return { user: withAuthenticated(checked.user), audiences: matched };
  }

  function tokenRequest(namespace: string, serviceAccountName: string, body: unknown): KubeObject {
    const request = isRecord(body) ? body : {};
    const metadata = isRecord(request.metadata) ? request.metadata : {};
    const spec = isRecord(request.spec) ? request.spec : {};
    const group = 'authentication.k8s.io';
    if (typeof metadata.name === 'string' && metadata.name && metadata.name !== serviceAccountName) {
      throw invalid('TokenRequest', group, serviceAccountName, [{ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(metadata.name)}: must match the service account name if specified` }]);
    }
    if (typeof metadata.namespace === 'string' && metadata.namespace && metadata.namespace !== namespace) {
      throw invalid('TokenRequest', group, serviceAccountName, [{ field: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(metadata.namespace)}: must match the service account namespace if specified` }]);
    }
    const sa = store.get('serviceaccounts', namespace, serviceAccountName);
    if (!sa) throw notFound('serviceaccounts', '', serviceAccountName);
    const requested = stringList(spec.audiences);
    const audiences = requested.length > 0 ? requested : [...apiAudiences];
    const expirationSeconds = typeof spec.expirationSeconds === 'number' ? Math.trunc(spec.expirationSeconds) : DEFAULT_EXPIRATION_SECONDS;
    if (expirationSeconds < MIN_EXPIRATION_SECONDS) {
      throw invalid('TokenRequest', group, '', [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes` }]);
    }
    if (expirationSeconds > MAX_EXPIRATION_SECONDS) {
      throw invalid('TokenRequest', group, '', [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds` }]);
    }
    const claim: ServiceAccountClaims['kubernetes.io'] = { namespace, serviceaccount: { name: serviceAccountName, uid: sa.metadata.uid ?? '' } };
    const ref = isRecord(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
    if (ref) {
      const kind = typeof ref.kind === 'string' ? ref.kind : '';
      const apiVersion = typeof ref.apiVersion === 'string' ? ref.apiVersion : '';
      const name = typeof ref.name === 'string' ? ref.name : '';
      const slash = apiVersion.indexOf('/');
      const refGroup = slash >= 0 ? apiVersion.slice(0, slash) : '';
      const refVersion = slash >= 0 ? apiVersion.slice(slash + 1) : apiVersion;
      let bound: KubeObject | undefined;
      if (refGroup === '' && kind === 'Pod') {
        bound = store.get('pods', namespace, name);
        if (!bound) throw notFound('pods', '', name);
        const podSpec = isRecord(bound.spec) ? bound.spec : {};
        if (podSpec.serviceAccountName !== serviceAccountName) {
          throw badRequest(`cannot bind token for serviceaccount "${serviceAccountName}" to pod running with different serviceaccount name.`);
        }
        claim.pod = { name, uid: bound.metadata.uid ?? '' };
      } else if (refGroup === '' && kind === 'Secret') {
        bound = store.get('secrets', namespace, name);
        if (!bound) throw notFound('secrets', '', name);
        claim.secret = { name, uid: bound.metadata.uid ?? '' };
      } else {
        throw badRequest(`cannot bind token to object of type ${refGroup}/${refVersion}, Kind=${kind}`);
      }
      const uid = typeof ref.uid === 'string' ? ref.uid : '';
      if (uid && uid !== bound.metadata.uid) {
        throw conflict(kind, refGroup, name, `the UID in the bound object reference (${uid}) does not match the UID in record. The object might have been deleted and then recreated`);
      }
    }
    const nowMs = now();
    const iat = Math.floor(nowMs / 1000);
    const claims: ServiceAccountClaims = {
      aud: audiences,
      exp: iat + expirationSeconds,
      iat,
      iss: issuer,
      jti: randomUUID(),
      'kubernetes.io': claim,
      nbf: iat,
      sub: `system:serviceaccount:${namespace}:${serviceAccountName}`,
    };
    const outSpec: Record<string, unknown> = { audiences, expirationSeconds };
    if (ref) outSpec.boundObjectRef = ref;
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: serviceAccountName, namespace, creationTimestamp: rfc3339(nowMs) },
      spec: outSpec,
      status: { token: signer.sign(claims), expirationTimestamp: rfc3339(claims.exp * 1000) },
    };
  }

  function tokenReview(body: unknown): KubeObject {
    const review = isRecord(body) ? body : {};
    const spec = isRecord(review.spec) ? review.spec : {};
    const token = typeof spec.token === 'string' ? spec.token : '';
    if (!token) throw badRequest('token is required for TokenReview in authentication');
    const requested = stringList(spec.audiences);
    const outcome = token.startsWith(EKS_PREFIX) ? { error: INVALID_BEARER_TOKEN } : reviewSync(token, requested.length > 0 ? requested : apiAudiences);
    const status: Record<string, unknown> = {};
    if (outcome.user) {
      status.authenticated = true;
      status.user = outcome.user;
      status.audiences = outcome.audiences;
    } else {
      // `authenticated` is omitempty and `user` an empty struct when the token is refused.
      status.user = {};
      status.error = outcome.error;
    }
    return { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: {}, spec, status };
  }

  return {
    issuer,
    apiAudiences,
    async authenticate(authorization) {
      const token = bearerToken(authorization);
      if (!token) return undefined;
      if (token.startsWith(EKS_PREFIX)) {
        const user = opts.eksVerifier ? await opts.eksVerifier(token) : undefined;
        return user ? withAuthenticated(user) : undefined;
      }
      return reviewSync(token, apiAudiences).user;
    },
    tokenRequest,
    tokenReview,
    jwks: () => signer.jwks(),
  };
}
