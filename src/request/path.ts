/**
 * Request paths: check the path of a request target against every form the API server would
 * clean, redirect or reinterpret, and index its segments in place for the attribute parser, which
 * reads them through the functions below (segmentIs, segment, the name checks).
 */

import type { RequestPathError } from './attributes.ts';

/** Longer paths are refused: a Kubernetes resource path is at most a few hundred bytes. */
export const MAX_PATH_LENGTH = 2048;

/** C0 controls and DEL: never part of a name the API server would route. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;

/** Decoded characters the attribute contract's `path` cannot carry and no Kubernetes name needs. */
const DECODED_RESERVED = /[?#\s]/;

function refuse(code: RequestPathError['code'], message: string): RequestPathError {
  return { code, message };
}

/*
 * Parsing runs once per request on the sidecar's hot path, so the path is not split into an array
 * of strings: one char-code pass over the target checks the path and records where its segments
 * start and end and which kinds of characters each holds; routing compares segments in place
 * (startsWith at an offset), the name checks read those kinds, and only the segments that become
 * attributes are sliced out. A path with a `%` (or a segment to refuse) takes the slow road:
 * decodePath decodes and checks it segment by segment into a path that splits into the same
 * decoded segments, and that one is indexed instead.
 */

/** Character kinds, as bits: what a segment holds besides [a-z0-9-] (kind 0, DNS-label characters). */
const OTHER = 1; // printable ASCII no DNS label holds: upper case, ":", ";", "\\", ...
const DOT = 2;
const PERCENT = 4;
/** C0 controls, space, "#", DEL and every char code above 0x7e: refused raw (see indexPath). */
const UNUSUAL = 8;
const SLASH = 16;
/** Not a character kind: set on the whole path when a segment is empty, "." or "..". */
const BAD_SEGMENT = 32;

const CHAR_KINDS = new Uint8Array(128).map((_, c) => {
  if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45) return 0;
  if (c === 47) return SLASH;
  if (c === 46) return DOT;
  if (c === 37) return PERCENT;
  if (c <= 32 || c === 35 || c === 127) return UNUSUAL;
  return OTHER;
});

/**
 * Where the first segments of the path being parsed start and end, and the kinds of characters
 * each holds (parsing is synchronous, so one scratch table serves every call). The deepest form
 * routing reads, /apis/{group}/{version}/watch/namespaces/{namespace}/{resource}/{name}/{subresource},
 * ends at segment 8; later segments are checked and counted, never read.
 */
const ROUTED_SEGMENTS = 9;
const segmentStart = new Int32Array(ROUTED_SEGMENTS);
const segmentEnd = new Int32Array(ROUTED_SEGMENTS);
const segmentKinds = new Uint8Array(ROUTED_SEGMENTS);
/** The number of segments indexSegments found. */
let count = 0;

/**
 * Index the segments of `source.slice(0, length)`, a path starting with "/" (one trailing slash
 * allowed, and not a segment). Returns the kinds of all its characters, with BAD_SEGMENT if a
 * segment is empty, "." or "..".
 */
function indexSegments(source: string, length: number): number {
  const end = length > 1 && source.charCodeAt(length - 1) === 47 ? length - 1 : length;
  count = 0;
  if (end === 1) return length === 1 ? 0 : BAD_SEGMENT;
  let pathKinds = 0;
  let kinds = 0;
  let start = 1;
  for (let i = 1; i < end; i++) {
    const c = source.charCodeAt(i);
    if (c >= 97 && c <= 122) continue; // a-z, most of any path: skip the table
    const kind = c < 128 ? (CHAR_KINDS[c] as number) : UNUSUAL;
    if (kind === 0) continue;
    if (kind === SLASH) {
      pathKinds |= endSegment(source, start, i, kinds);
      kinds = 0;
      start = i + 1;
    } else {
      kinds |= kind;
    }
  }
  return pathKinds | endSegment(source, start, end, kinds);
}

function endSegment(source: string, start: number, end: number, kinds: number): number {
  const k = count++;
  if (k < ROUTED_SEGMENTS) {
    segmentStart[k] = start;
    segmentEnd[k] = end;
    segmentKinds[k] = kinds;
  }
  const n = end - start;
  if (n === 0 || (kinds === DOT && n <= 2 && source.charCodeAt(start) === 46 && source.charCodeAt(end - 1) === 46)) return kinds | BAD_SEGMENT;
  return kinds;
}

/**
 * The path the request names, refusing every form the API server would reinterpret, with its
 * segments indexed: `url` itself when its path needs no decoding (the common case), else the
 * decoded path. Whole-path refusals (length, control and reserved characters) take precedence over
 * the refusal of a segment, and segments are judged left to right.
 */
export function indexPath(url: string, pathEnd: number): string | RequestPathError {
  if (pathEnd > MAX_PATH_LENGTH) return refuse('path-too-long', `the request path is longer than ${MAX_PATH_LENGTH} bytes`);
  if (url.charCodeAt(0) !== 47 /* / */) return refuse('path-not-absolute', 'the request path must start with "/"');
  const kinds = indexSegments(url, pathEnd);
  if ((kinds & (UNUSUAL | PERCENT | BAD_SEGMENT)) === 0) return url;
  const rawPath = url.slice(0, pathEnd);
  if ((kinds & UNUSUAL) !== 0) {
    if (CONTROL.test(rawPath)) return refuse('path-control-character', 'the request path contains a control character');
    // Raw bytes a request target never holds unencoded (RFC 3986): `#` (a fragment, which the API
    // server would keep in the name), spaces, and bytes above 0x7e, which Node hands over as latin1
    // while the API server reads them as UTF-8, so the two would see different names.
    return refuse('path-reserved-character', 'the request path contains "#", a space or a non-ASCII byte: percent-encode it');
  }
  const decoded = decodePath(rawPath);
  if (typeof decoded === 'string') indexSegments(decoded, decoded.length);
  return decoded;
}

