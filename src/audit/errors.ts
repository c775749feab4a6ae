// The audit store's failures, one class each with a stable code: callers branch on the class
// or the code (a 503 to the sidecar, a spooled batch, a CLI exit code), never on the text.

/** Every code an audit error carries. */
export type AuditErrorCode = 'audit-store-unavailable' | 'audit-chain-contended' | 'audit-event-invalid' | 'audit-spool-full' | 'audit-query-invalid';

/** Base class of the audit module's errors. */
export abstract class AuditError extends Error {
  /** The stable code of this failure. */
  abstract readonly code: AuditErrorCode;
}

/**
 * Redis cannot be reached (not connected, or no answer within the store's timeout). Nothing
 * was acknowledged: the caller keeps the batch (spool) and sends it again; event ids make a
 * batch that did reach Redis after all harmless the second time.
 */
export class AuditStoreUnavailableError extends AuditError {
  override name = 'AuditStoreUnavailableError';
  readonly code = 'audit-store-unavailable';
}

/** Other writers kept moving the chain head for every attempt; the batch was not stored. */
export class AuditChainContendedError extends AuditError {
  override name = 'AuditChainContendedError';
  readonly code = 'audit-chain-contended';
}

/** An event does not match the audit contract; the whole batch is refused, nothing stored. */
export class AuditEventInvalidError extends AuditError {
  override name = 'AuditEventInvalidError';
  readonly code = 'audit-event-invalid';
  /** Each problem as `events[i].field: message`. */
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid audit events: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`);
    this.issues = issues;
  }
}

/** The disk spool holds its limit; the batch was refused and nothing older was dropped. */
export class AuditSpoolFullError extends AuditError {
  override name = 'AuditSpoolFullError';
  readonly code = 'audit-spool-full';
}

/** A query filter cannot be understood (an unknown outcome, a `since` that is no time). */
export class AuditQueryError extends AuditError {
  override name = 'AuditQueryError';
  readonly code = 'audit-query-invalid';
}
