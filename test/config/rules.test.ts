// Configuration rules: secrets never echoed, unknown fields and flags refused, cross-field
// rules, the loopback-only API listener, and the fields each role requires.
import test from 'ava';
import { configFields, envNameOf, flagNameOf, formatConfigErrors, loadConfig, type ConfigError, type ConfigRole } from '../../src/config/index.ts';
import { configFile } from './helpers.ts';

function errorsOf(result: { ok: true } | { ok: false; errors: ConfigError[] }): ConfigError[] {
  return result.ok ? [] : result.errors;
}

const SECRET = 'hunter2-s3cr3t';

const secretPlacements: { name: string; file?: string; env?: Record<string, string>; argv?: string[]; path: string }[] = [
  { name: 'invalid redis URL in env', env: { AGENTGATE_BROKER_REDIS_URL: `http://user:${SECRET}@redis` }, path: 'broker.redisUrl' },
  { name: 'invalid redis URL through the alias', env: { AGENTGATE_REDIS_URL: `redis//:${SECRET}@redis` }, path: 'broker.redisUrl' },
  { name: 'malformed bot token in the file', file: `slack:\n  botToken: ${SECRET}\n  signingSecret: abcdef0123456789\n`, path: 'slack.botToken' },
  { name: 'malformed signing secret in env', env: { AGENTGATE_SLACK_SIGNING_SECRET: SECRET, AGENTGATE_SLACK_BOT_TOKEN: 'xoxb-1' }, path: 'slack.signingSecret' },
  { name: 'whole section given as a string', file: `slack: ${SECRET}\n`, path: 'slack' },
  { name: 'misspelt secret field', file: `slack:\n  botTokn: xoxb-${SECRET}\n`, path: 'slack.botTokn' },
  { name: 'secret passed as a flag', argv: ['--broker.redis-url', `redis://:${SECRET}@redis`], path: '--broker.redis-url' },
  { name: 'secret passed as an inline flag', argv: [`--slack.bot-token=xoxb-${SECRET}`], path: '--slack.bot-token' },
  { name: 'YAML syntax error on a secret line', file: `slack:\n  botToken: "xoxb-${SECRET}\n  x: [\n`, path: '' },
  { name: 'secret inside a list item of a section', file: `slack:\n  - ${SECRET}\n`, path: 'slack' },
];

for (const row of secretPlacements) {
  test(`secrets are never echoed: ${row.name}`, async (t) => {
    const argv = [...(row.file === undefined ? [] : ['--config', await configFile(t, row.file)]), ...(row.argv ?? [])];
    const result = loadConfig({ role: 'tool', argv, env: row.env ?? {} });
    const text = formatConfigErrors(errorsOf(result));
    t.false(result.ok);
    t.false(text.includes(SECRET), text);
    if (row.path !== '') t.true(errorsOf(result).some((error) => error.path === row.path), text);
  });
}

const unknownNames: { name: string; file?: string; argv?: string[]; line: string }[] = [
  { name: 'misspelt section', file: 'brokr: {}\n', line: 'brokr: unknown field (from file F); expected a section: log, broker, sidecar, webhook, connection, slack, oidc, pod (did you mean broker?)' },
  { name: 'misspelt nested field', file: 'broker:\n  listen: {prot: 1}\n', line: 'broker.listen.prot: unknown field (from file F); expected a field of broker.listen: host, port (did you mean port?)' },
  { name: 'case typo', file: 'oidc: {clientID: x}\n', line: 'oidc.clientID: unknown field (from file F); expected a field of oidc: issuer, clientId, audience (did you mean clientId?)' },
  { name: 'field inside a list item', file: 'webhook:\n  optOut: [{namespce: a, serviceAccount: bot}]\n', line: 'webhook.optOut[0].namespce: unknown field (from file F); expected a field of webhook.optOut[]: namespace, serviceAccount, podLabels (did you mean namespace?)' },
  { name: 'unrelated name gets no suggestion', file: 'log: {colour: true}\n', line: 'log.colour: unknown field (from file F); expected a field of log: level, pretty' },
  { name: 'unknown flag', argv: ['--log.levle', 'debug'], line: '--log.levle: unknown flag (from command line); expected a configuration flag (see agentgate --help)' },
  { name: 'negated non-boolean flag', argv: ['--no-log.level'], line: '--no-log.level: unknown flag (from command line); expected a configuration flag (see agentgate --help)' },
  { name: 'flag without its value', argv: ['--log.level'], line: 'log.level: missing (from flag --log.level); expected one of fatal, error, warn, info, debug, trace, silent after --log.level' },
];

