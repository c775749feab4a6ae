/**
 * OpenAPI v2 `definitions` for the served kinds, derived from kubernetes-models 5.1 (declarations and
 * validators generated from the Kubernetes OpenAPI of one release: ≥1.34 by its content, e.g.
 * resource.k8s.io/v1 and PodCertificateProjection; the package's README badge still says 1.27.1):
 * property names, descriptions, required, enums and refs from the `.d.ts`, integer formats by
 * probing the package's compiled validators. Test code only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { RESOURCES } from './resources.ts';
import { PATCH_DIRECTIVES } from './openapi-patch.ts';

/** A JSON schema as OpenAPI v2 definitions carry it. */
export type Schema = Record<string, unknown>;

const require = createRequire(import.meta.url);
const MODELS = dirname(require.resolve('kubernetes-models/package.json'));
const MACHINERY = dirname(require.resolve('@kubernetes-models/apimachinery/package.json'));

/** Where a group's types live in kubernetes-models, and its OpenAPI definition prefix. */
function groupDir(group: string, version: string): { dir: string; prefix: string } {
  const short = group === '' ? 'core' : (group.split('.')[0] ?? group);
  return { dir: join(MODELS, group === '' ? version : `${group}/${version}`), prefix: `io.k8s.api.${short}.${version}` };
}

/** The definition name of a declaration file (`.../v1/Pod.d.ts` → `io.k8s.api.core.v1.Pod`). */
function definitionName(file: string): string {
  if (file.startsWith(MACHINERY)) {
    const rel = file.slice(MACHINERY.length + 1).replace(/\.d\.ts$/, '');
    return `io.k8s.apimachinery.pkg.${rel.split('/').join('.')}`;
  }
  const rel = file.slice(MODELS.length + 1).replace(/\.d\.ts$/, '').split('/');
  const kind = rel.pop() ?? '';
  const version = rel.pop() ?? '';
  return `${groupDir(rel.join('/'), version).prefix}.${kind}`;
}

/** The compiled validator next to a declaration, to learn what the `.d.ts` erased (int formats). */
function validatorOf(file: string): ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; keyword: string; params: Record<string, unknown> }> | null } {
  const root = file.startsWith(MACHINERY) ? MACHINERY : MODELS;
  const pascal = definitionName(file).split('.').map((p) => (p[0] ?? '').toUpperCase() + p.slice(1)).join('');
  // The package exports only the "import" condition; require(esm) by path loads it synchronously.
  const mod = require(join(root, '_schemas', `${pascal}.js`)) as { validate: ReturnType<typeof validatorOf> };
  return mod.validate;
}

function jsDoc(node: ts.Node, text: string): string {
  const ranges = ts.getLeadingCommentRanges(text, node.pos) ?? [];
  const last = ranges.filter((r) => text.slice(r.pos, r.pos + 3) === '/**').pop();
  if (!last) return '';
  const body = text.slice(last.pos + 3, last.end - 2);
  return body
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .replace(/\*\\\//g, '*/')
    .trim();
}

interface Ctx {
  file: string;
  text: string;
  imports: Map<string, string>;
  enqueue: (file: string) => string;
  probe: (path: Array<string | number>, value: unknown) => Schema | undefined;
}

/** Builds a probe value that puts `leaf` where this type's number sits (arrays, maps). */
function typeToSchema(node: ts.TypeNode, ctx: Ctx, wrap: (leaf: unknown) => unknown, path: Array<string | number>): Schema {
  if (node.kind === ts.SyntaxKind.StringKeyword) return { type: 'string' };
  if (node.kind === ts.SyntaxKind.BooleanKeyword) return { type: 'boolean' };
  if (node.kind === ts.SyntaxKind.NumberKeyword) return ctx.probe(path, wrap(0.5)) ?? { type: 'number', format: 'double' };
  if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) return { type: 'string', enum: [node.literal.text] };
  if (ts.isUnionTypeNode(node)) {
    const literals = node.types.filter(ts.isLiteralTypeNode).map((t) => (ts.isStringLiteral(t.literal) ? t.literal.text : ''));
    if (literals.length === node.types.length) return { type: 'string', enum: literals };
    return { type: 'string' };
  }
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if (name === 'Array' && node.typeArguments?.[0]) return { type: 'array', items: typeToSchema(node.typeArguments[0], ctx, (leaf) => wrap([leaf]), [...path, 0]) };
    const from = ctx.imports.get(name);
    if (from) return { $ref: `#/definitions/${ctx.enqueue(from)}` };
    return {};
  }
  if (ts.isTypeLiteralNode(node)) {
    const index = node.members.find(ts.isIndexSignatureDeclaration);
    if (index) return { type: 'object', additionalProperties: typeToSchema(index.type, ctx, (leaf) => wrap({ k: leaf }), [...path, 'k']) };
    return objectSchema(node.members, ctx, wrap, path);
  }
  return {};
}

