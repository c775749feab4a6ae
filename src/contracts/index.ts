// The contracts between agentgate's parts, in one import, with `validate(name, value)` over a
// registry whose names are also the prefixes of the golden files in test/golden/contracts/.
import type * as z from 'zod';
import { AccessRequestCreateSchema, AccessRequestObjectInputSchema, AccessRequestObjectSchema, AccessRequestSchema } from './access-request.ts';
import { RequestAttributesSchema } from './attributes.ts';
import { AuditAcceptedSchema, AuditBatchSchema, AuditEventSchema } from './audit.ts';
import { BrokerErrorSchema } from './broker-v1.ts';
import { DecisionRequestSchema, DecisionSchema } from './decision.ts';
import { AgentIdentitySchema, ConnectionSchema } from './identity.ts';
import { PodLayoutSchema } from './pod-layout.ts';
import { PolicyRuleSchema } from './rbac.ts';
import { parseWith, type Result } from './result.ts';
import { CredentialSchema, GrantSchema, StreamEventSchema } from './stream.ts';

export * from './access-request.ts';
export * from './attributes.ts';
export * from './audit.ts';
export * from './broker-v1.ts';
export * from './decision.ts';
export * from './identity.ts';
export * from './names.ts';
export * from './pod-layout.ts';
export * from './rbac.ts';
export * from './reasons.ts';
export * from './result.ts';
export * from './stream.ts';

/** Every contract by name. */
export const contracts = Object.freeze({
  'agent-identity': AgentIdentitySchema,
  connection: ConnectionSchema,
  'pod-layout': PodLayoutSchema,
  'policy-rule': PolicyRuleSchema,
  'request-attributes': RequestAttributesSchema,
  'decision-request': DecisionRequestSchema,
  decision: DecisionSchema,
  grant: GrantSchema,
  credential: CredentialSchema,
  'stream-event': StreamEventSchema,
  'audit-event': AuditEventSchema,
  'audit-batch': AuditBatchSchema,
  'audit-accepted': AuditAcceptedSchema,
  'access-request-create': AccessRequestCreateSchema,
  'access-request': AccessRequestSchema,
  'access-request-object': AccessRequestObjectSchema,
  'access-request-object-input': AccessRequestObjectInputSchema,
  'broker-error': BrokerErrorSchema,
});

/** The name of a contract. */
export type ContractName = keyof typeof contracts;

/** The type of a contract's value. */
export type ContractValue<N extends ContractName> = z.output<(typeof contracts)[N]>;

/** True when `name` names a contract. */
export function isContractName(name: string): name is ContractName {
  return Object.hasOwn(contracts, name);
}

/** Validates `value` against the named contract; never throws, reports every issue with its path. */
export function validate<N extends ContractName>(name: N, value: unknown): Result<ContractValue<N>> {
  return parseWith(contracts[name], value) as Result<ContractValue<N>>;
}

/** Parses a decision request (broker side of POST /v1/decisions). */
export const parseDecisionRequest = (value: unknown) => validate('decision-request', value);
/** Parses a decision (sidecar side of POST /v1/decisions). */
export const parseDecision = (value: unknown) => validate('decision', value);
/** Parses a stream event strictly (known types only; readers use parseStreamLine). */
export const parseStreamEvent = (value: unknown) => validate('stream-event', value);
/** Parses an audit batch (broker side of POST /v1/audit). */
export const parseAuditBatch = (value: unknown) => validate('audit-batch', value);
/** Parses an audit answer (sidecar side of POST /v1/audit). */
export const parseAuditAccepted = (value: unknown) => validate('audit-accepted', value);
/** Parses an access request creation (broker side of POST /v1/accessrequests). */
export const parseAccessRequestCreate = (value: unknown) => validate('access-request-create', value);
/** Parses an access request (sidecar side of the access request calls). */
export const parseAccessRequest = (value: unknown) => validate('access-request', value);
/** Parses what an agent posts to the virtual API. */
export const parseAccessRequestObjectInput = (value: unknown) => validate('access-request-object-input', value);
/** Parses a broker error body. */
export const parseBrokerError = (value: unknown) => validate('broker-error', value);
/** Parses an agent identity. */
export const parseAgentIdentity = (value: unknown) => validate('agent-identity', value);
/** Parses a connection. */
export const parseConnection = (value: unknown) => validate('connection', value);
/** Parses a pod layout (a deployment's override of the defaults). */
export const parsePodLayout = (value: unknown) => validate('pod-layout', value);
/** Parses a policy rule (cluster form). */
export const parsePolicyRule = (value: unknown) => validate('policy-rule', value);
/** Parses request attributes. */
export const parseRequestAttributes = (value: unknown) => validate('request-attributes', value);
