// The webhook's HTTPS service with the fixture certificate: reviews in and out, each malformed
// request's precise 4xx Status, lookup failures refused (never allowed), health, graceful close.
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import test from 'ava';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.ts';
import { lookups, options, readRequest } from './fixtures.ts';

const tls = new URL('../fixtures/tls/', import.meta.url);
const [cert, key, ca] = await Promise.all(['server.crt', 'server.key', 'ca.crt'].map((f) => readFile(new URL(f, tls))));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(server: WebhookServer, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, method, path, ca, servername: 'localhost', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    // A server that stops reading an oversized body may reset the socket after answering.
    req.on('error', reject);
    req.end(body);
  });
}

let server: WebhookServer;
let failing: WebhookServer;
test.before(async () => {
  server = await startWebhookServer({ cert: cert!, key: key!, host: '127.0.0.1', port: 0, inject: options, lookups });
  failing = await startWebhookServer({
    cert: cert!, key: key!, host: '127.0.0.1', port: 0, inject: options,
    lookups: { ...lookups, namespaceLabels: async () => { throw new Error('namespaces "agents" is forbidden'); } },
  });
});
test.after.always(async () => {
  await Promise.all([server?.close(), failing?.close()]);
});

test('GET /healthz and /readyz answer ok', async (t) => {
  for (const path of ['/healthz', '/readyz']) {
    const reply = await call(server, 'GET', path);
    t.is(reply.status, 200, path);
    t.is(reply.body, 'ok');
  }
});

test('POST /mutate answers a golden review with its patch, HTTP 200 and the uid', async (t) => {
  const review = (await readRequest('bare-pod')) as { request: { uid: string } };
  const reply = await call(server, 'POST', '/mutate', JSON.stringify(review), { 'content-type': 'application/json; charset=utf-8' });
  t.is(reply.status, 200);
  const answer = JSON.parse(reply.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
  t.is(answer.apiVersion, 'admission.k8s.io/v1');
  t.is(answer.kind, 'AdmissionReview');
  t.is(answer.response.uid, review.request.uid);
  t.true(answer.response.allowed);
  t.is(answer.response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as { path: string }[];
  t.is(patch[0]?.path, '/spec/initContainers');
});

test('POST /mutate refuses a refused shape with 200, allowed false and the reason code', async (t) => {
  const reply = await call(server, 'POST', '/mutate', JSON.stringify(await readRequest('refused-host-network')));
  t.is(reply.status, 200);
  const answer = JSON.parse(reply.body) as { response: { allowed: boolean; status: { code: number; details: { causes: { reason: string }[] } } } };
  t.false(answer.response.allowed);
  t.is(answer.response.status.code, 403);
  t.is(answer.response.status.details.causes[0]?.reason, 'host-namespace');
});

test('POST /validate refuses an agent pod that was never injected', async (t) => {
  const reply = await call(server, 'POST', '/validate', JSON.stringify(await readRequest('bare-pod')));
  t.is(reply.status, 200);
  t.regex(reply.body, /"reason":"sidecar-missing"/);
});

test('a failed lookup refuses the review (errored 500), never allows it', async (t) => {
  const review = (await readRequest('bare-pod')) as { request: { uid: string } };
  const reply = await call(failing, 'POST', '/mutate', JSON.stringify(review));
  t.is(reply.status, 200);
  t.deepEqual(JSON.parse(reply.body), {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: review.request.uid,
      allowed: false,
      status: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'agentgate could not review this request: namespaces "agents" is forbidden', reason: 'InternalError', code: 500 },
    },
  });
});

