/**
 * Built-in validation of an object after mutating admission: the OpenAPI schema of its kind
 * (through kubernetes-models) and the pod rules of pkg/apis/core/validation that matter to the
 * double, reported as the apiserver's 422 Invalid. Test code only.
 */
import type { AdmissionAttributes, KubeObject } from './types.ts';
import { invalid } from './status.ts';
import { validatePodCreate, validatePodUpdate, validateEphemeralContainersUpdate } from './admission-pod-rules.ts';

/** One field.Error: `field` as Go prints the path, `message` the text after `field: `. */
export interface FieldError {
  field: string;
  message: string;
  reason: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueDuplicate' | 'FieldValueNotFound' | 'FieldValueForbidden' | 'FieldValueNotSupported';
}

interface AjvError { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }
interface Model { validate(): void }
type ModelClass = new (data: unknown) => Model;

const models = new Map<string, Promise<ModelClass | undefined>>();

/** The kubernetes-models class for a kind, or undefined when the package has none. */
function modelFor(group: string, version: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${group}/${version}/${kind}`;
  let found = models.get(key);
  if (!found) {
    const specifier = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
    found = import(specifier).then((mod: Record<string, unknown>) => mod[kind] as ModelClass | undefined, () => undefined);
    models.set(key, found);
  }
  return found;
}

/** Go's field.Path rendering of a JSON pointer: `/spec/containers/0/name` → `spec.containers[0].name`. */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/** Go's %q / %v of a field value in `Invalid value: ...`. */
export function goValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'null';
  return `"${typeof value === 'object' && !Array.isArray(value) ? 'object' : 'array'}"`;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur: unknown = obj;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function schemaErrors(obj: KubeObject, errors: AjvError[]): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const path = fieldPath(e.instancePath);
    const value = valueAt(obj, e.instancePath);
    if (e.keyword === 'required') {
      const missing = String(e.params.missingProperty ?? '');
      out.push({ field: path ? `${path}.${missing}` : missing, message: 'Required value', reason: 'FieldValueRequired' });
    } else if (e.keyword === 'type') {
      // The apiserver's OpenAPI (structural schema) wording, as for custom resources.
      const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'number' ? 'number' : typeof value;
      out.push({ field: path, message: `Invalid value: "${actual}": ${path} in body must be of type ${String(e.params.type)}: "${actual}"`, reason: 'FieldValueInvalid' });
    } else if (e.keyword === 'enum') {
      const allowed = Array.isArray(e.params.allowedValues) ? e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ') : '';
      out.push({ field: path, message: `Unsupported value: ${goValue(value)}: supported values: ${allowed}`, reason: 'FieldValueNotSupported' });
    } else {
      out.push({ field: path, message: `Invalid value: ${goValue(value)}: ${e.message ?? e.keyword}`, reason: 'FieldValueInvalid' });
    }
  }
  return out;
}

async function validateSchema(obj: KubeObject, attrs: AdmissionAttributes): Promise<FieldError[]> {
  const Model = await modelFor(attrs.kind.group, attrs.kind.version, attrs.kind.kind);
  if (!Model) return [];
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) throw err;
    return schemaErrors(obj, errors);
  }
}

/**
 * Validates the object a write would store; throws 422 Invalid listing every field error, in the
 * apiserver's order (schema first, then the kind's own rules).
 */
export async function validateObject(attrs: AdmissionAttributes, obj: KubeObject | undefined): Promise<void> {
  if (!obj || (attrs.operation !== 'CREATE' && attrs.operation !== 'UPDATE')) return;
  const errs = await validateSchema(obj, attrs);
  const isPod = attrs.kind.group === '' && attrs.kind.kind === 'Pod';
  if (isPod && errs.length === 0) {
    if (attrs.subResource === '') {
      errs.push(...(attrs.operation === 'UPDATE' && attrs.oldObject ? validatePodUpdate(obj, attrs.oldObject) : validatePodCreate(obj)));
    } else if (attrs.subResource === 'ephemeralcontainers' && attrs.oldObject) {
      errs.push(...validateEphemeralContainersUpdate(obj, attrs.oldObject));
    }
  }
  if (errs.length > 0) throw invalid(attrs.kind.kind, attrs.kind.group, obj.metadata.name ?? attrs.name, errs);
}
