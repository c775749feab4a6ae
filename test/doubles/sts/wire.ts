/**
 * The STS double's wire format: `<Action>Response/<Action>Result` and `ErrorResponse/Error` in
 * XML (the Query API's default) or JSON (what a caller sending `Accept: application/json`, such as
 * the EKS authenticator, gets). Test code only.
 */

/** The XML namespace of every STS response. */
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** The error codes the double answers with, and the HTTP status STS sends each with. */
export const STS_ERRORS = {
  AccessDenied: 403,
  ValidationError: 400,
  ExpiredToken: 403,
  SignatureDoesNotMatch: 403,
  InvalidClientTokenId: 403,
  IncompleteSignature: 400,
  MissingAuthenticationToken: 403,
  AuthorizationQueryParametersError: 400,
  InvalidAction: 400,
  MalformedQueryString: 400,
} as const;

/** An STS error code. */
export type StsErrorCode = keyof typeof STS_ERRORS;

/** A refusal the double sends as an `ErrorResponse`. */
export class StsError extends Error {
  readonly code: StsErrorCode;
  constructor(code: StsErrorCode, message: string) {
    super(message);
    this.name = 'StsError';
    this.code = code;
  }
  /** The HTTP status of this code. */
  get status(): number {
    return STS_ERRORS[this.code];
  }
}

/** An element tree in document order: a string is text, an object is child elements. */
export type Elements = { [name: string]: string | Elements | undefined };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function xmlOf(elements: Elements, indent: string): string {
  let out = '';
  for (const [name, value] of Object.entries(elements)) {
    if (value === undefined) continue;
    out += typeof value === 'string'
      ? `${indent}<${name}>${escapeXml(value)}</${name}>\n`
      : `${indent}<${name}>\n${xmlOf(value, `${indent}  `)}${indent}</${name}>\n`;
  }
  return out;
}

function jsonOf(elements: Elements): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(elements)) {
    if (value !== undefined) out[name] = typeof value === 'string' ? value : jsonOf(value);
  }
  return out;
}

/** A rendered response. */
export interface WireResponse {
  status: number;
  contentType: string;
  body: string;
}

/** The success response of `action` with its result elements. */
export function resultResponse(action: string, result: Elements, requestId: string, json: boolean): WireResponse {
  const inner: Elements = { [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } };
  if (json) return { status: 200, contentType: 'application/json', body: JSON.stringify({ [`${action}Response`]: jsonOf(inner) }) };
  const body = `<${action}Response xmlns="${STS_NAMESPACE}">\n${xmlOf(inner, '  ')}</${action}Response>\n`;
  return { status: 200, contentType: 'text/xml', body };
}

/** The `ErrorResponse` of `error`. Every code here is the caller's fault, so `Type` is `Sender`. */
export function errorResponse(error: StsError, requestId: string, json: boolean): WireResponse {
  const detail: Elements = { Type: 'Sender', Code: error.code, Message: error.message };
  if (json) return { status: error.status, contentType: 'application/json', body: JSON.stringify({ Error: jsonOf(detail), RequestId: requestId }) };
  const body = `<ErrorResponse xmlns="${STS_NAMESPACE}">\n${xmlOf({ Error: detail, RequestId: requestId }, '  ')}</ErrorResponse>\n`;
  return { status: error.status, contentType: 'text/xml', body };
}
