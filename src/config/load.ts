// loadConfig: file, then AGENTGATE_* environment, then flags, over the schema's defaults,
// validated once for a role. A pure function of its arguments (and of the file it names).

import { issuesToErrors, type ConfigError } from './errors.ts';
import { configSchemas, type ConfigFor, type ConfigRole } from './schema.ts';
import { configFileOf, readEnv, readFile, readFlags, type Assignment } from './sources.ts';

/** What loadConfig reads. Nothing is taken from `process`: the CLI passes argv and env in. */
export interface LoadConfigOptions<R extends ConfigRole> {
  /** Configuration flags only (`--broker.listen.port 8443`, `--config FILE`); default none. */
  argv?: readonly string[];
  /** The environment; only AGENTGATE_* names are read. Default empty. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The role whose required fields must be present. */
  role: R;
}

/** The configuration, or every error found in it. */
export type LoadConfigResult<T> = { ok: true; config: T } | { ok: false; errors: ConfigError[] };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets a dotted path, creating sections; a non-mapping in the way is left for the schema to report. */
function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let current = target;
  for (const key of keys.slice(0, -1)) {
    const next = current[key] ?? {};
    if (!isRecord(next)) return;
    current[key] = next;
    current = next;
  }
  current[keys.at(-1) ?? path] = value;
}

/**
 * Reads and validates the configuration of `role`. Precedence: flags > environment > file >
 * defaults. Every error is returned at once; none carries a secret's value.
 */
export function loadConfig<R extends ConfigRole>(options: LoadConfigOptions<R>): LoadConfigResult<ConfigFor<R>> {
  const env = options.env ?? {};
  const flags = readFlags(options.argv ?? []);
  const errors: ConfigError[] = [...flags.errors];
  const file = configFileOf(flags.value.configFile, env);
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    const read = readFile(file);
    errors.push(...read.errors);
    raw = structuredClone(read.value);
  }
  const sources = new Map<string, string>();
  const apply = (assignments: Assignment[]): void => {
    for (const assignment of assignments) {
      setAt(raw, assignment.path, assignment.value);
      sources.set(assignment.path, assignment.source);
    }
  };
  apply(readEnv(env));
  apply(flags.value.assignments);

  const schema = configSchemas[options.role];
  const parsed = schema.safeParse(raw);
  const requiredBy = options.role === 'tool' ? 'required' : `required to start agentgate ${options.role}`;
  if (!parsed.success) errors.push(...issuesToErrors(parsed.error.issues, { raw, sources, file }, requiredBy));
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, config: parsed.data as ConfigFor<R> };
}
