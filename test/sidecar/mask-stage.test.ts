// The real mask stage against a scripted upstream, by raw HTTPS from the agent's side: every kind
// of answer (objects, Tables, errors, answers to writes, text, untyped bodies, watch events) comes
// back masked or as a 502, never raw; discovery passes untouched. And request bodies: the marker
// is refused in every encoding a client may send (JSON, YAML, protobuf bytes, gzip), compressed
// bodies are forwarded decoded, and encodings that cannot be read are refused.
import { deflateSync, gzipSync } from 'node:zlib';
import test from 'ava';
import { defaultMaskingRules, MASK_MARKER, MASK_MARKER_BASE64 } from '../../src/masking/index.ts';
import { accessRequestCommand } from '../../sidecar/decide.ts';
import { createMaskResponse } from '../../sidecar/masking.ts';
import { parseAccessRequestObjectInput } from '../../src/contracts/index.ts';
import { parseRequest } from '../../src/request/index.ts';
import { GRANT_TOKEN, grantPodReads, startWorld, until, type World } from './harness.ts';
import { startScriptedUpstream, type ScriptedUpstream } from './upstream.ts';

let scripted: ScriptedUpstream;
let world: World;
test.before(async () => {
  scripted = await startScriptedUpstream();
  world = await startWorld({ upstreamUrl: scripted.url, deps: { maskResponse: createMaskResponse({ rules: defaultMaskingRules }), brokerTimeoutMs: 3000 } });
  grantPodReads(world);
  world.broker.addGrant({ id: 'g-secrets', rules: [{ verbs: ['*'], apiGroups: [''], resources: ['secrets', 'configmaps'] }], namespaces: ['agents'], token: GRANT_TOKEN });
  world.broker.table.push({ name: 'secrets', when: (a) => a.resource === 'secrets' || a.resource === 'configmaps', outcome: 'allow', grantId: 'g-secrets', cacheForMs: 60_000 });
});
test.after.always(async () => {
  await world?.close();
  await scripted?.close();
});

const REAL = Buffer.from('hunter2-real').toString('base64');
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, type: 'Opaque', data: { password: REAL } };
const reason = (body: string): string => (JSON.parse(body) as { details?: { causes?: Array<{ reason?: string }> } }).details?.causes?.[0]?.reason ?? '';
const auth = async (): Promise<Record<string, string>> => ({ authorization: `Bearer ${await world.token()}` });

test.serial('answers of every kind come back masked, with their status code', async (t) => {
  const headers = await auth();
  const json = { 'content-type': 'application/json' };
  const rows: Array<{ name: string; method?: string; path: string; code: number; type?: string; body: string; shows: string }> = [
    { name: 'a Secret', path: '/api/v1/namespaces/agents/secrets/s', code: 200, type: 'application/json', body: JSON.stringify(SECRET), shows: MASK_MARKER_BASE64 },
    { name: 'the answer to a create', method: 'POST', path: '/api/v1/namespaces/agents/secrets', code: 201, type: 'application/json', body: JSON.stringify(SECRET), shows: MASK_MARKER_BASE64 },
    { name: 'an error Status quoting a key', path: '/api/v1/namespaces/agents/configmaps/c', code: 404, type: 'application/json', body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `configmaps "c" not found near ${AWS_KEY}`, reason: 'NotFound', code: 404 }), shows: `not found near ${MASK_MARKER}` },
    {
      name: 'a Table with the objects embedded',
      path: '/api/v1/namespaces/agents/secrets?includeObject=Object',
      code: 200,
      type: 'application/json',
      body: JSON.stringify({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Password' }], rows: [{ cells: ['s', Buffer.from(REAL, 'base64').toString()], object: SECRET }] }),
      shows: `"cells":["s","${MASK_MARKER}"]`,
    },
    { name: 'plain text with a key', path: '/api/v1/namespaces/agents/pods/web-0/log', code: 200, type: 'text/plain', body: `line one\naws_key=${AWS_KEY}\n`, shows: `aws_key=${MASK_MARKER}` },
    { name: 'a JSON body without a content type', path: '/api/v1/namespaces/agents/secrets/s', code: 200, body: JSON.stringify(SECRET), shows: MASK_MARKER_BASE64 },
    { name: 'a merge-patch answer (+json)', method: 'PATCH', path: '/api/v1/namespaces/agents/secrets/s', code: 200, type: 'application/merge-patch+json', body: JSON.stringify(SECRET), shows: MASK_MARKER_BASE64 },
  ];
  for (const row of rows) {
    scripted.respond = (_q, res) => void res.writeHead(row.code, row.type ? { 'content-type': row.type } : {}).end(row.body);
    const reply = await world.call(row.method ?? 'GET', row.path, { headers: { ...headers, ...(row.method ? json : {}) }, ...(row.method ? { body: '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"}}' } : {}) });
    t.is(reply.status, row.code, `${row.name}: ${reply.body}`);
    t.false(reply.body.includes(REAL) || reply.body.includes('hunter2-real') || reply.body.includes(AWS_KEY), `${row.name} leaks: ${reply.body}`);
    t.true(reply.body.includes(row.shows), `${row.name}: ${reply.body}`);
  }
});

