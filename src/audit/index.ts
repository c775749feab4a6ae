// The audit store: hash-chained audit events in a Redis Stream, queries and export, chain
// verification, the disk spool that keeps batches while the store is away, and the CLI pieces.

export { canonicalJson, entryHash, GENESIS_HASH, type ChainEntry, type EntryType, type TrimMarker } from './chain.ts';
export { auditCommand, auditVerifyCommand, formatRecord, formatVerifyResult, type AuditCommandOptions, type AuditCommandOutput, type AuditConnectionOptions, type AuditVerifyCommandOptions } from './cli.ts';
export { AuditChainContendedError, AuditError, AuditEventInvalidError, AuditQueryError, AuditSpoolFullError, AuditStoreUnavailableError, type AuditErrorCode } from './errors.ts';
export { auditRecords, exportAudit, MAX_PAGE_SIZE, parseTimeBound, queryAudit, type AuditFilters, type AuditPage, type AuditRecord, type PageOptions } from './query.ts';
export { type AuditRetention, type TrimResult } from './retention.ts';
export { auditKeys, type AuditKeys, type AuditRedis, type ChainHead } from './scripts.ts';
export { createAuditSpool, type AuditSpool, type AuditSpoolOptions, type DrainResult, type SpoolStats } from './spool.ts';
export { createAuditStore, type AppendResult, type AuditStore, type AuditStoreOptions, type AuditStoreStats, type StoredRef } from './store.ts';
export { verifyAudit, type AuditBreak, type TrimmedRange, type VerifyResult } from './verify.ts';
