// The sidecar ↔ broker API v1: its envelope (paths, contract header, errors). The messages are
// in attributes.ts, decision.ts, stream.ts, audit.ts and access-request.ts; this file states
// the rules by which v1 may evolve, because injected sidecars outlive broker upgrades.
//
// Evolution within v1:
// - A reader ignores object fields it does not know: they are dropped when parsed, so a newer
//   peer may add optional fields freely. Required fields never disappear and never change type.
// - Enumerations are closed (outcome, phase, mode…), except three open sets that grow within
//   v1: decision reason codes, BrokerError codes and stream event types. Readers branch on the
//   closed fields, show the text of unknown codes, and skip stream events of unknown type.
// - Anything else is v2: a new path prefix `/v2/` and `Agentgate-Contract: v2`.
import * as z from 'zod';
import { ReasonCodeString } from './reasons.ts';

/** The `apiVersion` of every v1 message body. */
export const BROKER_API_VERSION = 'agentgate.io/v1';

/** The literal schema of that apiVersion. */
export const BrokerApiVersion = z.literal(BROKER_API_VERSION, { message: `must be "${BROKER_API_VERSION}"` });

/** The header by which both sides name the contract's major version. */
export const CONTRACT_HEADER = 'Agentgate-Contract';

/** The major version this build speaks. */
export const CONTRACT_VERSION = 'v1';

/** The paths of v1. `{id}` is an access request id. */
export const BrokerPaths = Object.freeze({
  decisions: '/v1/decisions',
  stream: '/v1/stream',
  audit: '/v1/audit',
  accessRequests: '/v1/accessrequests',
  accessRequest: (id: string): string => `/v1/accessrequests/${encodeURIComponent(id)}`,
});

/** BrokerError codes with their HTTP status and default text. Open within v1, like reasons. */
export const BrokerErrors = Object.freeze({
  'contract-unsupported': { status: 400, message: 'This broker does not speak the contract version the sidecar named.' },
  'bad-request': { status: 400, message: 'The request body does not match the contract.' },
  unauthenticated: { status: 401, message: "The sidecar's broker token is missing, expired or has the wrong audience." },
  'identity-invalid': { status: 403, message: "The token's pod is not an injected agent pod, or does not match the podUid sent." },
  'not-found': { status: 404, message: 'No such object.' },
  conflict: { status: 409, message: 'The object changed meanwhile; read it again.' },
  'payload-too-large': { status: 413, message: 'The request body is larger than the contract allows.' },
  'rate-limited': { status: 429, message: 'Too many requests from this pod; retry after the indicated delay.' },
  internal: { status: 500, message: 'The broker failed unexpectedly.' },
  'redis-unavailable': { status: 503, message: 'The broker cannot reach its grant store; retry shortly.' },
  unavailable: { status: 503, message: 'The broker is starting or shutting down; retry shortly.' },
} as const);

/** A BrokerError code this build knows. */
export type BrokerErrorCode = keyof typeof BrokerErrors;

/** The body of every non-2xx broker answer. */
export const BrokerErrorSchema = z.object({
  apiVersion: BrokerApiVersion,
  code: ReasonCodeString,
  message: z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
  retryAfterSeconds: z.number().int().min(0).max(3600).optional(),
});

/** The body of every non-2xx broker answer. */
export type BrokerError = z.infer<typeof BrokerErrorSchema>;

/** Builds a BrokerError with the table's text, or a more precise one. */
export function brokerError(code: BrokerErrorCode, message: string = BrokerErrors[code].message, retryAfterSeconds?: number): BrokerError {
  const error: BrokerError = { apiVersion: BROKER_API_VERSION, code, message };
  if (retryAfterSeconds !== undefined) error.retryAfterSeconds = retryAfterSeconds;
  return error;
}

/** The HTTP status of an error code; unknown codes from a newer broker count as 500. */
export function brokerErrorStatus(code: string): number {
  return Object.hasOwn(BrokerErrors, code) ? BrokerErrors[code as BrokerErrorCode].status : 500;
}

/**
 * Checks a request's `Agentgate-Contract` header on the broker's side. A missing header means
 * v1 (the first sidecars may omit it); `v1` and `v1.<minor>` are accepted; anything else gets
 * the 400 BrokerError returned here.
 */
export function checkContractHeader(value: string | undefined): BrokerError | undefined {
  if (value === undefined) return undefined;
  const major = value.trim().toLowerCase().split('.')[0];
  if (major === CONTRACT_VERSION) return undefined;
  return brokerError('contract-unsupported', `This broker speaks contract ${CONTRACT_VERSION}; the sidecar asked for "${value.slice(0, 32)}".`);
}
