// Policy: the AccessPolicy format, its loader and hot-reload store, the guardrails and the
// evaluation that turns (policy, identity, attributes, body) into allow, approve or deny.
export * from './schema.ts';
export { loadPolicy, formatPolicyIssue, createPolicyStore, checkAllowRules } from './load.ts';
export type { PolicyIssue, LoadPolicyResult, PolicyStore, ReloadResult } from './load.ts';
export { evaluate } from './evaluate.ts';
export type { PolicyDecision, EvaluateContext } from './evaluate.ts';
export { checkGuardrails } from './guardrails.ts';
export type { GuardrailContext, GuardrailViolation } from './guardrails.ts';
export { forbiddenInRule, isAgentgateName } from './guardrail-rules.ts';
export { matchRule, compareSpecificity, ruleScope, requestScope } from './match.ts';
export type { PolicyScope, Specificity } from './match.ts';
export { defaultPolicy, DEFAULT_POLICY_FILE } from './default-policy.ts';
export { runPolicyTest, policyTestCommand, formatPolicyTestReport } from './policy-test.ts';
export type { PolicyTestReport, PolicyCaseResult } from './policy-test.ts';
