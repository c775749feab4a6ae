/**
 * Masking configuration: which resources hold secrets, which patterns run on free text, and the
 * safe defaults. Checked once by the masker's factory, every problem reported together.
 */
import { PATTERN_IDS, type ExtraPattern, type PatternId } from './patterns.ts';

/** A resource whose `data` and `stringData` values are masked whole, as core Secrets are. */
export interface SecretResource {
  /** API group ("" for the core group). */
  group: string;
  /** Plural resource name, as in the request path. */
  resource: string;
  /** Kind of its objects; `<kind>List` is the kind of its lists. */
  kind: string;
}

/** What the masker masks. */
export interface MaskingRules {
  /** Secret-like resources; default: core `secrets`. */
  secretResources: readonly SecretResource[];
  /** Built-in patterns that run on every other string; default: all of them. */
  patterns: readonly PatternId[];
  /** The operator's own patterns, run in the same scan. */
  extraPatterns: readonly ExtraPattern[];
  /**
   * Mask the whole string value of a field or env var whose name says it is a credential
   * (`password`, `clientSecret`, `DB_PASSWORD`, `GITHUB_TOKEN`, …), whatever it looks like.
   */
  sensitiveNames: boolean;
}

/** Safe defaults: core Secrets, every built-in pattern, credential-named fields and env vars. */
export const defaultMaskingRules: MaskingRules = Object.freeze({
  secretResources: Object.freeze([Object.freeze({ group: '', resource: 'secrets', kind: 'Secret' })]),
  patterns: Object.freeze([...PATTERN_IDS]),
  extraPatterns: Object.freeze([]),
  sensitiveNames: true,
});

/** Masking rules that cannot be used; `problems` names each field, its value and what was expected. */
export class MaskingRulesError extends Error {
  readonly code = 'masking-rules-invalid';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid masking rules: ${problems.join('; ')}`);
    this.name = 'MaskingRulesError';
    this.problems = problems;
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/** Throws a {@link MaskingRulesError} listing every problem of `rules`. */
export function validateMaskingRules(rules: MaskingRules): void {
  const problems: string[] = [];
  rules.secretResources.forEach((r, i) => {
    if (r.group !== '' && !DNS_SUBDOMAIN.test(r.group)) problems.push(`secretResources[${i}].group ${JSON.stringify(r.group)}: expected "" or a DNS subdomain such as example.com`);
    if (!DNS_LABEL.test(r.resource)) problems.push(`secretResources[${i}].resource ${JSON.stringify(r.resource)}: expected a lower-case plural such as secrets`);
    if (!KIND.test(r.kind)) problems.push(`secretResources[${i}].kind ${JSON.stringify(r.kind)}: expected a CamelCase kind such as Secret`);
  });
  const known = new Set<string>(PATTERN_IDS);
  rules.patterns.forEach((id, i) => {
    if (!known.has(id)) problems.push(`patterns[${i}] ${JSON.stringify(id)}: expected one of ${PATTERN_IDS.join(', ')}`);
  });
  const names = new Set<string>();
  rules.extraPatterns.forEach((p, i) => {
    if (!/^[a-z][a-z0-9-]*$/.test(p.name) || known.has(p.name) || names.has(p.name)) problems.push(`extraPatterns[${i}].name ${JSON.stringify(p.name)}: expected a unique kebab-case name that is not a built-in pattern's`);
    names.add(p.name);
    if (/\\[1-9]|\\k</.test(p.regex)) problems.push(`extraPatterns[${i}].regex ${JSON.stringify(p.regex)}: uses a backreference, expected none (patterns are combined into one scan)`);
    try {
      if (new RegExp(p.regex, p.caseInsensitive ? 'i' : '').test('')) problems.push(`extraPatterns[${i}].regex ${JSON.stringify(p.regex)}: matches the empty string, expected a pattern that needs at least one character`);
    } catch (error) {
      problems.push(`extraPatterns[${i}].regex ${JSON.stringify(p.regex)}: does not compile (${(error as Error).message})`);
    }
  });
  if (problems.length > 0) throw new MaskingRulesError(problems);
}
