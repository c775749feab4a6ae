/**
 * The masker: (object, rules) → masked object. Secret-like `data`/`stringData` become the marker, in
 * single objects, lists, Tables, watch events and last-applied annotations; every other string
 * goes through the pattern scan.
 */
import { MASK_MARKER, MASK_MARKER_BASE64 } from './marker.ts';
import { compilePatterns, SECRET_PATTERNS, type MaskedText, type PatternScanner } from './patterns.ts';
import { validateMaskingRules, type MaskingRules } from './rules.ts';
import { parseExact, stringifyExact } from './json.ts';
import { maskTable } from './table.ts';

export { defaultMaskingRules, MaskingRulesError, type MaskingRules, type SecretResource } from './rules.ts';
export type { MaskedText } from './patterns.ts';

/** The response's resource, when the caller knows it: lets kind-less objects (a Table row without its object) count as Secrets. */
export interface MaskContext {
  group?: string;
  resource?: string;
}

/** An object after masking, and how many values were masked (0: the object is untouched). */
export interface MaskedObject {
  object: unknown;
  count: number;
}

/** Why a response could not be masked; the proxy answers 502 and never passes the raw bytes. */
export class MaskingError extends Error {
  readonly code: 'unparseable' | 'too-deep' | 'line-too-long';
  constructor(code: MaskingError['code'], message: string) {
    super(message);
    this.name = 'MaskingError';
    this.code = code;
  }
}

