/**
 * The four patch types of the API server: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
 * strategic merge patch for the common built-in fields, and the merge step of server-side apply.
 */
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { badRequest, statusError, unsupportedMediaType } from './status.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The patch media types the server accepts, as PATCH's Content-Type. */
export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'] as const;
/** One of {@link PATCH_TYPES}. */
export type PatchType = (typeof PATCH_TYPES)[number];

/** Narrows a Content-Type header to a patch type, or throws 415 worded as the real server. */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const base = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const found = PATCH_TYPES.find((t) => t === base);
  if (!found) throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  return found;
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** RFC 6902 JSON patch; a failed `test` or a bad path is a 422-like error as the server reports it. */
export function applyJsonPatch(target: JsonObject, patch: unknown): JsonObject {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  try {
    const result = fastJsonPatch.applyPatch(structuredClone(target), patch as Operation[], true, false);
    const doc = result.newDocument as unknown;
    if (!isObject(doc)) throw new Error('patch replaced the whole object with a non-object');
    return doc;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
    if (/test operation failed/i.test(message)) throw statusError(422, 'Invalid', 'the server rejected our request due to an error in our request');
    throw statusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${message}`);
  }
}

/** RFC 7386 JSON merge patch: objects merge, `null` removes, everything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key] ?? null, value);
  }
  return out;
}

/**
 * Merge keys of the lists that strategic merge patch merges instead of replacing, by field name
 * (from the `patchMergeKey` tags of core/v1, apps/v1 and meta/v1). `ports` depends on its owner:
 * container ports merge on containerPort, service ports on port.
 */
function mergeKeyOf(field: string, items: Json[]): string | undefined {
  switch (field) {
    case 'containers': case 'initContainers': case 'ephemeralContainers': case 'volumes': case 'env':
    case 'imagePullSecrets': case 'resourceClaims':
      return 'name';
    case 'volumeMounts': return 'mountPath';
    case 'volumeDevices': return 'devicePath';
    case 'hostAliases': return 'ip';
    case 'conditions': return 'type';
    case 'ownerReferences': return 'uid';
    case 'ports': return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
    default: return undefined;
  }
}

/** Primitive lists whose patch strategy is `merge` (a set union rather than a replacement). */
const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

function sameKey(a: Json, b: Json, key: string): boolean {
  return isObject(a) && isObject(b) && a[key] !== undefined && JSON.stringify(a[key]) === JSON.stringify(b[key]);
}

function mergeList(field: string, original: Json[], patch: Json[], order: Json[] | undefined): Json[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  }
  const key = mergeKeyOf(field, [...original, ...patch]);
  if (!key) {
    if (PRIMITIVE_MERGE_LISTS.has(field)) return [...original, ...patch.filter((p) => !original.some((o) => JSON.stringify(o) === JSON.stringify(p)))];
    return patch.map((p) => strip(p));
  }
  const out = original.map((o) => structuredClone(o));
  for (const item of patch) {
    const index = out.findIndex((o) => sameKey(o, item, key));
    if (isObject(item) && item.$patch === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = strategicMerge(out[index] ?? null, item);
    } else {
      out.push(strip(item));
    }
  }
  if (!order) return out;
  const ordered: Json[] = [];
  for (const want of order) {
    const index = out.findIndex((o) => isObject(o) && isObject(want) && JSON.stringify(o[key]) === JSON.stringify(want[key]));
    if (index >= 0) ordered.push(...out.splice(index, 1));
  }
  return [...ordered, ...out];
}

/** Removes the patch directives from a value that is added as is. */
function strip(value: Json): Json {
  if (Array.isArray(value)) return value.map(strip);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('$')) continue;
    out[k] = strip(v);
  }
  return out;
}

/**
 * Strategic merge patch: maps merge, `null` deletes a key, keyed lists merge by their merge key
 * with `$patch: delete|replace`, `$setElementOrder/<field>` orders them, and
 * `$deleteFromPrimitiveList/<field>` removes values from a primitive list. `$retainKeys` is
 * honoured for maps.
 */
export function strategicMerge(original: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'delete') return null;
  if (patch.$patch === 'replace') return strip(patch);
  const out: JsonObject = isObject(original) ? structuredClone(original) : {};
  const retain = Array.isArray(patch.$retainKeys) ? patch.$retainKeys.map(String) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/') || key === '$retainKeys' || key === '$patch') continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value)) out[field] = current.filter((c) => !value.some((v) => JSON.stringify(v) === JSON.stringify(c)));
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    const order = patch[`$setElementOrder/${key}`];
    if (Array.isArray(value)) {
      out[key] = mergeList(key, Array.isArray(current) ? current : [], value, Array.isArray(order) ? order : undefined);
    } else if (isObject(value)) {
      const merged = strategicMerge(current ?? null, value);
      if (merged === null) delete out[key];
      else out[key] = merged;
    } else {
      out[key] = value;
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = key.slice('$setElementOrder/'.length);
    const current = out[field];
    if (Array.isArray(current) && !(field in patch)) out[field] = mergeList(field, current, [], order);
  }
  if (retain) for (const key of Object.keys(out)) if (!retain.includes(key)) delete out[key];
  return out;
}

/**
 * The field set of an object in managedFields' FieldsV1 form (`f:name`, `k:{"name":"x"}` for
 * keyed list items, `v:"x"` for primitive set items, `.` for an item itself). Approximate:
 * lists without a merge key are owned whole.
 */
export function fieldsV1(value: Json, field = ''): JsonObject {
  const out: JsonObject = {};
  if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) out[`f:${k}`] = fieldsV1(v, k);
  } else if (Array.isArray(value)) {
    const key = mergeKeyOf(field, value);
    if (key) {
      for (const item of value) {
        if (!isObject(item)) continue;
        const id = JSON.stringify({ [key]: item[key] ?? null });
        out[`k:${id}`] = { '.': {}, ...fieldsV1(item, '') };
      }
    } else if (PRIMITIVE_MERGE_LISTS.has(field)) {
      for (const item of value) out[`v:${JSON.stringify(item)}`] = {};
    }
  }
  return out;
}
