// The logger never writes a credential: a table of hostile placements, each logged into an
// in-memory stream and checked for the secret; plus component, levels, request ids and pretty.
import test from 'ava';
import type { Logger } from 'pino';
import { createLogger, prettyLine, requestIdFrom, requestLogger } from '../../src/log/index.ts';

// Fake credentials shaped like real ones, so the masking rules are exercised for real.
const TOKEN = 'sk-9f8e7d6c5b4a39281706';
const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YSJ9.c2lnbmF0dXJlLXBhcnQ';
const SLACK = 'xoxb-1234567890-abcdefghij';
const PASSWORD = 'p4ssw0rd-zebra';
const SECRETS = [TOKEN, JWT, SLACK, PASSWORD, 'c2lnbmF0dXJlLXBhcnQ', 'czNjcjN0'];

function capture(level: 'info' | 'debug' = 'debug', pretty = false): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, pretty }, { write: (chunk: string) => void lines.push(chunk) }, 'test');
  return { logger, lines };
}

const hostile: { name: string; log: (logger: Logger) => void }[] = [
  // headers
  { name: 'authorization header at the top level', log: (l) => l.info({ authorization: `Bearer ${TOKEN}` }, 'call') },
  { name: 'Authorization header with capital A', log: (l) => l.info({ headers: { Authorization: `Bearer ${TOKEN}` } }, 'call') },
  { name: 'req.headers.authorization', log: (l) => l.info({ req: { headers: { authorization: `Bearer ${TOKEN}` } } }, 'call') },
  { name: 'header object nested four deep', log: (l) => l.info({ a: { b: { c: { headers: { AUTHORIZATION: `Bearer ${TOKEN}` } } } } }, 'deep') },
  { name: 'proxy-authorization and cookie', log: (l) => l.info({ headers: { 'proxy-authorization': `Basic ${TOKEN}`, cookie: `session=${TOKEN}` } }, 'c') },
  { name: 'raw header array', log: (l) => l.info({ rawHeaders: ['Authorization', `Bearer ${TOKEN}`] }, 'raw') },
  // token-like keys
  { name: 'token key', log: (l) => l.info({ token: TOKEN }, 't') },
  { name: 'token inside an array of objects', log: (l) => l.info({ grants: [{ id: 'g1', credential: { token: TOKEN } }, { id: 'g2', token: TOKEN }] }, 'grants') },
  { name: 'camelCase credential keys', log: (l) => l.info({ slack: { botToken: SLACK, signingSecret: PASSWORD }, oidc: { clientSecret: PASSWORD }, accessToken: TOKEN }, 'k') },
  { name: 'password key', log: (l) => l.info({ user: { name: 'a', password: PASSWORD } }, 'p') },
  { name: 'redis URL with a password', log: (l) => l.info({ redisUrl: `redis://default:${PASSWORD}@redis:6379/0` }, 'r') },
  { name: 'redis URL inside the config object', log: (l) => l.info({ config: { broker: { redisUrl: `rediss://:${PASSWORD}@redis:6380` } } }, 'cfg') },
  // Kubernetes objects
  { name: 'a Secret object', log: (l) => l.info({ object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: 'czNjcjN0' }, stringData: { key: PASSWORD } } }, 'secret') },
  { name: 'a SecretList item', log: (l) => l.info({ list: { kind: 'SecretList', items: [{ kind: 'Secret', data: { 'tls.key': 'czNjcjN0' } }] } }, 'list') },
  { name: 'a TokenRequest status', log: (l) => l.info({ response: { kind: 'TokenRequest', status: { token: JWT, expirationTimestamp: '2030-01-01T00:00:00Z' } } }, 'tr') },
  // messages and errors
  { name: 'JWT in the message', log: (l) => l.info(`verifying ${JWT} for pod a`) },
  { name: 'bearer token in the message', log: (l) => l.warn(`upstream refused Authorization: Bearer ${TOKEN}`) },
  { name: 'bearer token in a format argument', log: (l) => l.info('header %s', `Bearer ${TOKEN}`) },
  { name: 'Bearer x in an error message', log: (l) => l.error(new Error(`request failed with Bearer ${TOKEN}`)) },
  { name: 'error under err with a message', log: (l) => l.error({ err: new Error(`token ${JWT} expired`) }, 'failed') },
  { name: 'error nested under another key', log: (l) => l.error({ cause: new Error(`bad url https://u:${PASSWORD}@h/`) }, 'failed') },
  { name: 'error cause chain', log: (l) => l.error({ err: new Error('outer', { cause: new Error(`Bearer ${TOKEN}`) }) }, 'chain') },
  { name: 'Slack token in free text', log: (l) => l.info({ note: `posted with ${SLACK}` }, 'slack') },
  { name: 'token in a query string', log: (l) => l.info({ url: `https://issuer/cb?access_token=${TOKEN}&state=1` }, 'q') },
  { name: 'private key in a string', log: (l) => l.info({ pem: `-----BEGIN PRIVATE KEY-----\n${TOKEN}\n-----END PRIVATE KEY-----` }, 'pem') },
  // bindings
  { name: 'credential in child bindings', log: (l) => l.child({ headers: { authorization: `Bearer ${TOKEN}` }, session: JWT }).info('child') },
  { name: 'credential in a grandchild binding', log: (l) => l.child({ requestId: 'r1' }).child({ token: TOKEN, note: `Bearer ${TOKEN}` }).info('grandchild') },
  { name: 'circular object with a token', log: (l) => { const o: Record<string, unknown> = { token: TOKEN }; o.self = o; l.info({ o }, 'circ'); } },
];

