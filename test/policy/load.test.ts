// Loading policies: every error with its line and field, the allow-rule checks, the default
// policy's YAML copy, and hot reload that keeps the last good policy.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { defaultPolicy, DEFAULT_POLICY_FILE } from '../../src/policy/default-policy.ts';
import { createPolicyStore, formatPolicyIssue, loadPolicy, type PolicyIssue } from '../../src/policy/load.ts';

const head = 'apiVersion: agentgate.io/v1alpha1\nkind: AccessPolicy\n';

interface Row {
  name: string;
  yaml: string;
  errors: string[];
}

const rows: Row[] = [
  {
    name: 'a misspelt verb, with its line and field',
    yaml: `${head}rules:
  - name: read
    match:
      verbs: [get, list]
      resources: [pods]
      namespaces: [$self]
    outcome: allow
    ttl: 30m
  - name: approve-writes
    match: {verbs: [create]}
    outcome: approve
  - name: typo
    match:
      verbs:
        - gett
    outcome: approve
`,
    errors: ['policy.yaml:17: rules[2].match.verbs[0]: "gett" is not a Kubernetes verb'],
  },
  {
    name: 'wrong apiVersion and kind',
    yaml: 'apiVersion: v1\nkind: ConfigMap\n',
    errors: ['policy.yaml:1: apiVersion: must be "agentgate.io/v1alpha1"', 'policy.yaml:2: kind: must be "AccessPolicy"'],
  },
  {
    name: 'an unknown field is reported on its key',
    yaml: `${head}rules:\n  - name: a\n    match: {}\n    outcome: approve\n    approver: [bob]\n`,
    errors: ['policy.yaml:7: rules[0].approver: is not a field here'],
  },
  {
    name: 'a missing field is reported where its mapping starts',
    yaml: `${head}rules:\n  - match: {verbs: [get]}\n    outcome: approve\n`,
    errors: ['policy.yaml:4: rules[0].name: is required'],
  },
  {
    name: 'groups, resources and namespaces people get wrong',
    yaml: `${head}rules:
  - name: mistakes
    match:
      apiGroups: [core, v1, apps/v1]
      resources: [pods/*, Pods, a/b/c]
      namespaces: [$me, Payments]
    outcome: approve
`,
    errors: [
      'policy.yaml:6: rules[0].match.apiGroups[0]: "core" is not an API group: the core group is ""',
      'policy.yaml:6: rules[0].match.apiGroups[1]: "v1" is a version, not an API group (the core group is "")',
      'policy.yaml:6: rules[0].match.apiGroups[2]: "apps/v1" is a group/version: name only the group',
      'policy.yaml:7: rules[0].match.resources[0]: "pods/*" is not RBAC: list the subresources (pods/log) or use */subresource',
      'policy.yaml:7: rules[0].match.resources[1]: "Pods" is not a lower-case plural resource such as pods or pods/exec',
      'policy.yaml:7: rules[0].match.resources[2]: "a/b/c" has more than one "/": write resource/subresource',
      'policy.yaml:8: rules[0].match.namespaces[0]: "$me" is not a namespace pattern: use a name, $self, $cluster or *',
      'policy.yaml:8: rules[0].match.namespaces[1]: "Payments" is not a namespace name (DNS-1123 label), $self, $cluster or *',
    ],
  },
  {
    name: 'outcome-specific fields',
    yaml: `${head}rules:
  - name: no-reason
    match: {verbs: [delete]}
    outcome: deny
    ttl: 5m
  - name: no-ttl
    match: {verbs: [get], resources: [pods], namespaces: [$self]}
    outcome: allow
  - name: bad-ttl
    match: {verbs: [get]}
    outcome: approve
    ttl: 30 minutes
  - name: too-long
    match: {verbs: [get]}
    outcome: approve
    ttl: 9h
`,
    errors: [
      'policy.yaml:4: rules[0].reason: is required when outcome is deny: the agent reads it',
      'policy.yaml:7: rules[0].ttl: must be absent when outcome is deny',
      'policy.yaml:8: rules[1].ttl: is required when outcome is allow',
      'policy.yaml:14: rules[2].ttl: "30 minutes" is not a duration such as 30m, 1h or 1h30m',
      'policy.yaml:18: rules[3].ttl: "9h" must be between 1m and 8h',
    ],
  },
  {
    name: 'a default that would allow everything',
    yaml: `${head}default:\n  outcome: allow\n`,
    errors: ['policy.yaml:4: default.outcome: must be approve or deny (a default never allows)'],
  },
  {
    name: 'duplicate rule names',
    yaml: `${head}rules:\n  - name: same\n    match: {}\n    outcome: approve\n  - name: same\n    match: {}\n    outcome: approve\n`,
    errors: ['policy.yaml:7: rules[1].name: "same" is already the name of rules[0]'],
  },
  {
    name: 'a list written as a string',
    yaml: `${head}rules:\n  - name: a\n    match: {verbs: get}\n    outcome: approve\n`,
    errors: ['policy.yaml:5: rules[0].match.verbs: must be a list of verbs'],
  },
  {
    name: 'allow rules must name resources and namespaces',
    yaml: `${head}rules:
  - name: everything
    match: {verbs: [get], resources: ["*"], namespaces: ["*"]}
    outcome: allow
    ttl: 5m
  - name: nowhere
    match: {verbs: [get]}
    outcome: allow
    ttl: 5m
`,
    errors: [
      'policy.yaml:5: rules[0].match.resources: an allow rule grants without a human, so it must list its resources: "*" would take in secrets, pods/exec and serviceaccounts/token',
      'policy.yaml:5: rules[0].match.namespaces: an allow rule grants only in named namespaces or $self: cluster-wide access (*, $cluster) needs outcome approve',
      'policy.yaml:9: rules[1].match: an allow rule grants without a human, so it must list its resources: "*" would take in secrets, pods/exec and serviceaccounts/token',
      'policy.yaml:9: rules[1].match: an allow rule grants only in named namespaces or $self: cluster-wide access (*, $cluster) needs outcome approve',
    ],
  },
  {
    name: 'an allow rule whose scope reaches a guardrail',
    yaml: `${head}rules:
  - name: tokens
    match: {verbs: [create], apiGroups: [""], resources: [serviceaccounts/token], namespaces: [$self]}
    outcome: allow
    ttl: 5m
`,
    errors: ['policy.yaml:5: rules[0].match: this allow rule would grant serviceaccounts/token, which guardrail serviceaccount-token forbids'],
  },
  {
    name: 'a YAML syntax error',
    yaml: `${head}rules:\n  - name: a\n    match: {verbs: [get}\n`,
    errors: [
      'policy.yaml:5: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      'policy.yaml:5: YAML: Flow map in block collection must be sufficiently indented and end with a }',
    ],
  },
  {
    name: 'a duplicate key',
    yaml: `${head}kind: AccessPolicy\n`,
    errors: ['policy.yaml:3: YAML: Map keys must be unique'],
  },
  {
    name: 'not a mapping',
    yaml: '- just\n- a list\n',
    errors: ['policy.yaml:1: must be a mapping with apiVersion, kind and rules (an AccessPolicy)'],
  },
];

