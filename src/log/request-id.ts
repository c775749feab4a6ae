// Request ids: taken from X-Request-Id when it is a plain token, made with randomUUID otherwise,
// and bound into a child logger so every line of one request carries it.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

/** The header carrying a caller's request id. */
export const REQUEST_ID_HEADER = 'x-request-id';

// A caller controls this header: anything long or unusual (newlines, JSON, a token) is
// replaced rather than logged, so it can neither forge log lines nor smuggle a credential.
const acceptable = /^[A-Za-z0-9._:-]{1,128}$/;

type HeaderSource = Readonly<Record<string, string | string[] | undefined>> | { get(name: string): string | null };

function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | string[] | undefined>>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

/** The request id of a request: its X-Request-Id if acceptable, else a new UUID. */
export function requestIdFrom(headers: HeaderSource): string {
  const given = headerValue(headers, REQUEST_ID_HEADER);
  return given !== undefined && acceptable.test(given) && !/^eyJ/.test(given) ? given : randomUUID();
}

/** A child logger bound to the request's id, and the id (to echo in the response's X-Request-Id). */
export function requestLogger(logger: Logger, headers: HeaderSource): { requestId: string; logger: Logger } {
  const requestId = requestIdFrom(headers);
  return { requestId, logger: logger.child({ requestId }) };
}
