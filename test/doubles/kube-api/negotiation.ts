/**
 * Accept-header parsing and media-type negotiation as kube-apiserver does it: goautoneg's
 * `ParseAccept` ordering and apiserver's `NegotiateMediaTypeOptions` matching. Test code only.
 */

/** One clause of an Accept header, as goautoneg parses it. */
export interface AcceptClause {
  type: string;
  subType: string;
  /** Quality; 1 when absent, 0 when unparsable (goautoneg ignores the parse error). */
  q: number;
  /** Parameters other than `q`, case-sensitive names, values trimmed of spaces. */
  params: Record<string, string>;
}

// Go's strconv.ParseFloat accepts no surrounding spaces, so "q= 0.5" is an error and leaves 0.
const GO_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function less(a: AcceptClause, b: AcceptClause): boolean {
  if (a.q > b.q) return true;
  if (a.type !== '*' && b.type === '*') return true;
  if (a.subType !== '*' && b.subType === '*') return true;
  return false;
}

/**
 * Parses an Accept header into clauses sorted as goautoneg sorts them. Go's `sort.Sort` runs an
 * insertion sort for fewer than 13 elements, so ties keep header order; we do the same sort, which
 * matters because goautoneg's `Less` is not a strict weak order (a `*` type outranks nothing).
 */
export function parseAccept(header: string): AcceptClause[] {
  const clauses: AcceptClause[] = [];
  for (const rawPart of header.split(',')) {
    const part = rawPart.replace(/^ +| +$/g, '');
    const [range = '', ...rawParams] = part.split(';');
    const pieces = range.split('/');
    const type = (pieces[0] ?? '').replace(/^ +| +$/g, '');
    let subType: string;
    if (pieces.length === 1 && type === '*') subType = '*';
    else if (pieces.length === 2) subType = (pieces[1] ?? '').replace(/^ +| +$/g, '');
    else continue;
    const clause: AcceptClause = { type, subType, q: 1, params: {} };
    for (const param of rawParams) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const token = param.slice(0, eq).replace(/^ +| +$/g, '');
      const value = param.slice(eq + 1);
      if (token === 'q') clause.q = GO_FLOAT.test(value) ? Math.fround(Number(value)) : 0;
      else clause.params[token] = value.replace(/^ +| +$/g, '');
    }
    clauses.push(clause);
  }
  for (let i = 1; i < clauses.length; i++) {
    for (let j = i; j > 0 && less(clauses[j] as AcceptClause, clauses[j - 1] as AcceptClause); j--) {
      [clauses[j - 1], clauses[j]] = [clauses[j] as AcceptClause, clauses[j - 1] as AcceptClause];
    }
  }
  return clauses;
}

/** The group/version/kind a client asked the server to convert to (`as`, `g`, `v` parameters). */
export interface ConvertTarget {
  group: string;
  version: string;
  kind: string;
}

/** The result of negotiation: the served media type and the conversion the client asked for. */
export interface NegotiatedMediaType {
  /** e.g. `application/json`. */
  mediaType: string;
  /** undefined when the clause carried none of `as`, `g`, `v`. */
  convert: ConvertTarget | undefined;
  pretty: boolean;
}

/**
 * Picks the first (clause, served type) pair the endpoint accepts, as apiserver's
 * `NegotiateMediaTypeOptions`: clauses in goautoneg order, served types in server order, and the
 * endpoint decides which conversions it allows. An empty header means the first served type.
 */
export function negotiateMediaType(
  header: string | undefined,
  served: readonly string[],
  allowsConvert: (convert: ConvertTarget | undefined) => boolean,
): NegotiatedMediaType | undefined {
  if (!header) {
    const first = served[0];
    return first === undefined ? undefined : { mediaType: first, convert: undefined, pretty: false };
  }
  for (const clause of parseAccept(header)) {
    for (const mediaType of served) {
      const [type, subType] = mediaType.split('/');
      const matches =
        (clause.type === type && clause.subType === subType) || (clause.type === type && clause.subType === '*') || (clause.type === '*' && clause.subType === '*');
      if (!matches) continue;
      let convert: ConvertTarget | undefined;
      for (const [name, value] of Object.entries(clause.params)) {
        if (name === 'as' || name === 'g' || name === 'v') {
          convert ??= { group: '', version: '', kind: '' };
          if (name === 'as') convert.kind = value;
          if (name === 'g') convert.group = value;
          if (name === 'v') convert.version = value;
        }
      }
      if (!allowsConvert(convert)) continue;
      return { mediaType, convert, pretty: clause.params.pretty === '1' };
    }
  }
  return undefined;
}
