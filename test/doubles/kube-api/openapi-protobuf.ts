/**
 * The OpenAPI v2 document as gnostic's `openapi.v2.Document` protobuf, which kubectl fetches
 * (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) for validation, explain and apply.
 * A hand-written encoder from the field numbers of gnostic's published OpenAPIv2.proto, and a
 * field reader to check it. Vendor extensions, enums and defaults are `Any` values holding YAML,
 * as gnostic stores them. Test code only.
 */
import { stringify } from 'yaml';

type Json = Record<string, unknown>;

/** Builds one protobuf message; fields are written in the order added. */
class Message {
  readonly #chunks: Buffer[] = [];

  #varint(value: number | bigint): void {
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n;
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.#chunks.push(Buffer.from(bytes));
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  string(field: number, value: unknown): this {
    if (typeof value !== 'string' || value === '') return this;
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  strings(field: number, values: unknown): this {
    for (const v of Array.isArray(values) ? values : []) if (typeof v === 'string') this.bytes(field, Buffer.from(v, 'utf8'));
    return this;
  }

  bool(field: number, value: unknown): this {
    if (value !== true) return this;
    this.#tag(field, 0);
    this.#varint(1);
    return this;
  }

  bytes(field: number, value: Buffer): this {
    this.#tag(field, 2);
    this.#varint(value.length);
    this.#chunks.push(value);
    return this;
  }

  message(field: number, value: Message | undefined): this {
    return value ? this.bytes(field, value.finish()) : this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const entries = (v: unknown): Array<[string, unknown]> => (isObject(v) ? Object.entries(v) : []);

/** `Any{yaml}`: gnostic keeps arbitrary values as their YAML text. */
function any(value: unknown): Message {
  return new Message().string(2, stringify(value));
}

function vendorExtensions(m: Message, field: number, obj: Json): void {
  for (const [k, v] of Object.entries(obj).filter(([k]) => k.startsWith('x-')).sort(([a], [b]) => (a < b ? -1 : 1))) {
    m.message(field, new Message().string(1, k).message(2, any(v)));
  }
}

function schema(s: Json): Message {
  const m = new Message().string(1, s.$ref).string(2, s.format).string(3, s.title).string(4, s.description);
  if ('default' in s) m.message(5, any(s.default));
  m.strings(19, s.required);
  for (const e of Array.isArray(s.enum) ? s.enum : []) m.message(20, any(e));
  if (isObject(s.additionalProperties)) m.message(21, new Message().message(1, schema(s.additionalProperties)));
  else if (typeof s.additionalProperties === 'boolean') m.message(21, new Message().bool(2, s.additionalProperties));
  if (typeof s.type === 'string') m.message(22, new Message().strings(1, [s.type]));
  if (isObject(s.items)) m.message(23, new Message().message(1, schema(s.items)));
  for (const a of Array.isArray(s.allOf) ? s.allOf : []) if (isObject(a)) m.message(24, schema(a));
  if (isObject(s.properties)) {
    const props = new Message();
    for (const [name, p] of entries(s.properties)) if (isObject(p)) props.message(1, new Message().string(1, name).message(2, schema(p)));
    m.message(25, props);
  }
  vendorExtensions(m, 31, s);
  return m;
}

function parameter(p: Json): Message {
  if (p.in === 'body') {
    const body = new Message().string(1, p.description).string(2, p.name).string(3, p.in).bool(4, p.required).message(5, isObject(p.schema) ? schema(p.schema) : undefined);
    return new Message().message(1, new Message().message(1, body));
  }
  // Query and path sub-schemas number their fields differently after `name`.
  const sub =
    p.in === 'path'
      ? new Message().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name).string(5, p.type).bool(19, p.uniqueItems)
      : new Message().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name).string(6, p.type).bool(20, p.uniqueItems);
  return new Message().message(1, new Message().message(2, new Message().message(p.in === 'path' ? 4 : 3, sub)));
}

function operation(op: Json): Message {
  const m = new Message().strings(1, op.tags).string(3, op.description).string(5, op.operationId).strings(6, op.produces).strings(7, op.consumes);
  for (const p of Array.isArray(op.parameters) ? op.parameters : []) if (isObject(p)) m.message(8, parameter(p));
  const responses = new Message();
  for (const [code, r] of entries(op.responses)) {
    if (!isObject(r)) continue;
    const response = new Message().string(1, r.description).message(2, isObject(r.schema) ? new Message().message(1, schema(r.schema)) : undefined);
    responses.message(1, new Message().string(1, code).message(2, new Message().message(1, response)));
  }
  m.message(9, responses).strings(10, op.schemes);
  vendorExtensions(m, 13, op);
  return m;
}

const METHOD_FIELDS: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

/** Encodes a Swagger 2.0 JSON document as gnostic's `openapi.v2.Document`. */
export function encodeOpenAPIv2(doc: Json): Buffer {
  const info = isObject(doc.info) ? doc.info : {};
  const m = new Message().string(1, doc.swagger).message(2, new Message().string(1, info.title).string(2, info.version));
  const paths = new Message();
  for (const [path, item] of entries(doc.paths)) {
    if (!isObject(item)) continue;
    const pi = new Message();
    for (const [method, field] of Object.entries(METHOD_FIELDS)) if (isObject(item[method])) pi.message(field, operation(item[method]));
    for (const p of Array.isArray(item.parameters) ? item.parameters : []) if (isObject(p)) pi.message(9, parameter(p));
    paths.message(2, new Message().string(1, path).message(2, pi));
  }
  m.message(8, paths);
  const defs = new Message();
  for (const [name, s] of entries(doc.definitions)) if (isObject(s)) defs.message(1, new Message().string(1, name).message(2, schema(s)));
  m.message(9, defs);
  for (const req of Array.isArray(doc.security) ? doc.security : []) {
    const sr = new Message();
    for (const [name, scopes] of entries(req)) sr.message(1, new Message().string(1, name).message(2, new Message().strings(1, scopes)));
    m.message(12, sr);
  }
  const secDefs = new Message();
  for (const [name, d] of entries(doc.securityDefinitions)) {
    if (!isObject(d)) continue;
    const apiKey = new Message().string(1, d.type).string(2, d.name).string(3, d.in).string(4, d.description);
    secDefs.message(1, new Message().string(1, name).message(2, new Message().message(2, apiKey)));
  }
  return m.message(13, secDefs).finish();
}

/** One decoded field: varints as bigint, length-delimited as bytes. */
export interface ProtoField {
  field: number;
  wire: number;
  value: bigint | Buffer;
}

/** Reads the top-level fields of a protobuf message (for checking the encoder). */
export function readFields(buf: Buffer): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error('truncated field');
      out.push({ field, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) {
      out.push({ field, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}
