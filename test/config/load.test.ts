// loadConfig: precedence of flags, environment, file and defaults; every error at once with
// exact messages; unknown fields; per-role required fields; secrets never echoed.
import test from 'ava';
import { formatConfigErrors, loadConfig, type ConfigError } from '../../src/config/index.ts';
import { configFile } from './helpers.ts';

function errorsOf(result: { ok: true } | { ok: false; errors: ConfigError[] }): ConfigError[] {
  return result.ok ? [] : result.errors;
}

test('defaults alone make a valid tool configuration', (t) => {
  const result = loadConfig({ role: 'tool' });
  if (!result.ok) return t.fail(formatConfigErrors(result.errors));
  t.is(result.config.log.level, 'info');
  t.is(result.config.log.pretty, false);
  t.is(result.config.broker.defaultGrantTtl, 30 * 60_000);
  t.is(result.config.sidecar.requestBodyLimit, 3 * 1024 * 1024);
  t.is(result.config.sidecar.api.host, '127.0.0.1');
  t.is(result.config.sidecar.health.host, '0.0.0.0');
  t.is(result.config.connection.mode, 'tokenrequest');
  t.is(result.config.webhook.sidecarResources.requests.cpu, '100m');
});

const precedence: { name: string; file: boolean; env: boolean; flag: boolean; level: 'info' | 'debug' | 'warn' | 'error' }[] = [
  { name: 'default when nothing is set', file: false, env: false, flag: false, level: 'info' },
  { name: 'file over default', file: true, env: false, flag: false, level: 'debug' },
  { name: 'env over file', file: true, env: true, flag: false, level: 'warn' },
  { name: 'flag over env and file', file: true, env: true, flag: true, level: 'error' },
  { name: 'flag over env', file: false, env: true, flag: true, level: 'error' },
  { name: 'flag over file', file: true, env: false, flag: true, level: 'error' },
];

for (const row of precedence) {
  test(`precedence: ${row.name}`, async (t) => {
    const file = await configFile(t, 'log:\n  level: debug\n');
    const result = loadConfig({
      role: 'tool',
      argv: [...(row.file ? ['--config', file] : []), ...(row.flag ? ['--log.level', 'error'] : [])],
      env: row.env ? { AGENTGATE_LOG_LEVEL: 'warn' } : {},
    });
    if (!result.ok) return t.fail(formatConfigErrors(result.errors));
    t.is(result.config.log.level, row.level);
  });
}

test('values are coerced by field type from env and flags, and durations become milliseconds', async (t) => {
  const file = await configFile(t, 'broker:\n  defaultGrantTtl: 1h\n  approvalTimeout: 90s\n');
  const result = loadConfig({
    role: 'tool',
    argv: ['--config', file, '--sidecar.decision-cache.max-entries', '5', '--log.pretty', '--sidecar.request-body-limit=512KiB'],
    env: { AGENTGATE_BROKER_LISTEN_PORT: '9000', AGENTGATE_SIDECAR_DECISION_CACHE_TTL: '1m30s', AGENTGATE_POD_IP: '10.0.0.7' },
  });
  if (!result.ok) return t.fail(formatConfigErrors(result.errors));
  t.is(result.config.broker.listen.port, 9000);
  t.is(result.config.broker.defaultGrantTtl, 3_600_000);
  t.is(result.config.broker.approvalTimeout, 90_000);
  t.is(result.config.sidecar.decisionCache.ttl, 90_000);
  t.is(result.config.sidecar.decisionCache.maxEntries, 5);
  t.is(result.config.sidecar.requestBodyLimit, 512 * 1024);
  t.is(result.config.log.pretty, true);
  t.is(result.config.sidecar.health.host, '10.0.0.7', 'health listener defaults to the pod IP');
});

test('--no-<flag> turns a boolean off over the file', async (t) => {
  const file = await configFile(t, 'log:\n  pretty: true\n');
  const result = loadConfig({ role: 'tool', argv: ['--config', file, '--no-log.pretty'] });
  t.true(result.ok && result.config.log.pretty === false);
});

const fileChoice: { name: string; env: Record<string, string>; flagFile: boolean; level: string }[] = [
  { name: 'AGENTGATE_CONFIG names the file', env: { AGENTGATE_CONFIG: 'A' }, flagFile: false, level: 'debug' },
  { name: '--config wins over AGENTGATE_CONFIG', env: { AGENTGATE_CONFIG: 'A' }, flagFile: true, level: 'trace' },
  { name: 'an empty AGENTGATE_CONFIG is unset', env: { AGENTGATE_CONFIG: '' }, flagFile: false, level: 'info' },
];

