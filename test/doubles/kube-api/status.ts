/**
 * Kubernetes `Status` errors as the real API server writes them (k8s.io/apimachinery
 * pkg/api/errors): the double throws a StatusError and the server writes `error.status` with
 * `error.status.code` as the HTTP status. Test code only.
 */

/** metav1.Status, failure form. */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason?: string; message: string; field?: string }>; retryAfterSeconds?: number };
  code: number;
}

/** An error that the server turns into a Status response. */
export class StatusError extends Error {
  readonly status: StatusBody;
  constructor(status: StatusBody) {
    super(status.message);
    this.status = status;
  }
}

function fail(code: number, reason: string, message: string, details?: StatusBody['details']): StatusError {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) body.details = details;
  return new StatusError(body);
}

/** `group` and `kind` of details use the resource (plural) as the real server does for NotFound. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** 404 `pods "x" not found`. */
export function notFound(resource: string, group: string, name: string): StatusError {
  return fail(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group: group || undefined, kind: resource });
}

/** 409 `pods "x" already exists`. */
export function alreadyExists(resource: string, group: string, name: string): StatusError {
  return fail(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group: group || undefined, kind: resource });
}

/** 409 optimistic-concurrency conflict, worded as the real server words it. */
export function conflict(resource: string, group: string, name: string, why: string): StatusError {
  return fail(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, { name, group: group || undefined, kind: resource });
}

/**
 * 403 as the RBAC authorizer words it, e.g.
 * `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`.
 * `message` is the text after the colon when the caller already has it.
 */
export function forbidden(resource: string, group: string, name: string, why: string): StatusError {
  const subject = name ? `${qualified(resource, group)} "${name}"` : qualified(resource, group);
  return fail(403, 'Forbidden', `${subject} is forbidden: ${why}`, { name: name || undefined, group: group || undefined, kind: resource });
}

/** 401 with the message the real server sends. */
export function unauthorized(): StatusError {
  return fail(401, 'Unauthorized', 'Unauthorized');
}

/** 400 BadRequest. */
export function badRequest(message: string): StatusError {
  return fail(400, 'BadRequest', message);
}

/** 422 Invalid, with field causes: `Pod "x" is invalid: spec.containers: Required value`. */
export function invalid(kind: string, group: string, name: string, causes: Array<{ field: string; message: string; reason?: string }>): StatusError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const message = causes.length === 1 ? `${qualifiedKind} "${name}" is invalid: ${text}` : `${qualifiedKind} "${name}" is invalid: [${text}]`;
  return fail(422, 'Invalid', message, {
    name,
    group: group || undefined,
    kind,
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(message: string): StatusError {
  return fail(405, 'MethodNotAllowed', message);
}

/** 406 NotAcceptable. */
export function notAcceptable(message: string): StatusError {
  return fail(406, 'NotAcceptable', message);
}

/** 415 UnsupportedMediaType. */
export function unsupportedMediaType(message: string): StatusError {
  return fail(415, 'UnsupportedMediaType', message);
}

/** 500 InternalError, e.g. an admission webhook that failed closed. */
export function internalError(message: string): StatusError {
  return fail(500, 'InternalError', message);
}

/** 504 Timeout. */
export function timeout(message: string): StatusError {
  return fail(504, 'Timeout', message);
}

/** Any other failure, for reasons the constructors above do not name. */
export function statusError(code: number, reason: string, message: string, details?: StatusBody['details']): StatusError {
  return fail(code, reason, message, details);
}
