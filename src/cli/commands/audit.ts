// `agentgate audit` and `agentgate audit verify`: read and check the audit trail in Redis
// (src/audit). Both take the broker's Redis from the configuration (AGENTGATE_BROKER_REDIS_URL).

import { defineCommand, type TextOut } from '../command.ts';
import { exitCodes, type ExitCode } from '../exit-codes.ts';

const FILTERS = ['agent', 'connection', 'namespace', 'pod-uid', 'target-namespace', 'verb', 'resource', 'outcome', 'code', 'grant', 'since', 'until'] as const;

function redisOf(config: { broker: { redisUrl?: string | undefined; redisKeyPrefix: string } }, stderr: TextOut, name: string): { redisUrl: string; keyPrefix: string } | undefined {
  if (!config.broker.redisUrl) {
    stderr.write(`agentgate ${name}: broker.redisUrl is not set: set AGENTGATE_BROKER_REDIS_URL (or broker.redisUrl in the --config file) to the broker's Redis\n`);
    return undefined;
  }
  return { redisUrl: config.broker.redisUrl, keyPrefix: config.broker.redisKeyPrefix };
}

function exitOf(code: 0 | 1 | 2): ExitCode {
  return code === 0 ? exitCodes.ok.code : code === 2 ? exitCodes.usage.code : exitCodes.failure.code;
}

/** Prints audit events matching the filters, as text or JSON lines. */
export const auditCommand = defineCommand<'tool'>({
  name: 'audit',
  summary: 'read audit events',
  usage: '[--agent A] [--namespace N] [--since 1h] [--verb V] [--outcome allow|approval-required|deny] [--json]',
  description: 'Filters combine with AND. --since and --until take a duration back from now (1h, 30m) or an RFC 3339 time. Exits 0, 1 when the audit store cannot be read, 2 for a bad filter.',
  group: 'tool',
  role: 'tool',
  flags: {
    agent: { type: 'string', value: 'NAME', description: 'the agent (its original service account unless mapped)' },
    connection: { type: 'string', value: 'NAME', description: 'the cluster connection' },
    namespace: { type: 'string', value: 'NS', description: "the agent's own namespace" },
    'pod-uid': { type: 'string', value: 'UID', description: 'one pod of the agent' },
    'target-namespace': { type: 'string', value: 'NS', description: 'the namespace the requests addressed' },
    verb: { type: 'string', value: 'VERB', description: 'get, list, watch, create, ...' },
    resource: { type: 'string', value: 'RESOURCE', description: 'e.g. pods, secrets' },
    outcome: { type: 'string', value: 'OUTCOME', description: 'allow, approval-required or deny' },
    code: { type: 'string', value: 'CODE', description: 'reason code of the decision' },
    grant: { type: 'string', value: 'ID', description: 'events under one grant' },
    since: { type: 'string', value: 'WHEN', description: 'from (1h, 30m or an RFC 3339 time)' },
    until: { type: 'string', value: 'WHEN', description: 'up to (1h, 30m or an RFC 3339 time)' },
    limit: { type: 'string', value: 'N', description: 'at most N events' },
    json: { type: 'boolean', description: 'JSON lines instead of text' },
  },
  async run({ values, config, stdout, stderr }) {
    const redis = redisOf(config, stderr, 'audit');
    if (!redis) return exitCodes.config.code;
    const filters: Record<string, string> = {};
    const names: Record<(typeof FILTERS)[number], string> = { agent: 'agent', connection: 'connection', namespace: 'namespace', 'pod-uid': 'podUid', 'target-namespace': 'targetNamespace', verb: 'verb', resource: 'resource', outcome: 'outcome', code: 'code', grant: 'grantId', since: 'since', until: 'until' };
    for (const flag of FILTERS) if (typeof values[flag] === 'string') filters[names[flag]] = values[flag];
    let limit: number | undefined;
    if (typeof values.limit === 'string') {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        stderr.write(`agentgate audit: --limit must be a whole number of at least 1\n`);
        return exitCodes.usage.code;
      }
    }
    const { auditCommand: run } = await import('../../audit/cli.ts');
    const result = await run({ ...redis, filters, output: values.json === true ? 'json' : 'text', ...(limit ? { limit } : {}) });
    stdout.write(result.stdout);
    stderr.write(result.stderr);
    return exitOf(result.exitCode);
  },
});

/** Checks the hash chain of the audit trail. */
export const auditVerifyCommand = defineCommand<'tool'>({
  name: 'audit verify',
  summary: 'verify that the audit trail is complete and untampered',
  usage: '[--json]',
  description: 'Walks the hash chain: an edited, deleted or reordered event is reported with its id; trimming by retention leaves a marker and is accepted. Exits 0 when intact, 1 when broken or unreadable.',
  group: 'tool',
  role: 'tool',
  flags: { json: { type: 'boolean', description: 'print the result as JSON' } },
  async run({ values, config, stdout, stderr }) {
    const redis = redisOf(config, stderr, 'audit verify');
    if (!redis) return exitCodes.config.code;
    const { auditVerifyCommand: run } = await import('../../audit/cli.ts');
    const result = await run({ ...redis, output: values.json === true ? 'json' : 'text' });
    stdout.write(result.stdout);
    stderr.write(result.stderr);
    return exitOf(result.exitCode);
  },
});
