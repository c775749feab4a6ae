// What must never reach a log line, in two layers: pino redact paths for the known places of
// credentials, and a sanitizer that walks every logged value and masks credential-shaped keys,
// Secret objects' data, bearer tokens, JWTs, Slack tokens, URL passwords and private keys.

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/** pino `redact` paths: credentials in their usual places, at the depths pino can express. */
export const redactPaths: readonly string[] = [
  'authorization', 'Authorization', '*.authorization', '*.Authorization',
  'headers.authorization', 'headers.Authorization', '*.headers.authorization', '*.headers.Authorization',
  'req.headers.authorization', 'req.headers.Authorization', 'request.headers.authorization', 'request.headers.Authorization',
  'headers.cookie', '*.headers.cookie', 'headers["proxy-authorization"]', '*.headers["proxy-authorization"]',
  'token', '*.token', '*.*.token', 'password', '*.password', 'secret', '*.secret',
  'clientSecret', '*.clientSecret', 'signingSecret', '*.signingSecret', 'botToken', '*.botToken',
  'stringData', '*.stringData', 'redisUrl', '*.redisUrl', 'broker.redisUrl', 'config.broker.redisUrl',
];

const sensitiveKeys = new Set([
  'authorization', 'proxyauthorization', 'cookie', 'setcookie', 'password', 'passwd', 'secret', 'token', 'tokens',
  'apikey', 'xapikey', 'privatekey', 'clientsecret', 'signingsecret', 'bottoken', 'accesstoken', 'refreshtoken',
  'idtoken', 'sessiontoken', 'secretaccesskey', 'bearertoken',
]);

/** True for object keys whose values are credentials (case, '-' and '_' ignored). */
export function isSensitiveKey(key: string): boolean {
  const normal = key.toLowerCase().replace(/[-_]/g, '');
  return sensitiveKeys.has(normal) || /(?:token|tokens|secret|password)$/.test(normal);
}

const stringRules: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[REDACTED-PRIVATE-KEY]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[REDACTED-JWT]'],
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, 'xox-[REDACTED]'],
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]*):([^\s@/]+)@/gi, `$1$2:${REDACTED}@`],
  [/\b(access_token|id_token|refresh_token|token|password|secret|signature)=([^\s&"']+)/gi, `$1=${REDACTED}`],
];

/** Masks credential-shaped parts of free text (messages, error texts, URLs). */
export function maskString(text: string): string {
  let out = text;
  for (const [pattern, replacement] of stringRules) out = out.replace(pattern, replacement);
  return out;
}

function maskAll(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return REDACTED;
  return Object.fromEntries(Object.keys(value).map((key) => [key, REDACTED]));
}

const MAX_DEPTH = 12;

function isSecretObject(value: Record<string, unknown>): boolean {
  return value.kind === 'Secret';
}

/**
 * A copy of `value` safe to log: sensitive keys and Secret `data`/`stringData` redacted at any
 * depth, strings masked, Errors reduced to type, message, stack and code (masked), cycles cut.
 */
export function sanitize(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return maskString(value);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => sanitize(item, depth + 1, seen));
    if (value instanceof Error) {
      const error: Record<string, unknown> = { type: value.name, message: maskString(value.message) };
      if (value.stack !== undefined) error.stack = maskString(value.stack);
      const code = (value as { code?: unknown }).code;
      if (code !== undefined) error.code = sanitize(code, depth + 1, seen);
      if (value.cause !== undefined) error.cause = sanitize(value.cause, depth + 1, seen);
      return error;
    }
    if (value instanceof URL) return maskString(value.href);
    if (value instanceof Map) return sanitize(Object.fromEntries(value), depth, seen);
    const record = value as Record<string, unknown>;
    const secret = isSecretObject(record);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (isSensitiveKey(key) && item !== undefined && item !== null) out[key] = REDACTED;
      else if (secret && (key === 'data' || key === 'stringData')) out[key] = maskAll(item);
      else out[key] = sanitize(item, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
