// The AdmissionReview v1 envelope: decoding and checking what the API server sends, and the
// outcome-named constructors of the answer (always HTTP 200 with the request's uid).
import { failure, STATUS_CODES, type Status, type StatusReason } from '../src/kube/status.ts';
import type { JsonPatchOp } from './inject/json.ts';

/** The group/version/kind of the object under review. */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** The group/version/resource the request addressed. */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** Who made the request (authentication.k8s.io/v1 UserInfo). */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The operations admission reviews carry. */
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** AdmissionRequest (admission.k8s.io/v1), with the fields agentgate reads checked on decode. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

/** An AdmissionReview as received. */
export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

/** AdmissionResponse (admission.k8s.io/v1). */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: Status;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
}

/** The body answered to the API server. */
export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The API server's version of this envelope; v1beta1 has other defaults and is not spoken. */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
const operations: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasStrings(value: unknown, keys: readonly string[]): boolean {
  return isObject(value) && keys.every((key) => typeof value[key] === 'string');
}

function describe(value: unknown): string {
  return value === undefined ? 'missing' : `${JSON.stringify(value)?.slice(0, 64)}`;
}

/**
 * Checks a decoded body. Anything that is not an AdmissionReview v1 with a request, a uid, an
 * operation, a kind, a resource and a userInfo gets a 400 Status saying which field is wrong:
 * without a uid there is no request to answer.
 */
export function decodeReview(body: unknown): { review: AdmissionReview } | { status: Status } {
  const bad = (message: string) => ({ status: failure('BadRequest', message) });
  if (!isObject(body)) return bad('the body is not a JSON object: expected an AdmissionReview');
  if (body.kind !== 'AdmissionReview') return bad(`kind is ${describe(body.kind)}: expected AdmissionReview`);
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return bad(`apiVersion is ${describe(body.apiVersion)}: expected ${ADMISSION_API_VERSION} (list only "v1" in the webhook's admissionReviewVersions)`);
  }
  const request = body.request;
  if (!isObject(request)) return bad('request is missing: expected an AdmissionReview with a request');
  if (typeof request.uid !== 'string' || request.uid === '') return bad(`request.uid is ${describe(request.uid)}: expected the request's uid`);
  if (typeof request.operation !== 'string' || !operations.includes(request.operation)) {
    return bad(`request.operation is ${describe(request.operation)}: expected one of ${operations.join(', ')}`);
  }
  if (!hasStrings(request.kind, ['group', 'version', 'kind'])) return bad(`request.kind is ${describe(request.kind)}: expected {group, version, kind}`);
  if (!hasStrings(request.resource, ['group', 'version', 'resource'])) {
    return bad(`request.resource is ${describe(request.resource)}: expected {group, version, resource}`);
  }
  if (!isObject(request.userInfo)) return bad(`request.userInfo is ${describe(request.userInfo)}: expected the requesting user`);
  return { review: body as unknown as AdmissionReview };
}

function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

// The API server may truncate warnings over 256 characters; cut them ourselves, visibly.
function cleanWarnings(warnings: readonly string[]): string[] {
  return warnings.filter((w) => w !== '').map((w) => (w.length > 256 ? `${w.slice(0, 253)}...` : w));
}

function withWarnings(response: AdmissionResponse, warnings: readonly string[]): AdmissionResponse {
  const cleaned = cleanWarnings(warnings);
  return cleaned.length > 0 ? { ...response, warnings: cleaned } : response;
}

/** The request is allowed as it is. */
export function allowed(uid: string, warnings: readonly string[] = []): AdmissionReviewResponse {
  return review(withWarnings({ uid, allowed: true }, warnings));
}

/**
 * The request is refused (403) for `code`, a stable reason carried as the Status's first cause.
 * The API server prefixes the message with `admission webhook "<name>" denied the request:`.
 */
export function denied(uid: string, code: string, message: string): AdmissionReviewResponse {
  return review({ uid, allowed: false, status: failure('Forbidden', message, { code }) });
}

/** The request is allowed with a JSONPatch (base64 of its JSON); an empty patch is a plain allow. */
export function patched(uid: string, patch: readonly JsonPatchOp[], warnings: readonly string[] = []): AdmissionReviewResponse {
  if (patch.length === 0) return allowed(uid, warnings);
  const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
  return review(withWarnings({ uid, allowed: true, patchType: 'JSONPatch', patch: encoded }, warnings));
}

const reasonByCode = new Map<number, StatusReason>(Object.entries(STATUS_CODES).map(([reason, code]) => [code, reason as StatusReason]));

/**
 * The webhook could not decide (e.g. a lookup failed): refused, with `httpCode` telling the
 * client whether retrying may help. Never allowed, so a failure cannot open the gate.
 */
export function errored(uid: string, httpCode: number, message: string): AdmissionReviewResponse {
  const status = failure(reasonByCode.get(httpCode) ?? 'InternalError', message);
  return review({ uid, allowed: false, status: { ...status, code: httpCode } });
}
