// runCli in-process with a command added to the real table: runtime failures exit 1 with a
// masked message, UsageError exits 2, and a command with a role receives its typed config.
import test from 'ava';
import { defineCommand, UsageError, type Command } from '../../src/cli/command.ts';
import { commands } from '../../src/cli/commands/index.ts';
import { runCli } from '../../src/cli/run.ts';

function io(extra: readonly Command[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env, commands: [...commands, ...extra] },
  };
}

const failing = defineCommand({
  name: 'explode',
  summary: 'fail at run time',
  usage: '[--usage]',
  group: 'other',
  flags: { usage: { type: 'boolean', description: 'fail with a usage error instead' } },
  run({ values }) {
    if (values.usage === true) throw new UsageError('needs a target');
    throw new Error('upstream said 401 to Authorization: Bearer sk-live-secret-123');
  },
});

test('a runtime failure exits 1 with the message masked', async (t) => {
  const run = io([failing]);
  t.is(await runCli(['explode'], run.io), 1);
  t.deepEqual(run.err, ['agentgate explode: upstream said 401 to Authorization: Bearer [REDACTED]\n']);
});

test('a UsageError thrown by a command exits 2', async (t) => {
  const run = io([failing]);
  t.is(await runCli(['explode', '--usage'], run.io), 2);
  t.deepEqual(run.err, ["agentgate explode: needs a target\nRun 'agentgate explode --help' for usage.\n"]);
});

test('a command with a role receives its validated configuration and its own flags apart', async (t) => {
  let seen: unknown;
  const probe = defineCommand<'sidecar'>({
    name: 'probe',
    summary: 'report the configuration',
    usage: '[flags] NAME',
    group: 'other',
    role: 'sidecar',
    positionals: { min: 1, max: 1 },
    flags: { verbose: { type: 'boolean', short: 'v', description: 'more' } },
    run({ config, values, positionals }) {
      seen = { port: config.sidecar.api.port, broker: config.sidecar.brokerUrl, ttl: config.sidecar.decisionCache.ttl, values, positionals };
      return 0;
    },
  });
  const run = io([probe], { AGENTGATE_SIDECAR_BROKER_URL: 'https://broker:8443' });
  t.is(await runCli(['probe', '-v', '--sidecar.api.port', '18000', '--sidecar.decision-cache.ttl=1m', 'x'], run.io), 0, run.err.join(''));
  t.deepEqual(seen, { port: 18000, broker: 'https://broker:8443', ttl: 60_000, values: { verbose: true }, positionals: ['x'] });
  t.is(await runCli(['probe'], run.io), 2);
  t.true(run.err.at(-1)?.startsWith('agentgate probe: expected at least 1 argument ([flags] NAME)\n'));
});
