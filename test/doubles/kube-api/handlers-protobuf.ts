/**
 * Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl 1.33+ sends for
 * the kinds it writes through typed clients (create configmap/secret/namespace/serviceaccount, auth
 * can-i/whoami, create token). Decodes the `k8s\0` envelope and the messages of those kinds, with
 * field numbers from the published generated.proto files; other kinds are 415.
 */
import { unsupportedMediaType, badRequest } from './status.ts';

type Scalar = 'string' | 'int' | 'bool' | 'bytes' | 'time' | 'rawjson';
interface FieldDef {
  name: string;
  type: Scalar | { message: string };
  repeated?: boolean;
  /** map<string, string|bytes>, encoded as repeated entries {1: key, 2: value}. */
  map?: 'string' | 'bytes';
}
type MessageDef = Record<number, FieldDef>;

const S = (name: string): FieldDef => ({ name, type: 'string' });
const M = (name: string, message: string, repeated = false): FieldDef => ({ name, type: { message }, repeated });

const MESSAGES: Record<string, MessageDef> = {
  TypeMeta: { 1: S('apiVersion'), 2: S('kind') },
  Unknown: { 1: M('typeMeta', 'TypeMeta'), 2: { name: 'raw', type: 'bytes' }, 3: S('contentEncoding'), 4: S('contentType') },
  ObjectMeta: {
    1: S('name'), 2: S('generateName'), 3: S('namespace'), 4: S('selfLink'), 5: S('uid'), 6: S('resourceVersion'),
    7: { name: 'generation', type: 'int' }, 8: { name: 'creationTimestamp', type: 'time' }, 9: { name: 'deletionTimestamp', type: 'time' },
    10: { name: 'deletionGracePeriodSeconds', type: 'int' }, 11: { name: 'labels', type: 'string', map: 'string' },
    12: { name: 'annotations', type: 'string', map: 'string' }, 13: M('ownerReferences', 'OwnerReference', true),
    14: { name: 'finalizers', type: 'string', repeated: true }, 17: M('managedFields', 'ManagedFieldsEntry', true),
  },
  OwnerReference: { 1: S('kind'), 3: S('name'), 4: S('uid'), 5: S('apiVersion'), 6: { name: 'controller', type: 'bool' }, 7: { name: 'blockOwnerDeletion', type: 'bool' } },
  ManagedFieldsEntry: { 1: S('manager'), 2: S('operation'), 3: S('apiVersion'), 4: { name: 'time', type: 'time' }, 6: S('fieldsType'), 7: M('fieldsV1', 'FieldsV1'), 8: S('subresource') },
  FieldsV1: { 1: { name: 'Raw', type: 'rawjson' } },
  ConfigMap: { 1: M('metadata', 'ObjectMeta'), 2: { name: 'data', type: 'string', map: 'string' }, 3: { name: 'binaryData', type: 'bytes', map: 'bytes' }, 4: { name: 'immutable', type: 'bool' } },
  Secret: { 1: M('metadata', 'ObjectMeta'), 2: { name: 'data', type: 'bytes', map: 'bytes' }, 3: S('type'), 4: { name: 'stringData', type: 'string', map: 'string' }, 5: { name: 'immutable', type: 'bool' } },
  Namespace: { 1: M('metadata', 'ObjectMeta'), 2: M('spec', 'NamespaceSpec') },
  NamespaceSpec: { 1: { name: 'finalizers', type: 'string', repeated: true } },
  ServiceAccount: { 1: M('metadata', 'ObjectMeta'), 2: M('secrets', 'ObjectReference', true), 3: M('imagePullSecrets', 'LocalObjectReference', true), 4: { name: 'automountServiceAccountToken', type: 'bool' } },
  ObjectReference: { 1: S('kind'), 2: S('namespace'), 3: S('name'), 4: S('uid'), 5: S('apiVersion'), 6: S('resourceVersion'), 7: S('fieldPath') },
  LocalObjectReference: { 1: S('name') },
  SelfSubjectAccessReview: { 1: M('metadata', 'ObjectMeta'), 2: M('spec', 'SelfSubjectAccessReviewSpec') },
  SelfSubjectAccessReviewSpec: { 1: M('resourceAttributes', 'ResourceAttributes'), 2: M('nonResourceAttributes', 'NonResourceAttributes') },
  ResourceAttributes: { 1: S('namespace'), 2: S('verb'), 3: S('group'), 4: S('version'), 5: S('resource'), 6: S('subresource'), 7: S('name'), 8: M('fieldSelector', 'FieldSelectorAttributes'), 9: M('labelSelector', 'LabelSelectorAttributes') },
  FieldSelectorAttributes: { 1: S('rawSelector'), 2: M('requirements', 'SelectorRequirement', true) },
  LabelSelectorAttributes: { 1: S('rawSelector'), 2: M('requirements', 'SelectorRequirement', true) },
  SelectorRequirement: { 1: S('key'), 2: S('operator'), 3: { name: 'values', type: 'string', repeated: true } },
  NonResourceAttributes: { 1: S('path'), 2: S('verb') },
  SelfSubjectRulesReview: { 1: M('metadata', 'ObjectMeta'), 2: M('spec', 'SelfSubjectRulesReviewSpec') },
  SelfSubjectRulesReviewSpec: { 1: S('namespace') },
  SelfSubjectReview: { 1: M('metadata', 'ObjectMeta') },
  TokenRequest: { 1: M('metadata', 'ObjectMeta'), 2: M('spec', 'TokenRequestSpec') },
  TokenRequestSpec: { 1: { name: 'audiences', type: 'string', repeated: true }, 3: M('boundObjectRef', 'BoundObjectReference'), 4: { name: 'expirationSeconds', type: 'int' } },
  BoundObjectReference: { 1: S('kind'), 2: S('apiVersion'), 3: S('name'), 4: S('uid') },
  TokenReview: { 1: M('metadata', 'ObjectMeta'), 2: M('spec', 'TokenReviewSpec') },
  TokenReviewSpec: { 1: S('token'), 2: { name: 'audiences', type: 'string', repeated: true } },
};

