// The failures of grants as values with stable codes: the broker maps them to its answers in one
// place and never reads their messages. Redis outages are RedisUnavailableError (src/redis).
import type { ContractIssue } from '../contracts/result.ts';

/** A grant that does not match the contract or the store's limits (it is never written). */
export class GrantInvalidError extends Error {
  readonly code = 'grant-invalid';
  readonly issues: ContractIssue[];
  constructor(issues: ContractIssue[]) {
    super(`grant is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    this.name = 'GrantInvalidError';
    this.issues = issues;
  }
}

/** A grant id that is already taken: a grant is never overwritten, so it is never extended. */
export class GrantConflictError extends Error {
  readonly code = 'grant-exists';
  constructor(id: string) {
    super(`grant ${id} already exists; a grant cannot be replaced or extended, only a new one created`);
    this.name = 'GrantConflictError';
  }
}

/** Why a scope could not be resolved into rules. */
export type ScopeErrorCode = 'role-not-found' | 'role-empty' | 'role-namespace-mismatch' | 'scope-invalid' | 'scope-guardrail' | 'kube-unavailable';

/** A grant's scope could not be resolved (the referenced role is missing, empty, or reaches a guardrail). */
export class ScopeError extends Error {
  readonly code: ScopeErrorCode;
  constructor(code: ScopeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScopeError';
    this.code = code;
  }
}

/** The grant ended (TTL, revocation) before its credential was stored: the credential is withdrawn. */
export class GrantEndedError extends Error {
  readonly code = 'grant-ended';
  constructor(id: string) {
    super(`grant ${id} ended before its credential was ready`);
    this.name = 'GrantEndedError';
  }
}