const validRequest = { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', userInfo: {} };
const badRows: { name: string; body: string | Buffer; headers?: Record<string, string>; status: number; reason: string; message: string }[] = [
  // Transport.
  { name: 'a wrong content type', body: '{}', headers: { 'content-type': 'text/plain' }, status: 415, reason: 'UnsupportedMediaType', message: 'content type "text/plain" is not supported: send application/json' },
  { name: 'no content type', body: '{}', headers: {}, status: 415, reason: 'UnsupportedMediaType', message: 'content type "" is not supported: send application/json' },
  { name: 'a look-alike content type', body: '{}', headers: { 'content-type': 'application/jsonx' }, status: 415, reason: 'UnsupportedMediaType', message: 'content type "application/jsonx" is not supported: send application/json' },
  { name: 'a body over 3 MiB', body: Buffer.alloc(3 * 1024 * 1024 + 1, 0x20), status: 413, reason: 'RequestEntityTooLarge', message: 'the review is larger than 3145728 bytes' },
  { name: 'malformed JSON', body: '{"kind": ', status: 400, reason: 'BadRequest', message: 'the body is not valid JSON: Unexpected end of JSON input' },
  // The envelope.
  { name: 'a JSON array', body: '[]', status: 400, reason: 'BadRequest', message: 'the body is not a JSON object: expected an AdmissionReview' },
  { name: 'another kind', body: JSON.stringify({ kind: 'Pod', apiVersion: 'v1' }), status: 400, reason: 'BadRequest', message: 'kind is "Pod": expected AdmissionReview' },
  { name: 'admission.k8s.io/v1beta1', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: validRequest }), status: 400, reason: 'BadRequest', message: 'apiVersion is "admission.k8s.io/v1beta1": expected admission.k8s.io/v1 (list only "v1" in the webhook\'s admissionReviewVersions)' },
  { name: 'no request', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }), status: 400, reason: 'BadRequest', message: 'request is missing: expected an AdmissionReview with a request' },
  { name: 'no uid', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { ...validRequest, uid: undefined } }), status: 400, reason: 'BadRequest', message: "request.uid is missing: expected the request's uid" },
  { name: 'an empty uid', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { ...validRequest, uid: '' } }), status: 400, reason: 'BadRequest', message: 'request.uid is "": expected the request\'s uid' },
  { name: 'an unknown operation', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { ...validRequest, operation: 'PATCH' } }), status: 400, reason: 'BadRequest', message: 'request.operation is "PATCH": expected one of CREATE, UPDATE, DELETE, CONNECT' },
  { name: 'no resource', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { ...validRequest, resource: 'pods' } }), status: 400, reason: 'BadRequest', message: 'request.resource is "pods": expected {group, version, resource}' },
  { name: 'no userInfo', body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { ...validRequest, userInfo: undefined } }), status: 400, reason: 'BadRequest', message: 'request.userInfo is missing: expected the requesting user' },
];

for (const row of badRows) {
  for (const path of ['/mutate', '/validate']) {
    test(`POST ${path} with ${row.name} gets ${row.status}`, async (t) => {
      const reply = await call(server, 'POST', path, row.body, row.headers ?? { 'content-type': 'application/json' });
      t.is(reply.status, row.status);
      t.deepEqual(JSON.parse(reply.body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: row.message, reason: row.reason, code: row.status });
    });
  }
}

test('an unknown path gets a 404 Status', async (t) => {
  const reply = await call(server, 'GET', '/mutate');
  t.is(reply.status, 404);
  t.regex(reply.body, /use POST \/mutate or POST \/validate/);
});

test('close() lets an in-flight review finish, then refuses connections', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started = false;
  const own = await startWebhookServer({
    cert: cert!, key: key!, host: '127.0.0.1', port: 0, inject: options,
    lookups: { ...lookups, namespaceLabels: async (name) => { started = true; await gate; return lookups.namespaceLabels(name); } },
  });
  const pending = call(own, 'POST', '/mutate', JSON.stringify(await readRequest('bare-pod')));
  const deadline = Date.now() + 5000;
  while (!started && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  t.true(started, 'the review never reached the lookup');
  const closing = own.close();
  release();
  const reply = await pending;
  await closing;
  t.is(reply.status, 200);
  t.regex(reply.body, /"allowed":true/);
  await t.throwsAsync(call(own, 'GET', '/healthz'), { code: 'ECONNREFUSED' });
});
