/**
 * Request attributes: the parser and the mapping of its refusals to a Kubernetes Status.
 */
import { failure, type Status } from '../kube/status.ts';
import type { RequestPathError } from './attributes.ts';

export { parseRequest, MAX_PATH_LENGTH } from './attributes.ts';
export { exactFieldMatch } from './list-options.ts';
export type { RequestAttributes, RequestPathError, ParseResult } from './attributes.ts';

/** The 400 (405 for an unsupported method) Status for a refused request path. */
export function pathErrorStatus(error: RequestPathError): Status {
  if (error.code === 'method-unsupported') return failure('MethodNotAllowed', `agentgate: ${error.message}`, { code: error.code });
  return failure('BadRequest', `agentgate refused the request: ${error.message}; send the path as kubectl would, without ".", "..", empty segments or encoded slashes`, { code: error.code });
}
