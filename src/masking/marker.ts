/**
 * The one fixed marker that replaces every masked value, and the check that finds it again in a
 * request body in any form a client may send it back in (plain, base64, JSON or YAML escaped).
 */

/**
 * What a masked value reads as. Lower-case letters and dashes only, so that no JSON, YAML, shell
 * or URL encoder escapes or quotes it (Go's encoding/json escapes `<`, `>` and `&`, YAML gives `:`
 * and `*` meanings), and 21 bytes long: a multiple of 3, so its base64 has no `=` padding and
 * stays a clean prefix when a client appends to the decoded value and re-encodes it.
 */
export const MASK_MARKER = 'agentgate-masked-data';

/**
 * The marker as it stands in a Secret's `data`, where values are base64:
 * `echo YWdlbnRnYXRlLW1hc2tlZC1kYXRh | base64 -d` prints the marker.
 */
export const MASK_MARKER_BASE64 = Buffer.from(MASK_MARKER).toString('base64');

/**
 * The base64 text that encodes the marker at each of the three byte alignments, without the
 * characters shared with whatever precedes or follows it: the marker inside any base64 blob
 * (a re-encoded config file, a YAML `!!binary`) contains one of these.
 */
const BASE64_CORES: readonly string[] = [0, 1, 2].map((k) => {
  const encoded = Buffer.concat([Buffer.alloc(k), Buffer.from(MASK_MARKER)]).toString('base64');
  return encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + MASK_MARKER.length)) / 6));
});

/** Every literal that means "the marker is here"; base64url equals base64 for this marker. */
const NEEDLES: readonly string[] = [MASK_MARKER, ...BASE64_CORES];

/** How many layers of escaping are undone: JSON in a JSON string in a YAML string is three. */
const MAX_ESCAPE_LAYERS = 4;

const ESCAPE = /\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|\r?\n[ \t]*|[\s\S])/g;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '0': '\0', e: '\x1b', N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029' };

/** Undoes one layer of JSON (`\uXXXX`, `\/`) and YAML double-quoted (`\xXX`, `\UXXXXXXXX`, escaped line breaks) escapes. */
function unescapeOnce(text: string): string {
  return text.replace(ESCAPE, (_, seq: string) => {
    const head = seq[0] ?? '';
    if (seq.length > 1 && (head === 'u' || head === 'U' || head === 'x')) {
      const code = Number.parseInt(seq.slice(1), 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    if (head === '\r' || head === '\n') return '';
    return SIMPLE_ESCAPES[head] ?? head;
  });
}

function hasNeedle(text: string): boolean {
  for (const needle of NEEDLES) if (text.includes(needle)) return true;
  return false;
}

/** Whitespace inside base64 (line-wrapped `!!binary`, PEM-style wrapping) hides the cores from `includes`. */
function hasNeedleIgnoringSpace(text: string): boolean {
  return /\s/.test(text) && hasNeedle(text.replace(/\s+/g, ''));
}

/** The text check: plain, base64 at any alignment, line-wrapped, and under up to four layers of escapes. */
function textContainsMarker(text: string): boolean {
  if (hasNeedle(text) || hasNeedleIgnoringSpace(text)) return true;
  let current = text;
  for (let layer = 0; layer < MAX_ESCAPE_LAYERS && current.includes('\\'); layer++) {
    current = unescapeOnce(current);
    if (hasNeedle(current) || hasNeedleIgnoringSpace(current)) return true;
  }
  return false;
}

/**
 * True when `value` carries the marker: a string or raw bytes (read byte for byte, so protobuf and
 * CBOR bodies, whose strings and Secret bytes are stored unencoded, are covered too), or any JSON
 * value (checked through its serialization, so keys, nested JSON strings and escapes all count).
 */
export function containsMarker(value: unknown): boolean {
  if (typeof value === 'string') return textContainsMarker(value);
  if (value instanceof Uint8Array) return textContainsMarker(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'));
  if (value === undefined) return false;
  const text = JSON.stringify(value);
  return text !== undefined && textContainsMarker(text);
}
