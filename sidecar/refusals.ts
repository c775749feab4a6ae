// Every way the sidecar refuses or fails a request, as one table of stable codes mapped in this one
// place to a Kubernetes Status, so kubectl prints "Error from server (Reason): message" for each.
import { failure, type Status, type StatusReason } from '../src/kube/status.ts';

interface RefusalSpec {
  reason: StatusReason;
  message: string;
}

/** The sidecar's own refusal codes with their Status reason and the text an agent reads. */
export const Refusals = Object.freeze({
  'token-missing': { reason: 'Unauthorized', message: 'agentgate: no bearer token; use the token in /var/run/secrets/kubernetes.io/serviceaccount/token (in-cluster clients do this by default)' },
  'token-invalid': { reason: 'Unauthorized', message: 'agentgate: the bearer token is not this pod\'s token; re-read /var/run/secrets/kubernetes.io/serviceaccount/token (it rotates)' },
  impersonation: { reason: 'Forbidden', message: 'agentgate: impersonation is not allowed: remove the Impersonate-* headers (--as, --as-group, --as-uid); access comes from grants, not from other identities' },
  'identity-header': { reason: 'Forbidden', message: 'agentgate: headers that assert an identity (X-Remote-User, X-Remote-Group, X-Remote-Extra-*) are not allowed' },
  'body-too-large': { reason: 'RequestEntityTooLarge', message: 'agentgate: the request body is larger than the limit' },
  'body-timeout': { reason: 'Timeout', message: 'agentgate: the request body did not arrive in time' },
  'broker-unavailable': { reason: 'ServiceUnavailable', message: 'agentgate: the broker cannot be reached, so no decision could be made; retry shortly' },
  'broker-timeout': { reason: 'ServiceUnavailable', message: 'agentgate: the broker did not answer in time, so no decision could be made; retry shortly' },
  'broker-refused': { reason: 'ServiceUnavailable', message: 'agentgate: the broker refused the sidecar' },
  'decision-deny': { reason: 'Forbidden', message: 'agentgate denied the request' },
  'approval-required': { reason: 'Forbidden', message: 'agentgate: this request needs a human approval' },
  'out-of-scope': { reason: 'Forbidden', message: 'agentgate: the grant does not cover this request' },
  'credential-missing': { reason: 'ServiceUnavailable', message: 'agentgate: the grant\'s credential has not arrived from the broker; retry shortly' },
  'credential-refused': { reason: 'ServiceUnavailable', message: 'agentgate: the API server refused the grant\'s credential, also after a fresh one; retry shortly' },
  'grant-ended': { reason: 'Gone', message: 'agentgate: the grant this response was served under has ended' },
  'upstream-unavailable': { reason: 'ServiceUnavailable', message: 'agentgate: the Kubernetes API server cannot be reached; retry shortly' },
  'upstream-redirect': { reason: 'InternalError', message: 'agentgate: the Kubernetes API server answered with a redirect, which agentgate never follows' },
  'upstream-encoding': { reason: 'InternalError', message: 'agentgate: the Kubernetes API server answered in an encoding or media type agentgate cannot check, so the response is withheld' },
  'mask-failed': { reason: 'InternalError', message: 'agentgate: the response could not be checked for secret values, so it is withheld' },
  // Not `Invalid`: kubectl edit answers a 422 Invalid with its own "is invalid" line and hides the message.
  'masked-value-write-back': { reason: 'MaskedValueWriteBack', message: 'agentgate: a masked value cannot be written back (MaskedValueWriteBack)' },
  'upgrade-unsupported': { reason: 'BadRequest', message: 'agentgate: exec, attach, port-forward and other upgrade requests are not available through agentgate yet' },
  'shutting-down': { reason: 'ServiceUnavailable', message: 'agentgate: the sidecar is shutting down; retry shortly' },
  'audit-spool-full': { reason: 'ServiceUnavailable', message: 'agentgate: this pod\'s audit spool is full, so requests are refused until its audit events reach the broker; retry shortly' },
  'body-encoding-unsupported': { reason: 'UnsupportedMediaType', message: 'agentgate: the request body\'s Content-Encoding is not supported; send it uncompressed, or as gzip or deflate' },
  'body-type-unsupported': { reason: 'UnsupportedMediaType', message: 'agentgate: request bodies in CBOR are not accepted, since a CBOR text may come in pieces that only the API server joins, so agentgate could not check it for masked values; send JSON (client-go: leave the CBOR feature gates off)' },
  'body-encoding-invalid': { reason: 'BadRequest', message: 'agentgate: the request body could not be decoded as its Content-Encoding says' },
  'virtual-not-found': { reason: 'NotFound', message: 'agentgate: not found' },
  // BadRequest, not Invalid: kubectl prints an Invalid Status as its causes' fields, which a refusal has none of.
  'virtual-invalid': { reason: 'BadRequest', message: 'agentgate: the access request is invalid' },
  'virtual-method': { reason: 'MethodNotAllowed', message: 'agentgate: accessrequests support create, get and list only' },
} satisfies Record<string, RefusalSpec>);

/** A refusal code. */
export type RefusalCode = keyof typeof Refusals;

/** HTTP codes that Status reasons do not map to one-to-one (502 for bad upstream answers). */
const CODE_OVERRIDES: Partial<Record<RefusalCode, number>> = {
  'upstream-redirect': 502,
  'upstream-encoding': 502,
  'mask-failed': 502,
  // Not 422: client-go counts any 422 as Invalid, and kubectl edit then prints only '"NAME" is
  // invalid', hiding why (measured with kubectl 1.27-1.33); a 400 gets the message printed.
  'masked-value-write-back': 400,
};

/**
 * The Status of a refusal. The sidecar's own 503s carry no Retry-After on purpose: client-go
 * retries such answers up to ten times, so kubectl would sit for 10–16 s before telling the
 * agent that the broker or the API server is away (measured with kubectl 1.31 and 1.33). `detail` is appended to the table's text (what exactly, and what to
 * do next); `code` overrides the cause's reason code (a broker reason such as `no-grant`).
 */
export function refusal(code: RefusalCode, detail?: string, options: { cause?: string; retryAfterSeconds?: number } = {}): Status {
  const spec: RefusalSpec = Refusals[code];
  const message = detail ? `${spec.message}: ${detail}` : spec.message;
  const status = failure(spec.reason, message, {
    code: options.cause ?? code,
    ...(options.retryAfterSeconds !== undefined ? { details: { retryAfterSeconds: options.retryAfterSeconds } } : {}),
  });
  const override = CODE_OVERRIDES[code];
  if (override !== undefined) status.code = override;
  return status;
}

/** An error carrying a refusal, thrown by stages that cannot return one (streams, callbacks). */
export class RefusalError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message);
    this.name = 'RefusalError';
    this.status = status;
  }
}
