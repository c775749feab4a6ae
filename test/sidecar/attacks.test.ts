// Attacks from the agent container's point of view, through raw HTTPS to the sidecar: tokens,
// identity headers, path tricks, oversized bodies, upgrades; and against a scripted upstream, what
// reaches the API server (Accept, encodings, credentials, hop-by-hop headers) and what never
// comes back (redirects, bodies that cannot be masked). None may reach upstream without a decision.
// Tests on the scripted upstream run serially: they script its answer in turn.
import { connect } from 'node:tls';
import { gunzipSync, gzipSync } from 'node:zlib';
import test from 'ava';
import { GRANT_TOKEN, GRANT_TOKEN_2, grantPodReads, startWorld, TEST_MARKER, type World } from './harness.ts';
import { startScriptedUpstream, type ScriptedUpstream } from './upstream.ts';

let world: World;
let scripted: ScriptedUpstream;
let viaScript: World;
test.before(async () => {
  world = await startWorld();
  grantPodReads(world);
  scripted = await startScriptedUpstream();
  viaScript = await startWorld({ upstreamUrl: scripted.url });
  grantPodReads(viaScript);
});
test.after.always(async () => {
  await Promise.all([world?.close(), viaScript?.close()]);
  await scripted?.close();
});

const PODS = '/api/v1/namespaces/agents/pods';
const reason = (body: string): string => (JSON.parse(body) as { details?: { causes?: Array<{ reason?: string }> } }).details?.causes?.[0]?.reason ?? '';

test('tokens: a missing, wrong or malformed bearer token gets a 401 Status before any decision', async (t) => {
  const token = await world.token();
  const rows: Array<{ name: string; headers: Record<string, string>; code: string }> = [
    { name: 'no Authorization', headers: {}, code: 'token-missing' },
    { name: 'Basic scheme', headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }, code: 'token-missing' },
    { name: 'empty bearer', headers: { authorization: 'Bearer ' }, code: 'token-missing' },
    { name: 'another token', headers: { authorization: 'Bearer not-the-pod-token' }, code: 'token-invalid' },
    { name: 'the token with a suffix', headers: { authorization: `Bearer ${token}x` }, code: 'token-invalid' },
    { name: 'a prefix of the token', headers: { authorization: `Bearer ${token.slice(0, -1)}` }, code: 'token-invalid' },
    { name: 'the grant credential itself', headers: { authorization: `Bearer ${GRANT_TOKEN}` }, code: 'token-invalid' },
  ];
  const before = world.broker.decisions.length;
  for (const row of rows) {
    const reply = await world.call('GET', PODS, { headers: row.headers });
    t.is(reply.status, 401, row.name);
    t.is(JSON.parse(reply.body).reason, 'Unauthorized', row.name);
    t.is(reason(reply.body), row.code, row.name);
  }
  t.is(world.broker.decisions.length, before, 'no decision was asked for');
  const ok = await world.call('GET', PODS, { headers: { authorization: `bearer  ${token} ` } });
  t.is(ok.status, 200, 'scheme case and surrounding spaces are accepted, as the API server does');
});

test('identity headers: Impersonate-* in any case and X-Remote-* get a 403 Status', async (t) => {
  const auth = { authorization: `Bearer ${await world.token()}` };
  const rows = [
    { name: 'Impersonate-User', header: 'Impersonate-User', code: 'impersonation' },
    { name: 'upper-case IMPERSONATE-GROUP', header: 'IMPERSONATE-GROUP', code: 'impersonation' },
    { name: 'Impersonate-Uid', header: 'Impersonate-Uid', code: 'impersonation' },
    { name: 'Impersonate-Extra-scopes', header: 'Impersonate-Extra-scopes', code: 'impersonation' },
    { name: 'X-Remote-User (front-proxy authentication)', header: 'X-Remote-User', code: 'identity-header' },
    { name: 'X-Remote-Extra-foo', header: 'x-remote-extra-foo', code: 'identity-header' },
  ];
  for (const row of rows) {
    const reply = await world.call('GET', PODS, { headers: { ...auth, [row.header]: 'system:admin' } });
    t.is(reply.status, 403, row.name);
    t.is(reason(reply.body), row.code, row.name);
  }
});

