// The logger factory: pino JSON lines with a `component` field, pino redaction for the known
// places of credentials, and the sanitizer as a safety net on every object, binding and message.

import { pino, stdSerializers, type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import type { LogConfig } from '../config/schema.ts';
import { maskString, redactPaths, REDACTED, sanitize } from './redact.ts';
import { prettyStream } from './pretty.ts';

export type { Logger } from 'pino';

function censor(value: unknown, path: string[]): unknown {
  // A Redis URL keeps its host for debugging; only its password goes.
  if (path.at(-1) === 'redisUrl' && typeof value === 'string') return maskString(value);
  return REDACTED;
}

/**
 * Creates the process's logger. Lines are JSON (or, with `pretty`, one readable line each) on
 * `destination` (stdout by default) and carry `component`. No line carries a credential: the
 * redact paths catch the usual places, and every logged object, child binding, error and
 * message passes through the sanitizer, which masks credential-shaped keys and strings anywhere.
 */
export function createLogger(config: LogConfig, destination?: DestinationStream, component = 'agentgate'): Logger {
  const target = destination ?? pino.destination({ dest: 1, sync: false });
  const logger = pino(
    {
      level: config.level,
      base: { component },
      redact: { paths: [...redactPaths], censor },
      serializers: {
        err: (error: unknown) => sanitize(error instanceof Error ? stdSerializers.err(error) : error),
        msg: (message: unknown) => (typeof message === 'string' ? maskString(message) : sanitize(message)),
      },
      formatters: {
        log: (object) => sanitize(object) as Record<string, unknown>,
        bindings: (bindings) => sanitize(bindings) as Record<string, unknown>,
      },
    },
    config.pretty ? prettyStream(target) : target,
  );
  // pino applies formatters.bindings to the root's bindings only, never to a child's; children
  // are created from their parent with Object.create, so an own `child` here is inherited by all.
  const baseChild = logger.child;
  const sanitizingChild = function child(this: Logger, bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return Reflect.apply(baseChild, this, [sanitize(bindings), options]) as Logger;
  };
  logger.child = sanitizingChild as unknown as Logger['child'];
  return logger;
}
