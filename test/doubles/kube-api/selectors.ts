/**
 * Label and field selectors as the API server parses and applies them: label selectors with
 * =, ==, !=, in, notin, exists and !exists; field selectors over the fields each resource indexes.
 */
import type { KubeObject } from './types.ts';
import { badRequest } from './status.ts';

/** One parsed requirement of a label selector. */
export interface LabelRequirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!=';
  values: string[];
}

/** Splits on commas that are not inside parentheses (`a in (x,y),b`). */
function splitTerms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;

/** Parses a label selector; a malformed one is 400 as the real server answers it. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const term of splitTerms(selector)) {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^!\\s*(${KEY})$`).exec(term))) {
      reqs.push({ key: m[1] ?? '', op: '!exists', values: [] });
    } else if ((m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(term))) {
      const values = (m[3] ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');
      reqs.push({ key: m[1] ?? '', op: m[2] === 'in' ? 'in' : 'notin', values });
    } else if ((m = new RegExp(`^(${KEY})\\s*(==|!=|=)\\s*([-A-Za-z0-9_.]*)$`).exec(term))) {
      reqs.push({ key: m[1] ?? '', op: m[2] === '!=' ? '!=' : '=', values: [m[3] ?? ''] });
    } else if ((m = new RegExp(`^(${KEY})$`).exec(term))) {
      reqs.push({ key: m[1] ?? '', op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: found '${term}', expected: identifier, '=', '==', '!=', 'in', 'notin' or '!'`);
    }
  }
  return reqs;
}

/** Whether a label map satisfies every requirement. */
export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const value = l[r.key];
    switch (r.op) {
      case 'exists': return has;
      case '!exists': return !has;
      case '=': return has && value === r.values[0];
      case '!=': return !has || value !== r.values[0];
      case 'in': return has && r.values.includes(value ?? '');
      case 'notin': return !has || !r.values.includes(value ?? '');
    }
    return false;
  });
}

/** One field selector requirement: only equality and inequality exist for fields. */
export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Parses a field selector (`metadata.name=x,status.phase!=Running`). */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  return selector.split(',').map((t) => t.trim()).filter((t) => t !== '').map((term) => {
    const m = /^([^!=]+?)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    return { field: m[1] ?? '', op: m[2] === '!=' ? '!=' : '=', value: m[3] ?? '' };
  });
}

function path(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function str(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}

/**
 * The fields each resource supports in field selectors (the registries' GetAttrs /
 * AddFieldLabelConversionFunc): metadata.name and metadata.namespace everywhere, plus these.
 */
const FIELD_LABELS: Record<string, (obj: KubeObject) => Record<string, string>> = {
  pods: (o) => ({
    'spec.nodeName': str(path(o, 'spec.nodeName')),
    'spec.restartPolicy': str(path(o, 'spec.restartPolicy')),
    'spec.schedulerName': str(path(o, 'spec.schedulerName')),
    'spec.serviceAccountName': str(path(o, 'spec.serviceAccountName')),
    'spec.hostNetwork': String(path(o, 'spec.hostNetwork') === true),
    'status.phase': str(path(o, 'status.phase')),
    'status.podIP': str(path(o, 'status.podIP')),
    'status.nominatedNodeName': str(path(o, 'status.nominatedNodeName')),
  }),
  events: (o) => ({
    'involvedObject.kind': str(path(o, 'involvedObject.kind')),
    'involvedObject.namespace': str(path(o, 'involvedObject.namespace')),
    'involvedObject.name': str(path(o, 'involvedObject.name')),
    'involvedObject.uid': str(path(o, 'involvedObject.uid')),
    'involvedObject.apiVersion': str(path(o, 'involvedObject.apiVersion')),
    'involvedObject.resourceVersion': str(path(o, 'involvedObject.resourceVersion')),
    'involvedObject.fieldPath': str(path(o, 'involvedObject.fieldPath')),
    reason: str(path(o, 'reason')),
    reportingComponent: str(path(o, 'reportingComponent')),
    source: str(path(o, 'source.component')),
    type: str(path(o, 'type')),
  }),
  secrets: (o) => ({ type: str(path(o, 'type')) }),
  namespaces: (o) => ({ 'status.phase': str(path(o, 'status.phase')) }),
};

/**
 * Whether an object satisfies a field selector. An unsupported field is 400 with the real
 * server's wording: `field label not supported: spec.foo`.
 */
export function matchFields(reqs: FieldRequirement[], resource: string, obj: KubeObject): boolean {
  const fields: Record<string, string> = {
    'metadata.name': obj.metadata.name ?? '',
    'metadata.namespace': obj.metadata.namespace ?? '',
    ...(FIELD_LABELS[resource]?.(obj) ?? {}),
  };
  return reqs.every((r) => {
    const value = fields[r.field];
    if (value === undefined) throw badRequest(`field label not supported: ${r.field}`);
    return r.op === '=' ? value === r.value : value !== r.value;
  });
}

/** Checks that every field of a selector is supported, before any object is read. */
export function checkFieldSelector(reqs: FieldRequirement[], resource: string): void {
  const probe: KubeObject = { apiVersion: 'v1', kind: '', metadata: {} };
  for (const r of reqs) matchFields([r], resource, probe);
}

/** A compiled selector pair for list and watch. */
export interface Selector {
  matches(obj: KubeObject): boolean;
}

/** Builds the matcher for a list or watch request's `labelSelector` and `fieldSelector`. */
export function compileSelectors(resource: string, labelSelector: string | null, fieldSelector: string | null): Selector {
  const labels = labelSelector ? parseLabelSelector(labelSelector) : [];
  const fields = fieldSelector ? parseFieldSelector(fieldSelector) : [];
  checkFieldSelector(fields, resource);
  return { matches: (obj) => matchLabels(labels, obj.metadata.labels) && matchFields(fields, resource, obj) };
}
