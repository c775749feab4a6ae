/**
 * Formatting shared by the Table printers: apimachinery's HumanDuration, the printers' timestamp
 * rule, column definitions with descriptions from the kubernetes-models declarations. Test code only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** metav1.TableColumnDefinition. */
export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Obj = Record<string, unknown>;

const require = createRequire(import.meta.url);
const MODELS = dirname(require.resolve('kubernetes-models/package.json'));
const META = join(dirname(require.resolve('@kubernetes-models/apimachinery/package.json')), 'apis/meta/v1');
const docCache = new Map<string, string>();

/**
 * A field's description from the kubernetes-models type declarations (generated from the
 * Kubernetes OpenAPI), i.e. the `SwaggerDoc()` text the real printers put in descriptions.
 */
export function fieldDoc(typeFile: string, field: string): string {
  const key = `${typeFile}#${field}`;
  const cached = docCache.get(key);
  if (cached !== undefined) return cached;
  const path = typeFile.startsWith('meta/') ? join(META, `${typeFile.slice(5)}.d.ts`) : join(MODELS, `${typeFile}.d.ts`);
  const text = readFileSync(path, 'utf8');
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`/\\*\\*\\n((?:\\s*\\*.*\\n)*?)\\s*\\*/\\n\\s*"${escaped}"\\??:`).exec(text);
  const lines = (match?.[1] ?? '').split('\n').map((l) => l.replace(/^\s*\* ?/, ''));
  // SwaggerDoc has no "Possible enum values" appendix; the OpenAPI description does.
  const doc = lines.join('\n').replace(/\n\nPossible enum values:[\s\S]*$/, '').replace(/\*\\\//g, '*/').trim();
  docCache.set(key, doc);
  return doc;
}

/** A column as the printers declare it. */
export function column(name: string, type: string, description: string, priority = 0, format = ''): TableColumn {
  return { name, type, format, description, priority };
}

/** The Name column every printer starts with. */
export const nameColumn = (): TableColumn => column('Name', 'string', fieldDoc('meta/ObjectMeta', 'name'), 0, 'name');
/** The Age column (creationTimestamp through HumanDuration). */
export const ageColumn = (): TableColumn => column('Age', 'string', fieldDoc('meta/ObjectMeta', 'creationTimestamp'));

/**
 * apimachinery `duration.HumanDuration`: ~2-3 significant figures, e.g. `5s`, `3m2s`, `2d3h`.
 * A clock up to 1s behind reads `0s`; further behind is `<invalid>`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** The printers' `translateTimestampSince`: `<unknown>` for a zero time. */
export function since(timestamp: unknown, now: Date): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
}

/** Narrowing helpers for untyped object trees. */
export const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const num = (v: unknown, fallback = 0): number => (typeof v === 'number' ? v : fallback);

