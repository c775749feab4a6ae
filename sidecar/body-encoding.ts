// Request bodies sent compressed (Content-Encoding: gzip or deflate) are decoded before any check,
// since the masked-value and guardrail checks read plain bytes; the decoded body is what goes
// upstream (without the header). Other encodings are refused with a 415, never passed on unread.
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Status } from '../src/kube/status.ts';
import { refusal } from './refusals.ts';

/**
 * The body as the API server must read it: `body` unchanged without a Content-Encoding (or
 * `identity`), decoded for `gzip`, `x-gzip` and `deflate`, a Status otherwise. The decoded size is
 * bounded by `limit`, the same bound as a plain body, so a small compressed body cannot inflate
 * past it (a zip bomb).
 */
export function decodeRequestBody(body: Buffer, contentEncoding: string | undefined, limit: number): Buffer | Status {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  const decode = encoding === 'gzip' || encoding === 'x-gzip' ? gunzipSync : encoding === 'deflate' ? inflateSync : undefined;
  // Stacked encodings ("gzip, gzip") are legal HTTP but no Kubernetes client sends them.
  if (decode === undefined) return refusal('body-encoding-unsupported', `got ${JSON.stringify(encoding.slice(0, 64))}`);
  try {
    return decode(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return refusal('body-too-large', `at most ${limit} bytes are accepted, after decoding`);
    return refusal('body-encoding-invalid', encoding);
  }
}
