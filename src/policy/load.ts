// Reading a policy: YAML parsed with positions, validated with zod, and every problem reported as
// `file:line: field: message`; plus the hot-reload store that keeps the last good policy.
import { LineCounter, parseDocument } from 'yaml';
import type * as z from 'zod';
import { forbiddenInRule } from './guardrail-rules.ts';
import { ruleScope } from './match.ts';
import { AccessPolicySchema, CLUSTER_SCOPE, type AccessPolicy } from './schema.ts';
import { positionOf } from './yaml-positions.ts';

/** One problem (or warning) in a policy file. `path` is like `rules[2].match.verbs[0]`. */
export interface PolicyIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

/** A policy and its warnings, or every error found. */
export type LoadPolicyResult = { ok: true; policy: AccessPolicy; warnings: PolicyIssue[] } | { ok: false; errors: PolicyIssue[] };

/** `policy.yaml:14: rules[2].match.verbs[0]: "gett" is not a Kubernetes verb`. */
export function formatPolicyIssue(issue: PolicyIssue): string {
  return issue.path === '' ? `${issue.file}:${issue.line}: ${issue.message}` : `${issue.file}:${issue.line}: ${issue.path}: ${issue.message}`;
}

/** `rules[2].match.verbs[0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`), '');
}

const TYPE_WORDS: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'true or false' };

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'custom' && issue.input === undefined) return 'is required';
  // zod's own texts start with "Invalid"; the schema's custom messages are already for people.
  if (!issue.message.startsWith('Invalid')) return issue.message;
  if (issue.code === 'invalid_type') return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
  return issue.message;
}

interface RawIssue {
  path: PropertyKey[];
  message: string;
  onKey?: boolean;
}

const EXEC_LIKE = ['exec', 'attach', 'portforward', 'proxy'];

/**
 * What allow rules may grant without a human. Errors: resources and namespaces must be named (a
 * `*` would take in secrets, pods/exec, serviceaccounts/token, or the whole cluster), and the
 * rule's scope must not reach a guardrail. Warnings: exec-like subresources and secrets, which a
 * plain `get` reaches (kubectl exec over WebSocket is a GET).
 */
export function checkAllowRules(policy: AccessPolicy): { errors: RawIssue[]; warnings: RawIssue[] } {
  const errors: RawIssue[] = [];
  const warnings: RawIssue[] = [];
  policy.rules.forEach((rule, i) => {
    if (rule.outcome !== 'allow') return;
    const m = rule.match;
    const at = (field: string) => ['rules', i, 'match', field];
    const before = errors.length;
    if (m.nonResourceURLs !== undefined) {
      errors.push({ path: at('nonResourceURLs'), message: 'an allow rule grants in namespaces only: non-resource URLs need outcome approve' });
      return;
    }
    if (m.resources === undefined || m.resources.some((r) => r.startsWith('*'))) {
      errors.push({ path: m.resources === undefined ? ['rules', i, 'match'] : at('resources'), message: 'an allow rule grants without a human, so it must list its resources: "*" would take in secrets, pods/exec and serviceaccounts/token' });
    }
    if (m.namespaces === undefined || m.namespaces.includes('*') || m.namespaces.includes(CLUSTER_SCOPE)) {
      errors.push({ path: m.namespaces === undefined ? ['rules', i, 'match'] : at('namespaces'), message: `an allow rule grants only in named namespaces or $self: cluster-wide access (*, ${CLUSTER_SCOPE}) needs outcome approve` });
    }
    // A rule already refused for "*" would only repeat itself as guardrail errors.
    if (rule.scope !== 'request' && errors.length === before) {
      const scope = ruleScope(m, { connection: 'c', namespace: 'n', agent: 'a' });
      for (const f of scope.rules.flatMap((r) => forbiddenInRule(r, 'grant'))) {
        errors.push({ path: ['rules', i, 'match'], message: `this allow rule ${f.message}, which guardrail ${f.code} forbids` });
      }
    }
    (m.resources ?? []).forEach((r, j) => {
      const sub = r.split('/')[1];
      if (r === 'secrets') warnings.push({ path: [...at('resources'), j], message: 'grants Secrets on demand: their values are masked, but consider outcome approve' });
      else if (sub !== undefined && EXEC_LIKE.includes(sub)) warnings.push({ path: [...at('resources'), j], message: `grants ${r} on demand: a get on it is a live session (kubectl uses WebSocket GETs for exec)` });
    });
  });
  return { errors, warnings };
}

