/**
 * Secret patterns for free text (ConfigMap values, env values, annotations, logs), compiled into
 * one combined scan per string behind a literal pre-filter, since almost no string holds a secret.
 */
import { MASK_MARKER } from './marker.ts';

/**
 * No pattern library is installed (node_modules has none; secretlint's rules are lint plugins that
 * scan a file per rule), so the table is written here, each row citing the vendor's published
 * format. Every row starts with a literal or a bounded prefix, so no row backtracks quadratically.
 */
export const SECRET_PATTERNS = [
  // AWS IAM "unique ID prefixes": AKIA = long-term access key, ASIA = STS temporary key
  // (docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids).
  { id: 'aws-access-key-id', source: '(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])', caseInsensitive: false, groups: [0], triggers: ['AKIA', 'ASIA', 'ABIA', 'ACCA'] },
  // AWS secret access keys are 40 base64 characters with no prefix of their own: only masked after
  // the names the AWS CLI credentials file and the SDKs use for them.
  { id: 'aws-secret-access-key', source: '(?i:aws_?secret_?access_?key|secret_?access_?key)["\']?\\s*[:=]\\s*["\']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])', caseInsensitive: false, groups: [1], triggers: ['access_key', 'accesskey'] },
  // RFC 7468 textual encodings: "-----BEGIN <label>-----"; every private key label ends in
  // "PRIVATE KEY" (PKCS#1 RSA, SEC1 EC, PKCS#8, ENCRYPTED, OpenSSH), OpenPGP's in "PRIVATE KEY BLOCK"
  // (RFC 4880 §6.2). The body is masked up to the END line, or to the end of a truncated text.
  { id: 'private-key', source: '-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----([\\s\\S]*?)(?=-----END[A-Z0-9 ]{0,40}PRIVATE KEY|$)', caseInsensitive: false, groups: [1], triggers: ['-----BEGIN'] },
  // RFC 7519/7515 compact serialization: base64url(header).base64url(payload).signature; the header
  // is a JSON object, so it starts with base64url('{"') = "eyJ". JWE (five parts) is covered too.
  { id: 'jwt', source: '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{4,}(?:\\.[A-Za-z0-9_-]*){1,3}', caseInsensitive: false, groups: [0], triggers: ['eyJ'] },
  // GitHub's token formats (github.blog 2021-04-05 "Behind GitHub's new authentication token
  // formats"): ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ server-to-server, ghr_ refresh,
  // 36 base62 characters today and up to 255 announced; fine-grained PATs are github_pat_<82>.
  { id: 'github-token', source: '(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})', caseInsensitive: false, groups: [0], triggers: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'] },
  // Slack "Token types" (api.slack.com/authentication/token-types): xoxb- bot, xoxp- user, xoxa-/xoxr-
  // /xoxs- legacy and refresh, xoxe. rotating, xapp- app-level; incoming webhooks are
  // https://hooks.slack.com/services/T…/B…/secret (api.slack.com/messaging/webhooks).
  { id: 'slack-token', source: '(?<![A-Za-z0-9])(?:xox[abposre]|xoxe\\.xox[bp]|xapp)-[A-Za-z0-9-]{10,}', caseInsensitive: false, groups: [0], triggers: ['xox', 'xapp-'] },
  { id: 'slack-webhook', source: 'hooks\\.slack\\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_+-]+)', caseInsensitive: false, groups: [1], triggers: ['hooks.slack.com'] },
  // Google Cloud API keys (cloud.google.com/docs/authentication/api-keys): "AIza" + 35 characters.
  { id: 'google-api-key', source: 'AIza[0-9A-Za-z_-]{35}', caseInsensitive: false, groups: [0], triggers: ['AIza'] },
  // Stripe API keys (docs.stripe.com/keys): secret sk_live_/sk_test_, restricted rk_*; webhook
  // signing secrets whsec_. Publishable pk_ keys are public by design and left alone.
  { id: 'stripe-key', source: '(?<![A-Za-z0-9])(?:[sr]k_(?:live|test)_[0-9A-Za-z]{10,247}|whsec_[A-Za-z0-9]{20,})', caseInsensitive: false, groups: [0], triggers: ['k_live_', 'k_test_', 'whsec_'] },
  // npm access tokens (github.blog 2021-09-23 "npm has a new access token format"): npm_ + 36.
  { id: 'npm-token', source: '(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])', caseInsensitive: false, groups: [0], triggers: ['npm_'] },
  // GitLab token prefixes (docs.gitlab.com/security/tokens): glpat- personal, gldt- deploy, glrt- runner.
  { id: 'gitlab-token', source: '(?<![A-Za-z0-9])gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,}', caseInsensitive: false, groups: [0], triggers: ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-'] },
  // Model providers an agent is likely to carry: Anthropic "sk-ant-…" (docs.anthropic.com API keys),
  // OpenAI project keys "sk-proj-…" and legacy keys with "T3BlbkFJ" (base64 "OpenAI") in the middle.
  { id: 'ai-api-key', source: '(?<![A-Za-z0-9])sk-(?:ant-[A-Za-z0-9_-]{32,}|proj-[A-Za-z0-9_-]{32,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})', caseInsensitive: false, groups: [0], triggers: ['sk-ant-', 'sk-proj-', 'T3BlbkFJ'] },
  // RFC 6750 bearer credentials in text (a logged header, a curl command line).
  { id: 'bearer-token', source: '(?<![A-Za-z0-9])(?i:bearer)\\s+([A-Za-z0-9._~+/-]{20,}=*)', caseInsensitive: false, groups: [1], triggers: ['bearer'] },
  // Generic credentials in key=value and key: value text (properties files, env files, JSON and
  // YAML inside a ConfigMap value, command-line flags): only the value is masked, quoted or not.
  { id: 'password-assignment', source: '(?:password|passwd|passphrase|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|secret[_-]?key|token)["\']?[ \\t]*[:=][ \\t]*(?:"([^"\\n]*)"|\'([^\'\\n]*)\'|([^\\s"\'&;,{[][^\\s"\'&;,]*))', caseInsensitive: true, groups: [1, 2, 3], triggers: ['pass', 'secret', 'api_key', 'api-key', 'apikey', 'token'] },
  // RFC 3986 userinfo "scheme://user:password@host": the password alone is masked. A port ("host:443/")
  // looks the same up to the "@", so digits followed by "/", "?", "#" or the end are not a password.
  { id: 'connection-string-password', source: '(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^:@/\\s]{0,256}:(?!\\d+(?:[/?#]|$))([^@\\s]{1,256}?)@', caseInsensitive: false, groups: [1], triggers: ['://'] },
] as const satisfies readonly SecretPatternDefinition[];

/** One row of the pattern table. */
export interface SecretPatternDefinition {
  /** Stable name, used in masking rules and metric labels. */
  id: string;
  /** RegExp source; its own groups numbered from 1. No backreferences (groups shift when combined). */
  source: string;
  /** The whole row is matched case-insensitively. */
  caseInsensitive: boolean;
  /** Which groups hold the secret (0 = the whole match); the first group that matched is masked. */
  groups: readonly number[];
  /** Literals one of which is in every match (compared case-insensitively): the pre-filter. */
  triggers: readonly string[];
}

/** The name of a built-in pattern. */
export type PatternId = (typeof SECRET_PATTERNS)[number]['id'];

/** Every built-in pattern's name. */
export const PATTERN_IDS: readonly PatternId[] = SECRET_PATTERNS.map((p) => p.id);

/** An operator's own pattern: masked as a whole match, or its first group when it has one. */
export interface ExtraPattern {
  name: string;
  regex: string;
  caseInsensitive?: boolean;
}

/** The result of masking one text. */
export interface MaskedText {
  text: string;
  count: number;
}

/** A compiled set of patterns: one combined scan per string. */
export interface PatternScanner {
  /** Masks every match in `text`; returns the same string and 0 when nothing matched. */
  mask(text: string): MaskedText;
  /** The same, for the hot path: returns the masked string and adds the count to `tally`, allocating nothing when clean. */
  maskCounting(text: string, tally: { count: number }): string;
  /**
   * Masks a text that was cut short (the end of a log read with `limitBytes`, a piece of an
   * over-long line): every match, and everything from the first trigger that is not inside one to
   * the end, since a secret there may have been cut before the rest of its pattern (the closing
   * quote, the `@`, its last characters) came. `open` says whether that happened.
   */
  maskCut(text: string): MaskedText & { open: boolean };
}

/** Strings shorter than this cannot hold a built-in match ("token=x" is the shortest) and skip all work. */
const MIN_LENGTH = 7;
/** Clean strings up to this length are remembered, at most this many at a time. */
const CACHED_LENGTH = 128;
const CACHE_ENTRIES = 8192;

const escapeLiteral = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

function groupCount(source: string): number {
  return (new RegExp(`${source}|`).exec('') ?? []).length - 1;
}

interface Slot {
  outer: number;
  groups: readonly number[];
}

/**
 * Compiles the enabled patterns into one RegExp (`d` for match indices, inline `(?i:…)` for the
 * case-insensitive rows) and one case-insensitive pre-filter of their trigger literals. Throws on
 * an extra pattern that does not compile or matches the empty string.
 */
export function compilePatterns(definitions: readonly SecretPatternDefinition[], extras: readonly ExtraPattern[] = []): PatternScanner {
  const rows: SecretPatternDefinition[] = [...definitions];
  const filters: string[] = [];
  for (const extra of extras) {
    const probe = new RegExp(extra.regex, extra.caseInsensitive ? 'i' : '');
    if (probe.test('')) throw new Error(`masking pattern ${extra.name} matches the empty string`);
    if (/\\[1-9]|\\k</.test(extra.regex)) throw new Error(`masking pattern ${extra.name} uses a backreference, which the combined scan cannot keep`);
    rows.push({ id: extra.name, source: extra.regex, caseInsensitive: extra.caseInsensitive ?? false, groups: groupCount(extra.regex) > 0 ? [1] : [0], triggers: [] });
    // An operator's regex has no declared literals: it joins the pre-filter as it is.
    filters.push(extra.regex);
  }
  if (rows.length === 0) return { mask: (text) => ({ text, count: 0 }), maskCounting: (text) => text, maskCut: (text) => ({ text, count: 0, open: false }) };
  const slots: Slot[] = [];
  const parts: string[] = [];
  let next = 1;
  for (const row of rows) {
    slots.push({ outer: next, groups: row.groups.map((g) => (g === 0 ? next : next + g)) });
    parts.push(row.caseInsensitive ? `((?i:${row.source}))` : `(${row.source})`);
    next += 1 + groupCount(row.source);
  }
  const scan = new RegExp(parts.join('|'), 'gd');
  const triggers = [...new Set(rows.flatMap((r) => r.triggers.map((t) => t.toLowerCase())))];
  // One case-insensitive regex over every trigger measured about twice as fast as the same
  // alternation with per-literal `(?i:…)` groups; an extra pattern matched case-insensitively here
  // only lets more strings through to the exact scan.
  const prefilter = new RegExp([...triggers.map(escapeLiteral), ...filters].join('|'), 'i');
  const triggerScan = new RegExp(prefilter.source, 'gi');
  // An operator's pattern may match shorter strings than any built-in one.
  const minLength = extras.length > 0 ? 1 : MIN_LENGTH;
  // Values repeat across the items of a list (images, paths, "password" as a secretKeyRef key):
  // short strings found clean are remembered, in a set cleared when full so that hostile input
  // cannot grow it. Strings with a match are never kept: the cache holds no secret.
  const clean = new Set<string>();
  const maskCounting = (text: string, tally: { count: number }): string => {
    if (text.length < minLength) return text;
    const cacheable = text.length <= CACHED_LENGTH;
    if (cacheable && clean.has(text)) return text;
    if (prefilter.test(text)) {
      const masked = maskMatches(text, scan, slots);
      if (masked.count > 0) {
        tally.count += masked.count;
        return masked.text;
      }
    }
    if (cacheable) {
      if (clean.size >= CACHE_ENTRIES) clean.clear();
      clean.add(text);
    }
    return text;
  };
  const mask = (text: string): MaskedText => {
    const tally = { count: 0 };
    const masked = maskCounting(text, tally);
    return { text: masked, count: tally.count };
  };
  const maskCut = (text: string): MaskedText & { open: boolean } => {
    const open = prefilter.test(text) ? firstOpenTrigger(text, scan, triggerScan) : -1;
    if (open < 0) return { ...mask(text), open: false };
    const head = mask(text.slice(0, open));
    return { text: head.text + MASK_MARKER, count: head.count + 1, open: true };
  };
  return { maskCounting, mask, maskCut };
}

/** Where the first trigger outside every complete match of `scan` begins in `text`, or -1. */
function firstOpenTrigger(text: string, scan: RegExp, triggerScan: RegExp): number {
  const spans: Array<[number, number]> = [];
  scan.lastIndex = 0;
  for (let m = scan.exec(text); m !== null; m = scan.exec(text)) {
    if (m[0] === '') scan.lastIndex++;
    else spans.push([m.index, m.index + m[0].length]);
  }
  triggerScan.lastIndex = 0;
  for (let m = triggerScan.exec(text); m !== null; m = triggerScan.exec(text)) {
    if (m[0] === '') {
      triggerScan.lastIndex++;
      continue;
    }
    const at = m.index;
    if (!spans.some(([start, end]) => at >= start && at < end)) return at;
  }
  return -1;
}

function maskMatches(text: string, scan: RegExp, slots: readonly Slot[]): MaskedText {
  let out = '';
  let last = 0;
  let count = 0;
  scan.lastIndex = 0;
  for (let m = scan.exec(text); m !== null; m = scan.exec(text)) {
    if (m[0] === '') {
      scan.lastIndex++;
      continue;
    }
    const slot = slots.find((s) => m[s.outer] !== undefined);
    const group = slot?.groups.find((g) => m[g] !== undefined);
    const span = group === undefined ? undefined : m.indices?.[group];
    if (!span) continue;
    const [start, end] = span;
    const secret = text.slice(start, end);
    // Already masked (a second pass, or a value read back): leave it, so masking is idempotent.
    if (secret.trim() === '' || secret.trim() === MASK_MARKER) continue;
    out += text.slice(last, start) + (secret.includes('\n') ? `\n${MASK_MARKER}\n` : MASK_MARKER);
    last = end;
    count++;
  }
  return count === 0 ? { text, count: 0 } : { text: out + text.slice(last), count };
}
