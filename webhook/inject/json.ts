// The untyped JSON the webhook reads (pods come from the wire, unvalidated) and the JSONPatch it
// writes: narrowing helpers and RFC 6901/6902 building blocks, nothing Kubernetes-specific.
import { isDeepStrictEqual } from 'node:util';

/** A JSON object as decoded from the wire. */
export type JsonObject = Record<string, unknown>;

/** One RFC 6902 operation; the webhook only adds, replaces and removes. */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The objects of a JSON array; absent or non-array values read as empty. */
export function objects(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** A string field, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An object field, or an empty object (never written back: callers copy before changing). */
export function obj(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

/** A map of strings (labels, annotations); non-string values are dropped. */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string') out[key] = v;
  return out;
}

/** Escapes one JSON Pointer reference token (RFC 6901: `~` then `/`). */
export function pointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Deep equality of two JSON values. */
export function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

/**
 * The op that makes `path` hold `value`, or nothing when it already does. `add` on an existing
 * member replaces it (RFC 6902 §4.1), but `replace` says so to a reader of the patch.
 */
export function setOp(path: string, current: unknown, value: unknown): JsonPatchOp[] {
  if (current === undefined) return [{ op: 'add', path, value }];
  return sameJson(current, value) ? [] : [{ op: 'replace', path, value }];
}

/**
 * `items` without the dropped ones, with each element `replaces` has a key for swapped in place
 * (later duplicates dropped) and the keys not found appended. Lists other webhooks appended to
 * keep their order, so a reinvocation compares equal.
 */
export function mergeInPlace(
  items: JsonObject[],
  key: (item: JsonObject) => string | undefined,
  replaces: ReadonlyMap<string, JsonObject>,
  drop: (item: JsonObject) => boolean,
): JsonObject[] {
  const placed = new Set<string>();
  const out: JsonObject[] = [];
  for (const item of items) {
    if (drop(item)) continue;
    const k = key(item);
    const replacement = k === undefined ? undefined : replaces.get(k);
    if (k === undefined || replacement === undefined) {
      out.push(item);
    } else if (!placed.has(k)) {
      out.push(replacement);
      placed.add(k);
    }
  }
  for (const [k, replacement] of replaces) if (!placed.has(k)) out.push(replacement);
  return out;
}
