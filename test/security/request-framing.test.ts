// Attacks on HTTP framing from the agent container, in raw bytes over TLS: request smuggling
// (Content-Length against Transfer-Encoding, duplicates, obsolete line folding), absolute-form and
// CONNECT targets, pipelining past the token check, bodies on GET, HTTP/2 (ALPN and prior
// knowledge), hostile headers. The recording upstream shows what got through: only requests the
// sidecar authenticated and decided, each re-framed by the sidecar itself.
import { connect as http2Connect } from 'node:http2';
import { connect } from 'node:tls';
import test from 'ava';
import { GRANT_TOKEN } from '../sidecar/harness.ts';
import { causeOf, rawBody, startGate, type Gate } from './helpers.ts';

let gate: Gate;
test.before(async () => {
  gate = await startGate();
});
test.after.always(async () => {
  await gate?.close();
});

const PODS = '/api/v1/namespaces/agents/pods';
const SECRETS = '/api/v1/namespaces/other/secrets';
/** A whole second request, hidden in a body. */
const SMUGGLED = `GET ${SECRETS} HTTP/1.1\r\nHost: x\r\n\r\n`;

interface Row {
  name: string;
  /** The raw request; `AUTH` is replaced by the pod-local token's Authorization line. */
  bytes: string;
  /** The HTTP status of the first answer (0: closed without an answer). */
  status: number;
  /** The only requests upstream may see, as "METHOD url". */
  upstream: string[];
  /** The reason code of the sidecar's Status, when it answers with one. */
  cause?: string;
}

