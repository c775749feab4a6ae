// Leaking a secret past masking by negotiation: whatever the agent puts in Accept and
// Accept-Encoding, upstream is asked for JSON in identity encoding; whatever upstream answers
// that a masker cannot read (protobuf, CBOR, YAML, bytes, compression) is withheld with a 502;
// and a watch on Secrets in each of its URL forms is masked event by event.
import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { GRANT_TOKEN, startWorld, TEST_MARKER, type World } from '../sidecar/harness.ts';
import { causeOf, startGate, type Gate } from './helpers.ts';

const SECRET = 'hunter2-real';
const SECRET_B64 = Buffer.from(SECRET).toString('base64');
const SECRETS = '/api/v1/namespaces/agents/secrets';

let gate: Gate;
let world: World;
test.before(async () => {
  [gate, world] = await Promise.all([startGate(), startWorld()]);
  world.broker.addGrant({ id: 'g-secrets', rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['secrets'] }], namespaces: ['agents'], token: GRANT_TOKEN });
  world.broker.table.push({ name: 'secrets in agents', when: (a) => a.resource === 'secrets' && a.namespace === 'agents', outcome: 'allow', grantId: 'g-secrets' });
});
test.after.always(async () => {
  await Promise.all([gate?.close(), world?.close()]);
});

test.serial('Accept and Accept-Encoding: upstream is asked for JSON in identity encoding only', async (t) => {
  const rows: Array<{ name: string; accept?: string; encoding?: string; query?: string; wantAccept: string }> = [
    { name: 'no Accept', wantAccept: 'application/json' },
    { name: 'protobuf', accept: 'application/vnd.kubernetes.protobuf', wantAccept: 'application/json' },
    { name: 'protobuf watch stream', accept: 'application/vnd.kubernetes.protobuf;stream=watch', wantAccept: 'application/json' },
    { name: 'CBOR', accept: 'application/cbor', wantAccept: 'application/json' },
    { name: 'CBOR sequence (CBOR watch)', accept: 'application/cbor-seq', wantAccept: 'application/json' },
    { name: 'YAML', accept: 'application/yaml', wantAccept: 'application/json' },
    { name: 'upper-case protobuf', accept: 'APPLICATION/VND.KUBERNETES.PROTOBUF', wantAccept: 'application/json' },
    { name: 'Table as protobuf keeps the Table parameters', accept: 'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io', query: '?includeObject=Object', wantAccept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    { name: 'PartialObjectMetadata as CBOR', accept: 'application/cbor;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io', wantAccept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io' },
    { name: 'only types upstream cannot be asked for', accept: 'text/html, image/png', wantAccept: 'application/json' },
    { name: 'wildcard', accept: '*/*', wantAccept: 'application/json' },
    { name: 'brotli, zstd and gzip are not passed on', accept: 'application/json', encoding: 'br, zstd, gzip, deflate, *', wantAccept: 'application/json' },
  ];
  for (const row of rows) {
    gate.upstream.received.length = 0;
    const headers: Record<string, string> = { authorization: `Bearer ${gate.token}` };
    if (row.accept !== undefined) headers.accept = row.accept;
    if (row.encoding !== undefined) headers['accept-encoding'] = row.encoding;
    const reply = await gate.world.call('GET', `${SECRETS}${row.query ?? ''}`, { headers });
    t.is(reply.status, 200, row.name);
    const got = gate.upstream.received[0];
    t.is(got?.headers.accept, row.wantAccept, row.name);
    t.is(got?.headers['accept-encoding'], 'identity', row.name);
  }
});

test.serial('answers a masker cannot read are withheld with a 502, never passed on raw', async (t) => {
  const secretObject = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, data: { password: SECRET_B64 } };
  // A protobuf-framed Secret: the "k8s\0" magic, then bytes that hold the value unencoded.
  const protobuf = Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from(`\n\x0c\n\x02v1\x12\x06Secret\x12\x1a password\x12${SECRET}`)]);
  const rows: Array<{ name: string; type: string; body: Buffer | string; encoding?: string }> = [
    { name: 'protobuf despite Accept: application/json', type: 'application/vnd.kubernetes.protobuf', body: protobuf },
    { name: 'protobuf watch stream', type: 'application/vnd.kubernetes.protobuf;stream=watch', body: protobuf },
    { name: 'CBOR', type: 'application/cbor', body: Buffer.concat([Buffer.from([0xd9, 0xd9, 0xf7, 0xa1, 0x68]), Buffer.from(`password${SECRET}`)]) },
    { name: 'YAML', type: 'application/yaml', body: `kind: Secret\napiVersion: v1\ndata:\n  password: ${SECRET_B64}\n` },
    { name: 'octet-stream', type: 'application/octet-stream', body: `password=${SECRET}` },
    { name: 'JSON but compressed although identity was asked', type: 'application/json', body: gzipSync(JSON.stringify(secretObject)), encoding: 'gzip' },
    { name: 'JSON but gzip named in upper case', type: 'application/json', body: gzipSync(JSON.stringify(secretObject)), encoding: 'GZIP' },
  ];
  for (const row of rows) {
    gate.upstream.respond = (_q, res) => void res.writeHead(200, { 'content-type': row.type, ...(row.encoding ? { 'content-encoding': row.encoding } : {}) }).end(row.body);
    const reply = await gate.world.call('GET', SECRETS, { headers: { authorization: `Bearer ${gate.token}` } });
    t.is(reply.status, 502, row.name);
    t.is(causeOf(JSON.parse(reply.body)), 'upstream-encoding', row.name);
    t.false(reply.body.includes(SECRET) || reply.body.includes(SECRET_B64), `${row.name}: no secret in the answer`);
  }
  // The control rows: what a masker can read is masked and passed on.
  gate.upstream.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(secretObject));
  const json = await gate.world.call('GET', SECRETS, { headers: { authorization: `Bearer ${gate.token}` } });
  t.is(json.status, 200);
  t.true(json.body.includes(TEST_MARKER));
  t.false(json.body.includes(SECRET_B64));
  gate.upstream.respond = (_q, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('log line\n');
  const text = await gate.world.call('GET', '/api/v1/namespaces/agents/pods/web-0/log', { headers: { authorization: `Bearer ${gate.token}` } });
  t.is(text.status, 200, 'text (logs) goes to the masker');
});