for (const row of rows) {
  test(`invalid policy: ${row.name}`, (t) => {
    const loaded = loadPolicy(row.yaml);
    t.false(loaded.ok);
    t.deepEqual(loaded.ok ? [] : loaded.errors.map(formatPolicyIssue), row.errors);
  });
}

test('the file name given appears in every message', (t) => {
  const loaded = loadPolicy('kind: AccessPolicy\n', '/etc/agentgate/policy.yaml');
  t.deepEqual(loaded.ok ? [] : loaded.errors.map(formatPolicyIssue), ['/etc/agentgate/policy.yaml:1: apiVersion: is required']);
});

test('allow rules on exec-like subresources and secrets load with warnings', (t) => {
  const loaded = loadPolicy(`${head}rules:
  - name: debug
    match: {verbs: [get, create], apiGroups: [""], resources: [pods/exec, secrets], namespaces: [$self]}
    outcome: allow
    ttl: 5m
    scope: request
`);
  t.true(loaded.ok);
  t.deepEqual(loaded.ok ? loaded.warnings.map(formatPolicyIssue) : [], [
    'policy.yaml:5: rules[0].match.resources[0]: grants pods/exec on demand: a get on it is a live session (kubectl uses WebSocket GETs for exec)',
    'policy.yaml:5: rules[0].match.resources[1]: grants Secrets on demand: their values are masked, but consider outcome approve',
  ]);
});

