// The three sources of configuration values (YAML file, AGENTGATE_* environment, flags), each
// turned into assignments of dotted paths with the place they came from, for error messages.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import type { ConfigError } from './errors.ts';
import { CONFIG_FILE_ENV, configFields, envAliases, type FieldInfo } from './fields-table.ts';

/** One value from one source. */
export interface Assignment {
  path: string;
  value: unknown;
  source: string;
}

/** The result of reading one source. */
export interface SourceRead<T> {
  value: T;
  errors: ConfigError[];
}

/** Turns a flag or environment string into the value the schema checks, by the field's kind. */
export function coerce(field: FieldInfo, raw: string): unknown {
  switch (field.kind) {
    case 'integer':
      return /^-?\d+$/.test(raw) ? Number(raw) : raw;
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return raw;
    case 'list':
      return raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
    default:
      return raw;
  }
}

/**
 * Reads AGENTGATE_* variables. Empty values count as unset, as Kubernetes manifests often
 * render them. Unknown AGENTGATE_* names are ignored, not refused: Kubernetes service links put
 * AGENTGATE_<SERVICE>_PORT and friends into every pod of a namespace with such a Service, and
 * the webhook sets AGENTGATE_POD_* for the sidecar.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): Assignment[] {
  const assignments: Assignment[] = [];
  for (const field of configFields) {
    const alias = Object.keys(envAliases).find((name) => envAliases[name] === field.env && (env[name] ?? '') !== '');
    const name = (env[field.env] ?? '') !== '' ? field.env : alias;
    const raw = name === undefined ? undefined : env[name];
    if (name === undefined || raw === undefined) continue;
    assignments.push({ path: field.path, value: coerce(field, raw), source: `env ${name}` });
  }
  return assignments;
}

const flagFields = new Map(configFields.flatMap((field) => (field.flag === undefined ? [] : [[field.flag, field] as const])));

/** parseArgs option descriptors of every configuration flag, plus `--config`. */
export const configFlagOptions: Record<string, { type: 'string' | 'boolean' }> = Object.fromEntries([
  ['config', { type: 'string' }],
  ...[...flagFields].map(([flag, field]) => [flag, { type: field.kind === 'boolean' ? 'boolean' : 'string' }] as const),
]);

/** True when `name` (without dashes) is a configuration flag or `config`. */
export function isConfigFlag(name: string): boolean {
  return name === 'config' || flagFields.has(name);
}

/** Reads configuration flags; anything else in argv is an error here (the CLI strips its own flags first). */
export function readFlags(argv: readonly string[]): SourceRead<{ assignments: Assignment[]; configFile: string | undefined }> {
  const errors: ConfigError[] = [];
  const assignments: Assignment[] = [];
  let configFile: string | undefined;
  const { tokens } = parseArgs({ args: [...argv], options: configFlagOptions, strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  let afterUnknownFlag = false;
  for (const token of tokens) {
    const mayBeItsValue = afterUnknownFlag;
    afterUnknownFlag = false;
    if (token.kind === 'positional') {
      if (mayBeItsValue) continue;
      // Not echoed: it may be the value of a secret someone tried to pass as a flag.
      errors.push({ path: `argument ${token.index + 1}`, problem: 'unknown', expected: 'only --<field> flags', source: 'command line' });
      continue;
    }
    if (token.kind !== 'option') continue;
    const negated = token.rawName.startsWith('--no-');
    if (token.name === 'config' && typeof token.value === 'string') {
      configFile = token.value;
      continue;
    }
    const field = flagFields.get(token.name);
    if (!field || (negated && field.kind !== 'boolean')) {
      afterUnknownFlag = token.inlineValue !== true;
      errors.push({ path: token.rawName, problem: 'unknown', expected: 'a configuration flag (see agentgate --help)', source: 'command line' });
      continue;
    }
    if (field.kind !== 'boolean' && token.value === undefined) {
      errors.push({ path: field.path, problem: 'missing', expected: `${field.expected} after ${token.rawName}`, source: `flag ${token.rawName}` });
      continue;
    }
    const value = negated ? false : token.value === undefined ? true : coerce(field, token.value);
    assignments.push({ path: field.path, value, source: `flag ${token.rawName}` });
  }
  return { value: { assignments, configFile }, errors };
}

/** Where the configuration file is named: the flag wins over the environment. */
export function configFileOf(flagFile: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  return flagFile ?? ((env[CONFIG_FILE_ENV] ?? '') !== '' ? env[CONFIG_FILE_ENV] : undefined);
}

/** Reads and parses the YAML file; it must hold a mapping (an empty file is an empty mapping). */
export function readFile(file: string): SourceRead<Record<string, unknown>> {
  const fail = (expected: string): SourceRead<Record<string, unknown>> => ({
    value: {},
    errors: [{ path: file, problem: 'invalid', expected, source: 'configuration file' }],
  });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return fail(`a readable YAML file (${code})`);
  }
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const first = document.errors[0];
  if (first) {
    // Only the code and position are used: the parser's message quotes the offending line, which may hold a secret.
    const line = first.linePos?.[0];
    return fail(`valid YAML (${first.code}${line ? ` at line ${line.line}, column ${line.col}` : ''})`);
  }
  const content: unknown = document.toJS({ maxAliasCount: 100 });
  if (content === null || content === undefined) return { value: {}, errors: [] };
  if (typeof content !== 'object' || Array.isArray(content)) return fail('a YAML mapping at the top level');
  return { value: content as Record<string, unknown>, errors: [] };
}
