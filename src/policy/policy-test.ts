// `agentgate policy test`: runs a policy against a YAML file of table cases (who asks, what, and
// the expected outcome and code) and reports each case and a summary, as an operator's CI would.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import * as z from 'zod';
import { RequestAttributesSchema, type RequestAttributes } from '../contracts/attributes.ts';
import { BodySummarySchema, type BodySummary } from '../contracts/decision.ts';
import { parseRequest } from '../request/attributes.ts';
import { evaluate, type PolicyDecision } from './evaluate.ts';
import { fieldPath, formatPolicyIssue, loadPolicy, type PolicyIssue } from './load.ts';
import { positionOf } from './yaml-positions.ts';

const Identity = z.strictObject({ connection: z.string(), namespace: z.string(), agent: z.string(), profile: z.string().optional() });
const PodSpec = z.strictObject({
  privileged: z.boolean().default(false),
  hostPath: z.boolean().default(false),
  hostNamespaces: z.array(z.enum(['network', 'pid', 'ipc'])).default([]),
  hostPorts: z.array(z.number().int()).default([]),
  serviceAccountName: z.string().optional(),
});
const CaseSchema = z
  .strictObject({
    name: z.string({ message: 'must name the case' }).min(1),
    identity: Identity.partial().optional(),
    request: z.strictObject({ method: z.string(), url: z.string() }).optional(),
    attributes: z.record(z.string(), z.unknown()).optional(),
    body: z.record(z.string(), z.unknown()).optional(),
    expect: z.strictObject({ outcome: z.enum(['allow', 'approve', 'deny'], { message: 'must be allow, approve or deny' }), code: z.string().optional(), rule: z.string().optional() }),
  })
  .refine((c) => (c.request === undefined) !== (c.attributes === undefined), { message: 'must have exactly one of request (method and url) and attributes', path: ['request'] });

const CasesFileSchema = z.strictObject({
  apiVersion: z.literal('agentgate.io/v1alpha1', { message: 'must be "agentgate.io/v1alpha1"' }),
  kind: z.literal('AccessPolicyTest', { message: 'must be "AccessPolicyTest"' }),
  /** The policy file, relative to the cases file, when the command is not given one. */
  policy: z.string().optional(),
  context: z.strictObject({ agentgateNamespace: z.string().optional(), injectedNamespaces: z.array(z.string()).optional() }).optional(),
  defaults: z.strictObject({ identity: Identity.partial().optional() }).optional(),
  cases: z.array(CaseSchema).min(1, 'must hold at least one case'),
});

/** The result of one case. */
export interface PolicyCaseResult {
  name: string;
  pass: boolean;
  /** What went wrong, for a failing case. */
  detail?: string;
  decision?: PolicyDecision;
}

/** What a run found: per-case results, or the errors that kept it from running. */
export interface PolicyTestReport {
  results: PolicyCaseResult[];
  passed: number;
  failed: number;
  /** Invalid policy or cases file: nothing ran. */
  errors: string[];
}

function parseYaml(text: string, file: string): { value?: unknown; place: (path: PropertyKey[]) => PolicyIssue['line']; errors: string[] } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  const place = (path: PropertyKey[]) => positionOf(doc, counter, path).line;
  if (doc.errors.length > 0) return { place, errors: doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}: YAML: ${e.message.split('\n')[0] ?? ''}`) };
  return { value: doc.toJS({ maxAliasCount: 100 }), place, errors: [] };
}

function attributesOf(c: z.infer<typeof CaseSchema>): { attributes?: RequestAttributes; error?: string } {
  if (c.request) {
    const parsed = parseRequest(c.request.method.toUpperCase(), c.request.url);
    return parsed.ok ? { attributes: parsed.attributes } : { error: `request refused by the attribute parser: ${parsed.error.message}` };
  }
  const filled = { isResourceRequest: true, path: '/', apiGroup: '', apiVersion: 'v1', subresource: '', namespace: '', name: '', ...c.attributes };
  const parsed = RequestAttributesSchema.safeParse(filled);
  return parsed.success ? { attributes: parsed.data } : { error: `attributes: ${parsed.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`).join('; ')}` };
}

