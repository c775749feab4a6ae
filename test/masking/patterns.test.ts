// The pattern table on free text: each vendor format masked (only the secret part where the row
// says so), and look-alikes that must stay as they are.
import test from 'ava';
import { compilePatterns, SECRET_PATTERNS } from '../../src/masking/patterns.ts';
import { MASK_MARKER as M } from '../../src/masking/marker.ts';

const scanner = compilePatterns(SECRET_PATTERNS);
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZH\n';

const masked: Array<{ name: string; input: string; output: string }> = [
  // AWS.
  { name: 'AWS access key id', input: 'id AKIAIOSFODNN7EXAMPLE end', output: `id ${M} end` },
  { name: 'AWS temporary (STS) key id', input: 'ASIAY34FZKBOKMUTVV7A', output: M },
  { name: 'AWS secret key after its credentials-file name', input: 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', output: `aws_secret_access_key = ${M}` },
  { name: 'AWS secret key as JSON SecretAccessKey (STS response)', input: '{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', output: `{"SecretAccessKey": "${M}"}` },
  // Private keys.
  { name: 'PKCS#8 private key block: body only', input: `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}-----END PRIVATE KEY-----\n`, output: `-----BEGIN PRIVATE KEY-----\n${M}\n-----END PRIVATE KEY-----\n` },
  { name: 'OpenSSH private key in a JSON-escaped string', input: '"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjE=\\n-----END OPENSSH PRIVATE KEY-----"', output: `"-----BEGIN OPENSSH PRIVATE KEY-----${M}-----END OPENSSH PRIVATE KEY-----"` },
  { name: 'truncated private key: masked to the end', input: `key: -----BEGIN EC PRIVATE KEY-----\n${PEM_BODY}`, output: `key: -----BEGIN EC PRIVATE KEY-----\n${M}\n` },
  { name: 'PGP private key block', input: '-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----', output: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n${M}\n-----END PGP PRIVATE KEY BLOCK-----` },
  // Tokens with published prefixes.
  { name: 'JWT in a sentence', input: `token ${JWT} expired`, output: `token ${M} expired` },
  { name: 'GitHub classic PAT', input: 'ghp_16C7e42F292c6912E7710c838347Ae178B4a', output: M },
  { name: 'GitHub server-to-server token as a clone URL password', input: 'https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r.git', output: `https://x-access-token:${M}@github.com/o/r.git` },
  { name: 'GitHub fine-grained PAT', input: 'github_pat_11ABCDEFG0123456789abc_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456', output: M },
  { name: 'Slack bot token', input: 'SLACK=xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', output: `SLACK=${M}` },
  { name: 'Slack app-level token', input: 'xapp-1-A0123456789-1234567890123-0123456789abcdef', output: M },
  { name: 'Slack webhook URL: the path only', input: 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX', output: `https://hooks.slack.com/services/${M}` },
  { name: 'Google API key', input: 'key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe', output: `key=${M}` },
  { name: 'Stripe secret key', input: 'sk_live_51H8abcdefghijklmnopqrstuv', output: M },
  { name: 'Stripe webhook secret', input: 'whsec_abcdefghijklmnopqrstuvwxyz012345', output: M },
  { name: 'npm token in .npmrc', input: '//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789', output: `//registry.npmjs.org/:_authToken=${M}` },
  { name: 'GitLab personal access token', input: 'glpat-abcdefghij0123456789', output: M },
  { name: 'Anthropic API key', input: 'ANTHROPIC_API_KEY sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789', output: `ANTHROPIC_API_KEY ${M}` },
  { name: 'Bearer token in a logged header', input: 'Authorization: Bearer 0123456789abcdefghijKLMNOP', output: `Authorization: Bearer ${M}` },
  // Generic key=value and connection strings.
  { name: 'password= in a properties file', input: 'db.user=app\ndb.password=hunter2\n', output: `db.user=app\ndb.password=${M}\n` },
  { name: 'PASSWORD: in YAML, upper case', input: 'PASSWORD: hunter2', output: `PASSWORD: ${M}` },
  { name: 'quoted JSON value with a blank inside', input: '{"password": "correct horse", "user": "a"}', output: `{"password": "${M}", "user": "a"}` },
  { name: 'command-line flag', input: '--client-secret=abc123', output: `--client-secret=${M}` },
  { name: 'secret= in a query string, up to the &', input: '/cb?secret=s3cr3t&next=1', output: `/cb?secret=${M}&next=1` },
  { name: 'passwd in an env file', input: 'MYSQL_PASSWD=toor', output: `MYSQL_PASSWD=${M}` },
  { name: 'postgres URL: the password only', input: 'postgres://u:p@h/db', output: `postgres://u:${M}@h/db` },
  { name: 'redis URL with an empty user', input: 'redis://:s3cr3t@redis:6379/0', output: `redis://:${M}@redis:6379/0` },
  { name: 'mongodb+srv URL with options', input: 'mongodb+srv://admin:Pa55w0rd@cluster0.example.net/?retryWrites=true', output: `mongodb+srv://admin:${M}@cluster0.example.net/?retryWrites=true` },
  { name: 'two secrets in one string', input: 'a=AKIAIOSFODNN7EXAMPLE b=ghp_16C7e42F292c6912E7710c838347Ae178B4a', output: `a=${M} b=${M}` },
];

const kept: Array<{ name: string; input: string }> = [
  { name: 'a plain UUID', input: '550e8400-e29b-41d4-a716-446655440000' },
  { name: 'a git SHA', input: 'commit 9fceb02d0ae598e95dc970b74767f19372d61af8' },
  { name: 'an image digest', input: 'registry.example.com/web@sha256:3f1c9a0e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3' },
  { name: 'a certificate (public)', input: '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----' },
  { name: 'a URL with a port and an @ in its path', input: 'https://example.com:8443/users/@me' },
  { name: 'a URL with a port and an e-mail in its query', input: 'http://host:80/x?mail=a@b.c' },
  { name: 'a URL without credentials', input: 'https://kubernetes.default.svc:443/api' },
  { name: 'an e-mail address', input: 'mailto:ops@example.com' },
  { name: 'a time zone', input: 'TZ=Asia/Tokyo' },
  { name: 'a Stripe publishable key (public by design)', input: 'pk_live_51H8abcdefghijklmnopqrstuv' },
  { name: 'the word password in prose', input: 'the password must be rotated every 90 days' },
  { name: 'a field that names a secret', input: 'secretName=db-credentials-2' },
  { name: 'a service account token path', input: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
  { name: 'a JWT-like prefix alone', input: 'eyJhbGciOiJIUzI1NiJ9' },
  { name: 'an upper-case word that starts like an AWS id', input: 'ASIAPACIFICREGION' },
  { name: 'a base64 CA bundle', input: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJzekNDQVZtZ0F3SUJBZ0lVCg==' },
  { name: 'a ghp_ prefix too short to be a token', input: 'ghp_short' },
  { name: 'the marker itself after a key', input: `password=${M}` },
  { name: 'a masked private key block', input: `-----BEGIN PRIVATE KEY-----\n${M}\n-----END PRIVATE KEY-----` },
  { name: 'a container id', input: 'containerd://4f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3' },
];

for (const row of masked) {
  test(`masks ${row.name}`, (t) => {
    const result = scanner.mask(row.input);
    t.is(result.text, row.output);
    t.true(result.count >= 1);
    t.deepEqual(scanner.mask(result.text), { text: result.text, count: 0 }, 'masking is idempotent');
  });
}

for (const row of kept) {
  test(`keeps ${row.name}`, (t) => {
    t.deepEqual(scanner.mask(row.input), { text: row.input, count: 0 });
  });
}

test('every built-in row compiles, has pre-filter triggers and a unique id', (t) => {
  for (const p of SECRET_PATTERNS) {
    t.true(p.triggers.length > 0, p.id);
    t.notThrows(() => new RegExp(p.source), p.id);
  }
  t.is(new Set(SECRET_PATTERNS.map((p) => p.id)).size, SECRET_PATTERNS.length);
});

const hostile: Array<{ name: string; input: string }> = [
  { name: 'a long scheme-like run before "://"', input: 'a'.repeat(1_000_000) + '://x:' + 'b'.repeat(300) },
  { name: 'repeated JWT headers without dots', input: 'eyJ'.repeat(300_000) },
  { name: 'a private key BEGIN line repeated without END', input: '-----BEGIN PRIVATE KEY-----'.repeat(40_000) },
  { name: 'password keys followed by blanks only', input: 'password      '.repeat(70_000) },
  { name: 'bearer followed by a long run', input: 'Bearer ' + 'x'.repeat(1_000_000) + ' ' },
];
for (const row of hostile) {
  test(`scans in linear time: ${row.name}`, (t) => {
    // Quadratic backtracking would take minutes on a megabyte.
    const start = performance.now();
    scanner.mask(row.input);
    t.true(performance.now() - start < 2000, `took ${Math.round(performance.now() - start)} ms`);
  });
}
