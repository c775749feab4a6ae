// The table of configuration leaves, derived once from the schema: dotted path, environment
// variable, flag, default and metadata. Help output, the env/flag readers and the error
// formatter all read this table, so a field added to the schema needs no other edit.
//
// Naming rule: a field's dotted path `broker.redisUrl` is set by the environment variable
// AGENTGATE_ + the path in upper snake case (AGENTGATE_BROKER_REDIS_URL) and by the flag
// --<path in kebab case> (--broker.redis-url). Secrets have no flag: argv is world-readable.

import type * as z from 'zod';
import { fieldRegistry, type FieldMeta } from './fields.ts';
import { configSchemas } from './schema.ts';

/** One configuration leaf. */
export interface FieldInfo extends FieldMeta {
  /** Dotted path, e.g. `broker.listen.port`. */
  path: string;
  /** Environment variable, e.g. `AGENTGATE_BROKER_LISTEN_PORT`. */
  env: string;
  /** Flag name without dashes, e.g. `broker.listen.port`; undefined for secrets. */
  flag: string | undefined;
  /** Default in the form a user writes it (`30m`, not 1800000), if any. */
  defaultValue: unknown;
}

/** Environment variables kept for compatibility or brevity, mapped to the canonical variable. */
export const envAliases: Readonly<Record<string, string>> = {
  AGENTGATE_REDIS_URL: 'AGENTGATE_BROKER_REDIS_URL',
};

/** The environment variable naming the YAML configuration file. */
export const CONFIG_FILE_ENV = 'AGENTGATE_CONFIG';

/** AGENTGATE_ + the dotted path in upper snake case. */
export function envNameOf(path: string): string {
  return `AGENTGATE_${path.split('.').map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

/** The dotted path in kebab case, without the leading dashes. */
export function flagNameOf(path: string): string {
  return path.split('.').map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()).join('.');
}

interface Walk {
  fields: FieldInfo[];
  objects: Map<string, string[]>;
}

function walk(schema: z.ZodType, path: string, defaultValue: unknown, out: Walk): void {
  const meta = fieldRegistry.get(schema);
  if (meta) {
    out.fields.push({ ...meta, path, env: envNameOf(path), flag: meta.secret ? undefined : flagNameOf(path), defaultValue });
    return;
  }
  // zod's def is typed per schema class; this walk needs only a few members of a few classes.
  const def = schema.def as unknown as {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    out?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    defaultValue?: unknown;
    element?: z.ZodType;
  };
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      out.objects.set(path, Object.keys(shape));
      for (const [key, child] of Object.entries(shape)) walk(child, path === '' ? key : `${path}.${key}`, undefined, out);
      return;
    }
    case 'default':
    case 'prefault':
      if (def.innerType) walk(def.innerType, path, def.defaultValue, out);
      return;
    case 'optional':
    case 'nonoptional':
      if (def.innerType) walk(def.innerType, path, defaultValue, out);
      return;
    case 'pipe': {
      // A preprocess (transform → schema) is read through its output; a refined root through its input.
      const inner = def.in?.def.type === 'transform' ? def.out : def.in;
      if (inner) walk(inner, path, defaultValue, out);
      return;
    }
    case 'array':
      // Elements are known for error messages; lists of mappings (webhook.optOut) are set in the file only.
      if (def.element) walk(def.element, `${path}[]`, undefined, out);
      return;
    default:
      return;
  }
}

const table: Walk = { fields: [], objects: new Map() };
walk(configSchemas.tool, '', undefined, table);

/** Every configuration leaf that a flag or variable can set, in schema order. */
export const configFields: readonly FieldInfo[] = table.fields.filter((field) => !field.path.includes('[]'));

/** The field names of every object in the schema, by dotted path ('' is the root). */
export const configObjects: ReadonlyMap<string, readonly string[]> = table.objects;

const byPath = new Map(table.fields.map((field) => [field.path, field]));

/** Array indices replaced by `[]`: `webhook.optOut[3].namespace` → `webhook.optOut[].namespace`. */
export function schemaPath(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

/** The leaf at a dotted path (array indices allowed), if it is one. */
export function fieldAt(path: string): FieldInfo | undefined {
  return byPath.get(schemaPath(path));
}

/** True when a value at this path is or contains a secret, so it must never be printed. */
export function holdsSecret(path: string): boolean {
  const plain = schemaPath(path);
  return table.fields.some((field) => field.secret === true && (field.path === plain || plain === '' || field.path.startsWith(`${plain}.`) || field.path.startsWith(`${plain}[]`)));
}
