// Grants: the store in Redis (TTL is the truth), their events, scope resolution, the expiry queue
// and the lifecycle that ties them to a connection's credentials.
export { GrantStore, newGrantId } from './store.ts';
export type { GrantFilter, GrantRecord, GrantStoreOptions, NewGrant, RevocationReason, RoleRef } from './store.ts';
export { readEvents, parseEventNotice } from './events.ts';
export type { EventNotice, EventPage, GrantEvent } from './events.ts';
export { resolveScope } from './scope.ts';
export type { RemovedPermission, ResolvedScope, RoleReader, ScopeInput } from './scope.ts';
export { GrantExpiry, GRANT_EXPIRY_QUEUE } from './expiry.ts';
export type { ExpiryJob, GrantExpiryOptions } from './expiry.ts';
export { GrantLifecycle } from './lifecycle.ts';
export type { GrantCredentials, GrantLifecycleOptions, IssuedGrant } from './lifecycle.ts';
export { GrantConflictError, GrantEndedError, GrantInvalidError, ScopeError } from './errors.ts';
export type { ScopeErrorCode } from './errors.ts';
