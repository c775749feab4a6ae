// `agentgate policy test FILE`: run a policy against its table of cases (see src/policy/policy-test.ts).

import { defineCommand } from '../command.ts';
import { exitCodes } from '../exit-codes.ts';

/** Runs the cases file; its `policy:` names the policy unless --policy does. */
export const policyTestCommand = defineCommand({
  name: 'policy test',
  summary: 'check a policy file against its test cases',
  usage: '[--policy POLICY.yaml] CASES.yaml',
  description:
    'CASES.yaml lists requests (method and URL, or attributes) with an identity and the expected outcome and reason code; ' +
    'the policy is the file its "policy:" field names, relative to it, unless --policy is given. ' +
    'Exits 0 when every case passes, 1 when a case fails, 78 when the policy or the cases file is invalid or unreadable.',
  group: 'tool',
  flags: { policy: { type: 'string', value: 'FILE', description: 'the policy file to test (default: the cases file\'s "policy:")' } },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, stdout }) {
    const { policyTestCommand: runCases } = await import('../../policy/policy-test.ts');
    const policyFile = typeof values.policy === 'string' ? values.policy : undefined;
    const result = await runCases({ casesFile: positionals[0] as string, ...(policyFile ? { policyFile } : {}) });
    stdout.write(result.stdout);
    if (result.exitCode === 0) return exitCodes.ok.code;
    return result.exitCode === 1 ? exitCodes.failure.code : exitCodes.config.code;
  },
});