for (const row of hostile) {
  test(`no credential in the log: ${row.name}`, (t) => {
    const { logger, lines } = capture();
    row.log(logger);
    t.is(lines.length, 1);
    const line = lines[0] ?? '';
    for (const secret of SECRETS) t.false(line.includes(secret), `${secret} leaked: ${line}`);
    t.regex(line, /REDACTED/);
    t.notThrows(() => JSON.parse(line));
  });
}

test('lines are JSON with component, level and message; harmless fields are kept', (t) => {
  const { logger, lines } = capture('info');
  logger.debug('not written');
  logger.info({ namespace: 'team-a', verb: 'get', tokenPath: '/var/run/token' }, 'decided');
  t.is(lines.length, 1);
  const entry = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  t.like(entry, { level: 30, component: 'test', msg: 'decided', namespace: 'team-a', verb: 'get', tokenPath: '/var/run/token' });
});

test('a Redis URL keeps its host and loses only its password', (t) => {
  const { logger, lines } = capture();
  logger.info({ redisUrl: `redis://default:${PASSWORD}@redis.agentgate:6379/0` }, 'connecting');
  t.is((JSON.parse(lines[0] ?? '') as { redisUrl: string }).redisUrl, 'redis://default:[REDACTED]@redis.agentgate:6379/0');
});

const requestIds: { name: string; header: string | undefined; kept: boolean }[] = [
  { name: 'a plain id is kept', header: 'req-123_abc.def:9', kept: true },
  { name: 'absent: a UUID is made', header: undefined, kept: false },
  { name: 'newline injection is replaced', header: 'a\n{"level":60}', kept: false },
  { name: 'an overlong id is replaced', header: 'x'.repeat(129), kept: false },
  { name: 'a JWT smuggled as id is replaced', header: JWT, kept: false },
];

for (const row of requestIds) {
  test(`request id: ${row.name}`, (t) => {
    const id = requestIdFrom(row.header === undefined ? {} : { 'X-Request-Id': row.header });
    if (row.kept) t.is(id, row.header ?? '');
    else t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
}

test('requestLogger binds the id to every line and reads fetch Headers too', (t) => {
  const { logger, lines } = capture();
  const bound = requestLogger(logger, new Headers({ 'x-request-id': 'abc-1' }));
  bound.logger.info('one');
  bound.logger.info('two');
  t.is(bound.requestId, 'abc-1');
  t.deepEqual(lines.map((line) => (JSON.parse(line) as { requestId: string }).requestId), ['abc-1', 'abc-1']);
});

test('pretty lines are readable and still masked', (t) => {
  const { logger, lines } = capture('info', true);
  logger.info({ verb: 'get', token: TOKEN }, `hello Bearer ${TOKEN}`);
  t.regex(lines[0] ?? '', /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[test\] hello Bearer \[REDACTED\] verb=get token=\[REDACTED\]\n$/);
  t.is(prettyLine('not json'), 'not json');
});
