/**
 * /openapi/v2 (JSON and gnostic protobuf) and /openapi/v3 (index and per group/version documents)
 * of the API double, trimmed to the served kinds. Schemas come from the kubernetes-models package
 * (generated from a ≥1.34 Kubernetes OpenAPI; see openapi-schemas.ts) plus the strategic-merge
 * directives of openapi-patch.ts; negotiation, ETags and caching follow kube-openapi's handlers.
 * Documents are built once, on first use. Test code only.
 */
import { createHash } from 'node:crypto';
import { definitions } from './openapi-schemas.ts';
import type { Schema } from './openapi-schemas.ts';
import { groupVersionPaths, servedGroupVersions } from './openapi-paths.ts';
import type { OperationSpec, ParamSpec, PathSpec } from './openapi-paths.ts';
import { encodeOpenAPIv2 } from './openapi-protobuf.ts';
import { parseAccept } from './negotiation.ts';
import type { DiscoveryResponse } from './discovery.ts';

const INFO = { title: 'Kubernetes', version: 'v1.35.0' };
const PROTO_V2 = 'com.github.proto-openapi.spec.v2.v1.0+protobuf';
const PROTO_V2_DEPRECATED = 'com.github.proto-openapi.spec.v2@v1.0+protobuf';
const SECURITY = { BearerToken: { description: 'Bearer Token authentication', type: 'apiKey', name: 'authorization', in: 'header' } };
const PRODUCES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const WATCH_PRODUCES = [...PRODUCES, 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch'];
const RESPONSE_TEXT: Record<string, string> = { '200': 'OK', '201': 'Created', '202': 'Accepted' };

/** kube-openapi's ETag: uppercase hex SHA-512 of the served bytes. */
function etagOf(data: Buffer | string): string {
  return createHash('sha512').update(data).digest('hex').toUpperCase();
}

function gvkOf(op: OperationSpec): Record<string, string> {
  return { group: op.gvk.group, kind: op.gvk.kind, version: op.gvk.version };
}

function v2Param(p: ParamSpec): Schema {
  if (p.in === 'body') return { name: 'body', in: 'body', required: true, schema: { $ref: `#/definitions/${p.schema ?? ''}` } };
  const out: Schema = { uniqueItems: true, type: p.type ?? 'string', description: p.description, name: p.name, in: p.in };
  if (p.required) out.required = true;
  return out;
}

function v2Operation(op: OperationSpec): Schema {
  const responses: Record<string, Schema> = {};
  for (const [code, def] of Object.entries(op.responses)) responses[code] = { description: RESPONSE_TEXT[code] ?? 'OK', schema: def ? { $ref: `#/definitions/${def}` } : { type: 'string' } };
  responses['401'] = { description: 'Unauthorized' };
  return {
    consumes: op.consumes,
    description: op.description,
    operationId: op.operationId,
    parameters: op.parameters.map(v2Param),
    produces: op.action === 'list' ? WATCH_PRODUCES : op.action === 'connect' ? ['*/*'] : PRODUCES,
    responses,
    schemes: ['https'],
    tags: [op.tag],
    'x-kubernetes-action': op.action,
    'x-kubernetes-group-version-kind': gvkOf(op),
  };
}

function v2Paths(paths: PathSpec[]): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const p of paths) {
    const item: Schema = {};
    for (const op of p.operations) item[op.method] = v2Operation(op);
    item.parameters = p.parameters.map(v2Param);
    out[p.path] = item;
  }
  return out;
}

let v2Cache: { json: string; proto: Buffer; etag: string } | undefined;

/** The Swagger 2.0 document: every served group/version, definitions of the served kinds. */
export function openAPIv2(): Record<string, unknown> {
  const paths = servedGroupVersions().flatMap((gv) => groupVersionPaths(gv.group, gv.version));
  return { swagger: '2.0', info: INFO, paths: v2Paths(paths), definitions: definitions(), security: [{ BearerToken: [] }], securityDefinitions: SECURITY };
}

function v2(): { json: string; proto: Buffer; etag: string } {
  if (!v2Cache) {
    const doc = openAPIv2();
    const json = JSON.stringify(doc);
    v2Cache = { json, proto: encodeOpenAPIv2(doc), etag: etagOf(json) };
  }
  return v2Cache;
}

/** v2 schema → v3 schema: refs move to components; a described ref becomes allOf as kube-openapi writes it. */
function toV3(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toV3);
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const ref = s.$ref.replace('#/definitions/', '#/components/schemas/');
    const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref'));
    return Object.keys(rest).length ? { ...rest, allOf: [{ $ref: ref }] } : { $ref: ref };
  }
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, toV3(pv)])) : toV3(v)]));
}

function v3Param(p: ParamSpec): Schema {
  const out: Schema = { name: p.name, in: p.in, description: p.description };
  if (p.required) out.required = true;
  out.schema = { type: p.type ?? 'string', uniqueItems: true };
  return out;
}