test('the YAML copy of the default policy loads through the same loader and equals default-policy.ts', async (t) => {
  const loaded = loadPolicy(await readFile(DEFAULT_POLICY_FILE, 'utf8'), 'default-policy.yaml');
  if (!loaded.ok) t.fail(loaded.errors.map(formatPolicyIssue).join('\n'));
  else {
    t.deepEqual(loaded.warnings, []);
    t.deepEqual(loaded.policy, defaultPolicy);
  }
});

test('the default policy never lists secrets, exec-like subresources or tokens for reading', (t) => {
  const read = defaultPolicy.rules.filter((r) => r.outcome === 'allow').flatMap((r) => r.match.resources ?? []);
  t.true(read.length > 10);
  for (const r of read) {
    t.false(r === 'secrets' || r === '*' || r.startsWith('*/'), r);
    t.false(['exec', 'attach', 'portforward', 'proxy', 'token'].includes(r.split('/')[1] ?? ''), r);
  }
});

const good = (n: number) => `${head}rules:\n  - name: rule-${n}\n    match: {verbs: [get]}\n    outcome: approve\n`;

test('hot reload keeps the last good policy and reports why the new one was refused', async (t) => {
  let source = good(1);
  const heard: PolicyIssue[][] = [];
  const store = createPolicyStore(async () => source, { file: 'cm/policy.yaml', onErrors: (e) => heard.push(e) });
  t.is(store.current(), undefined);
  t.like(await store.reload(), { ok: true, changed: true });
  t.is(store.current()?.rules[0]?.name, 'rule-1');

  source = `${head}rules:\n  - name: rule-2\n    match: {verbs: [gett]}\n    outcome: approve\n`;
  const refused = await store.reload();
  t.false(refused.ok);
  t.deepEqual(refused.ok ? [] : refused.errors.map(formatPolicyIssue), ['cm/policy.yaml:5: rules[0].match.verbs[0]: "gett" is not a Kubernetes verb']);
  t.is(heard.length, 1);
  t.is(store.current()?.rules[0]?.name, 'rule-1');

  source = good(3);
  t.like(await store.reload(), { ok: true, changed: true });
  t.is(store.current()?.rules[0]?.name, 'rule-3');
  t.like(await store.reload(), { ok: true, changed: false });
});

test('an unreadable source keeps the last good policy; a first invalid load leaves none', async (t) => {
  let fail = false;
  const store = createPolicyStore(async () => {
    if (fail) throw new Error('ENOENT: no such file');
    return good(1);
  });
  await store.reload();
  fail = true;
  const result = await store.reload();
  t.deepEqual(result.ok ? [] : result.errors.map(formatPolicyIssue), ['policy.yaml:0: cannot be read: ENOENT: no such file']);
  t.is(store.current()?.rules[0]?.name, 'rule-1');

  const empty = createPolicyStore(async () => 'kind: AccessPolicy\n');
  t.false((await empty.reload()).ok);
  t.is(empty.current(), undefined);
});

test('reloads run in call order, so a slow older read never replaces a newer policy', async (t) => {
  const texts = [good(1), good(2)];
  const releases: Array<() => void> = [];
  let calls = 0;
  const store = createPolicyStore(() => {
    const text = texts[calls++] ?? good(9);
    return new Promise<string>((resolve) => releases.push(() => resolve(text)));
  });
  const first = store.reload();
  const second = store.reload();
  // Only the first read has started: the second waits for it.
  await new Promise((r) => setImmediate(r));
  t.is(releases.length, 1);
  releases[0]?.();
  await first;
  await new Promise((r) => setImmediate(r));
  releases[1]?.();
  await second;
  t.is(store.current()?.rules[0]?.name, 'rule-2');
});
