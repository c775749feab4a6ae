/**
 * Applies a mutating webhook's JSONPatch with fast-json-patch, refusing it first with the texts
 * the apiserver's patch library (evanphx/json-patch v4) gives, so a broken patch reads the same.
 * Test code only.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

/** A patch the apiserver could not apply; `message` is the library's text. */
export class PatchApplyError extends Error {}

type Container = Record<string, unknown> | unknown[];

function decodePointer(path: string): string[] {
  if (path === '') return [];
  return path.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** findObject: the container that holds the last path element, or undefined when a parent is missing. */
function findContainer(doc: unknown, path: string): { con: Container; key: string } | undefined {
  const parts = decodePointer(path);
  const key = parts.pop();
  if (key === undefined) return undefined;
  let cur: unknown = doc;
  for (const part of parts) {
    if (Array.isArray(cur)) {
      const index = Number(part);
      if (!/^\d+$/.test(part) || index >= cur.length) return undefined;
      cur = cur[index];
    } else if (cur && typeof cur === 'object' && Object.hasOwn(cur, part)) {
      cur = (cur as Record<string, unknown>)[part];
    } else {
      return undefined;
    }
  }
  if (Array.isArray(cur) || (cur && typeof cur === 'object')) return { con: cur as Container, key };
  return undefined;
}

function has(con: Container, key: string, forAdd: boolean): boolean {
  if (Array.isArray(con)) {
    if (forAdd && key === '-') return true;
    if (!/^\d+$/.test(key)) return false;
    const index = Number(key);
    return forAdd ? index <= con.length : index < con.length;
  }
  return Object.hasOwn(con, key);
}

function invalidIndex(key: string): PatchApplyError {
  return new PatchApplyError(`Unable to access invalid index: ${key}: invalid index referenced`);
}

/** Throws the evanphx/json-patch error for an operation that does not apply to `doc`. */
function precheck(doc: unknown, op: Record<string, unknown>): void {
  const kind = String(op.op ?? '');
  const path = String(op.path ?? '');
  const target = findContainer(doc, path);
  switch (kind) {
    case 'add':
      if (path === '') return;
      if (!target) throw new PatchApplyError(`add operation does not apply: doc is missing path: "${path}": missing value`);
      if (Array.isArray(target.con) && !has(target.con, target.key, true)) throw new PatchApplyError(`error in add for path: '${path}': ${invalidIndex(target.key).message}`);
      return;
    case 'remove':
      if (!target) throw new PatchApplyError(`remove operation does not apply: doc is missing path: "${path}": missing value`);
      if (!has(target.con, target.key, false)) {
        const why = Array.isArray(target.con) ? invalidIndex(target.key).message : `Unable to remove nonexistent key: ${target.key}: missing value`;
        throw new PatchApplyError(`error in remove for path: '${path}': ${why}`);
      }
      return;
    case 'replace':
      if (path === '') return;
      if (!target) throw new PatchApplyError(`replace operation does not apply: doc is missing path: ${path}: missing value`);
      if (!has(target.con, target.key, false)) throw new PatchApplyError(`replace operation does not apply: doc is missing key: ${path}: missing value`);
      return;
    case 'move':
    case 'copy': {
      const from = String(op.from ?? '');
      const source = findContainer(doc, from);
      if (!source || !has(source.con, source.key, false)) throw new PatchApplyError(`${kind} operation does not apply: doc is missing from path: ${from}: missing value`);
      if (path !== '' && !target) throw new PatchApplyError(`${kind} operation does not apply: doc is missing destination path: ${path}: missing value`);
      return;
    }
    case 'test': {
      const actual = path === '' ? doc : target && has(target.con, target.key, false) ? jsonpatch.getValueByPointer(doc, path) : undefined;
      if (actual === undefined && op.value === null) return;
      if (actual === undefined || !jsonpatch._areEquals(actual, op.value)) throw new PatchApplyError(`testing value ${path} failed: test failed`);
      return;
    }
    default:
      throw new PatchApplyError(`Unexpected kind: ${kind}`);
  }
}

/** Decodes the webhook's patch bytes as DecodePatch does: a JSON array of operations. */
export function decodePatch(bytes: Buffer): Array<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PatchApplyError('invalid character looking for beginning of value');
  }
  if (!Array.isArray(parsed) || parsed.some((op) => !op || typeof op !== 'object' || Array.isArray(op))) {
    throw new PatchApplyError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  return parsed as Array<Record<string, unknown>>;
}

/** Applies `ops` to a copy of `doc`; throws PatchApplyError with the apiserver's text when one does not apply. */
export function applyPatch<T>(doc: T, ops: Array<Record<string, unknown>>): T {
  let current: unknown = structuredClone(doc);
  for (const op of ops) {
    precheck(current, op);
    try {
      current = jsonpatch.applyOperation(current, op as unknown as Operation, false, true, true).newDocument;
    } catch (err) {
      throw new PatchApplyError(err instanceof Error ? err.message : String(err));
    }
  }
  return current as T;
}