const rows: Row[] = [
  // --- smuggling: the framing the sidecar reads must be the only framing there is
  { name: 'Content-Length and Transfer-Encoding together', bytes: `POST ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET ${SECRETS} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 400, upstream: [] },
  { name: 'two Content-Length headers', bytes: `POST ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Length: 2\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{}`, status: 400, upstream: [] },
  { name: 'Transfer-Encoding other than chunked last', bytes: `POST ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, status: 400, upstream: [] },
  { name: 'obsolete line folding hides a header', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nX-A: a\r\n Impersonate-User: admin\r\nConnection: close\r\n\r\n`, status: 400, upstream: [] },
  { name: 'a bare LF inside a header value', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nX-A: a\nImpersonate-User: admin\r\nConnection: close\r\n\r\n`, status: 400, upstream: [] },
  { name: 'a space before the colon', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nImpersonate-User : admin\r\nConnection: close\r\n\r\n`, status: 400, upstream: [] },
  { name: 'a body on GET is neither read as a request nor forwarded', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`, status: 200, upstream: [`GET ${PODS}`] },
  { name: 'chunked body with a trailer: the sidecar re-frames it', bytes: `POST ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\nImpersonate-User: admin\r\n\r\n`, status: 200, upstream: [`POST ${PODS}`] },

  // --- pipelining: each request on a connection is authenticated on its own
  { name: 'a second pipelined request without a token', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\n\r\nGET ${SECRETS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, status: 200, upstream: [`GET ${PODS}`] },

  // --- request targets the API server would read otherwise
  { name: 'absolute-form target naming another host', bytes: `GET https://kubernetes.default.svc${SECRETS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nConnection: close\r\n\r\n`, status: 400, upstream: [], cause: 'path-not-absolute' },
  { name: 'asterisk-form target', bytes: `OPTIONS * HTTP/1.1\r\nHost: x\r\nAUTH\r\nConnection: close\r\n\r\n`, status: 400, upstream: [], cause: 'path-not-absolute' },
  { name: 'CONNECT tunnel to the API server', bytes: `CONNECT kubernetes.default.svc:443 HTTP/1.1\r\nHost: kubernetes.default.svc:443\r\nAUTH\r\n\r\n`, status: 0, upstream: [] },
  { name: 'a fragment in the target', bytes: `GET ${PODS}/web-0#/../../secrets HTTP/1.1\r\nHost: x\r\nAUTH\r\nConnection: close\r\n\r\n`, status: 400, upstream: [] },
  { name: 'lower-case method', bytes: `get ${SECRETS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nConnection: close\r\n\r\n`, status: 400, upstream: [] },
  { name: 'HTTP/2 prior-knowledge preface on the HTTP/1.1 listener', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400, upstream: [] },
  { name: 'HTTP/1.0 without Host is still authenticated and decided', bytes: `GET ${PODS} HTTP/1.0\r\nAUTH\r\n\r\n`, status: 200, upstream: [`GET ${PODS}`] },
  { name: 'an oversized header block', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`, status: 431, upstream: [] },

  // --- headers that other proxies or frameworks honour
  { name: 'X-HTTP-Method-Override does not turn a GET into a DELETE', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nX-HTTP-Method-Override: DELETE\r\nX-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nConnection: close\r\n\r\n`, status: 200, upstream: [`GET ${PODS}`] },
  { name: 'X-Original-URL and X-Rewrite-URL do not change the target', bytes: `GET ${PODS} HTTP/1.1\r\nHost: x\r\nAUTH\r\nX-Original-URL: ${SECRETS}\r\nX-Rewrite-URL: ${SECRETS}\r\nX-Forwarded-Prefix: /api/v1/namespaces/other\r\nConnection: close\r\n\r\n`, status: 200, upstream: [`GET ${PODS}`] },
];

test.serial('framing attacks: only authenticated, decided, re-framed requests reach upstream', async (t) => {
  for (const row of rows) {
    gate.upstream.received.length = 0;
    const answer = await gate.raw(row.bytes.replace('AUTH', `Authorization: Bearer ${gate.token}`));
    t.is(answer.status, row.status, `${row.name}: ${answer.text.slice(0, 120)}`);
    t.deepEqual(gate.upstream.received.map((r) => `${r.method} ${r.url}`), row.upstream, row.name);
    if (row.cause !== undefined) t.is(causeOf(rawBody(answer)), row.cause, row.name);
    for (const received of gate.upstream.received) {
      // What upstream sees is the sidecar's own framing and header allow-list, never the agent's.
      t.is(received.headers.authorization, `Bearer ${GRANT_TOKEN}`, row.name);
      t.is(received.headers['transfer-encoding'], undefined, row.name);
      for (const name of Object.keys(received.headers)) t.false(/^(impersonate-|x-remote-|x-http-method|x-method|x-original|x-rewrite|x-forwarded)/.test(name), `${row.name}: ${name} reached upstream`);
      if (received.method === 'POST') t.is(received.body, '{}', row.name);
    }
  }
});

test('HTTP/2: the listener does not negotiate h2, and an h2 client gets nowhere', async (t) => {
  // Node's server answers an h2-only offer with the no_application_protocol alert (RFC 7301).
  const alpn = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: gate.world.sidecar.apiPort, ca: gate.world.sidecar.caPem, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      resolve(`selected ${String(socket.alpnProtocol)}`);
      socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  t.not(alpn, 'selected h2');
  t.is(alpn, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
  const before = gate.upstream.received.length;
  const outcome = await new Promise<string>((resolve) => {
    const session = http2Connect(gate.world.sidecar.apiUrl, { ca: gate.world.sidecar.caPem, servername: 'localhost' });
    session.on('error', (error: Error) => {
      session.destroy();
      resolve(`error: ${error.message}`);
    });
    const stream = session.request({ ':path': SECRETS, authorization: `Bearer ${gate.token}` });
    stream.on('error', () => {});
    stream.on('response', (headers) => {
      session.destroy();
      resolve(`answered ${String(headers[':status'])}`);
    });
    stream.end();
  });
  t.regex(outcome, /^error/);
  t.is(gate.upstream.received.length, before, 'nothing reached upstream');
});
