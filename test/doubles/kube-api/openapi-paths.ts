/**
 * The OpenAPI `paths` of the served resources, in the real server's shape: operation ids like
 * `patchCoreV1NamespacedPod`, `x-kubernetes-action`, `x-kubernetes-group-version-kind`, and the
 * query parameters kubectl looks for (PATCH's `fieldValidation` turns on server-side field
 * validation in kubectl ≥1.27). Version-neutral form; openapi.ts renders it as v2 or v3. Test code only.
 */
import { RESOURCES } from './resources.ts';
import type { ResourceInfo } from './resources.ts';
import { definitionOf, definitions } from './openapi-schemas.ts';

/** A parameter, version-neutral: `type` is the schema type of a query or path parameter. */
export interface ParamSpec {
  name: string;
  in: 'query' | 'path' | 'body';
  description: string;
  type?: 'string' | 'boolean' | 'integer';
  required?: boolean;
  /** The body's definition name. */
  schema?: string;
}

/** One operation, version-neutral. */
export interface OperationSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  operationId: string;
  description: string;
  action: string;
  gvk: { group: string; version: string; kind: string };
  parameters: ParamSpec[];
  /** Definition names of the 200 (and 201/202) responses. */
  responses: Record<string, string>;
  consumes: string[];
  tag: string;
}

/** A path with its operations and path-level parameters. */
export interface PathSpec {
  path: string;
  operations: OperationSpec[];
  parameters: ParamSpec[];
}