for (const row of unknownNames) {
  test(`unknown names are errors: ${row.name}`, async (t) => {
    const file = row.file === undefined ? undefined : await configFile(t, row.file);
    const result = loadConfig({ role: 'tool', argv: [...(file ? ['--config', file] : []), ...(row.argv ?? [])] });
    const lines = formatConfigErrors(errorsOf(result)).split('\n').slice(1).map((line) => line.trim());
    t.deepEqual(lines, [row.line.replace('file F', `file ${file}`)]);
  });
}

test('a missing configuration file and a non-mapping file are errors naming the file', async (t) => {
  const listFile = await configFile(t, '- a\n- b\n');
  const missing = `${listFile}.absent`;
  const result = loadConfig({ role: 'tool', argv: ['--config', missing] });
  t.deepEqual(errorsOf(result), [{ path: missing, problem: 'invalid', expected: 'a readable YAML file (ENOENT)', source: 'configuration file' }]);
  const list = loadConfig({ role: 'tool', env: { AGENTGATE_CONFIG: listFile } });
  t.deepEqual(errorsOf(list).map((e) => e.expected), ['a YAML mapping at the top level']);
  const duplicate = loadConfig({ role: 'tool', argv: ['--config', await configFile(t, 'log: {}\nlog: {}\n')] });
  t.deepEqual(errorsOf(duplicate).map((e) => e.expected), ['valid YAML (DUPLICATE_KEY at line 2, column 1)']);
});

const crossField: { name: string; yaml: string; errors: string[] }[] = [
  // connection modes
  { name: 'eks needs role, region and cluster', yaml: 'connection: {mode: eks}', errors: ['connection.roleArn', 'connection.region', 'connection.clusterName'] },
  { name: 'eks complete', yaml: 'connection: {mode: eks, roleArn: "arn:aws:iam::123456789012:role/agentgate", region: eu-west-1, clusterName: prod}', errors: [] },
  { name: 'tokenrequest refuses eks fields', yaml: 'connection: {region: eu-west-1}', errors: ['connection.region'] },
  // listeners
  { name: 'health port equal to API port', yaml: 'sidecar: {api: {port: 9000}, health: {port: 9000}}', errors: ['sidecar.health.port'] },
  // pairs
  { name: 'Slack bot token without signing secret', yaml: 'slack: {botToken: xoxb-1-2}', errors: ['slack.signingSecret'] },
  { name: 'Slack signing secret without bot token', yaml: 'slack: {signingSecret: 0123456789abcdef}', errors: ['slack.botToken'] },
  { name: 'webhook key without certificate', yaml: 'webhook: {tls: {keyFile: /k}}', errors: ['webhook.tls.certFile'] },
  // sidecar resources and opt-out
  { name: 'CPU request below 100m', yaml: 'webhook: {sidecarResources: {requests: {cpu: 99m}}}', errors: ['webhook.sidecarResources.requests.cpu'] },
  { name: 'CPU limit below request', yaml: 'webhook: {sidecarResources: {requests: {cpu: 200m}, limits: {cpu: 150m}}}', errors: ['webhook.sidecarResources.limits.cpu'] },
  { name: 'CPU request in cores', yaml: 'webhook: {sidecarResources: {requests: {cpu: "0.25"}}}', errors: [] },
  { name: 'empty opt-out rule', yaml: 'webhook: {optOut: [{namespace: tools}, {}]}', errors: ['webhook.optOut[1]'] },
  // durations given as numbers are ambiguous
  { name: 'grant TTL as a bare number', yaml: 'broker: {defaultGrantTtl: 30}', errors: ['broker.defaultGrantTtl'] },
  { name: 'grant TTL above 12h', yaml: 'broker: {defaultGrantTtl: 13h}', errors: ['broker.defaultGrantTtl'] },
  { name: 'URL with the wrong scheme', yaml: 'sidecar: {upstream: {url: "http://kubernetes.default.svc"}}', errors: ['sidecar.upstream.url'] },
  { name: 'plain http to a loopback broker', yaml: 'sidecar: {brokerUrl: "http://127.0.0.1:8443"}', errors: [] },
  { name: 'plain http to a remote broker', yaml: 'sidecar: {brokerUrl: "http://broker:8443"}', errors: ['sidecar.brokerUrl'] },
];

