/**
 * JSON parsing and serialization for masked documents that keeps int64 values exact: the API
 * server writes integers beyond 2^53 (CRD fields, some IDs) that a plain JSON.parse would round.
 */

/** The parts of ES2025 JSON (reviver source text, rawJSON) that TypeScript's es2024 lib lacks. */
interface JsonWithSource {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON(text: string): unknown;
}
const JSON_ = JSON as unknown as JsonWithSource;

/** JSON.parse, with integers beyond 2^53 kept as bigint (the walker leaves bigints alone). */
export function parseExact(text: string): unknown {
  return JSON_.parse(text, (_key, value, context) => (typeof value === 'number' && !Number.isSafeInteger(value) && context.source !== undefined && /^-?\d+$/.test(context.source) ? BigInt(context.source) : value));
}

/** JSON.stringify that writes bigints back as the integers they were. */
export function stringifyExact(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? JSON_.rawJSON(v.toString()) : v));
}