// The generator drops these docs where it pins the fields to literals; they are the same everywhere.
const TYPE_META_DOCS: Record<string, string> = {
  apiVersion: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
  kind: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
};

function objectSchema(members: ts.NodeArray<ts.TypeElement>, ctx: Ctx, wrap: (leaf: unknown) => unknown, path: Array<string | number>): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const m of members) {
    if (!ts.isPropertySignature(m) || !m.type) continue;
    const name = m.name.getText().replace(/^"|"$/g, '');
    // kubernetes-models pins apiVersion/kind of top-level kinds to literals; the API has strings.
    const typeMeta = (name === 'apiVersion' || name === 'kind') && ts.isLiteralTypeNode(m.type);
    const schema: Schema = typeMeta ? { type: 'string' } : typeToSchema(m.type, ctx, (leaf) => wrap({ [name]: leaf }), [...path, name]);
    const doc = jsDoc(m, ctx.text) || (typeMeta ? TYPE_META_DOCS[name] : '');
    properties[name] = doc ? { description: doc, ...schema } : schema;
    if (!m.questionToken && !typeMeta) required.push(name);
  }
  const out: Schema = {};
  if (required.length) out.required = required;
  out.properties = properties;
  out.type = 'object';
  return out;
}

// Definitions whose JSON shape is not what their TypeScript type says (custom marshalers).
const PRIMITIVES: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { type: 'string' },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { type: 'string', format: 'int-or-string' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': { type: 'object' },
  'io.k8s.apimachinery.pkg.runtime.RawExtension': { type: 'object' },
};

function parseDefinition(file: string, enqueue: (file: string) => string): Schema {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const imports = new Map<string, string>();
  for (const st of source.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const spec = st.moduleSpecifier.text;
    const target = spec.startsWith('.') ? resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')) : spec.startsWith('@kubernetes-models/apimachinery/') ? join(MACHINERY, `${spec.slice('@kubernetes-models/apimachinery/'.length)}.d.ts`) : '';
    if (!target) continue;
    for (const el of st.importClause?.namedBindings && ts.isNamedImports(st.importClause.namedBindings) ? st.importClause.namedBindings.elements : []) imports.set(el.name.text, target);
  }
  const name = definitionName(file);
  const decl = source.statements.find((s) => ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s));
  const description = decl ? jsDoc(decl, text) : '';
  const withDoc = (schema: Schema): Schema => (description ? { description, ...schema } : schema);
  const primitive = PRIMITIVES[name];
  if (primitive) return withDoc(primitive);
  if (!decl || !ts.isInterfaceDeclaration(decl)) return withDoc({ type: 'object' });
  const validate = validatorOf(file);
  const probe = (path: Array<string | number>, value: unknown): Schema | undefined => {
    validate(value);
    const at = `/${path.join('/')}`;
    const errors = (validate.errors ?? []).filter((e) => e.instancePath === at);
    const type = errors.find((e) => e.keyword === 'type')?.params.type;
    const format = errors.find((e) => e.keyword === 'format')?.params.format;
    if (type !== 'integer') return undefined;
    return { type: 'integer', format: typeof format === 'string' ? format : 'int64' };
  };
  const schema = objectSchema(decl.members, { file, text, imports, enqueue, probe }, (leaf) => leaf, []);
  return withDoc(schema);
}