test.serial('a pod log read with limitBytes, cut by the kubelet inside a secret, shows none of it', async (t) => {
  const headers = await auth();
  const log = 'boot\nconnecting to postgres://app:S3cr3t-Pa55w0rd@db:5432/app\n{"level":"info","password":"An0ther-S3cret"}\n';
  for (const secret of ['S3cr3t-Pa55w0rd', 'An0ther-S3cret']) {
    const at = log.indexOf(secret);
    for (const cut of [at + 6, at + secret.length - 1, at + secret.length]) {
      // The kubelet honours limitBytes: the answer ends after `cut` bytes, mid-line.
      scripted.respond = (q, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end(log.slice(0, Number(new URL(q.url, 'https://x').searchParams.get('limitBytes'))));
      const reply = await world.call('GET', `/api/v1/namespaces/agents/pods/web-0/log?limitBytes=${cut}`, { headers });
      t.is(reply.status, 200);
      t.false(reply.body.includes(secret.slice(0, 6)), `cut at ${cut}: ${reply.body}`);
      t.true(reply.body.startsWith('boot\n'), 'the lines before come as they were');
    }
  }
});

test.serial('a streamed proxy answer (an event stream) is cut when its grant ends, as watches and followed logs are', async (t) => {
  const headers = await auth();
  const grant = world.broker.addGrant({ id: 'g-proxy', rules: [{ verbs: ['get'], apiGroups: [''], resources: ['services/proxy'] }], namespaces: ['agents'], token: GRANT_TOKEN, ttlMs: 1500 });
  world.broker.table.push({ name: 'proxy', when: (a) => a.resource === 'services' && a.subresource === 'proxy', outcome: 'allow', grantId: 'g-proxy' });
  // Its expiry as written (whole seconds, as Kubernetes writes times), on this process's clock.
  const grantEndsAt = performance.now() + Date.parse(grant.expiresAt) - Date.now();
  let upstreamClosedAt = 0;
  scripted.respond = (_q, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let tick = 0;
    const timer = setInterval(() => res.write(`data: tick ${++tick}\n\n`), 100);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosedAt = performance.now();
    });
  };
  const reply = await Promise.race([
    world.call('GET', '/api/v1/namespaces/agents/services/web:80/proxy/events', { headers }),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 6000)),
  ]);
  const endedAt = performance.now();
  if (reply === undefined) return t.fail('the stream was still open 6 s after the request, its grant of at most 1.5 s long over');
  t.is(reply.status, 200);
  t.true(reply.body.includes('data: tick 1\n'), reply.body.slice(0, 100));
  t.true(endedAt - grantEndsAt > -50 && endedAt - grantEndsAt < 1000, `cut ${Math.round(endedAt - grantEndsAt)} ms after the grant ended`);
  await until(() => upstreamClosedAt > 0, 3000, 'the upstream stream closed');
  t.true(upstreamClosedAt - grantEndsAt < 1000, 'and its upstream request with it');
});

test.serial('response headers are masked too: a proxied backend\'s own, and a Warning that quotes an object', async (t) => {
  const headers = await auth();
  const token = `ghp_${'A1b2C3d4E5'.repeat(3)}f6G7h8`;
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
  scripted.respond = (_q, res) => {
    res.setHeader('x-upstream-token', token);
    res.setHeader('set-cookie', [`session=${jwt}; HttpOnly`, 'theme=dark']);
    res.setHeader('warning', '299 - "password=hunter2-in-a-warning"');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello\n');
  };
  const reply = await world.call('GET', '/api/v1/namespaces/agents/pods/web-0/log', { headers });
  t.is(reply.status, 200);
  t.is(reply.body, 'hello\n');
  const all = JSON.stringify(reply.headers);
  for (const secret of [token, jwt, 'hunter2-in-a-warning']) t.false(all.includes(secret), `${secret} in ${all}`);
  t.is(reply.headers['x-upstream-token'], MASK_MARKER);
  t.deepEqual(reply.headers['set-cookie'], [`session=${MASK_MARKER}; HttpOnly`, 'theme=dark']);
  t.is(reply.headers.warning, `299 - "password=${MASK_MARKER}"`);
});