function bodyOf(raw: Record<string, unknown> | undefined): { body?: BodySummary; error?: string } {
  if (raw === undefined) return {};
  const filled = { truncated: false, ...raw, ...(raw.podSpec !== undefined ? { podSpec: PodSpec.safeParse(raw.podSpec).data ?? raw.podSpec } : {}) };
  const parsed = BodySummarySchema.safeParse(filled);
  return parsed.success ? { body: parsed.data } : { error: `body: ${parsed.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`).join('; ')}` };
}

/** Runs `casesText` against `policyText`. Never throws; file names only label messages. */
export function runPolicyTest(policyText: string, casesText: string, files: { policyFile?: string; casesFile?: string } = {}): PolicyTestReport {
  const casesFile = files.casesFile ?? 'cases.yaml';
  const report: PolicyTestReport = { results: [], passed: 0, failed: 0, errors: [] };
  const loaded = loadPolicy(policyText, files.policyFile ?? 'policy.yaml');
  if (!loaded.ok) report.errors.push(...loaded.errors.map(formatPolicyIssue));
  const yaml = parseYaml(casesText, casesFile);
  report.errors.push(...yaml.errors);
  if (yaml.errors.length > 0) return report;
  const parsed = CasesFileSchema.safeParse(yaml.value, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const message = issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
      report.errors.push(`${casesFile}:${yaml.place(issue.path)}: ${fieldPath(issue.path)}: ${message}`);
    }
  }
  if (!loaded.ok || !parsed.success) return report;
  const spec = parsed.data;
  const injected = spec.context?.injectedNamespaces;
  for (const c of spec.cases) {
    const identity = Identity.safeParse({ ...spec.defaults?.identity, ...c.identity });
    const { attributes, error } = attributesOf(c);
    const body = bodyOf(c.body);
    const problem = !identity.success ? 'identity needs connection, namespace and agent (in the case or in defaults)' : (error ?? body.error);
    if (problem !== undefined || !identity.success || attributes === undefined) {
      report.results.push({ name: c.name, pass: false, detail: problem ?? 'no attributes' });
      continue;
    }
    const decision = evaluate(loaded.policy, identity.data, attributes, body.body, {
      ...(spec.context?.agentgateNamespace !== undefined ? { agentgateNamespace: spec.context.agentgateNamespace } : {}),
      ...(injected !== undefined ? { isInjectedNamespace: (ns: string) => injected.includes(ns) } : {}),
    });
    const want = c.expect;
    const pass = decision.outcome === want.outcome && (want.code === undefined || decision.code === want.code) && (want.rule === undefined || decision.rule === want.rule);
    const got = `${decision.outcome}/${decision.code}${decision.rule !== undefined ? ` (rule ${decision.rule})` : ''}`;
    const expected = `${want.outcome}${want.code !== undefined ? `/${want.code}` : ''}${want.rule !== undefined ? ` (rule ${want.rule})` : ''}`;
    report.results.push({ name: c.name, pass, decision, ...(pass ? {} : { detail: `expected ${expected}, got ${got}` }) });
  }
  report.passed = report.results.filter((r) => r.pass).length;
  report.failed = report.results.length - report.passed;
  return report;
}

/** The report as the CLI prints it: one line per case, then `N passed, N failed`. */
export function formatPolicyTestReport(report: PolicyTestReport): string {
  if (report.errors.length > 0) return `${report.errors.join('\n')}\n`;
  const lines = report.results.map((r) => (r.pass ? `PASS  ${r.name}` : `FAIL  ${r.name}: ${r.detail ?? ''}`));
  return `${[...lines, `${report.passed} passed, ${report.failed} failed`].join('\n')}\n`;
}

/**
 * `agentgate policy test [--policy FILE] CASES`: exit 0 when every case passes, 1 when one fails,
 * 2 when a file is unreadable or invalid. Without `policyFile`, the cases file's `policy:` names it.
 */
export async function policyTestCommand(args: { policyFile?: string; casesFile: string }): Promise<{ exitCode: number; stdout: string }> {
  let casesText: string;
  try {
    casesText = await readFile(args.casesFile, 'utf8');
  } catch (error) {
    return { exitCode: 2, stdout: `${args.casesFile}: cannot be read: ${(error as Error).message}\n` };
  }
  let policyFile = args.policyFile;
  if (policyFile === undefined) {
    const named = parseDocument(casesText).get('policy');
    if (typeof named !== 'string') return { exitCode: 2, stdout: `${args.casesFile}: names no policy: add "policy: FILE" or pass the policy file\n` };
    policyFile = resolve(dirname(args.casesFile), named);
  }
  let policyText: string;
  try {
    policyText = await readFile(policyFile, 'utf8');
  } catch (error) {
    return { exitCode: 2, stdout: `${policyFile}: cannot be read: ${(error as Error).message}\n` };
  }
  const report = runPolicyTest(policyText, casesText, { policyFile, casesFile: args.casesFile });
  const exitCode = report.errors.length > 0 ? 2 : report.failed > 0 ? 1 : 0;
  return { exitCode, stdout: formatPolicyTestReport(report) };
}
