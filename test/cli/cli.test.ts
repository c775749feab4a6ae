// The CLI's observable behaviour: help on every command, version, unknown commands and flags,
// secrets refused as flags, configuration errors (78) and commands that arrive later (69).
// Rows marked `spawn` run the real bin/agentgate.js as a process; the others run the same
// dispatcher in-process, since a process start costs half a second of CPU.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { commands } from '../../src/cli/commands/index.ts';
import { exitCodes } from '../../src/cli/exit-codes.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { agentgate, agentgateInProcess } from './helpers.ts';

test('agentgate --help lists every command and the exit codes', async (t) => {
  const run = await agentgate(['--help']);
  t.is(run.code, 0);
  t.is(run.stderr, '');
  for (const command of commands) t.regex(run.stdout, new RegExp(`^  ${command.name} +${command.summary.replace(/[()]/g, '\\$&')}`, 'm'));
  for (const { code, meaning } of Object.values(exitCodes)) t.true(run.stdout.includes(`${String(code).padEnd(4)}${meaning}`), meaning);
});

test('agentgate help and -h print the same global help', async (t) => {
  const [help, short, long] = await Promise.all([agentgateInProcess(['help']), agentgateInProcess(['-h']), agentgate(['--help'])]);
  t.is(help.stdout, long.stdout);
  t.is(short.stdout, long.stdout);
});

for (const command of commands) {
  test(`help for "${command.name}" by --help, -h and help NAME`, async (t) => {
    const words = command.name.split(' ');
    const spawned = ['broker', 'audit verify', 'version'].includes(command.name);
    const runs = await Promise.all([(spawned ? agentgate : agentgateInProcess)([...words, '--help']), agentgateInProcess([...words, '-h']), agentgateInProcess(['help', ...words])]);
    for (const run of runs) {
      t.is(run.code, 0);
      t.is(run.stderr, '');
      t.true(run.stdout.startsWith(`agentgate ${command.name}: ${command.summary}\n\nUsage: agentgate ${command.name}`), run.stdout);
      t.true(run.stdout.includes('78  EX_CONFIG'));
      if (command.plannedFor) t.true(run.stdout.includes(`Status: not available yet: arrives with the [${command.plannedFor}] issue.`));
    }
    t.is(runs[0]?.stdout, runs[2]?.stdout);
  });
}

test('agentgate version and --version print the version from package.json', async (t) => {
  for (const run of await Promise.all([agentgate(['version']), agentgateInProcess(['--version'])])) {
    t.deepEqual(run, { code: 0, stdout: `agentgate ${packageJson.version}\n`, stderr: '' });
  }
});

const usageErrors: { name: string; args: string[]; stderr: string; spawn?: true }[] = [
  { name: 'no command', args: [], stderr: "agentgate: no command given\nRun 'agentgate --help' for the list of commands.\n" },
  { name: 'unknown command', spawn: true, args: ['frobnicate'], stderr: 'agentgate: unknown command "frobnicate"\nRun \'agentgate --help\' for the list of commands.\n' },
  { name: 'first word of a two-word command', args: ['policy'], stderr: 'agentgate: unknown command "policy"; did you mean "policy test"?\nRun \'agentgate --help\' for the list of commands.\n' },
  { name: 'help for an unknown command', args: ['help', 'nope'], stderr: 'agentgate: unknown command "nope"\nRun \'agentgate --help\' for the list of commands.\n' },
  { name: 'flag before the command', args: ['--log.level', 'debug', 'broker'], stderr: "agentgate: expected a command before flags\nRun 'agentgate --help' for the list of commands.\n" },
  { name: 'unknown flag', spawn: true, args: ['broker', '--log.levle', 'debug'], stderr: "agentgate broker: unknown flag --log.levle\nRun 'agentgate broker --help' for usage.\n" },
  { name: 'flag without its value', args: ['sidecar', '--sidecar.api.port'], stderr: "agentgate sidecar: flag --sidecar.api.port needs a value\nRun 'agentgate sidecar --help' for usage.\n" },
  { name: 'unexpected argument', args: ['webhook', 'extra'], stderr: "agentgate webhook: takes no arguments\nRun 'agentgate webhook --help' for usage.\n" },
  { name: 'argument to version', args: ['version', 'x'], stderr: "agentgate version: takes no arguments\nRun 'agentgate version --help' for usage.\n" },
  {
    name: 'secret given as a flag (value not echoed)',
    spawn: true,
    args: ['broker', '--broker.redis-url', 'redis://:hunter2@redis'],
    stderr: "agentgate broker: --broker.redis-url is not a flag: secrets are never taken from the command line (set AGENTGATE_BROKER_REDIS_URL or use the configuration file)\nRun 'agentgate broker --help' for usage.\n",
  },
  {
    name: 'secret given as an inline flag',
    args: ['broker', '--slack.bot-token=xoxb-hunter2'],
    stderr: "agentgate broker: --slack.bot-token is not a flag: secrets are never taken from the command line (set AGENTGATE_SLACK_BOT_TOKEN or use the configuration file)\nRun 'agentgate broker --help' for usage.\n",
  },
];

