/**
 * List options: the two query parameters that change a GET collection's attributes, `watch`
 * (list or watch) and `fieldSelector` (a `metadata.name=X` term names the object, as RBAC
 * `resourceNames` expects), read as the API server reads them.
 */

/** What the query says about a GET of a collection. */
export interface ListOptions {
  watch: boolean;
  /** The name a `metadata.name` field selector pins, if it is a valid path segment name. */
  fieldName: string | undefined;
}

/** A query with neither parameter: most lists. A shared constant, never mutated. */
const PLAIN_LIST: Readonly<ListOptions> = { watch: false, fieldName: undefined };

const KEY_OTHER = 0;
const KEY_WATCH = 1;
const KEY_FIELD_SELECTOR = 2;

/**
 * Read `watch` and `fieldSelector` from the raw query `url.slice(from)` as the API server does:
 * keys and values are percent-decoded and the first value of a repeated key wins. Pairs that Go's
 * url.ParseQuery would drop (a `;` in them, a key with bad percent-encoding, or a bad value of one
 * of these two keys) are refused instead of dropped: dropping one side's view of a parameter is how
 * a list authorized here could become a watch upstream. Values of other keys are not decoded:
 * whether Go keeps or drops them changes nothing here. Returns the options, or the reason for a
 * `selector-invalid` refusal.
 *
 * The query is walked in place (indexOf, no split into pairs): this runs on most requests.
 */