function v3Operation(op: OperationSpec): Schema {
  const content = (def: string, types: string[]): Schema => Object.fromEntries(types.map((t) => [t, { schema: def ? { $ref: `#/components/schemas/${def}` } : { type: 'string' } }]));
  const responses: Record<string, Schema> = {};
  const types = op.action === 'list' ? WATCH_PRODUCES : op.action === 'connect' ? ['*/*'] : PRODUCES;
  for (const [code, def] of Object.entries(op.responses)) responses[code] = { description: RESPONSE_TEXT[code] ?? 'OK', content: content(def, types) };
  responses['401'] = { description: 'Unauthorized' };
  const out: Schema = { tags: [op.tag], description: op.description, operationId: op.operationId, parameters: op.parameters.filter((p) => p.in !== 'body').map(v3Param) };
  const body = op.parameters.find((p) => p.in === 'body');
  if (body) out.requestBody = { content: content(body.schema ?? '', op.method === 'patch' ? op.consumes : ['*/*']), required: true };
  return { ...out, responses, 'x-kubernetes-action': op.action, 'x-kubernetes-group-version-kind': gvkOf(op) };
}

/** The definitions a set of roots needs, transitively. */
function closure(roots: string[], defs: Record<string, Schema>): string[] {
  const seen = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') add(x.replace(/^#\/(definitions|components\/schemas)\//, ''));
        else visit(x);
      }
    }
  };
  const add = (name: string): void => {
    if (seen.has(name) || !defs[name]) return;
    seen.add(name);
    visit(defs[name]);
  };
  roots.forEach(add);
  return [...seen].sort();
}

/** The OpenAPI 3.0 document of one group/version (`api/v1`, `apis/apps/v1`). */
export function openAPIv3(group: string, version: string): Record<string, unknown> {
  const defs = definitions();
  const paths: Record<string, Schema> = {};
  for (const p of groupVersionPaths(group, version)) {
    const item: Schema = {};
    for (const op of p.operations) item[op.method] = v3Operation(op);
    item.parameters = p.parameters.map(v3Param);
    paths[p.path] = item;
  }
  const roots = (JSON.stringify(paths).match(/#\/components\/schemas\/[^"]+/g) ?? []).map((r) => r.slice('#/components/schemas/'.length));
  const schemas = Object.fromEntries(closure(roots, defs).map((n) => [n, toV3(defs[n])]));
  return { openapi: '3.0.0', info: INFO, paths, components: { schemas, securitySchemes: SECURITY } };
}

let v3Cache: Map<string, { json: string; etag: string }> | undefined;

function v3(): Map<string, { json: string; etag: string }> {
  if (!v3Cache) {
    v3Cache = new Map();
    for (const gv of servedGroupVersions()) {
      const json = JSON.stringify(openAPIv3(gv.group, gv.version));
      v3Cache.set(gv.key, { json, etag: etagOf(json) });
    }
  }
  return v3Cache;
}

/** The first Accept clause (goautoneg order) that one of `served` [type, subType] pairs matches. */
function pick(accept: string | undefined, served: Array<[string, string]>): number {
  for (const clause of parseAccept(accept || '*/*')) {
    const i = served.findIndex(([type, subType]) => (clause.type === type || clause.type === '*') && (clause.subType === subType || clause.subType === '*'));
    if (i >= 0) return i;
  }
  return -1;
}

const NOT_ACCEPTABLE: DiscoveryResponse = { status: 406, contentType: 'text/plain; charset=utf-8', body: '', vary: 'Accept' };

/**
 * Serves /openapi/v2, /openapi/v3 and /openapi/v3/GROUP-VERSION paths (a query string may be
 * included: `hash` as kube-openapi handles it), or returns undefined for other paths.
 */
export function serveOpenAPI(path: string, accept: string | undefined): DiscoveryResponse | undefined {
  const url = new URL(path, 'https://double.invalid');
  if (url.pathname === '/openapi/v2') {
    const choice = pick(accept, [['application', 'json'], ['application', PROTO_V2_DEPRECATED], ['application', PROTO_V2]]);
    if (choice < 0) return NOT_ACCEPTABLE;
    const doc = v2();
    const headers = { ETag: `"${doc.etag}"` };
    if (choice === 0) return { status: 200, contentType: 'application/json', body: doc.json, vary: 'Accept', headers };
    return { status: 200, contentType: `application/${PROTO_V2}`, body: doc.proto, vary: 'Accept', headers };
  }
  if (url.pathname === '/openapi/v3') {
    const index = { paths: Object.fromEntries([...v3()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, d]) => [key, { serverRelativeURL: `/openapi/v3/${key}?hash=${d.etag}` }])) };
    const body = JSON.stringify(index);
    return { status: 200, contentType: 'application/json', body, headers: { ETag: `"${etagOf(body)}"` } };
  }
  if (!url.pathname.startsWith('/openapi/v3/')) return undefined;
  const key = url.pathname.slice('/openapi/v3/'.length);
  const doc = v3().get(key);
  if (!doc) return { status: 404, contentType: 'text/plain; charset=utf-8', body: '404 page not found\n' };
  // The double serves v3 as JSON only; kubectl never asks for the v3 protobuf.
  if (pick(accept, [['application', 'json']]) < 0) return NOT_ACCEPTABLE;
  const headers: Record<string, string> = { ETag: `"${doc.etag}"` };
  const hash = url.searchParams.get('hash');
  if (hash && hash !== doc.etag) {
    // A stale hash is redirected to the current one, so caches keyed by URL stay correct.
    return { status: 301, contentType: 'text/html; charset=utf-8', body: '', vary: 'Accept', headers: { ...headers, Location: `/openapi/v3/${key}?hash=${doc.etag}` } };
  }
  if (hash) {
    headers['Cache-Control'] = 'public, immutable';
    headers.Expires = new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString();
  }
  return { status: 200, contentType: 'application/json', body: doc.json, vary: 'Accept', headers };
}