for (const row of fileChoice) {
  test(`config file: ${row.name}`, async (t) => {
    const a = await configFile(t, 'log: {level: debug}\n');
    const b = await configFile(t, 'log: {level: trace}\n');
    const env = Object.fromEntries(Object.entries(row.env).map(([k, v]) => [k, v === 'A' ? a : v]));
    const result = loadConfig({ role: 'tool', env, argv: row.flagFile ? ['--config', b] : [] });
    t.true(result.ok && result.config.log.level === row.level);
  });
}

const redisEnv: { name: string; env: Record<string, string>; url: string | undefined }[] = [
  { name: 'AGENTGATE_REDIS_URL is an alias', env: { AGENTGATE_REDIS_URL: 'redis://a:6379' }, url: 'redis://a:6379' },
  { name: 'the canonical name wins over the alias', env: { AGENTGATE_REDIS_URL: 'redis://a:6379', AGENTGATE_BROKER_REDIS_URL: 'rediss://b:6380' }, url: 'rediss://b:6380' },
  { name: 'an empty variable is unset', env: { AGENTGATE_BROKER_REDIS_URL: '' }, url: undefined },
  { name: 'service-link variables are ignored', env: { AGENTGATE_BROKER_PORT: 'tcp://10.0.0.1:8443', AGENTGATE_BROKER_SERVICE_HOST: '10.0.0.1' }, url: undefined },
];

for (const row of redisEnv) {
  test(`environment: ${row.name}`, (t) => {
    const result = loadConfig({ role: 'tool', env: row.env });
    if (!result.ok) return t.fail(formatConfigErrors(result.errors));
    t.is(result.config.broker.redisUrl, row.url);
  });
}

test('every error is reported at once, with field, value, source and expectation', async (t) => {
  const file = await configFile(t, [
    'broker:',
    '  listen: {port: "80"}',
    '  redisURL: redis://:hunter2@redis:6379',
    'sidecar:',
    '  requestBodyLimit: 3M',
    'webhook:',
    '  optOut: [{}, {namespace: Bad_NS}]',
    '  sidecarResources: {requests: {cpu: 50m}}',
    'conection: {}',
    '',
  ].join('\n'));
  const result = loadConfig({
    role: 'broker',
    argv: ['--config', file, '--sidecar.api.port', '70000', '--broker.default-grant-ttl', '30'],
    env: { AGENTGATE_LOG_LEVEL: 'loud', AGENTGATE_CONNECTION_MODE: 'eks', AGENTGATE_CONNECTION_REGION: 'eu-west-1' },
  });
  t.false(result.ok);
  t.is(formatConfigErrors(errorsOf(result)), [
    'invalid configuration (15 errors):',
    '  log.level: got "loud" (from env AGENTGATE_LOG_LEVEL); expected one of fatal, error, warn, info, debug, trace, silent',
    `  broker.listen.port: got "80" (from file ${file}); expected an integer port 1..65535`,
    '  broker.tls.certFile: missing; expected a file path, required to start agentgate broker',
    '  broker.tls.keyFile: missing; expected a file path, required to start agentgate broker',
    '  broker.redisUrl: missing; expected a URL starting with redis:// or rediss://, required to start agentgate broker',
    '  broker.defaultGrantTtl: got "30" (from flag --broker.default-grant-ttl); expected a duration such as 90s, 30m or 1h, between 1m and 12h',
    `  broker.redisURL: unknown field (from file ${file}); expected a field of broker: listen, tls, redisUrl, redisKeyPrefix, policyFile, defaultGrantTtl, approvalTimeout, auditSpoolDir (did you mean redisUrl?)`,
    '  sidecar.api.port: got 70000 (from flag --sidecar.api.port); expected an integer port 1..65535',
    `  sidecar.requestBodyLimit: got "3M" (from file ${file}); expected a size in bytes or with a binary unit (512KiB, 3MiB), between 1024 and 67108864 bytes`,
    `  webhook.sidecarResources.requests.cpu: got "50m" (from file ${file}); expected a CPU quantity such as 100m or 0.5, at least 100m`,
    `  webhook.optOut[1].namespace: got "Bad_NS" (from file ${file}); expected a DNS-1123 label: up to 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    `  webhook.optOut[0]: got {} (from file ${file}); expected a rule naming at least one of namespace, serviceAccount, podLabels: an empty rule would exempt every pod`,
    '  connection.roleArn: missing; expected an IAM role ARN such as arn:aws:iam::123456789012:role/agentgate, required when connection.mode is eks',
    "  connection.clusterName: missing; expected an EKS cluster name: up to 100 letters, digits, '-' and '_', starting with a letter or digit, required when connection.mode is eks",
    `  conection: unknown field (from file ${file}); expected a section: log, broker, sidecar, webhook, connection, slack, oidc, pod (did you mean connection?)`,
  ].join('\n'));
});