for (const row of usageErrors) {
  test(`usage error exits 2: ${row.name}`, async (t) => {
    const run = await (row.spawn ? agentgate : agentgateInProcess)(row.args);
    t.deepEqual(run, { code: 2, stdout: '', stderr: row.stderr });
  });
}

const notYet = commands.filter((command) => command.plannedFor !== undefined && command.role === undefined);

for (const command of notYet) {
  test(`not available yet exits 69: ${command.name}`, async (t) => {
    const run = await agentgateInProcess([...command.name.split(' '), '--some-flag', 'x']);
    t.deepEqual(run, { code: 69, stdout: '', stderr: `agentgate ${command.name}: not available yet: arrives with the [${command.plannedFor ?? ''}] issue\n` });
  });
}

const policyFixture = new URL('../fixtures/policy/', import.meta.url).pathname;

test('policy test runs the cases of a file through the real launcher and exits 0 when all pass', async (t) => {
  const run = await agentgate(['policy', 'test', join(policyFixture, 'cases.yaml')]);
  t.is(run.code, 0);
  t.regex(run.stdout, /^PASS {2}exec over WebSocket is not a read$/m);
  t.regex(run.stdout, /^9 passed, 0 failed$/m);
});

test('policy test exits 1 when a case fails and names it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases = join(dir, 'cases.yaml');
  await writeFile(cases, [
    'apiVersion: agentgate.io/v1alpha1', 'kind: AccessPolicyTest', `policy: ${join(policyFixture, 'policy.yaml')}`,
    'defaults:', '  identity: {connection: prod, namespace: payments, agent: reporter}', 'cases:',
    '  - name: exec is wrongly expected to be allowed', '    request: {method: POST, url: "/api/v1/namespaces/payments/pods/web-0/exec?command=sh"}', '    expect: {outcome: allow}', '',
  ].join('\n'));
  const run = await agentgateInProcess(['policy', 'test', cases]);
  t.is(run.code, exitCodes.failure.code);
  t.regex(run.stdout, /FAIL {2}exec is wrongly expected to be allowed/);
});

test('policy test exits 78 for an unreadable cases file', async (t) => {
  const run = await agentgateInProcess(['policy', 'test', '/nonexistent/cases.yaml']);
  t.is(run.code, exitCodes.config.code);
  t.regex(run.stdout, /^\/nonexistent\/cases\.yaml: cannot be read: ENOENT/);
});

test('a service with an invalid configuration exits 78 and prints every error, secrets redacted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  await writeFile(file, 'broker:\n  listen: {port: 0}\n  tls: {certFile: /tls/crt}\n');
  const run = await agentgate(['broker', '--config', file, '--broker.default-grant-ttl', '2'], { AGENTGATE_BROKER_REDIS_URL: 'http://:hunter2@redis' });
  t.is(run.code, 78);
  t.is(run.stdout, '');
  t.is(run.stderr, [
    'agentgate broker: invalid configuration (4 errors):',
    `  broker.listen.port: got 0 (from file ${file}); expected an integer port 1..65535`,
    '  broker.tls.keyFile: missing; expected a file path, required to start agentgate broker',
    '  broker.redisUrl: got [redacted] (from env AGENTGATE_BROKER_REDIS_URL); expected a URL starting with redis:// or rediss://',
    '  broker.defaultGrantTtl: got "2" (from flag --broker.default-grant-ttl); expected a duration such as 90s, 30m or 1h, between 1m and 12h',
    '',
  ].join('\n'));
});

const services: { name: string; env: Record<string, string>; args?: string[] }[] = [
  { name: 'gateway', env: { AGENTGATE_SIDECAR_BROKER_URL: 'https://b:8443', AGENTGATE_OIDC_ISSUER: 'https://idp.example', AGENTGATE_OIDC_AUDIENCE: 'agentgate' } },
];

for (const row of services) {
  test(`service ${row.name} with a valid configuration exits 69 until its issue lands`, async (t) => {
    const run = await (row.name === 'broker' ? agentgate : agentgateInProcess)([row.name, ...(row.args ?? [])], row.env);
    t.deepEqual(run, { code: 69, stdout: '', stderr: `agentgate ${row.name}: not available yet: arrives with the [${row.name}] issue\n` });
  });
}

test('the webhook outside a pod without a kubeconfig exits 1 and says what to set', async (t) => {
  const run = await agentgate(['webhook'], { AGENTGATE_WEBHOOK_SIDECAR_IMAGE: 'ghcr.io/example/agentgate:0.1.0' });
  t.is(run.code, 1);
  t.is(run.stderr, 'agentgate webhook: not running in a pod (no in-cluster API server address): set webhook.kubeconfig (AGENTGATE_WEBHOOK_KUBECONFIG) to a kubeconfig file\n');
});

test('the sidecar refuses a non-loopback API listener at start', async (t) => {
  const run = await agentgateInProcess(['sidecar', '--sidecar.api.host', '0.0.0.0'], { AGENTGATE_SIDECAR_BROKER_URL: 'https://b:8443' });
  t.is(run.code, 78);
  t.true(run.stderr.includes('sidecar.api.host: got "0.0.0.0" (from flag --sidecar.api.host); expected a loopback IP address (127.0.0.1 or ::1)'), run.stderr);
});
