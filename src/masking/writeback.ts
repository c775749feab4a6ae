/**
 * Masked values never flow back: a write whose body carries the marker (`kubectl edit` of a masked
 * Secret, `get -o yaml | apply`, a three-way merge built on a masked last-applied annotation) is refused.
 */
import { parse as parseYaml } from 'yaml';
import { containsMarker, MASK_MARKER } from './marker.ts';

/** The refusal; the proxy maps it to a 422-style `Status` with reason `MaskedValueWriteBack`. */
export interface WriteBackRefusal {
  code: 'masked-value-write-back';
  message: string;
}

/** Where the marker sits in a parsed body ("data.password", "[0].value"), for a message that helps. */
function locate(value: unknown, path: string, depth: number): string | undefined {
  if (depth > 64) return undefined;
  if (typeof value === 'string') return containsMarker(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = locate(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, v] of Object.entries(value)) {
    const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
    const here = path === '' ? name : /^[A-Za-z_$]/.test(name) ? `${path}.${name}` : `${path}[${name}]`;
    if (containsMarker(key)) return here;
    const found = locate(v, here, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The body parsed for {@link locate}: JSON for every JSON type, YAML for YAML ones; undefined for anything else. */
function parseBody(text: string, contentType: string): unknown {
  try {
    if (/json/i.test(contentType)) return JSON.parse(text);
    if (/yaml/i.test(contentType)) return parseYaml(text);
  } catch {
    // The scan already found the marker; a body the API server cannot read either only loses the location.
  }
  return undefined;
}

/**
 * Checks a write's body for the marker, raw (so protobuf and CBOR bodies, whose strings and
 * Secret bytes are unencoded, are covered), base64 at any alignment and under JSON/YAML escapes.
 * `contentType` only chooses how the marker is located for the message. Returns the refusal, or
 * undefined when the body carries no masked value.
 */
export function checkWriteBack(body: Buffer, contentType: string | undefined): WriteBackRefusal | undefined {
  if (body.length === 0 || !containsMarker(body)) return undefined;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const located = locate(parseBody(body.toString('utf8'), type), '', 0);
  const where = located === undefined || located === '' ? '' : ` (at ${located})`;
  const apply = type === 'application/apply-patch+yaml' || type === 'application/strategic-merge-patch+json';
  return {
    code: 'masked-value-write-back',
    message:
      `agentgate refused this write: its body carries "${MASK_MARKER}"${where}, the value agentgate shows in place of a secret. ` +
      'Writing it back would replace the real value with the mask, so nothing was changed. ' +
      'Send only the fields you mean to change, with their real values ' +
      `(for a Secret: kubectl patch secret NAME --type=merge -p '{"stringData":{"KEY":"VALUE"}}'); ` +
      'kubectl edit, or get -o yaml | kubectl apply, of a masked object cannot work' +
      (apply ? '; for kubectl apply of your own file, kubectl apply --server-side avoids the masked last-applied annotation.' : '.'),
  };
}
