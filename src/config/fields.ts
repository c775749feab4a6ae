// Leaf field constructors for the configuration schema. Each leaf carries metadata in one zod
// registry: how an environment string is coerced, whether the value is secret, and the text of
// what is expected, which every error message about that field reuses.

import { isIP } from 'node:net';
import * as z from 'zod';
import { isLoopbackAddress, isMemoryQuantity, parseByteSize, parseCpuMillis, parseDuration, formatDuration } from './units.ts';

/** How a string from a flag or an environment variable becomes a value before validation. */
export type FieldKind = 'string' | 'integer' | 'boolean' | 'list';

/** What the configuration module knows about one leaf field besides its schema. */
export interface FieldMeta {
  /** Coercion of flag and environment strings. */
  kind: FieldKind;
  /** What a valid value looks like; the end of every error message about this field. */
  expected: string;
  /** One line for help output. */
  description: string;
  /** A secret is never printed, and is not accepted as a command-line flag (argv is world-readable in /proc). */
  secret?: boolean;
}

/** The registry that marks a zod schema as a configuration leaf. */
export const fieldRegistry = z.registry<FieldMeta>();

function leaf<S extends z.ZodType>(schema: S, meta: FieldMeta): S {
  fieldRegistry.add(schema, meta);
  return schema;
}

/** A TCP port, an integer 1..65535. */
export function port(description: string) {
  return leaf(z.number().int().min(1).max(65535), { kind: 'integer', expected: 'an integer port 1..65535', description });
}

/** A bounded integer. */
export function integer(description: string, min: number, max: number) {
  return leaf(z.number().int().min(min).max(max), { kind: 'integer', expected: `an integer ${min}..${max}`, description });
}

/** true or false (env and flags also accept 1 and 0). */
export function bool(description: string) {
  return leaf(z.boolean(), { kind: 'boolean', expected: 'true or false', description });
}

/** One of a fixed set of words. */
export function choice<const T extends readonly [string, ...string[]]>(values: T, description: string) {
  return leaf(z.enum(values), { kind: 'string', expected: `one of ${values.join(', ')}`, description });
}

/** A non-empty string, optionally matching a pattern described by `expected`. */
export function text(description: string, options: { pattern?: RegExp; expected?: string; secret?: boolean } = {}) {
  const base = z.string().min(1);
  const schema = options.pattern ? base.regex(options.pattern) : base;
  return leaf(schema, {
    kind: 'string',
    expected: options.expected ?? 'a non-empty string',
    description,
    ...(options.secret ? { secret: true } : {}),
  });
}

/** A file or directory path; existence is checked by the service that opens it, not here. */
export function path(description: string) {
  return leaf(z.string().min(1), { kind: 'string', expected: 'a file path', description });
}

/** A comma-separated list in env and flags, a YAML sequence in the file. */
export function stringList(description: string) {
  return leaf(z.array(z.string().min(1)), { kind: 'list', expected: 'a list of non-empty strings (comma-separated in env and flags)', description });
}

/** A duration text parsed into milliseconds, within [min, max] milliseconds. */
export function duration(description: string, min: number, max: number) {
  const expected = `a duration such as 90s, 30m or 1h, between ${formatDuration(min)} and ${formatDuration(max)}`;
  const schema = z.string().transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms < min || ms > max) {
      ctx.issues.push({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    }
    return ms;
  });
  return leaf(schema, { kind: 'string', expected, description });
}

/** A byte size (integer bytes or binary units such as 3MiB) parsed into bytes, within [min, max]. */
export function byteSize(description: string, min: number, max: number) {
  const expected = `a size in bytes or with a binary unit (512KiB, 3MiB), between ${min} and ${max} bytes`;
  const schema = z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = parseByteSize(value);
    if (bytes === undefined || bytes < min || bytes > max) {
      ctx.issues.push({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    }
    return bytes;
  });
  return leaf(schema, { kind: 'string', expected, description });
}

/**
 * A URL with one of the given schemes. `httpOnLoopback` also allows plain http to a loopback
 * address, for the one-machine demo and the test doubles; anything reachable over a network
 * must be https.
 */
export function url(description: string, options: { schemes: readonly string[]; secret?: boolean; httpOnLoopback?: boolean }) {
  const schemes = options.schemes.map((s) => `${s}://`);
  const expected = `a URL starting with ${schemes.join(' or ')}${options.httpOnLoopback ? ' (http:// only to 127.0.0.1 or [::1])' : ''}`;
  const schema = z.string().refine((value) => {
    if (!URL.canParse(value)) return false;
    const parsed = new URL(value);
    if (parsed.hostname === '') return false;
    const scheme = parsed.protocol.slice(0, -1);
    if (options.schemes.includes(scheme)) return true;
    return options.httpOnLoopback === true && scheme === 'http' && isLoopbackAddress(parsed.hostname.replace(/^\[|\]$/g, ''));
  }, { error: expected });
  return leaf(schema, { kind: 'string', expected, description, ...(options.secret ? { secret: true } : {}) });
}

/** A host to listen on: an IP literal. With `loopbackOnly`, only a loopback address. */
export function listenHost(description: string, options: { loopbackOnly?: boolean } = {}) {
  const expected = options.loopbackOnly
    ? 'a loopback IP address (127.0.0.1 or ::1): this listener must not be reachable from outside the pod'
    : 'an IP address to listen on (0.0.0.0 or :: for all)';
  const schema = z.string().refine((value) => (options.loopbackOnly ? isLoopbackAddress(value) : isIP(value) !== 0), { error: expected });
  return leaf(schema, { kind: 'string', expected, description });
}

/** An IPv4 or IPv6 address literal. */
export function ipAddress(description: string) {
  const expected = 'an IP address';
  return leaf(z.string().refine((value) => isIP(value) !== 0, { error: expected }), { kind: 'string', expected, description });
}

/** A Kubernetes CPU quantity of at least `minMillis` millicores, kept as text for the pod spec. */
export function cpuQuantity(description: string, minMillis: number) {
  const expected = `a CPU quantity such as 100m or 0.5, at least ${minMillis}m`;
  const schema = z.string().refine((value) => (parseCpuMillis(value) ?? -1) >= minMillis, { error: expected });
  return leaf(schema, { kind: 'string', expected, description });
}

/** A Kubernetes memory quantity, kept as text for the pod spec. */
export function memoryQuantity(description: string) {
  const expected = 'a memory quantity such as 64Mi or 1Gi';
  return leaf(z.string().refine(isMemoryQuantity, { error: expected }), { kind: 'string', expected, description });
}