/** A masker bound to one set of rules. */
export interface Masker {
  /** Masks a parsed JSON value in place (it must be the caller's own, e.g. fresh from JSON.parse) and returns it. */
  maskObject(value: unknown, context?: MaskContext): MaskedObject;
  /** Masks secret patterns in free text (a log line, a message). */
  maskText(text: string): MaskedText;
  /** The same for a text cut short, where a secret may lack the end its pattern needs (PatternScanner.maskCut). */
  maskCutText(text: string): MaskedText & { open: boolean };
  /** Parses, masks and re-serializes a JSON document; the original text comes back when nothing was masked. */
  maskJson(text: string, context?: MaskContext): MaskedText;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Kubernetes objects are a few levels deep; a deeper document is hostile and fails closed. */
const MAX_DEPTH = 256;
const SENSITIVE_NAME = /(?:password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)$/i;
/** Field names repeat in every object: remember verdicts, up to a bound (names are attacker-chosen). */
const NAME_CACHE_LIMIT = 4096;

/** A JSON object. */
export type Obj = Record<string, unknown>;
/** True for a JSON object (not an array, not null). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Per-call state: the count, and whether the request's resource is Secret-like. */
export interface Pass {
  count: number;
  contextSecret: boolean;
  /** Set when the walk met a number a double cannot hold exactly: JSON.parse rounded it, so a masked document is parsed again exactly. */
  inexact?: boolean;
}

/** True for a number JSON.parse may have rounded: an integer beyond 2^53 (or a value too large to hold a fraction). */
const inexact = (v: number): boolean => !Number.isSafeInteger(v) && Number.isInteger(v);

/** Walks one document; built once per rules, so the hot path closes over compiled state only. */
export interface Walker {
  value(v: unknown, name: string, depth: number, pass: Pass): unknown;
  document(v: unknown, depth: number, hint: boolean, pass: Pass): unknown;
  /** True when `o` is a Secret-like object (by kind, by `hint` when it has none, or by its shape). */
  secret(o: Obj, hint: boolean): boolean;
}

/** Binds `rules` once (validated here, compiled into one scan) and returns the masker. */
export function createMasker(rules: MaskingRules): Masker {
  validateMaskingRules(rules);
  const enabled = new Set<string>(rules.patterns);
  const scanner: PatternScanner = compilePatterns(SECRET_PATTERNS.filter((p) => enabled.has(p.id)), rules.extraPatterns);
  const secretKinds = new Set(rules.secretResources.map((r) => r.kind));
  const secretListKinds = new Set(rules.secretResources.map((r) => `${r.kind}List`));
  const secretResources = new Set(rules.secretResources.map((r) => `${r.group}/${r.resource}`));
  const names = new Map<string, boolean>();
  const sensitive = (name: string): boolean => {
    if (!rules.sensitiveNames) return false;
    let verdict = names.get(name);
    if (verdict === undefined) {
      verdict = SENSITIVE_NAME.test(name);
      if (names.size < NAME_CACHE_LIMIT) names.set(name, verdict);
    }
    return verdict;
  };

  const text = (s: string, pass: Pass): string => scanner.maskCounting(s, pass);

  const whole = (s: unknown, replacement: string, pass: Pass): string => {
    if (s !== replacement) pass.count++;
    return replacement;
  };

  // The walk writes a value back only when masking changed it: most come back as they were, and a
  // store to objects of every shape is a megamorphic one (a pod masked 7–8 % faster, measured with
  // both trees loaded in one process, interleaved).
  const value = (v: unknown, name: string, depth: number, pass: Pass): unknown => {
    if (typeof v === 'string') return sensitive(name) && v !== '' ? whole(v, MASK_MARKER, pass) : text(v, pass);
    if (typeof v !== 'object' || v === null) {
      // Every value kept goes through here: seeing each number is cheaper than scanning the text for digits.
      if (typeof v === 'number' && inexact(v)) pass.inexact = true;
      return v;
    }
    if (depth > MAX_DEPTH) throw new MaskingError('too-deep', `the response nests deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const e = v[i] as unknown;
        const out = value(e, name, depth + 1, pass);
        if (out !== e) v[i] = out;
      }
      return v;
    }
    return object(v as Obj, depth, false, pass);
  };

  /** An object at a document position (top level, list item, watch event, Table row): `hint` says its resource is Secret-like. */
  const document = (v: unknown, depth: number, hint: boolean, pass: Pass): unknown => (isObj(v) ? object(v, depth, hint, pass) : value(v, '', depth, pass));

  /** True when `o` (of `kind`, when it has one) is Secret-like: by kind, by `hint` when it has none, or by its shape. */
  const secretOf = (o: Obj, kind: string | undefined, hint: boolean): boolean => {
    // Typed lists omit their items' kind; an untyped Secret is still recognisable by its `type`.
    if (kind !== undefined) return secretKinds.has(kind);
    return hint || (isObj(o.metadata) && (isObj(o.data) || isObj(o.stringData)) && typeof o.type === 'string');
  };
  const isSecret = (o: Obj, hint: boolean): boolean => secretOf(o, typeof o.kind === 'string' ? o.kind : undefined, hint);

  const object = (o: Obj, depth: number, hint: boolean, pass: Pass): Obj => {
    if (depth > MAX_DEPTH) throw new MaskingError('too-deep', `the response nests deeper than ${MAX_DEPTH} levels`);
    const kindValue = o.kind;
    const kind = typeof kindValue === 'string' ? kindValue : undefined;
    if (kind === 'Table' && Array.isArray(o.rows)) return maskTable(o, depth, pass, walker);
    // Whether the object is Secret-like, and the other facts of its own members, are read only for
    // the members that need them: most objects are nested ones with none of those members.
    let secret: boolean | undefined;
    let renamed: Array<[string, string]> | undefined;
    for (const key in o) {
      const v = o[key];
      if (key.charCodeAt(1) === 0x3a && (key.charCodeAt(0) === 0x76 || key.charCodeAt(0) === 0x6b)) {
        // managedFields' `v:"…"` and `k:{…}` keys spell out the values of set elements and list-map
        // keys (a CRD's set of tokens, say): they are scanned as text, and renamed when masked.
        const masked = text(key, pass);
        if (masked !== key) (renamed ??= []).push([key, masked]);
      }
      if ((key === 'data' || key === 'stringData') && isObj(v) && (secret ??= secretOf(o, kind, hint))) {
        const replacement = key === 'data' ? MASK_MARKER_BASE64 : MASK_MARKER;
        for (const k in v) v[k] = whole(v[k], replacement, pass);
      } else if (key === 'metadata' && isObj(v)) {
        metadata(v, depth + 1, (secret ??= secretOf(o, kind, hint)), pass);
      } else if (key === 'items' && Array.isArray(v)) {
        const itemHint = pass.contextSecret || (kind !== undefined && secretListKinds.has(kind));
        for (let i = 0; i < v.length; i++) {
          const e = v[i] as unknown;
          const out = document(e, depth + 2, itemHint, pass);
          if (out !== e) v[i] = out;
        }
      } else if (key === 'object' && kind === undefined && isObj(v) && typeof o.type === 'string') {
        // A watch event: its object is a document.
        const out = document(v, depth + 1, pass.contextSecret, pass);
        if (out !== v) o[key] = out;
      } else if (key === 'binaryData' && kind === 'ConfigMap' && isObj(v)) {
        for (const k in v) v[k] = typeof v[k] === 'string' ? binary(v[k], pass) : value(v[k], k, depth + 2, pass);
      } else if (key === 'value' && typeof v === 'string' && v !== '' && typeof o.name === 'string' && sensitive(o.name)) {
        // An env var (or any name/value pair) named like a credential: its value is one.
        o[key] = whole(v, MASK_MARKER, pass);
      } else {
        const out = value(v, key, depth + 1, pass);
        if (out !== v) o[key] = out;
      }
    }
    if (renamed !== undefined) {
      for (const [from, to] of renamed) {
        const v = o[from];
        delete o[from];
        o[to] = v;
      }
    }
    return o;
  };

  const metadata = (m: Obj, depth: number, ownerSecret: boolean, pass: Pass): void => {
    const annotations = m.annotations;
    if (isObj(annotations) && typeof annotations[LAST_APPLIED] === 'string') {
      annotations[LAST_APPLIED] = lastApplied(annotations[LAST_APPLIED], depth + 2, ownerSecret, pass);
    }
    for (const key in m) {
      if (key === 'annotations' && isObj(annotations)) continue;
      const v = m[key];
      const out = value(v, key, depth + 1, pass);
      if (out !== v) m[key] = out;
    }
    if (isObj(annotations)) {
      for (const key in annotations) {
        if (key === LAST_APPLIED) continue;
        const v = annotations[key];
        const out = value(v, key, depth + 2, pass);
        if (out !== v) annotations[key] = out;
      }
    }
  };

  /** kubectl keeps the whole applied object, Secret values included, in this annotation: mask it as an object. */
  const lastApplied = (raw: string, depth: number, ownerSecret: boolean, pass: Pass): string => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return raw === '' ? raw : whole(raw, MASK_MARKER, pass);
    }
    if (!isObj(parsed)) return raw === '' ? raw : whole(raw, MASK_MARKER, pass);
    const inner: Pass = { count: 0, contextSecret: false };
    object(parsed, depth, ownerSecret, inner);
    if (inner.count === 0) return raw;
    pass.count += inner.count;
    const exact = inner.inexact === true ? object(parseExact(raw) as Obj, depth, ownerSecret, { count: 0, contextSecret: false }) : parsed;
    return stringifyExact(exact) + (raw.endsWith('\n') ? '\n' : '');
  };

  /** ConfigMap binaryData is base64: scanned as bytes (latin1 keeps every byte) and re-encoded if masked. */
  const binary = (v: unknown, pass: Pass): unknown => {
    if (typeof v !== 'string') return v;
    const masked = scanner.mask(Buffer.from(v, 'base64').toString('latin1'));
    if (masked.count === 0) return v;
    pass.count += masked.count;
    return Buffer.from(masked.text, 'latin1').toString('base64');
  };

  const walker: Walker = { value, document, secret: isSecret };
  const contextSecret = (context?: MaskContext): boolean => context?.resource !== undefined && secretResources.has(`${context.group ?? ''}/${context.resource}`);

  return {
    maskObject(v, context) {
      const pass: Pass = { count: 0, contextSecret: contextSecret(context) };
      const object = document(v, 0, pass.contextSecret, pass);
      return { object, count: pass.count };
    },
    maskText(s) {
      return scanner.mask(s);
    },
    maskCutText(s) {
      return scanner.maskCut(s);
    },
    maskJson(s, context) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(s);
      } catch {
        // V8's message quotes the input, which may hold the very secret: never pass it on.
        throw new MaskingError('unparseable', 'the response is not valid JSON');
      }
      const pass: Pass = { count: 0, contextSecret: contextSecret(context) };
      const masked = document(parsed, 0, pass.contextSecret, pass);
      if (pass.count === 0) return { text: s, count: 0 };
      // Rare (a masked document with an integer beyond 2^53): parse again, keeping big integers exact.
      if (pass.inexact === true) return { text: stringifyExact(document(parseExact(s), 0, pass.contextSecret, { count: 0, contextSecret: pass.contextSecret })), count: pass.count };
      return { text: JSON.stringify(masked), count: pass.count };
    },
  };
}
