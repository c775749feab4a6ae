// `agentgate policy test`: the sample policy and cases in test/fixtures/policy/, a failing case,
// and invalid files, through policyTestCommand as the CLI will call it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { policyTestCommand, runPolicyTest } from '../../src/policy/policy-test.ts';

const fixtures = fileURLToPath(new URL('../fixtures/policy/', import.meta.url));
const policyFile = join(fixtures, 'policy.yaml');
const casesFile = join(fixtures, 'cases.yaml');

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the sample cases all pass, with the policy named by the cases file', async (t) => {
  const { exitCode, stdout } = await policyTestCommand({ casesFile });
  t.is(exitCode, 0, stdout);
  const lines = stdout.trimEnd().split('\n');
  t.is(lines.length, 10);
  t.is(lines[0], 'PASS  list pods in the own namespace');
  t.is(lines.at(-1), '9 passed, 0 failed');
});

test('a failing case exits 1 and says what was expected and what came', async (t) => {
  const dir = await tempDir(t);
  const cases = join(dir, 'cases.yaml');
  await writeFile(cases, `apiVersion: agentgate.io/v1alpha1
kind: AccessPolicyTest
defaults:
  identity: {connection: prod, namespace: payments, agent: reporter}
cases:
  - name: someone hoped exec was a read
    request: {method: GET, url: "/api/v1/namespaces/payments/pods/web-0/exec?command=sh"}
    expect: {outcome: allow, code: grant-created}
  - name: logs are a read
    request: {method: GET, url: /api/v1/namespaces/payments/pods/web-0/log}
    expect: {outcome: allow, rule: read-own-namespace}
`);
  const { exitCode, stdout } = await policyTestCommand({ policyFile, casesFile: cases });
  t.is(exitCode, 1);
  t.is(stdout, 'FAIL  someone hoped exec was a read: expected allow/grant-created, got approve/policy-no-rule\nPASS  logs are a read\n1 passed, 1 failed\n');
});

test('an invalid policy exits 2 with its line and field, and runs no case', async (t) => {
  const dir = await tempDir(t);
  const policy = join(dir, 'policy.yaml');
  await writeFile(policy, 'apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicy\nrules:\n  - name: a\n    match: {verbs: [gett]}\n    outcome: approve\n');
  const { exitCode, stdout } = await policyTestCommand({ policyFile: policy, casesFile });
  t.is(exitCode, 2);
  t.is(stdout, `${policy}:5: rules[0].match.verbs[0]: "gett" is not a Kubernetes verb\n`);
});

test('invalid cases and unreadable files exit 2', async (t) => {
  const dir = await tempDir(t);
  const cases = join(dir, 'cases.yaml');
  await writeFile(cases, 'apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicyTest\ncases:\n  - name: x\n    expect: {outcome: maybe}\n');
  const bad = await policyTestCommand({ policyFile, casesFile: cases });
  t.is(bad.exitCode, 2);
  t.is(bad.stdout, `${cases}:5: cases[0].expect.outcome: must be allow, approve or deny\n`);
  await writeFile(cases, 'apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicyTest\ncases:\n  - name: x\n    expect: {outcome: deny}\n');
  t.is((await policyTestCommand({ policyFile, casesFile: cases })).stdout, `${cases}:4: cases[0].request: must have exactly one of request (method and url) and attributes\n`);
  const missing = await policyTestCommand({ casesFile: join(dir, 'nope.yaml') });
  t.is(missing.exitCode, 2);
  t.regex(missing.stdout, /nope\.yaml: cannot be read: ENOENT/);
  await writeFile(cases, 'apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicyTest\ncases: []\n');
  t.regex((await policyTestCommand({ casesFile: cases })).stdout, /names no policy/);
});

test('a case whose URL the attribute parser refuses fails with the parser\'s reason', (t) => {
  const report = runPolicyTest('apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicy\n', `apiVersion: agentgate.io/v1alpha1
kind: AccessPolicyTest
cases:
  - name: dot segments
    identity: {connection: c, namespace: n, agent: a}
    request: {method: GET, url: /api/v1/namespaces/n/pods/../secrets}
    expect: {outcome: deny}
`);
  t.deepEqual(report.results.map((r) => [r.pass, r.detail]), [[false, 'request refused by the attribute parser: the request path "/api/v1/namespaces/n/pods/../secrets" has a ".." segment']]);
  t.is(report.failed, 1);
});