/** The declaration file of a kind in a group/version, if kubernetes-models has it. */
function kindFile(group: string, version: string, kind: string): string | undefined {
  const file = join(groupDir(group, version).dir, `${kind}.d.ts`);
  try {
    readFileSync(file);
    return file;
  } catch {
    return undefined;
  }
}

let cached: Record<string, Schema> | undefined;

/** Every definition reachable from the served kinds, their lists and subresource kinds, and meta types. */
export function definitions(): Record<string, Schema> {
  if (cached) return cached;
  const queue: string[] = [];
  const seen = new Map<string, string>();
  const enqueue = (file: string): string => {
    const name = definitionName(file);
    if (!seen.has(file)) {
      seen.set(file, name);
      queue.push(file);
    }
    return name;
  };
  for (const r of RESOURCES) {
    for (const kind of r.virtual ? [r.kind] : [r.kind, `${r.kind}List`]) {
      const file = kindFile(r.group, r.version, kind);
      if (file) enqueue(file);
    }
    for (const s of Object.values(r.subresources)) {
      const file = kindFile(s.group ?? r.group, s.version ?? r.version, s.kind);
      if (file) enqueue(file);
    }
  }
  for (const meta of ['Status', 'DeleteOptions', 'WatchEvent', 'APIResourceList', 'APIGroup', 'APIGroupList', 'APIVersions', 'Patch']) enqueue(join(MACHINERY, 'apis/meta/v1', `${meta}.d.ts`));
  const out: Record<string, Schema> = {};
  while (queue.length) {
    const file = queue.shift() as string;
    out[definitionName(file)] = parseDefinition(file, enqueue);
  }
  for (const [def, fields] of Object.entries(PATCH_DIRECTIVES)) {
    const props = out[def]?.properties as Record<string, Schema> | undefined;
    for (const [field, ext] of Object.entries(fields)) if (props?.[field]) Object.assign(props[field], ext);
  }
  addGroupVersionKinds(out);
  cached = Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return cached;
}

/** `x-kubernetes-group-version-kind` as the real spec stamps kinds, lists and the shared meta kinds. */
function addGroupVersionKinds(out: Record<string, Schema>): void {
  const gvs = [...new Map(RESOURCES.map((r) => [`${r.group}/${r.version}`, { group: r.group, version: r.version }])).values()];
  for (const r of RESOURCES) {
    const prefix = groupDir(r.group, r.version).prefix;
    for (const kind of [r.kind, `${r.kind}List`]) {
      const def = out[`${prefix}.${kind}`];
      if (def) def['x-kubernetes-group-version-kind'] = [{ group: r.group, kind, version: r.version }];
    }
  }
  const meta = 'io.k8s.apimachinery.pkg.apis.meta.v1';
  const status = out[`${meta}.Status`];
  if (status) status['x-kubernetes-group-version-kind'] = [{ group: '', kind: 'Status', version: 'v1' }];
  for (const kind of ['DeleteOptions', 'WatchEvent']) {
    const def = out[`${meta}.${kind}`];
    if (def) def['x-kubernetes-group-version-kind'] = gvs.map((gv) => ({ group: gv.group, kind, version: gv.version }));
  }
}

/** The OpenAPI definition name of a served kind (`io.k8s.api.apps.v1.Deployment`). */
export function definitionOf(group: string, version: string, kind: string): string {
  if (kind === 'Status' || kind === 'DeleteOptions' || kind === 'WatchEvent' || kind === 'Patch') return `io.k8s.apimachinery.pkg.apis.meta.v1.${kind}`;
  return `${groupDir(group, version).prefix}.${kind}`;
}
