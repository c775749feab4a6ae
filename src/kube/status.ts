/**
 * The one place that builds Kubernetes `Status` errors (meta/v1 Status, failure form), so that
 * kubectl and every client library print agentgate's refusals as they print the API server's:
 * kubectl shows `Error from server (Reason): message`.
 */
import type { ServerResponse } from 'node:http';

/** The `reason` values of metav1.StatusReason that agentgate uses. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'Conflict'
  | 'Gone'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  // agentgate's own: a write that carries a masked value back (kubectl prints the reason as is).
  | 'MaskedValueWriteBack';

/** One cause in `details.causes`; agentgate puts its stable reason code in `reason`. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** `details` of a Status. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A metav1.Status failure, as it goes on the wire. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** The HTTP code that goes with each reason, as the API server pairs them. */
export const STATUS_CODES: Readonly<Record<StatusReason, number>> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  Conflict: 409,
  Gone: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
  MaskedValueWriteBack: 422,
};

/**
 * Build a failure Status. `code` (agentgate's stable reason code, e.g. `guardrail-cluster-admin`)
 * is carried as the first cause so that scripts can branch on it without parsing the message.
 */
export function failure(reason: StatusReason, message: string, options: { code?: string; details?: StatusDetails } = {}): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: STATUS_CODES[reason] };
  const details: StatusDetails = { ...options.details };
  if (options.code) details.causes = [{ reason: options.code, message }, ...(details.causes ?? [])];
  if (Object.keys(details).length > 0) status.details = details;
  return status;
}

/** The agentgate reason code of a Status built by `failure`, if any. */
export function reasonCode(status: Status): string | undefined {
  return status.details?.causes?.[0]?.reason;
}

/** Serialize once: Status bodies are small and written on hot error paths. */
export function statusBody(status: Status): string {
  return JSON.stringify(status);
}

/** Write a Status as the response, with the headers the API server sends with one. */
export function writeStatus(res: ServerResponse, status: Status, headers: Record<string, string> = {}): void {
  const body = statusBody(status);
  const retry = status.details?.retryAfterSeconds;
  res.writeHead(status.code, {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
    'content-length': Buffer.byteLength(body),
    ...(retry !== undefined ? { 'retry-after': String(retry) } : {}),
    ...headers,
  });
  res.end(body);
}