/** The kinds whose protobuf the double decodes (TypeMeta kind → message). */
const KINDS = new Set(['ConfigMap', 'Secret', 'Namespace', 'ServiceAccount', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview', 'SelfSubjectReview', 'TokenRequest', 'TokenReview']);

class Reader {
  pos = 0;
  readonly buf: Buffer;
  readonly end: number;
  constructor(buf: Buffer) {
    this.buf = buf;
    this.end = buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw badRequest('protobuf: truncated varint');
      const b = this.buf[this.pos++] ?? 0;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw badRequest('protobuf: truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skipField(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw badRequest(`protobuf: unsupported wire type ${wire}`);
  }
}

function rfc3339(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}

function scalar(type: Scalar, r: Reader): unknown {
  switch (type) {
    case 'string': return r.bytes().toString('utf8');
    case 'bytes': return r.bytes().toString('base64');
    case 'rawjson': return JSON.parse(r.bytes().toString('utf8') || 'null') as unknown;
    case 'int': return Number(BigInt.asIntN(64, r.varint()));
    case 'bool': return r.varint() !== 0n;
    case 'time': {
      const t = decodeMessage('Time', r.bytes());
      return t.seconds === undefined ? undefined : rfc3339(BigInt(t.seconds as number));
    }
  }
}

MESSAGES.Time = { 1: { name: 'seconds', type: 'int' }, 2: { name: 'nanos', type: 'int' } };

/** Whether a value is what Go's `omitempty` leaves out, so decoded objects look like decoded JSON. */
function empty(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
}

function decodeMessage(name: string, buf: Buffer): Record<string, unknown> {
  const def = MESSAGES[name];
  if (!def) throw unsupportedMediaType(`the API double cannot decode protobuf ${name}`);
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < r.end) {
    const tag = Number(r.varint());
    const field = def[tag >> 3];
    const wire = tag & 7;
    if (!field) {
      r.skipField(wire);
      continue;
    }
    if (field.map) {
      const entry = new Reader(r.bytes());
      let key = '';
      let val = '';
      while (entry.pos < entry.end) {
        const t = Number(entry.varint());
        if (t >> 3 === 1) key = entry.bytes().toString('utf8');
        else if (t >> 3 === 2) val = field.map === 'bytes' ? entry.bytes().toString('base64') : entry.bytes().toString('utf8');
        else entry.skipField(t & 7);
      }
      const map = (out[field.name] ?? {}) as Record<string, unknown>;
      map[key] = val;
      out[field.name] = map;
      continue;
    }
    const value = typeof field.type === 'string' ? scalar(field.type, r) : decodeMessage(field.type.message, r.bytes());
    if (field.repeated) {
      const list = (out[field.name] as unknown[] | undefined) ?? [];
      list.push(value);
      out[field.name] = list;
    } else if (!empty(value)) out[field.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a protobuf request body into the JSON form of the object. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw badRequest('provided object is not a Kubernetes protobuf message (missing k8s\\0 prefix)');
  const unknown = decodeMessage('Unknown', body.subarray(4));
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? '';
  if (!KINDS.has(kind)) throw unsupportedMediaType(`the API double cannot decode protobuf bodies of kind ${JSON.stringify(kind)}; send application/json`);
  const raw = Buffer.from(String(unknown.raw ?? ''), 'base64');
  return { apiVersion: typeMeta.apiVersion, kind, ...decodeMessage(kind, raw) };
}
