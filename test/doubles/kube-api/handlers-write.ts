/**
 * Writes to stored resources: create, update and patch (through one commit path that checks
 * preconditions, defaults, tracks generation, records managedFields and runs admission), and delete.
 */
import type { AdmissionOperation, KubeObject } from './types.ts';
import type { RequestContext } from './handlers-context.ts';
import { badRequest, conflict, invalid, notFound, statusError } from './status.ts';
import { applyDefaults, hasStatus, simulateStatus, specOf, tracksGeneration, validateName } from './handlers-strategy.ts';
import { checkFieldValidation, fieldManager, groupVersion, isDryRun, now, recordManagedFields, respondObject, storeNamespace } from './handlers-objects.ts';
import { decodeObjectBody, readBody } from './handlers-wire.ts';
import { randomBytes, randomUUID } from 'node:crypto';

function isObjectBody(value: unknown): value is KubeObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Checks and completes TypeMeta: a body of another kind is 400 as the server's decoder says. */
export function checkTypeMeta(ctx: RequestContext, body: unknown): KubeObject {
  if (!isObjectBody(body)) throw badRequest('Object \'Kind\' is missing in \'null\'');
  const apiVersion = groupVersion(ctx.resource);
  if ((body.kind && body.kind !== ctx.resource.kind) || (body.apiVersion && body.apiVersion !== apiVersion)) {
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersion})`);
  }
  body.kind = ctx.resource.kind;
  body.apiVersion = apiVersion;
  body.metadata = isObjectBody(body.metadata) ? body.metadata : {};
  return body;
}

/** A 5-character suffix from the apiserver's generateName alphabet (no vowels, no look-alikes). */
function nameSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

function admissionResource(ctx: RequestContext): { group: string; version: string; resource: string } {
  return { group: ctx.resource.group, version: ctx.resource.version, resource: ctx.resource.resource };
}

/** Runs the admission chain; the result replaces the object. */
export async function admit(ctx: RequestContext, operation: AdmissionOperation, object: KubeObject | undefined, oldObject: KubeObject | undefined, dryRun: boolean, options: KubeObject | undefined): Promise<KubeObject | undefined> {
  const result = await ctx.state.admit({
    operation, resource: admissionResource(ctx), subResource: ctx.info.subresource,
    kind: { group: ctx.resource.group, version: ctx.resource.version, kind: ctx.resource.kind },
    namespace: storeNamespace(ctx), name: object?.metadata.name ?? oldObject?.metadata.name ?? ctx.info.name,
    object, oldObject, options, userInfo: ctx.user, dryRun,
  });
  ctx.warnings.push(...result.warnings);
  return result.object;
}

/** Checks that a namespaced object's namespace exists: 404 `namespaces "x" not found`. */
export function requireNamespace(ctx: RequestContext): void {
  if (!ctx.resource.namespaced) return;
  if (!ctx.info.namespace) throw statusError(404, 'NotFound', 'the server could not find the requested resource');
  if (!ctx.state.store.get('namespaces', '', ctx.info.namespace)) throw notFound('namespaces', '', ctx.info.namespace);
}

/** POST: builds, defaults, admits and stores a new object (201), or only admits it under dryRun. */
export async function createObject(ctx: RequestContext, decoded?: KubeObject, manager?: string, operation: 'Update' | 'Apply' = 'Update'): Promise<void> {
  const body = decoded ?? (await readBody(ctx.req).then((b) => decodeObjectBody(ctx.req.headers['content-type'], b)));
  if (!decoded) checkFieldValidation(ctx, body);
  const obj = checkTypeMeta(ctx, body);
  const dryRun = isDryRun(ctx);
  const ns = storeNamespace(ctx);
  if (ctx.resource.namespaced) {
    if (obj.metadata.namespace && obj.metadata.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    obj.metadata.namespace = ns;
  } else {
    delete obj.metadata.namespace;
  }
  if (obj.metadata.resourceVersion) throw statusError(500, 'InternalError', 'Internal error occurred: resourceVersion should not be set on objects to be created');
  if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${nameSuffix()}`;
  if (!obj.metadata.name) throw statusError(422, 'Invalid', `${ctx.resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, { kind: ctx.resource.kind, group: ctx.resource.group || undefined, causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }] });
  validateName(ctx.resource, obj.metadata.name);
  requireNamespace(ctx);
  for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'generation', 'managedFields'] as const) delete obj.metadata[k];
  if (hasStatus(ctx.resource) && ctx.key !== 'services') delete obj.status;
  const applied = structuredClone(obj);
  applyDefaults(ctx.key, obj);
  if (tracksGeneration(ctx.key)) obj.metadata.generation = 1;
  recordManagedFields(obj, undefined, manager ?? fieldManager(ctx, false), operation, groupVersion(ctx.resource), '', operation === 'Apply' ? applied : undefined);
  const options: KubeObject = { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', metadata: {}, fieldManager: manager ?? fieldManager(ctx, false) };
  if (dryRun) options.dryRun = ['All'];
  const admitted = (await admit(ctx, 'CREATE', obj, undefined, dryRun, options)) ?? obj;
  simulateStatus(ctx.key, admitted, now());
  if (dryRun) {
    admitted.metadata.uid ??= randomUUID();
    admitted.metadata.creationTimestamp ??= now();
    respondObject(ctx, 201, admitted);
    return;
  }
  const stored = ctx.state.store.create(ctx.key, admitted, ctx.resource);
  ctx.state.afterCreate(ctx.key, stored);
  respondObject(ctx, 201, stored);
}

/** Options of {@link commitUpdate}. */
export interface CommitOptions {
  manager: string;
  operation: 'Update' | 'Apply';
  applied?: KubeObject;
  /** 'status' keeps everything but status; '' keeps status for resources that have a status subresource. */
  subresource: string;
}

/**
 * The shared end of update, patch and the status-like subresources: keeps identity fields,
 * checks the resourceVersion precondition (409 Conflict), defaults, bumps generation on spec
 * changes, admits, and stores unless nothing changed (no new resourceVersion, as etcd skips
 * no-op writes) or dryRun. Returns the object to answer with.
 */
export async function commitUpdate(ctx: RequestContext, old: KubeObject, next: KubeObject, opts: CommitOptions): Promise<KubeObject> {
  const dryRun = isDryRun(ctx);
  const name = old.metadata.name ?? '';
  if (next.metadata.name && next.metadata.name !== name) throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
  if (next.metadata.uid && next.metadata.uid !== old.metadata.uid) {
    throw statusError(409, 'Conflict', `Operation cannot be fulfilled on ${ctx.resource.group ? `${ctx.resource.resource}.${ctx.resource.group}` : ctx.resource.resource} "${name}": Precondition failed: UID in precondition: ${next.metadata.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
  }
  const wanted = next.metadata.resourceVersion;
  if (wanted && wanted !== old.metadata.resourceVersion) {
    throw conflict(ctx.resource.resource, ctx.resource.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
  }
  let result: KubeObject;
  if (opts.subresource === 'status') {
    result = { ...structuredClone(old), status: next.status };
  } else if (opts.subresource === 'ephemeralcontainers') {
    result = structuredClone(old);
    const wantedList = ((next.spec ?? {}) as Record<string, unknown>).ephemeralContainers;
    checkEphemeral(old, Array.isArray(wantedList) ? wantedList : []);
    (result.spec as Record<string, unknown>).ephemeralContainers = wantedList;
  } else {
    result = next;
    if (hasStatus(ctx.resource) && ctx.key !== 'services') result.status = structuredClone(old.status);
    // Ephemeral containers change only through their subresource.
    if (ctx.key === 'pods') {
      const spec = (result.spec ?? {}) as Record<string, unknown>;
      const before = ((old.spec ?? {}) as Record<string, unknown>).ephemeralContainers;
      if (before === undefined) delete spec.ephemeralContainers;
      else spec.ephemeralContainers = structuredClone(before);
      result.spec = spec;
    }
  }
  result.kind = ctx.resource.kind;
  result.apiVersion = groupVersion(ctx.resource);
  for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'generation', 'deletionTimestamp'] as const) {
    const meta = result.metadata as Record<string, unknown>;
    if (old.metadata[k] === undefined) delete meta[k];
    else meta[k] = old.metadata[k];
  }
  result.metadata.resourceVersion = old.metadata.resourceVersion;
  applyDefaults(ctx.key, result);
  if (tracksGeneration(ctx.key) && specOf(result) !== specOf(old)) result.metadata.generation = (old.metadata.generation ?? 0) + 1;
  if (ctx.key === 'deployments.apps' && opts.subresource !== 'status') simulateStatus(ctx.key, result, now());
  recordManagedFields(result, old, opts.manager, opts.operation, groupVersion(ctx.resource), opts.subresource, opts.applied);
  const options: KubeObject = { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', metadata: {}, fieldManager: opts.manager };
  if (dryRun) options.dryRun = ['All'];
  const admitted = (await admit(ctx, 'UPDATE', result, old, dryRun, options)) ?? result;
  if (sameExceptManagedTimes(admitted, old)) return old;
  if (dryRun) return admitted;
  return ctx.state.store.update(ctx.key, admitted);
}