test('path tricks: dot segments and encoded separators get a 400 Status and are never forwarded', async (t) => {
  const auth = { authorization: `Bearer ${await world.token()}` };
  const rows = [
    { name: 'dot-dot out of pods into secrets', path: '/api/v1/namespaces/agents/pods/../secrets', code: 'path-dot-segment' },
    { name: 'encoded dot-dot', path: '/api/v1/namespaces/agents/pods/%2e%2e/secrets', code: 'path-dot-segment' },
    { name: 'encoded slash in a name', path: '/api/v1/namespaces/agents/pods/web-0%2F..%2F..%2Fsecrets', code: 'path-encoded-separator' },
    { name: 'encoded backslash', path: '/api/v1/namespaces/agents/pods/web-0%5Csecrets', code: 'path-encoded-separator' },
    { name: 'empty segment', path: '/api/v1/namespaces//pods', code: 'path-empty-segment' },
    { name: 'namespace switch by dot-dot', path: '/api/v1/namespaces/agents/../other/pods', code: 'path-dot-segment' },
  ];
  const before = world.broker.decisions.length;
  for (const row of rows) {
    const reply = await world.call('GET', row.path, { headers: auth });
    t.is(reply.status, 400, row.name);
    t.is(reason(reply.body), row.code, row.name);
  }
  t.is(world.broker.decisions.length, before);
});

test('bodies over 3 MiB get a 413 Status, announced or chunked', async (t) => {
  const auth = { authorization: `Bearer ${await world.token()}`, 'content-type': 'application/json' };
  const big = Buffer.alloc(3 * 1024 * 1024 + 1, 0x20);
  const announced = await world.call('POST', PODS, { headers: { ...auth, 'content-length': String(big.length) }, body: big });
  t.is(announced.status, 413);
  t.is(JSON.parse(announced.body).reason, 'RequestEntityTooLarge');
  const chunked = await world.call('POST', PODS, { headers: { ...auth, 'transfer-encoding': 'chunked' }, body: big });
  t.is(chunked.status, 413);
  t.is(reason(chunked.body), 'body-too-large');
});

