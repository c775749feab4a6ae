// Writing a masked value back: any write whose body carries the mask marker (kubectl edit of a
// masked Secret, get -o yaml | apply, a merge built on a masked last-applied annotation, a
// protobuf body with the marker's bytes) is refused before any decision, and nothing reaches the
// API server, so a real Secret is never overwritten with the mask.
import test from 'ava';
import { MASK_MARKER, MASK_MARKER_BASE64 } from '../../src/masking/index.ts';
import { causeOf, startGate, type Gate } from './helpers.ts';

let gate: Gate;
test.before(async () => {
  gate = await startGate();
});
test.after.always(async () => {
  await gate?.close();
});

const SECRET = '/api/v1/namespaces/agents/secrets/db';
const masked = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'agents' }, data: { password: MASK_MARKER_BASE64 } };
const lastApplied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: MASK_MARKER_BASE64 } });

interface Row {
  name: string;
  method: string;
  path: string;
  type: string;
  body: string | Buffer;
  refused: boolean;
}

const rows: Row[] = [
  // --- what kubectl sends after reading a masked object
  { name: 'kubectl edit: PUT of the masked Secret', method: 'PUT', path: SECRET, type: 'application/json', body: JSON.stringify(masked), refused: true },
  { name: 'get -o yaml | replace: YAML body', method: 'PUT', path: SECRET, type: 'application/yaml', body: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: ${MASK_MARKER_BASE64}\n`, refused: true },
  { name: 'server-side apply of the masked object', method: 'PATCH', path: `${SECRET}?fieldManager=kubectl`, type: 'application/apply-patch+yaml', body: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: ${MASK_MARKER_BASE64}\n`, refused: true },
  { name: 'three-way merge carrying the masked last-applied annotation', method: 'PATCH', path: SECRET, type: 'application/strategic-merge-patch+json', body: JSON.stringify({ metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied } } }), refused: true },
  { name: 'JSON patch replacing a value with the marker', method: 'PATCH', path: SECRET, type: 'application/json-patch+json', body: JSON.stringify([{ op: 'replace', path: '/data/password', value: MASK_MARKER_BASE64 }]), refused: true },
  { name: 'merge patch via stringData with the plain marker', method: 'PATCH', path: SECRET, type: 'application/merge-patch+json', body: JSON.stringify({ stringData: { password: MASK_MARKER } }), refused: true },
  { name: 'create a copy of the masked Secret', method: 'POST', path: '/api/v1/namespaces/agents/secrets', type: 'application/json', body: JSON.stringify({ ...masked, metadata: { name: 'db-copy' } }), refused: true },
  { name: 'masked env value copied into a ConfigMap', method: 'POST', path: '/api/v1/namespaces/agents/configmaps', type: 'application/json', body: JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { url: `postgres://app:${MASK_MARKER}@db/app` } }), refused: true },
  { name: 'JSON with the marker escaped as \\u0059', method: 'PUT', path: SECRET, type: 'application/json', body: JSON.stringify(masked).replace(MASK_MARKER_BASE64, MASK_MARKER_BASE64.replace('Y', '\\u0059')), refused: true },
  { name: 'protobuf body holding the marker bytes', method: 'PUT', path: SECRET, type: 'application/vnd.kubernetes.protobuf', body: Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a]), Buffer.from(MASK_MARKER)]), refused: true },
  { name: 'DELETE with DeleteOptions carrying the marker', method: 'DELETE', path: SECRET, type: 'application/json', body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: MASK_MARKER } }), refused: true },
  // --- writes with real values go on
  { name: 'a patch with a real value', method: 'PATCH', path: SECRET, type: 'application/merge-patch+json', body: JSON.stringify({ stringData: { password: 'new-real-value' } }), refused: false },
  { name: 'a PUT with real data', method: 'PUT', path: SECRET, type: 'application/json', body: JSON.stringify({ ...masked, data: { password: Buffer.from('x').toString('base64') } }), refused: false },
];

test.serial('a body carrying the mask marker is refused (MaskedValueWriteBack) and never forwarded', async (t) => {
  for (const row of rows) {
    gate.upstream.received.length = 0;
    const decisions = gate.world.broker.decisions.length;
    const reply = await gate.world.call(row.method, row.path, { headers: { authorization: `Bearer ${gate.token}`, 'content-type': row.type, 'content-length': String(Buffer.byteLength(row.body)) }, body: row.body });
    if (!row.refused) {
      t.is(reply.status, 200, row.name);
      t.is(gate.upstream.received.length, 1, row.name);
      continue;
    }
    // The exact code and reason belong to the refusal table (a client error either way).
    t.true(reply.status >= 400 && reply.status < 500, `${row.name}: ${reply.status} ${reply.body.slice(0, 200)}`);
    const status = JSON.parse(reply.body) as { reason: string; message: string; code: number };
    t.is(status.code, reply.status, row.name);
    t.is(causeOf(status), 'masked-value-write-back', row.name);
    t.regex(status.message, /MaskedValueWriteBack.*nothing was changed/s, row.name);
    t.is(gate.upstream.received.length, 0, `${row.name}: nothing reached the API server`);
    t.is(gate.world.broker.decisions.length, decisions, `${row.name}: refused before a decision`);
  }
});

test.serial('a CBOR body is refused (415) before any decision: an indefinite-length string splits the marker into pieces the API server would join', async (t) => {
  // {"stringData":{"password":(_ "agentgate-" "masked-data")}}: the marker in two chunks.
  const text = (s: string): Buffer => Buffer.concat([Buffer.from([0x60 + s.length]), Buffer.from(s)]);
  const chunked = Buffer.concat([Buffer.from([0xa1]), text('stringData'), Buffer.from([0xa1]), text('password'), Buffer.from([0x7f]), text('agentgate-'), text('masked-data'), Buffer.from([0xff])]);
  t.false(chunked.includes(MASK_MARKER), 'the marker is not in the bytes whole');
  for (const type of ['application/cbor', 'application/apply-patch+cbor', 'application/CBOR-seq']) {
    gate.upstream.received.length = 0;
    const decisions = gate.world.broker.decisions.length;
    const reply = await gate.world.call('PATCH', SECRET, { headers: { authorization: `Bearer ${gate.token}`, 'content-type': type, 'content-length': String(chunked.length) }, body: chunked });
    t.is(reply.status, 415, `${type}: ${reply.body.slice(0, 200)}`);
    const status = JSON.parse(reply.body) as { reason: string; message: string };
    t.is(status.reason, 'UnsupportedMediaType');
    t.regex(status.message, /CBOR are not accepted.*send JSON/);
    t.is(gate.upstream.received.length, 0, `${type}: nothing reached the API server`);
    t.is(gate.world.broker.decisions.length, decisions, `${type}: refused before a decision`);
  }
});
