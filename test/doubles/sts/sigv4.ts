/**
 * AWS Signature Version 4 as a server checks it, written from AWS's published SigV4 spec: the
 * canonical request, the string to sign, the derived signing key, for both the `Authorization`
 * header form and the presigned query form. Test code only (the STS double).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** How far a header-signed request's X-Amz-Date may be from the server's clock (AWS: 5 minutes). */
const SKEW_MS = 5 * 60 * 1000;
/** The longest X-Amz-Expires SigV4 allows (7 days). */
const MAX_EXPIRES = 604800;

/** One request as the server received it. Header names are lowercase (as node gives them). */
export interface SignedRequest {
  method: string;
  /** The raw path, before any decoding. */
  path: string;
  /** Decoded query parameters in arrival order. */
  query: Array<[string, string]>;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The parts of a signature that name the caller. */
export interface SignatureClaim {
  accessKeyId: string;
  /** `YYYYMMDD/region/service/aws4_request` */
  scope: string;
  region: string;
  service: string;
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  /** X-Amz-Security-Token from the header or the query. */
  sessionToken: string | undefined;
  presigned: boolean;
  /** For presigned requests: X-Amz-Expires. */
  expiresSeconds: number | undefined;
}

/** Why a request's signature is refused, in STS's codes. */
export interface SignatureFault {
  code: 'SignatureDoesNotMatch' | 'IncompleteSignature' | 'MissingAuthenticationToken' | 'AuthorizationQueryParametersError';
  message: string;
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, uppercase hex. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The hex SHA-256 of a payload. */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function queryValue(req: SignedRequest, name: string): string | undefined {
  return req.query.find(([k]) => k === name)?.[1];
}

/** Reads who claims to have signed the request; a fault when the signature parts are malformed. */
export function readClaim(req: SignedRequest): SignatureClaim | SignatureFault {
  const presigned = queryValue(req, 'X-Amz-Algorithm') !== undefined;
  if (presigned) {
    const algorithm = queryValue(req, 'X-Amz-Algorithm');
    const credential = queryValue(req, 'X-Amz-Credential');
    const amzDate = queryValue(req, 'X-Amz-Date');
    const signed = queryValue(req, 'X-Amz-SignedHeaders');
    const signature = queryValue(req, 'X-Amz-Signature');
    const expires = queryValue(req, 'X-Amz-Expires');
    if (algorithm !== ALGORITHM) return { code: 'AuthorizationQueryParametersError', message: `X-Amz-Algorithm only supports "${ALGORITHM}"` };
    if (!credential || !amzDate || !signed || !signature || !expires) {
      return { code: 'AuthorizationQueryParametersError', message: 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.' };
    }
    const seconds = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
    if (!(seconds >= 1 && seconds <= MAX_EXPIRES)) return { code: 'AuthorizationQueryParametersError', message: 'X-Amz-Expires must be non-negative and less than a week (in seconds)' };
    return claimFrom(credential, amzDate, signed, signature, queryValue(req, 'X-Amz-Security-Token'), true, seconds);
  }
  const authorization = header(req, 'authorization');
  if (!authorization) return { code: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token' };
  const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(authorization.trim());
  if (!m) return { code: 'IncompleteSignature', message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${authorization.split(' ')[0] ?? ''}` };
  const amzDate = header(req, 'x-amz-date');
  if (!amzDate) return { code: 'IncompleteSignature', message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header." };
  return claimFrom(m[1] ?? '', amzDate, m[2] ?? '', m[3] ?? '', header(req, 'x-amz-security-token'), false, undefined);
}

function claimFrom(credential: string, amzDate: string, signed: string, signature: string, sessionToken: string | undefined, presigned: boolean, expiresSeconds: number | undefined): SignatureClaim | SignatureFault {
  const [accessKeyId = '', date = '', region = '', service = '', terminator = '', ...rest] = credential.split('/');
  if (!accessKeyId || !date || !region || !service || terminator !== 'aws4_request' || rest.length > 0) {
    return { code: 'IncompleteSignature', message: `Credential should be scoped to a valid region, not '${region}'. ` };
  }
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) return { code: 'IncompleteSignature', message: `Date must be in ISO-8601 'basic format'. Got '${amzDate}'.` };
  if (!amzDate.startsWith(date)) return { code: 'SignatureDoesNotMatch', message: `Credential should be scoped to a valid date: ${date} does not match ${amzDate.slice(0, 8)}` };
  if (service !== 'sts') return { code: 'SignatureDoesNotMatch', message: `Credential should be scoped to correct service: 'sts'. ` };
  return {
    accessKeyId, scope: `${date}/${region}/${service}/aws4_request`, region, service, amzDate,
    signedHeaders: signed.split(';'), signature, sessionToken, presigned, expiresSeconds,
  };
}

/** Milliseconds since the epoch of an ISO-8601 basic date (`20250601T120000Z`). */
export function parseAmzDate(amzDate: string): number {
  return Date.UTC(Number(amzDate.slice(0, 4)), Number(amzDate.slice(4, 6)) - 1, Number(amzDate.slice(6, 8)), Number(amzDate.slice(9, 11)), Number(amzDate.slice(11, 13)), Number(amzDate.slice(13, 15)));
}

/** The canonical request of `req` under `claim`: what both sides must hash identically. */
export function canonicalRequest(req: SignedRequest, claim: SignatureClaim): string {
  const pathOnly = req.path.split('?')[0] ?? '/';
  // Non-S3 services normalise the path and encode each segment twice (once by the client, once here).
  const canonicalPath = pathOnly.split('/').map((segment) => uriEncode(uriEncode(safeDecode(segment)))).join('/') || '/';
  const query = req.query
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = claim.signedHeaders.map((name) => `${name}:${(header(req, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  return [req.method, canonicalPath, query, headers, claim.signedHeaders.join(';'), sha256Hex(req.body)].join('\n');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The string to sign for `canonical` under `claim`. */
export function stringToSign(canonical: string, claim: SignatureClaim): string {
  return [ALGORITHM, claim.amzDate, claim.scope, sha256Hex(canonical)].join('\n');
}

/**
 * Checks `claim` against the request with the caller's secret: the signed headers must include
 * `host`, the date must be fresh (header form: within 5 minutes; presigned: within `presignWindowMs`
 * of X-Amz-Date), and the signature must match. Undefined when it holds.
 */
export function checkSignature(req: SignedRequest, claim: SignatureClaim, secretAccessKey: string, now: number, presignWindowMs: number): SignatureFault | undefined {
  if (!claim.signedHeaders.includes('host')) return { code: 'SignatureDoesNotMatch', message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization." };
  const signedAt = parseAmzDate(claim.amzDate);
  if (claim.presigned) {
    if (now > signedAt + presignWindowMs) return { code: 'SignatureDoesNotMatch', message: `Signature expired: ${claim.amzDate} is now earlier than ${amzDate(now - presignWindowMs)} (${amzDate(now)} - ${presignWindowMs / 60000} min.)` };
  } else if (now - signedAt > SKEW_MS) {
    return { code: 'SignatureDoesNotMatch', message: `Signature expired: ${claim.amzDate} is now earlier than ${amzDate(now - SKEW_MS)} (${amzDate(now)} - 5 min.)` };
  }
  if (signedAt - now > SKEW_MS) return { code: 'SignatureDoesNotMatch', message: `Signature not yet current: ${claim.amzDate} is still later than ${amzDate(now + SKEW_MS)} (${amzDate(now)} + 5 min.)` };
  const canonical = canonicalRequest(req, claim);
  const toSign = stringToSign(canonical, claim);
  const expected = createHmac('sha256', signingKey(secretAccessKey, claim.amzDate.slice(0, 8), claim.region, claim.service)).update(toSign).digest();
  const given = Buffer.from(claim.signature, 'hex');
  if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  // Real STS spells out what it expected, which is what makes a signing bug debuggable.
  return {
    code: 'SignatureDoesNotMatch',
    message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
      + (claim.presigned ? `\n\nThe Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${toSign}'\n` : ''),
  };
}

/** `20250601T120000Z` for a time in milliseconds. */
export function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