/** Sends a raw upgrade request and returns the raw answer. */
function rawUpgrade(port: number, ca: string, token: string, upgrade: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      socket.write(`GET /api/v1/namespaces/agents/pods/web-0/exec?command=sh&stdin=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

test('upgrades (exec over WebSocket or SPDY) get a clear 400 Status, never a 101', async (t) => {
  for (const upgrade of ['websocket', 'SPDY/3.1']) {
    const answer = await rawUpgrade(world.sidecar.apiPort, world.sidecar.caPem, await world.token(), upgrade);
    t.regex(answer, /^HTTP\/1\.1 400 BadRequest\r\n/, upgrade);
    t.true(answer.includes('exec, attach, port-forward and other upgrade requests are not available through agentgate yet'), upgrade);
  }
  const unauthenticated = await rawUpgrade(world.sidecar.apiPort, world.sidecar.caPem, 'wrong', 'websocket');
  t.regex(unauthenticated, /^HTTP\/1\.1 401 Unauthorized\r\n/);
});

test.serial('upstream gets JSON and identity encoding for resource requests, the grant credential, no hop-by-hop or agent headers', async (t) => {
  scripted.received.length = 0;
  const token = await viaScript.token();
  const reply = await viaScript.call('GET', `${PODS}?limit=500`, {
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/cbor,application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
      'accept-encoding': 'gzip',
      connection: 'keep-alive, X-Hop-Secret',
      'x-hop-secret': 'must-not-pass',
      te: 'trailers',
      'proxy-authorization': 'Basic cHJveHk6cHJveHk=',
      cookie: 'session=agent',
      'kubectl-command': 'kubectl get',
      'kubectl-session': 'abc-123',
    },
  });
  t.is(reply.status, 200);
  const got = scripted.received.at(-1);
  t.truthy(got);
  t.is(got?.headers.accept, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json');
  t.is(got?.headers['accept-encoding'], 'identity');
  t.is(got?.headers.authorization, `Bearer ${GRANT_TOKEN}`);
  for (const name of ['x-hop-secret', 'te', 'proxy-authorization', 'cookie', 'impersonate-user']) t.is(got?.headers[name], undefined, name);
  t.is(got?.headers['kubectl-command'], 'kubectl get');
  t.is(got?.url, `${PODS}?limit=500`);
});

test.serial('discovery passes through with the agent\'s Accept and encoding; OpenAPI likewise', async (t) => {
  scripted.received.length = 0;
  const token = await viaScript.token();
  await viaScript.call('GET', '/api', { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.kubernetes.protobuf', 'accept-encoding': 'gzip' } });
  t.is(scripted.received.at(-1)?.headers.accept, 'application/vnd.kubernetes.protobuf');
  t.is(scripted.received.at(-1)?.headers['accept-encoding'], 'gzip');
});

test.serial('upstream answers that must not reach the agent become a 502 Status', async (t) => {
  const token = await viaScript.token();
  const rows: Array<{ name: string; respond: ScriptedUpstream['respond']; code: string; leak?: string }> = [
    { name: 'a redirect is not followed', respond: (_q, res) => void res.writeHead(302, { location: 'https://evil.example/steal' }).end(), code: 'upstream-redirect', leak: 'evil.example' },
    { name: '307 to another path', respond: (_q, res) => void res.writeHead(307, { location: '/api/v1/secrets' }).end(), code: 'upstream-redirect' },
    { name: 'gzip although identity was asked', respond: (_q, res) => void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync('{"kind":"Secret","data":{"a":"c2VjcmV0"}}')), code: 'upstream-encoding' },
    { name: 'JSON that cannot be parsed for masking', respond: (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Secret","data":{"password":"cmF3LXNlY3JldA=="'), code: 'mask-failed', leak: 'cmF3LXNlY3JldA' },
  ];
  for (const row of rows) {
    scripted.received.length = 0;
    scripted.respond = row.respond;
    const reply = await viaScript.call('GET', PODS, { headers: { authorization: `Bearer ${token}` } });
    t.is(reply.status, 502, row.name);
    t.is(reason(reply.body), row.code, row.name);
    if (row.leak) t.false(reply.body.includes(row.leak), row.name);
    t.is(scripted.received.length, 1, `${row.name}: one upstream request, no follow-up`);
  }
});

test.serial('hop-by-hop response headers are dropped; the masked body is gzipped when large and asked for', async (t) => {
  const token = await viaScript.token();
  const items = Array.from({ length: 2000 }, (_, i) => ({ kind: 'Secret', apiVersion: 'v1', metadata: { name: `s-${i}` }, data: { key: Buffer.from(`real-${i}`).toString('base64') } }));
  const body = JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items });
  scripted.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json', connection: 'X-Up-Hop', 'x-up-hop': 'v', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'audit-id': 'a-1' }).end(body);
  const reply = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    import('node:https').then(({ request }) => {
      const req = request({ host: '127.0.0.1', port: viaScript.sidecar.apiPort, path: PODS, ca: viaScript.sidecar.caPem, servername: 'localhost', agent: false, headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
  for (const name of ['x-up-hop', 'keep-alive', 'proxy-authenticate']) t.is(reply.headers[name], undefined, name);
  t.is(reply.headers['audit-id'], 'a-1');
  t.is(reply.headers['content-encoding'], 'gzip');
  const text = gunzipSync(reply.body).toString();
  t.false(text.includes(Buffer.from('real-1').toString('base64')));
  t.true(text.includes(TEST_MARKER));
});

test.serial('a credential refused upstream is retried once with a fresh one, then a 503', async (t) => {
  const token = await viaScript.token();
  // The first credential is refused; the broker then pushes a fresh one, which works.
  scripted.received.length = 0;
  scripted.respond = (q, res) => {
    if (q.headers.authorization === `Bearer ${GRANT_TOKEN}`) {
      viaScript.broker.setCredential('g-pods', GRANT_TOKEN_2);
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}');
  };
  const recovered = await viaScript.call('GET', '/api/v1/namespaces/agents/pods?watch=false&x=1', { headers: { authorization: `Bearer ${token}` } });
  t.is(recovered.status, 200);
  t.deepEqual(scripted.received.map((r) => r.headers.authorization), [`Bearer ${GRANT_TOKEN}`, `Bearer ${GRANT_TOKEN_2}`]);

  // Every credential is refused: one retry, then a 503 that says so.
  scripted.received.length = 0;
  scripted.respond = (_q, res) => {
    viaScript.broker.setCredential('g-pods', `fresh-${scripted.received.length}`);
    res.writeHead(401, { 'content-type': 'application/json' }).end('{}');
  };
  const refused = await viaScript.call('GET', '/api/v1/namespaces/agents/pods/web-0', { headers: { authorization: `Bearer ${token}` } });
  t.is(refused.status, 503);
  t.is(reason(refused.body), 'credential-refused');
  t.is(scripted.received.length, 2);
});

test('an unreachable API server is a 503 Status', async (t) => {
  const down = await startWorld({ upstreamUrl: 'https://127.0.0.1:1' });
  t.teardown(() => down.close());
  grantPodReads(down);
  const reply = await down.call('GET', PODS, { headers: { authorization: `Bearer ${await down.token()}` } });
  t.is(reply.status, 503);
  t.is(reason(reply.body), 'upstream-unavailable');
  t.regex(JSON.parse(reply.body).message, /^agentgate: the Kubernetes API server cannot be reached; retry shortly: ECONNREFUSED/);
});
