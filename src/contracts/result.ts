// How every contract reports what is wrong with an input: a Result that lists each issue with
// its JSON path, so a peer's bad message is logged (or answered) whole, never thrown.
import type * as z from 'zod';

/** One problem with an input: where it is (`$`, `$.spec.rules[0].verbs`) and what was expected. */
export interface ContractIssue {
  path: string;
  message: string;
}

/** The outcome of parsing a contract: the typed value, or every issue found. */
export type Result<T> = { ok: true; value: T } | { ok: false; errors: ContractIssue[] };

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Formats a zod path as a JSONPath-like string; keys that are not identifiers are quoted. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '$';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && identifier.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/**
 * Parses `value` with `schema` and never throws. Unknown object fields are dropped (see the
 * evolution rules in broker-v1.ts). Cross-field checks (outcome ⇒ grant, mode ⇒ roleArn…) are
 * skipped while a field is missing or of the wrong type, so those issues come first; values that
 * are merely out of range or badly formatted do not stop them.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): Result<z.output<S>> {
  let parsed: ReturnType<S['safeParse']>;
  try {
    // reportInput only to tell a missing field from a wrong one; inputs never reach the issues.
    parsed = schema.safeParse(value, { reportInput: true }) as ReturnType<S['safeParse']>;
  } catch (error) {
    // zod itself does not throw on data, but a hostile getter or proxy in `value` can.
    return { ok: false, errors: [{ path: '$', message: `input could not be read: ${String(error)}` }] };
  }
  if (parsed.success) return { ok: true, value: parsed.data as z.output<S> };
  return {
    ok: false,
    errors: parsed.error.issues.map((issue) => ({
      path: formatPath(issue.path),
      message: issue.code === 'invalid_type' && issue.input === undefined ? `is required (${issue.expected})` : issue.message,
    })),
  };
}