for (const row of crossField) {
  test(`rules: ${row.name}`, async (t) => {
    const result = loadConfig({ role: 'tool', argv: ['--config', await configFile(t, `${row.yaml}\n`)] });
    t.deepEqual(errorsOf(result).map((error) => error.path), row.errors, formatConfigErrors(errorsOf(result)));
  });
}

const apiHosts: { name: string; host: string; ok: boolean }[] = [
  { name: '127.0.0.1', host: '127.0.0.1', ok: true },
  { name: '::1', host: '::1', ok: true },
  { name: 'all interfaces', host: '0.0.0.0', ok: false },
  { name: 'all IPv6 interfaces', host: '::', ok: false },
  { name: 'a pod IP', host: '10.244.0.12', ok: false },
  { name: 'the name localhost', host: 'localhost', ok: false },
];

for (const row of apiHosts) {
  test(`sidecar API listener is loopback only: ${row.name}`, (t) => {
    const result = loadConfig({ role: 'tool', env: { AGENTGATE_SIDECAR_API_HOST: row.host } });
    t.is(result.ok, row.ok);
    if (!row.ok) {
      t.deepEqual(errorsOf(result), [{
        path: 'sidecar.api.host',
        problem: 'invalid',
        value: JSON.stringify(row.host),
        expected: 'a loopback IP address (127.0.0.1 or ::1): this listener must not be reachable from outside the pod',
        source: 'env AGENTGATE_SIDECAR_API_HOST',
      }]);
    }
  });
}

const roles: { role: ConfigRole; missing: string[] }[] = [
  { role: 'tool', missing: [] },
  { role: 'broker', missing: ['broker.tls.certFile', 'broker.tls.keyFile', 'broker.redisUrl'] },
  { role: 'sidecar', missing: ['sidecar.brokerUrl'] },
  { role: 'gateway', missing: ['sidecar.brokerUrl', 'oidc.issuer', 'oidc.audience'] },
  // Without certificate files the webhook bootstraps its own TLS, so only the image is required.
  { role: 'webhook', missing: ['webhook.sidecarImage'] },
];

for (const row of roles) {
  test(`role ${row.role} requires exactly its own fields`, (t) => {
    const errors = errorsOf(loadConfig({ role: row.role }));
    t.deepEqual(errors.map((error) => error.path), row.missing);
    t.true(errors.every((error) => error.problem === 'missing' && error.expected.endsWith(`required to start agentgate ${row.role}`)));
  });
}

test('a complete broker configuration types its required fields as present', (t) => {
  const result = loadConfig({
    role: 'broker',
    env: { AGENTGATE_BROKER_REDIS_URL: 'rediss://:pw@redis:6380/0', AGENTGATE_BROKER_TLS_CERT_FILE: '/tls/tls.crt', AGENTGATE_BROKER_TLS_KEY_FILE: '/tls/tls.key' },
  });
  if (!result.ok) return t.fail(formatConfigErrors(result.errors));
  const url: string = result.config.broker.redisUrl;
  t.is(url, 'rediss://:pw@redis:6380/0');
});

test('naming rule: AGENTGATE_ + upper snake of the dotted path, flags in kebab case, no collisions', (t) => {
  t.is(envNameOf('broker.redisUrl'), 'AGENTGATE_BROKER_REDIS_URL');
  t.is(envNameOf('sidecar.decisionCache.maxEntries'), 'AGENTGATE_SIDECAR_DECISION_CACHE_MAX_ENTRIES');
  t.is(flagNameOf('sidecar.decisionCache.maxEntries'), 'sidecar.decision-cache.max-entries');
  t.is(new Set(configFields.map((field) => field.env)).size, configFields.length);
  t.deepEqual(configFields.filter((field) => field.secret).map((field) => [field.path, field.flag]), [
    ['broker.redisUrl', undefined],
    ['slack.botToken', undefined],
    ['slack.signingSecret', undefined],
  ]);
});