/**
 * Parses and validates a policy. Never throws: YAML syntax errors, schema errors and the allow
 * rule checks are all returned, each with its line and field, sorted by line.
 */
export function loadPolicy(text: string, file = 'policy.yaml'): LoadPolicyResult {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = counter.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0] ?? e.message}` };
      }),
    };
  }
  const place = (raw: RawIssue): PolicyIssue => {
    const pos = positionOf(doc, counter, raw.path, { key: raw.onKey === true });
    return { file, line: pos.line, column: pos.column, path: fieldPath(raw.path), message: raw.message };
  };
  const sorted = (issues: PolicyIssue[]) => issues.sort((a, b) => a.line - b.line || a.column - b.column);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, errors: [{ file, line: 1, column: 1, path: '', message: `YAML: ${(error as Error).message}` }] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, errors: [place({ path: [], message: `must be a mapping with apiVersion, kind and rules (an AccessPolicy)` })] };
  }
  const parsed = AccessPolicySchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    const raws: RawIssue[] = parsed.error.issues.flatMap((issue): RawIssue[] =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'is not a field here', onKey: true }))
        : [{ path: [...issue.path], message: issueMessage(issue) }],
    );
    return { ok: false, errors: sorted(raws.map(place)) };
  }
  const checks = checkAllowRules(parsed.data);
  if (checks.errors.length > 0) return { ok: false, errors: sorted(checks.errors.map(place)) };
  return { ok: true, policy: parsed.data, warnings: sorted(checks.warnings.map(place)) };
}

/** The outcome of one reload. `changed` is false when the text was the same as the policy in use. */
export type ReloadResult = { ok: true; changed: boolean; warnings: PolicyIssue[] } | { ok: false; errors: PolicyIssue[] };

/** Holds the policy in use; `reload` replaces it only with a valid one. */
export interface PolicyStore {
  /** The last good policy, or undefined while none has ever loaded (the broker must not decide then). */
  current(): AccessPolicy | undefined;
  /** Reads and validates the source again; an invalid or unreadable one is reported and ignored. */
  reload(): Promise<ReloadResult>;
}

/**
 * A policy store over `read` (a file, a ConfigMap key): the broker calls `reload` when the source
 * changes. Reloads run one at a time, in call order, so an older read never replaces a newer one.
 * `onErrors` hears about every refused reload (log it: the old policy is still in force).
 */
export function createPolicyStore(read: () => Promise<string>, options: { file?: string; onErrors?: (errors: PolicyIssue[]) => void } = {}): PolicyStore {
  const file = options.file ?? 'policy.yaml';
  let policy: AccessPolicy | undefined;
  let text: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const refuse = (errors: PolicyIssue[]): ReloadResult => {
    options.onErrors?.(errors);
    return { ok: false, errors };
  };
  const once = async (): Promise<ReloadResult> => {
    let next: string;
    try {
      next = await read();
    } catch (error) {
      return refuse([{ file, line: 0, column: 0, path: '', message: `cannot be read: ${(error as Error).message}` }]);
    }
    if (policy !== undefined && next === text) return { ok: true, changed: false, warnings: [] };
    const loaded = loadPolicy(next, file);
    if (!loaded.ok) return refuse(loaded.errors);
    policy = loaded.policy;
    text = next;
    return { ok: true, changed: true, warnings: loaded.warnings };
  };
  return {
    current: () => policy,
    reload: () => {
      const run = queue.then(once, once);
      queue = run;
      return run;
    },
  };
}