/** Existing ephemeral containers may be neither removed nor changed (the real 422). */
function checkEphemeral(old: KubeObject, wanted: unknown[]): void {
  const before = ((old.spec ?? {}) as Record<string, unknown>).ephemeralContainers;
  const list = Array.isArray(before) ? (before as Array<Record<string, unknown>>) : [];
  for (const [i, existing] of list.entries()) {
    const match = wanted.find((w) => (w as Record<string, unknown>).name === existing.name);
    if (!match) throw invalid('Pod', '', old.metadata.name ?? '', [{ field: 'spec.ephemeralContainers', message: 'Forbidden: existing ephemeral containers "' + String(existing.name) + '" may not be removed\n', reason: 'FieldValueForbidden' }]);
    const comparable = structuredClone(match) as Record<string, unknown>;
    applyEphemeralDefaults(comparable);
    if (JSON.stringify(comparable) !== JSON.stringify(existing)) {
      throw invalid('Pod', '', old.metadata.name ?? '', [{ field: `spec.ephemeralContainers[${i}]`, message: 'Forbidden: existing ephemeral containers "' + String(existing.name) + '" may not be changed', reason: 'FieldValueForbidden' }]);
    }
  }
}

function applyEphemeralDefaults(c: Record<string, unknown>): void {
  const probe: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: {}, spec: { containers: [], ephemeralContainers: [c] } };
  applyDefaults('pods', probe);
}

