// Masked values never flow back: the write bodies kubectl and clients send after reading a masked
// object (edit, replace, client-side and server-side apply, patches) are refused, in every
// encoding of the marker; ordinary writes pass.
import test from 'ava';
import { checkWriteBack } from '../../src/masking/writeback.ts';
import { containsMarker, MASK_MARKER as M, MASK_MARKER_BASE64 as M64 } from '../../src/masking/marker.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const maskedSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'payments' }, type: 'Opaque', data: { password: M64, username: M64 } };
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const escapeAll = (s: string): string => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

const refused: Array<{ name: string; body: Buffer; type: string; at?: string }> = [
  // What kubectl sends after a masked read.
  { name: 'kubectl replace -f of get -o json (PUT of the whole masked Secret)', body: json(maskedSecret), type: 'application/json', at: 'data.password' },
  { name: 'kubectl edit renaming a key: the masked value moves to the new key', body: json({ data: { pass: M64, password: null } }), type: 'application/strategic-merge-patch+json', at: 'data.pass' },
  { name: 'kubectl edit of an applied Secret: the new last-applied holds the masked data', body: json({ metadata: { annotations: { [LAST_APPLIED]: JSON.stringify(maskedSecret) + '\n' } }, data: { extra: b64('new') } }), type: 'application/strategic-merge-patch+json', at: `metadata.annotations["${LAST_APPLIED}"]` },
  { name: 'get -o yaml | kubectl apply (client-side): three-way patch with the masked value', body: json({ data: { password: M64 }, metadata: { annotations: { [LAST_APPLIED]: JSON.stringify(maskedSecret) } } }), type: 'application/strategic-merge-patch+json', at: 'data.password' },
  { name: 'three-way merge built on a masked annotation: $deleteFromPrimitiveList of a masked arg', body: json({ spec: { template: { spec: { containers: [{ name: 'app', '$deleteFromPrimitiveList/args': [`--db-password=${M}`] }], '$setElementOrder/containers': [{ name: 'app' }] } } } }), type: 'application/strategic-merge-patch+json', at: 'spec.template.spec.containers[0]["$deleteFromPrimitiveList/args"][0]' },
  { name: 'get -o yaml | kubectl apply --server-side (apply patch YAML, base64 form)', body: Buffer.from(`apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: ${M64}\n`), type: 'application/apply-patch+yaml', at: 'data.password' },
  { name: 'JSON merge patch of stringData with the decoded marker', body: json({ stringData: { password: M } }), type: 'application/merge-patch+json; charset=utf-8', at: 'stringData.password' },
  { name: 'JSON patch replacing a value with the marker', body: json([{ op: 'replace', path: '/data/password', value: M64 }]), type: 'application/json-patch+json', at: '[0].value' },
  { name: 'a ConfigMap whose pattern-masked value is written back', body: json({ data: { url: `postgres://u:${M}@h/db` } }), type: 'application/merge-patch+json', at: 'data.url' },
  // The marker in other encodings.
  { name: 'the marker JSON-escaped character by character', body: Buffer.from(`{"stringData":{"password":"${escapeAll(M)}"}}`), type: 'application/merge-patch+json', at: 'stringData.password' },
  { name: 'the base64 marker with escaped slashes and unicode escapes', body: Buffer.from(`{"data":{"password":"${escapeAll(M64.slice(0, 6))}${M64.slice(6)}"}}`), type: 'application/merge-patch+json', at: 'data.password' },
  { name: 'JSON-escaped twice (last-applied inside a JSON string)', body: Buffer.from(JSON.stringify({ a: JSON.stringify({ b: `\\u0061${M.slice(1)}` }) })), type: 'application/json' },
  { name: 'YAML double-quoted with \\x escapes', body: Buffer.from(`stringData:\n  password: "\\x61\\x67entgate-masked-data"\n`), type: 'application/apply-patch+yaml', at: 'stringData.password' },
  { name: 'YAML !!binary wrapped over lines', body: Buffer.from(`data:\n  password: !!binary |\n    ${M64.slice(0, 10)}\n    ${M64.slice(10)}\n`), type: 'application/apply-patch+yaml' },
  { name: 'base64 of a file that contains the marker at an odd offset', body: json({ data: { 'app.env': b64(`A=1\nPASSWORD=${M}\n`) } }), type: 'application/json', at: 'data["app.env"]' },
  { name: 'base64 of the marker with text appended, re-encoded', body: json({ data: { password: b64(`${M}-v2`) } }), type: 'application/json', at: 'data.password' },
  { name: 'a protobuf body: the Secret bytes are the raw marker', body: Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c]), Buffer.from('\n\x08password\x12\x15'), Buffer.from(M)]), type: 'application/vnd.kubernetes.protobuf' },
];

for (const row of refused) {
  test(`refuses ${row.name}`, (t) => {
    const refusal = checkWriteBack(row.body, row.type);
    t.is(refusal?.code, 'masked-value-write-back');
    t.true(refusal?.message.includes(M), 'names the marker');
    t.true(refusal?.message.includes('kubectl patch secret NAME'), 'says what to do instead');
    if (row.at !== undefined) t.true(refusal?.message.includes(`(at ${row.at})`), refusal?.message);
  });
}

const accepted: Array<{ name: string; body: Buffer; type: string }> = [
  { name: 'a Secret created with real values', body: json({ ...maskedSecret, data: { password: b64('hunter2') } }), type: 'application/json' },
  { name: 'kubectl edit changing only the username', body: json({ data: { username: b64('admin') } }), type: 'application/strategic-merge-patch+json' },
  { name: 'apply YAML of a pod', body: Buffer.from('apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: a\n    image: nginx\n'), type: 'application/apply-patch+yaml' },
  { name: 'an empty body', body: Buffer.alloc(0), type: 'application/json' },
  { name: 'a truncated look-alike of the marker', body: json({ note: 'agentgate-masked' }), type: 'application/json' },
  { name: 'the base64 of a near miss', body: json({ data: { a: b64('agentgate-masked-dat') } }), type: 'application/json' },
  { name: 'escapes that decode to something else', body: Buffer.from('{"a":"\\u0062gentgate-masked-data"}'), type: 'application/json' },
];

for (const row of accepted) {
  test(`accepts ${row.name}`, (t) => {
    t.is(checkWriteBack(row.body, row.type), undefined);
  });
}

test('containsMarker on values: objects, bytes, and the base64 form', (t) => {
  t.true(containsMarker({ deep: [{ key: M }] }));
  t.true(containsMarker({ [M]: 1 }), 'keys count too');
  t.true(containsMarker(new Uint8Array(Buffer.from(`xx${M64}yy`))));
  t.is(Buffer.from(M64, 'base64').toString(), M, 'base64 -d of the Secret form prints the marker');
  t.false(containsMarker({ a: 'hunter2' }));
  t.false(containsMarker(undefined));
  t.false(containsMarker(42));
});