export function readListOptions(url: string, from: number): Readonly<ListOptions> | string {
  const length = url.length;
  let watch: boolean | undefined;
  let fieldSelector: string | undefined;
  // Pairs are read in order, so the first pair holding a ";" is the one holding the first ";".
  const semicolon = url.indexOf(';', from);
  // The next "%" at or after the pair being read: only an encoded key can spell a key of another length.
  let percent = url.indexOf('%', from);
  for (let start = from; start < length; ) {
    let amp = url.indexOf('&', start);
    if (amp === -1) amp = length;
    if (amp > start) {
      if (semicolon !== -1 && semicolon < amp) return 'the query contains a ";": separate parameters with "&"';
      let eq = url.indexOf('=', start);
      if (eq >= amp) eq = -1;
      const keyEnd = eq === -1 ? amp : eq;
      if (percent !== -1 && percent < start) percent = url.indexOf('%', start);
      try {
        const key = percent !== -1 && percent < keyEnd ? keyOf(queryUnescape(url.slice(start, keyEnd))) : keyAt(url, start, keyEnd);
        if (key === KEY_WATCH && watch === undefined) watch = queryBool(eq === -1 ? '' : queryUnescape(url.slice(eq + 1, amp)));
        else if (key === KEY_FIELD_SELECTOR && fieldSelector === undefined) fieldSelector = eq === -1 ? '' : queryUnescape(url.slice(eq + 1, amp));
      } catch {
        return `the query parameter "${url.slice(start, amp)}" is not valid percent-encoding`;
      }
    }
    start = amp + 1;
  }
  if (watch === undefined && fieldSelector === undefined) return PLAIN_LIST;
  let fieldName: string | undefined;
  if (fieldSelector !== undefined) {
    try {
      const name = exactFieldMatch(fieldSelector, 'metadata.name');
      fieldName = name !== undefined && isValidPathSegmentName(name) ? name : undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
  return { watch: watch ?? false, fieldName };
}

/**
 * Which of the two keys `url.slice(start, end)` is, when it holds no "%" (then decoding could only
 * turn "+" into a space, which neither key holds).
 */
function keyAt(url: string, start: number, end: number): number {
  const n = end - start;
  if (n === 5 && url.startsWith('watch', start)) return KEY_WATCH;
  if (n === 13 && url.startsWith('fieldSelector', start)) return KEY_FIELD_SELECTOR;
  return KEY_OTHER;
}

/** Which of the two keys a decoded key is. */
function keyOf(key: string): number {
  return key === 'watch' ? KEY_WATCH : key === 'fieldSelector' ? KEY_FIELD_SELECTOR : KEY_OTHER;
}

/** Go's url.QueryUnescape: `+` is a space, then percent-decoding; throws on bad percent-encoding. */
function queryUnescape(text: string): string {
  return percentDecode(text.includes('+') ? text.replaceAll('+', ' ') : text);
}

/**
 * decodeURIComponent, with a fast path for what queries hold (`%3D`, `%2C`: escapes of ASCII
 * bytes): decodeURIComponent costs about three times as much. Any other escape, well formed or
 * not, is left to decodeURIComponent, so the result and the errors are its own.
 */
function percentDecode(text: string): string {
  let p = text.indexOf('%');
  if (p === -1) return text;
  let out = '';
  let last = 0;
  do {
    const high = hexValue(text.charCodeAt(p + 1));
    const low = hexValue(text.charCodeAt(p + 2));
    if (high === -1 || low === -1 || high > 7) return decodeURIComponent(text);
    out += text.slice(last, p) + String.fromCharCode(high * 16 + low);
    last = p + 3;
    p = text.indexOf('%', last);
  } while (p !== -1);
  return out + text.slice(last);
}

/** The value of a hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * The API server's query-parameter conversion for booleans (runtime Convert_Slice_string_To_bool):
 * only "0" and "false" (any case) are false; any other value, the empty string included, is true.
 */
function queryBool(value: string): boolean {
  return !(value === '0' || (value.length === 5 && value.toLowerCase() === 'false'));
}

/** A name that path.IsValidPathSegmentName accepts: not `.` or `..`, no `/` or `%`. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The value that a field selector requires for `field` with `=` or `==`, as
 * fields.Selector.RequiresExactMatch does; undefined when it requires none. Throws on a selector
 * that does not parse (the API server would answer 400 to the list itself).
 */
export function exactFieldMatch(selector: string, field: string): string | undefined {
  // Most selectors are one term: no split, no sort.
  if (!selector.includes(',')) return termMatch(selector, selector, field);
  let found: string | undefined;
  // fields.ParseSelector sorts the terms before it builds the selector, so with two exact terms
  // for one field the API server names the first in sorted order, not in the order written.
  for (const term of splitUnescaped(selector, ',').sort()) {
    const value = termMatch(term, selector, field);
    // The first (sorted) term that pins the field wins, as andTerm.RequiresExactMatch does.
    if (found === undefined) found = value;
  }
  return found;
}

/** The value one term of `selector` requires for `field` with `=` or `==`; throws on a bad term. */
function termMatch(term: string, selector: string, field: string): string | undefined {
  if (term === '') return undefined;
  const op = operatorIndex(term);
  if (op === -1) throw new Error(`invalid field selector "${selector}": can't understand "${term}"`);
  // The operator is "!=", "==" or "=" (char codes 33 "!" and 61 "="); every value is checked.
  const negated = term.charCodeAt(op) === 33;
  const value = unescapeFieldValue(term.slice(op + (negated || term.charCodeAt(op + 1) === 61 ? 2 : 1)));
  return !negated && op === field.length && term.startsWith(field) ? value : undefined;
}

/** Split on `sep` where it is not escaped by a backslash (fields.ParseSelector's rule). */
function splitUnescaped(text: string, sep: string): string[] {
  // Escapes are rare: without a backslash this is a plain split.
  if (!text.includes('\\')) return text.split(sep);
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + (text[i + 1] as string);
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * Where the term's operator starts, or -1: the first position holding `!=`, `==` or `=`
 * (fields.splitTerm tries them in that order at each position, so `!` counts only before `=`).
 */
function operatorIndex(term: string): number {
  const eq = term.indexOf('=');
  if (eq === -1) return -1;
  return eq > 0 && term.charCodeAt(eq - 1) === 33 /* ! */ ? eq - 1 : eq;
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are escapes; any other backslash, or a bare `,` or `=`, is an error. */
function unescapeFieldValue(value: string): string {
  if (!value.includes('\\') && !value.includes('=') && !value.includes(',')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\') {
      const next = value[i + 1];
      if (next !== '\\' && next !== ',' && next !== '=') throw new Error(`invalid escape sequence in field selector value "${value}"`);
      out += next;
      i++;
    } else if (ch === '=' || ch === ',') {
      throw new Error(`invalid field selector value "${value}": unescaped "${ch}"`);
    } else {
      out += ch;
    }
  }
  return out;
}