function sameExceptManagedTimes(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): string => JSON.stringify({ ...o, metadata: { ...o.metadata, managedFields: (o.metadata.managedFields ?? []).map(({ time: _t, ...rest }) => rest) } });
  return strip(a) === strip(b);
}

/** PUT: replaces an object (404 when missing). */
export async function updateObject(ctx: RequestContext): Promise<void> {
  const body = decodeObjectBody(ctx.req.headers['content-type'], await readBody(ctx.req));
  checkFieldValidation(ctx, body);
  const next = checkTypeMeta(ctx, body);
  const old = ctx.state.store.get(ctx.key, storeNamespace(ctx), ctx.info.name);
  if (!old) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  respondObject(ctx, 200, await commitUpdate(ctx, old, next, { manager: fieldManager(ctx, false), operation: 'Update', subresource: ctx.info.subresource }));
}

interface DeleteOptionsBody {
  dryRun?: unknown;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
}

async function readDeleteOptions(ctx: RequestContext): Promise<DeleteOptionsBody> {
  const raw = await readBody(ctx.req);
  if (raw.length === 0) return {};
  const decoded = decodeObjectBody(ctx.req.headers['content-type'] ?? 'application/json', raw);
  return isObjectBody(decoded) ? (decoded as DeleteOptionsBody) : {};
}

/** Deletes one stored object and, for a namespace, everything in it (the namespace controller's work). */
export function removeObject(ctx: RequestContext, key: string, ns: string, name: string): KubeObject | undefined {
  const store = ctx.state.store;
  if (key === 'namespaces') {
    for (const r of store.resources()) {
      if (r === 'namespaces') continue;
      for (const o of store.list(r, name)) store.delete(r, name, o.metadata.name ?? '');
    }
  }
  return store.delete(key, ns, name);
}

/** The body DELETE answers with: the object for some registries, else Status Success. */
export function deletedResponse(ctx: RequestContext, deleted: KubeObject): unknown {
  if (['pods', 'services', 'namespaces'].includes(ctx.key)) {
    if (ctx.key === 'namespaces') {
      deleted.metadata.deletionTimestamp = now();
      deleted.status = { ...(deleted.status as Record<string, unknown>), phase: 'Terminating' };
    }
    return deleted;
  }
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: deleted.metadata.name, group: ctx.resource.group || undefined, kind: ctx.resource.resource, uid: deleted.metadata.uid } };
}

/** DELETE of one object: preconditions (409), admission, then removal (or not, under dryRun). */
export async function deleteObject(ctx: RequestContext): Promise<void> {
  const options = await readDeleteOptions(ctx);
  const dryRun = isDryRun(ctx, options.dryRun);
  const ns = storeNamespace(ctx);
  const old = ctx.state.store.get(ctx.key, ns, ctx.info.name);
  if (!old) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  const qualified = ctx.resource.group ? `${ctx.resource.resource}.${ctx.resource.group}` : ctx.resource.resource;
  const pre = options.preconditions ?? {};
  if (pre.uid && pre.uid !== old.metadata.uid) throw statusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${ctx.info.name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
  if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
    throw statusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${ctx.info.name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ''}`);
  }
  const deleteOptions: KubeObject = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', metadata: {} };
  if (options.propagationPolicy) deleteOptions.propagationPolicy = options.propagationPolicy;
  if (dryRun) deleteOptions.dryRun = ['All'];
  await admit(ctx, 'DELETE', undefined, old, dryRun, deleteOptions);
  const deleted = dryRun ? old : removeObject(ctx, ctx.key, ns, ctx.info.name);
  if (!deleted) throw notFound(ctx.resource.resource, ctx.resource.group, ctx.info.name);
  const body = deletedResponse(ctx, deleted);
  if (isObjectBody(body) && body.kind !== 'Status') respondObject(ctx, 200, body);
  else respondObject(ctx, 200, body as KubeObject);
}
