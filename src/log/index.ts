// agentgate's logging: pino JSON lines with a component, request ids, and no credentials ever.

export { createLogger, type Logger } from './logger.ts';
export { requestIdFrom, requestLogger, REQUEST_ID_HEADER } from './request-id.ts';
export { isSensitiveKey, maskString, REDACTED, redactPaths, sanitize } from './redact.ts';
export { prettyLine } from './pretty.ts';