const q = (name: string, type: ParamSpec['type'], description: string): ParamSpec => ({ name, in: 'query', type, description });
const DRY_RUN = q('dryRun', 'string', 'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed');
const FIELD_MANAGER = q('fieldManager', 'string', 'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.');
const FIELD_VALIDATION = q('fieldValidation', 'string', 'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.');
const FORCE = q('force', 'boolean', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.');
const PRETTY = q('pretty', 'string', "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).");
const LIST_PARAMS = [
  q('allowWatchBookmarks', 'boolean', 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
  q('continue', 'string', 'The continue option should be set when retrieving more results from the server.'),
  q('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  q('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  q('limit', 'integer', 'limit is a maximum number of responses to return for a list call.'),
  q('resourceVersion', 'string', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  q('resourceVersionMatch', 'string', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  q('sendInitialEvents', 'boolean', '`sendInitialEvents=true` may be set together with `watch=true`.'),
  q('timeoutSeconds', 'integer', 'Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.'),
  q('watch', 'boolean', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.'),
];
const DELETE_PARAMS = [
  DRY_RUN,
  q('gracePeriodSeconds', 'integer', 'The duration in seconds before the object should be deleted.'),
  q('orphanDependents', 'boolean', 'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.'),
  q('propagationPolicy', 'string', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
];
const JSON_TYPES = ['*/*'];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

/** The operation-id word of a group: `rbac.authorization.k8s.io` → `RbacAuthorization`. */
export function groupWord(group: string): string {
  if (group === '') return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split('.')
    .map((p) => (p[0] ?? '').toUpperCase() + p.slice(1))
    .join('');
}

/** The tag of a group version: `core_v1`, `rbacAuthorization_v1`. */
export function tagOf(group: string, version: string): string {
  const word = groupWord(group);
  return `${(word[0] ?? '').toLowerCase()}${word.slice(1)}_${version}`;
}

function ops(r: ResourceInfo, kind: string, scoped: string, gvk: OperationSpec['gvk'], verbs: string[], subresource: string): { item: OperationSpec[]; collection: OperationSpec[] } {
  const id = `${groupWord(r.group)}${r.version[0]?.toUpperCase()}${r.version.slice(1)}`;
  const word = `${scoped}${r.kind}${subresource ? subresource[0]?.toUpperCase() + subresource.slice(1) : ''}`;
  const def = definitionOf(gvk.group, gvk.version, kind);
  const tag = tagOf(r.group, r.version);
  const mk = (method: OperationSpec['method'], verb: string, action: string, description: string, parameters: ParamSpec[], responses: Record<string, string>, consumes = JSON_TYPES): OperationSpec => ({
    method,
    operationId: `${verb}${id}${word}`,
    description,
    action,
    gvk,
    parameters,
    responses,
    consumes,
    tag,
  });
  const body = (schema: string): ParamSpec => ({ name: 'body', in: 'body', required: true, description: '', schema });
  const item: OperationSpec[] = [];
  const collection: OperationSpec[] = [];
  // exec/attach/portforward (options kinds without a definition) are connect operations that stream.
  if (subresource && !(def in definitions())) {
    for (const [verb, method] of [['get', 'get'], ['create', 'post']] as const) {
      if (!verbs.includes(verb)) continue;
      const op = mk(method, 'connect', 'connect', `connect ${method.toUpperCase()} requests to ${subresource} of ${r.kind}`, [], { '200': '' });
      op.operationId = `connect${method === 'get' ? 'Get' : 'Post'}${id}${word}`;
      item.push(op);
    }
    return { item, collection };
  }
  const what = subresource ? `${subresource} of the specified ${r.kind}` : `the specified ${r.kind}`;
  if (verbs.includes('get')) item.push(mk('get', 'read', 'get', `read ${what}`, [], { '200': def }));
  if (verbs.includes('update')) item.push(mk('put', 'replace', 'put', `replace ${what}`, [body(def), DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], { '200': def, '201': def }));
  if (verbs.includes('patch')) item.push(mk('patch', 'patch', 'patch', `partially update ${what}`, [body(definitionOf('', 'v1', 'Patch')), DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE], { '200': def, '201': def }, PATCH_TYPES));
  if (verbs.includes('delete') && !subresource) item.push(mk('delete', 'delete', 'delete', `delete a ${r.kind}`, [body(definitionOf('', 'v1', 'DeleteOptions')), ...DELETE_PARAMS], { '200': definitionOf('', 'v1', 'Status'), '202': definitionOf('', 'v1', 'Status') }));
  if (verbs.includes('create') && subresource) item.push(mk('post', 'create', 'post', `create ${subresource} of a ${r.kind}`, [body(def), DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], { '200': def, '201': def, '202': def }));
  if (!subresource) {
    if (verbs.includes('list')) collection.push(mk('get', 'list', 'list', `list or watch objects of kind ${r.kind}`, LIST_PARAMS, { '200': definitionOf(r.group, r.version, `${r.kind}List`) }));
    if (verbs.includes('create')) collection.push(mk('post', 'create', 'post', `create a ${r.kind}`, [body(def), DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], { '200': def, '201': def, '202': def }));
    if (verbs.includes('deletecollection')) {
      const del = mk('delete', 'delete', 'deletecollection', `delete collection of ${r.kind}`, [body(definitionOf('', 'v1', 'DeleteOptions')), ...DELETE_PARAMS, ...LIST_PARAMS], { '200': definitionOf('', 'v1', 'Status') });
      del.operationId = `delete${id}Collection${word}`;
      collection.push(del);
    }
  }
  return { item, collection };
}

/** Every path of one group/version, sorted as the real spec is. */
export function groupVersionPaths(group: string, version: string): PathSpec[] {
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const paths: PathSpec[] = [];
  const NS: ParamSpec = { name: 'namespace', in: 'path', type: 'string', required: true, description: 'object name and auth scope, such as for teams and projects' };
  const nameParam = (kind: string): ParamSpec => ({ name: 'name', in: 'path', type: 'string', required: true, description: `name of the ${kind}` });
  for (const r of RESOURCES.filter((x) => x.group === group && x.version === version)) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const scoped = r.namespaced ? 'Namespaced' : '';
    const prefix = r.namespaced ? `${base}/namespaces/{namespace}/${r.resource}` : `${base}/${r.resource}`;
    const scope = r.namespaced ? [NS] : [];
    const main = ops(r, r.kind, scoped, gvk, r.verbs, '');
    if (main.collection.length) paths.push({ path: prefix, operations: main.collection, parameters: [...scope, PRETTY] });
    if (main.item.length) paths.push({ path: `${prefix}/{name}`, operations: main.item, parameters: [nameParam(r.kind), ...scope, PRETTY] });
    if (r.namespaced && r.verbs.includes('list')) {
      const all = ops(r, r.kind, '', gvk, ['list'], '').collection.map((o) => ({ ...o, operationId: `${o.operationId}ForAllNamespaces` }));
      paths.push({ path: `${base}/${r.resource}`, operations: all, parameters: [PRETTY] });
    }
    for (const [sub, s] of Object.entries(r.subresources)) {
      const subGvk = { group: s.group ?? r.group, version: s.version ?? r.version, kind: s.kind };
      const subOps = ops(r, s.kind, scoped, subGvk, s.verbs, sub).item;
      if (subOps.length) paths.push({ path: `${prefix}/{name}/${sub}`, operations: subOps, parameters: [nameParam(s.kind), ...scope, PRETTY] });
    }
  }
  return paths.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The served group/versions, as `api/v1` and `apis/GROUP/VERSION` keys of the v3 index. */
export function servedGroupVersions(): Array<{ group: string; version: string; key: string }> {
  const seen = new Map<string, { group: string; version: string; key: string }>();
  for (const r of RESOURCES) {
    const key = r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`;
    if (!seen.has(key)) seen.set(key, { group: r.group, version: r.version, key });
  }
  return [...seen.values()];
}
