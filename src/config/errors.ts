// Configuration errors: zod issues turned into messages that name the field, show the value
// given (never a secret's) and say what is expected, and the formatter that prints them all.

import type * as z from 'zod';
import { configObjects, fieldAt, holdsSecret, schemaPath } from './fields-table.ts';

/** One problem with the configuration. */
export interface ConfigError {
  /** Dotted path of the field (`broker.listen.port`), or the flag, file or variable at fault. */
  path: string;
  /** `invalid`: a value that does not fit; `missing`: no value; `unknown`: a name the schema lacks. */
  problem: 'invalid' | 'missing' | 'unknown';
  /** The value as printed: JSON, or `[redacted]` for secrets. Absent when missing or unknown. */
  value?: string;
  /** What a valid configuration has here. */
  expected: string;
  /** Where the value came from: `env X`, `flag --x`, `file F`. */
  source?: string;
}

/** Values, and where each came from, as merged before validation. */
export interface MergedInput {
  raw: Record<string, unknown>;
  sources: ReadonlyMap<string, string>;
  file: string | undefined;
}

/** Dotted path with array indices in brackets: `webhook.optOut[0].namespace`. */
export function dottedPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`), '');
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current = raw;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

const MAX_SHOWN = 80;

/** The printable form of a value; secrets and anything holding one become `[redacted]`. */
export function displayValue(path: string, value: unknown): string {
  if (holdsSecret(path)) return '[redacted]';
  const json = JSON.stringify(value) ?? String(value);
  return json.length > MAX_SHOWN ? `${json.slice(0, MAX_SHOWN - 1)}…` : json;
}

function sourceOf(input: MergedInput, path: string): string | undefined {
  let prefix = path;
  while (prefix !== '') {
    const source = input.sources.get(prefix);
    if (source) return source;
    const cut = Math.max(prefix.lastIndexOf('.'), prefix.lastIndexOf('['));
    prefix = cut < 0 ? '' : prefix.slice(0, cut);
  }
  // Values that no flag or variable set can only have come from the file.
  return input.file === undefined ? undefined : `file ${input.file}`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

function unknownFieldError(input: MergedInput, parent: readonly PropertyKey[], key: string): ConfigError {
  const parentPath = schemaPath(dottedPath(parent));
  const known = configObjects.get(parentPath) ?? [];
  const ranked = known.map((name) => ({ name, d: distance(name, key) })).sort((a, b) => a.d - b.d);
  const near = ranked[0] && ranked[0].d <= Math.max(2, Math.floor(key.length / 4)) ? ranked[0].name : undefined;
  const within = parentPath === '' ? 'a section' : `a field of ${parentPath}`;
  const list = known.length > 0 ? `${within}: ${known.join(', ')}` : within;
  const path = dottedPath([...parent, key]);
  const source = sourceOf(input, path);
  // The value of an unknown field is never shown: a misspelt secret is still a secret.
  return { path, problem: 'unknown', expected: near ? `${list} (did you mean ${near}?)` : list, ...(source ? { source } : {}) };
}

function expectedFor(path: string, issue: z.core.$ZodIssue): string {
  const field = fieldAt(path);
  if (field) return field.expected;
  const keys = configObjects.get(schemaPath(path));
  if (keys) return `a mapping with fields ${keys.join(', ')}`;
  if (issue.code === 'invalid_type') return `a value of type ${issue.expected}`;
  return issue.message.replace(/^Invalid input: /, '');
}

/**
 * Turns zod issues into configuration errors, one per field (the first issue of a field wins,
 * so a field required by the role and by a cross-field rule is reported once).
 */
export function issuesToErrors(issues: readonly z.core.$ZodIssue[], input: MergedInput, requiredBy: string): ConfigError[] {
  const errors: ConfigError[] = [];
  const seen = new Set<string>();
  const push = (error: ConfigError): void => {
    if (seen.has(error.path)) return;
    seen.add(error.path);
    errors.push(error);
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) push(unknownFieldError(input, issue.path, key));
      continue;
    }
    const path = dottedPath(issue.path);
    const value = valueAt(input.raw, issue.path);
    const source = sourceOf(input, path);
    const from = source ? { source } : {};
    if (value === undefined) {
      const base = expectedFor(path, issue);
      const why = issue.code === 'custom' ? issue.message : requiredBy;
      push({ path, problem: 'missing', expected: `${base}, ${why}` });
      continue;
    }
    // Custom issues (leaf refinements, cross-field rules) carry their expected text as message.
    const expected = issue.code === 'custom' ? issue.message : expectedFor(path, issue);
    push({ path, problem: 'invalid', value: displayValue(path, value), expected, ...from });
  }
  // Grouped by section in schema order (stable within a section), unknown sections last.
  const sections = configObjects.get('') ?? [];
  const rank = (error: ConfigError): number => {
    const index = sections.indexOf(error.path.split(/[.[]/)[0] ?? '');
    return index < 0 ? sections.length : index;
  };
  return errors.map((error, index) => ({ error, index })).sort((a, b) => rank(a.error) - rank(b.error) || a.index - b.index).map(({ error }) => error);
}

/** All errors as one block of text for stderr, one line per error. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  const lines = errors.map((error) => {
    const from = error.source ? ` (from ${error.source})` : '';
    switch (error.problem) {
      case 'missing':
        return `  ${error.path}: missing${from}; expected ${error.expected}`;
      case 'unknown': {
        const what = error.path.startsWith('-') ? 'flag' : error.source === 'command line' ? 'argument' : 'field';
        return `  ${error.path}: unknown ${what}${from}; expected ${error.expected}`;
      }
      default:
        return `  ${error.path}: got ${error.value ?? '(nothing)'}${from}; expected ${error.expected}`;
    }
  });
  const count = errors.length === 1 ? '1 error' : `${errors.length} errors`;
  return [`invalid configuration (${count}):`, ...lines].join('\n');
}