test.serial('answers that cannot be masked are a 502 Status, never the raw bytes', async (t) => {
  const headers = await auth();
  const rows: Array<{ name: string; type?: string; body: string; path?: string }> = [
    { name: 'truncated JSON', type: 'application/json', body: `{"kind":"Secret","data":{"password":"${REAL}"` },
    { name: 'untyped body that starts like JSON but is not', body: `{"kind":"Secret","data":{"password":"${REAL}"}` + '}}' },
  ];
  for (const row of rows) {
    scripted.respond = (_q, res) => void res.writeHead(200, row.type ? { 'content-type': row.type } : {}).end(row.body);
    const reply = await world.call('GET', row.path ?? '/api/v1/namespaces/agents/secrets/s', { headers });
    t.false(reply.body.includes(REAL), `${row.name} leaks: ${reply.body}`);
    t.is(reply.status, 502, row.name);
    t.is(reason(reply.body), 'mask-failed', row.name);
  }
  // A watch sent its head at once: an event that cannot be masked cuts the connection instead.
  scripted.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"type":"ADDED","object":{"kind":"Secret","data":{"password":"${REAL}"}}\n`);
  await t.throwsAsync(world.call('GET', '/api/v1/namespaces/agents/secrets?watch=true', { headers }), { message: 'aborted' });
});

test.serial('discovery documents pass through as they are, unmasked', async (t) => {
  const headers = await auth();
  // Discovery holds no secrets; a look-alike string in it is left alone (and the bytes are exact).
  const body = JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1', resources: [], note: `example ${AWS_KEY}` });
  scripted.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  const reply = await world.call('GET', '/api/v1', { headers });
  t.is(reply.status, 200);
  t.is(reply.body, body);
});

test.serial('request bodies: the marker is refused in every form; compressed bodies are checked and forwarded decoded', async (t) => {
  const headers = await auth();
  const secret = (value: string): string => JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, data: { password: value } });
  const protobuf = Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0a]), Buffer.from(`v1\x12\x06Secret\x1a\x15${MASK_MARKER}`, 'latin1')]);
  const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20));
  const rows: Array<{ name: string; type: string; encoding?: string; body: Buffer; status: number; code?: string; forwarded?: string }> = [
    { name: 'JSON with the masked value', type: 'application/json', body: Buffer.from(secret(MASK_MARKER_BASE64)), status: 400, code: 'masked-value-write-back' },
    { name: 'apply-patch YAML', type: 'application/apply-patch+yaml', body: Buffer.from(`kind: Secret\nstringData:\n  password: ${MASK_MARKER}\n`), status: 400, code: 'masked-value-write-back' },
    { name: 'protobuf bytes', type: 'application/vnd.kubernetes.protobuf', body: protobuf, status: 400, code: 'masked-value-write-back' },
    { name: 'gzip JSON with the masked value', type: 'application/json', encoding: 'gzip', body: gzipSync(secret(MASK_MARKER_BASE64)), status: 400, code: 'masked-value-write-back' },
    { name: 'deflate JSON with the masked value', type: 'application/json', encoding: 'deflate', body: deflateSync(secret(MASK_MARKER_BASE64)), status: 400, code: 'masked-value-write-back' },
    { name: 'gzip JSON with a real value is forwarded decoded', type: 'application/json', encoding: 'GZip', body: gzipSync(secret(REAL)), status: 201, forwarded: secret(REAL) },
    { name: 'brotli is not read, so it is refused', type: 'application/json', encoding: 'br', body: Buffer.from('x'), status: 415, code: 'body-encoding-unsupported' },
    { name: 'stacked encodings are refused', type: 'application/json', encoding: 'gzip, gzip', body: gzipSync(gzipSync('{}')), status: 415, code: 'body-encoding-unsupported' },
    { name: 'corrupt gzip', type: 'application/json', encoding: 'gzip', body: Buffer.from('not gzip at all'), status: 400, code: 'body-encoding-invalid' },
    { name: 'a gzip bomb past the body limit', type: 'application/json', encoding: 'gzip', body: bomb, status: 413, code: 'body-too-large' },
  ];
  for (const row of rows) {
    scripted.received.length = 0;
    scripted.respond = (_q, res) => void res.writeHead(201, { 'content-type': 'application/json' }).end('{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"}}');
    const reply = await world.call('POST', '/api/v1/namespaces/agents/secrets', { headers: { ...headers, 'content-type': row.type, ...(row.encoding ? { 'content-encoding': row.encoding } : {}) }, body: row.body });
    t.is(reply.status, row.status, `${row.name}: ${reply.body}`);
    if (row.code !== undefined) {
      t.is(reason(reply.body), row.code, row.name);
      t.is(scripted.received.length, 0, `${row.name}: nothing reached the API server`);
    }
    if (row.forwarded !== undefined) {
      t.is(scripted.received[0]?.body, row.forwarded, row.name);
      t.is(scripted.received[0]?.headers['content-encoding'], undefined, row.name);
    }
  }
  const refused = await world.call('POST', '/api/v1/namespaces/agents/secrets', { headers: { ...headers, 'content-type': 'application/json' }, body: secret(MASK_MARKER_BASE64) });
  t.like(JSON.parse(refused.body), { reason: 'MaskedValueWriteBack', code: 400 });
});

test('every command a refusal prints is a request the virtual API accepts', (t) => {
  const rows: Array<[string, string, string]> = [
    ['a namespaced list', 'GET', '/api/v1/namespaces/other/pods'],
    ['a named get in a group', 'GET', '/apis/apps/v1/namespaces/payments/deployments/api'],
    ['a subresource', 'POST', '/api/v1/namespaces/a/pods/x/exec?command=sh'],
    ['a cluster-scoped list', 'GET', '/api/v1/nodes'],
    ['a list across namespaces', 'GET', '/apis/apps/v1/deployments'],
    ['a non-resource URL', 'GET', '/metrics'],
  ];
  for (const [name, method, url] of rows) {
    const parsed = parseRequest(method, url);
    if (!parsed.ok) {
      t.fail(name);
      continue;
    }
    const body = /^echo '(\{.*\})' \| kubectl create --raw \/apis\/agentgate\.io\/v1alpha1\/accessrequests -f -$/.exec(accessRequestCommand(parsed.attributes))?.[1];
    const input = parseAccessRequestObjectInput(JSON.parse(body ?? 'null'));
    t.true(input.ok, `${name}: ${JSON.stringify(input.ok ? '' : input.errors)}`);
  }
});

test('an answer held in pieces is masked as one text, whatever byte a piece ends on; a clean one comes back as its own pieces', (t) => {
  const stage = createMaskResponse({ rules: defaultMaskingRules });
  const parsed = parseRequest('GET', '/api/v1/namespaces/agents/configmaps/c');
  if (!parsed.ok) throw new Error(parsed.error.message);
  const target = { attributes: parsed.attributes, statusCode: 200, contentType: 'application/json', watch: false };
  // Multi-byte characters (é, €, 🔑) before and after a key the patterns catch.
  const dirty = Buffer.from(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c', annotations: { note: 'café € 🔑' } }, data: { env: `AWS_ACCESS_KEY_ID=${AWS_KEY} 🔑 €` } }));
  const clean = Buffer.from(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { greeting: 'grüß dich 🔑' } }));
  const whole = (body: Buffer, at: number[]): ReturnType<NonNullable<ReturnType<typeof stage>['whole']>> => {
    const mask = stage(target);
    if (mask.whole === undefined) throw new Error('the stage holds JSON answers whole');
    const cuts = [0, ...at, body.length];
    return mask.whole(cuts.slice(1).map((end, i) => body.subarray(cuts[i], end)), body.length);
  };
  const reference = whole(dirty, []);
  t.is(reference.masked, 1);
  t.is(typeof reference.body, 'string');
  t.notRegex(String(reference.body), new RegExp(AWS_KEY));
  for (let at = 1; at < dirty.length; at++) {
    const got = whole(dirty, [at]);
    t.deepEqual(got, reference, `cut at byte ${at}`);
  }
  t.deepEqual(whole(dirty, [10, 11, 12, dirty.length - 3]), reference, 'four cuts');
  for (let at = 1; at < clean.length; at++) {
    const got = whole(clean, [at]);
    t.is(got.masked, 0);
    t.true(Array.isArray(got.body), `cut at byte ${at}: the pieces themselves`);
    t.is(Buffer.concat(got.body as Buffer[]).toString('utf8'), clean.toString('utf8'));
  }
});