function emptySegment(rawPath: string): RequestPathError {
  return refuse('path-empty-segment', `the request path "${rawPath}" has an empty segment`);
}

/**
 * The decoded form of a raw path (already checked by indexPath for everything but its segments):
 * each segment decoded and checked, joined again with the trailing slash kept. Decoded segments
 * are never empty and never hold a "/", so the result splits into exactly them.
 */
function decodePath(rawPath: string): string | RequestPathError {
  const segments: string[] = [];
  const trailing = rawPath.length > 1 && rawPath.charCodeAt(rawPath.length - 1) === 47;
  const end = trailing ? rawPath.length - 1 : rawPath.length;
  if (end === 1) return emptySegment(rawPath);
  let start = 1;
  while (start < end) {
    let slash = rawPath.indexOf('/', start);
    if (slash === -1 || slash > end) slash = end;
    if (slash === start) return emptySegment(rawPath);
    let segment = rawPath.slice(start, slash);
    if (segment.includes('%')) {
      const decoded = decodeSegment(segment);
      if (typeof decoded !== 'string') return decoded;
      segment = decoded;
    }
    if (segment === '.' || segment === '..') return refuse('path-dot-segment', `the request path "${rawPath}" has a "${segment}" segment`);
    segments.push(segment);
    start = slash + 1;
  }
  if (rawPath.charCodeAt(end - 1) === 47) return emptySegment(rawPath);
  return `/${segments.join('/')}${trailing ? '/' : ''}`;
}

function decodeSegment(raw: string): string | RequestPathError {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return refuse('path-bad-encoding', `the request path segment "${raw}" is not valid percent-encoding`);
  }
  if (decoded.includes('/') || decoded.includes('\\')) {
    return refuse('path-encoded-separator', `the request path segment "${raw}" encodes a path separator`);
  }
  if (CONTROL.test(decoded)) return refuse('path-control-character', 'the request path contains a control character');
  // A decoded "?" or "#" would end the path for any reader that re-parses it (the broker contract does).
  if (DECODED_RESERVED.test(decoded)) return refuse('path-reserved-character', `the request path segment "${raw}" encodes "?", "#" or a space, which no Kubernetes name holds`);
  return decoded;
}

/** Whether segment `k` of `path` is `word`, compared in place. */
export function segmentIs(path: string, k: number, word: string): boolean {
  const start = segmentStart[k] as number;
  return (segmentEnd[k] as number) - start === word.length && path.startsWith(word, start);
}

/** The number of segments of the path indexPath indexed last. */
export function segmentCount(): number {
  return count;
}

/** Segment `k` of `path`, or '' for k = -1 (none). */
export function segment(path: string, k: number): string {
  return k === -1 ? '' : path.slice(segmentStart[k], segmentEnd[k]);
}

/*
 * The bounds below are the ones the broker contract checks (groups are DNS subdomains, versions
 * `v1`/`v1beta1`, resources and namespaces DNS labels, names at most 253 bytes), read from the
 * character kinds indexSegments recorded: hot path.
 */

/** Whether segment `k` is a DNS-1123 label (what resources, subresources and namespaces are). */
export function isDnsLabel(source: string, k: number): boolean {
  const start = segmentStart[k] as number;
  const end = segmentEnd[k] as number;
  return segmentKinds[k] === 0 && end - start <= 63 && source.charCodeAt(start) !== 45 /* - */ && source.charCodeAt(end - 1) !== 45;
}

/** Whether segment `k` is a DNS-1123 subdomain: dot-separated labels (API groups). */
export function isDnsSubdomain(source: string, k: number): boolean {
  let start = segmentStart[k] as number;
  const end = segmentEnd[k] as number;
  if (((segmentKinds[k] as number) & ~DOT) !== 0 || end - start > 253) return false;
  for (;;) {
    let dot = source.indexOf('.', start);
    if (dot === -1 || dot > end) dot = end;
    // Labels hold [a-z0-9-] only (the kinds say so): check their length and their ends.
    if (dot === start || dot - start > 63 || source.charCodeAt(start) === 45 || source.charCodeAt(dot - 1) === 45) return false;
    if (dot === end) return true;
    start = dot + 1;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Whether segment `k` is an API version: /^v[0-9]+((alpha|beta)[0-9]+)?$/. */
export function isVersion(source: string, k: number): boolean {
  const start = segmentStart[k] as number;
  const end = segmentEnd[k] as number;
  if (end - start < 2 || source.charCodeAt(start) !== 118 /* v */ || !isDigit(source.charCodeAt(start + 1))) return false;
  let i = start + 2;
  while (i < end && isDigit(source.charCodeAt(i))) i++;
  if (i === end) return true;
  if (source.startsWith('alpha', i)) i += 5;
  else if (source.startsWith('beta', i)) i += 4;
  else return false;
  if (i >= end || !isDigit(source.charCodeAt(i))) return false;
  while (i < end && isDigit(source.charCodeAt(i))) i++;
  return i === end;
}
