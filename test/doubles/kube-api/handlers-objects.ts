/**
 * Object helpers shared by the handlers: group-version strings, list and single-object responses
 * in the negotiated form, request options (dryRun, fieldManager, fieldValidation), managedFields.
 */
import type { KubeObject } from './types.ts';
import type { ResourceInfo } from './resources.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, statusError } from './status.ts';
import { fieldsV1 } from './patch.ts';
import { writeJson } from './handlers-wire.ts';
import { unknownFields } from './handlers-fields.ts';

/** `v1` or `apps/v1`. */
export function groupVersion(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** The namespace a resource's objects live in for this request ('' for cluster-scoped). */
export function storeNamespace(ctx: RequestContext): string {
  return ctx.resource.namespaced ? ctx.info.namespace : '';
}

/** An RFC 3339 timestamp with second precision, as metav1.Time marshals. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Writes one object in the negotiated form. */
export function respondObject(ctx: RequestContext, code: number, object: KubeObject): void {
  if (ctx.form.as === 'Table') {
    const table = ctx.state.toTable({ resource: ctx.resource, objects: [object], listMeta: undefined, tableVersion: ctx.form.version, includeObject: ctx.info.query.get('includeObject') ?? 'Metadata', headers: true });
    writeJson(ctx.res, code, table, ctx.warnings);
    return;
  }
  if (ctx.form.as === 'PartialObjectMetadata') {
    writeJson(ctx.res, code, { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${ctx.form.version}`, metadata: object.metadata }, ctx.warnings);
    return;
  }
  writeJson(ctx.res, code, object, ctx.warnings);
}

/**
 * Writes a list in the negotiated form. Items of typed lists carry no kind/apiVersion on the
 * wire, as the real server encodes built-in lists.
 */
export function respondList(ctx: RequestContext, objects: KubeObject[], listMeta: Record<string, unknown>): void {
  if (ctx.form.as === 'Table') {
    const table = ctx.state.toTable({ resource: ctx.resource, objects, listMeta, tableVersion: ctx.form.version, includeObject: ctx.info.query.get('includeObject') ?? 'Metadata', headers: true });
    writeJson(ctx.res, 200, table, ctx.warnings);
    return;
  }
  if (ctx.form.as === 'PartialObjectMetadata') {
    const items = objects.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${ctx.form.as === 'PartialObjectMetadata' ? ctx.form.version : 'v1'}`, metadata: o.metadata }));
    writeJson(ctx.res, 200, { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${ctx.form.version}`, metadata: listMeta, items }, ctx.warnings);
    return;
  }
  const items = objects.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
  writeJson(ctx.res, 200, { kind: `${ctx.resource.kind}List`, apiVersion: groupVersion(ctx.resource), metadata: listMeta, items }, ctx.warnings);
}

/** `dryRun=All` from the query (or DeleteOptions); any other value is 400 as the real server says. */
export function isDryRun(ctx: RequestContext, fromBody?: unknown): boolean {
  const values = [...ctx.info.query.getAll('dryRun'), ...(Array.isArray(fromBody) ? fromBody.map(String) : [])];
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}`);
  return values.length > 0;
}

/** The field manager: the query parameter, else the User-Agent's program name as the server derives it. */
export function fieldManager(ctx: RequestContext, required: boolean): string {
  const explicit = ctx.info.query.get('fieldManager');
  if (explicit !== null) {
    if (explicit.length > 128) throw statusError(422, 'Invalid', `fieldManager: Too long: may not be longer than 128`);
    return explicit;
  }
  if (required) throw statusError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  const agent = String(ctx.req.headers['user-agent'] ?? 'unknown');
  return agent.split('/')[0] ?? 'unknown';
}

/**
 * Applies `fieldValidation` (Strict, Warn — the default — or Ignore) to a decoded body: unknown
 * fields become a 400 in Strict mode or `Warning:` headers in Warn mode, worded as the server words
 * them.
 */
export function checkFieldValidation(ctx: RequestContext, body: unknown): void {
  const mode = ctx.info.query.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(mode)) throw badRequest(`fieldValidation: Unsupported value: "${mode}": supported values: "Ignore", "Strict", "Warn"`);
  if (mode === 'Ignore') return;
  const unknown = unknownFields(ctx.key, body).map((f) => `unknown field "${f}"`);
  if (unknown.length === 0) return;
  if (mode === 'Strict') {
    const kind = ctx.resource.kind;
    throw badRequest(`${kind} in version "${ctx.resource.version}" cannot be handled as a ${kind}: strict decoding error: ${unknown.join(', ')}`);
  }
  ctx.warnings.push(...unknown);
}

const IDENTITY_METADATA = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'generateName', 'selfLink'];

/** The fields an operation set, as FieldsV1: everything that differs from `before`. */
function changedFields(before: unknown, after: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (after === null || typeof after !== 'object' || Array.isArray(after)) return out;
  const b = before !== null && typeof before === 'object' && !Array.isArray(before) ? (before as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(after as Record<string, unknown>)) {
    if (JSON.stringify(b[k]) === JSON.stringify(v)) continue;
    const isMap = v !== null && typeof v === 'object' && !Array.isArray(v);
    out[`f:${k}`] = isMap ? changedFields(b[k], v) : fieldsV1(v as never, k);
  }
  return out;
}

function ownedShape(o: unknown, subresource: string): Record<string, unknown> {
  const copy = structuredClone(o) as Record<string, unknown>;
  delete copy.apiVersion;
  delete copy.kind;
  if (subresource === 'status') {
    return { status: copy.status };
  }
  const meta = (copy.metadata ?? {}) as Record<string, unknown>;
  for (const k of IDENTITY_METADATA) delete meta[k];
  if (Object.keys(meta).length === 0) delete copy.metadata;
  return copy;
}

/**
 * Records an operation in metadata.managedFields: one entry per (manager, operation,
 * subresource), whose field set is what this operation changed (Update) or applied (Apply).
 * Approximate: fields are never taken away from other managers.
 */
export function recordManagedFields(next: KubeObject, before: KubeObject | undefined, manager: string, operation: 'Update' | 'Apply', apiVersion: string, subresource: string, applied?: KubeObject): void {
  const entries = (before?.metadata.managedFields ?? []).filter((e) => !(e.manager === manager && e.operation === operation && (e.subresource ?? '') === subresource));
  const fields = operation === 'Apply' && applied ? fieldsV1(ownedShape(applied, subresource) as never) : changedFields(before ? ownedShape(before, subresource) : {}, ownedShape(next, subresource));
  const previous = (before?.metadata.managedFields ?? []).find((e) => e.manager === manager && e.operation === operation && (e.subresource ?? '') === subresource);
  if (Object.keys(fields).length === 0 && !previous) {
    next.metadata.managedFields = entries.length > 0 ? entries : before?.metadata.managedFields;
    if (!next.metadata.managedFields) delete next.metadata.managedFields;
    return;
  }
  const entry: Record<string, unknown> = { manager, operation, apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: Object.keys(fields).length > 0 ? fields : previous?.fieldsV1 ?? {} };
  if (subresource) entry.subresource = subresource;
  next.metadata.managedFields = [...entries, entry];
}