/** Reads a watch until its first event line, then hangs up. */
function firstEvent(w: World, token: string, path: string): Promise<{ status: number; line: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: w.sidecar.apiPort, path, ca: w.sidecar.caPem, servername: 'localhost', agent: false, headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.kubernetes.protobuf;stream=watch' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const nl = text.indexOf('\n');
        if (nl !== -1) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, line: text.slice(0, nl) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, line: text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`no event from ${path} within 5 s`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}

test('a watch on Secrets is masked event by event, in every URL form', async (t) => {
  const token = await world.token();
  const forms = [
    { name: 'watch=true', path: `${SECRETS}?watch=true` },
    { name: 'watch=1 with a bookmark request', path: `${SECRETS}?watch=1&allowWatchBookmarks=true` },
    { name: 'one Secret by fieldSelector', path: `${SECRETS}?fieldSelector=metadata.name%3Ddb-password&watch=true` },
    { name: 'deprecated /watch/ collection path', path: '/api/v1/watch/namespaces/agents/secrets' },
    { name: 'deprecated /watch/ object path', path: '/api/v1/watch/namespaces/agents/secrets/db-password' },
  ];
  for (const form of forms) {
    const event = await firstEvent(world, token, form.path);
    t.is(event.status, 200, form.name);
    const parsed = JSON.parse(event.line) as { type: string; object: { data?: Record<string, string> } };
    t.is(parsed.type, 'ADDED', form.name);
    t.is(parsed.object.data?.password, TEST_MARKER, form.name);
    t.false(event.line.includes(SECRET_B64), `${form.name}: the real value never crosses`);
  }
});
