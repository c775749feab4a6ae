// HTTP plumbing of the broker: bounded JSON bodies, JSON answers, and the one place where a
// failure becomes a BrokerError with its HTTP status (fail closed: Redis away is a 503).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditEventInvalidError, AuditStoreUnavailableError } from '../audit/errors.ts';
import { brokerError, type BrokerError } from '../contracts/broker-v1.ts';
import { GrantConflictError, GrantEndedError, GrantInvalidError, ScopeError } from '../grants/errors.ts';
import { RedisUnavailableError } from '../redis/client.ts';
import { CredentialError } from './credentials/tokenrequest.ts';
import { DecisionUnavailableError } from './decide.ts';

/** A request body that cannot be read as the contract's JSON. */
export class BodyError extends Error {
  readonly status: 400 | 413;
  constructor(status: 400 | 413, message: string) {
    super(message);
    this.name = 'BodyError';
    this.status = status;
  }
}

/** Reads a JSON body of at most `limit` bytes. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new BodyError(413, `The request body is larger than ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(413, `The request body is larger than ${limit} bytes.`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BodyError(400, 'The request body is not JSON.');
  }
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Writes a BrokerError. */
export function sendError(res: ServerResponse, status: number, error: BrokerError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, error);
}

/** The BrokerError and status of a failure: the one mapping of the broker's errors. */
export function errorAnswer(error: unknown): { status: number; error: BrokerError } {
  if (error instanceof RedisUnavailableError || error instanceof AuditStoreUnavailableError) {
    return { status: 503, error: brokerError('redis-unavailable', undefined, 1) };
  }
  if (error instanceof BodyError) return { status: error.status, error: brokerError(error.status === 413 ? 'payload-too-large' : 'bad-request', error.message) };
  if (error instanceof AuditEventInvalidError) return { status: 400, error: brokerError('bad-request', error.message.slice(0, 1000)) };
  if (error instanceof DecisionUnavailableError) return { status: 503, error: brokerError('unavailable', error.message, 1) };
  if (error instanceof CredentialError) return { status: 503, error: brokerError('unavailable', `The grant's credential could not be made in the cluster; retry shortly. (${error.message})`.slice(0, 1000), 2) };
  if (error instanceof GrantEndedError) return { status: 409, error: brokerError('conflict', error.message) };
  if (error instanceof GrantConflictError) return { status: 409, error: brokerError('conflict', error.message) };
  if (error instanceof ScopeError && error.code === 'kube-unavailable') return { status: 503, error: brokerError('unavailable', error.message.slice(0, 1000), 2) };
  if (error instanceof GrantInvalidError || error instanceof ScopeError) return { status: 400, error: brokerError('bad-request', error.message.slice(0, 1000)) };
  return { status: 500, error: brokerError('internal') };
}
