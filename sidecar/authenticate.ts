// Stage 1: who is calling. Only the pod-local token is accepted (compared in constant time), and
// no header may change who the API server thinks the caller is. Tokens rotate with a grace period.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Status } from '../src/kube/status.ts';
import { refusal } from './refusals.ts';

/** 256 bits, as the issue asks; base64url so the file holds one printable line. */
export function newPodToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Equal bytes, compared in constant time once the lengths match (a length tells nothing secret: every pod token has the same). */
const same = (presented: Buffer, known: Buffer): boolean => presented.length === known.length && timingSafeEqual(presented, known);

/**
 * The pod-local tokens in force: the current one and, for a grace period after a rotation, the
 * previous one, because client-go re-reads the token file only about once a minute.
 */
export class PodTokens {
  #current: Buffer;
  #previous: { token: Buffer; until: number } | undefined;
  readonly #now: () => number;

  constructor(initial: string, now: () => number = Date.now) {
    this.#current = Buffer.from(initial, 'utf8');
    this.#now = now;
  }

  /** Makes `next` current; the old token stays valid for `graceMs`. */
  rotate(next: string, graceMs: number): void {
    this.#previous = { token: this.#current, until: this.#now() + graceMs };
    this.#current = Buffer.from(next, 'utf8');
  }

  /**
   * Whether `token` is in force: its bytes compared with each token in force in constant time (a
   * SHA-256 per request, the earlier way to equal lengths, measured 2 % of the sidecar's CPU).
   */
  accepts(token: string): boolean {
    const presented = Buffer.from(token, 'utf8');
    // Both comparisons always run, so the time taken does not tell which token matched.
    const current = same(presented, this.#current);
    const previous = this.#previous !== undefined && same(presented, this.#previous.token) && this.#now() < this.#previous.until;
    return current || previous;
  }
}

/** The bearer token of an Authorization header, parsed as the API server's bearer authenticator does. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  if (space === -1 || trimmed.slice(0, space).toLowerCase() !== 'bearer') return undefined;
  const token = trimmed.slice(space + 1).trim();
  return token === '' ? undefined : token;
}

/**
 * Header names that would make the API server (or a front proxy trusted by it) act for someone
 * else: impersonation (`kubectl --as`), and the request-header authenticator's identity headers.
 */
export function identityHeader(headers: IncomingHttpHeaders): 'impersonation' | 'identity-header' | undefined {
  for (const name in headers) {
    // Node lower-cases header names, so `IMPERSONATE-USER` and `impersonate-user` arrive alike.
    if (name.startsWith('impersonate-')) return 'impersonation';
    if (name.startsWith('x-remote-')) return 'identity-header';
  }
  return undefined;
}

/**
 * Authenticates a request: a 401 Status without the pod-local token, a 403 Status with identity
 * headers, undefined when the request may go on. The agent's Authorization is never forwarded
 * (forward.ts builds upstream headers from an allow-list).
 */
export function authenticate(tokens: PodTokens, headers: IncomingHttpHeaders): Status | undefined {
  const token = bearerToken(headers.authorization);
  if (token === undefined) return refusal('token-missing');
  if (!tokens.accepts(token)) return refusal('token-invalid');
  const header = identityHeader(headers);
  if (header !== undefined) return refusal(header);
  return undefined;
}
