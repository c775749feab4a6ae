/**
 * The double's wire layer: reading bodies within the apiserver's size limit, decoding JSON and
 * YAML, negotiating the response form (object, Table, PartialObjectMetadata) and writing Status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { badRequest, statusError, StatusError, unsupportedMediaType } from './status.ts';
import { negotiateMediaType } from './negotiation.ts';
import { decodeProtobufObject } from './handlers-protobuf.ts';

/** The apiserver's limit on request bodies (3 MiB, `MaxRequestBodyBytes`). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads the whole body; more than {@link MAX_BODY_BYTES} is 413 as the real server answers. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const tooLarge = (): StatusError => statusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY_BYTES}`);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Body media types for create and update. */
const OBJECT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];

/** The media type of a request, without parameters, lower-cased. */
export function mediaTypeOf(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Decodes a create/update body: JSON, YAML, or protobuf for the kinds handlers-protobuf.ts knows
 * (others are 415 from there).
 */
export function decodeObjectBody(contentType: string | undefined, body: Buffer): unknown {
  const type = mediaTypeOf(contentType);
  if (type === 'application/json') return decodeJson(body);
  if (type === 'application/yaml') return decodeYaml(body);
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(body);
  throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${OBJECT_TYPES.join(', ')}`);
}

/** Parses JSON, with the decode error the real server reports for malformed input. */
export function decodeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`error decoding JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Parses YAML (also used for apply patches, whose YAML is often JSON). */
export function decodeYaml(body: Buffer): unknown {
  try {
    return parseYaml(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`error converting YAML to JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What the client asked for in Accept. */
export type ResponseForm = { as: 'object' } | { as: 'Table'; version: string } | { as: 'PartialObjectMetadata'; version: string };

const SERVED = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'] as const;

/**
 * Negotiates the response form from Accept with the apiserver's rules (negotiation.ts). The
 * double writes JSON whatever media type wins, as the real server does for types that have no
 * protobuf form; an Accept with nothing servable is 406.
 */
export function negotiate(accept: string | undefined): ResponseForm {
  const result = negotiateMediaType(accept, SERVED, (c) => {
    if (!c) return true;
    if (c.group !== 'meta.k8s.io') return false;
    if (c.kind === 'Table') return c.version === 'v1' || c.version === 'v1beta1';
    return (c.kind === 'PartialObjectMetadata' || c.kind === 'PartialObjectMetadataList') && (c.version === 'v1' || c.version === 'v1beta1');
  });
  if (!result) throw statusError(406, 'NotAcceptable', `only the following media types are accepted: ${SERVED.join(', ')}`);
  if (!result.convert) return { as: 'object' };
  return result.convert.kind === 'Table' ? { as: 'Table', version: result.convert.version } : { as: 'PartialObjectMetadata', version: result.convert.version };
}

/** Writes a JSON body with the status code. */
export function writeJson(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, private',
  };
  if (warnings.length > 0) headers.Warning = warnings.map(warningHeader);
  res.writeHead(code, headers);
  res.end(text);
}

/** One `Warning: 299 - "text"` header value, quoted as the apiserver quotes it. */
export function warningHeader(text: string): string {
  return `299 - ${JSON.stringify(text)}`;
}

/** Writes a StatusError (or any error as a 500 InternalError) as the real server does. */
export function writeError(res: ServerResponse, error: unknown): void {
  const status = error instanceof StatusError ? error.status : statusError(500, 'InternalError', `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`).status;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  writeJson(res, status.code, status);
}
